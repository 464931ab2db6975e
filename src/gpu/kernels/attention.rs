//! Causal attention over the KV cache (flash-attention style tiles), and the
//! pass that combines the key splits of a long one-token step.

use super::op::{Grid, Variant};
use super::pipeline::{Shader, Slot};
use super::{Kernels, distinct, invalid, to_u32};
use crate::gpu::{GpuError, KvType, Op, Step, Tensor};

const ATTENTION: &str = include_str!("../../../shaders/attention.wgsl");
const ATTENTION_KV_F32: &str = include_str!("../../../shaders/attention_kv_f32.wgsl");
const ATTENTION_KV_F16: &str = include_str!("../../../shaders/attention_kv_f16.wgsl");
const ATTENTION_KV_Q8: &str = include_str!("../../../shaders/attention_kv_q8.wgsl");
const ATTENTION_SLOTS: &[Slot] = &[
    Slot::read("Q"),
    Slot::read("K_CACHE"),
    Slot::read("V_CACHE"),
    Slot::write("OUT"),
    Slot::write("PART"),
];
const COMBINE: &str = include_str!("../../../shaders/attention_combine.wgsl");
const COMBINE_SLOTS: &[Slot] = &[Slot::read("PART"), Slot::write("OUT")];

/// Query rows per thread (a register tile of QR rows x KR keys).
const ATTN_QR: u32 = 4;
/// Keys per thread and key tile (KT = 16 * KR).
const ATTN_KR: u32 = 4;
/// The largest head_dim (multiples of 8 up to this).
const ATTN_MAX_HEAD_DIM: usize = 256;
/// A one-token step over at least this many keys per split is spread over
/// several workgroups per head (flash-decoding; see `Op::record`).
pub(super) const ATTN_SPLIT_KEYS: u32 = 512;
/// The most key splits.
const ATTN_MAX_SPLITS: u32 = 16;

impl Kernels {
    /// Causal attention over an f32 cache: query row `t` (position `pos0 +
    /// t`) attends cache rows `0..=pos0 + t`; head `h` uses KV head `h /
    /// (n_heads / n_kv_heads)`; scores are scaled by `1/sqrt(head_dim)`;
    /// softmax with a running maximum. `q`/`out` hold `[max_tokens][n_heads
    /// * head_dim]`.
    #[cfg(feature = "testing")]
    #[allow(clippy::too_many_arguments)]
    pub fn attention_f32(
        &self,
        step: &Step,
        q: &Tensor,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        out: &Tensor,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
    ) -> Result<Op, GpuError> {
        self.attention_kv(
            step,
            q,
            k_cache,
            v_cache,
            out,
            n_heads,
            n_kv_heads,
            head_dim,
            KvType::F32,
        )
    }

    /// Causal attention over a cache of `kv` rows
    /// (`[max_ctx][n_kv_heads * head_dim]`; `head_dim` a multiple of 8): query
    /// row `t` (position `pos0 + t`) attends cache rows `0..=pos0 + t`; head
    /// `h` uses KV head `h / (n_heads / n_kv_heads)`; scores are scaled by
    /// `1/sqrt(head_dim)`; softmax with a running maximum. `q`/`out` hold
    /// `[max_tokens][n_heads * head_dim]`. Recorded with the step's `kv_len`
    /// ([`Op::record`]), a one-token step over a long cache is split over
    /// several workgroups per KV head plus a combine pass.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_kv(
        &self,
        step: &Step,
        q: &Tensor,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        out: &Tensor,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
        kv: KvType,
    ) -> Result<Op, GpuError> {
        distinct(&[("out", &out.buffer), ("q", &q.buffer)])?;
        distinct(&[("out", &out.buffer), ("k_cache", k_cache)])?;
        distinct(&[("out", &out.buffer), ("v_cache", v_cache)])?;
        self.check_buffer("k_cache", k_cache)?;
        self.check_buffer("v_cache", v_cache)?;
        if n_heads == 0 || n_kv_heads == 0 || !n_heads.is_multiple_of(n_kv_heads) || head_dim == 0 {
            return Err(invalid(format!(
                "attention: {n_heads} heads, {n_kv_heads} kv heads, head_dim {head_dim}"
            )));
        }
        if head_dim > ATTN_MAX_HEAD_DIM || !head_dim.is_multiple_of(8) {
            return Err(invalid(format!(
                "attention: head_dim {head_dim} (multiples of 8 up to {ATTN_MAX_HEAD_DIM})"
            )));
        }
        let max = self.gpu.limits.max_compute_workgroups_per_dimension as usize;
        if n_kv_heads > max {
            return Err(invalid(format!("attention: {n_kv_heads} kv heads")));
        }
        let row = n_heads * head_dim;
        let kv_dim = n_kv_heads * head_dim;
        let group = n_heads / n_kv_heads;
        let cap = (q.len / row).min(out.len / row).min(max / group.max(1));
        if cap == 0 {
            return Err(invalid("attention: q or out holds no full row"));
        }
        if !kv.fits(kv_dim) {
            return Err(invalid(format!(
                "attention: a {kv} cache of width {kv_dim}"
            )));
        }
        let max_ctx = (k_cache.size().min(v_cache.size()) / kv.row_bytes(kv_dim)) as usize;
        let splits = ATTN_MAX_SPLITS.min(max as u32);
        // Scratch for split partial results: one token's heads x splits.
        let part_len = n_heads * splits as usize * (head_dim + 2);
        self.build_op(step, cap, |b| {
            let variants = self.attention_variants(group as u32, head_dim as u32, kv)?;
            let params = [
                to_u32(n_heads, "n_heads")?,
                to_u32(group, "group")?,
                to_u32(kv_dim, "kv_dim")?,
                to_u32(row, "row")?,
                to_u32(max_ctx, "max_ctx")?,
                to_u32(cap, "cap")?,
                (1.0 / (head_dim as f32).sqrt()).to_bits(),
                0,
            ];
            let part = self
                .gpu
                .storage_buffer((part_len * 4) as u64, "attention splits")?;
            let bufs = [&q.buffer, k_cache, v_cache, &out.buffer, &part];
            let grid = Grid::Attn {
                kv_heads: n_kv_heads as u32,
                group: group as u32,
            };
            b.dispatch(variants, &params, &bufs, grid)?;
            let combine = self.pipeline(&Shader {
                name: "attention_combine",
                pieces: &[COMBINE],
                ty: None,
                consts: &[("WG", self.wg(64))],
                slots: COMBINE_SLOTS,
            })?;
            let params = [
                to_u32(n_heads, "n_heads")?,
                to_u32(head_dim, "head_dim")?,
                to_u32(row, "row")?,
                to_u32(cap, "cap")?,
            ];
            let grid = Grid::Combine {
                heads: n_heads as u32,
            };
            let variants = vec![Variant::single(combine)];
            b.dispatch(variants, &params, &[&part, &out.buffer], grid)?;
            b.keep(part);
            b.max_splits = splits;
            Ok(())
        })
    }

    /// The attention variants: a decode tile of the group's query rows, and
    /// from 2 tokens on a prefill tile of 16 rows. Workgroups are QG * 16
    /// threads.
    fn attention_variants(
        &self,
        group: u32,
        head_dim: u32,
        kv: KvType,
    ) -> Result<Vec<Variant>, GpuError> {
        let (name, kv_src) = match kv {
            KvType::F32 => ("attention/f32", ATTENTION_KV_F32),
            KvType::F16 => ("attention/f16", ATTENTION_KV_F16),
            KvType::Q8_0 => ("attention/q8_0", ATTENTION_KV_Q8),
        };
        let hd4 = head_dim / 4;
        let decode_qg = group.div_ceil(ATTN_QR).clamp(1, 4);
        let mut variants = Vec::new();
        for (min_tokens, qg) in [(1u32, decode_qg), (2, 4)] {
            let pipeline = self.pipeline(&Shader {
                name,
                pieces: &[kv_src, ATTENTION],
                ty: None,
                consts: &[
                    ("WG", qg * 16),
                    ("QG", qg),
                    ("QR", ATTN_QR),
                    ("QT", qg * ATTN_QR),
                    ("KR", ATTN_KR),
                    ("KT", 16 * ATTN_KR),
                    ("HD", head_dim),
                    ("HD4", hd4),
                    ("DV", hd4.div_ceil(16)),
                ],
                slots: ATTENTION_SLOTS,
            })?;
            variants.push(Variant {
                min_tokens,
                tokens_per_group: 1,
                rows_per_group: qg * ATTN_QR,
                pipeline,
            });
        }
        Ok(variants)
    }
}
