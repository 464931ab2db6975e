//! The forward pass on the GPU for one session: its KV cache, activation
//! buffers and every op of a step (pipeline + bind group), built once. A
//! step writes the step parameters and the token ids, records all ops into
//! one compute pass of one command encoder, and submits once; it reads back
//! only what the caller asks for (the argmax, the last logits, or all).
//! Positions come from the owning [`Context`](super::Context), the one owner
//! of the position.

use std::sync::Arc;

use super::LlamaConfig;
use super::context::{Readback, StepOutput};
use super::kv_cache::KvCache;
use super::memory::{GpuMemory, kv_cache_bytes, scratch_bytes};
use super::weights::{GateUp, GpuWeights};
use crate::error::Error;
use crate::gpu::{
    Gpu, GpuError, Kernels, KvType, MatIn, MatOut, Op, RopeKv, Step, StepParams, Tensor,
};

/// An op of the step, with what it computes ("qkv+rope+kv", "attention",
/// ...), for profiles.
pub(super) type NamedOp = (&'static str, Op);

/// The GPU state of one session: KV cache, activations and the recorded ops
/// of one step.
pub(crate) struct GpuForward {
    pub(super) gpu: Arc<Gpu>,
    vocab: usize,
    step: Step,
    token_ids: wgpu::Buffer,
    logits: Tensor,
    argmax: wgpu::Buffer,
    staging: wgpu::Buffer,
    all_logits: bool,
    ops: Vec<NamedOp>,
    last_ops: Vec<NamedOp>,
    all_ops: Vec<NamedOp>,
    pub(super) kv: KvCache,
}

impl GpuForward {
    /// A forward of `n_ctx` positions and up to `n_batch` tokens per step
    /// (both positive). `all_logits` allocates logits for every token of a
    /// step. An allocation the adapter can't make is
    /// [`Error::OutOfGpuMemory`], with the model's numbers.
    pub(crate) fn new(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        config: &LlamaConfig,
        weights: &GpuWeights,
        n_ctx: usize,
        n_batch: usize,
        all_logits: bool,
    ) -> Result<GpuForward, Error> {
        gpu.check_lost()?;
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let forward = Self::build(gpu, kernels, config, weights, n_ctx, n_batch, all_logits);
        if pollster::block_on(scope.pop()).is_some() {
            let needed = GpuMemory {
                weights: weights.gpu_bytes(),
                kv_cache: kv_cache_bytes(gpu, config, n_ctx),
                scratch: scratch_bytes(config, gpu.kv, n_batch, all_logits, weights.separate_ffn()),
            };
            return Err(Error::OutOfGpuMemory {
                needed,
                n_ctx,
                budget: None,
            });
        }
        forward
    }

    fn build(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        config: &LlamaConfig,
        weights: &GpuWeights,
        n_ctx: usize,
        n_batch: usize,
        all_logits: bool,
    ) -> Result<GpuForward, Error> {
        let c = config;
        let kv_type = gpu.kv;
        let kv = KvCache::new(gpu, c.n_layer, n_ctx, c.kv_dim(), kv_type)?;
        let step = Step::new(gpu);
        let act = |n: usize, label: &str| Tensor::new(gpu, n_batch * n, label);
        // An 8-bit cache is written from the step's f32 keys and values.
        let kv_staging = if kv_type == KvType::Q8_0 {
            Some((act(c.kv_dim(), "k staging")?, act(c.kv_dim(), "v staging")?))
        } else {
            None
        };
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
        let token_ids = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("token ids"),
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
        let mut ops = vec![("embed", k_.embed(s, &weights.embd, &token_ids, &x)?)];
        for (l, w) in weights.layers.iter().enumerate() {
            let (kc, vc) = kv.layer(l);
            let attn_in = MatIn {
                x: &x,
                norm: Some((&w.attn_norm, c.rms_eps)),
            };
            let (k_out, v_out, rope_kv) = match &kv_staging {
                Some((ks, vs)) => (&ks.buffer, &vs.buffer, KvType::F32),
                None => (kc, vc, kv_type),
            };
            let rope = RopeKv {
                q: &q,
                k_cache: k_out,
                v_cache: v_out,
                kv: rope_kv,
                at_token: kv_staging.is_some(),
                n_heads: c.n_head,
                n_kv_heads: c.n_head_kv,
                head_dim: c.head_dim,
                inv_freq: &c.rope_inv_freq,
            };
            ops.push((
                "qkv+rope+kv",
                k_.matmul_fused(s, &w.qkv.matrices(), attn_in, MatOut::RopeKv(rope), false)?,
            ));
            if let Some((ks, vs)) = &kv_staging {
                ops.push((
                    "kv_store_q8",
                    k_.kv_store_q8(s, ks, vs, kc, vc, c.kv_dim())?,
                ));
            }
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
                    kv_type,
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
        Ok(GpuForward {
            gpu: gpu.clone(),
            vocab: c.vocab_size,
            step,
            token_ids,
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

    /// Waits until every submitted step has run.
    pub fn wait(&self) -> Result<(), Error> {
        Ok(self.gpu.wait()?)
    }

    /// Positions the KV cache holds.
    pub fn n_ctx(&self) -> usize {
        self.kv.capacity()
    }

    /// Whether the step can read back the logits of all its tokens.
    pub fn has_all_logits(&self) -> bool {
        self.all_logits
    }

    /// What the KV cache holds.
    #[cfg(feature = "testing")]
    pub fn kv_type(&self) -> KvType {
        self.kv.ty()
    }

    /// GPU bytes of the KV cache.
    pub fn kv_cache_bytes(&self) -> u64 {
        self.kv.gpu_bytes()
    }

    /// Runs at most `n_batch` checked tokens at positions `pos0..`, their
    /// keys and values going into the cache: one command encoder, one
    /// compute pass, one submit.
    pub fn step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<StepOutput, Error> {
        self.gpu.check_lost()?;
        let (n, kv_len) = self.begin_step(tokens, pos0);
        let mut enc = self.encoder("step");
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward"),
                timestamp_writes: None,
            });
            for (_, op) in self.step_ops(readback) {
                op.record(&mut pass, n, kv_len);
            }
        }
        let read_bytes = self.copy_readback(&mut enc, readback, tokens.len());
        self.gpu.queue.submit([enc.finish()]);
        self.finish_step(readback, read_bytes)
    }

    pub(super) fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Writes the step's parameters and token ids (queued for the next
    /// submit); returns the step's token count and KV length.
    pub(super) fn begin_step(&self, tokens: &[u32], pos0: usize) -> (u32, u32) {
        let (n, pos0) = (tokens.len() as u32, pos0 as u32);
        self.step.write(
            &self.gpu,
            StepParams {
                n_tokens: n,
                pos0,
                kv_len: pos0 + n,
                _pad: 0,
            },
        );
        self.gpu
            .queue
            .write_buffer(&self.token_ids, 0, bytemuck::cast_slice(tokens));
        (n, pos0 + n)
    }

    pub(super) fn step_ops(&self, readback: Readback) -> impl Iterator<Item = &NamedOp> {
        let tail: &[NamedOp] = match readback {
            Readback::None => &[],
            Readback::AllLogits => &self.all_ops,
            _ => &self.last_ops,
        };
        self.ops.iter().chain(tail)
    }

    /// Queues the copy of what `readback` reads into the staging buffer;
    /// returns its size in bytes.
    pub(super) fn copy_readback(
        &self,
        enc: &mut wgpu::CommandEncoder,
        readback: Readback,
        n: usize,
    ) -> u64 {
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

    /// Reads back what was copied.
    pub(super) fn finish_step(
        &self,
        readback: Readback,
        read_bytes: u64,
    ) -> Result<StepOutput, Error> {
        if read_bytes == 0 {
            return Ok(StepOutput::None);
        }
        let bytes = self.gpu.read_mapped(&self.staging, read_bytes)?;
        Ok(match readback {
            Readback::Argmax => StepOutput::Argmax(bytemuck::pod_read_unaligned(&bytes[..4])),
            _ => StepOutput::Logits(bytemuck::pod_collect_to_vec(&bytes)),
        })
    }
}
