//! The `tojson` filter: Python's `json.dumps(value, ensure_ascii=False,
//! indent=...)`, as Hugging Face's `apply_chat_template` defines it.
//!
//! serde_json does the string escaping and the line layout: its
//! `PrettyFormatter` with `indent` spaces, or [`Spaced`] for Python's
//! one-line `", "` / `": "` separators. The walk over the value stays here
//! because minijinja values are not serde values: maps may have non-string
//! keys (written as their text), and floats keep Python's `NaN`/`Infinity`,
//! which serde_json would write as `null`.

use std::io;

use minijinja::ErrorKind;
use minijinja::value::{Kwargs, Value, ValueKind};
use serde_json::ser::{Formatter, PrettyFormatter};

/// Deepest nesting written before giving up (a guard against cycles).
const MAX_DEPTH: usize = 64;

pub(super) fn tojson(
    value: Value,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let indent = match indent {
        Some(v) => Some(v),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    // Accept (and ignore) the other json.dumps options templates pass.
    let _: Option<Value> = kwargs.get("sort_keys")?;
    let _: Option<Value> = kwargs.get("ensure_ascii")?;
    let _: Option<Value> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(usize::try_from(n).unwrap_or(0)),
            None => Some(0),
        },
    };
    let mut out = Vec::new();
    match indent {
        Some(n) => {
            let spaces = vec![b' '; n];
            write_json(
                &mut out,
                &mut PrettyFormatter::with_indent(&spaces),
                &value,
                0,
            )?;
        }
        None => write_json(&mut out, &mut Spaced, &value, 0)?,
    }
    let out = String::from_utf8(out).map_err(|e| json_error(format!("tojson: {e}")))?;
    Ok(Value::from_safe_string(out))
}

/// One line with Python's default separators: `", "` between items and
/// `": "` after keys.
struct Spaced;

impl Formatter for Spaced {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

fn json_error(detail: impl Into<std::borrow::Cow<'static, str>>) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, detail)
}

/// Writes go to a `Vec`, so they never fail; this keeps them typed anyway.
fn put(r: io::Result<()>) -> Result<(), minijinja::Error> {
    r.map_err(|e| json_error(format!("tojson: {e}")))
}

/// A JSON string literal, escaped as `json.dumps(.., ensure_ascii=False)`.
fn write_str(out: &mut Vec<u8>, s: &str) -> Result<(), minijinja::Error> {
    serde_json::to_writer(out, s).map_err(|e| json_error(format!("tojson: {e}")))
}

fn write_json<F: Formatter>(
    out: &mut Vec<u8>,
    f: &mut F,
    v: &Value,
    depth: usize,
) -> Result<(), minijinja::Error> {
    if depth > MAX_DEPTH {
        return Err(json_error("tojson: value nested too deeply"));
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => put(f.write_null(out))?,
        ValueKind::Bool => put(f.write_bool(out, v.is_true()))?,
        ValueKind::Number => match v.as_i64() {
            Some(i) => put(f.write_i64(out, i))?,
            None => {
                let x = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                // Rust's `{:?}` switches to exponent notation at the same
                // magnitudes as Python's `repr` (which writes `1e-05` for
                // Rust's `1e-5`); non-finite values as Python writes them.
                let text = if x.is_finite() {
                    format!("{x:?}")
                } else if x.is_nan() {
                    "NaN".to_owned()
                } else if x > 0.0 {
                    "Infinity".to_owned()
                } else {
                    "-Infinity".to_owned()
                };
                put(f.write_raw_fragment(out, &text))?;
            }
        },
        ValueKind::String => write_str(out, v.as_str().unwrap_or_default())?,
        ValueKind::Seq | ValueKind::Iterable => {
            put(f.begin_array(out))?;
            for (i, item) in v.try_iter()?.enumerate() {
                put(f.begin_array_value(out, i == 0))?;
                write_json(out, f, &item, depth + 1)?;
                put(f.end_array_value(out))?;
            }
            put(f.end_array(out))?;
        }
        ValueKind::Map => {
            put(f.begin_object(out))?;
            for (i, key) in v.try_iter()?.enumerate() {
                put(f.begin_object_key(out, i == 0))?;
                match key.as_str() {
                    Some(s) => write_str(out, s)?,
                    None => write_str(out, &key.to_string())?,
                }
                put(f.end_object_key(out))?;
                put(f.begin_object_value(out))?;
                write_json(out, f, &v.get_item(&key)?, depth + 1)?;
                put(f.end_object_value(out))?;
            }
            put(f.end_object(out))?;
        }
        _ => write_str(out, &v.to_string())?,
    }
    Ok(())
}
