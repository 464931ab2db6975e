//! The matmul kernel variants: the shape choice per adapter (see
//! `shaders/matmul.wgsl`) and the pipeline of each shape.

use super::super::op::Variant;
use super::super::pipeline::{Shader, Slot};
use super::super::{Kernels, invalid};
use super::MATMUL_SLOTS;
use super::epilogue::Epilogue;
use super::x8::{MATMUL_PARAMS, MATMUL_PARTS, X8Use, XQ_SLOT};
use crate::gpu::{GpuError, QMatrix};

const MATMUL: &str = include_str!("../../../../shaders/matmul.wgsl");
const MATMUL_X_PLAIN: &str = include_str!("../../../../shaders/matmul_x_plain.wgsl");
const MATMUL_X_NORM: &str = include_str!("../../../../shaders/matmul_x_norm.wgsl");
pub(super) const SG_ON: &str = "fn sg_add(v: f32) -> f32 {\n    return subgroupAdd(v);\n}\n\
fn sg_shuffle4(v: vec4<f32>, i: u32) -> vec4<f32> {\n    return subgroupShuffle(v, i);\n}\n";
pub(super) const SG_OFF: &str = "fn sg_add(v: f32) -> f32 {\n    return v;\n}\n\
fn sg_shuffle4(v: vec4<f32>, i: u32) -> vec4<f32> {\n    return v;\n}\n";

/// Tokens per invocation of the batched (prefill) matmul variant on GPUs.
const PREFILL_TT: u32 = 8;

/// The shape of one matmul variant.
#[derive(Clone, Copy, Debug)]
pub(super) struct MatShape {
    /// Row slots per workgroup.
    pub slots: u32,
    /// Threads per row slot.
    pub lanes: u32,
    /// Rows per slot.
    pub rpt: u32,
    /// Tokens per invocation.
    pub tt: u32,
    /// Loop order: x chunks kept in registers across rows.
    x_stationary: bool,
}

impl Kernels {
    /// The subgroup size when subgroups are on and the size is fixed.
    pub(super) fn subgroup_size(&self) -> Option<u32> {
        let i = &self.gpu.info;
        (self.gpu.subgroups && i.subgroup_min_size == i.subgroup_max_size)
            .then_some(i.subgroup_min_size)
    }

    /// The matmul variants (used from `min_tokens` tokens on) for this
    /// adapter; `pair`: the epilogue takes rows in pairs (RPT even).
    ///
    /// CPU-like adapters (lavapipe): a workgroup runs on one CPU thread with
    /// its invocations in SIMD lanes, and every storage load is a per-lane
    /// scalar load, so what counts is loads per multiply-add: one thread per
    /// 8 rows (the x chunk loaded once for 8 rows) decodes best, and 16 rows
    /// x 4 tokens per thread gives batches ~2.5x the per-token speed.
    /// GPUs get 32 lanes per row (coalesced 16-byte loads across lanes, see
    /// `quant::repack`) and, batched, 8 tokens per dequantized chunk.
    fn matmul_shapes(&self, last_only: bool, pair: bool) -> Vec<(u32, MatShape)> {
        let (decode, batch) = if self.gpu.thread_per_row {
            let slots = self.wg(16);
            (
                MatShape {
                    slots,
                    lanes: 1,
                    rpt: 8,
                    tt: 1,
                    x_stationary: true,
                },
                MatShape {
                    slots,
                    lanes: 1,
                    rpt: 16,
                    tt: 4,
                    x_stationary: true,
                },
            )
        } else {
            // Lanes per row: one subgroup where its size is fixed (the
            // partial sums then meet with subgroupAdd), else 32.
            let wg = self.wg(256);
            let lanes = self.subgroup_size().unwrap_or(32).min(wg);
            let slots = wg / lanes;
            // Row pairs (RoPE, SwiGLU epilogues) take two rows per slot;
            // the batched variant then takes half the tokens, keeping the
            // register tile at 8 sums.
            let rpt = if pair { 2 } else { 1 };
            (
                MatShape {
                    slots,
                    lanes,
                    rpt,
                    tt: 1,
                    x_stationary: true,
                },
                MatShape {
                    slots,
                    lanes,
                    rpt,
                    tt: PREFILL_TT / rpt,
                    x_stationary: false,
                },
            )
        };
        if last_only {
            vec![(1, decode)]
        } else {
            vec![(1, decode), (2, batch)]
        }
    }

    /// The variants (pipelines) of a matmul of `w` with an RMSNorm prologue
    /// or not (`normed`) and `epilogue`; the shapes `x8` names use 8-bit
    /// activations (and then every variant binds their x buffer).
    pub(super) fn matmul_variants(
        &self,
        w: &QMatrix,
        normed: bool,
        epilogue: Epilogue,
        last_only: bool,
        x8: X8Use,
    ) -> Result<Vec<Variant>, GpuError> {
        let pair = epilogue.pairs();
        let name = format!(
            "matmul/{}/{}",
            if normed { "norm" } else { "plain" },
            epilogue.name()
        );
        let x8_slot: &[Slot] = if x8.any() { &[XQ_SLOT] } else { &[] };
        let slots: Vec<Slot> = MATMUL_SLOTS
            .iter()
            .chain(epilogue.slots())
            .chain(x8_slot)
            .copied()
            .collect();
        let mut variants = Vec::new();
        for (min_tokens, sh) in self.matmul_shapes(last_only, pair) {
            if (min_tokens == 1 && x8.decode) || (min_tokens > 1 && x8.prefill) {
                variants.push(Variant {
                    min_tokens,
                    tokens_per_group: sh.tt,
                    rows_per_group: sh.slots * sh.rpt,
                    pipeline: self.x8_pipeline(w.ty, sh, epilogue, &slots)?,
                });
                continue;
            }
            let wg = sh.slots * sh.lanes;
            let acc = sh.rpt * sh.tt;
            let sgred = sh.lanes > 1 && self.subgroup_size() == Some(sh.lanes);
            // x sharing through subgroups: one thread per row slot on
            // CPU-like adapters with a fixed subgroup size.
            let xsg = match self.subgroup_size() {
                Some(sg) if self.gpu.thread_per_row && sh.lanes == 1 && wg % sg == 0 => sg,
                _ => 0,
            };
            let cv = (w.layout.chunk_elems / 4) as u32;
            let pipeline = self.pipeline(&Shader {
                name: &name,
                pieces: &[
                    MATMUL_PARAMS,
                    MATMUL,
                    MATMUL_PARTS,
                    if sgred || xsg > 0 { SG_ON } else { SG_OFF },
                    if normed {
                        MATMUL_X_NORM
                    } else {
                        MATMUL_X_PLAIN
                    },
                    epilogue.source(),
                ],
                ty: Some(w.ty),
                consts: &[
                    ("WG", wg),
                    ("ROWS", sh.slots),
                    ("LANES", sh.lanes),
                    ("RPT", sh.rpt),
                    ("TT", sh.tt),
                    ("ACC", acc),
                    ("XSTAT", sh.x_stationary as u32),
                    ("RED", if sh.lanes > 1 && !sgred { wg * acc } else { 1 }),
                    ("SGRED", sgred as u32),
                    ("PAIR", if pair { 2 } else { 1 }),
                    ("XSG", xsg),
                    (
                        "XN",
                        if xsg > 0 {
                            (cv * sh.tt).div_ceil(xsg)
                        } else {
                            1
                        },
                    ),
                ],
                slots: &slots,
            })?;
            variants.push(Variant {
                min_tokens,
                tokens_per_group: sh.tt,
                rows_per_group: sh.slots * sh.rpt,
                pipeline,
            });
        }
        if variants.is_empty() {
            return Err(invalid("matmul: no variant"));
        }
        Ok(variants)
    }
}
