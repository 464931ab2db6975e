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
const MATMUL_X_PLAIN: &str = include_str!("../../shaders/matmul_x_plain.wgsl");
const MATMUL_X_NORM: &str = include_str!("../../shaders/matmul_x_norm.wgsl");
const MATMUL_OUT_STORE: &str = include_str!("../../shaders/matmul_out_store.wgsl");
const MATMUL_OUT_SWIGLU: &str = include_str!("../../shaders/matmul_out_swiglu.wgsl");
const MATMUL_OUT_ROPE_KV: &str = include_str!("../../shaders/matmul_out_rope_kv.wgsl");
const SG_ON: &str = "fn sg_add(v: f32) -> f32 {\n    return subgroupAdd(v);\n}\n\
fn sg_shuffle4(v: vec4<f32>, i: u32) -> vec4<f32> {\n    return subgroupShuffle(v, i);\n}\n";
const SG_OFF: &str = "fn sg_add(v: f32) -> f32 {\n    return v;\n}\n\
fn sg_shuffle4(v: vec4<f32>, i: u32) -> vec4<f32> {\n    return v;\n}\n";
const EMBED: &str = include_str!("../../shaders/embed.wgsl");
const RMSNORM: &str = include_str!("../../shaders/rmsnorm.wgsl");
const ROPE: &str = include_str!("../../shaders/rope.wgsl");
const KV_STORE: &str = include_str!("../../shaders/kv_store.wgsl");
const ATTENTION: &str = include_str!("../../shaders/attention.wgsl");
const ATTENTION_KV_F32: &str = include_str!("../../shaders/attention_kv_f32.wgsl");
const ATTENTION_KV_F16: &str = include_str!("../../shaders/attention_kv_f16.wgsl");
const ATTENTION_COMBINE: &str = include_str!("../../shaders/attention_combine.wgsl");
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
        GgmlType::BF16 => include_str!("../../shaders/q_bf16.wgsl"),
        GgmlType::Q5_0 => concat!(
            include_str!("../../shaders/q_parts.wgsl"),
            include_str!("../../shaders/q_q5_0.wgsl")
        ),
        GgmlType::Q5_1 => concat!(
            include_str!("../../shaders/q_parts.wgsl"),
            include_str!("../../shaders/q_q5_1.wgsl")
        ),
        GgmlType::Q2_K => include_str!("../../shaders/q_q2_k.wgsl"),
        GgmlType::Q3_K => include_str!("../../shaders/q_q3_k.wgsl"),
        GgmlType::Q4_K => concat!(
            include_str!("../../shaders/q_parts.wgsl"),
            include_str!("../../shaders/q_q4_k.wgsl")
        ),
        GgmlType::Q5_K => concat!(
            include_str!("../../shaders/q_parts.wgsl"),
            include_str!("../../shaders/q_q5_k.wgsl")
        ),
        GgmlType::Q6_K => include_str!("../../shaders/q_q6_k.wgsl"),
        _ => return None,
    })
}

/// The input of a matmul: `x` (`[max_tokens][cols]`), optionally
/// RMS-normalized per row on the fly with the weight `norm.0` and epsilon
/// `norm.1` (fusing an RMSNorm into the matmul that reads its output).
#[derive(Clone, Copy)]
pub struct MatIn<'a> {
    pub x: &'a Tensor,
    pub norm: Option<(&'a Tensor, f32)>,
}

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
    /// `[max_ctx][n_kv_heads * head_dim]` of f32, or of f16 with `kv_f16`.
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    pub kv_f16: bool,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Pair `i` of each head rotates by `pos * inv_freq[i]`
    /// (`rope_dim = 2 * inv_freq.len()`; see [`rope_inv_freq`]).
    pub inv_freq: &'a [f32],
}

/// The inverse RoPE frequencies `base^(-2i/rope_dim)`, `i < rope_dim / 2`.
pub fn rope_inv_freq(rope_dim: usize, freq_base: f32) -> Vec<f32> {
    (0..rope_dim / 2)
        .map(|i| (freq_base as f64).powf(-2.0 * i as f64 / rope_dim as f64) as f32)
        .collect()
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
/// Attention: query rows per thread (a register tile of QR rows x KR keys).
const ATTN_QR: u32 = 4;
/// Attention: keys per thread and key tile (KT = 16 * KR).
const ATTN_KR: u32 = 4;
/// Attention: the largest head_dim (multiples of 8 up to this).
const ATTN_MAX_HEAD_DIM: usize = 256;
/// Attention: a one-token step over at least this many keys per split is
/// spread over several workgroups per head (flash-decoding).
const ATTN_SPLIT_KEYS: usize = 512;
/// Attention: the most key splits.
const ATTN_MAX_SPLITS: u32 = 16;

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
    /// Attention: (KV heads, tiles of the variant's `rows_per_group` query
    /// rows over `n * group`, key splits).
    Attn { kv_heads: u32, group: u32 },
    /// Attention combine: (heads, n, key splits); only with splits > 1.
    Combine { heads: u32 },
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

/// What one recorded dispatch was (for per-kernel profiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchInfo {
    /// Workgroups (x, y, z).
    pub groups: (u32, u32, u32),
}

/// A recorded op: one or more dispatches (a pipeline, a bind group created at
/// build time, and a rule for the workgroup count), recorded every step with
/// [`Op::record`].
pub struct Op {
    name: &'static str,
    dispatches: Vec<Dispatch>,
    cap: u32,
    max_dim: u32,
    /// Most key splits (attention; 1 = never split).
    max_splits: u32,
    // Buffers the op created (parameters, tables), kept with it.
    _owned: Vec<wgpu::Buffer>,
}

impl Op {
    /// Records the op for a step of `n_tokens` tokens. `n_tokens` must equal
    /// the value written to the [`Step`] for this submit; it is clamped to
    /// [`Op::max_tokens`], the rows the op's buffers hold.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        self.record_ctx(pass, n_tokens, 0);
    }

    /// Like [`Op::record`], knowing that the step's cache holds `kv_len`
    /// positions (its `StepParams::kv_len`): attention then splits long
    /// one-token steps over several workgroups per head. `kv_len` only
    /// chooses the split; any value gives the same result.
    pub fn record_ctx(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32, kv_len: u32) {
        for (pipeline, bind_group, groups) in self.plan(n_tokens, kv_len) {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        }
    }

    /// The dispatches [`Op::record_ctx`] records.
    pub fn dispatch_info(&self, n_tokens: u32, kv_len: u32) -> Vec<DispatchInfo> {
        self.plan(n_tokens, kv_len)
            .into_iter()
            .map(|(_, _, groups)| DispatchInfo { groups })
            .collect()
    }

    /// The number of key splits for a step.
    fn splits(&self, n: u32, kv_len: u32) -> u32 {
        if self.max_splits <= 1 || n != 1 {
            return 1;
        }
        (kv_len / ATTN_SPLIT_KEYS as u32).clamp(1, self.max_splits)
    }

    #[allow(clippy::type_complexity)]
    fn plan(
        &self,
        n_tokens: u32,
        kv_len: u32,
    ) -> Vec<(&wgpu::ComputePipeline, &wgpu::BindGroup, (u32, u32, u32))> {
        let mut out = Vec::new();
        let n = n_tokens.min(self.cap);
        if n == 0 {
            return out;
        }
        let splits = self.splits(n, kv_len);
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
                Grid::Attn { kv_heads, group } => {
                    (kv_heads, (n * group).div_ceil(v.rows_per_group), splits)
                }
                Grid::Combine { heads } => {
                    if splits == 1 {
                        continue;
                    }
                    (heads, n, splits)
                }
            };
            if x == 0 || y == 0 || z == 0 {
                continue;
            }
            out.push((&v.pipeline, &d.bind_group, (x, y, z)));
        }
        out
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
        self.pipeline_of(name, &[kernel], ty, consts, sig)
    }

    /// Like [`Kernels::pipeline`] for a kernel made of several source
    /// pieces (concatenated after the type snippet); `name` must tell the
    /// piece combinations apart.
    fn pipeline_of(
        &self,
        name: &str,
        pieces: &[&str],
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
        for piece in pieces {
            src.push_str(piece);
        }
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

    /// A small read-only storage buffer holding `data`.
    fn uniform_storage(&self, data: &[u8]) -> wgpu::Buffer {
        self.gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("op table"),
                contents: data,
                usage: wgpu::BufferUsages::STORAGE,
            })
    }

    fn storage_f32(&self, data: &[f32]) -> wgpu::Buffer {
        self.uniform_storage(bytemuck::cast_slice(data))
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
            max_splits: 1,
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
        self.matmul_fused(
            step,
            &[w],
            MatIn { x, norm: None },
            MatOut::Store { y, accumulate },
            false,
        )
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
        self.matmul_fused(
            step,
            &[w],
            MatIn { x, norm: None },
            MatOut::Store {
                y,
                accumulate: false,
            },
            true,
        )
    }

    /// A matmul over the rows of `ws` stacked (all `cols` wide; one dispatch
    /// per part), reading `input` (optionally RMS-normalized on the fly) and
    /// handing the rows to the epilogue `out`. With `last_only`, only the
    /// last token's x row is used and the result goes to output row 0.
    pub fn matmul_fused(
        &self,
        step: &Step,
        ws: &[&QMatrix],
        input: MatIn<'_>,
        out: MatOut<'_>,
        last_only: bool,
    ) -> Result<Op, GpuError> {
        let Some(first) = ws.first() else {
            return Err(invalid("matmul: no weights"));
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
        let x_cap = x.len / cols;
        let dummy;
        let nw = match input.norm {
            Some((nw, _)) => {
                if nw.len < cols {
                    return Err(invalid(format!(
                        "matmul: norm weight of {} for {cols} columns",
                        nw.len
                    )));
                }
                distinct(&[("x", &x.buffer), ("norm", &nw.buffer)])?;
                &nw.buffer
            }
            None => {
                dummy = self.uniform_storage(&[0u8; 16]);
                &dummy
            }
        };
        let eps = input.norm.map_or(0.0, |(_, e)| e);
        // Epilogue: kind, output buffers, y stride, capacity in tokens,
        // RoPE/KV parameters.
        let mut rope_words = [0u32; 7];
        let mut owned = Vec::new();
        let (kind, pair, outs, y_stride, out_cap): (&str, bool, Vec<&wgpu::Buffer>, usize, usize) =
            match &out {
                MatOut::Store { y, .. } => {
                    distinct(&[("x", &x.buffer), ("y", &y.buffer)])?;
                    if y.len < rows {
                        return Err(invalid(format!(
                            "matmul {rows}x{cols}: y has {} elements",
                            y.len
                        )));
                    }
                    ("store", false, vec![&y.buffer], rows, y.len / rows)
                }
                MatOut::SwiGlu { h } => {
                    distinct(&[("x", &x.buffer), ("h", &h.buffer)])?;
                    if !rows.is_multiple_of(2) || h.len < rows / 2 {
                        return Err(invalid(format!(
                            "matmul swiglu: {rows} rows, h of {}",
                            h.len
                        )));
                    }
                    (
                        "swiglu",
                        true,
                        vec![&h.buffer],
                        rows / 2,
                        h.len / (rows / 2),
                    )
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
                    let elem = if r.kv_f16 { 2 } else { 4 };
                    let max_ctx = r.k_cache.size().min(r.v_cache.size()) / elem / kv_dim as u64;
                    let table = self.storage_f32(if half == 0 { &[0.0] } else { r.inv_freq });
                    rope_words = [
                        to_u32(q_dim, "q_dim")?,
                        to_u32(kv_dim, "kv_dim")?,
                        to_u32(r.head_dim, "head_dim")?,
                        to_u32(half, "rope_dim")?,
                        max_ctx.min(u32::MAX as u64) as u32,
                        r.kv_f16 as u32,
                        0,
                    ];
                    owned.push(table);
                    (
                        "rope_kv",
                        true,
                        vec![&r.q.buffer, r.k_cache, r.v_cache],
                        q_dim,
                        r.q.len / q_dim,
                    )
                }
            };
        if pair {
            let mut off = 0;
            for w in ws {
                let odd = w.parts.iter().any(|p| p.rows % 2 == 1 || p.row0 % 2 == 1);
                if odd || off % 2 == 1 {
                    return Err(invalid(format!(
                        "matmul {kind}: row pairs split across parts ({} rows)",
                        w.rows
                    )));
                }
                off += w.rows;
            }
        }
        let accumulate = matches!(
            out,
            MatOut::Store {
                accumulate: true,
                ..
            }
        );
        let cap = if last_only { x_cap } else { x_cap.min(out_cap) };
        if cap == 0 {
            return Err(invalid("matmul: buffers hold no full row"));
        }
        let pieces_x = if input.norm.is_some() {
            MATMUL_X_NORM
        } else {
            MATMUL_X_PLAIN
        };
        let pieces_out = match kind {
            "store" => MATMUL_OUT_STORE,
            "swiglu" => MATMUL_OUT_SWIGLU,
            _ => MATMUL_OUT_ROPE_KV,
        };
        let name = format!(
            "matmul/{}/{kind}",
            if input.norm.is_some() {
                "norm"
            } else {
                "plain"
            }
        );
        let mut sig = vec![U, R, R, R, R];
        sig.extend(std::iter::repeat_n(W, outs.len()));
        if kind == "rope_kv" {
            sig.push(R);
        }
        let shapes = self.matmul_shapes(last_only, pair);
        // Per weight type: its variants (pipelines) and bind group layout.
        let mut by_type: Vec<(GgmlType, Vec<Variant>, wgpu::BindGroupLayout)> = Vec::new();
        for w in ws {
            if by_type.iter().any(|(t, _, _)| *t == w.ty) {
                continue;
            }
            let mut variants = Vec::new();
            let mut bgl = None;
            for &(min_tokens, sh) in &shapes {
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
                let (pipeline, l) = self.pipeline_of(
                    &name,
                    &[
                        MATMUL,
                        if sgred || xsg > 0 { SG_ON } else { SG_OFF },
                        pieces_x,
                        pieces_out,
                    ],
                    Some(w.ty),
                    &[
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
                    &sig,
                )?;
                bgl = Some(l);
                variants.push(Variant {
                    min_tokens,
                    tokens_per_group: sh.tt,
                    rows_per_group: sh.slots * sh.rpt,
                    pipeline,
                });
            }
            let bgl = bgl.ok_or_else(|| invalid("matmul: no variant"))?;
            by_type.push((w.ty, variants, bgl));
        }
        self.gpu.scoped(|| {
            let mut dispatches = Vec::new();
            let mut seg_row0 = 0;
            for (w, &cpr) in ws.iter().zip(&cprs) {
                let (_, variants, bgl) = by_type
                    .iter()
                    .find(|(t, _, _)| *t == w.ty)
                    .ok_or_else(|| invalid("matmul: type"))?;
                for part in &w.parts {
                    let mut words = vec![
                        to_u32(part.rows, "rows")?,
                        to_u32(seg_row0 + part.row0, "row0")?,
                        cpr,
                        to_u32(cols / 4, "cols")?,
                        to_u32(y_stride, "y_stride")?,
                        accumulate as u32,
                        last_only as u32,
                        to_u32(cap, "cap")?,
                        eps.to_bits(),
                    ];
                    words.extend_from_slice(&rope_words);
                    let u = self.uniform(&params(&words));
                    let mut bufs: Vec<&wgpu::Buffer> = vec![&u, &part.qs, &part.sc, &x.buffer, nw];
                    bufs.extend(outs.iter().copied());
                    if kind == "rope_kv" {
                        bufs.push(&owned[0]);
                    }
                    let bg = self.bind(bgl, step, &bufs);
                    dispatches.push(Dispatch {
                        bind_group: bg,
                        variants: variants
                            .iter()
                            .map(|v| Variant {
                                min_tokens: v.min_tokens,
                                tokens_per_group: v.tokens_per_group,
                                rows_per_group: v.rows_per_group,
                                pipeline: v.pipeline.clone(),
                            })
                            .collect(),
                        grid: Grid::Rows {
                            rows: to_u32(part.rows, "rows")?,
                            last_only,
                        },
                    });
                    owned.push(u);
                }
                seg_row0 += w.rows;
            }
            let name: &'static str = match (kind, last_only, input.norm.is_some()) {
                ("store", true, _) => "matmul_last",
                ("store", false, true) => "matmul_norm",
                ("store", false, false) => "matmul",
                ("swiglu", _, _) => "matmul_swiglu",
                _ => "matmul_rope_kv",
            };
            Ok(self.op(name, cap, dispatches, owned))
        })
    }

    /// The subgroup size when subgroups are on and the size is fixed.
    fn subgroup_size(&self) -> Option<u32> {
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
        let inv_freq = rope_inv_freq(rope_dim, freq_base);
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

    /// Causal attention over an f32 cache: query row `t` (position `pos0 +
    /// t`) attends cache rows `0..=pos0 + t`; head `h` uses KV head `h /
    /// (n_heads / n_kv_heads)`; scores are scaled by `1/sqrt(head_dim)`;
    /// softmax with a running maximum. `q`/`out` hold `[max_tokens][n_heads
    /// * head_dim]`.
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
        self.attention_kv(
            step, q, k_cache, v_cache, out, n_heads, n_kv_heads, head_dim, false,
        )
    }

    /// [`Kernels::attention`] over a cache of f32 or (`kv_f16`) f16 values
    /// (`[max_ctx][n_kv_heads * head_dim]`; `head_dim` a multiple of 8).
    /// Recorded with [`Op::record_ctx`], a one-token step over a long cache
    /// is split over several workgroups per KV head plus a combine pass.
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
        kv_f16: bool,
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
        let elem = if kv_f16 { 2 } else { 4 };
        let max_ctx = (k_cache.size().min(v_cache.size()) / elem / kv_dim as u64) as usize;
        let hd4 = (head_dim / 4) as u32;
        // Variants: a decode tile of the group's rows, and a prefill tile of
        // 16 query rows. Workgroups are QG * 16 threads.
        let decode_qg = (group as u32).div_ceil(ATTN_QR).clamp(1, 4);
        let splits = ATTN_MAX_SPLITS.min(max as u32);
        // Scratch for split partial results: one token's heads x splits.
        let part_len = n_heads * splits as usize * (head_dim + 2);
        self.gpu.scoped(|| {
            let kv_src = if kv_f16 {
                ATTENTION_KV_F16
            } else {
                ATTENTION_KV_F32
            };
            let name = if kv_f16 {
                "attention/f16"
            } else {
                "attention/f32"
            };
            let mut variants = Vec::new();
            let mut bgl = None;
            for (min_tokens, qg) in [(1u32, decode_qg), (2, 4)] {
                let (pipe, l) = self.pipeline_of(
                    name,
                    &[kv_src, ATTENTION],
                    None,
                    &[
                        ("WG", qg * 16),
                        ("QG", qg),
                        ("QR", ATTN_QR),
                        ("QT", qg * ATTN_QR),
                        ("KR", ATTN_KR),
                        ("KT", 16 * ATTN_KR),
                        ("HD", head_dim as u32),
                        ("HD4", hd4),
                        ("DV", hd4.div_ceil(16)),
                    ],
                    &[U, R, R, R, W, W],
                )?;
                bgl = Some(l);
                variants.push(Variant {
                    min_tokens,
                    tokens_per_group: 1,
                    rows_per_group: qg * ATTN_QR,
                    pipeline: pipe,
                });
            }
            let bgl = bgl.ok_or_else(|| invalid("attention: no variant"))?;
            let u = self.uniform(&params(&[
                to_u32(n_heads, "n_heads")?,
                to_u32(group, "group")?,
                to_u32(kv_dim, "kv_dim")?,
                to_u32(row, "row")?,
                to_u32(max_ctx, "max_ctx")?,
                to_u32(cap, "cap")?,
                (1.0 / (head_dim as f32).sqrt()).to_bits(),
                0,
            ]));
            let part = self
                .gpu
                .storage_buffer((part_len * 4) as u64, "attention splits")?;
            let bg = self.bind(
                &bgl,
                step,
                &[&u, &q.buffer, k_cache, v_cache, &out.buffer, &part],
            );
            let attn = Dispatch {
                bind_group: bg,
                variants,
                grid: Grid::Attn {
                    kv_heads: n_kv_heads as u32,
                    group: group as u32,
                },
            };
            let wg = self.wg(64);
            let (pipe, bgl) = self.pipeline(
                "attention_combine",
                ATTENTION_COMBINE,
                None,
                &[("WG", wg)],
                &[U, R, W],
            )?;
            let uc = self.uniform(&params(&[
                to_u32(n_heads, "n_heads")?,
                to_u32(head_dim, "head_dim")?,
                to_u32(row, "row")?,
                to_u32(cap, "cap")?,
            ]));
            let bg = self.bind(&bgl, step, &[&uc, &part, &out.buffer]);
            let combine = single_variant(
                bg,
                pipe,
                Grid::Combine {
                    heads: n_heads as u32,
                },
            );
            let mut op = self.op("attention", cap, vec![attn, combine], vec![u, uc, part]);
            op.max_splits = splits;
            Ok(op)
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
