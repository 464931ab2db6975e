//! Shader assembly, binding slots, bind-group layouts and the pipeline
//! cache (a pipeline is compiled once per shader variant).

use super::Kernels;
use crate::gpu::{GpuError, Step};
use crate::quant::GgmlType;

const COMMON: &str = include_str!("../../../shaders/common.wgsl");

/// How a kernel binds a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Access {
    Uniform,
    Read,
    Write,
}

/// A binding slot of a kernel. A kernel's slots are a table: [`STEP`] and
/// [`PARAMS`], then its buffers; a slot's binding index is its position
/// there. The WGSL sources name slots only through the constants
/// `BIND_<name>` generated from the table, and the Rust side binds buffers
/// in table order, so an index is written nowhere else.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    name: &'static str,
    access: Access,
}

impl Slot {
    pub(super) const fn read(name: &'static str) -> Slot {
        Slot {
            name,
            access: Access::Read,
        }
    }

    pub(super) const fn write(name: &'static str) -> Slot {
        Slot {
            name,
            access: Access::Write,
        }
    }
}

/// Binding 0 of every kernel: the [`Step`] uniform (`step` in common.wgsl).
const STEP: Slot = Slot {
    name: "STEP",
    access: Access::Uniform,
};
/// Binding 1 of every kernel: the op's own parameters (`p`).
const PARAMS: Slot = Slot {
    name: "PARAMS",
    access: Access::Uniform,
};

/// The full slot table of a kernel whose buffers are `slots`.
fn slot_table(slots: &[Slot]) -> Vec<Slot> {
    [STEP, PARAMS].iter().chain(slots).copied().collect()
}

/// What a pipeline is compiled from: the generated constants and binding
/// indices, common.wgsl, the weight-decoding snippet of `ty`, then `pieces`.
pub(super) struct Shader<'a> {
    /// With `ty`, `consts` and the slot names, the pipeline's cache key: it
    /// must tell the piece combinations of a kernel apart.
    pub name: &'a str,
    pub pieces: &'a [&'static str],
    pub ty: Option<GgmlType>,
    pub consts: &'a [(&'a str, u32)],
    /// The buffers after the step and parameter uniforms.
    pub slots: &'a [Slot],
}

/// A compiled pipeline and the layout its bind groups follow.
#[derive(Clone)]
pub(super) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    /// The buffers a bind group takes after the two uniforms.
    n_buffers: usize,
}

/// The weight-decoding snippet of a type (see `quant::repack`).
fn type_snippet(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::F32 => include_str!("../../../shaders/q_f32.wgsl"),
        GgmlType::F16 => include_str!("../../../shaders/q_f16.wgsl"),
        GgmlType::Q8_0 => include_str!("../../../shaders/q_q8_0.wgsl"),
        GgmlType::Q4_0 => include_str!("../../../shaders/q_q4_0.wgsl"),
        GgmlType::Q4_1 => include_str!("../../../shaders/q_q4_1.wgsl"),
        GgmlType::BF16 => include_str!("../../../shaders/q_bf16.wgsl"),
        GgmlType::Q5_0 => concat!(
            include_str!("../../../shaders/q_parts.wgsl"),
            include_str!("../../../shaders/q_q5_0.wgsl")
        ),
        GgmlType::Q5_1 => concat!(
            include_str!("../../../shaders/q_parts.wgsl"),
            include_str!("../../../shaders/q_q5_1.wgsl")
        ),
        GgmlType::Q2_K => include_str!("../../../shaders/q_q2_k.wgsl"),
        GgmlType::Q3_K => concat!(
            include_str!("../../../shaders/q_parts.wgsl"),
            include_str!("../../../shaders/q_q3_k.wgsl")
        ),
        GgmlType::Q4_K => concat!(
            include_str!("../../../shaders/q_parts.wgsl"),
            include_str!("../../../shaders/q_q4_k.wgsl")
        ),
        GgmlType::Q5_K => concat!(
            include_str!("../../../shaders/q_parts.wgsl"),
            include_str!("../../../shaders/q_q5_k.wgsl")
        ),
        GgmlType::Q6_K => concat!(
            include_str!("../../../shaders/q_parts.wgsl"),
            include_str!("../../../shaders/q_q6_k.wgsl")
        ),
        _ => return None,
    })
}

impl Kernels {
    /// The bind-group and pipeline layouts of a slot table (shared by all
    /// kernels with the same access pattern).
    fn layouts(&self, table: &[Slot]) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        let access: Vec<Access> = table.iter().map(|s| s.access).collect();
        let mut map = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(access)
            .or_insert_with_key(|access| {
                let entries: Vec<wgpu::BindGroupLayoutEntry> = access
                    .iter()
                    .enumerate()
                    .map(|(i, a)| wgpu::BindGroupLayoutEntry {
                        binding: i as u32,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: match a {
                                Access::Uniform => wgpu::BufferBindingType::Uniform,
                                Access::Read => {
                                    wgpu::BufferBindingType::Storage { read_only: true }
                                }
                                Access::Write => {
                                    wgpu::BufferBindingType::Storage { read_only: false }
                                }
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect();
                let device = &self.gpu.device;
                let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("rewind"),
                    entries: &entries,
                });
                let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some("rewind"),
                    bind_group_layouts: &[Some(&bgl)],
                    immediate_size: 0,
                });
                (bgl, pl)
            })
            .clone()
    }

    /// The pipeline of `shader`, compiled on first use.
    pub(super) fn pipeline(&self, shader: &Shader<'_>) -> Result<Pipeline, GpuError> {
        let table = slot_table(shader.slots);
        let (layout, pl) = self.layouts(&table);
        let names: Vec<&str> = shader.slots.iter().map(|s| s.name).collect();
        let key = format!(
            "{}/{:?}/{:?}/{names:?}",
            shader.name, shader.ty, shader.consts
        );
        let found = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let pipeline = match found {
            Some(p) => p,
            None => {
                let p = self.compile(shader, &table, &key, &pl)?;
                self.pipelines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, p.clone());
                p
            }
        };
        Ok(Pipeline {
            pipeline,
            layout,
            n_buffers: shader.slots.len(),
        })
    }

    fn compile(
        &self,
        shader: &Shader<'_>,
        table: &[Slot],
        key: &str,
        layout: &wgpu::PipelineLayout,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let mut src = String::new();
        for (k, v) in shader.consts {
            src.push_str(&format!("const {k}: u32 = {v}u;\n"));
        }
        for (i, s) in table.iter().enumerate() {
            src.push_str(&format!("const BIND_{}: u32 = {i}u;\n", s.name));
        }
        src.push_str(COMMON);
        if let Some(ty) = shader.ty {
            src.push_str(type_snippet(ty).ok_or_else(|| GpuError::Unsupported {
                ty,
                reason: "no GPU kernel for this type yet".into(),
            })?);
        }
        for piece in shader.pieces {
            src.push_str(piece);
        }
        let device = &self.gpu.device;
        self.gpu.scoped(|| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
            Ok(
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(key),
                    layout: Some(layout),
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                }),
            )
        })
    }

    /// A bind group of `pipeline`'s layout: the step and `params` uniforms,
    /// then `bufs` in the kernel's slot order.
    pub(super) fn bind(
        &self,
        pipeline: &Pipeline,
        step: &Step,
        params: &wgpu::Buffer,
        bufs: &[&wgpu::Buffer],
    ) -> Result<wgpu::BindGroup, GpuError> {
        if bufs.len() != pipeline.n_buffers {
            return Err(GpuError::Invalid(format!(
                "{} buffers for a kernel of {}",
                bufs.len(),
                pipeline.n_buffers
            )));
        }
        let entries: Vec<wgpu::BindGroupEntry> = [&step.buffer, params]
            .into_iter()
            .chain(bufs.iter().copied())
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        Ok(self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("op"),
                layout: &pipeline.layout,
                entries: &entries,
            }))
    }
}
