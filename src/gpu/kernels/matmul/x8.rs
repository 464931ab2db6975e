//! The decode mat-vec with 8-bit activations: a dispatch that quantizes the
//! step's x row to 8-bit blocks of 32 (`shaders/quantize_x8.wgsl`, with the
//! RMSNorm prologue fused), then the mat-vec that multiplies them with the
//! weights' packed integers (`shaders/matvec_x8.wgsl` and the type's
//! `x8_*.wgsl` dot). Which of this and the f32 mat-vec a matmul uses is
//! [`Kernels::uses_x8`]'s answer (see `choose`).

use super::super::op::{Grid, Variant};
use super::super::pipeline::{Pipeline, Shader, Slot};
use super::super::{Kernels, OpBuilder, to_u32};
use super::MatIn;
use super::epilogue::Epilogue;
use super::shape::{MatShape, SG_OFF, SG_ON};
use crate::gpu::GpuError;
use crate::quant::GgmlType;

const QUANTIZE: &str = include_str!("../../../../shaders/quantize_x8.wgsl");
const MATVEC: &str = include_str!("../../../../shaders/matvec_x8.wgsl");
pub(super) const MATMUL_PARAMS: &str = include_str!("../../../../shaders/matmul_params.wgsl");

/// The quantized x buffer of the mat-vec (after the matmul's and the
/// epilogue's slots).
pub(super) const XQ_SLOT: Slot = Slot::read("XQ");

/// Elements per 8-bit block of x.
const BLOCK: usize = 32;

/// The `x8_dot` snippet of a weight type, for the types that have one.
fn dot_snippet(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::Q4_0 => include_str!("../../../../shaders/x8_q4_0.wgsl"),
        GgmlType::Q4_1 => include_str!("../../../../shaders/x8_q4_1.wgsl"),
        GgmlType::Q8_0 => include_str!("../../../../shaders/x8_q8_0.wgsl"),
        GgmlType::Q5_0 => concat!(
            include_str!("../../../../shaders/x8_q5_parts.wgsl"),
            include_str!("../../../../shaders/x8_q5_0.wgsl")
        ),
        GgmlType::Q5_1 => concat!(
            include_str!("../../../../shaders/x8_q5_parts.wgsl"),
            include_str!("../../../../shaders/x8_q5_1.wgsl")
        ),
        GgmlType::Q4_K => concat!(
            include_str!("../../../../shaders/q_parts.wgsl"),
            include_str!("../../../../shaders/x8_q4_k.wgsl")
        ),
        GgmlType::Q5_K => concat!(
            include_str!("../../../../shaders/q_parts.wgsl"),
            include_str!("../../../../shaders/x8_q5_parts.wgsl"),
            include_str!("../../../../shaders/x8_q5_k.wgsl")
        ),
        _ => return None,
    })
}

/// Whether weights of `ty` have an 8-bit-activation mat-vec.
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

impl Kernels {
    /// Whether a matmul of weights of `ty` uses the 8-bit-activation
    /// mat-vec for one-token steps: forced by the tuning, else the choice
    /// measured for `ty` (see [`Kernels::choose_x8`]), else not.
    pub fn uses_x8(&self, ty: GgmlType) -> bool {
        if !has_x8(ty) {
            return false;
        }
        if let Some(forced) = self.gpu.int8_matvec {
            return forced;
        }
        let map = self.x8_choice.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ty).copied().unwrap_or(false)
    }

    /// The mat-vec pipeline of weights of `ty` in the decode shape `sh`.
    pub(super) fn x8_pipeline(
        &self,
        ty: GgmlType,
        sh: MatShape,
        epilogue: Epilogue,
        slots: &[Slot],
    ) -> Result<Pipeline, GpuError> {
        let dot = dot_snippet(ty).ok_or_else(|| GpuError::Unsupported {
            ty,
            reason: "no 8-bit-activation mat-vec for this type".into(),
        })?;
        let wg = sh.slots * sh.lanes;
        let sgred = sh.lanes > 1 && self.subgroup_size() == Some(sh.lanes);
        let name = format!("matvec_x8/{ty}/{}", epilogue.name());
        self.pipeline(&Shader {
            name: &name,
            pieces: &[
                dot,
                MATMUL_PARAMS,
                MATVEC,
                if sgred { SG_ON } else { SG_OFF },
                epilogue.source(),
            ],
            ty: None,
            consts: &[
                ("WG", wg),
                ("ROWS", sh.slots),
                ("LANES", sh.lanes),
                ("RPT", sh.rpt),
                (
                    "RED",
                    if sh.lanes > 1 && !sgred {
                        wg * sh.rpt
                    } else {
                        1
                    },
                ),
                ("SGRED", sgred as u32),
                ("PAIR", if epilogue.pairs() { 2 } else { 1 }),
            ],
            slots,
        })
    }

    /// A buffer for the quantized form of one x row of `cols` elements.
    pub(super) fn x8_buffer(&self, cols: usize) -> wgpu::Buffer {
        self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("x8"),
            size: (x8_units(cols) * 16) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// Adds the dispatch quantizing the x row of `input` (`cols` wide, `cap`
    /// token rows) into `xq`: token 0 in steps of one token, or the last
    /// token of any step with `last_only`.
    pub(super) fn quantize_x8_dispatch(
        &self,
        b: &mut OpBuilder<'_>,
        input: MatIn<'_>,
        xq: &wgpu::Buffer,
        cols: usize,
        cap: usize,
        last_only: bool,
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
        let max_tokens = if last_only { u32::MAX } else { 1 };
        b.dispatch(
            vec![Variant::single(pipeline)],
            &params,
            &[&input.x.buffer, &nw, xq],
            Grid::SingleUpTo { max_tokens },
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
        /// its own: the x row of `input` (`cols` wide; token 0 in one-token
        /// steps, or the last token with `last_only`) into `xq`, which holds
        /// at least `4 * x8_units(cols)` words (read them as `u32`).
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
            if xq.len < 4 * x8_units(cols) {
                return Err(invalid(format!("quantize_x8: xq of {}", xq.len)));
            }
            let cap = input.x.len / cols;
            self.build_op(step, cap, |b| {
                self.quantize_x8_dispatch(b, input, &xq.buffer, cols, cap, last_only)
            })
        }
    }
}
