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

mod builtin;
mod env;
mod limits;
mod strftime;
mod tojson;

use minijinja::Environment;
use minijinja::value::Value;

use self::builtin::{builtin, guess_template_name, probe_conversation};
use self::env::{MessageObject, new_environment, raised_message, rewrite_generation_tags};
use self::limits::BoundedWriter;
pub use self::limits::RenderLimit;
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
    /// The template ran past a bound (see [`RenderLimit`]): it is
    /// untrusted code from the model file.
    #[error("chat template {0}")]
    Limit(RenderLimit),
    /// Rendering failed for another reason.
    #[error("chat template failed to render: {0}")]
    Render(#[source] minijinja::Error),
}

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
        let (src, bos, eos) =
            builtin(name).ok_or_else(|| ChatError::UnknownTemplate(name.to_owned()))?;
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
        let input_bytes = messages
            .iter()
            .map(|m| m.role.len() + m.content.len())
            .sum::<usize>()
            + self.bos.len()
            + self.eos.len();
        // The fuel is per render, scaled to the input; the environment
        // (filters and compiled template behind `Arc`s) is cheap to clone.
        let mut env = self.env.clone();
        env.set_fuel(Some(limits::fuel(input_bytes, messages.len())));
        let tmpl = env.get_template(TEMPLATE_NAME).map_err(ChatError::Render)?;
        let mut out = BoundedWriter::new(limits::max_output(input_bytes));
        let result = tmpl.render_captured_to(ctx, &mut out);
        if let Some(limit) = out.hit {
            return Err(ChatError::Limit(limit));
        }
        match result {
            Ok(_) => String::from_utf8(out.out).map_err(|e| {
                ChatError::Render(minijinja::Error::new(
                    minijinja::ErrorKind::BadSerialization,
                    e.to_string(),
                ))
            }),
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
                Err(ChatError::Limit(RenderLimit::Instructions))
            }
            Err(e) => Err(match raised_message(&e) {
                Some(msg) => ChatError::Raised(msg),
                None => ChatError::Render(e),
            }),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_template_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ChatTemplate>();
    }

    /// `{% set s = s ~ s %}` `n` times on a string of `len` bytes, then its
    /// length.
    fn doubling(n: usize, len: usize) -> Result<String, ChatError> {
        let src = format!(
            "{{% set s = messages[0].content %}}{}{{{{ s | length }}}}",
            "{% set s = s ~ s %}".repeat(n)
        );
        let t = ChatTemplate::from_source(&src, "", "").unwrap();
        t.render(&[Message::user("x".repeat(len))], false)
    }

    /// Found by fuzzing: with a flat budget a 1 KB message doubled to 32 MB
    /// (and past that only the fuel of 2M instructions stopped it).
    #[test]
    fn doubling_a_string_is_bounded_by_the_input() {
        assert_eq!(doubling(10, 1000).unwrap(), "1024000");
        assert!(matches!(
            doubling(13, 1000),
            Err(ChatError::Limit(RenderLimit::Instructions))
        ));
        assert!(matches!(
            doubling(40, 1000),
            Err(ChatError::Limit(RenderLimit::Instructions))
        ));
        // A longer message buys more room: 100 KB doubled 5 times.
        assert_eq!(doubling(5, 100_000).unwrap(), "3200000");
    }

    #[test]
    fn long_conversations_still_render() {
        let t = ChatTemplate::named("chatml").unwrap();
        let messages: Vec<Message> = (0..20_000)
            .map(|i| Message::user(format!("message {i}")))
            .collect();
        let out = t.render(&messages, true).unwrap();
        assert!(
            out.ends_with("<|im_start|>assistant\n"),
            "{}",
            &out[out.len() - 40..]
        );
        assert!(out.contains("message 19999"));
    }
}
