//! What a model and one session take on the GPU, computed before anything is
//! allocated, so that a model that can't fit is refused up front.

use crate::error::Error;
use crate::gguf::GgufFile;
use crate::gpu::{Gpu, KvType};

use super::weights::GpuWeights;
use super::{LlamaConfig, LoadOptions, session_n_ctx};

/// GPU memory of a model with one session, in bytes (see
/// [`Model::estimate_memory`](crate::Model::estimate_memory)).
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

/// Estimates, before anything is allocated, the GPU memory `file` takes on
/// `gpu` with one session of `n_ctx` positions (0 = the session default, see
/// [`session_n_ctx`]) and up to `n_batch` tokens per step: its weights
/// exactly as they are uploaded, the KV cache, and the scratch buffers (an
/// upper bound). wgpu can't tell how much memory is free, so this is what a
/// caller compares with what it knows of the device (or gives as
/// [`LoadOptions::gpu_memory_budget`](super::LoadOptions)). Errors with
/// [`GpuError::TooLarge`](crate::gpu::GpuError) when a weight row can't be
/// bound on this adapter (a session checks its KV cache and logits against
/// the limits when it allocates them).
pub fn estimate_gpu_memory(
    file: &GgufFile,
    config: &LlamaConfig,
    gpu: &Gpu,
    n_ctx: usize,
    n_batch: usize,
) -> Result<GpuMemory, Error> {
    let n_ctx = session_n_ctx(config, n_ctx);
    let n_batch = n_batch.clamp(1, n_ctx.max(1));
    let (weights, separate_ffn) = GpuWeights::estimate_bytes(gpu, file, config)?;
    Ok(GpuMemory {
        weights,
        kv_cache: kv_cache_bytes(gpu, config, n_ctx),
        scratch: scratch_bytes(config, gpu.kv, n_batch, false, separate_ffn),
    })
}

/// What a model and one session take on the native CPU path, in host
/// memory: the repacked quantized matrices (float matrices and the token
/// embedding are read in place from the memory-mapped file, which the OS
/// pages in as needed), the KV cache of `opts.n_ctx` positions in the
/// element type `opts.cpu` asks for, and the step's buffers.
pub(crate) fn estimate_cpu_memory(
    file: &GgufFile,
    config: &LlamaConfig,
    opts: &LoadOptions,
    n_batch: usize,
) -> GpuMemory {
    let n_ctx = session_n_ctx(config, opts.n_ctx);
    let n_batch = n_batch.clamp(1, n_ctx.max(1)) as u64;
    let c = config;
    let kv_cache = (n_ctx as u64)
        .saturating_mul(opts.cpu.kv_type().row_bytes(c.kv_dim()))
        .saturating_mul(2 * c.n_layer as u64);
    // Activations (x, xn, qkv, att, gate/up, hidden), their 8-bit copies,
    // the mat-muls' tiles (up to the widest output: 2 n_ff or the
    // vocabulary) and the logits.
    let widest = (2 * c.n_ff).max(c.q_dim() + 2 * c.kv_dim()) as u64;
    let act =
        n_batch * 4 * (2 * c.n_embd + c.q_dim() + 2 * c.kv_dim() + c.q_dim() + 3 * c.n_ff) as u64;
    let q8 = n_batch * 2 * (c.n_embd + c.q_dim() + c.n_ff) as u64;
    let tiles = 4 * (n_batch * (widest + 16)).max(c.vocab_size as u64 + 16);
    let logits = 4 * c.vocab_size as u64;
    GpuMemory {
        weights: crate::cpu::packed_bytes(file, config),
        kv_cache,
        scratch: act + q8 + tiles + logits,
    }
}

/// Bytes of the KV cache of `n_ctx` positions: keys and values of every
/// layer, in the element type `gpu` uses. (Whether a layer fits in one
/// binding is the session's check, when it allocates the cache.)
pub(crate) fn kv_cache_bytes(gpu: &Gpu, config: &LlamaConfig, n_ctx: usize) -> u64 {
    (n_ctx as u64)
        .saturating_mul(gpu.kv.row_bytes(config.kv_dim()))
        .max(4)
        .saturating_mul(2 * config.n_layer as u64)
}

/// An upper bound on the scratch buffers of a session of up to `n_batch`
/// tokens per step: activations (with an 8-bit cache, the step's keys and
/// values in f32 too), logits and their readback copy, token ids, attention
/// split partials, and the small per-op uniforms and tables.
pub(crate) fn scratch_bytes(
    config: &LlamaConfig,
    kv: KvType,
    n_batch: usize,
    all_logits: bool,
    separate_ffn: bool,
) -> u64 {
    let c = config;
    let f = |n: usize| (n_batch as u64).saturating_mul(n as u64 * 4);
    let ffn_bufs = if separate_ffn { 3 } else { 1 };
    let staging = if kv == KvType::Q8_0 {
        2 * f(c.kv_dim())
    } else {
        0
    };
    let act = f(c.n_embd) + 2 * f(c.q_dim()) + ffn_bufs * f(c.n_ff) + staging;
    let logits_len = if all_logits {
        (n_batch as u64).saturating_mul(c.vocab_size as u64)
    } else {
        c.vocab_size as u64
    };
    let logits = logits_len.saturating_mul(4);
    // Per layer: the attention's partial results for up to 16 key splits,
    // the RoPE frequency table, and the ops' uniforms and part tables
    // (1 KiB is more than they take).
    let per_layer =
        (c.n_head * 16 * (c.head_dim + 2) * 4) as u64 + (c.rope_dim as u64 / 2) * 4 + 1024;
    let tokens = (n_batch as u64 * 4).max(4);
    // The step uniform, the argmax result and the output ops' tables.
    let fixed = 16 + 4 + 1024;
    act.saturating_add(logits.saturating_mul(2))
        .saturating_add(per_layer.saturating_mul(c.n_layer as u64))
        .saturating_add(tokens + fixed)
}

/// The message of [`Error::OutOfGpuMemory`].
pub(crate) fn oom_message(needed: &GpuMemory, n_ctx: usize, budget: Option<u64>) -> String {
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
