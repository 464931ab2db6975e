//! The matmul with 8-bit activations: a dispatch that quantizes the step's
//! x rows to 8-bit blocks of 32 (`shaders/quantize_x8.wgsl`, with the
//! RMSNorm prologue fused), then the kernel that multiplies them with the
//! weights' packed integers (`shaders/matmul_x8.wgsl` and the type's
//! `x8_*.wgsl` unpacking), in the decode shape (one token) and the prefill
//! shape (tiles of rows x tokens). Which of this and the f32 matmul a matmul
//! uses, per shape, is [`Kernels::x8_use`]'s answer (see `choose`).

use super::super::op::{Grid, Variant};
use super::super::pipeline::{Pipeline, Shader, Slot};
use super::super::{Kernels, OpBuilder, to_u32};
use super::MatIn;
use super::epilogue::Epilogue;
use super::shape::{MatShape, SG_OFF, SG_ON};
use crate::gpu::GpuError;
use crate::quant::GgmlType;

const QUANTIZE: &str = include_str!("../../../../shaders/quantize_x8.wgsl");
const MATMUL_X8: &str = include_str!("../../../../shaders/matmul_x8.wgsl");
pub(super) const MATMUL_PARTS: &str = include_str!("../../../../shaders/matmul_parts.wgsl");
pub(super) const MATMUL_PARAMS: &str = include_str!("../../../../shaders/matmul_params.wgsl");

/// The quantized x buffer of the 8-bit matmul (after the matmul's and the
/// epilogue's slots).
pub(super) const XQ_SLOT: Slot = Slot::read("XQ");

/// Elements per 8-bit block of x.
const BLOCK: usize = 32;

/// The `x8_weights` snippet of a weight type, for the types that have one
/// (after x8_parts.wgsl, whose X8W and byte shuffles every snippet uses).
fn dot_snippet(ty: GgmlType) -> Option<&'static str> {
    macro_rules! shader {
        ($($f:literal),+) => {
            concat!(
                include_str!("../../../../shaders/x8_parts.wgsl"),
                $(include_str!(concat!("../../../../shaders/", $f))),+
            )
        };
    }
    Some(match ty {
        GgmlType::Q4_0 => shader!("x8_q4_0.wgsl"),
        GgmlType::Q4_1 => shader!("x8_q4_1.wgsl"),
        GgmlType::Q8_0 => shader!("x8_q8_0.wgsl"),
        GgmlType::Q5_0 => shader!("x8_q5_parts.wgsl", "x8_q5_0.wgsl"),
        GgmlType::Q5_1 => shader!("x8_q5_parts.wgsl", "x8_q5_1.wgsl"),
        GgmlType::Q2_K => shader!("x8_q2_k.wgsl"),
        GgmlType::Q3_K => shader!("q_parts.wgsl", "x8_q3_k.wgsl"),
        GgmlType::Q4_K => shader!("q_parts.wgsl", "x8_q4_k.wgsl"),
        GgmlType::Q5_K => shader!("q_parts.wgsl", "x8_q5_parts.wgsl", "x8_q5_k.wgsl"),
        GgmlType::Q6_K => shader!("q_parts.wgsl", "x8_q6_k.wgsl"),
        _ => return None,
    })
}

/// Whether weights of `ty` have an 8-bit-activation matmul.
pub fn has_x8(ty: GgmlType) -> bool {
    dot_snippet(ty).is_some()
}

/// 16-byte units of the quantized form of one x row of `cols` elements
/// (a multiple of 32): two per block of q, one per pair of blocks of scales
/// and sums.
pub fn x8_units(cols: usize) -> usize {
    let blocks = cols / BLOCK;
    2 * blocks + blocks.div_ceil(2)
}

/// Where a matmul uses 8-bit activations: in one-token steps (the decode
/// mat-vec, and the logits of a prompt's last token) and in steps of more
/// tokens (the prefill tiles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X8Use {
    pub decode: bool,
    pub prefill: bool,
}

impl X8Use {
    /// Both shapes, or neither.
    pub(super) fn both(on: bool) -> X8Use {
        X8Use {
            decode: on,
            prefill: on,
        }
    }

    pub(super) fn any(self) -> bool {
        self.decode || self.prefill
    }

    /// Where both `self` and `o` do (a matmul over stacked matrices of
    /// several types).
    pub(super) fn and(self, o: X8Use) -> X8Use {
        X8Use {
            decode: self.decode && o.decode,
            prefill: self.prefill && o.prefill,
        }
    }
}

impl Kernels {
    /// Where a matmul of weights of `ty` uses 8-bit activations: everywhere
    /// or nowhere when the tuning forces it, else where the model load
    /// measured them faster for `ty` (see [`Kernels::choose_x8`]), else
    /// nowhere.
    pub fn x8_use(&self, ty: GgmlType) -> X8Use {
        if !has_x8(ty) {
            return X8Use::default();
        }
        if let Some(forced) = self.gpu.int8_matvec {
            return X8Use::both(forced);
        }
        let map = self.x8_choice.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ty).copied().unwrap_or_default()
    }

    /// The 8-bit-activation pipeline of weights of `ty` in the shape `sh`.
    pub(super) fn x8_pipeline(
        &self,
        ty: GgmlType,
        sh: MatShape,
        epilogue: Epilogue,
        slots: &[Slot],
    ) -> Result<Pipeline, GpuError> {
        let dot = dot_snippet(ty).ok_or_else(|| GpuError::Unsupported {
            ty,
            reason: "no 8-bit-activation matmul for this type".into(),
        })?;
        let wg = sh.slots * sh.lanes;
        let acc = sh.rpt * sh.tt;
        let sgred = sh.lanes > 1 && self.subgroup_size() == Some(sh.lanes);
        let name = format!("matmul_x8/{ty}/{}", epilogue.name());
        self.pipeline(&Shader {
            name: &name,
            pieces: &[
                dot,
                MATMUL_PARAMS,
                MATMUL_X8,
                MATMUL_PARTS,
                if sgred { SG_ON } else { SG_OFF },
                epilogue.source(),
            ],
            ty: None,
            consts: &[
                ("WG", wg),
                ("ROWS", sh.slots),
                ("LANES", sh.lanes),
                ("RPT", sh.rpt),
                ("TT", sh.tt),
                ("ACC", acc),
                ("RED", if sh.lanes > 1 && !sgred { wg * acc } else { 1 }),
                ("SGRED", sgred as u32),
                ("PAIR", if epilogue.pairs() { 2 } else { 1 }),
            ],
            slots,
        })
    }

    /// A buffer for the quantized form of `rows` x rows of `cols` elements:
    /// one scratch buffer shared by every op of these kernels (replaced by a
    /// larger one when too small; ops keep the one they bound). Each matmul
    /// quantizes into it right before reading it, and the queue runs ops one
    /// after the other (wgpu orders the dispatches touching it), so one
    /// buffer serves a whole model instead of a batch of rows per matmul.
    pub(super) fn x8_buffer(&self, cols: usize, rows: usize) -> wgpu::Buffer {
        let size = (x8_units(cols) * rows * 16) as u64;
        let mut scratch = self.x8_scratch.lock().unwrap_or_else(|e| e.into_inner());
        match &*scratch {
            Some(b) if b.size() >= size => b.clone(),
            _ => {
                let b = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("x8"),
                    size,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                *scratch = Some(b.clone());
                b
            }
        }
    }

    /// Adds the dispatch quantizing the x rows of `input` (`cols` wide, `cap`
    /// token rows) into `xq`, one row per token (a workgroup each), in steps
    /// where `x8` uses them; with `last_only`, the step's last token into
    /// row 0 (in steps of any length where `x8.decode`, the shape the
    /// logits use).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn quantize_x8_dispatch(
        &self,
        b: &mut OpBuilder<'_>,
        input: MatIn<'_>,
        xq: &wgpu::Buffer,
        cols: usize,
        cap: usize,
        last_only: bool,
        x8: X8Use,
    ) -> Result<(), GpuError> {
        let normed = input.norm.is_some();
        // One workgroup: on CPU-like adapters one SIMD-wide group (a
        // workgroup barrier there is costly), on GPUs a wide one.
        let wg = self.wg(if self.gpu.thread_per_row { 8 } else { 256 });
        let pipeline = self.pipeline(&Shader {
            name: "quantize_x8",
            pieces: &[QUANTIZE],
            ty: None,
            consts: &[("WG", wg), ("NORMED", normed as u32)],
            slots: &[Slot::read("X"), Slot::read("NORM_W"), Slot::write("XQ")],
        })?;
        let nw = match input.norm {
            Some((nw, _)) => nw.buffer.clone(),
            None => self.no_norm(b),
        };
        let eps = input.norm.map_or(0.0, |(_, e)| e);
        let params = [
            to_u32(cols / 4, "cols")?,
            to_u32(cols / BLOCK, "blocks")?,
            last_only as u32,
            to_u32(cap, "cap")?,
            eps.to_bits(),
        ];
        let grid = match (last_only, x8.decode, x8.prefill) {
            (true, true, _) => Grid::Single,
            (true, false, _) => return Ok(()),
            (false, true, true) => Grid::TokenRows {
                min_tokens: 1,
                max_tokens: u32::MAX,
            },
            (false, true, false) => Grid::TokenRows {
                min_tokens: 1,
                max_tokens: 1,
            },
            (false, false, true) => Grid::TokenRows {
                min_tokens: 2,
                max_tokens: u32::MAX,
            },
            (false, false, false) => return Ok(()),
        };
        b.dispatch(
            vec![Variant::single(pipeline)],
            &params,
            &[&input.x.buffer, &nw, xq],
            grid,
        )
    }
}

#[cfg(feature = "testing")]
mod testing {
    use super::super::super::invalid;
    use super::*;
    use crate::gpu::{Op, Step, Tensor};

    impl Kernels {
        /// The quantization a matmul with 8-bit activations does first, on
        /// its own: the x rows of `input` (`cols` wide) into `xq`, row t for
        /// token t, or only the step's last token into row 0 with
        /// `last_only`; `xq` holds `4 * x8_units(cols)` words per row (read
        /// them as `u32`).
        pub fn quantize_x8(
            &self,
            step: &Step,
            input: MatIn<'_>,
            cols: usize,
            xq: &Tensor,
            last_only: bool,
        ) -> Result<Op, GpuError> {
            if cols == 0 || !cols.is_multiple_of(BLOCK) || input.x.len < cols {
                return Err(invalid(format!(
                    "quantize_x8: {cols} columns, x of {}",
                    input.x.len
                )));
            }
            let cap = input.x.len / cols;
            let rows = if last_only { 1 } else { cap };
            if xq.len < 4 * x8_units(cols) * rows {
                return Err(invalid(format!("quantize_x8: xq of {}", xq.len)));
            }
            let every = X8Use::both(true);
            self.build_op(step, cap, |b| {
                self.quantize_x8_dispatch(b, input, &xq.buffer, cols, cap, last_only, every)
            })
        }
    }
}
