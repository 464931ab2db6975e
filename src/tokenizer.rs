//! Text to token ids and back, built from the vocabulary stored in a GGUF file.
//!
//! [`Tokenizer::from_gguf`] rebuilds a [`tokenizers::Tokenizer`] from the
//! `tokenizer.ggml.*` metadata so that token ids equal llama.cpp's:
//!
//! * `tokenizer.ggml.model = "gpt2"`: byte-level BPE. The text is split by
//!   the pre-tokenizer regexes llama.cpp uses for `tokenizer.ggml.pre`
//!   (see [`PreTokenizerKind`]), each piece is mapped to GPT-2's byte
//!   alphabet and merged with `tokenizer.ggml.merges` in rank order.
//! * `tokenizer.ggml.model = "llama"`: SentencePiece-style BPE (Llama 2,
//!   TinyLlama, Mistral v0.1). Spaces become `▁`, a `▁` is prepended to each
//!   run of text when `tokenizer.ggml.add_space_prefix` is true (the default
//!   for this model), pieces are merged by `tokenizer.ggml.scores` (highest
//!   first) and characters missing from the vocabulary fall back to the byte
//!   tokens `<0x00>`..`<0xFF>`. The merge list is derived from the scores:
//!   every normal token that is the concatenation of two normal tokens gives
//!   a merge ranked by the token's score.
//!
//! Token types (`tokenizer.ggml.token_type`) follow llama.cpp: control (3)
//! and unknown (2) tokens are *special*: they are recognised in text only
//! when `parse_special` is true and dropped by `decode(.., skip_special =
//! true)`. User-defined tokens (4) are always recognised in text and always
//! decoded. Tokens that llama.cpp treats as end-of-generation by their text
//! (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, ...) are special too.
//!
//! Decoding does not go through the `tokenizers` decoders: each token's bytes
//! are computed as llama.cpp's `token_to_piece` does (byte-level alphabet
//! reversed, `▁` to space, `<0xNN>` to the byte) and concatenated, so
//! [`Tokenizer::decode`] and [`StreamDecoder`] agree byte for byte. The one
//! difference from llama.cpp: a SentencePiece model with `add_space_prefix`
//! drops the leading space of the first decoded (non-skipped) token, as
//! Hugging Face does, even when a skipped BOS precedes it. llama.cpp's
//! `clean_spaces` post-processing (removing spaces before punctuation) is
//! not applied, so decoding inverts encoding.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab as BpeVocab};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::utils::Sequence as NormalizerSequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, Model, OffsetReferential, OffsetType, PreTokenizer, SplitDelimiterBehavior,
};

use crate::gguf::{GgufError, Metadata};

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

/// Everything that can go wrong building or using a [`Tokenizer`].
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A required metadata key is absent.
    #[error("vocabulary metadata key {key:?} is missing")]
    MissingKey { key: String },
    /// Reading a metadata value failed (wrong type, ...).
    #[error("vocabulary metadata: {0}")]
    Metadata(#[source] GgufError),
    /// `tokenizer.ggml.tokens` is empty.
    #[error("the vocabulary (tokenizer.ggml.tokens) is empty")]
    EmptyVocab,
    /// A per-token array whose length differs from the number of tokens.
    #[error("{key} has {found} entries but the vocabulary has {expected} tokens")]
    LengthMismatch {
        key: &'static str,
        expected: usize,
        found: usize,
    },
    /// A special token id (BOS, EOS, ...) outside the vocabulary.
    #[error("{key} = {id} is not a token id (the vocabulary has {vocab_size} tokens)")]
    BadTokenId {
        key: &'static str,
        id: u32,
        vocab_size: usize,
    },
    /// A `tokenizer.ggml.model` this crate cannot tokenize.
    #[error(
        "unknown tokenizer model {0:?}: supported are \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece)"
    )]
    UnknownModel(String),
    /// A merge that is not two tokens separated by a space.
    #[error(
        "tokenizer.ggml.merges entry {index} ({merge:?}) is not two tokens separated by a space"
    )]
    BadMerge { index: usize, merge: String },
    /// Metadata that contradicts itself.
    #[error("inconsistent vocabulary metadata: {0}")]
    Inconsistent(String),
    /// An id outside the vocabulary passed to decoding.
    #[error("token id {id} is out of range (the vocabulary has {vocab_size} tokens)")]
    InvalidId { id: u32, vocab_size: usize },
    /// An error of the `tokenizers` crate.
    #[error("tokenizers: {0}")]
    Tokenizers(#[source] Box<dyn StdError + Send + Sync>),
    /// Reading a tokenizer file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<GgufError> for TokenizerError {
    fn from(e: GgufError) -> Self {
        match e {
            GgufError::MissingKey { key } => TokenizerError::MissingKey { key },
            other => TokenizerError::Metadata(other),
        }
    }
}

fn tk_err(e: tokenizers::Error) -> TokenizerError {
    TokenizerError::Tokenizers(e)
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
fn pre_ignores_merges(pre: &str) -> bool {
    matches!(
        pre,
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "tekken"
    )
}

/// Whether llama.cpp adds BOS by default (absent `add_bos_token`) for this
/// `pre` name.
fn pre_adds_bos(pre: &str) -> bool {
    matches!(
        pre,
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "tekken" | "chameleon"
    )
}

/// Token texts that llama.cpp treats as end of generation when present.
const EOG_TEXTS: &[&str] = &[
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
/// [`GgufVocab::from_metadata`] reads it; [`Tokenizer::from_vocab`] builds a
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
    /// required here; [`Tokenizer::from_vocab`] checks what each model needs.
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

/// How token ids turn back into bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoding {
    /// GPT-2 byte-level alphabet.
    ByteLevel,
    /// `▁` is a space, `<0xNN>` a byte; optionally drop the first leading
    /// space.
    SentencePiece { strip_leading_space: bool },
    /// A tokenizer.json whose decoder is neither: use `tokenizers`' decoder.
    Generic,
}

/// A tokenizer for one model: encoding, decoding and the special tokens.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    /// Recognises special tokens in text.
    inner: tokenizers::Tokenizer,
    /// `inner`'s added tokens, set to treat special tokens' text as plain
    /// text (user-defined tokens are still matched).
    plain_added: tokenizers::AddedVocabulary,
    pieces: Vec<String>,
    kinds: Vec<TokenKind>,
    ids: HashMap<String, u32>,
    decoding: Decoding,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: Vec<u32>,
}

/// The GPT-2 byte-level alphabet: the char standing for each byte.
fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, 33..=126 | 161..=172 | 174..=255);
        let cp = if printable {
            u32::from(b)
        } else {
            let cp = next;
            next += 1;
            cp
        };
        table[usize::from(b)] = char::from_u32(cp).unwrap_or('\u{FFFD}');
    }
    table
}

/// The byte a char of the GPT-2 byte-level alphabet stands for.
fn char_to_byte_map() -> HashMap<char, u8> {
    byte_to_char_table()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect()
}

/// `<0xNN>` -> NN.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl Tokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(meta: &Metadata) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_vocab(&GgufVocab::from_metadata(meta)?)
    }

    /// Builds the tokenizer from vocabulary data.
    pub fn from_vocab(v: &GgufVocab) -> Result<Tokenizer, TokenizerError> {
        let n = v.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if n > u32::MAX as usize {
            return Err(TokenizerError::Inconsistent(format!(
                "{n} tokens do not fit in u32 ids"
            )));
        }
        let mut kinds: Vec<TokenKind> = match &v.token_types {
            Some(t) if t.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: keys::TOKEN_TYPE,
                    expected: n,
                    found: t.len(),
                });
            }
            Some(t) => t.iter().map(|&x| TokenKind::from_gguf(x)).collect(),
            None => vec![TokenKind::Normal; n],
        };
        if let Some(s) = &v.scores
            && s.len() != n
        {
            return Err(TokenizerError::LengthMismatch {
                key: keys::SCORES,
                expected: n,
                found: s.len(),
            });
        }
        let check = |key: &'static str, id: Option<u32>| -> Result<Option<u32>, TokenizerError> {
            match id {
                Some(id) if id as usize >= n => Err(TokenizerError::BadTokenId {
                    key,
                    id,
                    vocab_size: n,
                }),
                other => Ok(other),
            }
        };
        let bos = check(keys::BOS_ID, v.bos)?;
        let eos = check(keys::EOS_ID, v.eos)?;
        let eot = check(keys::EOT_ID, v.eot)?;
        let eom = check(keys::EOM_ID, v.eom)?;
        let unk = check(keys::UNK_ID, v.unk)?;
        let pad = check(keys::PAD_ID, v.pad)?;

        // Empty texts would be ambiguous; llama.cpp renames them the same way.
        let pieces: Vec<String> = v
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if t.is_empty() {
                    format!("[EMPTY_{i}]")
                } else {
                    t.clone()
                }
            })
            .collect();
        // Later duplicates win, as in llama.cpp.
        let mut ids: HashMap<String, u32> = HashMap::with_capacity(n);
        for (i, t) in pieces.iter().enumerate() {
            ids.insert(t.clone(), i as u32);
        }

        // End-of-generation tokens, which llama.cpp also forces to control.
        let mut eog: Vec<u32> = EOG_TEXTS
            .iter()
            .filter_map(|t| ids.get(*t).copied())
            .collect();
        eog.extend([eos, eot, eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();
        for &id in &eog {
            let kind = &mut kinds[id as usize];
            if !kind.is_special() && EOG_TEXTS.contains(&pieces[id as usize].as_str()) {
                *kind = TokenKind::Control;
            }
        }

        let pre = v.pre.as_deref().unwrap_or("");
        let (inner, decoding, default_add_bos) = match v.model.as_str() {
            "gpt2" => {
                let merges = v
                    .merges
                    .as_ref()
                    .ok_or_else(|| TokenizerError::MissingKey {
                        key: keys::MERGES.to_owned(),
                    })?;
                let tok = build_byte_level(&ids, merges, pre)?;
                (tok, Decoding::ByteLevel, pre_adds_bos(pre))
            }
            "llama" => {
                let scores = v
                    .scores
                    .as_ref()
                    .ok_or_else(|| TokenizerError::MissingKey {
                        key: keys::SCORES.to_owned(),
                    })?;
                let add_space_prefix = v.add_space_prefix.unwrap_or(true);
                let unk_text = unk.map(|id| pieces[id as usize].as_str());
                let tok =
                    build_sentencepiece(&pieces, &kinds, &ids, scores, unk_text, add_space_prefix)?;
                (
                    tok,
                    Decoding::SentencePiece {
                        strip_leading_space: add_space_prefix,
                    },
                    true,
                )
            }
            other => return Err(TokenizerError::UnknownModel(other.to_owned())),
        };
        let add_bos = v.add_bos.unwrap_or(default_add_bos);
        let add_eos = v.add_eos.unwrap_or(false);
        if add_bos && bos.is_none() {
            return Err(TokenizerError::Inconsistent(
                "add_bos_token is true but there is no bos_token_id".into(),
            ));
        }
        if add_eos && eos.is_none() {
            return Err(TokenizerError::Inconsistent(
                "add_eos_token is true but there is no eos_token_id".into(),
            ));
        }
        Tokenizer::assemble(
            inner,
            pieces,
            kinds,
            ids,
            decoding,
            Specials {
                bos,
                eos,
                eot,
                unk,
                pad,
                add_bos,
                add_eos,
                eog,
            },
        )
    }

    /// Loads a Hugging Face `tokenizer.json` instead of the GGUF vocabulary.
    ///
    /// Such a file has no BOS/EOS metadata: the result has no BOS or EOS,
    /// `add_bos()` is false, and the end-of-generation tokens are found by
    /// their text only. Use [`Tokenizer::from_file_with_gguf`] to take BOS,
    /// EOS, EOT and `add_bos_token` from a GGUF file, or
    /// [`Tokenizer::with_bos_eos`] to set them.
    ///
    /// Added tokens marked special become control tokens, other added tokens
    /// user-defined ones. Decoding follows the file's decoder when it is
    /// byte-level or SentencePiece-like (Replace `▁`/ByteFallback/Strip or
    /// Metaspace); any other decoder is used through `tokenizers`, and
    /// [`StreamDecoder`] then relies on `tokenizers`' own stream decoding.
    pub fn from_file(tokenizer_json: impl AsRef<Path>) -> Result<Tokenizer, TokenizerError> {
        let path = tokenizer_json.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TokenizerError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(tk_err)?;
        // Encoding never adds BOS/EOS through a post-processor: we do it.
        inner.with_post_processor(None::<tokenizers::PostProcessorWrapper>);

        let added = inner.get_added_tokens_decoder();
        let vocab = inner.get_vocab(true);
        let n = vocab
            .values()
            .chain(added.keys())
            .max()
            .map_or(0, |&m| m as usize + 1);
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if n > 2 * (vocab.len() + added.len()) + 1024 || n > u32::MAX as usize {
            return Err(TokenizerError::Inconsistent(format!(
                "token ids go up to {} but there are only {} tokens",
                n - 1,
                vocab.len()
            )));
        }
        let decoding = match inner.get_decoder() {
            Some(d) => decoding_of(d),
            None => Decoding::Generic,
        };
        let mut pieces = vec![String::new(); n];
        let mut kinds = vec![TokenKind::Unused; n];
        for (text, &id) in &vocab {
            let i = id as usize;
            pieces[i] = text.clone();
            kinds[i] = match decoding {
                Decoding::SentencePiece { .. } if parse_byte_token(text).is_some() => {
                    TokenKind::Byte
                }
                _ => TokenKind::Normal,
            };
        }
        for (&id, tok) in &added {
            let i = id as usize;
            pieces[i] = tok.content.clone();
            kinds[i] = if tok.special {
                TokenKind::Control
            } else {
                TokenKind::UserDefined
            };
        }
        let ids: HashMap<String, u32> = vocab;
        let mut eog: Vec<u32> = EOG_TEXTS
            .iter()
            .filter_map(|t| ids.get(*t).copied())
            .collect();
        eog.sort_unstable();
        eog.dedup();
        Tokenizer::assemble(
            inner,
            pieces,
            kinds,
            ids,
            decoding,
            Specials {
                eog,
                ..Specials::default()
            },
        )
    }

    /// [`Tokenizer::from_file`], with BOS, EOS, EOT and `add_bos_token` taken
    /// from GGUF metadata (the vocabularies must agree on these ids).
    pub fn from_file_with_gguf(
        tokenizer_json: impl AsRef<Path>,
        meta: &Metadata,
    ) -> Result<Tokenizer, TokenizerError> {
        let tok = Tokenizer::from_file(tokenizer_json)?;
        let model = meta.opt_str(keys::MODEL)?.unwrap_or("");
        let pre = meta.opt_str(keys::PRE)?.unwrap_or("");
        let default_add_bos = model == "llama" || pre_adds_bos(pre);
        let add_bos = meta.opt_bool(keys::ADD_BOS)?.unwrap_or(default_add_bos);
        let mut tok = tok.with_bos_eos(
            meta.opt_u32(keys::BOS_ID)?,
            meta.opt_u32(keys::EOS_ID)?,
            add_bos,
        )?;
        if let Some(eot) = meta.opt_u32(keys::EOT_ID)? {
            tok.check_id(keys::EOT_ID, eot)?;
            tok.eot = Some(eot);
            tok.add_eog(eot);
        }
        Ok(tok)
    }

    /// Sets BOS, EOS and whether [`encode_with_bos`](Self::encode_with_bos)
    /// adds BOS. EOS joins the end-of-generation tokens.
    pub fn with_bos_eos(
        mut self,
        bos: Option<u32>,
        eos: Option<u32>,
        add_bos: bool,
    ) -> Result<Tokenizer, TokenizerError> {
        if let Some(id) = bos {
            self.check_id(keys::BOS_ID, id)?;
        }
        if let Some(id) = eos {
            self.check_id(keys::EOS_ID, id)?;
            self.add_eog(id);
        }
        if add_bos && bos.is_none() {
            return Err(TokenizerError::Inconsistent(
                "add_bos is true but there is no BOS token".into(),
            ));
        }
        self.bos = bos;
        self.eos = eos;
        self.add_bos = add_bos;
        Ok(self)
    }

    fn check_id(&self, key: &'static str, id: u32) -> Result<(), TokenizerError> {
        if (id as usize) < self.pieces.len() {
            Ok(())
        } else {
            Err(TokenizerError::BadTokenId {
                key,
                id,
                vocab_size: self.pieces.len(),
            })
        }
    }

    fn add_eog(&mut self, id: u32) {
        if let Err(pos) = self.eog.binary_search(&id) {
            self.eog.insert(pos, id);
        }
    }

    fn assemble(
        inner: tokenizers::Tokenizer,
        pieces: Vec<String>,
        kinds: Vec<TokenKind>,
        ids: HashMap<String, u32>,
        decoding: Decoding,
        s: Specials,
    ) -> Result<Tokenizer, TokenizerError> {
        let mut inner = inner;
        // Register the vocabulary's special and user-defined tokens (a no-op
        // for those a tokenizer.json already has).
        let mut added = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            let special = match kind {
                TokenKind::Control | TokenKind::Unknown => true,
                TokenKind::UserDefined => false,
                _ => continue,
            };
            let text = &pieces[i];
            // Only tokens whose text maps back to their own id: a duplicate
            // text belongs to its last id.
            if ids.get(text) != Some(&(i as u32)) {
                continue;
            }
            added.push(AddedToken::from(text.clone(), special).normalized(false));
        }
        let existing = inner.get_added_tokens_decoder();
        added.retain(|t| {
            !existing
                .values()
                .any(|e| e.content == t.content && e.special == t.special)
        });
        if !added.is_empty() {
            inner.add_tokens(added).map_err(tk_err)?;
        }
        inner.set_encode_special_tokens(false);
        let mut plain_added = inner.get_added_vocabulary().clone();
        plain_added.set_encode_special_tokens(true);
        Ok(Tokenizer {
            inner,
            plain_added,
            pieces,
            kinds,
            ids,
            decoding,
            bos: s.bos,
            eos: s.eos,
            eot: s.eot,
            unk: s.unk,
            pad: s.pad,
            add_bos: s.add_bos,
            add_eos: s.add_eos,
            eog: s.eog,
        })
    }

    /// Token ids of `text`. Never adds BOS or EOS. With `parse_special`,
    /// the text of control tokens (`<|im_start|>`, `<s>`, ...) becomes those
    /// tokens; without it, it is tokenized as ordinary text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, TokenizerError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        if parse_special {
            let enc = self.inner.encode_fast(text, false).map_err(tk_err)?;
            return Ok(enc.get_ids().to_vec());
        }
        // The steps of `tokenizers`' own encoding, with the added vocabulary
        // that ignores special tokens.
        let mut pieces = self
            .plain_added
            .extract_and_normalize(self.inner.get_normalizer(), text);
        if let Some(pre) = self.inner.get_pre_tokenizer() {
            pre.pre_tokenize(&mut pieces).map_err(tk_err)?;
        }
        let model = self.inner.get_model();
        pieces
            .tokenize(|normalized| model.tokenize(normalized.get()))
            .map_err(tk_err)?;
        Ok(pieces
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .flat_map(|(_, _, tokens)| tokens.iter().flatten().map(|t| t.id))
            .collect())
    }

    /// [`encode`](Self::encode), with BOS first iff the model's
    /// `add_bos_token` says so and the text doesn't already start with it
    /// (a chat template that writes `bos_token` itself). EOS is never
    /// appended (see [`add_eos`](Self::add_eos)).
    pub fn encode_with_bos(
        &self,
        text: &str,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut out = self.encode(text, parse_special)?;
        if self.add_bos
            && let Some(bos) = self.bos
            && out.first() != Some(&bos)
        {
            out.insert(0, bos);
        }
        Ok(out)
    }

    /// The text of `ids`. With `skip_special`, control and unknown tokens
    /// are left out. Invalid UTF-8 (from a cut-off multi-byte character)
    /// becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        for &id in ids {
            self.check_decode_id(id)?;
        }
        if self.decoding == Decoding::Generic {
            return self.inner.decode(ids, skip_special).map_err(tk_err);
        }
        let mut bytes = Vec::new();
        let mut started = false;
        for &id in ids {
            self.append_bytes(id, skip_special, &mut started, &mut bytes);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn check_decode_id(&self, id: u32) -> Result<(), TokenizerError> {
        if (id as usize) < self.pieces.len() {
            Ok(())
        } else {
            Err(TokenizerError::InvalidId {
                id,
                vocab_size: self.pieces.len(),
            })
        }
    }

    /// Appends the bytes of token `id` (which must be in range), as
    /// llama.cpp's `token_to_piece`. `started` tracks whether any bytes came
    /// before, for the SentencePiece leading-space rule.
    fn append_bytes(&self, id: u32, skip_special: bool, started: &mut bool, out: &mut Vec<u8>) {
        let i = id as usize;
        let (Some(kind), Some(text)) = (self.kinds.get(i), self.pieces.get(i)) else {
            return;
        };
        let start = out.len();
        match kind {
            TokenKind::Control | TokenKind::Unknown => {
                if skip_special {
                    return;
                }
                out.extend_from_slice(text.as_bytes());
            }
            TokenKind::UserDefined => out.extend_from_slice(text.as_bytes()),
            TokenKind::Unused | TokenKind::Undefined => return,
            TokenKind::Byte => match (self.decoding, parse_byte_token(text)) {
                (Decoding::SentencePiece { .. }, Some(b)) => out.push(b),
                _ => out.extend_from_slice(text.as_bytes()),
            },
            TokenKind::Normal => match self.decoding {
                Decoding::ByteLevel => {
                    let map = byte_level_map();
                    for c in text.chars() {
                        match map.get(&c) {
                            Some(&b) => out.push(b),
                            None => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                    }
                }
                Decoding::SentencePiece { .. } => {
                    out.extend_from_slice(text.replace('\u{2581}', " ").as_bytes())
                }
                Decoding::Generic => out.extend_from_slice(text.as_bytes()),
            },
        }
        if !*started && out.len() > start {
            *started = true;
            if let Decoding::SentencePiece {
                strip_leading_space: true,
            } = self.decoding
                && out[start] == b' '
            {
                out.remove(start);
            }
        }
    }

    /// The raw vocabulary text of `id` (`Ġworld`, `▁the`, `<0x0A>`,
    /// `<|im_end|>`), or `None` outside the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.pieces.get(id as usize).cloned()
    }

    /// The id whose vocabulary text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The type of token `id`.
    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The end-of-turn token, when the metadata names one.
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }

    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    pub fn pad(&self) -> Option<u32> {
        self.pad
    }

    /// Whether [`encode_with_bos`](Self::encode_with_bos) adds BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The model's `add_eos_token`: whether llama.cpp would append EOS to a
    /// prompt. Nothing here appends it.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// End-of-generation tokens, ascending: EOS, EOT, EOM and every token
    /// whose text llama.cpp treats as ending a turn (`<|im_end|>`,
    /// `<|eot_id|>`, `<|endoftext|>`, `<end_of_turn>`, ...).
    pub fn eog_tokens(&self) -> &[u32] {
        &self.eog
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// Whether `id` is a control (or unknown) token: parsed only with
    /// `parse_special`, skipped by `decode(.., true)`.
    pub fn is_special(&self, id: u32) -> bool {
        self.kinds.get(id as usize).is_some_and(|k| k.is_special())
    }

    /// The underlying `tokenizers` tokenizer (special tokens parsed).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

#[derive(Default)]
struct Specials {
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: Vec<u32>,
}

fn byte_level_map() -> &'static HashMap<char, u8> {
    static MAP: std::sync::OnceLock<HashMap<char, u8>> = std::sync::OnceLock::new();
    MAP.get_or_init(char_to_byte_map)
}

/// Which of our decodings a tokenizer.json decoder amounts to.
fn decoding_of(d: &DecoderWrapper) -> Decoding {
    match d {
        DecoderWrapper::ByteLevel(_) => Decoding::ByteLevel,
        DecoderWrapper::Metaspace(m) => Decoding::SentencePiece {
            strip_leading_space: !matches!(
                m.get_prepend_scheme(),
                tokenizers::pre_tokenizers::metaspace::PrependScheme::Never
            ),
        },
        DecoderWrapper::Sequence(seq) => {
            let parts = seq.get_decoders();
            if parts.len() == 1 {
                return decoding_of(&parts[0]);
            }
            let spm = parts.iter().any(|p| {
                matches!(p, DecoderWrapper::ByteFallback(_))
                    || matches!(p, DecoderWrapper::Replace(_))
            });
            let other = parts.iter().any(|p| {
                !matches!(
                    p,
                    DecoderWrapper::ByteFallback(_)
                        | DecoderWrapper::Replace(_)
                        | DecoderWrapper::Fuse(_)
                        | DecoderWrapper::Strip(_)
                )
            });
            if spm && !other {
                Decoding::SentencePiece {
                    strip_leading_space: parts.iter().any(|p| match p {
                        DecoderWrapper::Strip(s) => s.start > 0,
                        _ => false,
                    }),
                }
            } else {
                Decoding::Generic
            }
        }
        _ => Decoding::Generic,
    }
}

/// Filters merges to those whose parts and result are tokens (llama.cpp
/// ignores the others in effect) and splits "a b" at the first space after
/// the first byte.
fn parse_merges(
    merges: &[String],
    ids: &HashMap<String, u32>,
) -> Result<Vec<(String, String)>, TokenizerError> {
    let mut out = Vec::with_capacity(merges.len());
    let mut dropped = 0usize;
    for (index, m) in merges.iter().enumerate() {
        let split = m
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == ' ')
            .map(|(i, _)| i);
        let Some(at) = split else {
            return Err(TokenizerError::BadMerge {
                index,
                merge: m.clone(),
            });
        };
        let (a, b) = (&m[..at], &m[at + 1..]);
        if b.is_empty() {
            return Err(TokenizerError::BadMerge {
                index,
                merge: m.clone(),
            });
        }
        let merged = format!("{a}{b}");
        if ids.contains_key(a) && ids.contains_key(b) && ids.contains_key(&merged) {
            out.push((a.to_owned(), b.to_owned()));
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        log::warn!("tokenizer: ignoring {dropped} merges whose tokens are not in the vocabulary");
    }
    Ok(out)
}

fn bpe_vocab(ids: &HashMap<String, u32>) -> BpeVocab {
    ids.iter().map(|(k, &v)| (k.clone(), v)).collect()
}

fn build_byte_level(
    ids: &HashMap<String, u32>,
    merges: &[String],
    pre: &str,
) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let merges = parse_merges(merges, ids)?;
    let kind = match PreTokenizerKind::from_name(pre) {
        Some(k) => {
            if pre.is_empty() {
                log::warn!(
                    "tokenizer: no tokenizer.ggml.pre in the model; using llama.cpp's default pre-tokenizer"
                );
            }
            k
        }
        None => {
            log::warn!(
                "tokenizer: unknown pre-tokenizer {pre:?}; falling back to GPT-2's regex, tokenization may differ from the model's"
            );
            PreTokenizerKind::Gpt2
        }
    };
    let bpe = BPE::builder()
        .vocab_and_merges(bpe_vocab(ids), merges)
        .ignore_merges(pre_ignores_merges(pre))
        .build()
        .map_err(tk_err)?;
    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for re in kind.regexes() {
        let split = Split::new(
            SplitPattern::Regex((*re).to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tk_err)?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(PreTokenizerSequence::new(steps)));
    tok.with_decoder(Some(ByteLevel::new(false, false, false)));
    Ok(tok)
}

/// Merges implied by SentencePiece scores: for each normal token, every split
/// into two normal tokens, ranked by the token's score (higher first), then
/// by token id and by the left part's length.
fn merges_from_scores(
    pieces: &[String],
    kinds: &[TokenKind],
    ids: &HashMap<String, u32>,
    scores: &[f32],
) -> Vec<(String, String)> {
    let is_normal = |t: &str| {
        ids.get(t)
            .is_some_and(|&id| kinds.get(id as usize) == Some(&TokenKind::Normal))
    };
    let mut ranked: Vec<(f32, u32, usize, &str, usize)> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if kinds[i] != TokenKind::Normal || ids.get(piece) != Some(&(i as u32)) {
            continue;
        }
        for (at, _) in piece.char_indices().skip(1) {
            let (a, b) = piece.split_at(at);
            if is_normal(a) && is_normal(b) {
                ranked.push((scores[i], i as u32, at, piece.as_str(), at));
            }
        }
    }
    ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    ranked
        .into_iter()
        .map(|(_, _, _, piece, at)| (piece[..at].to_owned(), piece[at..].to_owned()))
        .collect()
}

fn build_sentencepiece(
    pieces: &[String],
    kinds: &[TokenKind],
    ids: &HashMap<String, u32>,
    scores: &[f32],
    unk_text: Option<&str>,
    add_space_prefix: bool,
) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let merges = merges_from_scores(pieces, kinds, ids, scores);
    let mut builder = BPE::builder()
        .vocab_and_merges(bpe_vocab(ids), merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk_text {
        builder = builder.unk_token(unk.to_owned());
    }
    let bpe = builder.build().map_err(tk_err)?;

    let mut norm: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        norm.push(Prepend::new("\u{2581}".to_owned()).into());
    }
    norm.push(Replace::new(" ", "\u{2581}").map_err(tk_err)?.into());

    let mut dec: Vec<DecoderWrapper> = vec![
        Replace::new("\u{2581}", " ").map_err(tk_err)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        dec.push(Strip::new(' ', 1, 0).into());
    }
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_normalizer(Some(NormalizerSequence::new(norm)))
        .map_err(tk_err)?;
    tok.with_decoder(Some(DecoderSequence::new(dec)));
    Ok(tok)
}

/// Incremental detokenization for streaming output.
///
/// [`push`](Self::push) returns the text completed by one more token. Bytes
/// of a multi-byte character split across tokens are held back until the
/// character is complete, so no output ever contains a broken character;
/// [`flush`](Self::flush) returns what is left (an unfinished character as
/// U+FFFD). The pushes' outputs followed by `flush` concatenate to
/// [`Tokenizer::decode`] of all the ids.
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    skip_special: bool,
    pending: Vec<u8>,
    started: bool,
    generic: Option<GenericStream<'a>>,
}

type GenericStream<'a> = tokenizers::DecodeStream<
    'a,
    tokenizers::ModelWrapper,
    tokenizers::NormalizerWrapper,
    tokenizers::PreTokenizerWrapper,
    tokenizers::PostProcessorWrapper,
    tokenizers::DecoderWrapper,
>;

impl<'a> StreamDecoder<'a> {
    pub fn new(tok: &'a Tokenizer, skip_special: bool) -> StreamDecoder<'a> {
        let generic =
            (tok.decoding == Decoding::Generic).then(|| tok.inner.decode_stream(skip_special));
        StreamDecoder {
            tok,
            skip_special,
            pending: Vec::new(),
            started: false,
            generic,
        }
    }

    /// Adds one token; returns the newly completed text (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String, TokenizerError> {
        self.tok.check_decode_id(id)?;
        if let Some(g) = &mut self.generic {
            return Ok(g.step(id).map_err(tk_err)?.unwrap_or_default());
        }
        self.tok
            .append_bytes(id, self.skip_special, &mut self.started, &mut self.pending);
        Ok(self.take_complete())
    }

    /// The text held back (an incomplete character, as U+FFFD); resets the
    /// pending bytes.
    pub fn flush(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }

    /// Moves every complete character (and each invalid byte sequence, as
    /// U+FFFD) out of `pending`, leaving an incomplete trailing character.
    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut pos = 0;
        let buf = &self.pending;
        while pos < buf.len() {
            match std::str::from_utf8(&buf[pos..]) {
                Ok(s) => {
                    out.push_str(s);
                    pos = buf.len();
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Valid by construction of `valid_up_to`.
                    out.push_str(&String::from_utf8_lossy(&buf[pos..pos + valid]));
                    pos += valid;
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            pos += bad;
                        }
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..pos);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_is_a_bijection() {
        let table = byte_to_char_table();
        let map = char_to_byte_map();
        assert_eq!(map.len(), 256);
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[b'a' as usize], 'a');
        for (b, c) in table.iter().enumerate() {
            assert_eq!(map[c] as usize, b);
        }
    }

    #[test]
    fn byte_tokens_parse() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(10));
        assert_eq!(parse_byte_token("<0xff>"), Some(255));
        assert_eq!(parse_byte_token("<0x0A"), None);
        assert_eq!(parse_byte_token("<0x123>"), None);
        assert_eq!(parse_byte_token("a"), None);
    }

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

    #[test]
    fn merges_split_at_first_space_after_first_byte() {
        let ids: HashMap<String, u32> = ["a", "b", "ab", " ", "  "]
            .iter()
            .enumerate()
            .map(|(i, s)| (s.to_string(), i as u32))
            .collect();
        let m = parse_merges(&["a b".into(), "   ".into()], &ids).unwrap();
        assert_eq!(m, vec![("a".into(), "b".into()), (" ".into(), " ".into())]);
        assert!(matches!(
            parse_merges(&["ab".into()], &ids),
            Err(TokenizerError::BadMerge { index: 0, .. })
        ));
    }
}
