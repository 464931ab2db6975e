//! The Jinja environment templates render in: Hugging Face's
//! `apply_chat_template` settings, its extra functions and filters, and
//! messages as the templates see them.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Environment, ErrorKind};

use super::Message;
use super::strftime::strftime_now;
use super::tojson::tojson;

/// `trim_blocks` and `lstrip_blocks` on, minijinja-contrib's filters and
/// Python methods, `raise_exception`, `strftime_now` and `tojson`.
pub(super) fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(super::limits::FUEL));
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

/// A message as a template sees it: a map with keys `role` and `content`,
/// in that order (as the Python dicts Hugging Face passes).
#[derive(Debug)]
pub(super) struct MessageObject(pub(super) Message);

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

fn raise_exception(message: Option<String>) -> Result<Value, minijinja::Error> {
    let message = message.unwrap_or_default();
    Err(
        minijinja::Error::new(ErrorKind::InvalidOperation, message.clone())
            .with_source(RaisedException(message)),
    )
}

/// The `raise_exception` message somewhere in `e`'s source chain.
pub(super) fn raised_message(e: &minijinja::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<RaisedException>() {
            return Some(r.0.clone());
        }
        cur = err.source();
    }
    None
}

/// Turns Hugging Face's `{% generation %}` ... `{% endgeneration %}` (which
/// only marks assistant text for training masks) into an `if true` block,
/// keeping the tags' whitespace control.
pub(super) fn rewrite_generation_tags(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(at) = rest.find("{%") {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        // Past the opening "{%": in "{%}" the two tags overlap.
        let Some(end) = tag[2..].find("%}").map(|i| i + 2) else {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // Found by fuzzing: "{%}" used to slice its inner text backwards.
        assert_eq!(rewrite_generation_tags("{%}"), "{%}");
        assert_eq!(rewrite_generation_tags("a{%}b%}c"), "a{%}b%}c");
        assert_eq!(
            rewrite_generation_tags("{%}{% generation %}"),
            "{%}{% generation %}"
        );
    }
}
