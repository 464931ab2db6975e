//! Chat prompts: rendering a conversation with the model's chat template.
//!
//! GGUF files carry a Jinja template in `tokenizer.chat_template` (the one
//! from the model's Hugging Face `tokenizer_config.json`). It is rendered
//! with minijinja, configured like Hugging Face's `apply_chat_template`:
//! `trim_blocks` and `lstrip_blocks` on, and these names defined:
//!
//! * `messages` (a list of `{role, content}` maps), `add_generation_prompt`,
//!   `bos_token`, `eos_token`;
//! * `raise_exception(msg)`, which fails the render with
//!   [`ChatError::Raised`];
//! * `strftime_now(format)`: the current UTC time, formatted with the
//!   common `strftime` directives (`%Y %m %d %B %b %A %a %H %I %M %S %p %j
//!   %y %e %%`);
//! * the `tojson` filter (Python `json.dumps` layout, optional `indent`);
//! * Python string, list and dict methods (`.strip()`, `.startswith()`,
//!   `.split()`, `.items()`, ...) through minijinja-contrib's pycompat, and
//!   minijinja's `loop` variables and `namespace()`.
//!
//! The rendered prompt contains BOS only where the template writes it
//! (`{{ bos_token }}`), so tokenize it with
//! [`Tokenizer::encode(prompt, true)`](crate::tokenizer::Tokenizer::encode)
//! and add BOS yourself only for templates that leave it out.

use std::fmt::Write as _;
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, Value, ValueKind};
use minijinja::{Environment, ErrorKind};

use crate::gguf::Metadata;

/// The metadata key of the chat template.
pub const CHAT_TEMPLATE_KEY: &str = "tokenizer.chat_template";

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// "system", "user" or "assistant" (templates may know others).
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Message {
        Message::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Message {
        Message::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Message {
        Message::new("assistant", content)
    }
}

/// Why a template could not be built or rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// [`ChatTemplate::named`] with a name it does not know.
    #[error("unknown chat template {0:?}: known are \"chatml\", \"llama2\" and \"llama3\"")]
    UnknownTemplate(String),
    /// The template source is not valid Jinja.
    #[error("chat template does not compile: {0}")]
    Compile(#[source] minijinja::Error),
    /// The template called `raise_exception(message)`.
    #[error("chat template raised an exception: {0}")]
    Raised(String),
    /// Rendering failed for another reason.
    #[error("chat template failed to render: {0}")]
    Render(#[source] minijinja::Error),
}

/// A message as a template sees it: a map with keys `role` and `content`,
/// in that order (as the Python dicts Hugging Face passes).
#[derive(Debug)]
struct MessageObject(Message);

impl Object for MessageObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "role" => Some(Value::from(self.0.role.as_str())),
            "content" => Some(Value::from(self.0.content.as_str())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["role", "content"])
    }
}

/// The error `raise_exception` attaches, found again after rendering.
#[derive(Debug)]
struct RaisedException(String);

impl std::fmt::Display for RaisedException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedException {}

/// ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), as SmolLM2 and Qwen.
const CHATML: &str = "{%- for message in messages -%}\
{{- '<|im_start|>' ~ message.role ~ '\\n' ~ message.content ~ '<|im_end|>\\n' -}}\
{%- endfor -%}\
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

/// Llama 2 chat: `<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s>`.
const LLAMA2: &str = "{%- if messages and messages[0].role == 'system' -%}\
{%- set system = messages[0].content -%}{%- set turns = messages[1:] -%}\
{%- else -%}{%- set system = none -%}{%- set turns = messages -%}{%- endif -%}\
{%- for message in turns -%}\
{%- if message.role == 'user' -%}\
{%- if loop.first and system is not none -%}\
{{- bos_token ~ '[INST] <<SYS>>\\n' ~ system ~ '\\n<</SYS>>\\n\\n' ~ message.content | trim ~ ' [/INST]' -}}\
{%- else -%}{{- bos_token ~ '[INST] ' ~ message.content | trim ~ ' [/INST]' -}}{%- endif -%}\
{%- elif message.role == 'assistant' -%}{{- ' ' ~ message.content | trim ~ ' ' ~ eos_token -}}\
{%- else -%}{{- raise_exception('llama2 chat has no role ' ~ message.role) -}}{%- endif -%}\
{%- endfor -%}";

/// Llama 3 chat: header tokens around each role, `<|eot_id|>` after each turn.
const LLAMA3: &str = "{{- bos_token -}}\
{%- for message in messages -%}\
{{- '<|start_header_id|>' ~ message.role ~ '<|end_header_id|>\\n\\n' ~ message.content | trim ~ '<|eot_id|>' -}}\
{%- endfor -%}\
{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    name: String,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("name", &self.name)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

const TEMPLATE_NAME: &str = "chat";

impl ChatTemplate {
    /// The model's template from `tokenizer.chat_template`, with `bos` and
    /// `eos` as `bos_token`/`eos_token` (the token texts, e.g. from
    /// [`Tokenizer::token_text`](crate::tokenizer::Tokenizer::token_text)).
    ///
    /// When the key is missing, or the template fails to compile or to
    /// render a short test conversation, this logs a warning and falls back
    /// to a named template guessed from the vocabulary: "chatml" when
    /// `<|im_start|>` is a token, "llama3" when `<|start_header_id|>` is,
    /// "llama2" otherwise.
    pub fn from_gguf(meta: &Metadata, bos: &str, eos: &str) -> ChatTemplate {
        match meta.opt_str(CHAT_TEMPLATE_KEY) {
            Ok(Some(src)) => match ChatTemplate::from_source(src, bos, eos) {
                Ok(t) => match t.render(&probe_conversation(), true) {
                    Ok(_) => return t,
                    Err(e) => log::warn!(
                        "chat template of the model fails on a test conversation ({e}); using a built-in template"
                    ),
                },
                Err(e) => log::warn!("{e}; using a built-in template"),
            },
            Ok(None) => {
                log::warn!("the model has no {CHAT_TEMPLATE_KEY}; using a built-in template")
            }
            Err(e) => log::warn!("{e}; using a built-in template"),
        }
        let name = guess_template_name(meta);
        let mut t = ChatTemplate::named_or_empty(name);
        // A model whose BOS/EOS differ from the built-in defaults keeps its own.
        if !bos.is_empty() {
            t.bos = bos.to_owned();
        }
        if !eos.is_empty() {
            t.eos = eos.to_owned();
        }
        t
    }

    /// A built-in template: "chatml", "llama2" or "llama3". Their
    /// `bos_token`/`eos_token` are `<s>`/`</s>` for llama2,
    /// `<|begin_of_text|>`/`<|eot_id|>` for llama3 (chatml uses none).
    pub fn named(name: &str) -> Result<ChatTemplate, ChatError> {
        let (src, bos, eos) = match name {
            "chatml" => (CHATML, "", "<|im_end|>"),
            "llama2" => (LLAMA2, "<s>", "</s>"),
            "llama3" => (LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
            other => return Err(ChatError::UnknownTemplate(other.to_owned())),
        };
        let mut t = ChatTemplate::from_source(src, bos, eos)?;
        t.name = name.to_owned();
        Ok(t)
    }

    /// [`named`](Self::named), or a template that fails every render if the
    /// built-in somehow does not compile (it is tested to).
    fn named_or_empty(name: &str) -> ChatTemplate {
        ChatTemplate::named(name).unwrap_or_else(|e| {
            log::warn!("built-in chat template {name}: {e}");
            ChatTemplate {
                env: new_environment(),
                name: name.to_owned(),
                bos: String::new(),
                eos: String::new(),
            }
        })
    }

    /// Compiles a Jinja chat template.
    pub fn from_source(src: &str, bos: &str, eos: &str) -> Result<ChatTemplate, ChatError> {
        let mut env = new_environment();
        env.add_template_owned(TEMPLATE_NAME, rewrite_generation_tags(src))
            .map_err(ChatError::Compile)?;
        Ok(ChatTemplate {
            env,
            name: "gguf".to_owned(),
            bos: bos.to_owned(),
            eos: eos.to_owned(),
        })
    }

    /// Renders `messages`; with `add_generation_prompt`, the text that
    /// opens the assistant's turn follows.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        let tmpl = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(ChatError::Render)?;
        let msgs: Vec<Value> = messages
            .iter()
            .map(|m| Value::from_object(MessageObject(m.clone())))
            .collect();
        let ctx = Value::from_pairs([
            ("messages", Value::from(msgs)),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos.as_str())),
            ("eos_token", Value::from(self.eos.as_str())),
        ]);
        tmpl.render(ctx).map_err(|e| match raised_message(&e) {
            Some(msg) => ChatError::Raised(msg),
            None => ChatError::Render(e),
        })
    }

    /// "gguf" for the model's own template, else the built-in's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text used for `bos_token`.
    pub fn bos_token(&self) -> &str {
        &self.bos
    }

    /// The text used for `eos_token`.
    pub fn eos_token(&self) -> &str {
        &self.eos
    }
}

/// Turns Hugging Face's `{% generation %}` ... `{% endgeneration %}` (which
/// only marks assistant text for training masks) into an `if true` block,
/// keeping the tags' whitespace control.
fn rewrite_generation_tags(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(at) = rest.find("{%") {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        let Some(end) = tag.find("%}") else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let left = inner.chars().next().filter(|c| *c == '-' || *c == '+');
        let right = inner.chars().last().filter(|c| *c == '-' || *c == '+');
        let mut word = inner;
        if left.is_some() {
            word = &word[1..];
        }
        if right.is_some() && !word.is_empty() {
            word = &word[..word.len() - 1];
        }
        let replacement = match word.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(r) => {
                out.push_str("{%");
                out.extend(left);
                out.push(' ');
                out.push_str(r);
                out.push(' ');
                out.extend(right);
                out.push_str("%}");
            }
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The conversation [`ChatTemplate::from_gguf`] checks a template with.
fn probe_conversation() -> Vec<Message> {
    vec![
        Message::user("Hello"),
        Message::assistant("Hi there"),
        Message::user("How are you?"),
    ]
}

/// "chatml", "llama3" or "llama2" from the tokens in the vocabulary.
fn guess_template_name(meta: &Metadata) -> &'static str {
    let tokens = meta
        .get_str_array(crate::tokenizer::keys::TOKENS)
        .unwrap_or_default();
    if tokens.contains(&"<|im_start|>") {
        "chatml"
    } else if tokens.contains(&"<|start_header_id|>") {
        "llama3"
    } else {
        "llama2"
    }
}

/// The `raise_exception` message somewhere in `e`'s source chain.
fn raised_message(e: &minijinja::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<RaisedException>() {
            return Some(r.0.clone());
        }
        cur = err.source();
    }
    None
}

fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .unwrap_or_default(),
    );
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
    env
}

fn raise_exception(message: Option<String>) -> Result<Value, minijinja::Error> {
    let message = message.unwrap_or_default();
    Err(
        minijinja::Error::new(ErrorKind::InvalidOperation, message.clone())
            .with_source(RaisedException(message)),
    )
}

fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    strftime(&format, secs)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01, in the
/// proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Formats UTC time `secs` (since the Unix epoch) like C's `strftime`, for
/// the directives templates use; unknown directives are copied as is.
fn strftime(format: &str, secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = (days + 3).rem_euclid(7) as usize;
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + u32::from(month > 2 && is_leap(year));
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let month_name = MONTHS[(month - 1) as usize];
    let weekday_name = WEEKDAYS[weekday];

    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let _ = match d {
            'Y' => write!(out, "{year}"),
            'y' => write!(out, "{:02}", year.rem_euclid(100)),
            'm' => write!(out, "{month:02}"),
            'd' => write!(out, "{day:02}"),
            'e' => write!(out, "{day:>2}"),
            'B' => write!(out, "{month_name}"),
            'b' | 'h' => write!(out, "{}", &month_name[..3]),
            'A' => write!(out, "{weekday_name}"),
            'a' => write!(out, "{}", &weekday_name[..3]),
            'H' => write!(out, "{hour:02}"),
            'I' => write!(out, "{hour12:02}"),
            'M' => write!(out, "{minute:02}"),
            'S' => write!(out, "{second:02}"),
            'p' => write!(out, "{}", if hour < 12 { "AM" } else { "PM" }),
            'j' => write!(out, "{yday:03}"),
            '%' => write!(out, "%"),
            other => write!(out, "%{other}"),
        };
    }
    out
}

/// `tojson`: Python's `json.dumps(value, ensure_ascii=False, indent=...)`.
fn tojson(value: Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, minijinja::Error> {
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
    let mut out = String::new();
    write_json(&mut out, &value, indent, 0)?;
    Ok(Value::from_safe_string(out))
}

fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_newline(out: &mut String, indent: Option<usize>, depth: usize) {
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * depth));
    }
}

fn write_json(
    out: &mut String,
    v: &Value,
    indent: Option<usize>,
    depth: usize,
) -> Result<(), minijinja::Error> {
    if depth > 64 {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "tojson: value nested too deeply",
        ));
    }
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if let Some(i) = v.as_i64() {
                let _ = write!(out, "{i}");
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                if f.is_finite() {
                    let _ = write!(out, "{f:?}");
                } else if f.is_nan() {
                    out.push_str("NaN");
                } else if f > 0.0 {
                    out.push_str("Infinity");
                } else {
                    out.push_str("-Infinity");
                }
            }
        }
        ValueKind::String => write_json_str(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                json_newline(out, indent, depth + 1);
                write_json(out, item, indent, depth + 1)?;
            }
            json_newline(out, indent, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = v.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                json_newline(out, indent, depth + 1);
                match key.as_str() {
                    Some(s) => write_json_str(out, s),
                    None => write_json_str(out, &key.to_string()),
                }
                out.push_str(": ");
                write_json(out, &v.get_item(key)?, indent, depth + 1)?;
            }
            json_newline(out, indent, depth);
            out.push('}');
        }
        _ => write_json_str(out, &v.to_string()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn strftime_directives() {
        // 2024-07-26 13:05:09 UTC, a Friday.
        let t = 1_722_000_000 - 1_722_000_000 % 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(strftime("%d %b %Y", t), "26 Jul 2024");
        assert_eq!(strftime("%Y-%m-%d %H:%M:%S", t), "2024-07-26 13:05:09");
        assert_eq!(
            strftime("%A %a %B %I%p %j %y %%", t),
            "Friday Fri July 01PM 208 24 %"
        );
        assert_eq!(strftime("%Q", t), "%Q");
        assert_eq!(strftime("100%", t), "100%");
    }

    #[test]
    fn generation_tags_become_if_blocks() {
        assert_eq!(
            rewrite_generation_tags("a{% generation %}b{%- endgeneration -%}c{{ x }}{% if y %}"),
            "a{% if true %}b{%- endif -%}c{{ x }}{% if y %}"
        );
        assert_eq!(
            rewrite_generation_tags("{%+generation+%}"),
            "{%+ if true +%}"
        );
        assert_eq!(rewrite_generation_tags("x {% unclosed"), "x {% unclosed");
        assert_eq!(rewrite_generation_tags("{%-%}"), "{%-%}");
    }

    #[test]
    fn chat_template_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ChatTemplate>();
    }
}
