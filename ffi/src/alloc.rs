//! Memory the library hands to the caller, each kind with its one free
//! function.

use std::ffi::{CString, c_char};

/// Token ids the library allocated (`rw_model_tokenize`,
/// `rw_model_chat_tokens`). Free with `rw_tokens_free`.
#[repr(C)]
#[derive(Debug)]
pub struct rw_tokens {
    pub data: *mut u32,
    pub len: usize,
}

impl rw_tokens {
    pub(crate) fn new(tokens: Vec<u32>) -> rw_tokens {
        let len = tokens.len();
        let data = Box::into_raw(tokens.into_boxed_slice()).cast::<u32>();
        rw_tokens { data, len }
    }
}

/// Frees the ids of `tokens` (allocated by the library) and sets it to
/// `{NULL, 0}`. NULL, or tokens already freed this way, do nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_tokens_free(tokens: *mut rw_tokens) {
    crate::call::call_or((), || {
        let Some(t) = (unsafe { tokens.as_mut() }) else {
            return Ok(());
        };
        if !t.data.is_null() {
            // SAFETY: made by `rw_tokens::new` from a boxed slice of `len`.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(t.data, t.len)) });
        }
        t.data = std::ptr::null_mut();
        t.len = 0;
        Ok(())
    })
}

/// A string for the caller: NUL-terminated (interior NULs, which C can't
/// hold, become U+FFFD).
pub(crate) fn string_for_caller(s: &str) -> *mut c_char {
    CString::new(s.replace('\0', "\u{fffd}"))
        .unwrap_or_default()
        .into_raw()
}

/// Frees a string the library allocated (`rw_model_detokenize`). NULL does
/// nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_string_free(s: *mut c_char) {
    crate::call::call_or((), || {
        if !s.is_null() {
            // SAFETY: made by `string_for_caller`.
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    })
}
