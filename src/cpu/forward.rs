//! The forward step on the CPU for one session: its KV cache and the
//! buffers of one step (allocated once, for `n_batch` tokens), and the ops
//! of the Llama graph in order. The position comes from the owning
//! `Context`; the contract is `GpuForward`'s.

use std::sync::Arc;

use super::CpuBackend;
use super::acts::QActs;
use super::kernels::{AttnShape, attend, swiglu};
use super::kv::CpuKv;
use super::matmul::{matmul, tile_len};
use super::matrix::Input;
use super::ops::{Rope, argmax, rms_norm};
use super::pool::for_chunks;
use super::profile::Clock;
#[cfg(feature = "testing")]
use super::profile::Lap;
use crate::error::Error;
use crate::gpu::KvType;
use crate::model::{CacheShape, LlamaConfig, Readback, StepOutput};

/// The buffers of one step.
struct Scratch {
    /// Residual stream, `[t][n_embd]`.
    x: Vec<f32>,
    /// Normalized input of the next mat-mul, `[t][n_embd]`.
    xn: Vec<f32>,
    /// Q, K, V of each token, `[t][q_dim + 2 kv_dim]`.
    qkv: Vec<f32>,
    att: Vec<f32>,
    /// Gate then up, `[t][2 n_ff]`.
    gate_up: Vec<f32>,
    hidden: Vec<f32>,
    tiles: Vec<f32>,
    logits: Vec<f32>,
    /// 8-bit copies of `xn`, `att` and `hidden` when quantized matrices read them.
    q_embd: Option<QActs>,
    q_att: Option<QActs>,
    q_hidden: Option<QActs>,
    rope: Rope,
}

pub(crate) struct CpuForward {
    backend: Arc<CpuBackend>,
    c: LlamaConfig,
    n_batch: usize,
    all_logits: bool,
    kv: CpuKv,
    s: Scratch,
    clock: Clock,
}

/// `n` rows of `x`, quantized into `q` when a quantized matrix reads them.
fn input<'a>(x: &'a [f32], q: &'a mut Option<QActs>, n: usize, quantized: bool) -> Input<'a> {
    let q = match (q, quantized) {
        (Some(q), true) => {
            q.quantize(x, n);
            Some(&*q)
        }
        _ => None,
    };
    Input { x, q, n }
}

impl CpuForward {
    pub(crate) fn new(
        backend: &Arc<CpuBackend>,
        config: &LlamaConfig,
        n_ctx: usize,
        n_batch: usize,
        all_logits: bool,
    ) -> Result<CpuForward, Error> {
        let c = config;
        let w = &backend.weights;
        let mut tiles = tile_len(&w.output, if all_logits { n_batch } else { 1 });
        for l in &w.layers {
            for ms in [&l.qkv, &l.wo, &l.gate_up, &l.down] {
                tiles = tiles.max(tile_len(ms, n_batch));
            }
        }
        let [qe, qa, qh] = w.quantized_inputs();
        let qacts = |need: bool, cols: usize| need.then(|| QActs::new(cols, n_batch));
        let buf = |n: usize| vec![0.0f32; n_batch * n];
        let s = Scratch {
            x: buf(c.n_embd),
            xn: buf(c.n_embd),
            qkv: buf(c.q_dim() + 2 * c.kv_dim()),
            att: buf(c.q_dim()),
            gate_up: buf(2 * c.n_ff),
            hidden: buf(c.n_ff),
            tiles: vec![0.0; tiles],
            logits: vec![0.0; if all_logits { n_batch } else { 1 } * c.vocab_size],
            q_embd: qacts(qe, c.n_embd),
            q_att: qacts(qa, c.q_dim()),
            q_hidden: qacts(qh, c.n_ff),
            rope: Rope::new(&c.rope_inv_freq, n_batch),
        };
        Ok(CpuForward {
            backend: backend.clone(),
            c: c.clone(),
            n_batch,
            all_logits,
            kv: CpuKv::new(c.n_layer, n_ctx, c.kv_dim(), c.head_dim, backend.kv)?,
            s,
            clock: Clock::default(),
        })
    }

    pub(crate) fn n_ctx(&self) -> usize {
        self.kv.capacity()
    }

    pub(crate) fn has_all_logits(&self) -> bool {
        self.all_logits
    }

    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn kv_type(&self) -> KvType {
        self.kv.ty()
    }

    pub(crate) fn kv_cache_bytes(&self) -> u64 {
        self.kv.bytes()
    }

    pub(crate) fn cache_shape(&self) -> CacheShape {
        self.kv.shape()
    }

    pub(crate) fn read_cache(&self, len: usize) -> Vec<u8> {
        self.kv.read_prefix(len)
    }

    pub(crate) fn write_cache(&mut self, len: usize, bytes: &[u8]) {
        self.kv.write_prefix(len, bytes)
    }

    /// Runs at most `n_batch` checked tokens at positions `pos0..`, their
    /// keys and values going into the cache, on the model's threads.
    pub(crate) fn step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<StepOutput, Error> {
        debug_assert!(tokens.len() <= self.n_batch);
        let backend = self.backend.clone();
        backend.pool.install(|| self.run(tokens, pos0, readback))
    }

    /// [`CpuForward::step`], timing each kind of op.
    #[cfg(feature = "testing")]
    pub(crate) fn profile_step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<(StepOutput, Vec<Lap>), Error> {
        self.clock.start();
        let out = self.step(tokens, pos0, readback);
        let times = self.clock.stop();
        Ok((out?, times))
    }

    fn run(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<StepOutput, Error> {
        let (be, c, s, kv) = (&*self.backend, &self.c, &mut self.s, &mut self.kv);
        let clock = &mut self.clock;
        let (isa, w) = (be.isa, &be.weights);
        let (n, e, eps) = (tokens.len(), c.n_embd, c.rms_eps);
        let (q_dim, kv_dim, hd) = (c.q_dim(), c.kv_dim(), c.head_dim);
        let qkv_w = q_dim + 2 * kv_dim;
        let group = c.n_head / c.n_head_kv;
        let scale = 1.0 / (hd as f32).sqrt();
        for (t, &tok) in tokens.iter().enumerate() {
            w.embed(tok, &mut s.x[t * e..(t + 1) * e])?;
        }
        s.rope.set_positions(pos0, n);
        clock.lap("embed");
        for (l, lw) in w.layers.iter().enumerate() {
            let norm = |x: &[f32], nw: &[f32], xn: &mut [f32]| {
                for_chunks(&mut xn[..n * e], e, |t, row| {
                    rms_norm(&x[t * e..(t + 1) * e], nw, eps, row)
                });
            };
            norm(&s.x, &lw.attn_norm, &mut s.xn);
            let quantized = lw.qkv.iter().any(|m| m.is_quantized());
            let x_in = input(&s.xn, &mut s.q_embd, n, quantized);
            clock.lap("norm+quantize");
            matmul(isa, &lw.qkv, x_in, &mut s.tiles, &mut s.qkv, qkv_w, false);
            clock.lap("qkv");
            for t in 0..n {
                let row = &mut s.qkv[t * qkv_w..(t + 1) * qkv_w];
                let (q, rest) = row.split_at_mut(q_dim);
                let (k, v) = rest.split_at_mut(kv_dim);
                for head in q.chunks_exact_mut(hd).chain(k.chunks_exact_mut(hd)) {
                    s.rope.apply(t, head);
                }
                kv.store(l, pos0 + t, k, v);
            }
            clock.lap("rope+kv");
            let (kc, vc) = kv.layer(l);
            let kv = &*kv;
            let qkv = &s.qkv;
            for_chunks(&mut s.att[..n * q_dim], group * hd, |i, out| {
                let (t, kvh) = (i / c.n_head_kv, i % c.n_head_kv);
                let q = &qkv[t * qkv_w + kvh * group * hd..][..group * hd];
                let (offset, stride) = kv.head_rows(kvh);
                let shape = AttnShape {
                    head_dim: hd,
                    stride,
                    offset,
                    n_pos: pos0 + t + 1,
                    scale,
                };
                attend(isa, q, kc, vc, shape, out);
            });
            clock.lap("attention");
            let a_in = input(&s.att, &mut s.q_att, n, lw.wo[0].is_quantized());
            matmul(isa, &lw.wo, a_in, &mut s.tiles, &mut s.x, e, true);
            clock.lap("attn_out+add");
            norm(&s.x, &lw.ffn_norm, &mut s.xn);
            let quantized = lw.gate_up.iter().any(|m| m.is_quantized());
            let x_in = input(&s.xn, &mut s.q_embd, n, quantized);
            clock.lap("norm+quantize");
            let ff = c.n_ff;
            matmul(
                isa,
                &lw.gate_up,
                x_in,
                &mut s.tiles,
                &mut s.gate_up,
                2 * ff,
                false,
            );
            clock.lap("gate_up");
            let gate_up = &s.gate_up;
            for_chunks(&mut s.hidden[..n * ff], ff, |t, h| {
                let gu = &gate_up[t * 2 * ff..(t + 1) * 2 * ff];
                swiglu(isa, &gu[..ff], &gu[ff..], h);
            });
            let h_in = input(&s.hidden, &mut s.q_hidden, n, lw.down[0].is_quantized());
            clock.lap("swiglu+quantize");
            matmul(isa, &lw.down, h_in, &mut s.tiles, &mut s.x, e, true);
            clock.lap("down+add");
        }
        if readback == Readback::None {
            return Ok(StepOutput::None);
        }
        // The output rows: every token's, or the last one's.
        let first = if readback == Readback::AllLogits {
            0
        } else {
            n - 1
        };
        let m = n - first;
        for (xt, ot) in s.x[first * e..n * e]
            .chunks_exact(e)
            .zip(s.xn.chunks_exact_mut(e))
        {
            rms_norm(xt, &w.output_norm, eps, ot);
        }
        let x_in = input(&s.xn, &mut s.q_embd, m, w.output[0].is_quantized());
        let vocab = c.vocab_size;
        matmul(
            isa,
            &w.output,
            x_in,
            &mut s.tiles,
            &mut s.logits,
            vocab,
            false,
        );
        clock.lap("output");
        let out = match readback {
            Readback::Argmax => StepOutput::Argmax(argmax(&s.logits[..vocab])),
            Readback::LastLogits => StepOutput::Logits(s.logits[..vocab].to_vec()),
            _ => StepOutput::Logits(s.logits[..m * vocab].to_vec()),
        };
        Ok(out)
    }
}
