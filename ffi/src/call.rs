//! The boundary: every entry point runs its body through [`call`] (or
//! [`call_or`]), which catches panics and records the outcome for
//! `rw_last_error`, and reads its arguments with the checks below, so a NULL
//! pointer or text that isn't UTF-8 is a status, never a crash.

use std::any::Any;
use std::ffi::{CStr, c_char};
use std::panic::{self, AssertUnwindSafe};

use crate::status::{Failure, RW_INTERNAL, RW_OK, rw_status, set_last_error};

/// Runs an entry point's body: `RW_OK`, or the failure's status with its
/// message recorded. A panic becomes `RW_INTERNAL`.
pub(crate) fn call(body: impl FnOnce() -> Result<(), Failure>) -> rw_status {
    match catch(body) {
        Ok(()) => {
            set_last_error("");
            RW_OK
        }
        Err(f) => {
            set_last_error(&f.message);
            f.status
        }
    }
}

/// Runs the body of an entry point that returns a value rather than a
/// status: `fallback` on failure, with the message recorded (success leaves
/// the last error alone, so freeing after a failure keeps its message).
pub(crate) fn call_or<T>(fallback: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    match catch(body) {
        Ok(v) => v,
        Err(f) => {
            set_last_error(&f.message);
            fallback
        }
    }
}

fn catch<T>(body: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    // AssertUnwindSafe: after a panic the handles stay usable (their locks
    // recover from poisoning) and the caller gets RW_INTERNAL.
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| Err(panic_failure(p)))
}

fn panic_failure(payload: Box<dyn Any + Send>) -> Failure {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Failure::new(
        RW_INTERNAL,
        format!("internal error (a bug in rewind): {what}"),
    )
}

/// `p` as a reference, or `RW_INVALID_ARGUMENT` naming `what` when NULL.
///
/// # Safety
/// `p` is NULL or points to a live `T` for `'a`.
pub(crate) unsafe fn arg<'a, T>(p: *const T, what: &str) -> Result<&'a T, Failure> {
    unsafe { p.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// A NUL-terminated UTF-8 string argument that must be present.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string live for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    unsafe { opt_str(p, what) }?.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// A NUL-terminated UTF-8 string argument that may be NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string live for `'a`.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(Some)
        .map_err(|e| Failure::invalid(format!("{what} is not UTF-8: {e}")))
}

/// `n` elements at `p`; `p` may be NULL only when `n` is 0.
///
/// # Safety
/// `p` is NULL or points to `n` live elements for `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(
    p: *const T,
    n: usize,
    what: &str,
) -> Result<&'a [T], Failure> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::invalid(format!(
            "{what} is NULL but its count is {n}"
        )));
    }
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// An out-parameter: where a result goes. Writing never reads the old
/// (possibly uninitialized) value.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// # Safety
    /// `p` is NULL or valid for writing a `T`.
    pub unsafe fn new(p: *mut T, what: &str) -> Result<Out<T>, Failure> {
        if p.is_null() {
            return Err(Failure::invalid(format!("{what} is NULL")));
        }
        Ok(Out(p))
    }

    pub fn set(self, value: T) {
        // SAFETY: checked non-NULL; valid for writes by `new`'s contract.
        unsafe { self.0.write(value) }
    }
}

/// Copies an options struct that begins with its own size (`struct_size`,
/// a `uint32_t`, as the caller's header declared the struct): fields past
/// that size keep `defaults`' values, so callers built against an older,
/// smaller struct keep working when it grows. NULL means the defaults.
///
/// Fields are only ever appended, each at an offset at or past the old
/// struct's size (where the old struct had tail padding, an explicit
/// padding field comes first).
///
/// # Safety
/// `p` is NULL or points to at least `struct_size` readable bytes.
pub(crate) unsafe fn read_sized<T: Copy>(
    p: *const T,
    defaults: T,
    what: &str,
) -> Result<T, Failure> {
    if p.is_null() {
        return Ok(defaults);
    }
    let size = unsafe { p.cast::<u32>().read_unaligned() } as usize;
    let ours = std::mem::size_of::<T>();
    if size < 4 || size > ours {
        return Err(Failure::invalid(format!(
            "{what}->struct_size is {size}; this library's struct has {ours} bytes \
             (set it with the *_init or *_default function)"
        )));
    }
    let mut out = defaults;
    // SAFETY: `size` bytes are readable at `p` and fit in `out`.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&raw mut out).cast::<u8>(), size) };
    Ok(out)
}

/// Fills a caller's options struct of `size` bytes (its `sizeof`) with
/// `defaults`, for the `*_init` functions.
///
/// # Safety
/// `p` is NULL or valid for writing `size` bytes.
pub(crate) unsafe fn init_sized<T: Copy>(
    p: *mut T,
    size: usize,
    defaults: T,
    what: &str,
) -> Result<(), Failure> {
    if p.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    let ours = std::mem::size_of::<T>();
    if !(4..=ours).contains(&size) {
        return Err(Failure::invalid(format!(
            "size {size} of {what}: this library's struct has {ours} bytes"
        )));
    }
    let mut value = defaults;
    // The first field of every sized struct is its size.
    unsafe { (&raw mut value).cast::<u32>().write(size as u32) };
    // SAFETY: `size` bytes fit in `value` and are writable at `p`.
    unsafe { std::ptr::copy_nonoverlapping((&raw const value).cast::<u8>(), p.cast::<u8>(), size) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{RW_INVALID_ARGUMENT, rw_last_error};

    fn last_error() -> String {
        unsafe { CStr::from_ptr(rw_last_error()) }
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_panic_is_a_status_with_its_message() {
        let status = call(|| panic!("boom"));
        assert_eq!(status, RW_INTERNAL);
        assert!(last_error().contains("boom"), "{}", last_error());
        assert_eq!(call(|| Ok(())), RW_OK);
        assert_eq!(last_error(), "");
        assert_eq!(call_or(7, || Err(Failure::invalid("no"))), 7);
        assert_eq!(last_error(), "no");
        assert_eq!(call_or(0, || Ok(1)), 1);
        assert_eq!(
            last_error(),
            "no",
            "a call without a status keeps the message"
        );
    }

    #[test]
    fn null_and_non_utf8_arguments_are_refused() {
        let f = unsafe { str_arg(std::ptr::null(), "path") }.unwrap_err();
        assert_eq!(
            (f.status, f.message.as_str()),
            (RW_INVALID_ARGUMENT, "path is NULL")
        );
        let bad = b"caf\xe9\0";
        let f = unsafe { str_arg(bad.as_ptr().cast(), "text") }.unwrap_err();
        assert!(f.message.starts_with("text is not UTF-8"), "{}", f.message);
        assert!(unsafe { slice_arg::<u32>(std::ptr::null(), 0, "tokens") }.is_ok());
        assert!(unsafe { slice_arg::<u32>(std::ptr::null(), 3, "tokens") }.is_err());
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct V2 {
        struct_size: u32,
        a: u32,
        b: u64,
    }

    #[test]
    fn a_smaller_struct_keeps_the_defaults_of_the_fields_it_lacks() {
        let defaults = V2 {
            struct_size: 16,
            a: 1,
            b: 2,
        };
        // A caller built when the struct ended after `a`.
        let old: [u32; 2] = [8, 5];
        let got = unsafe { read_sized(old.as_ptr().cast::<V2>(), defaults, "opts") }.unwrap();
        assert_eq!(
            got,
            V2 {
                struct_size: 8,
                a: 5,
                b: 2
            }
        );
        let newer: [u32; 6] = [24, 0, 0, 0, 0, 0];
        assert!(unsafe { read_sized(newer.as_ptr().cast::<V2>(), defaults, "opts") }.is_err());
        assert_eq!(
            unsafe { read_sized(std::ptr::null(), defaults, "opts") }.unwrap(),
            defaults
        );

        let mut buf = [0u32; 3];
        unsafe { init_sized(buf.as_mut_ptr().cast::<V2>(), 8, defaults, "opts") }.unwrap();
        assert_eq!(buf, [8, 1, 0], "only the caller's 8 bytes are written");
    }
}
