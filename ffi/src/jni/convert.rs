//! Java objects to the C API's structs: strings, conversations and the
//! options classes, read field by field (and the defaults written back into
//! new Java options objects, so Java and C share one set of defaults).

use std::ffi::{CString, c_char};
use std::ptr;

use jni::objects::{JObject, JObjectArray, JString};
use jni::sys::{jint, jlong};
use jni::{Env, JValue, jni_sig, jni_str};

use super::{Failed, Result};
use crate::model::rw_message;
use crate::options::{
    RW_RESET_TOKEN_TEXT, rw_generate_options, rw_load_options, rw_session_options,
};

/// Reads a field: `field!(env, obj, "name", "I")`.
macro_rules! field {
    ($env:expr, $obj:expr, $name:literal, $sig:literal) => {
        $env.get_field($obj, jni_str!($name), jni_sig!($sig))?
    };
}

/// Writes a field: `set!(env, obj, "name", "I", JValue::Int(1))`.
macro_rules! set {
    ($env:expr, $obj:expr, $name:literal, $sig:literal, $value:expr) => {
        $env.set_field($obj, jni_str!($name), jni_sig!($sig), $value)?
    };
}

/// A Java string as a C string; `None` for null.
pub(super) fn cstring(env: &Env<'_>, s: &JString<'_>) -> Result<Option<CString>> {
    if s.is_null() {
        return Ok(None);
    }
    let s = s.try_to_string(env)?;
    CString::new(s)
        .map(Some)
        .map_err(|_| Failed::Invalid("a string holds a NUL character".into()))
}

/// A field's value that is a Java string, as a C string.
fn string_value(env: &mut Env<'_>, value: JObject<'_>) -> Result<Option<CString>> {
    let s = env.cast_local::<JString>(value)?;
    cstring(env, &s)
}

/// The `code` of a Java enum value (the binding's enums carry the C
/// constant); null is refused.
fn enum_code(env: &mut Env<'_>, value: JObject<'_>, what: &str) -> Result<jint> {
    if value.is_null() {
        return Err(Failed::Invalid(format!("{what} is null")));
    }
    Ok(field!(env, &value, "code", "I").i()?)
}

/// The elements of a `String[]` (null elements stay `None`).
pub(super) fn strings(env: &mut Env<'_>, a: &JObjectArray<'_>) -> Result<Vec<Option<CString>>> {
    let mut out = Vec::new();
    for i in 0..a.len(env)? {
        let e = a.get_element(env, i)?;
        let s = env.cast_local::<JString>(e)?;
        out.push(cstring(env, &s)?);
    }
    Ok(out)
}

/// A conversation for the C API (empty when `roles` is null), with the
/// strings it points to.
pub(super) struct Conversation {
    pub messages: Vec<rw_message>,
    _strings: Vec<Option<CString>>,
}

impl Conversation {
    pub fn new(
        env: &mut Env<'_>,
        roles: &JObjectArray<'_>,
        contents: &JObjectArray<'_>,
    ) -> Result<Conversation> {
        if roles.is_null() || contents.is_null() {
            return Ok(Conversation {
                messages: Vec::new(),
                _strings: Vec::new(),
            });
        }
        let roles = strings(env, roles)?;
        let contents = strings(env, contents)?;
        let ptr = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        let messages = roles
            .iter()
            .zip(&contents)
            .map(|(r, c)| rw_message {
                role: ptr(r),
                content: ptr(c),
            })
            .collect();
        Ok(Conversation {
            messages,
            _strings: roles.into_iter().chain(contents).collect(),
        })
    }
}

/// `rewind.LoadOptions` (null: the defaults), with the strings it points to.
pub(super) struct LoadOptions {
    pub raw: rw_load_options,
    _adapter: Option<CString>,
}

pub(super) fn load_options(env: &mut Env<'_>, o: &JObject<'_>) -> Result<LoadOptions> {
    let mut raw = rw_load_options::default();
    if o.is_null() {
        return Ok(LoadOptions {
            raw,
            _adapter: None,
        });
    }
    let device = field!(env, o, "device", "Lrewind/Device;").l()?;
    raw.device = enum_code(env, device, "LoadOptions.device")?;
    raw.n_threads = non_negative(field!(env, o, "nThreads", "I").i()?, "LoadOptions.nThreads")?;
    raw.backends = field!(env, o, "backends", "I").i()? as u32;
    let power = field!(env, o, "power", "Lrewind/Power;").l()?;
    raw.power = enum_code(env, power, "LoadOptions.power")?;
    raw.n_ctx = u32::try_from(field!(env, o, "nCtx", "I").i()?)
        .map_err(|_| Failed::Invalid("LoadOptions.nCtx is negative".into()))?;
    raw.memory_budget = u64::try_from(field!(env, o, "memoryBudget", "J").j()?)
        .map_err(|_| Failed::Invalid("LoadOptions.memoryBudget is negative".into()))?;
    let adapter = field!(env, o, "adapter", "Ljava/lang/String;").l()?;
    let adapter = string_value(env, adapter)?;
    raw.adapter = adapter.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    Ok(LoadOptions {
        raw,
        _adapter: adapter,
    })
}

fn non_negative(v: jint, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Failed::Invalid(format!("{what} is negative ({v})")))
}

/// `rewind.SessionOptions` (null: the defaults).
pub(super) fn session_options(env: &mut Env<'_>, o: &JObject<'_>) -> Result<rw_session_options> {
    let mut raw = rw_session_options::default();
    if !o.is_null() {
        raw.n_ctx = non_negative(field!(env, o, "nCtx", "I").i()?, "SessionOptions.nCtx")?;
        raw.n_batch = non_negative(field!(env, o, "nBatch", "I").i()?, "SessionOptions.nBatch")?;
    }
    Ok(raw)
}

pub(super) fn fill_session_defaults(env: &mut Env<'_>, o: &JObject<'_>) -> Result<()> {
    let d = rw_session_options::default();
    set!(env, o, "nCtx", "I", JValue::Int(d.n_ctx as jint));
    set!(env, o, "nBatch", "I", JValue::Int(d.n_batch as jint));
    Ok(())
}

/// `rewind.GenerateOptions` for the C API, with what it points to. The
/// guard stays on the Java side: `has_guard` says whether to ask it.
pub(super) struct GenerateOptions {
    pub raw: rw_generate_options,
    pub has_guard: bool,
    _strings: Vec<Option<CString>>,
    _stop: Vec<*const c_char>,
}

pub(super) fn generate_options(env: &mut Env<'_>, o: &JObject<'_>) -> Result<GenerateOptions> {
    let mut raw = rw_generate_options::default();
    if o.is_null() {
        return Ok(GenerateOptions {
            raw,
            has_guard: false,
            _strings: Vec::new(),
            _stop: Vec::new(),
        });
    }
    raw.max_tokens = non_negative(field!(env, o, "maxTokens", "I").i()?, "maxTokens")?;
    raw.temperature = field!(env, o, "temperature", "F").f()?;
    raw.top_k = non_negative(field!(env, o, "topK", "I").i()?, "topK")?;
    raw.top_p = field!(env, o, "topP", "F").f()?;
    raw.min_p = field!(env, o, "minP", "F").f()?;
    raw.repeat_penalty = field!(env, o, "repeatPenalty", "F").f()?;
    raw.repeat_last_n = non_negative(field!(env, o, "repeatLastN", "I").i()?, "repeatLastN")?;
    raw.presence_penalty = field!(env, o, "presencePenalty", "F").f()?;
    raw.frequency_penalty = field!(env, o, "frequencyPenalty", "F").f()?;
    raw.seed = field!(env, o, "seed", "J").j()? as u64;
    raw.ignore_eos = field!(env, o, "ignoreEos", "Z").z()?;
    let policy = field!(env, o, "policy", "Lrewind/ResetPolicy;").l()?;
    raw.policy = enum_code(env, policy, "GenerateOptions.policy")?;
    raw.max_resets = non_negative(field!(env, o, "maxResets", "I").i()?, "maxResets")?;
    raw.reset_bias = field!(env, o, "resetBias", "F").f()?;
    raw.holdback = non_negative(field!(env, o, "holdback", "I").i()?, "holdback")?;
    let kind = field!(env, o, "resetToken", "Lrewind/ResetToken;").l()?;
    raw.reset_token = enum_code(env, kind, "GenerateOptions.resetToken")?;
    raw.reset_token_id = field!(env, o, "resetTokenId", "I").i()? as u32;
    let has_guard = !field!(env, o, "guard", "Lrewind/Guard;").l()?.is_null();

    let mut owned = Vec::new();
    let prefill = field!(env, o, "prefill", "Ljava/lang/String;").l()?;
    owned.push(string_value(env, prefill)?);
    raw.prefill = owned[0].as_ref().map_or(ptr::null(), |s| s.as_ptr());
    if raw.reset_token == RW_RESET_TOKEN_TEXT {
        let text = field!(env, o, "resetTokenText", "Ljava/lang/String;").l()?;
        owned.push(string_value(env, text)?);
        raw.reset_token_text = owned[1].as_ref().map_or(ptr::null(), |s| s.as_ptr());
    }
    let stop = field!(env, o, "stop", "[Ljava/lang/String;").l()?;
    let stop = if stop.is_null() {
        Vec::new()
    } else {
        let stop = env.cast_local::<JObjectArray>(stop)?;
        strings(env, &stop)?
    };
    let stop_ptrs: Vec<*const c_char> = stop
        .iter()
        .map(|s| s.as_ref().map_or(ptr::null(), |s| s.as_ptr()))
        .collect();
    raw.stop = stop_ptrs.as_ptr();
    raw.n_stop = stop_ptrs.len();
    owned.extend(stop);
    Ok(GenerateOptions {
        raw,
        has_guard,
        _strings: owned,
        _stop: stop_ptrs,
    })
}

pub(super) fn fill_generate_defaults(env: &mut Env<'_>, o: &JObject<'_>) -> Result<()> {
    let d = rw_generate_options::default();
    set!(env, o, "maxTokens", "I", JValue::Int(d.max_tokens as jint));
    set!(env, o, "temperature", "F", JValue::Float(d.temperature));
    set!(env, o, "topK", "I", JValue::Int(d.top_k as jint));
    set!(env, o, "topP", "F", JValue::Float(d.top_p));
    set!(env, o, "minP", "F", JValue::Float(d.min_p));
    set!(
        env,
        o,
        "repeatPenalty",
        "F",
        JValue::Float(d.repeat_penalty)
    );
    set!(
        env,
        o,
        "repeatLastN",
        "I",
        JValue::Int(d.repeat_last_n as jint)
    );
    set!(
        env,
        o,
        "presencePenalty",
        "F",
        JValue::Float(d.presence_penalty)
    );
    set!(
        env,
        o,
        "frequencyPenalty",
        "F",
        JValue::Float(d.frequency_penalty)
    );
    set!(env, o, "seed", "J", JValue::Long(d.seed as jlong));
    set!(env, o, "ignoreEos", "Z", JValue::Bool(d.ignore_eos));
    set!(env, o, "maxResets", "I", JValue::Int(d.max_resets as jint));
    set!(env, o, "resetBias", "F", JValue::Float(d.reset_bias));
    set!(env, o, "holdback", "I", JValue::Int(d.holdback as jint));
    Ok(())
}
