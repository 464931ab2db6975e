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
mod kv_type;
mod options;
mod qmatrix;
mod tensor;

#[cfg(feature = "testing")]
pub use kernels::DispatchInfo;
#[cfg(feature = "testing")]
pub use kernels::rope_inv_freq;
pub use kernels::{Kernels, MatIn, MatOut, Op, RopeKv};
#[cfg(feature = "testing")]
pub use kernels::{X8Times, X8Timing, X8Use, has_x8, x8_units};
pub use kv_type::{KvType, UnknownKvType};
pub use options::GpuOptions;
#[cfg(feature = "testing")]
pub use options::GpuTuning;
pub use qmatrix::QMatrix;
pub use tensor::{Step, StepParams, Tensor};

use crate::quant::GgmlType;
use options::{backend_rank, type_rank};
use std::sync::{Arc, Mutex};

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
    #[error("the GPU device was lost ({0}); load the model again")]
    DeviceLost(String),
    #[error("GPU validation error: {0}")]
    Validation(String),
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
    /// Matrix-vector kernels use one thread per row (see
    /// [`GpuTuning::thread_per_row`]).
    pub thread_per_row: bool,
    /// What the KV caches hold (see [`GpuOptions::kv_f16`],
    /// [`GpuOptions::kv_q8`]).
    pub kv: KvType,
    /// Matmuls with 8-bit activations, forced on or off (see
    /// [`GpuTuning::int8_matvec`]); `None`: measured at model load.
    pub int8_matvec: Option<bool>,
    /// `TIMESTAMP_QUERY` is enabled (per-kernel profiles use it; they are
    /// built for tools, under `testing`).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub timestamps: bool,
    errors: Arc<Mutex<Vec<String>>>,
    /// Why the device was lost, once it is.
    lost: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Picks the best adapter (discrete > integrated > virtual > CPU, or
    /// integrated first with a `LowPower` preference; a primary backend
    /// before GL), requests its maximum limits and enables `SHADER_F16` /
    /// `SUBGROUP` where present and not disabled.
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
            let rank = (
                type_rank(info.device_type, opts.power_preference),
                backend_rank(info.backend),
            );
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
        let tuning = opts.tuning();
        let mut limits = adapter.limits();
        if let Some(m) = tuning.max_binding_size {
            let m = (m / 16 * 16).max(16);
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(m);
        }
        let avail = adapter.features();
        let mut features = wgpu::Features::empty();
        let f16 = !tuning.disable_f16 && avail.contains(wgpu::Features::SHADER_F16);
        if f16 {
            features |= wgpu::Features::SHADER_F16;
        }
        let subgroups = !tuning.disable_subgroups && avail.contains(wgpu::Features::SUBGROUP);
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
        // wgpu's default handlers panic; a library reports errors instead.
        // A lost device (driver reset, GPU removed, `destroy`) is remembered
        // and every later use of it fails with `GpuError::DeviceLost`.
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            log::error!("wgpu: device lost ({reason:?}): {message}");
            if let Ok(mut l) = lost_sink.lock() {
                *l = Some(format!("{reason:?}: {message}"));
            }
        });
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
        let thread_per_row = tuning
            .thread_per_row
            .unwrap_or(info.device_type == wgpu::DeviceType::Cpu);
        let kv = if opts.kv_q8 {
            KvType::Q8_0
        } else if opts.kv_f16.unwrap_or(f16) {
            KvType::F16
        } else {
            KvType::F32
        };
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            limits,
            f16,
            subgroups,
            max_binding,
            thread_per_row,
            kv,
            // Not allowed and not forced: never (nothing is timed).
            int8_matvec: tuning.int8_matvec.or((!opts.int8_matmul).then_some(false)),
            timestamps,
            errors,
            lost,
        }))
    }

    /// The adapter's name and backend, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    #[cfg(feature = "testing")]
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// What a kernel choice measured on this device depends on: the
    /// adapter and driver, and the enabled features and kernel shapes.
    pub(crate) fn kernel_key(&self) -> String {
        let i = &self.info;
        format!(
            "{:?}/{:04x}:{:04x}/{}/{}/{}/f16={}/sg={}/tpr={}",
            i.backend,
            i.vendor,
            i.device,
            i.name,
            i.driver,
            i.driver_info,
            self.f16,
            self.subgroups,
            self.thread_per_row
        )
    }

    /// Returns (and clears) validation errors wgpu reported outside of the
    /// builders (e.g. while recording or submitting a step).
    pub fn check(&self) -> Result<(), GpuError> {
        self.check_lost()?;
        let mut v = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if v.is_empty() {
            Ok(())
        } else {
            let msg = v.join("; ");
            v.clear();
            Err(GpuError::Validation(msg))
        }
    }

    /// `GpuError::DeviceLost` once the device is lost.
    pub fn check_lost(&self) -> Result<(), GpuError> {
        match &*self.lost.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(why) => Err(GpuError::DeviceLost(why.clone())),
            None => Ok(()),
        }
    }

    /// Destroys the device, as a driver reset would lose it (tests of what
    /// happens then).
    #[cfg(feature = "testing")]
    pub fn destroy(&self) {
        self.device.destroy();
        // The lost callback runs when the device is next polled.
        let _ = self.device.poll(wgpu::PollType::Poll);
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

    /// Records `ops` into one compute pass and submits it (for tests; the
    /// step's uniform must already be written, with these `n_tokens` and
    /// `kv_len`, see [`Op::record`]).
    #[cfg(feature = "testing")]
    pub fn run(&self, ops: &[&Op], n_tokens: u32, kv_len: u32) {
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ops") });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ops"),
                timestamp_writes: None,
            });
            for op in ops {
                op.record(&mut pass, n_tokens, kv_len);
            }
        }
        self.queue.submit([enc.finish()]);
    }

    /// Waits until all submitted work is done.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.poll_wait()?;
        self.check()
    }

    /// Blocks until the queue is idle. A failure on a lost device is
    /// reported as the loss.
    fn poll_wait(&self) -> Result<(), GpuError> {
        self.check_lost()?;
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.check_lost()?;
        polled?;
        Ok(())
    }

    /// Copies bytes `offset..offset + len` of a COPY_SRC buffer out (waits
    /// for the GPU).
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
        if !offset.is_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT) {
            return Err(GpuError::Invalid(format!(
                "read: offset {offset} is not a multiple of 4 bytes"
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
        self.read_mapped(&staging, len)
    }

    /// Maps the first `len` bytes of a MAP_READ buffer, waits for the GPU,
    /// copies them out and unmaps the buffer.
    pub(crate) fn read_mapped(&self, buf: &wgpu::Buffer, len: u64) -> Result<Vec<u8>, GpuError> {
        if !buf.usage().contains(wgpu::BufferUsages::MAP_READ) {
            return Err(GpuError::Invalid("read: buffer lacks MAP_READ".into()));
        }
        if len > buf.size() {
            return Err(GpuError::Invalid(format!(
                "read: {len} bytes of a buffer of {}",
                buf.size()
            )));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        // Mapped ranges are whole 4-byte words.
        let slice = buf.slice(..len.next_multiple_of(4).min(buf.size()));
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.poll_wait()?;
        self.check()?;
        let mapped = rx
            .recv()
            .map_err(|_| GpuError::Validation("map callback never ran".into()))?;
        self.check_lost()?;
        mapped?;
        let view = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Validation(e.to_string()))?;
        let bytes = view[..len as usize].to_vec();
        drop(view);
        buf.unmap();
        Ok(bytes)
    }

    /// Reads `len` elements of `T` starting at element `offset_elems` (waits
    /// for the GPU); the offset must fall on a 4-byte boundary.
    pub fn read<T: bytemuck::Pod>(
        &self,
        buf: &wgpu::Buffer,
        offset_elems: u64,
        len: usize,
    ) -> Result<Vec<T>, GpuError> {
        let elem = std::mem::size_of::<T>() as u64;
        let bytes = self.read_bytes(
            buf,
            offset_elems.saturating_mul(elem),
            (len as u64).saturating_mul(elem),
        )?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
