//! The Llama forward graph on the GPU.
//!
//! `GpuWeights` holds the uploaded tensors of a model (shared by all its
//! sessions). A `Graph` belongs to one session: it owns the activation
//! buffers and the KV cache, and builds every op (pipeline + bind group) once.
//! A step then writes the step parameters and the token ids, records all ops
//! into one compute pass of one command encoder, and submits once; it reads
//! back only what the caller asks for (the argmax, the last logits, or all).

use std::sync::Arc;

use super::{LlamaConfig, LoadProgress, ModelError};
use crate::gguf::GgufFile;
use crate::gpu::{Gpu, GpuError, Kernels, Op, QMatrix, Step, StepParams, Tensor};
use crate::kv::KvCache;
use crate::quant;

pub(crate) struct LayerWeights {
    attn_norm: Tensor,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    wo: QMatrix,
    ffn_norm: Tensor,
    w_gate: QMatrix,
    w_up: QMatrix,
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
    /// Uploads every tensor straight from the memory map: each is repacked
    /// into a buffer of its own size, so no second copy of the whole model
    /// is ever held in RAM.
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
        let mut matrix = |name: &str| -> Result<QMatrix, ModelError> {
            let t = file.require_tensor(name)?;
            let cols = t.dims[0] as usize;
            let rows = t.dims[1] as usize;
            let m = QMatrix::upload(gpu, t.ty, rows, cols, file.tensor_data(t), name)?;
            tick(t.n_bytes);
            Ok(m)
        };
        let embd = matrix("token_embd.weight")?;
        let output = match config.tied_embeddings {
            true => None,
            false => Some(matrix("output.weight")?),
        };
        let mut layers = Vec::with_capacity(config.n_layer);
        for l in 0..config.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            layers.push(LayerWeights {
                attn_norm: vector(gpu, file, &n("attn_norm"))?,
                wq: matrix(&n("attn_q"))?,
                wk: matrix(&n("attn_k"))?,
                wv: matrix(&n("attn_v"))?,
                wo: matrix(&n("attn_output"))?,
                ffn_norm: vector(gpu, file, &n("ffn_norm"))?,
                w_gate: matrix(&n("ffn_gate"))?,
                w_up: matrix(&n("ffn_up"))?,
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
    ops: Vec<Op>,
    last_ops: Vec<Op>,
    all_ops: Vec<Op>,
    pub(crate) kv: KvCache,
}

impl Graph {
    /// Builds the graph for up to `n_batch` tokens per step and `n_ctx`
    /// positions. `all_logits` allocates logits for every token of a step.
    pub(crate) fn new(
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
        let kv = KvCache::new(gpu, c.n_layer, n_ctx, c.kv_dim())?;
        let step = Step::new(gpu);
        let act = |n: usize, label: &str| Tensor::new(gpu, n_batch * n, label);
        let x = act(c.n_embd, "x")?;
        let xn = act(c.n_embd, "xn")?;
        let q = act(c.q_dim(), "q")?;
        let k = act(c.kv_dim(), "k")?;
        let v = act(c.kv_dim(), "v")?;
        let att = act(c.q_dim(), "att")?;
        let gate = act(c.n_ff, "gate")?;
        let up = act(c.n_ff, "up")?;
        let hidden = act(c.n_ff, "hidden")?;
        let logits_len = if all_logits {
            n_batch * c.vocab_size
        } else {
            c.vocab_size
        };
        let logits = Tensor::new(gpu, logits_len, "logits")?;
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
            size: (logits_len * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let k_ = kernels;
        let s = &step;
        let mut ops = vec![k_.embed(s, &weights.embd, &tokens, &x)?];
        for (l, w) in weights.layers.iter().enumerate() {
            let (kc, vc) = kv.layer(l);
            ops.extend([
                k_.rmsnorm(s, &x, &w.attn_norm, &xn, c.n_embd, c.rms_eps)?,
                k_.matmul(s, &w.wq, &xn, &q, false)?,
                k_.matmul(s, &w.wk, &xn, &k, false)?,
                k_.matmul(s, &w.wv, &xn, &v, false)?,
                k_.rope(s, &q, c.n_head, c.head_dim, c.rope_dim, c.rope_base)?,
                k_.rope(s, &k, c.n_head_kv, c.head_dim, c.rope_dim, c.rope_base)?,
                k_.kv_store(s, &k, &v, kc, vc, c.kv_dim())?,
                k_.attention(s, &q, kc, vc, &att, c.n_head, c.n_head_kv, c.head_dim)?,
                k_.matmul(s, &w.wo, &att, &x, true)?,
                k_.rmsnorm(s, &x, &w.ffn_norm, &xn, c.n_embd, c.rms_eps)?,
                k_.matmul(s, &w.w_gate, &xn, &gate, false)?,
                k_.matmul(s, &w.w_up, &xn, &up, false)?,
                k_.silu_mul(s, &gate, &up, &hidden, c.n_ff)?,
                k_.matmul(s, &w.w_down, &hidden, &x, true)?,
            ]);
        }
        ops.push(k_.rmsnorm(s, &x, &weights.output_norm, &xn, c.n_embd, c.rms_eps)?);
        let out_w = weights.output.as_ref().unwrap_or(&weights.embd);
        let last_ops = vec![
            k_.matmul_last(s, out_w, &xn, &logits)?,
            k_.argmax(s, &logits, c.vocab_size, &argmax)?,
        ];
        let all_ops = if all_logits {
            vec![k_.matmul(s, out_w, &xn, &logits, false)?]
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

    /// Most tokens one step takes.
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// Runs `tokens` (at most `n_batch`) at positions `pos0..`, appending
    /// their keys and values to the cache, and reads back `readback`.
    pub(crate) fn step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<StepOutput, ModelError> {
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
        let gpu = &self.gpu;
        self.step.write(
            gpu,
            StepParams {
                n_tokens: n as u32,
                pos0: pos0 as u32,
                kv_len: (pos0 + n) as u32,
                _pad: 0,
            },
        );
        gpu.queue
            .write_buffer(&self.tokens, 0, bytemuck::cast_slice(tokens));
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
            let tail: &[Op] = match readback {
                Readback::None => &[],
                Readback::AllLogits => &self.all_ops,
                _ => &self.last_ops,
            };
            for op in self.ops.iter().chain(tail) {
                op.record(&mut pass, n as u32);
            }
        }
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
        gpu.queue.submit([enc.finish()]);
        self.kv.set_len(pos0 + n);
        if read_bytes == 0 {
            return Ok(StepOutput::None);
        }
        let bytes = read_mapped(gpu, &self.staging, read_bytes)?;
        Ok(match readback {
            Readback::Argmax => StepOutput::Argmax(bytemuck::pod_read_unaligned(&bytes[..4])),
            _ => StepOutput::Logits(bytemuck::pod_collect_to_vec(&bytes)),
        })
    }
}

/// Maps the first `len` bytes of a MAP_READ buffer, waits, and copies them out.
fn read_mapped(gpu: &Gpu, buf: &wgpu::Buffer, len: u64) -> Result<Vec<u8>, GpuError> {
    let slice = buf.slice(..len);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    gpu.device.poll(wgpu::PollType::wait_indefinitely())?;
    gpu.check()?;
    rx.recv()
        .map_err(|_| GpuError::Validation("map callback never ran".into()))??;
    let bytes = slice
        .get_mapped_range()
        .map_err(|e| GpuError::Validation(e.to_string()))?
        .to_vec();
    buf.unmap();
    Ok(bytes)
}
