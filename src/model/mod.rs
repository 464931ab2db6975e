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
    /// The model (weights plus one session's KV cache and scratch) does not
    /// fit: over [`LoadOptions::gpu_memory_budget`] (checked before anything
    /// is allocated), or the adapter reported out-of-memory while
    /// allocating.
    #[error("{}", oom_message(.needed, *.n_ctx, *.budget))]
    OutOfGpuMemory {
        /// What the model needs, by part.
        needed: GpuMemory,
        /// The context the KV cache in `needed` is sized for.
        n_ctx: usize,
        /// The budget it exceeds; `None` when the adapter ran out.
        budget: Option<u64>,
    },
}

fn oom_message(needed: &GpuMemory, n_ctx: usize, budget: Option<u64>) -> String {
    let why = match budget {
        Some(b) => format!(
            "over the GPU memory budget of {} ({b} bytes)",
            format_bytes(b)
        ),
        None => "the adapter could not allocate it".to_string(),
    };
    format!(
        "the model needs {} ({} bytes) of GPU memory (weights {}, KV cache {} for {n_ctx} positions, \
         scratch {}); {why}",
        format_bytes(needed.total()),
        needed.total(),
        format_bytes(needed.weights),
        format_bytes(needed.kv_cache),
        format_bytes(needed.scratch),
    )
}

/// `bytes` in the largest binary unit that keeps it at 1 or more: "1.21 GiB",
/// "512 B".
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// GPU memory of a model with one session, in bytes (see
/// [`estimate_gpu_memory`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuMemory {
    /// The weights as uploaded: repacked into the GPU layout, split into
    /// bindings, Q/K/V stacked and gate/up interleaved.
    pub weights: u64,
    /// Keys and values of every layer for the session's context.
    pub kv_cache: u64,
    /// Activations, logits and their readback buffer, attention split
    /// scratch and the ops' small tables.
    pub scratch: u64,
}

impl GpuMemory {
    pub fn total(&self) -> u64 {
        self.weights
            .saturating_add(self.kv_cache)
            .saturating_add(self.scratch)
    }
}

/// The context a session gets when it asks for none
/// ([`SessionOptions::n_ctx`](crate::session::SessionOptions::n_ctx) = 0):
/// the model's training context (`{arch}.context_length`), capped at this.
pub const DEFAULT_MAX_N_CTX: usize = 4096;

/// The context a session of `config` gets for `requested` positions: the
/// request itself (an override, which may exceed the training context), or
/// for 0 the training context capped at [`DEFAULT_MAX_N_CTX`].
pub fn session_n_ctx(config: &LlamaConfig, requested: usize) -> usize {
    match requested {
        0 => config.n_ctx_train.min(DEFAULT_MAX_N_CTX),
        n => n,
    }
}

/// Estimates, before anything is allocated, the GPU memory `file` takes on
/// `gpu` with one session of `n_ctx` positions (0 = the session default, see
/// [`session_n_ctx`]) and up to `n_batch` tokens per step: its weights
/// exactly as [`Model::from_gguf`] uploads them, the KV cache, and the
/// scratch buffers (an upper bound). wgpu can't tell how much memory is
/// free, so this is what a caller compares with what it knows of the device
/// (or gives as [`LoadOptions::gpu_memory_budget`]). Errors with
/// [`GpuError::TooLarge`] when a weight row can't be bound on this adapter
/// (the session checks its KV cache and logits against the limits when it
/// allocates them).
pub fn estimate_gpu_memory(
    file: &GgufFile,
    config: &LlamaConfig,
    gpu: &Gpu,
    n_ctx: usize,
    n_batch: usize,
) -> Result<GpuMemory, ModelError> {
    let n_ctx = session_n_ctx(config, n_ctx);
    let n_batch = n_batch.clamp(1, n_ctx.max(1));
    let (weights, separate_ffn) = llama::GpuWeights::estimate_bytes(gpu, file, config)?;
    let kv_cache = llama::kv_cache_bytes(gpu, config, n_ctx);
    let scratch = llama::scratch_bytes(config, n_batch, false, separate_ffn);
    Ok(GpuMemory {
        weights,
        kv_cache,
        scratch,
    })
}

/// How a model is loaded.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub gpu: GpuOptions,
    /// Use this `tokenizer.json` instead of the vocabulary in the GGUF.
    pub tokenizer_json: Option<PathBuf>,
    /// GPU memory the model may take, in bytes: when set, a model whose
    /// estimate ([`estimate_gpu_memory`]: weights, plus the KV cache and
    /// scratch of one session of [`LoadOptions::n_ctx`] positions) exceeds
    /// it is refused with [`ModelError::OutOfGpuMemory`] before anything is
    /// allocated. `None` = no limit (an allocation the adapter can't make
    /// still fails with that error, naming the same numbers).
    pub gpu_memory_budget: Option<u64>,
    /// The session context the memory estimate and budget plan for (0 = a
    /// session's default, see [`session_n_ctx`]). It does not limit the
    /// sessions: each sets its own `n_ctx`.
    pub n_ctx: usize,
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
        // Limits and budget first: nothing is allocated for a model that
        // can't fit.
        let n_ctx = session_n_ctx(&config, opts.n_ctx);
        let n_batch = crate::session::SessionOptions::default().n_batch;
        let needed = estimate_gpu_memory(file, &config, &gpu, n_ctx, n_batch)?;
        if let Some(budget) = opts.gpu_memory_budget
            && needed.total() > budget
        {
            return Err(ModelError::OutOfGpuMemory {
                needed,
                n_ctx,
                budget: Some(budget),
            });
        }
        let kernels = Kernels::new(&gpu)?;
        // An allocation the adapter can't make is reported to this scope
        // (validation errors still go to the inner scopes of the upload).
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let weights = llama::GpuWeights::upload(&gpu, file, &config, progress);
        if pollster::block_on(scope.pop()).is_some() {
            return Err(ModelError::OutOfGpuMemory {
                needed,
                n_ctx,
                budget: None,
            });
        }
        let weights = weights?;
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

    /// Bytes of GPU memory the uploaded weights take (repacked, with the
    /// padding of each binding; norms as f32).
    pub fn weight_gpu_bytes(&self) -> u64 {
        self.inner.weights.gpu_bytes()
    }

    /// The context a session asking for `requested` positions gets (see
    /// [`session_n_ctx`]).
    pub fn session_n_ctx(&self, requested: usize) -> usize {
        session_n_ctx(&self.inner.config, requested)
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
