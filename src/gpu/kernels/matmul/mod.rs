//! Matrix multiplication against quantized weights, with a fused prologue
//! (RMSNorm of x) and epilogue ([`MatOut`]: store, SwiGLU, RoPE + KV cache).
//! `epilogue` binds the outputs, `shape` picks the kernel variants, `x8`
//! has the matmul with 8-bit activations and `choose` times it against the
//! f32 one.

mod choose;
mod epilogue;
mod shape;
mod x8;

#[cfg(feature = "testing")]
pub use choose::{X8Times, X8Timing};
pub use epilogue::{MatOut, RopeKv};
pub use x8::X8Use;
#[cfg(feature = "testing")]
pub use x8::{has_x8, x8_units};

use super::op::Grid;
use super::pipeline::Slot;
use super::{Kernels, OpBuilder, distinct, invalid, to_u32};
use crate::gpu::{GpuError, Op, QMatrix, Step, Tensor};
use epilogue::Epilogue;

/// The buffers of every matmul, before the epilogue's.
const MATMUL_SLOTS: [Slot; 4] = [
    Slot::read("QS"),
    Slot::read("SC"),
    Slot::read("X"),
    // The RMSNorm weight (a dummy without a norm).
    Slot::read("NORM_W"),
];

/// The input of a matmul: `x` (`[max_tokens][cols]`), optionally
/// RMS-normalized per row on the fly with the weight `norm.0` and epsilon
/// `norm.1` (fusing an RMSNorm into the matmul that reads its output).
#[derive(Clone, Copy)]
pub struct MatIn<'a> {
    pub x: &'a Tensor,
    pub norm: Option<(&'a Tensor, f32)>,
}

impl Kernels {
    /// `y[t][r] (+)= sum_c W[r][c] * x[t][c]` for `t < n_tokens`; with
    /// `accumulate` the product is added to `y` (fusing a residual add).
    /// `x` holds `[max_tokens][cols]`, `y` `[max_tokens][rows]`.
    pub fn matmul(
        &self,
        step: &Step,
        w: &QMatrix,
        x: &Tensor,
        y: &Tensor,
        accumulate: bool,
    ) -> Result<Op, GpuError> {
        let out = MatOut::Store { y, accumulate };
        self.matmul_fused(step, &[w], MatIn { x, norm: None }, out, false)
    }

    /// Like [`Kernels::matmul`] for the last token only: `y[r] = sum_c
    /// W[r][c] * x[n_tokens - 1][c]` (the logits of the last token).
    #[cfg(feature = "testing")]
    pub fn matmul_last(
        &self,
        step: &Step,
        w: &QMatrix,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<Op, GpuError> {
        let out = MatOut::Store {
            y,
            accumulate: false,
        };
        self.matmul_fused(step, &[w], MatIn { x, norm: None }, out, true)
    }

    /// A matmul over the rows of `ws` stacked (all `cols` wide; one dispatch
    /// per part), reading `input` (optionally RMS-normalized on the fly) and
    /// handing the rows to the epilogue `out`. With `last_only`, only the
    /// last token's x row is used and the result goes to output row 0.
    /// 8-bit activations are used in the shapes where [`Kernels::x8_use`]
    /// says so for every weight type of `ws`.
    pub fn matmul_fused(
        &self,
        step: &Step,
        ws: &[&QMatrix],
        input: MatIn<'_>,
        out: MatOut<'_>,
        last_only: bool,
    ) -> Result<Op, GpuError> {
        let x8 = ws
            .iter()
            .fold(X8Use::both(true), |u, w| u.and(self.x8_use(w.ty)));
        self.matmul_path(step, ws, input, out, last_only, x8)
    }

    /// [`Kernels::matmul_fused`], with 8-bit activations where `x8` says.
    fn matmul_path(
        &self,
        step: &Step,
        ws: &[&QMatrix],
        input: MatIn<'_>,
        out: MatOut<'_>,
        last_only: bool,
        x8: X8Use,
    ) -> Result<Op, GpuError> {
        let Some(first) = ws.first() else {
            return Err(invalid("matmul: no weights"));
        };
        // The last token's logits take the decode shape only.
        let x8 = X8Use {
            prefill: x8.prefill && !last_only,
            ..x8
        };
        let cols = first.cols;
        let rows: usize = ws.iter().map(|w| w.rows).sum();
        let mut cprs = Vec::new();
        for w in ws {
            if w.cols != cols {
                return Err(invalid(format!(
                    "matmul: stacked matrices of {} and {cols} columns",
                    w.cols
                )));
            }
            cprs.push(self.chunk_cols(w)?);
        }
        let x = input.x;
        if x.len < cols || !cols.is_multiple_of(4) {
            return Err(invalid(format!(
                "matmul {rows}x{cols}: x has {} elements",
                x.len
            )));
        }
        if let Some((nw, _)) = input.norm {
            if nw.len < cols {
                return Err(invalid(format!(
                    "matmul: norm weight of {} for {cols} columns",
                    nw.len
                )));
            }
            distinct(&[("x", &x.buffer), ("norm", &nw.buffer)])?;
        }
        let eps = input.norm.map_or(0.0, |(_, e)| e);
        let epilogue = out.epilogue();
        let outs = self.bind_outputs(&out, x, rows, cols)?;
        if epilogue.pairs() {
            check_row_pairs(ws, epilogue)?;
        }
        let cap = if last_only {
            x.len / cols
        } else {
            (x.len / cols).min(outs.cap)
        };
        if cap == 0 {
            return Err(invalid("matmul: buffers hold no full row"));
        }
        let normed = input.norm.is_some();
        self.build_op(step, cap, |b| {
            // Without a norm the NORM_W slot gets a dummy.
            let nw = match input.norm {
                Some((nw, _)) => nw.buffer.clone(),
                None => self.no_norm(b),
            };
            let xq = if x8.any() {
                // (x8.prefill is off with last_only, above.)
                let rows = if x8.prefill { cap } else { 1 };
                let xq = self.x8_buffer(cols, rows);
                b.keep(xq.clone());
                self.quantize_x8_dispatch(b, input, &xq, cols, cap, last_only, x8)?;
                Some(xq)
            } else {
                None
            };
            let mut seg_row0 = 0;
            for (w, &cpr) in ws.iter().zip(&cprs) {
                let variants = self.matmul_variants(w, normed, epilogue, last_only, x8)?;
                for part in &w.parts {
                    let mut params = vec![
                        to_u32(part.rows, "rows")?,
                        to_u32(seg_row0 + part.row0, "row0")?,
                        cpr,
                        to_u32(cols / 4, "cols")?,
                        to_u32(outs.y_stride, "y_stride")?,
                        out.accumulates() as u32,
                        last_only as u32,
                        to_u32(cap, "cap")?,
                        eps.to_bits(),
                    ];
                    params.extend_from_slice(&outs.rope_params);
                    let mut bufs = vec![&part.qs, &part.sc, &x.buffer, &nw];
                    bufs.extend(outs.bufs.iter().copied());
                    bufs.extend(&outs.table);
                    bufs.extend(&xq);
                    let grid = Grid::Rows {
                        rows: to_u32(part.rows, "rows")?,
                        last_only,
                    };
                    b.dispatch(variants.clone(), &params, &bufs, grid)?;
                }
                seg_row0 += w.rows;
            }
            if let Some(t) = outs.table {
                b.keep(t);
            }
            Ok(())
        })
    }
}

impl Kernels {
    /// A dummy for the norm weight slot of a matmul without a norm, kept
    /// alive by the op.
    pub(super) fn no_norm(&self, b: &mut OpBuilder<'_>) -> wgpu::Buffer {
        let d = self.buffer_init("no norm", &[0u8; 16], wgpu::BufferUsages::STORAGE);
        b.keep(d.clone());
        d
    }
}

/// Errors unless every row pair of `ws` stacked (rows `2i`, `2i + 1`) lies
/// in one part: pair epilogues take the rows of a pair from one thread.
fn check_row_pairs(ws: &[&QMatrix], epilogue: Epilogue) -> Result<(), GpuError> {
    let mut off = 0;
    for w in ws {
        let odd = w.parts.iter().any(|p| p.rows % 2 == 1 || p.row0 % 2 == 1);
        if odd || off % 2 == 1 {
            return Err(invalid(format!(
                "matmul {}: row pairs split across parts ({} rows)",
                epilogue.name(),
                w.rows
            )));
        }
        off += w.rows;
    }
    Ok(())
}
