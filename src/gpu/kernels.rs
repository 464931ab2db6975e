//! The compute kernels: pipelines (compiled once per shader variant and
//! cached), and [`Op`]s, which bind them to buffers once and are recorded
//! every step.

use super::{Gpu, GpuError, QMatrix, Step, Tensor};
use crate::quant::GgmlType;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const MATMUL: &str = include_str!("../../shaders/matmul.wgsl");
const EMBED: &str = include_str!("../../shaders/embed.wgsl");
const RMSNORM: &str = include_str!("../../shaders/rmsnorm.wgsl");
const ROPE: &str = include_str!("../../shaders/rope.wgsl");
const KV_STORE: &str = include_str!("../../shaders/kv_store.wgsl");
const ATTENTION: &str = include_str!("../../shaders/attention.wgsl");
const SILU_MUL: &str = include_str!("../../shaders/silu_mul.wgsl");
const ADD: &str = include_str!("../../shaders/add.wgsl");
const ARGMAX: &str = include_str!("../../shaders/argmax.wgsl");

/// The weight-decoding snippet of a type (see `quant::repack`).
fn type_snippet(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::F32 => include_str!("../../shaders/q_f32.wgsl"),
        GgmlType::F16 => include_str!("../../shaders/q_f16.wgsl"),
        GgmlType::Q8_0 => include_str!("../../shaders/q_q8_0.wgsl"),
        GgmlType::Q4_0 => include_str!("../../shaders/q_q4_0.wgsl"),
        GgmlType::Q4_1 => include_str!("../../shaders/q_q4_1.wgsl"),
        _ => return None,
    })
}

/// Tokens per invocation of the batched (prefill) matmul variant on GPUs.
const PREFILL_TT: u32 = 8;

/// The shape of one matmul variant (see `shaders/matmul.wgsl`).
#[derive(Clone, Copy, Debug)]
struct MatShape {
    /// Row slots per workgroup.
    slots: u32,
    /// Threads per row slot.
    lanes: u32,
    /// Rows per slot.
    rpt: u32,
    /// Tokens per invocation.
    tt: u32,
    /// Loop order: x chunks kept in registers across rows.
    x_stationary: bool,
}
/// Attention: threads per workgroup (keys per tile).
const ATTN_WG: u32 = 64;
/// Attention: the largest head_dim (output dims per thread <= 8).
const ATTN_MAX_HEAD_DIM: usize = 512;

/// Kinds of bindings, in binding order after the step uniform (binding 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Bind {
    /// uniform
    U,
    /// read-only storage
    R,
    /// read-write storage
    W,
}

use Bind::{R, U, W};

/// How many workgroups a dispatch needs for `n` tokens.
#[derive(Clone, Copy, Debug)]
enum Grid {
    /// x (folded into z) = groups of the variant's `rows_per_group` of
    /// `rows`; y = groups of its `tokens_per_group` tokens (or 1).
    Rows { rows: u32, last_only: bool },
    /// A linear range of `items_per_token * n` invocations, `wg` per group,
    /// folded into (x, y).
    Linear { items_per_token: u64, wg: u32 },
    /// (x, n).
    PerToken { x: u32 },
    /// One workgroup.
    Single,
}

fn fold(groups: u64, max: u32) -> (u32, u32) {
    let max = max.max(1) as u64;
    if groups <= max {
        (groups as u32, 1)
    } else {
        (max as u32, groups.div_ceil(max).min(u32::MAX as u64) as u32)
    }
}

struct Variant {
    /// Used when n_tokens >= this (the last matching variant wins).
    min_tokens: u32,
    tokens_per_group: u32,
    rows_per_group: u32,
    pipeline: wgpu::ComputePipeline,
}

struct Dispatch {
    bind_group: wgpu::BindGroup,
    variants: Vec<Variant>,
    grid: Grid,
}

/// A recorded op: one or more dispatches (a pipeline, a bind group created at
/// build time, and a rule for the workgroup count), recorded every step with
/// [`Op::record`].
pub struct Op {
    name: &'static str,
    dispatches: Vec<Dispatch>,
    cap: u32,
    max_dim: u32,
    // Buffers the op created (parameters, tables), kept with it.
    _owned: Vec<wgpu::Buffer>,
}

impl Op {
    /// Records the op for a step of `n_tokens` tokens. `n_tokens` must equal
    /// the value written to the [`Step`] for this submit; it is clamped to
    /// [`Op::max_tokens`], the rows the op's buffers hold.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        let n = n_tokens.min(self.cap);
        if n == 0 {
            return;
        }
        for d in &self.dispatches {
            let Some(v) = d.variants.iter().rev().find(|v| v.min_tokens <= n) else {
                continue;
            };
            let (x, y, z) = match d.grid {
                Grid::Rows { rows, last_only } => {
                    let groups = rows.div_ceil(v.rows_per_group);
                    let (x, z) = fold(groups as u64, self.max_dim);
                    let y = if last_only {
                        1
                    } else {
                        n.div_ceil(v.tokens_per_group)
                    };
                    (x, y, z)
                }
                Grid::Linear {
                    items_per_token,
                    wg,
                } => {
                    let total = (n as u64 * items_per_token).div_ceil(wg as u64);
                    let (x, y) = fold(total, self.max_dim);
                    (x, y, 1)
                }
                Grid::PerToken { x } => (x, n, 1),
                Grid::Single => (1, 1, 1),
            };
            if x == 0 || y == 0 || z == 0 {
                continue;
            }
            pass.set_pipeline(&v.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(x, y, z);
        }
    }

    /// The most token rows this op handles (its buffers' capacity).
    pub fn max_tokens(&self) -> u32 {
        self.cap
    }

    /// Dispatches recorded per step (one per weight part for matmuls).
    pub fn n_dispatches(&self) -> usize {
        self.dispatches.len()
    }

    /// The kernel's name ("matmul", "attention", ...).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Owns the pipelines (compiled lazily, once per variant) and builds [`Op`]s.
pub struct Kernels {
    gpu: Arc<Gpu>,
    layouts: Mutex<HashMap<Vec<Bind>, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
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

fn params(words: &[u32]) -> Vec<u8> {
    let mut w = words.to_vec();
    w.resize(words.len().next_multiple_of(4).max(4), 0);
    bytemuck::cast_slice(&w).to_vec()
}

impl Kernels {
    pub fn new(gpu: &Arc<Gpu>) -> Result<Kernels, GpuError> {
        Ok(Kernels {
            gpu: gpu.clone(),
            layouts: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
        })
    }

    /// The GPU the kernels run on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
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

    fn layout(&self, sig: &[Bind]) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        let mut map = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(sig.to_vec())
            .or_insert_with(|| {
                let entries: Vec<wgpu::BindGroupLayoutEntry> = std::iter::once(U)
                    .chain(sig.iter().copied())
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                        binding: i as u32,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: match b {
                                U => wgpu::BufferBindingType::Uniform,
                                R => wgpu::BufferBindingType::Storage { read_only: true },
                                W => wgpu::BufferBindingType::Storage { read_only: false },
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect();
                let bgl =
                    self.gpu
                        .device
                        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                            label: Some("rewind"),
                            entries: &entries,
                        });
                let pl = self
                    .gpu
                    .device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some("rewind"),
                        bind_group_layouts: &[Some(&bgl)],
                        immediate_size: 0,
                    });
                (bgl, pl)
            })
            .clone()
    }

    /// The pipeline of `kernel` for weight type `ty` with the generated
    /// constants `consts`, compiled on first use.
    fn pipeline(
        &self,
        name: &str,
        kernel: &str,
        ty: Option<GgmlType>,
        consts: &[(&str, u32)],
        sig: &[Bind],
    ) -> Result<(wgpu::ComputePipeline, wgpu::BindGroupLayout), GpuError> {
        let (bgl, pl) = self.layout(sig);
        let key = format!("{name}/{ty:?}/{consts:?}");
        if let Some(p) = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok((p.clone(), bgl));
        }
        let mut src = String::new();
        for (k, v) in consts {
            src.push_str(&format!("const {k}: u32 = {v}u;\n"));
        }
        src.push_str(COMMON);
        if let Some(ty) = ty {
            src.push_str(type_snippet(ty).ok_or_else(|| GpuError::Unsupported {
                ty,
                reason: "no GPU kernel for this type yet".into(),
            })?);
        }
        src.push_str(kernel);
        let device = &self.gpu.device;
        let pipeline = self.gpu.scoped(|| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&key),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
            Ok(
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&key),
                    layout: Some(&pl),
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                }),
            )
        })?;
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, pipeline.clone());
        Ok((pipeline, bgl))
    }

    fn uniform(&self, data: &[u8]) -> wgpu::Buffer {
        self.gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("op params"),
                contents: data,
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    fn bind(
        &self,
        bgl: &wgpu::BindGroupLayout,
        step: &Step,
        bufs: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(&step.buffer)
            .chain(bufs.iter().copied())
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("op"),
                layout: bgl,
                entries: &entries,
            })
    }

    fn op(
        &self,
        name: &'static str,
        cap: usize,
        dispatches: Vec<Dispatch>,
        owned: Vec<wgpu::Buffer>,
    ) -> Op {
        Op {
            name,
            dispatches,
            cap: cap.min(u32::MAX as usize) as u32,
            max_dim: self.gpu.limits.max_compute_workgroups_per_dimension,
            _owned: owned,
        }
    }

    fn check_buffer(&self, what: &str, b: &wgpu::Buffer) -> Result<(), GpuError> {
        self.gpu.check_binding(what, b.size())
    }

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
        self.gpu.scoped(|| {
            let (pipe, bgl) = self.pipeline(
                "embed",
                EMBED,
                Some(table.ty),
                &[("WG", wg)],
                &[U, R, R, R, W],
            )?;
            let mut dispatches = Vec::new();
            let mut owned = Vec::new();
            for (i, part) in table.parts.iter().enumerate() {
                let u = self.uniform(&params(&[
                    to_u32(part.rows, "rows")?,
                    to_u32(part.row0, "row0")?,
                    cpr,
                    to_u32(table.rows, "rows")?,
                    to_u32(cap, "cap")?,
                    (i == 0) as u32,
                ]));
                let bg = self.bind(&bgl, step, &[&u, &part.qs, &part.sc, tokens, &out.buffer]);
                dispatches.push(Dispatch {
                    bind_group: bg,
                    variants: vec![Variant {
                        min_tokens: 1,
                        tokens_per_group: 1,
                        rows_per_group: 1,
                        pipeline: pipe.clone(),
                    }],
                    grid: Grid::Linear {
                        items_per_token: cpr as u64,
                        wg,
                    },
                });
                owned.push(u);
            }
            Ok(self.op("embed", cap, dispatches, owned))
        })
    }

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
        self.matmul_impl(step, w, x, y, accumulate, false)
    }

    /// Like [`Kernels::matmul`] for the last token only: `y[r] = sum_c
    /// W[r][c] * x[n_tokens - 1][c]` (the logits of the last token).
    pub fn matmul_last(
        &self,
        step: &Step,
        w: &QMatrix,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<Op, GpuError> {
        self.matmul_impl(step, w, x, y, false, true)
    }

    /// The matmul variants (used from `min_tokens` tokens on) for this
    /// adapter. Measured on lavapipe (4096x4096 Q4_1; CPU-like adapters
    /// gather per SIMD lane, so loads shared by many rows/tokens win): one
    /// thread per 8 rows x 1 token decodes ~2.5x faster than one thread per
    /// row, and 16 rows x 4 tokens gives batches ~2.5x the per-token speed.
    /// GPUs get 32 lanes per row (coalesced 16-byte loads across lanes, see
    /// `quant::repack`) and, batched, 8 tokens per dequantized chunk.
    fn matmul_shapes(&self, last_only: bool) -> Vec<(u32, MatShape)> {
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
            let wg = self.wg(256);
            let lanes = wg.min(32);
            let slots = wg / lanes;
            (
                MatShape {
                    slots,
                    lanes,
                    rpt: 1,
                    tt: 1,
                    x_stationary: true,
                },
                MatShape {
                    slots,
                    lanes,
                    rpt: 1,
                    tt: PREFILL_TT,
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

    fn matmul_impl(
        &self,
        step: &Step,
        w: &QMatrix,
        x: &Tensor,
        y: &Tensor,
        accumulate: bool,
        last_only: bool,
    ) -> Result<Op, GpuError> {
        let cpr = self.chunk_cols(w)?;
        distinct(&[("x", &x.buffer), ("y", &y.buffer)])?;
        if x.len < w.cols || y.len < w.rows {
            return Err(invalid(format!(
                "matmul {}x{}: x has {} elements, y {}",
                w.rows, w.cols, x.len, y.len
            )));
        }
        let cap = if last_only {
            x.len / w.cols
        } else {
            (x.len / w.cols).min(y.len / w.rows)
        };
        let shapes = self.matmul_shapes(last_only);
        let mut variants = Vec::new();
        let mut bgl = None;
        for (min_tokens, sh) in shapes {
            let wg = sh.slots * sh.lanes;
            let acc = sh.rpt * sh.tt;
            let (pipeline, l) = self.pipeline(
                "matmul",
                MATMUL,
                Some(w.ty),
                &[
                    ("WG", wg),
                    ("ROWS", sh.slots),
                    ("LANES", sh.lanes),
                    ("RPT", sh.rpt),
                    ("TT", sh.tt),
                    ("ACC", acc),
                    ("XSTAT", sh.x_stationary as u32),
                    ("RED", if sh.lanes > 1 { wg * acc } else { 1 }),
                ],
                &[U, R, R, R, W],
            )?;
            bgl = Some(l);
            variants.push((min_tokens, sh, pipeline));
        }
        let bgl = bgl.expect("at least one variant");
        self.gpu.scoped(|| {
            let mut dispatches = Vec::new();
            let mut owned = Vec::new();
            for part in &w.parts {
                let u = self.uniform(&params(&[
                    to_u32(part.rows, "rows")?,
                    to_u32(part.row0, "row0")?,
                    cpr,
                    to_u32(w.cols / 4, "cols")?,
                    to_u32(w.rows, "rows")?,
                    accumulate as u32,
                    last_only as u32,
                    to_u32(cap, "cap")?,
                ]));
                let bg = self.bind(&bgl, step, &[&u, &part.qs, &part.sc, &x.buffer, &y.buffer]);
                dispatches.push(Dispatch {
                    bind_group: bg,
                    variants: variants
                        .iter()
                        .map(|(min_tokens, sh, p)| Variant {
                            min_tokens: *min_tokens,
                            tokens_per_group: sh.tt,
                            rows_per_group: sh.slots * sh.rpt,
                            pipeline: p.clone(),
                        })
                        .collect(),
                    grid: Grid::Rows {
                        rows: to_u32(part.rows, "rows")?,
                        last_only,
                    },
                });
                owned.push(u);
            }
            Ok(self.op(
                if last_only { "matmul_last" } else { "matmul" },
                cap,
                dispatches,
                owned,
            ))
        })
    }

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
        let wg = self.wg(256);
        self.gpu.scoped(|| {
            let (pipe, bgl) =
                self.pipeline("rmsnorm", RMSNORM, None, &[("WG", wg)], &[U, R, R, W])?;
            let u = self.uniform(&params(&[
                to_u32(dim, "dim")?,
                eps.to_bits(),
                to_u32(cap, "cap")?,
            ]));
            let bg = self.bind(&bgl, step, &[&u, &x.buffer, &weight.buffer, &out.buffer]);
            Ok(self.op(
                "rmsnorm",
                cap,
                vec![single_variant(bg, pipe, Grid::PerToken { x: 1 })],
                vec![u],
            ))
        })
    }

    /// Rotary embedding in place (ggml's normal mode, used by the llama
    /// arch): row `t` has position `pos0 + t`; in every head the pairs
    /// `(x[2i], x[2i+1])`, `2i < rope_dim`, are rotated by
    /// `pos * freq_base^(-2i/rope_dim)`; dims past `rope_dim` are untouched.
    pub fn rope(
        &self,
        step: &Step,
        x: &Tensor,
        n_heads: usize,
        head_dim: usize,
        rope_dim: usize,
        freq_base: f32,
    ) -> Result<Op, GpuError> {
        if rope_dim == 0 || !rope_dim.is_multiple_of(2) || freq_base.is_nan() || freq_base <= 0.0 {
            return Err(invalid(format!(
                "rope: rope_dim {rope_dim}, base {freq_base}"
            )));
        }
        let inv_freq: Vec<f32> = (0..rope_dim / 2)
            .map(|i| (freq_base as f64).powf(-2.0 * i as f64 / rope_dim as f64) as f32)
            .collect();
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
        self.gpu.scoped(|| {
            let (pipe, bgl) = self.pipeline("rope", ROPE, None, &[("WG", wg)], &[U, W, R])?;
            let u = self.uniform(&params(&[
                to_u32(n_heads, "n_heads")?,
                to_u32(head_dim, "head_dim")?,
                to_u32(half, "rope_dim")?,
                to_u32(row, "row")?,
                to_u32(cap, "cap")?,
            ]));
            let table = self
                .gpu
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("rope inv_freq"),
                    contents: bytemuck::cast_slice(inv_freq),
                    usage: wgpu::BufferUsages::STORAGE,
                });
            let bg = self.bind(&bgl, step, &[&u, &x.buffer, &table]);
            let grid = Grid::Linear {
                items_per_token: (n_heads * half) as u64,
                wg,
            };
            Ok(self.op(
                "rope",
                cap,
                vec![single_variant(bg, pipe, grid)],
                vec![u, table],
            ))
        })
    }

    /// `k_cache[pos0 + t] = k[t]`, `v_cache[pos0 + t] = v[t]` for `t <
    /// n_tokens`. Caches are `[max_ctx][kv_dim]` f32; rows past the cache are
    /// dropped.
    pub fn kv_store(
        &self,
        step: &Step,
        k: &Tensor,
        v: &Tensor,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
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
        if kv_dim == 0 {
            return Err(invalid("kv_store: kv_dim 0"));
        }
        let cap = (k.len / kv_dim).min(v.len / kv_dim);
        let max_ctx = (k_cache.size().min(v_cache.size()) / 4 / kv_dim as u64) as usize;
        let wg = self.wg(256);
        self.gpu.scoped(|| {
            let (pipe, bgl) =
                self.pipeline("kv_store", KV_STORE, None, &[("WG", wg)], &[U, R, R, W, W])?;
            let u = self.uniform(&params(&[
                to_u32(kv_dim, "kv_dim")?,
                to_u32(max_ctx, "max_ctx")?,
                to_u32(cap, "cap")?,
            ]));
            let bg = self.bind(&bgl, step, &[&u, &k.buffer, &v.buffer, k_cache, v_cache]);
            let grid = Grid::Linear {
                items_per_token: kv_dim as u64,
                wg,
            };
            Ok(self.op(
                "kv_store",
                cap,
                vec![single_variant(bg, pipe, grid)],
                vec![u],
            ))
        })
    }

    /// Causal attention over the cache: query row `t` (position `pos0 + t`)
    /// attends cache rows `0..=pos0 + t`; head `h` uses KV head `h / (n_heads
    /// / n_kv_heads)`; scores are scaled by `1/sqrt(head_dim)`; softmax with
    /// a running maximum. `q`/`out` hold `[max_tokens][n_heads * head_dim]`.
    #[allow(clippy::too_many_arguments)]
    pub fn attention(
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
        if head_dim > ATTN_MAX_HEAD_DIM {
            return Err(invalid(format!(
                "attention: head_dim {head_dim} over {ATTN_MAX_HEAD_DIM}"
            )));
        }
        let max = self.gpu.limits.max_compute_workgroups_per_dimension as usize;
        if n_heads > max {
            return Err(invalid(format!("attention: {n_heads} heads")));
        }
        let row = n_heads * head_dim;
        let kv_dim = n_kv_heads * head_dim;
        let cap = (q.len / row).min(out.len / row).min(max);
        let max_ctx = (k_cache.size().min(v_cache.size()) / 4 / kv_dim as u64) as usize;
        let wg = self.wg(ATTN_WG);
        let dpt = (head_dim as u32).div_ceil(wg);
        self.gpu.scoped(|| {
            let (pipe, bgl) = self.pipeline(
                "attention",
                ATTENTION,
                None,
                &[("WG", wg), ("DPT", dpt), ("QMAX", wg * dpt)],
                &[U, R, R, R, W],
            )?;
            let u = self.uniform(&params(&[
                to_u32(n_heads, "n_heads")?,
                to_u32(head_dim, "head_dim")?,
                to_u32(n_heads / n_kv_heads, "group")?,
                to_u32(kv_dim, "kv_dim")?,
                to_u32(row, "row")?,
                to_u32(max_ctx, "max_ctx")?,
                to_u32(cap, "cap")?,
                (1.0 / (head_dim as f32).sqrt()).to_bits(),
            ]));
            let bg = self.bind(&bgl, step, &[&u, &q.buffer, k_cache, v_cache, &out.buffer]);
            let grid = Grid::PerToken { x: n_heads as u32 };
            Ok(self.op(
                "attention",
                cap,
                vec![single_variant(bg, pipe, grid)],
                vec![u],
            ))
        })
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
        self.gpu.scoped(|| {
            let (pipe, bgl) =
                self.pipeline("silu_mul", SILU_MUL, None, &[("WG", wg)], &[U, R, R, W])?;
            let u = self.uniform(&params(&[to_u32(n, "n")?, to_u32(cap, "cap")?]));
            let bg = self.bind(&bgl, step, &[&u, &gate.buffer, &up.buffer, &out.buffer]);
            let grid = Grid::Linear {
                items_per_token: n as u64,
                wg,
            };
            Ok(self.op(
                "silu_mul",
                cap,
                vec![single_variant(bg, pipe, grid)],
                vec![u],
            ))
        })
    }

    /// `acc += x` over `n_tokens` rows of `n`.
    pub fn add(&self, step: &Step, acc: &Tensor, x: &Tensor, n: usize) -> Result<Op, GpuError> {
        distinct(&[("acc", &acc.buffer), ("x", &x.buffer)])?;
        if n == 0 {
            return Err(invalid("add: n 0"));
        }
        let cap = acc.len.min(x.len) / n;
        let wg = self.wg(256);
        self.gpu.scoped(|| {
            let (pipe, bgl) = self.pipeline("add", ADD, None, &[("WG", wg)], &[U, W, R])?;
            let u = self.uniform(&params(&[to_u32(n, "n")?, to_u32(cap, "cap")?]));
            let bg = self.bind(&bgl, step, &[&u, &acc.buffer, &x.buffer]);
            let grid = Grid::Linear {
                items_per_token: n as u64,
                wg,
            };
            Ok(self.op("add", cap, vec![single_variant(bg, pipe, grid)], vec![u]))
        })
    }

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
        let wg = self.wg(256);
        self.gpu.scoped(|| {
            let (pipe, bgl) = self.pipeline("argmax", ARGMAX, None, &[("WG", wg)], &[U, R, W])?;
            let u = self.uniform(&params(&[to_u32(n, "n")?]));
            let bg = self.bind(&bgl, step, &[&u, &logits.buffer, out]);
            Ok(self.op(
                "argmax",
                u32::MAX as usize,
                vec![single_variant(bg, pipe, Grid::Single)],
                vec![u],
            ))
        })
    }
}

fn single_variant(
    bind_group: wgpu::BindGroup,
    pipeline: wgpu::ComputePipeline,
    grid: Grid,
) -> Dispatch {
    Dispatch {
        bind_group,
        variants: vec![Variant {
            min_tokens: 1,
            tokens_per_group: 1,
            rows_per_group: 1,
            pipeline,
        }],
        grid,
    }
}
