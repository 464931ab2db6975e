//! Per-element and per-row kernels: the token embedding, SwiGLU's
//! `silu(gate) * up` and the store into an 8-bit KV cache; with the `testing` feature also the unfused kernels
//! the tests check the fused ones against (RMSNorm, RoPE, KV store, add).

use super::op::{Grid, Variant};
use super::pipeline::{Shader, Slot};
use super::{Kernels, distinct, invalid, to_u32};
use crate::gpu::{GpuError, KvType, Op, QMatrix, Step, Tensor};

const EMBED: &str = include_str!("../../../shaders/embed.wgsl");
const EMBED_SLOTS: &[Slot] = &[
    Slot::read("QS"),
    Slot::read("SC"),
    Slot::read("TOKENS"),
    Slot::write("OUT"),
];
const SILU_MUL: &str = include_str!("../../../shaders/silu_mul.wgsl");
const SILU_MUL_SLOTS: &[Slot] = &[Slot::read("GATE"), Slot::read("UP"), Slot::write("OUT")];
const KV_STORE_Q8: &str = include_str!("../../../shaders/kv_store_q8.wgsl");
/// One of the KV stores: its shader, the cache type it writes, threads per
/// workgroup and per cache row.
struct KvStore {
    name: &'static str,
    src: &'static str,
    ty: KvType,
    wg: u32,
    items_per_row: usize,
}
const KV_STORE_SLOTS: &[Slot] = &[
    Slot::read("K"),
    Slot::read("V"),
    Slot::write("K_CACHE"),
    Slot::write("V_CACHE"),
];

impl Kernels {
    /// Token embedding: `out[t][:] = table[tokens[t]][:]` (dequantized) for
    /// `t < n_tokens`; ids past the table give zeros. `out` holds
    /// `[max_tokens][dim]`.
    pub fn embed(
        &self,
        step: &Step,
        table: &QMatrix,
        tokens: &wgpu::Buffer,
        out: &Tensor,
    ) -> Result<Op, GpuError> {
        let cpr = self.chunk_cols(table)?;
        self.check_buffer("tokens", tokens)?;
        distinct(&[("tokens", tokens), ("out", &out.buffer)])?;
        let cap = (out.len / table.cols).min(tokens.size() as usize / 4);
        if cap == 0 {
            return Err(invalid("embed: out or tokens holds no full row"));
        }
        let wg = self.wg(64);
        self.build_op(step, cap, |b| {
            let pipeline = self.pipeline(&Shader {
                name: "embed",
                pieces: &[EMBED],
                ty: Some(table.ty),
                consts: &[("WG", wg)],
                slots: EMBED_SLOTS,
            })?;
            // One dispatch per part; the first also zeroes rows of ids past
            // the table.
            for (i, part) in table.parts.iter().enumerate() {
                let params = [
                    to_u32(part.rows, "rows")?,
                    to_u32(part.row0, "row0")?,
                    cpr,
                    to_u32(table.rows, "rows")?,
                    to_u32(cap, "cap")?,
                    (i == 0) as u32,
                ];
                let grid = Grid::Linear {
                    items_per_token: cpr as u64,
                    wg,
                };
                let bufs = [&part.qs, &part.sc, tokens, &out.buffer];
                b.dispatch(
                    vec![Variant::single(pipeline.clone())],
                    &params,
                    &bufs,
                    grid,
                )?;
            }
            Ok(())
        })
    }

    /// Quantizes `k[t]`, `v[t]` (f32 rows of `kv_dim`, `t < n_tokens`) into
    /// the 8-bit caches' rows `pos0 + t` ([`KvType::Q8_0`]); rows past the
    /// cache are dropped.
    pub fn kv_store_q8(
        &self,
        step: &Step,
        k: &Tensor,
        v: &Tensor,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        kv_dim: usize,
    ) -> Result<Op, GpuError> {
        let store = KvStore {
            name: "kv_store_q8",
            src: KV_STORE_Q8,
            ty: KvType::Q8_0,
            wg: 64,
            // One thread per block of 32.
            items_per_row: kv_dim / 32,
        };
        self.kv_store_with(&store, step, [k, v], [k_cache, v_cache], kv_dim)
    }

    /// A store of the step's f32 keys and values into cache rows `pos0 + t`
    /// of type `s.ty` (the checks and the dispatch both stores share).
    fn kv_store_with(
        &self,
        s: &KvStore,
        step: &Step,
        [k, v]: [&Tensor; 2],
        [k_cache, v_cache]: [&wgpu::Buffer; 2],
        kv_dim: usize,
    ) -> Result<Op, GpuError> {
        distinct(&[
            ("k_cache", k_cache),
            ("v_cache", v_cache),
            ("k", &k.buffer),
            ("v", &v.buffer),
        ])?;
        self.check_buffer("k_cache", k_cache)?;
        self.check_buffer("v_cache", v_cache)?;
        if kv_dim == 0 || !s.ty.fits(kv_dim) {
            return Err(invalid(format!("{}: kv_dim {kv_dim}", s.name)));
        }
        let cap = (k.len / kv_dim).min(v.len / kv_dim);
        let max_ctx = (k_cache.size().min(v_cache.size()) / s.ty.row_bytes(kv_dim)) as usize;
        let wg = self.wg(s.wg);
        let shader = Shader {
            name: s.name,
            pieces: &[s.src],
            ty: None,
            consts: &[("WG", wg)],
            slots: KV_STORE_SLOTS,
        };
        let params = [
            to_u32(kv_dim, "kv_dim")?,
            to_u32(max_ctx, "max_ctx")?,
            to_u32(cap, "cap")?,
        ];
        let bufs = [&k.buffer, &v.buffer, k_cache, v_cache];
        let grid = Grid::Linear {
            items_per_token: s.items_per_row as u64,
            wg,
        };
        self.simple_op(step, cap, &shader, &params, &bufs, grid)
    }

    /// `out = silu(gate) * up` over `n_tokens` rows of `n`.
    pub fn silu_mul(
        &self,
        step: &Step,
        gate: &Tensor,
        up: &Tensor,
        out: &Tensor,
        n: usize,
    ) -> Result<Op, GpuError> {
        distinct(&[("out", &out.buffer), ("gate", &gate.buffer)])?;
        distinct(&[("out", &out.buffer), ("up", &up.buffer)])?;
        if n == 0 {
            return Err(invalid("silu_mul: n 0"));
        }
        let cap = gate.len.min(up.len).min(out.len) / n;
        let wg = self.wg(256);
        let shader = Shader {
            name: "silu_mul",
            pieces: &[SILU_MUL],
            ty: None,
            consts: &[("WG", wg)],
            slots: SILU_MUL_SLOTS,
        };
        let params = [to_u32(n, "n")?, to_u32(cap, "cap")?];
        let bufs = [&gate.buffer, &up.buffer, &out.buffer];
        let grid = Grid::Linear {
            items_per_token: n as u64,
            wg,
        };
        self.simple_op(step, cap, &shader, &params, &bufs, grid)
    }
}

#[cfg(feature = "testing")]
pub use unfused::rope_inv_freq;

/// Kernels only the tests use: the forward graph fuses their work into the
/// matmuls (see `MatIn::norm`, `MatOut`).
#[cfg(feature = "testing")]
mod unfused {
    use super::*;

    const RMSNORM: &str = include_str!("../../../shaders/rmsnorm.wgsl");
    const RMSNORM_SLOTS: &[Slot] = &[Slot::read("X"), Slot::read("WEIGHT"), Slot::write("OUT")];
    const ROPE: &str = include_str!("../../../shaders/rope.wgsl");
    const ROPE_SLOTS: &[Slot] = &[Slot::write("X"), Slot::read("INV_FREQ")];
    const KV_STORE: &str = include_str!("../../../shaders/kv_store.wgsl");
    const ADD: &str = include_str!("../../../shaders/add.wgsl");
    const ADD_SLOTS: &[Slot] = &[Slot::write("ACC"), Slot::read("X")];

    /// The inverse RoPE frequencies `base^(-2i/rope_dim)`, `i < rope_dim / 2`.
    pub fn rope_inv_freq(rope_dim: usize, freq_base: f32) -> Vec<f32> {
        (0..rope_dim / 2)
            .map(|i| (freq_base as f64).powf(-2.0 * i as f64 / rope_dim as f64) as f32)
            .collect()
    }

    impl Kernels {
        /// Per row: `out = x / sqrt(mean(x^2) + eps) * weight`.
        pub fn rmsnorm(
            &self,
            step: &Step,
            x: &Tensor,
            weight: &Tensor,
            out: &Tensor,
            dim: usize,
            eps: f32,
        ) -> Result<Op, GpuError> {
            distinct(&[("x", &x.buffer), ("out", &out.buffer)])?;
            distinct(&[("weight", &weight.buffer), ("out", &out.buffer)])?;
            if dim == 0 || weight.len < dim {
                return Err(invalid(format!(
                    "rmsnorm: dim {dim}, weight of {}",
                    weight.len
                )));
            }
            let cap = (x.len / dim)
                .min(out.len / dim)
                .min(self.gpu.limits.max_compute_workgroups_per_dimension as usize);
            let shader = Shader {
                name: "rmsnorm",
                pieces: &[RMSNORM],
                ty: None,
                consts: &[("WG", self.wg(256))],
                slots: RMSNORM_SLOTS,
            };
            let params = [to_u32(dim, "dim")?, eps.to_bits(), to_u32(cap, "cap")?];
            let bufs = [&x.buffer, &weight.buffer, &out.buffer];
            self.simple_op(step, cap, &shader, &params, &bufs, Grid::PerToken { x: 1 })
        }

        /// Rotary embedding in place (ggml's normal mode, used by the llama
        /// arch): row `t` has position `pos0 + t`; in every head the pairs
        /// `(x[2i], x[2i+1])`, `2i < rope_dim`, are rotated by
        /// `pos * freq_base^(-2i/rope_dim)`; dims past `rope_dim` are
        /// untouched.
        pub fn rope(
            &self,
            step: &Step,
            x: &Tensor,
            n_heads: usize,
            head_dim: usize,
            rope_dim: usize,
            freq_base: f32,
        ) -> Result<Op, GpuError> {
            if rope_dim == 0
                || !rope_dim.is_multiple_of(2)
                || freq_base.is_nan()
                || freq_base <= 0.0
            {
                return Err(invalid(format!(
                    "rope: rope_dim {rope_dim}, base {freq_base}"
                )));
            }
            let inv_freq = rope_inv_freq(rope_dim, freq_base);
            self.rope_with_freqs(step, x, n_heads, head_dim, &inv_freq)
        }

        /// Like [`Kernels::rope`] with explicit inverse frequencies: pair `i`
        /// rotates by `pos * inv_freq[i]`, so `rope_dim = 2 * inv_freq.len()`
        /// (for rope scaling schemes that adjust the frequencies).
        pub fn rope_with_freqs(
            &self,
            step: &Step,
            x: &Tensor,
            n_heads: usize,
            head_dim: usize,
            inv_freq: &[f32],
        ) -> Result<Op, GpuError> {
            let half = inv_freq.len();
            if n_heads == 0 || half == 0 || 2 * half > head_dim {
                return Err(invalid(format!(
                    "rope: {n_heads} heads of {head_dim}, rope_dim {}",
                    2 * half
                )));
            }
            let row = n_heads * head_dim;
            let cap = x.len / row;
            let wg = self.wg(256);
            self.build_op(step, cap, |b| {
                let pipeline = self.pipeline(&Shader {
                    name: "rope",
                    pieces: &[ROPE],
                    ty: None,
                    consts: &[("WG", wg)],
                    slots: ROPE_SLOTS,
                })?;
                let params = [
                    to_u32(n_heads, "n_heads")?,
                    to_u32(head_dim, "head_dim")?,
                    to_u32(half, "rope_dim")?,
                    to_u32(row, "row")?,
                    to_u32(cap, "cap")?,
                ];
                let table = self.table_f32("rope inv_freq", inv_freq);
                let grid = Grid::Linear {
                    items_per_token: (n_heads * half) as u64,
                    wg,
                };
                let variants = vec![Variant::single(pipeline)];
                b.dispatch(variants, &params, &[&x.buffer, &table], grid)?;
                b.keep(table);
                Ok(())
            })
        }

        /// `k_cache[pos0 + t] = k[t]`, `v_cache[pos0 + t] = v[t]` for `t <
        /// n_tokens`. Caches are `[max_ctx][kv_dim]` f32; rows past the cache
        /// are dropped.
        pub fn kv_store(
            &self,
            step: &Step,
            k: &Tensor,
            v: &Tensor,
            k_cache: &wgpu::Buffer,
            v_cache: &wgpu::Buffer,
            kv_dim: usize,
        ) -> Result<Op, GpuError> {
            let store = KvStore {
                name: "kv_store",
                src: KV_STORE,
                ty: KvType::F32,
                wg: 256,
                items_per_row: kv_dim,
            };
            self.kv_store_with(&store, step, [k, v], [k_cache, v_cache], kv_dim)
        }

        /// `acc += x` over `n_tokens` rows of `n`.
        pub fn add(&self, step: &Step, acc: &Tensor, x: &Tensor, n: usize) -> Result<Op, GpuError> {
            distinct(&[("acc", &acc.buffer), ("x", &x.buffer)])?;
            if n == 0 {
                return Err(invalid("add: n 0"));
            }
            let cap = acc.len.min(x.len) / n;
            let wg = self.wg(256);
            let shader = Shader {
                name: "add",
                pieces: &[ADD],
                ty: None,
                consts: &[("WG", wg)],
                slots: ADD_SLOTS,
            };
            let params = [to_u32(n, "n")?, to_u32(cap, "cap")?];
            let grid = Grid::Linear {
                items_per_token: n as u64,
                wg,
            };
            self.simple_op(step, cap, &shader, &params, &[&acc.buffer, &x.buffer], grid)
        }
    }
}
