//! Activation tensors and the per-step uniform.

use super::{Gpu, GpuError};
use wgpu::util::DeviceExt;

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
    #[cfg(feature = "testing")]
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
    #[cfg(feature = "testing")]
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        gpu.read(&self.buffer, 0, self.len)
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
    #[cfg(feature = "testing")]
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
