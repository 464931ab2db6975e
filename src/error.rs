//! The one error type of the front door: every fallible function of
//! [`Model`](crate::Model) and [`Session`](crate::Session) returns
//! [`Error`], and [`Error::kind`] sorts it into a small, stable
//! [`ErrorKind`] that bindings (the C ABI's status codes, exceptions) map
//! without reading messages.
//!
//! Each cause has one route: the lower layers' typed errors (GGUF parsing,
//! metadata, tokenizer, chat template, sampler options, saved state, GPU)
//! are wrapped once, as they are, and the rest are variants of their own
//! with the numbers that explain them.

use std::path::PathBuf;

use crate::chat::ChatError;
use crate::cpu::CpuError;
use crate::gguf::GgufError;
use crate::gpu::GpuError;
use crate::model::{ConfigError, GpuMemory, StateError};
use crate::quant::QuantError;
use crate::sample::SampleError;
use crate::tokenizer::TokenizerError;

/// What kind of failure an [`Error`] is: stable across releases (new kinds
/// may be added), meant for status codes and exception classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file (the model, a tokenizer override) does not exist.
    NotFound,
    /// The model file is malformed or inconsistent (truncated, bad metadata,
    /// shapes that don't match, a broken vocabulary).
    InvalidModel,
    /// Well-formed but not something rewind runs: another architecture, a
    /// quant type without kernels, a newer GGUF version, no usable adapter.
    Unsupported,
    /// The model or a session doesn't fit: over the memory budget, over an
    /// adapter limit, or the adapter failed to allocate.
    OutOfMemory,
    /// The GPU device was lost (driver reset, device removed); load the
    /// model again.
    DeviceLost,
    /// The context holds no more tokens.
    ContextFull,
    /// An argument or option is out of range (a token id, a sampler
    /// setting, saved-state bytes, a chat that the template refuses).
    InvalidArgument,
    /// The operation was cancelled before it produced a result. (A
    /// cancelled generation is not an error: it ends with
    /// [`StopReason::Cancelled`](crate::StopReason::Cancelled).)
    Cancelled,
    /// Reading or writing a file failed for a reason other than its absence.
    Io,
    /// A bug or an unexpected driver failure.
    Internal,
}

/// An error of rewind's front door. `Display` says what happened, with the
/// numbers; [`Error::kind`] says what kind of failure it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening or parsing the model file at `path` failed.
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: GgufError },
    /// A GGUF error not tied to a path (I/O errors name their file).
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The model's metadata or tensor table.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Sampler(#[from] SampleError),
    /// Saved session state that can't be restored here.
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// The CPU path could not start (its threads).
    #[error(transparent)]
    Cpu(#[from] CpuError),
    /// A tensor's data can't be decoded.
    #[error("tensor `{name}`: {source}")]
    Tensor { name: String, source: QuantError },
    /// The vocabulary has more tokens than the embedding has rows.
    #[error("the tokenizer has {tokenizer} tokens but the embedding only {embedding}")]
    VocabMismatch { tokenizer: usize, embedding: usize },
    #[error("token id {token} is outside the vocabulary ({vocab} tokens)")]
    BadToken { token: u32, vocab: usize },
    /// Feeding would go past the session's context.
    #[error("context is full: {needed} positions needed, the session holds {n_ctx}")]
    ContextFull { needed: usize, n_ctx: usize },
    /// A prompt (with its prefill) that leaves no room to generate.
    #[error(
        "the prompt has {prompt} tokens but the context holds {n_ctx}; shorten it or raise n_ctx"
    )]
    PromptTooLong { prompt: usize, n_ctx: usize },
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The reset token asked for is not in the vocabulary.
    #[error("reset token {0} is not in the model's vocabulary")]
    UnknownResetToken(String),
    /// A size option that must be positive was 0.
    #[error("{0} must be positive")]
    ZeroSize(&'static str),
    /// An evaluation's context is below what it needs.
    #[error("n_ctx must be at least {min}, got {n_ctx}")]
    ContextTooSmall { n_ctx: usize, min: usize },
    /// An evaluation's text is shorter than one chunk.
    #[error("the text has {tokens} tokens, fewer than one chunk of {needed}")]
    TooFewTokens { tokens: usize, needed: usize },
    /// Every logit of a step was NaN: the weights are broken.
    #[error("the model's logits are all NaN (broken weights?)")]
    NoFiniteLogits,
    /// All-logits readback from a session not created for it.
    #[error("this session was not created with all_logits")]
    NoAllLogits,
    /// Host memory for `what` could not be had (the CPU path).
    #[error("{what} needs {bytes} bytes of memory, more than could be allocated")]
    OutOfHostMemory { what: &'static str, bytes: u64 },
    /// The model (weights plus one session's KV cache and scratch) does not
    /// fit: over [`LoadOptions::gpu_memory_budget`](crate::LoadOptions)
    /// (checked before anything is allocated), or the adapter reported
    /// out-of-memory while allocating.
    #[error("{}", crate::model::oom_message(.needed, *.n_ctx, *.budget))]
    OutOfGpuMemory {
        /// What the model needs, by part.
        needed: GpuMemory,
        /// The context the KV cache in `needed` is sized for.
        n_ctx: usize,
        /// The budget it exceeds; `None` when the adapter ran out.
        budget: Option<u64>,
    },
}

impl Error {
    /// The kind of failure, for status codes.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            Error::File { source, .. } | Error::Gguf(source) => gguf_kind(source),
            Error::Config(e) => match e {
                ConfigError::Gguf(g) => gguf_kind(g),
                ConfigError::UnsupportedArchitecture(_) | ConfigError::UnsupportedType { .. } => {
                    K::Unsupported
                }
                _ => K::InvalidModel,
            },
            Error::Tokenizer(e) => match e {
                TokenizerError::InvalidId { .. } => K::InvalidArgument,
                TokenizerError::UnknownModel(_) => K::Unsupported,
                TokenizerError::Io { source, .. } => io_kind(source),
                TokenizerError::Metadata(g) => gguf_kind(g),
                _ => K::InvalidModel,
            },
            // A template is the model's: one that runs past its bounds is a
            // bad model file, not a bad conversation.
            Error::Chat(ChatError::Limit(_)) => K::InvalidModel,
            Error::Chat(_) | Error::Sampler(_) | Error::State(_) => K::InvalidArgument,
            Error::Gpu(e) => match e {
                GpuError::NoAdapter { .. } | GpuError::RequestDevice(_) => K::Unsupported,
                GpuError::Unsupported { .. } => K::Unsupported,
                GpuError::TooLarge { .. } => K::OutOfMemory,
                GpuError::Invalid(_) => K::InvalidArgument,
                GpuError::DeviceLost(_) => K::DeviceLost,
                _ => K::Internal,
            },
            Error::Cpu(_) => K::Internal,
            Error::Tensor { source, .. } => match source {
                QuantError::Unsupported(_) => K::Unsupported,
                _ => K::InvalidModel,
            },
            Error::VocabMismatch { .. } | Error::NoFiniteLogits => K::InvalidModel,
            Error::BadToken { .. }
            | Error::EmptyPrompt
            | Error::UnknownResetToken(_)
            | Error::ZeroSize(_)
            | Error::ContextTooSmall { .. }
            | Error::TooFewTokens { .. }
            | Error::NoAllLogits => K::InvalidArgument,
            Error::ContextFull { .. } | Error::PromptTooLong { .. } => K::ContextFull,
            Error::OutOfGpuMemory { .. } | Error::OutOfHostMemory { .. } => K::OutOfMemory,
        }
    }
}

fn io_kind(e: &std::io::Error) -> ErrorKind {
    match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        _ => ErrorKind::Io,
    }
}

fn gguf_kind(e: &GgufError) -> ErrorKind {
    match e {
        GgufError::Io { source, .. } | GgufError::Write { source } => io_kind(source),
        GgufError::IsDirectory { .. } => ErrorKind::InvalidArgument,
        GgufError::UnsupportedVersion(_) | GgufError::UnknownTensorType { .. } => {
            ErrorKind::Unsupported
        }
        _ => ErrorKind::InvalidModel,
    }
}

/// Results of the front door.
pub type Result<T, E = Error> = std::result::Result<T, E>;
