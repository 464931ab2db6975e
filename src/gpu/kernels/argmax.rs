//! Greedy sampling on the GPU: the index of the largest logit.

use super::op::Grid;
use super::pipeline::{Shader, Slot};
use super::{Kernels, distinct, invalid, to_u32};
use crate::gpu::{GpuError, Op, Step, Tensor};

const ARGMAX: &str = include_str!("../../../shaders/argmax.wgsl");
const ARGMAX_SLOTS: &[Slot] = &[Slot::read("LOGITS"), Slot::write("OUT")];

impl Kernels {
    /// `out[0]` (u32) = the index of the largest of `logits[0..n]`; ties go
    /// to the lowest index, NaNs are skipped. Independent of `n_tokens`
    /// (recorded whenever `n_tokens > 0`).
    pub fn argmax(
        &self,
        step: &Step,
        logits: &Tensor,
        n: usize,
        out: &wgpu::Buffer,
    ) -> Result<Op, GpuError> {
        distinct(&[("logits", &logits.buffer), ("out", out)])?;
        self.check_buffer("out", out)?;
        if n == 0 || n > logits.len || out.size() < 4 {
            return Err(invalid(format!(
                "argmax: n {n}, logits of {}, out of {} bytes",
                logits.len,
                out.size()
            )));
        }
        let shader = Shader {
            name: "argmax",
            pieces: &[ARGMAX],
            ty: None,
            consts: &[("WG", self.wg(256))],
            slots: ARGMAX_SLOTS,
        };
        let params = [to_u32(n, "n")?];
        let bufs = [&logits.buffer, out];
        // No token rows of its own: any n_tokens > 0 records it.
        let cap = u32::MAX as usize;
        self.simple_op(step, cap, &shader, &params, &bufs, Grid::Single)
    }
}
