//! The vocabulary as GGUF stores it: keys, token kinds, pre-tokenizer
//! variants, and [`GgufVocab`] read from metadata.

use super::TokenizerError;
use crate::gguf::Metadata;

/// The metadata keys read by [`GgufVocab::from_metadata`].
pub mod keys {
    pub const MODEL: &str = "tokenizer.ggml.model";
    pub const PRE: &str = "tokenizer.ggml.pre";
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    pub const SCORES: &str = "tokenizer.ggml.scores";
    pub const MERGES: &str = "tokenizer.ggml.merges";
    pub const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
    pub const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
    pub const EOT_ID: &str = "tokenizer.ggml.eot_token_id";
    pub const EOM_ID: &str = "tokenizer.ggml.eom_token_id";
    pub const UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
    pub const PAD_ID: &str = "tokenizer.ggml.padding_token_id";
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
}

/// The type of a vocabulary entry (`tokenizer.ggml.token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// 0, or any value outside 1..=6.
    Undefined,
    /// 1: an ordinary piece of text.
    Normal,
    /// 2: the unknown token.
    Unknown,
    /// 3: a control token such as BOS, EOS or `<|im_start|>`.
    Control,
    /// 4: a user-defined token, matched verbatim in text.
    UserDefined,
    /// 5: an unused slot.
    Unused,
    /// 6: a byte-fallback token `<0xNN>`.
    Byte,
}

impl TokenKind {
    /// The kind for a GGUF token type value.
    pub fn from_gguf(t: i32) -> TokenKind {
        match t {
            1 => TokenKind::Normal,
            2 => TokenKind::Unknown,
            3 => TokenKind::Control,
            4 => TokenKind::UserDefined,
            5 => TokenKind::Unused,
            6 => TokenKind::Byte,
            _ => TokenKind::Undefined,
        }
    }

    /// Control and unknown tokens: parsed only with `parse_special`, dropped
    /// when decoding with `skip_special`.
    pub fn is_special(self) -> bool {
        matches!(self, TokenKind::Control | TokenKind::Unknown)
    }
}

/// The pre-tokenizer of a byte-level BPE vocabulary: the regexes llama.cpp
/// applies, one after the other, for each `tokenizer.ggml.pre` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// `default` (and a missing `pre`): llama.cpp's default regex set.
    Default,
    /// `gpt2`, `gpt-2`, `phi-2`, `roberta-bpe`, `mpt`, `olmo`, `jais`, `jina-*`.
    Gpt2,
    /// `llama3`, `llama-v3`, `llama-bpe`, `falcon3` (which also ignore merges
    /// for pieces that are whole tokens), `dbrx`, `smaug-bpe`, `chatglm-bpe`.
    Llama3,
    /// `smollm`, `starcoder`, `refact`, `command-r`, `codeshell`, `exaone`,
    /// `minerva-7b`: single digits, then GPT-2's regex.
    Smollm,
    /// `qwen2`, `stablelm2`, `megrez`.
    Qwen2,
    /// `falcon`.
    Falcon,
    /// `bloom`, `poro-chat`, `gpt3-finnish`.
    Bloom,
    /// `viking`.
    Viking,
}

const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const BLOOM_REGEX: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";

impl PreTokenizerKind {
    /// The kind for a `tokenizer.ggml.pre` value; `None` for a name this
    /// crate does not know.
    pub fn from_name(pre: &str) -> Option<PreTokenizerKind> {
        Some(match pre {
            "" | "default" => PreTokenizerKind::Default,
            "gpt2" | "gpt-2" | "phi-2" | "roberta-bpe" | "mpt" | "olmo" | "jais" | "gigachat"
            | "jina-es" | "jina-de" | "jina-v1-en" | "jina-v2-es" | "jina-v2-de"
            | "jina-v2-code" | "trillion" => PreTokenizerKind::Gpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "dbrx" | "smaug-bpe"
            | "chatglm-bpe" => PreTokenizerKind::Llama3,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => PreTokenizerKind::Smollm,
            "qwen2" | "stablelm2" | "megrez" => PreTokenizerKind::Qwen2,
            "falcon" => PreTokenizerKind::Falcon,
            "bloom" | "poro-chat" | "gpt3-finnish" => PreTokenizerKind::Bloom,
            "viking" => PreTokenizerKind::Viking,
            _ => return None,
        })
    }

    /// The regexes, applied in order; each splits the pieces left by the
    /// previous one into matches and the text between matches.
    pub fn regexes(self) -> &'static [&'static str] {
        match self {
            PreTokenizerKind::Default => &[
                r"[\p{P}\$\+<=>\^~\|]+",
                GPT2_REGEX,
                r"\p{N}+",
                r"[0-9][0-9][0-9]",
            ],
            PreTokenizerKind::Gpt2 => &[GPT2_REGEX],
            PreTokenizerKind::Llama3 => &[LLAMA3_REGEX],
            PreTokenizerKind::Smollm => &[r"\p{N}", GPT2_REGEX],
            PreTokenizerKind::Qwen2 => &[QWEN2_REGEX],
            PreTokenizerKind::Falcon => &[r"[\p{P}\$\+<=>\^~\|`]+", GPT2_REGEX, r"[0-9][0-9][0-9]"],
            PreTokenizerKind::Bloom => &[BLOOM_REGEX],
            PreTokenizerKind::Viking => &[BLOOM_REGEX, r"\p{N}"],
        }
    }
}

/// Whether llama.cpp ignores merges (takes a pre-tokenized piece that is a
/// whole token as is) for this `pre` name.
pub(super) fn pre_ignores_merges(pre: &str) -> bool {
    matches!(
        pre,
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "tekken"
    )
}

/// Whether llama.cpp adds BOS by default (absent `add_bos_token`) for this
/// `pre` name.
pub(super) fn pre_adds_bos(pre: &str) -> bool {
    matches!(
        pre,
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "tekken" | "chameleon"
    )
}

/// Token texts that llama.cpp treats as end of generation when present.
pub(super) const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

/// The vocabulary metadata of a GGUF file as plain data.
///
/// [`GgufVocab::from_metadata`] reads it; [`Tokenizer::from_vocab`](super::Tokenizer::from_vocab) builds a
/// tokenizer from it (handy for hand-made vocabularies).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: "gpt2" or "llama".
    pub model: String,
    /// `tokenizer.ggml.pre`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: the text of each token id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`; all normal when absent.
    pub token_types: Option<Vec<i32>>,
    /// `tokenizer.ggml.scores`; needed by "llama".
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.merges`, each "left right"; needed by "gpt2".
    pub merges: Option<Vec<String>>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`; default true for "llama" and for the
    /// llama3 pre-tokenizers, false otherwise (llama.cpp's defaults).
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.add_eos_token`; default false.
    pub add_eos: Option<bool>,
    /// `tokenizer.ggml.add_space_prefix`; default true for "llama".
    pub add_space_prefix: Option<bool>,
}

impl GgufVocab {
    /// Reads the `tokenizer.ggml.*` keys. Only `model` and `tokens` are
    /// required here; [`Tokenizer::from_vocab`](super::Tokenizer::from_vocab) checks what each model needs.
    pub fn from_metadata(meta: &Metadata) -> Result<GgufVocab, TokenizerError> {
        let model = meta.get_str(keys::MODEL)?.to_owned();
        let tokens: Vec<String> = meta
            .get_str_array(keys::TOKENS)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        let token_types = match meta.get(keys::TOKEN_TYPE) {
            Some(_) => Some(meta.get_i32_array(keys::TOKEN_TYPE)?),
            None => None,
        };
        let scores = match meta.get(keys::SCORES) {
            Some(_) => Some(meta.get_f32_array(keys::SCORES)?),
            None => None,
        };
        let merges = match meta.get(keys::MERGES) {
            Some(_) => Some(
                meta.get_str_array(keys::MERGES)?
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
            None => None,
        };
        Ok(GgufVocab {
            model,
            pre: meta.opt_str(keys::PRE)?.map(str::to_owned),
            tokens,
            token_types,
            scores,
            merges,
            bos: meta.opt_u32(keys::BOS_ID)?,
            eos: meta.opt_u32(keys::EOS_ID)?,
            eot: meta.opt_u32(keys::EOT_ID)?,
            eom: meta.opt_u32(keys::EOM_ID)?,
            unk: meta.opt_u32(keys::UNK_ID)?,
            pad: meta.opt_u32(keys::PAD_ID)?,
            add_bos: meta.opt_bool(keys::ADD_BOS)?,
            add_eos: meta.opt_bool(keys::ADD_EOS)?,
            add_space_prefix: meta.opt_bool(keys::ADD_SPACE_PREFIX)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use tokenizers::SplitDelimiterBehavior;
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};

    use super::*;

    #[test]
    fn pre_tokenizer_names() {
        assert_eq!(
            PreTokenizerKind::from_name("smollm"),
            Some(PreTokenizerKind::Smollm)
        );
        assert_eq!(
            PreTokenizerKind::from_name("llama-bpe"),
            Some(PreTokenizerKind::Llama3)
        );
        assert_eq!(
            PreTokenizerKind::from_name("qwen2"),
            Some(PreTokenizerKind::Qwen2)
        );
        assert_eq!(
            PreTokenizerKind::from_name("gpt2"),
            Some(PreTokenizerKind::Gpt2)
        );
        assert_eq!(PreTokenizerKind::from_name("nope"), None);
        // Every regex compiles.
        for kind in [
            PreTokenizerKind::Default,
            PreTokenizerKind::Gpt2,
            PreTokenizerKind::Llama3,
            PreTokenizerKind::Smollm,
            PreTokenizerKind::Qwen2,
            PreTokenizerKind::Falcon,
            PreTokenizerKind::Bloom,
            PreTokenizerKind::Viking,
        ] {
            for re in kind.regexes() {
                Split::new(
                    SplitPattern::Regex((*re).to_owned()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .unwrap_or_else(|e| panic!("{kind:?} {re}: {e}"));
            }
        }
    }
}
