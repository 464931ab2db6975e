//! The Llama forward graph on the GPU.
//!
//! `GpuWeights` holds the uploaded tensors of a model (shared by all its
//! sessions). A `Graph` belongs to one session: it owns the activation
//! buffers and the KV cache, and builds every op (pipeline + bind group) once.
//! A step then writes the step parameters and the token ids, records all ops
//! into one compute pass of one command encoder, and submits once; it reads
//! back only what the caller asks for (the argmax, the last logits, or all).

use std::sync::Arc;

use super::{GpuMemory, LlamaConfig, LoadProgress, Model, ModelError};
use crate::gguf::GgufFile;
use crate::gpu::{
    Gpu, GpuError, Kernels, MatIn, MatOut, Op, QMatrix, RopeKv, Step, StepParams, Tensor,
};
use crate::kv::KvCache;
use crate::quant::{self, GgmlType};

/// The Q, K and V projections: one matrix with their rows stacked when
/// they share a type (one dispatch), else three.
pub(crate) enum Qkv {
    Stacked(QMatrix),
    Separate([QMatrix; 3]),
}

impl Qkv {
    fn matrices(&self) -> Vec<&QMatrix> {
        match self {
            Qkv::Stacked(m) => vec![m],
            Qkv::Separate(ms) => ms.iter().collect(),
        }
    }
}

/// The gate and up projections: rows interleaved in one matrix when they
/// share a type (so one dispatch computes the SwiGLU), else two.
pub(crate) enum GateUp {
    Interleaved(QMatrix),
    Separate { gate: QMatrix, up: QMatrix },
}

pub(crate) struct LayerWeights {
    attn_norm: Tensor,
    qkv: Qkv,
    wo: QMatrix,
    ffn_norm: Tensor,
    gate_up: GateUp,
    w_down: QMatrix,
}

pub(crate) struct GpuWeights {
    embd: QMatrix,
    output_norm: Tensor,
    /// `None` when the output projection is tied to the embedding.
    output: Option<QMatrix>,
    layers: Vec<LayerWeights>,
}

impl GpuWeights {
    /// Uploads every tensor straight from the memory map, repacked and
    /// written piece by piece (see [`QMatrix::upload_rows`]): the host memory
    /// a load takes besides the map is a few MiB, whatever the model size.
    pub(crate) fn upload(
        gpu: &Gpu,
        file: &GgufFile,
        config: &LlamaConfig,
        mut progress: impl FnMut(LoadProgress),
    ) -> Result<Self, ModelError> {
        let total: u64 = config
            .expected_tensors()
            .iter()
            .filter_map(|(n, _)| file.tensor(n))
            .map(|t| t.n_bytes)
            .sum();
        let mut done = 0u64;
        let mut tick = |n: u64| {
            done += n;
            progress(LoadProgress { done, total });
        };
        let info = |name: &str| -> Result<(GgmlType, usize, usize, &[u8], u64), ModelError> {
            let t = file.require_tensor(name)?;
            Ok((
                t.ty,
                t.dims[1] as usize,
                t.dims[0] as usize,
                file.tensor_data(t),
                t.n_bytes,
            ))
        };
        let done_bytes = std::cell::Cell::new(0u64);
        let matrix = |name: &str| -> Result<QMatrix, ModelError> {
            let (ty, rows, cols, data, n) = info(name)?;
            let m = QMatrix::upload(gpu, ty, rows, cols, data, name)?;
            done_bytes.set(done_bytes.get() + n);
            Ok(m)
        };
        let embd = matrix("token_embd.weight")?;
        let output = match config.tied_embeddings {
            true => None,
            false => Some(matrix("output.weight")?),
        };
        tick(done_bytes.take());
        let mut layers = Vec::with_capacity(config.n_layer);
        for l in 0..config.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            let (q, k, v) = (
                info(&n("attn_q"))?,
                info(&n("attn_k"))?,
                info(&n("attn_v"))?,
            );
            let qkv = if q.0 == k.0 && q.0 == v.0 && q.2 == k.2 && q.2 == v.2 {
                let m = QMatrix::upload_concat(gpu, q.0, q.2, &[q.3, k.3, v.3], &n("attn_qkv"))?;
                done_bytes.set(done_bytes.get() + q.4 + k.4 + v.4);
                Qkv::Stacked(m)
            } else {
                Qkv::Separate([
                    matrix(&n("attn_q"))?,
                    matrix(&n("attn_k"))?,
                    matrix(&n("attn_v"))?,
                ])
            };
            let (g, u) = (info(&n("ffn_gate"))?, info(&n("ffn_up"))?);
            let gate_up = if g.0 == u.0 && g.1 == u.1 && g.2 == u.2 {
                let m = QMatrix::upload_interleaved(gpu, g.0, g.2, g.3, u.3, &n("ffn_gate_up"))?;
                done_bytes.set(done_bytes.get() + g.4 + u.4);
                GateUp::Interleaved(m)
            } else {
                GateUp::Separate {
                    gate: matrix(&n("ffn_gate"))?,
                    up: matrix(&n("ffn_up"))?,
                }
            };
            tick(done_bytes.take());
            layers.push(LayerWeights {
                attn_norm: vector(gpu, file, &n("attn_norm"))?,
                qkv,
                wo: matrix(&n("attn_output"))?,
                ffn_norm: vector(gpu, file, &n("ffn_norm"))?,
                gate_up,
                w_down: matrix(&n("ffn_down"))?,
            });
        }
        Ok(GpuWeights {
            embd,
            output_norm: vector(gpu, file, "output_norm.weight")?,
            output,
            layers,
        })
    }
}

impl Qkv {
    fn gpu_bytes(&self) -> u64 {
        self.matrices().iter().map(|m| m.gpu_bytes()).sum()
    }
}

impl GateUp {
    fn gpu_bytes(&self) -> u64 {
        match self {
            GateUp::Interleaved(m) => m.gpu_bytes(),
            GateUp::Separate { gate, up } => gate.gpu_bytes() + up.gpu_bytes(),
        }
    }
}

impl GpuWeights {
    /// Bytes the uploaded weights hold on the GPU.
    pub(crate) fn gpu_bytes(&self) -> u64 {
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| {
                l.attn_norm.buffer.size()
                    + l.qkv.gpu_bytes()
                    + l.wo.gpu_bytes()
                    + l.ffn_norm.buffer.size()
                    + l.gate_up.gpu_bytes()
                    + l.w_down.gpu_bytes()
            })
            .sum();
        self.embd.gpu_bytes()
            + self.output_norm.buffer.size()
            + self.output.as_ref().map_or(0, |m| m.gpu_bytes())
            + layers
    }

    /// Whether some layer's gate and up projections can't be interleaved
    /// (the graph then needs two more activation buffers).
    fn separate_ffn(&self) -> bool {
        self.layers
            .iter()
            .any(|l| matches!(l.gate_up, GateUp::Separate { .. }))
    }

    /// The bytes [`GpuWeights::upload`] will allocate for `file` on `gpu`,
    /// computed from the tensor table alone (the same stacking of Q/K/V and
    /// interleaving of gate/up, the same split into parts as
    /// [`QMatrix::upload_rows`]), and whether the FFN runs gate and up
    /// separately. Errors like the upload when a row can't be bound.
    pub(crate) fn estimate_bytes(
        gpu: &Gpu,
        file: &GgufFile,
        config: &LlamaConfig,
    ) -> Result<(u64, bool), ModelError> {
        let limit = gpu.max_binding;
        let info = |name: &str| -> Result<(GgmlType, usize, usize, u64), ModelError> {
            let t = file.require_tensor(name)?;
            Ok((
                t.ty,
                t.dims.get(1).map_or(1, |&r| r as usize),
                t.dims[0] as usize,
                t.n_elements,
            ))
        };
        let matrix = |ty: GgmlType, rows: usize, cols: usize, label: &str| {
            Ok::<u64, ModelError>(QMatrix::gpu_bytes_for(ty, rows, cols, limit, label)?)
        };
        let vector = |name: &str| -> Result<u64, ModelError> {
            let (_, _, _, n) = info(name)?;
            let bytes = n.saturating_mul(4);
            gpu.check_binding(name, bytes)?;
            Ok(bytes)
        };
        let single = |name: &str| -> Result<u64, ModelError> {
            let (ty, rows, cols, _) = info(name)?;
            matrix(ty, rows, cols, name)
        };
        let mut total = single("token_embd.weight")? + vector("output_norm.weight")?;
        if !config.tied_embeddings {
            total += single("output.weight")?;
        }
        let mut separate_ffn = false;
        for l in 0..config.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            let (q, k, v) = (
                info(&n("attn_q"))?,
                info(&n("attn_k"))?,
                info(&n("attn_v"))?,
            );
            total += if q.0 == k.0 && q.0 == v.0 && q.2 == k.2 && q.2 == v.2 {
                matrix(q.0, q.1 + k.1 + v.1, q.2, &n("attn_qkv"))?
            } else {
                single(&n("attn_q"))? + single(&n("attn_k"))? + single(&n("attn_v"))?
            };
            let (g, u) = (info(&n("ffn_gate"))?, info(&n("ffn_up"))?);
            total += if g.0 == u.0 && g.1 == u.1 && g.2 == u.2 {
                matrix(g.0, 2 * g.1, g.2, &n("ffn_gate_up"))?
            } else {
                separate_ffn = true;
                single(&n("ffn_gate"))? + single(&n("ffn_up"))?
            };
            total += vector(&n("attn_norm"))?
                + single(&n("attn_output"))?
                + vector(&n("ffn_norm"))?
                + single(&n("ffn_down"))?;
        }
        Ok((total, separate_ffn))
    }
}

/// Bytes of the KV cache of `n_ctx` positions: keys and values of every
/// layer, in the element type `gpu` uses. (Whether a layer fits in one
/// binding is the session's check, when it allocates the cache.)
pub(crate) fn kv_cache_bytes(gpu: &Gpu, config: &LlamaConfig, n_ctx: usize) -> u64 {
    let elem = if gpu.kv_f16 { 2 } else { 4 };
    (n_ctx as u64)
        .saturating_mul(config.kv_dim() as u64 * elem)
        .max(4)
        .saturating_mul(2 * config.n_layer as u64)
}

/// An upper bound on the scratch buffers of a [`Graph`] of up to `n_batch`
/// tokens per step: activations, logits and their readback copy, token ids,
/// attention split partials, and the small per-op uniforms and tables.
pub(crate) fn scratch_bytes(
    config: &LlamaConfig,
    n_batch: usize,
    all_logits: bool,
    separate_ffn: bool,
) -> u64 {
    let c = config;
    let f = |n: usize| (n_batch as u64).saturating_mul(n as u64 * 4);
    let ffn_bufs = if separate_ffn { 3 } else { 1 };
    let act = f(c.n_embd) + 2 * f(c.q_dim()) + ffn_bufs * f(c.n_ff);
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

/// A 1-D weight (a norm) as an f32 tensor.
fn vector(gpu: &Gpu, file: &GgufFile, name: &str) -> Result<Tensor, ModelError> {
    let t = file.require_tensor(name)?;
    let v = quant::dequantize_to_vec(t.ty, file.tensor_data(t), t.n_elements as usize).map_err(
        |e| ModelError::Tensor {
            name: name.to_string(),
            source: e,
        },
    )?;
    Ok(Tensor::from_slice(gpu, &v, name)?)
}

/// What a step reads back from the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readback {
    /// Nothing (prefill chunks before the last).
    None,
    /// The argmax of the last token's logits (4 bytes).
    Argmax,
    /// The last token's logits.
    LastLogits,
    /// The logits of every token of the step (perplexity).
    AllLogits,
}

#[derive(Debug, PartialEq)]
pub enum StepOutput {
    None,
    Argmax(u32),
    /// Row-major `[n_tokens][vocab]` (one row unless `AllLogits`).
    Logits(Vec<f32>),
}

/// Activations, KV cache and recorded ops of one session.
pub struct Graph {
    gpu: Arc<Gpu>,
    vocab: usize,
    n_batch: usize,
    step: Step,
    tokens: wgpu::Buffer,
    logits: Tensor,
    argmax: wgpu::Buffer,
    staging: wgpu::Buffer,
    all_logits: bool,
    /// (what the op computes, the op), in order.
    ops: Vec<(&'static str, Op)>,
    last_ops: Vec<(&'static str, Op)>,
    all_ops: Vec<(&'static str, Op)>,
    pub(crate) kv: KvCache,
}

/// The time one kind of op took in a profiled step (see
/// [`Graph::profile_step`]).
#[derive(Clone, Debug)]
pub struct OpTime {
    /// What the ops compute ("qkv+rope+kv", "attention", ...).
    pub name: &'static str,
    /// Ops of this kind in the step (one per layer, typically).
    pub ops: usize,
    /// Dispatches they recorded.
    pub dispatches: usize,
    /// Seconds, all ops of the kind together.
    pub seconds: f64,
}

impl Graph {
    /// Builds the graph for up to `n_batch` tokens per step and `n_ctx`
    /// positions. `all_logits` allocates logits for every token of a step.
    /// An allocation the adapter can't make is
    /// [`ModelError::OutOfGpuMemory`], with the model's numbers.
    pub(crate) fn new(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        config: &LlamaConfig,
        weights: &GpuWeights,
        n_ctx: usize,
        n_batch: usize,
        all_logits: bool,
    ) -> Result<Graph, ModelError> {
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let graph = Self::build(gpu, kernels, config, weights, n_ctx, n_batch, all_logits);
        if pollster::block_on(scope.pop()).is_some() {
            let needed = GpuMemory {
                weights: weights.gpu_bytes(),
                kv_cache: kv_cache_bytes(gpu, config, n_ctx),
                scratch: scratch_bytes(config, n_batch, all_logits, weights.separate_ffn()),
            };
            return Err(ModelError::OutOfGpuMemory {
                needed,
                n_ctx,
                budget: None,
            });
        }
        graph
    }

    fn build(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        config: &LlamaConfig,
        weights: &GpuWeights,
        n_ctx: usize,
        n_batch: usize,
        all_logits: bool,
    ) -> Result<Graph, ModelError> {
        let c = config;
        if n_batch == 0 || n_ctx == 0 {
            return Err(ModelError::InvalidOption(
                "n_ctx and n_batch must be positive".into(),
            ));
        }
        let kv_f16 = gpu.kv_f16;
        let kv = KvCache::new_typed(gpu, c.n_layer, n_ctx, c.kv_dim(), kv_f16)?;
        let step = Step::new(gpu);
        let act = |n: usize, label: &str| Tensor::new(gpu, n_batch * n, label);
        let x = act(c.n_embd, "x")?;
        let q = act(c.q_dim(), "q")?;
        let att = act(c.q_dim(), "att")?;
        let hidden = act(c.n_ff, "hidden")?;
        // Only when gate and up have different types (no fused SwiGLU).
        let separate_ffn = weights.separate_ffn();
        let (gate, up) = if separate_ffn {
            (Some(act(c.n_ff, "gate")?), Some(act(c.n_ff, "up")?))
        } else {
            (None, None)
        };
        let logits_len = if all_logits {
            n_batch * c.vocab_size
        } else {
            c.vocab_size
        };
        let logits = Tensor::new(gpu, logits_len, "logits")?;
        let staging_bytes = (logits_len * 4) as u64;
        if staging_bytes > gpu.limits.max_buffer_size {
            return Err(GpuError::TooLarge {
                what: "logits readback".into(),
                bytes: staging_bytes,
                limit: gpu.limits.max_buffer_size,
            }
            .into());
        }
        let tokens = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tokens"),
            size: (n_batch * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let argmax = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("argmax"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: staging_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let k_ = kernels;
        let s = &step;
        let mut ops = vec![("embed", k_.embed(s, &weights.embd, &tokens, &x)?)];
        for (l, w) in weights.layers.iter().enumerate() {
            let (kc, vc) = kv.layer(l);
            let attn_in = MatIn {
                x: &x,
                norm: Some((&w.attn_norm, c.rms_eps)),
            };
            let rope = RopeKv {
                q: &q,
                k_cache: kc,
                v_cache: vc,
                kv_f16,
                n_heads: c.n_head,
                n_kv_heads: c.n_head_kv,
                head_dim: c.head_dim,
                inv_freq: &c.rope_inv_freq,
            };
            ops.push((
                "qkv+rope+kv",
                k_.matmul_fused(s, &w.qkv.matrices(), attn_in, MatOut::RopeKv(rope), false)?,
            ));
            ops.push((
                "attention",
                k_.attention_kv(
                    s,
                    &q,
                    kc,
                    vc,
                    &att,
                    c.n_head,
                    c.n_head_kv,
                    c.head_dim,
                    kv_f16,
                )?,
            ));
            ops.push(("attn_out+add", k_.matmul(s, &w.wo, &att, &x, true)?));
            let ffn_in = MatIn {
                x: &x,
                norm: Some((&w.ffn_norm, c.rms_eps)),
            };
            match &w.gate_up {
                GateUp::Interleaved(m) => ops.push((
                    "gate_up+swiglu",
                    k_.matmul_fused(s, &[m], ffn_in, MatOut::SwiGlu { h: &hidden }, false)?,
                )),
                GateUp::Separate { gate: wg, up: wu } => {
                    let (gt, ut) = match (&gate, &up) {
                        (Some(g), Some(u)) => (g, u),
                        _ => unreachable!("allocated when a layer has separate gate/up"),
                    };
                    let store = |y| MatOut::Store {
                        y,
                        accumulate: false,
                    };
                    ops.push(("gate", k_.matmul_fused(s, &[wg], ffn_in, store(gt), false)?));
                    ops.push(("up", k_.matmul_fused(s, &[wu], ffn_in, store(ut), false)?));
                    ops.push(("silu_mul", k_.silu_mul(s, gt, ut, &hidden, c.n_ff)?));
                }
            }
            ops.push(("down+add", k_.matmul(s, &w.w_down, &hidden, &x, true)?));
        }
        let out_w = weights.output.as_ref().unwrap_or(&weights.embd);
        let out_in = MatIn {
            x: &x,
            norm: Some((&weights.output_norm, c.rms_eps)),
        };
        let store = MatOut::Store {
            y: &logits,
            accumulate: false,
        };
        let last_ops = vec![
            ("output", k_.matmul_fused(s, &[out_w], out_in, store, true)?),
            ("argmax", k_.argmax(s, &logits, c.vocab_size, &argmax)?),
        ];
        let all_ops = if all_logits {
            let store = MatOut::Store {
                y: &logits,
                accumulate: false,
            };
            vec![(
                "output",
                k_.matmul_fused(s, &[out_w], out_in, store, false)?,
            )]
        } else {
            Vec::new()
        };
        Ok(Graph {
            gpu: gpu.clone(),
            vocab: c.vocab_size,
            n_batch,
            step,
            tokens,
            logits,
            argmax,
            staging,
            all_logits,
            ops,
            last_ops,
            all_ops,
            kv,
        })
    }

    /// A graph for `model` with `n_ctx` positions and up to `n_batch` tokens
    /// per step (what a session holds; benchmarks and tools use it
    /// directly).
    pub fn for_model(
        model: &Model,
        n_ctx: usize,
        n_batch: usize,
        all_logits: bool,
    ) -> Result<Graph, ModelError> {
        let m = &model.inner;
        Graph::new(
            &m.gpu, &m.kernels, &m.config, &m.weights, n_ctx, n_batch, all_logits,
        )
    }

    /// Most tokens one step takes.
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// The KV cache.
    pub fn kv(&self) -> &KvCache {
        &self.kv
    }

    /// Forgets cache positions from `len` on (O(1)).
    pub fn truncate(&mut self, len: usize) {
        self.kv.truncate(len);
    }

    /// Runs `tokens` at positions `kv().len()..` (see [`Graph::step`]).
    pub fn feed(&mut self, tokens: &[u32], readback: Readback) -> Result<StepOutput, ModelError> {
        let pos0 = self.kv.len();
        self.step(tokens, pos0, readback)
    }

    fn check_step(
        &self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<(), ModelError> {
        let n = tokens.len();
        if n == 0 || n > self.n_batch {
            return Err(ModelError::InvalidOption(format!(
                "a step takes 1..={} tokens, got {n}",
                self.n_batch
            )));
        }
        if pos0 + n > self.kv.capacity() {
            return Err(ModelError::ContextFull {
                needed: pos0 + n,
                n_ctx: self.kv.capacity(),
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.vocab) {
            return Err(ModelError::BadToken {
                token: bad,
                vocab: self.vocab,
            });
        }
        if readback == Readback::AllLogits && !self.all_logits {
            return Err(ModelError::InvalidOption(
                "this session was not created with all_logits".into(),
            ));
        }
        Ok(())
    }

    /// Writes the step's parameters and token ids (queued for the next
    /// submit).
    fn begin_step(&self, tokens: &[u32], pos0: usize) {
        let n = tokens.len();
        self.step.write(
            &self.gpu,
            StepParams {
                n_tokens: n as u32,
                pos0: pos0 as u32,
                kv_len: (pos0 + n) as u32,
                _pad: 0,
            },
        );
        self.gpu
            .queue
            .write_buffer(&self.tokens, 0, bytemuck::cast_slice(tokens));
    }

    fn step_ops(&self, readback: Readback) -> impl Iterator<Item = &(&'static str, Op)> {
        let tail: &[(&'static str, Op)] = match readback {
            Readback::None => &[],
            Readback::AllLogits => &self.all_ops,
            _ => &self.last_ops,
        };
        self.ops.iter().chain(tail)
    }

    /// Queues the copy of what `readback` reads into the staging buffer;
    /// returns its size in bytes.
    fn copy_readback(&self, enc: &mut wgpu::CommandEncoder, readback: Readback, n: usize) -> u64 {
        let read_bytes = match readback {
            Readback::None => 0,
            Readback::Argmax => {
                enc.copy_buffer_to_buffer(&self.argmax, 0, &self.staging, 0, 4);
                4
            }
            Readback::LastLogits => self.vocab * 4,
            Readback::AllLogits => n * self.vocab * 4,
        } as u64;
        if matches!(readback, Readback::LastLogits | Readback::AllLogits) {
            enc.copy_buffer_to_buffer(&self.logits.buffer, 0, &self.staging, 0, read_bytes);
        }
        read_bytes
    }

    fn finish_step(
        &mut self,
        pos0: usize,
        n: usize,
        readback: Readback,
        read_bytes: u64,
    ) -> Result<StepOutput, ModelError> {
        self.kv.set_len(pos0 + n);
        if read_bytes == 0 {
            return Ok(StepOutput::None);
        }
        let bytes = self.gpu.read_mapped(&self.staging, read_bytes)?;
        Ok(match readback {
            Readback::Argmax => StepOutput::Argmax(bytemuck::pod_read_unaligned(&bytes[..4])),
            _ => StepOutput::Logits(bytemuck::pod_collect_to_vec(&bytes)),
        })
    }

    /// Runs `tokens` (at most `n_batch`) at positions `pos0..`, appending
    /// their keys and values to the cache, and reads back `readback`: one
    /// command encoder, one compute pass, one submit.
    pub fn step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<StepOutput, ModelError> {
        self.check_step(tokens, pos0, readback)?;
        let n = tokens.len();
        self.begin_step(tokens, pos0);
        let gpu = &self.gpu;
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward"),
                timestamp_writes: None,
            });
            for (_, op) in self.step_ops(readback) {
                op.record(&mut pass, n as u32, (pos0 + n) as u32);
            }
        }
        let read_bytes = self.copy_readback(&mut enc, readback, n);
        gpu.queue.submit([enc.finish()]);
        self.finish_step(pos0, n, readback, read_bytes)
    }

    /// Like [`Graph::step`], timing every op: with GPU timestamps where the
    /// adapter has them (one compute pass per op, one submit), else by
    /// submitting and waiting for each op on its own (which adds the submit
    /// latency to every op). Returns the output and the time per kind of
    /// op, in graph order.
    pub fn profile_step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<(StepOutput, Vec<OpTime>), ModelError> {
        self.check_step(tokens, pos0, readback)?;
        let n = tokens.len();
        let kv_len = (pos0 + n) as u32;
        self.begin_step(tokens, pos0);
        let gpu = self.gpu.clone();
        let ops: Vec<&(&'static str, Op)> = self.step_ops(readback).collect();
        let mut times = vec![0.0f64; ops.len()];
        let read_bytes;
        if gpu.timestamps {
            let count = (2 * ops.len()) as u32;
            let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count,
            });
            let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile resolve"),
                size: count as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let read = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile read"),
                size: count as u64 * 8,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("profile"),
                });
            for (i, (_, op)) in ops.iter().enumerate() {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("profile op"),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &set,
                        beginning_of_pass_write_index: Some(2 * i as u32),
                        end_of_pass_write_index: Some(2 * i as u32 + 1),
                    }),
                });
                op.record(&mut pass, n as u32, kv_len);
            }
            enc.resolve_query_set(&set, 0..count, &resolve, 0);
            enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, count as u64 * 8);
            read_bytes = self.copy_readback(&mut enc, readback, n);
            gpu.queue.submit([enc.finish()]);
            let stamps: Vec<u64> =
                bytemuck::pod_collect_to_vec(&gpu.read_mapped(&read, count as u64 * 8)?);
            let period = gpu.queue.get_timestamp_period() as f64 * 1e-9;
            for (i, t) in times.iter_mut().enumerate() {
                *t = stamps[2 * i + 1].saturating_sub(stamps[2 * i]) as f64 * period;
            }
        } else {
            gpu.wait()?;
            for (i, (_, op)) in ops.iter().enumerate() {
                let t = std::time::Instant::now();
                let mut enc = gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("profile op"),
                    });
                {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("profile op"),
                        timestamp_writes: None,
                    });
                    op.record(&mut pass, n as u32, kv_len);
                }
                gpu.queue.submit([enc.finish()]);
                gpu.wait()?;
                times[i] = t.elapsed().as_secs_f64();
            }
            let mut enc = gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("profile readback"),
                });
            read_bytes = self.copy_readback(&mut enc, readback, n);
            gpu.queue.submit([enc.finish()]);
        }
        let mut kinds: Vec<OpTime> = Vec::new();
        for ((name, op), t) in ops.iter().zip(&times) {
            let d = op.dispatch_info(n as u32, kv_len).len();
            match kinds.iter_mut().find(|k| k.name == *name) {
                Some(k) => {
                    k.ops += 1;
                    k.dispatches += d;
                    k.seconds += t;
                }
                None => kinds.push(OpTime {
                    name,
                    ops: 1,
                    dispatches: d,
                    seconds: *t,
                }),
            }
        }
        let out = self.finish_step(pos0, n, readback, read_bytes)?;
        Ok((out, kinds))
    }

    /// Dispatches one step of `n_tokens` records.
    pub fn dispatches_per_step(&self, n_tokens: usize, readback: Readback) -> usize {
        let kv_len = (self.kv.len() + n_tokens) as u32;
        self.step_ops(readback)
            .map(|(_, op)| op.dispatch_info(n_tokens as u32, kv_len).len())
            .sum()
    }
}
