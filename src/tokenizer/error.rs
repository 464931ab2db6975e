//! [`TokenizerError`], and the conversions into it.

use std::error::Error as StdError;
use std::path::PathBuf;

use crate::gguf::GgufError;

/// Everything that can go wrong building or using a [`Tokenizer`](super::Tokenizer).
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

pub(super) fn tk_err(e: tokenizers::Error) -> TokenizerError {
    TokenizerError::Tokenizers(e)
}
