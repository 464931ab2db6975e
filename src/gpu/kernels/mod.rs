//! The compute kernels: pipelines (compiled once per shader variant and
//! cached, see `pipeline`), and [`Op`]s, which bind them to buffers once
//! and are recorded every step. One file per kernel family; every wrapper
//! validates its arguments and builds its op through [`Kernels::build_op`].

mod argmax;
mod attention;
mod elementwise;
mod matmul;
mod op;
mod pipeline;

#[cfg(feature = "testing")]
pub use elementwise::rope_inv_freq;
pub use matmul::{MatIn, MatOut, RopeKv};
#[cfg(feature = "testing")]
pub use matmul::{X8Times, X8Timing, X8Use, has_x8, x8_units};
#[cfg(feature = "testing")]
pub use op::DispatchInfo;
pub use op::Op;

use super::{Gpu, GpuError, QMatrix, Step};
use crate::quant::GgmlType;
use op::{Dispatch, Grid, Variant};
use pipeline::{Access, Shader};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// Owns the pipelines (compiled lazily, once per variant) and builds [`Op`]s.
pub struct Kernels {
    gpu: Arc<Gpu>,
    layouts: Mutex<HashMap<Vec<Access>, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
    /// Per weight type: where the model load measured 8-bit activations
    /// faster (see `matmul::choose`).
    x8_choice: Mutex<HashMap<GgmlType, matmul::X8Use>>,
    /// The quantized activations of the 8-bit matmuls (see `x8_buffer`).
    x8_scratch: Mutex<Option<wgpu::Buffer>>,
}

fn invalid(msg: impl Into<String>) -> GpuError {
    GpuError::Invalid(msg.into())
}

/// Errors if two of the buffers are the same (a buffer can't be bound both
/// read-only and writable in one dispatch).
fn distinct(bufs: &[(&str, &wgpu::Buffer)]) -> Result<(), GpuError> {
    for (i, a) in bufs.iter().enumerate() {
        for b in &bufs[i + 1..] {
            if a.1 == b.1 {
                return Err(invalid(format!(
                    "{} and {} must be different buffers",
                    a.0, b.0
                )));
            }
        }
    }
    Ok(())
}

fn to_u32(v: usize, what: &str) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| invalid(format!("{what} = {v} is too large")))
}

/// An op under construction (see [`Kernels::build_op`]).
struct OpBuilder<'a> {
    kernels: &'a Kernels,
    step: &'a Step,
    dispatches: Vec<Dispatch>,
    owned: Vec<wgpu::Buffer>,
    /// Most key splits (attention).
    max_splits: u32,
}

impl OpBuilder<'_> {
    /// Adds a dispatch of `variants` (pipelines of one kernel) with a
    /// uniform of the parameter words `params` and the buffers `bufs` in the
    /// kernel's slot order.
    fn dispatch(
        &mut self,
        variants: Vec<Variant>,
        params: &[u32],
        bufs: &[&wgpu::Buffer],
        grid: Grid,
    ) -> Result<(), GpuError> {
        let first = variants
            .first()
            .ok_or_else(|| invalid("a dispatch without a pipeline"))?;
        // Uniforms are read in 16-byte units: pad the words.
        let mut words = params.to_vec();
        words.resize(params.len().next_multiple_of(4).max(4), 0);
        let u = self.kernels.buffer_init(
            "op params",
            bytemuck::cast_slice(&words),
            wgpu::BufferUsages::UNIFORM,
        );
        let bind_group = self.kernels.bind(&first.pipeline, self.step, &u, bufs)?;
        self.dispatches.push(Dispatch {
            bind_group,
            variants,
            grid,
        });
        self.owned.push(u);
        Ok(())
    }

    /// Keeps `buf` alive as long as the op.
    fn keep(&mut self, buf: wgpu::Buffer) {
        self.owned.push(buf);
    }
}

impl Kernels {
    pub fn new(gpu: &Arc<Gpu>) -> Result<Kernels, GpuError> {
        Ok(Kernels {
            gpu: gpu.clone(),
            layouts: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
            x8_choice: Mutex::new(HashMap::new()),
            x8_scratch: Mutex::new(None),
        })
    }

    /// Makes an op of `cap` token rows from the dispatches `f` adds, all
    /// inside one validation error scope.
    fn build_op(
        &self,
        step: &Step,
        cap: usize,
        f: impl FnOnce(&mut OpBuilder<'_>) -> Result<(), GpuError>,
    ) -> Result<Op, GpuError> {
        self.gpu.scoped(|| {
            let mut b = OpBuilder {
                kernels: self,
                step,
                dispatches: Vec::new(),
                owned: Vec::new(),
                max_splits: 1,
            };
            f(&mut b)?;
            Ok(Op {
                dispatches: b.dispatches,
                cap: cap.min(u32::MAX as usize) as u32,
                max_dim: self.gpu.limits.max_compute_workgroups_per_dimension,
                max_splits: b.max_splits,
                _owned: b.owned,
            })
        })
    }

    /// An op of one dispatch of the single-variant kernel `shader`.
    fn simple_op(
        &self,
        step: &Step,
        cap: usize,
        shader: &Shader<'_>,
        params: &[u32],
        bufs: &[&wgpu::Buffer],
        grid: Grid,
    ) -> Result<Op, GpuError> {
        self.build_op(step, cap, |b| {
            let pipeline = self.pipeline(shader)?;
            b.dispatch(vec![Variant::single(pipeline)], params, bufs, grid)
        })
    }

    /// A buffer holding `data`.
    fn buffer_init(&self, label: &str, data: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage,
            })
    }

    /// A read-only storage buffer of f32 (tables such as RoPE frequencies).
    fn table_f32(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        self.buffer_init(
            label,
            bytemuck::cast_slice(data),
            wgpu::BufferUsages::STORAGE,
        )
    }

    /// The largest power of two <= `want` that the device allows as a
    /// workgroup size.
    fn wg(&self, want: u32) -> u32 {
        let l = &self.gpu.limits;
        let max = want
            .min(l.max_compute_invocations_per_workgroup)
            .min(l.max_compute_workgroup_size_x)
            .max(1);
        1 << (31 - max.leading_zeros())
    }

    fn check_buffer(&self, what: &str, b: &wgpu::Buffer) -> Result<(), GpuError> {
        self.gpu.check_binding(what, b.size())
    }

    /// The chunks (see `quant::repack`) per row of `w`.
    fn chunk_cols(&self, w: &QMatrix) -> Result<u32, GpuError> {
        let ch = w.layout.chunk_elems;
        if !w.cols.is_multiple_of(ch) {
            return Err(GpuError::Unsupported {
                ty: w.ty,
                reason: format!("kernels need a multiple of {ch} columns, got {}", w.cols),
            });
        }
        to_u32(w.cols / ch, "chunks per row")
    }
}
