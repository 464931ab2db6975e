//! Models: configuration from GGUF metadata, weights on the GPU, the forward
//! graph of one step, and the CPU reference forward used by the tests.

pub mod config;
pub mod llama;
pub mod perplexity;
pub mod reference;
pub mod synth;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{ConfigError, LlamaConfig};
pub use llama::{Graph, OpTime, Readback, StepOutput};

use crate::chat::{ChatError, ChatTemplate, Message};
use crate::gguf::{GgufError, GgufFile};
use crate::gpu::{Gpu, GpuError, GpuOptions, Kernels};
use crate::quant::QuantError;
use crate::tokenizer::{Tokenizer, TokenizerError};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: GgufError },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("tensor `{name}`: {source}")]
    Tensor { name: String, source: QuantError },
    #[error("token id {token} is outside the vocabulary ({vocab} tokens)")]
    BadToken { token: u32, vocab: usize },
    #[error("context is full: {needed} positions needed, the session holds {n_ctx}")]
    ContextFull { needed: usize, n_ctx: usize },
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

/// How a model is loaded.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub gpu: GpuOptions,
    /// Use this `tokenizer.json` instead of the vocabulary in the GGUF.
    pub tokenizer_json: Option<PathBuf>,
}

/// Progress of a model load, in bytes of tensor data uploaded.
#[derive(Clone, Copy, Debug)]
pub struct LoadProgress {
    pub done: u64,
    pub total: u64,
}

pub(crate) struct ModelInner {
    pub gpu: Arc<Gpu>,
    pub kernels: Kernels,
    pub config: LlamaConfig,
    pub weights: llama::GpuWeights,
    pub tokenizer: Tokenizer,
    pub chat_template: ChatTemplate,
    pub name: String,
    pub file_type: String,
    pub weight_bytes: u64,
}

/// A model loaded on the GPU. Cheap to clone; sessions share its weights.
#[derive(Clone)]
pub struct Model {
    pub(crate) inner: Arc<ModelInner>,
}

impl Model {
    /// Memory-maps a GGUF file, checks it, and uploads its weights.
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Model, ModelError> {
        Self::load_with_progress(path, opts, |_| {})
    }

    pub fn load_with_progress(
        path: impl AsRef<Path>,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let file = GgufFile::open(path).map_err(|source| match source {
            // I/O errors already name the file.
            GgufError::Io { .. } => ModelError::Gguf(source),
            source => ModelError::File {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let gpu = Gpu::new(&opts.gpu)?;
        Self::from_gguf(&file, gpu, opts, progress)
    }

    /// Builds a model from an opened GGUF on a given GPU (tests share one GPU
    /// between several models this way).
    pub fn from_gguf(
        file: &GgufFile,
        gpu: Arc<Gpu>,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, ModelError> {
        let config = LlamaConfig::from_gguf(file)?;
        let meta = file.metadata();
        let tokenizer = match &opts.tokenizer_json {
            Some(p) => Tokenizer::from_file(p)?,
            None => Tokenizer::from_gguf(meta)?,
        };
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(ModelError::InvalidOption(format!(
                "the tokenizer has {} tokens but the embedding only {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let piece = |id: Option<u32>| id.and_then(|i| tokenizer.token_text(i)).unwrap_or_default();
        let chat_template =
            ChatTemplate::from_gguf(meta, &piece(tokenizer.bos()), &piece(tokenizer.eos()));
        let kernels = Kernels::new(&gpu)?;
        let weights = llama::GpuWeights::upload(&gpu, file, &config, progress)?;
        let weight_bytes = config
            .expected_tensors()
            .iter()
            .filter_map(|(n, _)| file.tensor(n))
            .map(|t| t.n_bytes)
            .sum();
        let name = meta
            .opt_str("general.name")?
            .unwrap_or("unnamed")
            .to_string();
        let file_type = dominant_type(file, &config);
        Ok(Model {
            inner: Arc::new(ModelInner {
                gpu,
                kernels,
                config,
                weights,
                tokenizer,
                chat_template,
                name,
                file_type,
                weight_bytes,
            }),
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.inner.config
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tokenizer
    }

    pub fn chat_template(&self) -> &ChatTemplate {
        &self.inner.chat_template
    }

    /// The prompt tokens for a conversation: rendered with the chat
    /// template (ending with the assistant's header), special tokens parsed,
    /// BOS added when the model wants it and the template didn't write it.
    pub fn chat_tokens(&self, messages: &[Message]) -> Result<Vec<u32>, ModelError> {
        let text = self.inner.chat_template.render(messages, true)?;
        Ok(self.inner.tokenizer.encode_with_bos(&text, true)?)
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.inner.gpu
    }

    /// `general.name` from the GGUF.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The quant type holding most of the weight bytes ("Q4_1").
    pub fn file_type(&self) -> &str {
        &self.inner.file_type
    }

    /// Bytes of weight data in the file (what one decode step reads).
    pub fn weight_bytes(&self) -> u64 {
        self.inner.weight_bytes
    }
}

fn dominant_type(file: &GgufFile, config: &LlamaConfig) -> String {
    let mut by_type: Vec<(crate::quant::GgmlType, u64)> = Vec::new();
    for (name, _) in config.expected_tensors() {
        if let Some(t) = file.tensor(&name) {
            match by_type.iter_mut().find(|(ty, _)| *ty == t.ty) {
                Some((_, n)) => *n += t.n_bytes,
                None => by_type.push((t.ty, t.n_bytes)),
            }
        }
    }
    by_type
        .iter()
        .max_by_key(|(_, n)| *n)
        .map(|(ty, _)| ty.name().to_string())
        .unwrap_or_default()
}
