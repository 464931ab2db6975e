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

mod build;
mod codec;
mod error;
mod load;
mod stream;
mod vocab;

pub use build::byte_to_char_table;
pub use error::TokenizerError;
pub use stream::StreamDecoder;
pub use vocab::{GgufVocab, PreTokenizerKind, TokenKind, keys};

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
    add_bos: bool,
    eog: Vec<u32>,
}

impl Tokenizer {
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

    /// Whether [`encode_with_bos`](Self::encode_with_bos) adds BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
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
    #[cfg(feature = "testing")]
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}
