//! The JVM binding's natives (`rewind.Native` in `ffi/java/`). Each one
//! marshals its Java arguments onto the C API, so Java gets the same
//! checks, `BUSY` guard and cancel semantics as C, and a failed call
//! throws `rewind.RewindException` carrying the status and message
//! ([`Throw`]). Options are read from the Java objects' fields by name;
//! events and guard questions go to a `rewind.Generation` object on the
//! calling thread.

mod convert;

use std::ffi::{CString, c_char, c_void};
use std::ptr;

use jni::objects::{JByteArray, JClass, JIntArray, JObject, JObjectArray, JString, JThrowable};
use jni::sys::{jboolean, jint, jlong};
use jni::{Env, EnvUnowned, JValue, jni_sig, jni_str};

use self::convert::{cstring, generate_options, load_options};
use crate::alloc::{rw_tokens, rw_tokens_free};
use crate::event::rw_event;
use crate::generate::{RW_CONTINUE, RW_STOP, rw_control, rw_prompt, rw_session_generate};
use crate::model::{
    rw_gpu_memory, rw_model, rw_model_chat_tokens, rw_model_detokenize, rw_model_device_info,
    rw_model_estimate_memory, rw_model_load, rw_model_load_fd, rw_model_load_memory, rw_model_name,
    rw_model_release, rw_model_tokenize, rw_model_vocab_size,
};
use crate::options::{rw_generate_options, rw_session_options};
use crate::session::{
    rw_session, rw_session_cancel, rw_session_free, rw_session_length, rw_session_new,
    rw_session_restore_state, rw_session_save_state, rw_session_state_size, rw_session_truncate,
};
use crate::status::{RW_INTERNAL, RW_INVALID_ARGUMENT, RW_OK, rw_last_error, rw_status};

/// Why a native failed: a C API status (its message is the thread's last
/// error), or JNI itself (usually a Java exception already pending).
enum Failed {
    Status(rw_status),
    /// An argument the binding itself refuses (`INVALID_ARGUMENT`).
    Invalid(String),
    Jni(jni::errors::Error),
}

impl From<jni::errors::Error> for Failed {
    fn from(e: jni::errors::Error) -> Failed {
        Failed::Jni(e)
    }
}

type Result<T> = std::result::Result<T, Failed>;

/// A C API status as a result.
fn check(status: rw_status) -> Result<()> {
    if status == RW_OK {
        Ok(())
    } else {
        Err(Failed::Status(status))
    }
}

/// Throws `RewindException(status, message)`.
fn throw(env: &mut Env<'_>, status: rw_status, message: &str) -> jni::errors::Result<()> {
    let message = env.new_string(message)?;
    let e = env.new_object(
        jni_str!("rewind/RewindException"),
        jni_sig!("(ILjava/lang/String;)V"),
        &[JValue::Int(status), JValue::Object(&message)],
    )?;
    let e = env.cast_local::<JThrowable>(e)?;
    env.throw(e)
}

/// The error policy of every native: a failed call throws
/// `RewindException`; a Java exception already pending stays; a panic is an
/// `INTERNAL` `RewindException`.
struct Throw;

impl<T: Default> jni::errors::ErrorPolicy<T, Failed> for Throw {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _: &mut (),
        err: Failed,
    ) -> jni::errors::Result<T> {
        if !env.exception_check() {
            match err {
                Failed::Status(s) => {
                    // SAFETY: the C API's thread-local message, read before
                    // any other call into it.
                    let message = unsafe { std::ffi::CStr::from_ptr(rw_last_error()) };
                    throw(env, s, &message.to_string_lossy())?
                }
                Failed::Invalid(m) => throw(env, RW_INVALID_ARGUMENT, &m)?,
                Failed::Jni(e) => throw(env, RW_INTERNAL, &format!("JNI: {e}"))?,
            }
        }
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _: &mut (),
        _payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        throw(
            env,
            RW_INTERNAL,
            "internal error: a panic in rewind's JNI binding",
        )?;
        Ok(T::default())
    }
}

/// A handle passed through Java's `long`.
fn model(h: jlong) -> *mut rw_model {
    h as usize as *mut rw_model
}

fn session(h: jlong) -> *mut rw_session {
    h as usize as *mut rw_session
}

fn ptr_or_null(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// A Java array's elements for the C API; a null array becomes a NULL
/// pointer with a count of 1, which the C API refuses with
/// `INVALID_ARGUMENT` like any NULL argument.
fn slice_or_null<T>(v: &Option<Vec<T>>) -> (*const T, usize) {
    v.as_ref()
        .map_or((ptr::null(), 1), |v| (v.as_ptr(), v.len()))
}

/// Copies library-allocated tokens into a Java `int[]` and frees them.
fn int_array<'l>(env: &mut Env<'l>, mut t: rw_tokens) -> Result<JIntArray<'l>> {
    // SAFETY: filled by the library: `len` ids at `data`.
    let ids = unsafe { std::slice::from_raw_parts(t.data, t.len) };
    let ints: Vec<jint> = ids.iter().map(|&i| i as jint).collect();
    // SAFETY: the library's allocation, freed once.
    unsafe { rw_tokens_free(&mut t) };
    let array = JIntArray::new(env, ints.len())?;
    array.set_region(env, 0, &ints)?;
    Ok(array)
}

/// A Java `int[]` as token ids (null: none).
fn tokens_of(env: &Env<'_>, a: &JIntArray<'_>) -> Result<Option<Vec<u32>>> {
    if a.is_null() {
        return Ok(None);
    }
    let mut ints = vec![0; a.len(env)?];
    a.get_region(env, 0, &mut ints)?;
    Ok(Some(ints.into_iter().map(|i| i as u32).collect()))
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_version<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
) -> JString<'l> {
    env.with_env(|env| -> Result<_> { Ok(env.new_string(env!("CARGO_PKG_VERSION"))?) })
        .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_fillGenerateDefaults<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    options: JObject<'l>,
) {
    env.with_env(|env| -> Result<()> { convert::fill_generate_defaults(env, &options) })
        .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_fillSessionDefaults<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    options: JObject<'l>,
) {
    env.with_env(|env| -> Result<()> { convert::fill_session_defaults(env, &options) })
        .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelLoad<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    path: JString<'l>,
    options: JObject<'l>,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let path = cstring(env, &path)?;
        let o = load_options(env, &options)?;
        let mut out = ptr::null_mut();
        // SAFETY: C strings and options live for the call.
        check(unsafe { rw_model_load(ptr_or_null(&path), &o.raw, &mut out) })?;
        Ok(out as jlong)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelLoadFd<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    fd: jint,
    offset: jlong,
    length: jlong,
    options: JObject<'l>,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let o = load_options(env, &options)?;
        let mut out = ptr::null_mut();
        // SAFETY: options live for the call; the fd is only duplicated.
        check(unsafe { rw_model_load_fd(fd, offset as u64, length as u64, &o.raw, &mut out) })?;
        Ok(out as jlong)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelLoadBytes<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    gguf: JByteArray<'l>,
    options: JObject<'l>,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let bytes = if gguf.is_null() {
            None
        } else {
            Some(env.convert_byte_array(&gguf)?)
        };
        let o = load_options(env, &options)?;
        let (data, len) = slice_or_null(&bytes);
        let mut out = ptr::null_mut();
        // SAFETY: the bytes and options live for the call.
        check(unsafe { rw_model_load_memory(data.cast(), len, &o.raw, &mut out) })?;
        Ok(out as jlong)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelEstimateMemory<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    path: JString<'l>,
    options: JObject<'l>,
) -> jni::objects::JLongArray<'l> {
    env.with_env(|env| -> Result<_> {
        let path = cstring(env, &path)?;
        let o = load_options(env, &options)?;
        let mut m = rw_gpu_memory::default();
        // SAFETY: strings and options live for the call.
        check(unsafe { rw_model_estimate_memory(ptr_or_null(&path), &o.raw, &mut m) })?;
        let parts = [m.weights, m.kv_cache, m.scratch, m.total].map(|b| b as jlong);
        let array = jni::objects::JLongArray::new(env, parts.len())?;
        array.set_region(env, 0, &parts)?;
        Ok(array)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelRelease<'l>(
    _env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
) {
    // SAFETY: a handle `modelLoad*` returned, released once by `Model.close`.
    unsafe { rw_model_release(model(m)) }
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelName<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<_> {
        // SAFETY: a live model handle; the name is the model's.
        let name = unsafe { rw_model_name(model(m)) };
        if name.is_null() {
            return Err(Failed::Status(RW_INVALID_ARGUMENT));
        }
        let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy();
        Ok(env.new_string(name)?)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelVocabSize<'l>(
    _env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
) -> jint {
    // SAFETY: a live model handle.
    unsafe { rw_model_vocab_size(model(m)) as jint }
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelDeviceInfo<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
) -> JObject<'l> {
    env.with_env(|env| -> Result<_> {
        // SAFETY: a live model handle; the info is the model's.
        let info = unsafe { rw_model_device_info(model(m)).as_ref() }
            .ok_or(Failed::Status(RW_INVALID_ARGUMENT))?;
        let text = |p| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy();
        let adapter = env.new_string(text(info.adapter))?;
        let isa = env.new_string(text(info.cpu_isa))?;
        Ok(env.new_object(
            jni_str!("rewind/DeviceInfo"),
            jni_sig!("(ILjava/lang/String;IJZZZILjava/lang/String;)V"),
            &[
                JValue::Int(info.device),
                JValue::Object(&adapter),
                JValue::Int(info.backend as jint),
                JValue::Long(info.max_binding_size as jlong),
                JValue::Bool(info.shader_f16),
                JValue::Bool(info.subgroups),
                JValue::Bool(info.kv_f16),
                JValue::Int(info.cpu_threads as jint),
                JValue::Object(&isa),
            ],
        )?)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelTokenize<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
    text: JString<'l>,
    parse_special: jboolean,
) -> JIntArray<'l> {
    env.with_env(|env| -> Result<_> {
        let text = cstring(env, &text)?;
        let mut t = rw_tokens {
            data: ptr::null_mut(),
            len: 0,
        };
        // SAFETY: a live model handle and a C string for the call.
        check(unsafe { rw_model_tokenize(model(m), ptr_or_null(&text), parse_special, &mut t) })?;
        int_array(env, t)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelDetokenize<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
    tokens: JIntArray<'l>,
) -> JString<'l> {
    env.with_env(|env| -> Result<_> {
        let ids = tokens_of(env, &tokens)?;
        let (data, n) = slice_or_null(&ids);
        let mut out = ptr::null_mut();
        // SAFETY: a live model handle and ids for the call.
        check(unsafe { rw_model_detokenize(model(m), data, n, &mut out) })?;
        let text = unsafe { std::ffi::CStr::from_ptr(out) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: the library's string, freed once.
        unsafe { crate::alloc::rw_string_free(out) };
        Ok(env.new_string(text)?)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_modelChatTokens<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
    roles: JObjectArray<'l>,
    contents: JObjectArray<'l>,
) -> JIntArray<'l> {
    env.with_env(|env| -> Result<_> {
        let conv = convert::Conversation::new(env, &roles, &contents)?;
        let mut t = rw_tokens {
            data: ptr::null_mut(),
            len: 0,
        };
        // SAFETY: a live model handle and messages for the call.
        check(unsafe {
            rw_model_chat_tokens(
                model(m),
                conv.messages.as_ptr(),
                conv.messages.len(),
                &mut t,
            )
        })?;
        int_array(env, t)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionNew<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    m: jlong,
    options: JObject<'l>,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let o: rw_session_options = convert::session_options(env, &options)?;
        let mut out = ptr::null_mut();
        // SAFETY: a live model handle and options for the call.
        check(unsafe { rw_session_new(model(m), &o, &mut out) })?;
        Ok(out as jlong)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionFree<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    s: jlong,
) {
    // SAFETY: a handle `sessionNew` returned; `Session.close` forgets it
    // only when this succeeds.
    env.with_env(|_| check(unsafe { rw_session_free(session(s)) }))
        .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionCancel<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    s: jlong,
) {
    // SAFETY: a live session handle (any thread).
    env.with_env(|_| check(unsafe { rw_session_cancel(session(s)) }))
        .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionLength<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jint {
    env.with_env(|_| -> Result<jint> {
        let mut len = 0;
        // SAFETY: a live session handle.
        check(unsafe { rw_session_length(session(s), &mut len) })?;
        Ok(len as jint)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionTruncate<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    s: jlong,
    length: jint,
) {
    env.with_env(|_| -> Result<()> {
        let length = usize::try_from(length).map_err(|_| Failed::Status(RW_INVALID_ARGUMENT))?;
        // SAFETY: a live session handle.
        check(unsafe { rw_session_truncate(session(s), length) })
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionSaveState<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    s: jlong,
) -> JByteArray<'l> {
    env.with_env(|env| -> Result<_> {
        let mut size = 0;
        // SAFETY: a live session handle; the buffer has `size` bytes.
        check(unsafe { rw_session_state_size(session(s), &mut size) })?;
        let mut buf = vec![0u8; size];
        let mut written = 0;
        check(unsafe {
            rw_session_save_state(session(s), buf.as_mut_ptr(), buf.len(), &mut written)
        })?;
        Ok(env.byte_array_from_slice(&buf[..written])?)
    })
    .resolve::<Throw>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionRestoreState<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    s: jlong,
    state: JByteArray<'l>,
) {
    env.with_env(|env| -> Result<()> {
        let bytes = if state.is_null() {
            None
        } else {
            Some(env.convert_byte_array(&state)?)
        };
        let (data, len) = slice_or_null(&bytes);
        // SAFETY: a live session handle and bytes for the call.
        check(unsafe { rw_session_restore_state(session(s), data, len) })
    })
    .resolve::<Throw>()
}

/// What the C callbacks of one `sessionGenerate` reach through `user`.
struct Callbacks<'a, 'l> {
    env: &'a mut Env<'l>,
    generation: &'a JObject<'l>,
}

/// The event callback: `Generation.event(...)`; false or a Java exception
/// stops the generation.
unsafe extern "C" fn on_event(e: *const rw_event, user: *mut c_void) -> rw_control {
    // SAFETY: `user` is the `Callbacks` of the `sessionGenerate` call on
    // this thread, and `e` the library's event, both live for this call.
    let (cb, e) = unsafe { (&mut *(user as *mut Callbacks<'_, '_>), &*e) };
    let text = unsafe { std::slice::from_raw_parts(e.text.cast::<u8>(), e.text_len) };
    let code = if e.kind == crate::event::RW_EVENT_RESET {
        e.reset_cause
    } else {
        e.stop_reason
    };
    let s = e.stats;
    let go = cb
        .env
        .with_local_frame(4, |env| -> jni::errors::Result<bool> {
            let text = env.new_string(String::from_utf8_lossy(text))?;
            env.call_method(
                cb.generation,
                jni_str!("event"),
                jni_sig!("(ILjava/lang/String;IJJJJDD)Z"),
                &[
                    JValue::Int(e.kind),
                    JValue::Object(&text),
                    JValue::Int(code),
                    JValue::Long(s.prompt_tokens as jlong),
                    JValue::Long(s.generated_tokens as jlong),
                    JValue::Long(s.discarded_tokens as jlong),
                    JValue::Long(s.resets as jlong),
                    JValue::Double(s.prompt_seconds),
                    JValue::Double(s.generation_seconds),
                ],
            )?
            .z()
        });
    if go.unwrap_or(false) {
        RW_CONTINUE
    } else {
        RW_STOP
    }
}

/// The guard callback: `Generation.guard(text)`.
unsafe extern "C" fn on_guard(text: *const c_char, len: usize, user: *mut c_void) -> bool {
    // SAFETY: as in `on_event`; `text` has `len` bytes.
    let (cb, text) = unsafe {
        (
            &mut *(user as *mut Callbacks<'_, '_>),
            std::slice::from_raw_parts(text.cast::<u8>(), len),
        )
    };
    cb.env
        .with_local_frame(2, |env| -> jni::errors::Result<bool> {
            let text = env.new_string(String::from_utf8_lossy(text))?;
            env.call_method(
                cb.generation,
                jni_str!("guard"),
                jni_sig!("(Ljava/lang/String;)Z"),
                &[JValue::Object(&text)],
            )?
            .z()
        })
        .unwrap_or(false)
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_rewind_Native_sessionGenerate<'l>(
    mut env: EnvUnowned<'l>,
    _: JClass<'l>,
    s: jlong,
    roles: JObjectArray<'l>,
    contents: JObjectArray<'l>,
    tokens: JIntArray<'l>,
    options: JObject<'l>,
    generation: JObject<'l>,
) {
    env.with_env(|env| -> Result<()> {
        let conv = convert::Conversation::new(env, &roles, &contents)?;
        let ids = tokens_of(env, &tokens)?.unwrap_or_default();
        let prompt = rw_prompt {
            messages: conv.messages.as_ptr(),
            n_messages: conv.messages.len(),
            tokens: ids.as_ptr(),
            n_tokens: ids.len(),
        };
        let o = generate_options(env, &options)?;
        let mut raw: rw_generate_options = o.raw;
        let mut cb = Callbacks {
            env,
            generation: &generation,
        };
        let user = (&raw mut cb).cast::<c_void>();
        if o.has_guard {
            raw.guard = Some(on_guard);
            raw.guard_user = user;
        }
        // SAFETY: everything the options and prompt point to lives for the
        // call; the callbacks run on this thread during it.
        let status =
            unsafe { rw_session_generate(session(s), &prompt, &raw, Some(on_event), user) };
        if cb.env.exception_check() {
            return Err(Failed::Jni(jni::errors::Error::JavaException));
        }
        check(status)
    })
    .resolve::<Throw>()
}
