//! Status codes, the one mapping from rewind's [`ErrorKind`] to them, and
//! the thread's last error message.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

use rewind::ErrorKind;

/// What a fallible call returns: `RW_OK` or one of the error codes below.
/// `rw_last_error()` has the message of the failure.
pub type rw_status = i32;

/// Success.
pub const RW_OK: rw_status = 0;
/// A NULL pointer, text that isn't UTF-8, a value out of range, options
/// the sampler or the chat template refuse, saved state that doesn't fit.
pub const RW_INVALID_ARGUMENT: rw_status = 1;
/// The model file does not exist.
pub const RW_NOT_FOUND: rw_status = 2;
/// The model file is malformed or inconsistent.
pub const RW_INVALID_MODEL: rw_status = 3;
/// Well-formed but not runnable here: another architecture, a quant type
/// without kernels, no usable GPU adapter, a platform without the call.
pub const RW_UNSUPPORTED: rw_status = 4;
/// Over the memory budget, over an adapter limit, or the adapter failed to
/// allocate.
pub const RW_OUT_OF_MEMORY: rw_status = 5;
/// The GPU device was lost: load the model again.
pub const RW_DEVICE_LOST: rw_status = 6;
/// The session's context holds no more tokens (or the prompt leaves no
/// room to generate).
pub const RW_CONTEXT_FULL: rw_status = 7;
/// Another thread is inside a call on this session, or a generation
/// started with `rw_session_start` is still running: nothing was done.
pub const RW_BUSY: rw_status = 8;
/// The operation was cancelled before it produced a result. (A cancelled
/// generation is not an error: it ends with `RW_STOP_CANCELLED`.)
pub const RW_CANCELLED: rw_status = 9;
/// Reading a file failed for a reason other than its absence.
pub const RW_IO: rw_status = 10;
/// A bug (a panic inside rewind, caught at the boundary) or an unexpected
/// driver failure.
pub const RW_INTERNAL: rw_status = 11;

/// The status of each kind of rewind error.
pub(crate) fn status_of(kind: ErrorKind) -> rw_status {
    match kind {
        ErrorKind::NotFound => RW_NOT_FOUND,
        ErrorKind::InvalidModel => RW_INVALID_MODEL,
        ErrorKind::Unsupported => RW_UNSUPPORTED,
        ErrorKind::OutOfMemory => RW_OUT_OF_MEMORY,
        ErrorKind::DeviceLost => RW_DEVICE_LOST,
        ErrorKind::ContextFull => RW_CONTEXT_FULL,
        ErrorKind::InvalidArgument => RW_INVALID_ARGUMENT,
        ErrorKind::Cancelled => RW_CANCELLED,
        ErrorKind::Io => RW_IO,
        _ => RW_INTERNAL,
    }
}

/// A failed call: its status and message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: rw_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: rw_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(RW_INVALID_ARGUMENT, message)
    }

    pub fn busy(message: impl Into<String>) -> Failure {
        Failure::new(RW_BUSY, message)
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new(RW_INTERNAL, message)
    }
}

impl From<rewind::Error> for Failure {
    fn from(e: rewind::Error) -> Failure {
        Failure::new(status_of(e.kind()), e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records the outcome of a call for `rw_last_error` (empty after success).
pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: a call from a thread-local destructor must not panic.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

/// The message of the latest call on this thread that returned a status
/// (empty when it returned `RW_OK`), or of a later call without one that
/// failed (a getter given NULL returns NULL or 0 and says why here). Owned
/// by the library, valid until the next `rw_*` call on this thread; never
/// NULL.
#[unsafe(no_mangle)]
pub extern "C" fn rw_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The name of a status ("RW_BUSY"), or "RW_UNKNOWN" for a value that is
/// none of them. A static string, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn rw_status_name(status: rw_status) -> *const c_char {
    let name: &'static [u8] = match status {
        RW_OK => b"RW_OK\0",
        RW_INVALID_ARGUMENT => b"RW_INVALID_ARGUMENT\0",
        RW_NOT_FOUND => b"RW_NOT_FOUND\0",
        RW_INVALID_MODEL => b"RW_INVALID_MODEL\0",
        RW_UNSUPPORTED => b"RW_UNSUPPORTED\0",
        RW_OUT_OF_MEMORY => b"RW_OUT_OF_MEMORY\0",
        RW_DEVICE_LOST => b"RW_DEVICE_LOST\0",
        RW_CONTEXT_FULL => b"RW_CONTEXT_FULL\0",
        RW_BUSY => b"RW_BUSY\0",
        RW_CANCELLED => b"RW_CANCELLED\0",
        RW_IO => b"RW_IO\0",
        RW_INTERNAL => b"RW_INTERNAL\0",
        _ => b"RW_UNKNOWN\0",
    };
    name.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_kind_has_a_status_and_every_status_a_name() {
        let kinds = [
            (ErrorKind::NotFound, "RW_NOT_FOUND"),
            (ErrorKind::InvalidModel, "RW_INVALID_MODEL"),
            (ErrorKind::Unsupported, "RW_UNSUPPORTED"),
            (ErrorKind::OutOfMemory, "RW_OUT_OF_MEMORY"),
            (ErrorKind::DeviceLost, "RW_DEVICE_LOST"),
            (ErrorKind::ContextFull, "RW_CONTEXT_FULL"),
            (ErrorKind::InvalidArgument, "RW_INVALID_ARGUMENT"),
            (ErrorKind::Cancelled, "RW_CANCELLED"),
            (ErrorKind::Io, "RW_IO"),
            (ErrorKind::Internal, "RW_INTERNAL"),
        ];
        for (kind, name) in kinds {
            let got = unsafe { CStr::from_ptr(rw_status_name(status_of(kind))) };
            assert_eq!(got.to_str().unwrap(), name, "{kind:?}");
        }
        let busy = unsafe { CStr::from_ptr(rw_status_name(RW_BUSY)) };
        assert_eq!(busy.to_str().unwrap(), "RW_BUSY");
        let unknown = unsafe { CStr::from_ptr(rw_status_name(-1)) };
        assert_eq!(unknown.to_str().unwrap(), "RW_UNKNOWN");
    }

    #[test]
    fn the_last_error_is_per_thread() {
        set_last_error("bad\0thing");
        let here = unsafe { CStr::from_ptr(rw_last_error()) };
        assert_eq!(here.to_str().unwrap(), "bad\\0thing");
        let there = std::thread::spawn(|| unsafe {
            CStr::from_ptr(rw_last_error())
                .to_str()
                .unwrap()
                .to_string()
        });
        assert_eq!(there.join().unwrap(), "");
    }
}
