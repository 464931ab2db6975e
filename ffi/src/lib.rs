//! rewind's C ABI (`include/rewind.h`, generated from this crate by
//! cbindgen) and, behind the `jni` feature, its JVM binding (`ffi/java/`).
//!
//! A thin layer over rewind's public API: `rw_model` is a shared,
//! reference-counted [`rewind::Model`]; `rw_session` a [`rewind::Session`]
//! behind a lock that refuses a second thread with `RW_BUSY`; generation
//! comes as callbacks (push) or one event at a time (pull, on a worker
//! thread). Every entry point catches panics and checks its pointers and
//! strings ([`call`]); every status comes from [`rewind::ErrorKind`] in one
//! place ([`status`]).
//!
//! Safety contract of every `unsafe extern "C"` function (stated once in the
//! header rather than on each): each pointer argument is NULL (refused with
//! `RW_INVALID_ARGUMENT` where not allowed) or valid for what the function
//! documents, for the duration of the call; handles come from this
//! library and are not used after they are freed.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

// In the order the header presents them (cbindgen follows it).
pub mod status;

// Loading and sessions.
pub mod options;

pub mod model;

pub mod session;

// Generation: events, then the push and the pull API.
pub mod event;

pub mod generate;

pub mod pull;

// Memory handed to the caller, and the log hook.
pub mod alloc;

pub mod log;

// The boundary's helpers and, with the `jni` feature, the JVM binding.
mod call;
/// cbindgen:ignore
#[cfg(feature = "jni")]
mod jni;

use std::ffi::c_char;

/// The version of the C ABI: bumped when a function or struct changes
/// incompatibly (structs grow compatibly through their `struct_size`).
pub const RW_ABI_VERSION: u32 = 1;

/// The library's version ("0.1.0"). A static string.
#[unsafe(no_mangle)]
pub extern "C" fn rw_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// `RW_ABI_VERSION` as the library was built: compare with the header's.
#[unsafe(no_mangle)]
pub extern "C" fn rw_abi_version() -> u32 {
    RW_ABI_VERSION
}
