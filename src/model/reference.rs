//! A naive f32 forward pass on the CPU: the reference the GPU graph is tested
//! against. Weights are dequantized once with the CPU reference in
//! `quant::cpu`, then every operation is the textbook loop.

use super::config::LlamaConfig;
use crate::error::Error;
use crate::gguf::GgufFile;
use crate::quant;

/// A dequantized weight matrix, `rows` rows of `cols` values.
struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    fn load(file: &GgufFile, name: &str) -> Result<Matrix, Error> {
        let info = file.require_tensor(name)?;
        let cols = info.dims[0] as usize;
        let rows = info.dims[1..].iter().product::<u64>() as usize;
        let data = quant::dequantize_to_vec(info.ty, file.tensor_data(info), rows * cols).map_err(
            |e| Error::Tensor {
                name: name.to_string(),
                source: e,
            },
        )?;
        Ok(Matrix { rows, cols, data })
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// y = W x
    fn matvec(&self, x: &[f32]) -> Vec<f32> {
        (0..self.rows)
            .map(|r| self.row(r).iter().zip(x).map(|(w, v)| w * v).sum())
            .collect()
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: Matrix,
    wk: Matrix,
    wv: Matrix,
    wo: Matrix,
    ffn_norm: Vec<f32>,
    w_gate: Matrix,
    w_up: Matrix,
    w_down: Matrix,
}

/// The CPU reference model.
pub struct ReferenceModel {
    pub config: LlamaConfig,
    embd: Matrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    output: Option<Matrix>,
}

/// Keys and values of every position fed so far, per layer.
#[derive(Clone, Default)]
pub struct ReferenceCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    /// Keys and values go through an 8-bit cache's rounding
    /// ([`KvType::Q8_0`](crate::gpu::KvType::Q8_0)).
    q8: bool,
}

/// `row` rounded the way an 8-bit KV cache stores it: per block of 32,
/// `d = max|x| / 127`, `x = d * round(x / d)` (ties to even, as WGSL's
/// `round`).
pub fn round_kv_q8(row: &mut [f32]) {
    for b in row.chunks_mut(32) {
        let d = b.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        for v in b {
            *v = (*v * id).round_ties_even().clamp(-127.0, 127.0) * d;
        }
    }
}

impl ReferenceCache {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let s = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, w)| v * s * w).collect()
}

/// ggml's "normal" RoPE (the llama architecture's): rotates adjacent pairs.
/// Pair `i < inv_freq.len()` (dims `2i`, `2i + 1`) turns by
/// `pos * inv_freq[i]`, as on the GPU; the dims past `2 * inv_freq.len()`
/// are left as they are. Pass [`LlamaConfig::rope_inv_freq`], which carries
/// the model's base, linear scaling and per-pair frequency factors.
pub fn rope(head: &mut [f32], pos: usize, inv_freq: &[f32]) {
    for (i, f) in inv_freq.iter().enumerate() {
        let theta = pos as f32 * f;
        let (s, c) = theta.sin_cos();
        let (a, b) = (head[2 * i], head[2 * i + 1]);
        head[2 * i] = a * c - b * s;
        head[2 * i + 1] = a * s + b * c;
    }
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl ReferenceModel {
    pub fn load(file: &GgufFile) -> Result<Self, Error> {
        let config = LlamaConfig::from_gguf(file)?;
        let vec = |name: &str| Matrix::load(file, name).map(|m| m.data);
        let mut layers = Vec::with_capacity(config.n_layer);
        for l in 0..config.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            layers.push(Layer {
                attn_norm: vec(&n("attn_norm"))?,
                wq: Matrix::load(file, &n("attn_q"))?,
                wk: Matrix::load(file, &n("attn_k"))?,
                wv: Matrix::load(file, &n("attn_v"))?,
                wo: Matrix::load(file, &n("attn_output"))?,
                ffn_norm: vec(&n("ffn_norm"))?,
                w_gate: Matrix::load(file, &n("ffn_gate"))?,
                w_up: Matrix::load(file, &n("ffn_up"))?,
                w_down: Matrix::load(file, &n("ffn_down"))?,
            });
        }
        Ok(ReferenceModel {
            embd: Matrix::load(file, "token_embd.weight")?,
            output_norm: vec("output_norm.weight")?,
            output: if config.tied_embeddings {
                None
            } else {
                Some(Matrix::load(file, "output.weight")?)
            },
            layers,
            config,
        })
    }

    pub fn new_cache(&self) -> ReferenceCache {
        ReferenceCache {
            k: vec![Vec::new(); self.config.n_layer],
            v: vec![Vec::new(); self.config.n_layer],
            len: 0,
            q8: false,
        }
    }

    /// A cache that rounds keys and values like an 8-bit KV cache
    /// ([`round_kv_q8`]).
    pub fn new_cache_q8(&self) -> ReferenceCache {
        ReferenceCache {
            q8: true,
            ..self.new_cache()
        }
    }

    /// Feeds one token at position `cache.len()` and returns its logits.
    pub fn forward(&self, cache: &mut ReferenceCache, token: u32) -> Result<Vec<f32>, Error> {
        let c = &self.config;
        let token = token as usize;
        if token >= c.vocab_size {
            return Err(Error::BadToken {
                token: token as u32,
                vocab: c.vocab_size,
            });
        }
        let pos = cache.len;
        let hd = c.head_dim;
        let group = c.n_head / c.n_head_kv;
        let mut x = self.embd.row(token).to_vec();
        for (l, layer) in self.layers.iter().enumerate() {
            let xn = rms_norm(&x, &layer.attn_norm, c.rms_eps);
            let mut q = layer.wq.matvec(&xn);
            let mut k = layer.wk.matvec(&xn);
            let mut v = layer.wv.matvec(&xn);
            for h in q.chunks_exact_mut(hd).chain(k.chunks_exact_mut(hd)) {
                rope(h, pos, &c.rope_inv_freq);
            }
            if cache.q8 {
                round_kv_q8(&mut k);
                round_kv_q8(&mut v);
            }
            cache.k[l].extend_from_slice(&k);
            cache.v[l].extend_from_slice(&v);
            let kv_dim = c.kv_dim();
            let mut att = vec![0.0f32; c.q_dim()];
            let scale = 1.0 / (hd as f32).sqrt();
            for h in 0..c.n_head {
                let kvh = h / group;
                let qh = &q[h * hd..(h + 1) * hd];
                let scores: Vec<f32> = (0..=pos)
                    .map(|p| {
                        let kr = &cache.k[l][p * kv_dim + kvh * hd..][..hd];
                        qh.iter().zip(kr).map(|(a, b)| a * b).sum::<f32>() * scale
                    })
                    .collect();
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                let out = &mut att[h * hd..(h + 1) * hd];
                for (p, e) in exps.iter().enumerate() {
                    let vr = &cache.v[l][p * kv_dim + kvh * hd..][..hd];
                    for (o, v) in out.iter_mut().zip(vr) {
                        *o += e / sum * v;
                    }
                }
            }
            for (xi, o) in x.iter_mut().zip(layer.wo.matvec(&att)) {
                *xi += o;
            }
            let xn = rms_norm(&x, &layer.ffn_norm, c.rms_eps);
            let gate = layer.w_gate.matvec(&xn);
            let up = layer.w_up.matvec(&xn);
            let hidden: Vec<f32> = gate.iter().zip(&up).map(|(g, u)| silu(*g) * u).collect();
            for (xi, o) in x.iter_mut().zip(layer.w_down.matvec(&hidden)) {
                *xi += o;
            }
        }
        cache.len += 1;
        let xn = rms_norm(&x, &self.output_norm, c.rms_eps);
        Ok(self.output.as_ref().unwrap_or(&self.embd).matvec(&xn))
    }
}
