//! The built-in templates, and how [`ChatTemplate::from_gguf`] picks one
//! when the model's own template is missing or broken.
//!
//! [`ChatTemplate::from_gguf`]: super::ChatTemplate::from_gguf

use super::Message;
use crate::gguf::Metadata;

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

/// (source, `bos_token`, `eos_token`) of the built-in template `name`.
pub(super) fn builtin(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match name {
        "chatml" => (CHATML, "", "<|im_end|>"),
        "llama2" => (LLAMA2, "<s>", "</s>"),
        "llama3" => (LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
        _ => return None,
    })
}

/// The conversation [`ChatTemplate::from_gguf`](super::ChatTemplate::from_gguf)
/// checks a template with.
pub(super) fn probe_conversation() -> Vec<Message> {
    vec![
        Message::user("Hello"),
        Message::assistant("Hi there"),
        Message::user("How are you?"),
    ]
}

/// "chatml", "llama3" or "llama2" from the tokens in the vocabulary.
pub(super) fn guess_template_name(meta: &Metadata) -> &'static str {
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
