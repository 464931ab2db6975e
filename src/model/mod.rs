//! Models: configuration from GGUF metadata, the weights on the GPU (or on
//! the CPU path, `crate::cpu`), and the per-session `Context` that owns a
//! KV cache and runs the forward pass. (Sampling, detokenizing and the
//! decoding loop are the session's.)

pub mod config;
mod context;
mod gpu_forward;
mod kv_cache;
mod memory;
#[cfg(feature = "testing")]
mod profile;
#[cfg(feature = "testing")]
pub mod reference;
mod state;
#[cfg(feature = "testing")]
pub mod synth;
mod weights;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::cpu::{CpuOptions, Isa};
pub use config::{ConfigError, LlamaConfig};
#[cfg(feature = "testing")]
pub use context::Context;
#[cfg(not(feature = "testing"))]
pub(crate) use context::Context;
pub use context::{Readback, StepOutput};
#[cfg(feature = "testing")]
pub use memory::estimate_gpu_memory;
pub(crate) use memory::oom_message;
pub use memory::{GpuMemory, format_bytes};
#[cfg(feature = "testing")]
pub use profile::OpTime;
pub use state::{CacheShape, ParsedState, StateError, parse_state};

use crate::chat::{ChatTemplate, Message};
use crate::cpu::CpuBackend;
use crate::error::Error;
use crate::gguf::{GgufError, GgufFile};
use crate::gpu::{Gpu, GpuOptions, Kernels, KvType};
use crate::tokenizer::Tokenizer;

/// The most tokens a session runs in one step (its prefill chunk) by
/// default.
pub const DEFAULT_N_BATCH: usize = 64;

/// The context a session gets when it asks for none (`n_ctx` = 0):
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

/// Where a model's steps run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The GPU, unless the best wgpu adapter is a CPU (lavapipe, llvmpipe,
    /// WARP, SwiftShader) or there is none: then the native CPU path, which
    /// is several times faster than WGSL on a software driver. An adapter
    /// named in [`GpuOptions::adapter`] is always used.
    #[default]
    Auto,
    /// The best wgpu adapter, whatever it is (WGSL kernels).
    Gpu,
    /// The native CPU path (`crate::cpu`).
    Cpu,
}

/// A device name that isn't `auto`, `gpu` or `cpu`.
#[derive(Debug, thiserror::Error)]
#[error("unknown device `{0}` (auto, gpu, cpu)")]
pub struct UnknownDevice(pub String);

impl std::str::FromStr for Device {
    type Err = UnknownDevice;

    /// `auto`, `gpu` or `cpu`, any case (what a command line or a config
    /// file says).
    fn from_str(s: &str) -> Result<Device, UnknownDevice> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::Auto),
            "gpu" => Ok(Device::Gpu),
            "cpu" => Ok(Device::Cpu),
            _ => Err(UnknownDevice(s.to_string())),
        }
    }
}

/// How a model is loaded.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// GPU or CPU (see [`Device`]).
    pub device: Device,
    pub gpu: GpuOptions,
    /// Threads of the CPU path (0 = the physical cores).
    pub n_threads: usize,
    pub cpu: CpuOptions,
    /// Use this `tokenizer.json` instead of the vocabulary in the GGUF.
    pub tokenizer_json: Option<PathBuf>,
    /// GPU memory the model may take, in bytes: when set, a model whose
    /// estimate ([`Model::estimate_memory`]: weights, plus the KV cache and
    /// scratch of one session of [`LoadOptions::n_ctx`] positions) exceeds
    /// it is refused with [`Error::OutOfGpuMemory`] before anything is
    /// allocated. `None` = no limit (an allocation the adapter can't make
    /// still fails with that error, naming the same numbers).
    pub gpu_memory_budget: Option<u64>,
    /// The session context the memory estimate and budget plan for (0 = a
    /// session's default, see [`session_n_ctx`]). It does not limit the
    /// sessions: each sets its own `n_ctx`.
    pub n_ctx: usize,
}

impl LoadOptions {
    /// The KV cache type `kv` on whichever path the model takes (the
    /// `kv_f16` and `kv_q8` of the GPU and the CPU options).
    pub fn with_kv_type(mut self, kv: KvType) -> Self {
        for (f16, q8) in [
            (&mut self.gpu.kv_f16, &mut self.gpu.kv_q8),
            (&mut self.cpu.kv_f16, &mut self.cpu.kv_q8),
        ] {
            *f16 = Some(kv == KvType::F16);
            *q8 = kv == KvType::Q8_0;
        }
        self
    }
}

/// Progress of a model load, in bytes of tensor data uploaded.
#[derive(Clone, Copy, Debug)]
pub struct LoadProgress {
    pub done: u64,
    pub total: u64,
}

/// Where a model's weights live and its steps run.
// One per model: the variants' sizes don't matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Gpu {
        gpu: Arc<Gpu>,
        kernels: Kernels,
        weights: weights::GpuWeights,
    },
    Cpu(Arc<CpuBackend>),
}

struct ModelInner {
    backend: Backend,
    config: LlamaConfig,
    tokenizer: Tokenizer,
    chat_template: ChatTemplate,
    name: String,
    file_type: String,
    weight_bytes: u64,
}

/// A model loaded on the GPU. Cheap to clone; sessions share its weights.
#[derive(Clone)]
pub struct Model {
    inner: Arc<ModelInner>,
}

impl Model {
    /// Memory-maps a GGUF file, checks it, and uploads its weights.
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Model, Error> {
        Self::load_with_progress(path, opts, |_| {})
    }

    pub fn load_with_progress(
        path: impl AsRef<Path>,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, Error> {
        let file = open_model_file(path.as_ref())?;
        Self::load_file(file, opts, progress)
    }

    /// Builds a model from a GGUF file already opened (or held in memory),
    /// on the device `opts` picks.
    pub fn load_file(
        file: GgufFile,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, Error> {
        match crate::cpu::resolve_device(opts) {
            Device::Cpu => Self::build_cpu(Arc::new(file), opts, progress),
            _ => {
                let gpu = Gpu::new(&opts.gpu)?;
                Self::build(&file, gpu, opts, progress)
            }
        }
    }

    /// Loads a model from a GGUF file held in memory. On a GPU the bytes
    /// are read while the weights are uploaded and not kept; the CPU path
    /// computes from the file's bytes in place, so it keeps a copy.
    pub fn load_from_memory(
        bytes: &[u8],
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, Error> {
        match crate::cpu::resolve_device(opts) {
            Device::Cpu => {
                let file = GgufFile::from_bytes(bytes.to_vec())?;
                Self::build_cpu(Arc::new(file), opts, progress)
            }
            _ => {
                let gpu = Gpu::new(&opts.gpu)?;
                GgufFile::with_bytes(bytes, |file| Self::build(file, gpu, opts, progress))?
            }
        }
    }

    /// Loads a model from the `len` bytes of `file` at byte `offset` (`None`:
    /// to the end of the file), memory-mapped: a file descriptor an app was
    /// handed (Android's file picker), or a model stored uncompressed inside
    /// a larger file (an asset in an APK). On a GPU the mapping is dropped
    /// when the weights are uploaded.
    pub fn load_from_file(
        file: std::fs::File,
        offset: u64,
        len: Option<u64>,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, Error> {
        let name = PathBuf::from(format!("model file (from byte {offset})"));
        let file = GgufFile::open_range(&file, offset, len, &name)?;
        Self::load_file(file, opts, progress)
    }

    /// What the model at `path` would take on the device `opts` picks, with
    /// one session of `opts.n_ctx` positions, computed from the file's tensor
    /// table before anything is allocated: its weights exactly as they are
    /// uploaded (on the CPU path: as repacked; float weights are read in
    /// place from the file), the KV cache, and an upper bound on the scratch
    /// buffers.
    pub fn estimate_memory(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<GpuMemory, Error> {
        let file = open_model_file(path.as_ref())?;
        let config = LlamaConfig::from_gguf(&file)?;
        if crate::cpu::resolve_device(opts) == Device::Cpu {
            return Ok(memory::estimate_cpu_memory(
                &file,
                &config,
                opts,
                DEFAULT_N_BATCH,
            ));
        }
        let gpu = Gpu::new(&opts.gpu)?;
        memory::estimate_gpu_memory(&file, &config, &gpu, opts.n_ctx, DEFAULT_N_BATCH)
    }

    /// Builds a model from an opened GGUF on a given GPU (tests share one GPU
    /// between several models this way).
    #[cfg(feature = "testing")]
    pub fn from_gguf(
        file: &GgufFile,
        gpu: Arc<Gpu>,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, Error> {
        Self::build(file, gpu, opts, progress)
    }

    /// The parts of a model that don't depend on the device.
    fn text_side(
        file: &GgufFile,
        opts: &LoadOptions,
    ) -> Result<(LlamaConfig, Tokenizer, ChatTemplate, String, String, u64), Error> {
        let config = LlamaConfig::from_gguf(file)?;
        let meta = file.metadata();
        let tokenizer = match &opts.tokenizer_json {
            Some(p) => Tokenizer::from_file(p)?,
            None => Tokenizer::from_gguf(meta)?,
        };
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::VocabMismatch {
                tokenizer: tokenizer.vocab_size(),
                embedding: config.vocab_size,
            });
        }
        let piece = |id: Option<u32>| id.and_then(|i| tokenizer.token_text(i)).unwrap_or_default();
        let chat_template =
            ChatTemplate::from_gguf(meta, &piece(tokenizer.bos()), &piece(tokenizer.eos()));
        let name = meta
            .opt_str("general.name")?
            .unwrap_or("unnamed")
            .to_string();
        let file_type = dominant_type(file, &config);
        let weight_bytes = config.weight_bytes(file);
        Ok((
            config,
            tokenizer,
            chat_template,
            name,
            file_type,
            weight_bytes,
        ))
    }

    /// A model on the native CPU path.
    fn build_cpu(
        file: Arc<GgufFile>,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, Error> {
        let (config, tokenizer, chat_template, name, file_type, weight_bytes) =
            Self::text_side(&file, opts)?;
        let n_ctx = session_n_ctx(&config, opts.n_ctx);
        let needed = memory::estimate_cpu_memory(&file, &config, opts, DEFAULT_N_BATCH);
        check_budget(needed, n_ctx, opts)?;
        let backend = CpuBackend::load(file, &config, &opts.cpu, opts.n_threads, progress)?;
        Ok(Model {
            inner: Arc::new(ModelInner {
                backend: Backend::Cpu(backend),
                config,
                tokenizer,
                chat_template,
                name,
                file_type,
                weight_bytes,
            }),
        })
    }

    fn build(
        file: &GgufFile,
        gpu: Arc<Gpu>,
        opts: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Model, Error> {
        let (config, tokenizer, chat_template, name, file_type, weight_bytes) =
            Self::text_side(file, opts)?;
        // Limits and budget first: nothing is allocated for a model that
        // can't fit.
        let n_ctx = session_n_ctx(&config, opts.n_ctx);
        let needed = memory::estimate_gpu_memory(file, &config, &gpu, n_ctx, DEFAULT_N_BATCH)?;
        check_budget(needed, n_ctx, opts)?;
        let kernels = Kernels::new(&gpu)?;
        // An allocation the adapter can't make is reported to this scope
        // (validation errors still go to the inner scopes of the upload).
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let weights = weights::GpuWeights::upload(&gpu, file, &config, progress);
        if pollster::block_on(scope.pop()).is_some() {
            return Err(Error::OutOfGpuMemory {
                needed,
                n_ctx,
                budget: None,
            });
        }
        let weights = weights?;
        // Matmuls with f32 or 8-bit activations: whichever is faster on this
        // adapter, per weight type and shape.
        for w in weights.largest_per_type() {
            if let Some(t) = kernels.choose_x8(w)? {
                for (shape, times) in [("decode", t.decode), ("prefill", t.prefill)] {
                    log::info!(
                        "{} {shape} matmul: f32 activations {:.1} us, 8-bit {:.1} us: {}",
                        t.ty,
                        times.f32_s * 1e6,
                        times.x8_s * 1e6,
                        if times.x8_wins() { "8-bit" } else { "f32" }
                    );
                }
            }
        }
        Ok(Model {
            inner: Arc::new(ModelInner {
                backend: Backend::Gpu {
                    gpu,
                    kernels,
                    weights,
                },
                config,
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
    pub fn chat_tokens(&self, messages: &[Message]) -> Result<Vec<u32>, Error> {
        let text = self.inner.chat_template.render(messages, true)?;
        Ok(self.inner.tokenizer.encode_with_bos(&text, true)?)
    }

    /// The tokens of `text`, without BOS; `parse_special` turns the text
    /// of special tokens ("<|im_start|>") into their ids (for text the
    /// application wrote, not for user input).
    pub fn tokenize(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, Error> {
        Ok(self.inner.tokenizer.encode(text, parse_special)?)
    }

    /// The text of `tokens` (special tokens included as their text).
    pub fn detokenize(&self, tokens: &[u32]) -> Result<String, Error> {
        Ok(self.inner.tokenizer.decode(tokens, false)?)
    }

    /// The adapter the model runs on and what it offers.
    pub fn device_info(&self) -> DeviceInfo {
        match &self.inner.backend {
            Backend::Cpu(cpu) => DeviceInfo {
                path: ComputePath::Cpu {
                    isa: cpu.isa(),
                    threads: cpu.threads(),
                },
                adapter: crate::cpu::cpu_name(),
                backend: wgpu::Backend::Noop,
                device_type: wgpu::DeviceType::Cpu,
                max_binding_size: u64::MAX,
                shader_f16: false,
                subgroups: false,
                kv_type: cpu.kv_type(),
            },
            Backend::Gpu { gpu, .. } => DeviceInfo {
                path: ComputePath::Gpu,
                adapter: gpu.info.name.clone(),
                backend: gpu.info.backend,
                device_type: gpu.info.device_type,
                max_binding_size: gpu.max_binding,
                shader_f16: gpu.f16,
                subgroups: gpu.subgroups,
                kv_type: gpu.kv,
            },
        }
    }

    /// The GPU the model runs on (`None` on the CPU path).
    #[cfg(feature = "testing")]
    pub fn gpu(&self) -> Option<&Arc<Gpu>> {
        match &self.inner.backend {
            Backend::Gpu { gpu, .. } => Some(gpu),
            Backend::Cpu(_) => None,
        }
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
    /// padding of each binding; norms as f32). On the CPU path: the bytes of
    /// the repacked quantized matrices (float matrices are read in place
    /// from the file).
    pub fn weight_gpu_bytes(&self) -> u64 {
        match &self.inner.backend {
            Backend::Gpu { weights, .. } => weights.gpu_bytes(),
            Backend::Cpu(cpu) => cpu.weight_bytes(),
        }
    }

    /// The context a session asking for `requested` positions gets (see
    /// [`session_n_ctx`]).
    pub fn session_n_ctx(&self, requested: usize) -> usize {
        session_n_ctx(&self.inner.config, requested)
    }
}

/// Which implementation runs a model's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComputePath {
    /// WGSL kernels on a wgpu adapter.
    Gpu,
    /// The native CPU path: kernels for `isa` on `threads` threads.
    Cpu { isa: Isa, threads: usize },
}

/// The adapter a model runs on ([`Model::device_info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// GPU (WGSL) or native CPU path.
    pub path: ComputePath,
    /// The adapter's name ("llvmpipe (LLVM 15.0.6, 256 bits)"); on the CPU
    /// path, the CPU's.
    pub adapter: String,
    pub backend: wgpu::Backend,
    /// Discrete, integrated, CPU...
    pub device_type: wgpu::DeviceType,
    /// The largest storage binding, in bytes: weights are split into
    /// bindings of at most this size, and one layer of the KV cache must
    /// fit in one.
    pub max_binding_size: u64,
    /// `SHADER_F16` is enabled.
    pub shader_f16: bool,
    /// Subgroup operations are enabled.
    pub subgroups: bool,
    /// What the KV cache holds.
    pub kv_type: KvType,
}

impl std::fmt::Display for DeviceInfo {
    /// "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)", or on the CPU path
    /// "AMD EPYC (native CPU: avx512-vnni, 2 threads)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path {
            ComputePath::Gpu => write!(f, "{} ({:?})", self.adapter, self.backend),
            ComputePath::Cpu { isa, threads } => {
                write!(f, "{} (native CPU: {isa}, {threads} threads)", self.adapter)
            }
        }
    }
}

/// Refuses a model whose estimate is over the caller's memory budget,
/// before anything is allocated.
fn check_budget(needed: GpuMemory, n_ctx: usize, opts: &LoadOptions) -> Result<(), Error> {
    match opts.gpu_memory_budget {
        Some(budget) if needed.total() > budget => Err(Error::OutOfGpuMemory {
            needed,
            n_ctx,
            budget: Some(budget),
        }),
        _ => Ok(()),
    }
}

/// Opens a GGUF file, naming it in errors.
fn open_model_file(path: &Path) -> Result<GgufFile, Error> {
    GgufFile::open(path).map_err(|source| match source {
        // These already name the file.
        GgufError::Io { .. } | GgufError::IsDirectory { .. } => Error::Gguf(source),
        source => Error::File {
            path: path.to_path_buf(),
            source,
        },
    })
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

#[cfg(test)]
mod tests {
    use super::Device;

    #[test]
    fn devices_parse_by_name() {
        assert_eq!("auto".parse::<Device>().unwrap(), Device::Auto);
        assert_eq!("GPU".parse::<Device>().unwrap(), Device::Gpu);
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        let e = "tpu".parse::<Device>().unwrap_err();
        assert_eq!(e.to_string(), "unknown device `tpu` (auto, gpu, cpu)");
    }
}
