//! Matmul epilogues: where the rows go ([`MatOut`]), their shader pieces,
//! binding slots and the checks of their output buffers.

use super::super::pipeline::Slot;
use super::super::{Kernels, distinct, invalid, to_u32};
use crate::gpu::{GpuError, KvType, Tensor};

/// Where the rows of a matmul go.
pub enum MatOut<'a> {
    /// `y[t][r] = v` (`[max_tokens][rows]`), or `+= v` with `accumulate`.
    Store { y: &'a Tensor, accumulate: bool },
    /// Rows are gate/up pairs (see `QMatrix::upload_interleaved`):
    /// `h[t][i] = silu(row 2i) * row 2i+1` (`[max_tokens][rows / 2]`).
    SwiGlu { h: &'a Tensor },
    /// Rows are q, k, v (a Q/K/V projection): RoPE on q and k, q to a
    /// tensor, k and v into the KV cache at positions `pos0 + t`.
    RopeKv(RopeKv<'a>),
}

/// The RoPE + KV-cache epilogue of a fused Q/K/V projection.
pub struct RopeKv<'a> {
    /// `[max_tokens][n_heads * head_dim]`.
    pub q: &'a Tensor,
    /// `[max_ctx][n_kv_heads * head_dim]` of f32 or f16 (`kv`; not Q8_0,
    /// whose blocks this epilogue can't form: see [`KvType::Q8_0`]). With
    /// `at_token`, row `t` gets token `t` (a staging buffer of the step's
    /// keys and values) instead of row `pos0 + t`.
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    pub kv: KvType,
    pub at_token: bool,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Pair `i` of each head rotates by `pos * inv_freq[i]`
    /// (`rope_dim = 2 * inv_freq.len()`).
    pub inv_freq: &'a [f32],
}

/// The kind of a [`MatOut`]: what the kernel does with its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Epilogue {
    Store,
    SwiGlu,
    RopeKv,
}

impl Epilogue {
    /// For pipeline keys and messages.
    pub fn name(self) -> &'static str {
        match self {
            Epilogue::Store => "store",
            Epilogue::SwiGlu => "swiglu",
            Epilogue::RopeKv => "rope_kv",
        }
    }

    /// The shader piece defining `mm_out1` / `mm_out2`.
    pub fn source(self) -> &'static str {
        match self {
            Epilogue::Store => include_str!("../../../../shaders/matmul_out_store.wgsl"),
            Epilogue::SwiGlu => include_str!("../../../../shaders/matmul_out_swiglu.wgsl"),
            Epilogue::RopeKv => include_str!("../../../../shaders/matmul_out_rope_kv.wgsl"),
        }
    }

    /// The epilogue takes rows in (even, odd) pairs from one thread.
    pub fn pairs(self) -> bool {
        self != Epilogue::Store
    }

    /// Its buffers, after the matmul's.
    pub fn slots(self) -> &'static [Slot] {
        const STORE: &[Slot] = &[Slot::write("Y")];
        const SWIGLU: &[Slot] = &[Slot::write("H")];
        const ROPE_KV: &[Slot] = &[
            Slot::write("Q"),
            Slot::write("K_CACHE"),
            Slot::write("V_CACHE"),
            Slot::read("INV_FREQ"),
        ];
        match self {
            Epilogue::Store => STORE,
            Epilogue::SwiGlu => SWIGLU,
            Epilogue::RopeKv => ROPE_KV,
        }
    }
}

impl MatOut<'_> {
    pub(super) fn epilogue(&self) -> Epilogue {
        match self {
            MatOut::Store { .. } => Epilogue::Store,
            MatOut::SwiGlu { .. } => Epilogue::SwiGlu,
            MatOut::RopeKv(_) => Epilogue::RopeKv,
        }
    }

    /// The product is added to the output (a fused residual add).
    pub(super) fn accumulates(&self) -> bool {
        matches!(
            self,
            MatOut::Store {
                accumulate: true,
                ..
            }
        )
    }
}

/// What an epilogue binds, and the parameters it needs.
pub(super) struct Outputs<'a> {
    /// The output buffers, in slot order.
    pub bufs: Vec<&'a wgpu::Buffer>,
    /// The RoPE inverse-frequency table (bound after `bufs`).
    pub table: Option<wgpu::Buffer>,
    /// The width of an output row (`p.y_stride`).
    pub y_stride: usize,
    /// The token rows the outputs hold.
    pub cap: usize,
    /// The RoPE/KV parameter words (`q_dim` ... in `MatParams`; zero
    /// otherwise).
    pub rope_params: [u32; 7],
}

impl Kernels {
    /// Checks the outputs of `out` for a `rows` x `cols` matmul reading `x`.
    pub(super) fn bind_outputs<'a>(
        &self,
        out: &MatOut<'a>,
        x: &Tensor,
        rows: usize,
        cols: usize,
    ) -> Result<Outputs<'a>, GpuError> {
        let outputs = |bufs, y_stride: usize, len: usize| Outputs {
            bufs,
            table: None,
            y_stride,
            cap: len / y_stride,
            rope_params: [0; 7],
        };
        match out {
            MatOut::Store { y, .. } => {
                distinct(&[("x", &x.buffer), ("y", &y.buffer)])?;
                if y.len < rows {
                    return Err(invalid(format!(
                        "matmul {rows}x{cols}: y has {} elements",
                        y.len
                    )));
                }
                Ok(outputs(vec![&y.buffer], rows, y.len))
            }
            MatOut::SwiGlu { h } => {
                distinct(&[("x", &x.buffer), ("h", &h.buffer)])?;
                if !rows.is_multiple_of(2) || h.len < rows / 2 {
                    return Err(invalid(format!(
                        "matmul swiglu: {rows} rows, h of {}",
                        h.len
                    )));
                }
                Ok(outputs(vec![&h.buffer], rows / 2, h.len))
            }
            MatOut::RopeKv(r) => {
                distinct(&[
                    ("x", &x.buffer),
                    ("q", &r.q.buffer),
                    ("k_cache", r.k_cache),
                    ("v_cache", r.v_cache),
                ])?;
                self.check_buffer("k_cache", r.k_cache)?;
                self.check_buffer("v_cache", r.v_cache)?;
                let q_dim = r.n_heads * r.head_dim;
                let kv_dim = r.n_kv_heads * r.head_dim;
                let half = r.inv_freq.len();
                if r.head_dim == 0
                    || !r.head_dim.is_multiple_of(2)
                    || 2 * half > r.head_dim
                    || rows != q_dim + 2 * kv_dim
                    || r.q.len < q_dim
                {
                    return Err(invalid(format!(
                        "matmul rope/kv: {rows} rows for {} + 2 x {} heads of {}, rope_dim {}",
                        r.n_heads,
                        r.n_kv_heads,
                        r.head_dim,
                        2 * half
                    )));
                }
                if r.kv == KvType::Q8_0 {
                    return Err(invalid(
                        "matmul rope/kv: a q8_0 cache is written by kv_store_q8 from staging",
                    ));
                }
                let row_bytes = r.kv.row_bytes(kv_dim);
                let max_ctx = r.k_cache.size().min(r.v_cache.size()) / row_bytes;
                let table = if half == 0 { &[0.0] } else { r.inv_freq };
                let mut o = outputs(vec![&r.q.buffer, r.k_cache, r.v_cache], q_dim, r.q.len);
                o.table = Some(self.table_f32("rope inv_freq", table));
                o.rope_params = [
                    to_u32(q_dim, "q_dim")?,
                    to_u32(kv_dim, "kv_dim")?,
                    to_u32(r.head_dim, "head_dim")?,
                    to_u32(half, "rope_dim")?,
                    max_ctx.min(u32::MAX as u64) as u32,
                    (r.kv == KvType::F16) as u32,
                    r.at_token as u32,
                ];
                Ok(o)
            }
        }
    }
}
