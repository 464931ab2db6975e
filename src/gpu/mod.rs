//! The GPU side: adapter/device selection, buffers, the weight upload
//! ([`QMatrix`]) and the compute kernels ([`Kernels`], [`Op`]).
//!
//! Usage pattern (what the forward graph does): create a [`Gpu`], upload the
//! weights as [`QMatrix`]es, allocate [`Tensor`]s for the activations sized
//! for the largest batch, and build every [`Op`] once with [`Kernels`]. Each
//! step then writes [`StepParams`] into the [`Step`] uniform, records all ops
//! into one compute pass of one command encoder and submits once. Nothing is
//! allocated per step.

mod kernels;
mod qmatrix;

pub use kernels::{DispatchInfo, Kernels, MatIn, MatOut, Op, RopeKv, rope_inv_freq};
pub use qmatrix::QMatrix;

use crate::quant::GgmlType;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// Errors of the GPU layer.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no usable GPU adapter (wanted: {wanted}; found: {found:?})")]
    NoAdapter { wanted: String, found: Vec<String> },
    #[error("requesting the GPU device failed: {0}")]
    RequestDevice(#[from] wgpu::RequestDeviceError),
    #[error("{what} needs {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    #[error("{ty} is not supported here: {reason}")]
    Unsupported { ty: GgmlType, reason: String },
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("mapping a buffer failed: {0}")]
    Map(#[from] wgpu::BufferAsyncError),
    #[error("waiting for the GPU failed: {0}")]
    Poll(#[from] wgpu::PollError),
    #[error("GPU validation error: {0}")]
    Validation(String),
}

/// How to choose and configure the device. `Default` picks the best adapter.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Backends to consider; `None` = all primary ones (Vulkan, Metal, DX12)
    /// plus GL.
    pub backends: Option<wgpu::Backends>,
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// Lower the storage-binding size limit to this many bytes (tests of
    /// weight splitting).
    pub max_binding_size: Option<u64>,
    /// Don't enable `SHADER_F16` even if the adapter has it.
    pub disable_f16: bool,
    /// Don't enable `SUBGROUP` even if the adapter has it.
    pub disable_subgroups: bool,
    /// Matrix-vector kernel shape: `Some(true)` = one thread per row (best on
    /// CPU adapters such as lavapipe), `Some(false)` = a group of threads
    /// per row with coalesced loads (GPUs); `None` = by adapter type.
    pub thread_per_row: Option<bool>,
    /// KV cache element type: `Some(true)` = f16 (half the memory and
    /// bandwidth; keys and values rounded to f16), `Some(false)` = f32
    /// (exact); `None` = f16 where the adapter has `SHADER_F16` (the f16
    /// cache itself only needs WGSL's pack/unpack builtins, so it works on
    /// any adapter when asked for).
    pub kv_f16: Option<bool>,
}

/// A device and queue plus what the kernels need to know about them.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// `SHADER_F16` is enabled.
    pub f16: bool,
    /// `SUBGROUP` is enabled.
    pub subgroups: bool,
    /// The largest storage binding, in bytes (a multiple of 16).
    pub max_binding: u64,
    /// Matrix-vector kernels use one thread per row (see [`GpuOptions`]).
    pub thread_per_row: bool,
    /// KV caches hold f16 (see [`GpuOptions::kv_f16`]).
    pub kv_f16: bool,
    /// `TIMESTAMP_QUERY` is enabled (per-kernel profiles use it).
    pub timestamps: bool,
    errors: Arc<Mutex<Vec<String>>>,
}

fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Gl => 0,
        _ => 1,
    }
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    }
}

impl Gpu {
    /// Picks the best adapter (discrete > integrated > virtual > CPU; a
    /// primary backend before GL), requests its maximum limits and enables
    /// `SHADER_F16` / `SUBGROUP` where present and not disabled.
    pub fn new(opts: &GpuOptions) -> Result<Arc<Gpu>, GpuError> {
        pollster::block_on(Self::new_async(opts))
    }

    async fn new_async(opts: &GpuOptions) -> Result<Arc<Gpu>, GpuError> {
        let backends = opts
            .backends
            .unwrap_or(wgpu::Backends::PRIMARY | wgpu::Backends::GL);
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let adapters = instance.enumerate_adapters(backends).await;
        let wanted = opts.adapter.as_ref().map(|s| s.to_lowercase());
        let mut found = Vec::new();
        let mut best: Option<(u32, u32, wgpu::Adapter)> = None;
        for a in adapters {
            let info = a.get_info();
            found.push(format!(
                "{} ({:?}, {:?})",
                info.name, info.backend, info.device_type
            ));
            if let Some(w) = &wanted
                && !info.name.to_lowercase().contains(w)
            {
                continue;
            }
            let caps = a.get_downlevel_capabilities();
            if !caps.flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS) {
                continue;
            }
            let rank = (type_rank(info.device_type), backend_rank(info.backend));
            if best.as_ref().is_none_or(|b| (b.0, b.1) < rank) {
                best = Some((rank.0, rank.1, a));
            }
        }
        let Some((_, _, adapter)) = best else {
            return Err(GpuError::NoAdapter {
                wanted: format!(
                    "backends {backends:?}, name {}",
                    opts.adapter.as_deref().unwrap_or("any")
                ),
                found,
            });
        };
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        if let Some(m) = opts.max_binding_size {
            let m = (m / 16 * 16).max(16);
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(m);
        }
        let avail = adapter.features();
        let mut features = wgpu::Features::empty();
        let f16 = !opts.disable_f16 && avail.contains(wgpu::Features::SHADER_F16);
        if f16 {
            features |= wgpu::Features::SHADER_F16;
        }
        let subgroups = !opts.disable_subgroups && avail.contains(wgpu::Features::SUBGROUP);
        if subgroups {
            features |= wgpu::Features::SUBGROUP;
        }
        let timestamps = avail.contains(wgpu::Features::TIMESTAMP_QUERY);
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("rewind"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("wgpu: {e}");
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / 16
            * 16;
        let thread_per_row = opts
            .thread_per_row
            .unwrap_or(info.device_type == wgpu::DeviceType::Cpu);
        let kv_f16 = opts.kv_f16.unwrap_or(f16);
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            limits,
            f16,
            subgroups,
            max_binding,
            thread_per_row,
            kv_f16,
            timestamps,
            errors,
        }))
    }

    /// The adapter's name and backend, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// Returns (and clears) validation errors wgpu reported outside of the
    /// builders (e.g. while recording or submitting a step).
    pub fn check(&self) -> Result<(), GpuError> {
        let mut v = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if v.is_empty() {
            Ok(())
        } else {
            let msg = v.join("; ");
            v.clear();
            Err(GpuError::Validation(msg))
        }
    }

    /// Runs `f` inside a validation error scope; a wgpu validation error
    /// raised by it becomes `GpuError::Validation`.
    pub(crate) fn scoped<T>(&self, f: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let r = f();
        let err = pollster::block_on(scope.pop());
        match (r, err) {
            (Err(e), _) => Err(e),
            (Ok(_), Some(e)) => Err(GpuError::Validation(e.to_string())),
            (Ok(v), None) => Ok(v),
        }
    }

    /// Checks that a buffer of `bytes` bytes can be bound whole.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        if bytes > self.max_binding {
            return Err(GpuError::TooLarge {
                what: what.to_string(),
                bytes,
                limit: self.max_binding,
            });
        }
        Ok(())
    }

    /// A storage buffer (STORAGE | COPY_SRC | COPY_DST) of `bytes` bytes,
    /// zero-filled, that can be bound whole (KV caches, token ids).
    pub fn storage_buffer(&self, bytes: u64, label: &str) -> Result<wgpu::Buffer, GpuError> {
        if bytes == 0 {
            return Err(GpuError::Invalid(format!("{label}: empty buffer")));
        }
        self.check_binding(label, bytes)?;
        let bytes = bytes.next_multiple_of(4);
        self.scoped(|| {
            Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        })
    }

    /// Records `ops` into one compute pass and submits it (a convenience for
    /// tests and simple callers; the step's uniform must already be written).
    pub fn run(&self, ops: &[&Op], n_tokens: u32) {
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ops") });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ops"),
                timestamp_writes: None,
            });
            for op in ops {
                op.record(&mut pass, n_tokens);
            }
        }
        self.queue.submit([enc.finish()]);
    }

    /// Waits until all submitted work is done.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device.poll(wgpu::PollType::wait_indefinitely())?;
        self.check()
    }

    fn read_bytes(&self, buf: &wgpu::Buffer, offset: u64, len: u64) -> Result<Vec<u8>, GpuError> {
        if !buf.usage().contains(wgpu::BufferUsages::COPY_SRC) {
            return Err(GpuError::Invalid("read: buffer lacks COPY_SRC".into()));
        }
        if offset.checked_add(len).is_none_or(|end| end > buf.size()) {
            return Err(GpuError::Invalid(format!(
                "read: bytes {offset}+{len} past the buffer's {}",
                buf.size()
            )));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let size = len.next_multiple_of(4);
        let copy_len = size.min(buf.size() - offset);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        enc.copy_buffer_to_buffer(buf, offset, &staging, 0, copy_len);
        self.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely())?;
        self.check()?;
        match rx.recv() {
            Ok(r) => r?,
            Err(_) => return Err(GpuError::Validation("map callback never ran".into())),
        }
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Validation(e.to_string()))?;
        let out = view[..len as usize].to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// Maps the first `len` bytes of a MAP_READ buffer, waits, and copies
    /// them out.
    pub(crate) fn read_mapped(&self, buf: &wgpu::Buffer, len: u64) -> Result<Vec<u8>, GpuError> {
        let slice = buf.slice(..len);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely())?;
        self.check()?;
        rx.recv()
            .map_err(|_| GpuError::Validation("map callback never ran".into()))??;
        let bytes = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Validation(e.to_string()))?
            .to_vec();
        buf.unmap();
        Ok(bytes)
    }

    /// Reads `len` f32 starting at element `offset_elems` (waits for the GPU).
    pub fn read_f32(
        &self,
        buf: &wgpu::Buffer,
        offset_elems: u64,
        len: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let b = self.read_bytes(
            buf,
            offset_elems.saturating_mul(4),
            (len as u64).saturating_mul(4),
        )?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Reads `len` u32 starting at element `offset_elems` (waits for the GPU).
    pub fn read_u32(
        &self,
        buf: &wgpu::Buffer,
        offset_elems: u64,
        len: usize,
    ) -> Result<Vec<u32>, GpuError> {
        let b = self.read_bytes(
            buf,
            offset_elems.saturating_mul(4),
            (len as u64).saturating_mul(4),
        )?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// An f32 activation buffer of `len` elements (STORAGE | COPY_SRC | COPY_DST).
pub struct Tensor {
    pub buffer: wgpu::Buffer,
    pub len: usize,
}

impl Tensor {
    /// A zero-filled tensor.
    pub fn new(gpu: &Gpu, len: usize, label: &str) -> Result<Tensor, GpuError> {
        let buffer = gpu.storage_buffer((len as u64).saturating_mul(4), label)?;
        Ok(Tensor { buffer, len })
    }

    /// A tensor holding `data`.
    pub fn from_slice(gpu: &Gpu, data: &[f32], label: &str) -> Result<Tensor, GpuError> {
        let bytes = std::mem::size_of_val(data) as u64;
        if bytes == 0 {
            return Err(GpuError::Invalid(format!("{label}: empty tensor")));
        }
        gpu.check_binding(label, bytes)?;
        let buffer = gpu.scoped(|| {
            Ok(gpu
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(data),
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                }))
        })?;
        Ok(Tensor {
            buffer,
            len: data.len(),
        })
    }

    /// Overwrites elements `offset..offset + data.len()` (queued; takes effect
    /// at the next submit).
    pub fn write(&self, gpu: &Gpu, offset: usize, data: &[f32]) -> Result<(), GpuError> {
        if offset
            .checked_add(data.len())
            .is_none_or(|end| end > self.len)
        {
            return Err(GpuError::Invalid(format!(
                "write of {} elements at {offset} into a tensor of {}",
                data.len(),
                self.len
            )));
        }
        gpu.queue
            .write_buffer(&self.buffer, offset as u64 * 4, bytemuck::cast_slice(data));
        Ok(())
    }

    /// The whole tensor (waits for the GPU).
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        gpu.read_f32(&self.buffer, 0, self.len)
    }
}

/// The per-step values every op reads from the [`Step`] uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepParams {
    /// Token rows in this step (1 when decoding).
    pub n_tokens: u32,
    /// Position of the first token.
    pub pos0: u32,
    /// `pos0 + n_tokens`.
    pub kv_len: u32,
    pub _pad: u32,
}

impl StepParams {
    /// The parameters of a step of `n_tokens` tokens starting at `pos0`.
    pub fn new(n_tokens: u32, pos0: u32) -> StepParams {
        StepParams {
            n_tokens,
            pos0,
            kv_len: pos0 + n_tokens,
            _pad: 0,
        }
    }
}

/// The small uniform buffer holding [`StepParams`], shared by all ops.
pub struct Step {
    pub buffer: wgpu::Buffer,
}

impl Step {
    pub fn new(gpu: &Gpu) -> Self {
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step"),
            size: std::mem::size_of::<StepParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Step { buffer }
    }

    /// Queues the new values (they take effect at the next submit).
    pub fn write(&self, gpu: &Gpu, p: StepParams) {
        gpu.queue
            .write_buffer(&self.buffer, 0, bytemuck::bytes_of(&p));
    }
}
