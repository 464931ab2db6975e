//! The log hook: rewind's and wgpu's `log` records, sent to a callback of
//! the host's. The one piece of global state of the library.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Once, PoisonError, RwLock};

use crate::call::call;
use crate::status::{Failure, RW_UNSUPPORTED, rw_status};

/// Severity of a log record (the `log` crate's levels).
pub type rw_log_level = i32;
/// Logging off.
pub const RW_LOG_OFF: rw_log_level = 0;
pub const RW_LOG_ERROR: rw_log_level = 1;
pub const RW_LOG_WARN: rw_log_level = 2;
pub const RW_LOG_INFO: rw_log_level = 3;
pub const RW_LOG_DEBUG: rw_log_level = 4;
pub const RW_LOG_TRACE: rw_log_level = 5;

/// Receives one log record: its level, its source ("rewind::model",
/// "wgpu_core::device"...) and message, NUL-terminated and valid during the
/// call. Called from whichever thread logs (the caller's, or a generation's
/// worker thread in the pull API): it must be thread-safe.
pub type rw_log_fn = Option<
    unsafe extern "C" fn(
        level: rw_log_level,
        target: *const c_char,
        message: *const c_char,
        user: *mut c_void,
    ),
>;

#[derive(Clone, Copy)]
struct Hook {
    f: unsafe extern "C" fn(rw_log_level, *const c_char, *const c_char, *mut c_void),
    user: *mut c_void,
}

// SAFETY: the header documents that the callback is called from any thread.
unsafe impl Send for Hook {}
unsafe impl Sync for Hook {}

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);
static INSTALL: Once = Once::new();

struct Forward;

impl log::Log for Forward {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let Some(hook) = *HOOK.read().unwrap_or_else(PoisonError::into_inner) else {
            return;
        };
        let text = |s: String| CString::new(s.replace('\0', " ")).unwrap_or_default();
        let target = text(record.target().to_string());
        let message = text(record.args().to_string());
        // SAFETY: the host's callback, with strings live for the call.
        unsafe {
            (hook.f)(
                record.level() as rw_log_level,
                target.as_ptr(),
                message.as_ptr(),
                hook.user,
            )
        };
    }

    fn flush(&self) {}
}

/// Sends log records at `max_level` and more severe to `callback` (NULL or
/// `RW_LOG_OFF`: no logging). Replaces an earlier callback. `RW_UNSUPPORTED`
/// if another Rust logger was installed in this process first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_set_log_callback(
    callback: rw_log_fn,
    user: *mut c_void,
    max_level: rw_log_level,
) -> rw_status {
    call(|| {
        let level = match max_level {
            RW_LOG_OFF => log::LevelFilter::Off,
            RW_LOG_ERROR => log::LevelFilter::Error,
            RW_LOG_WARN => log::LevelFilter::Warn,
            RW_LOG_INFO => log::LevelFilter::Info,
            RW_LOG_DEBUG => log::LevelFilter::Debug,
            RW_LOG_TRACE => log::LevelFilter::Trace,
            other => return Err(Failure::invalid(format!("unknown log level {other}"))),
        };
        let mut installed = Ok(());
        INSTALL.call_once(|| installed = log::set_logger(&Forward));
        installed.map_err(|_| {
            Failure::new(
                RW_UNSUPPORTED,
                "another logger is already installed in this process",
            )
        })?;
        *HOOK.write().unwrap_or_else(PoisonError::into_inner) = callback.map(|f| Hook { f, user });
        log::set_max_level(if callback.is_some() {
            level
        } else {
            log::LevelFilter::Off
        });
        Ok(())
    })
}
