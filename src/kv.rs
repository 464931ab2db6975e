//! The KV cache: one key and one value buffer per layer on the GPU, plus the
//! logical length (how many positions hold valid entries).
//!
//! Positions past the logical length are never read (attention reads rows
//! `0..kv_len`), so shortening the cache is O(1): only the length changes.
//! This is what makes a rollback to a checkpoint cheap.

use crate::gpu::{Gpu, GpuError};

pub struct KvCache {
    k: Vec<wgpu::Buffer>,
    v: Vec<wgpu::Buffer>,
    capacity: usize,
    kv_dim: usize,
    len: usize,
    f16: bool,
}

impl KvCache {
    /// Allocates `n_ctx` positions of `kv_dim` f32 values per layer.
    pub fn new(gpu: &Gpu, n_layer: usize, n_ctx: usize, kv_dim: usize) -> Result<Self, GpuError> {
        Self::new_typed(gpu, n_layer, n_ctx, kv_dim, false)
    }

    /// Allocates `n_ctx` positions of `kv_dim` values per layer, f16 (two
    /// per word, the even element in the low half) or f32.
    pub fn new_typed(
        gpu: &Gpu,
        n_layer: usize,
        n_ctx: usize,
        kv_dim: usize,
        f16: bool,
    ) -> Result<Self, GpuError> {
        let elem = if f16 { 2 } else { 4 };
        let bytes = (n_ctx as u64)
            .checked_mul(kv_dim as u64 * elem)
            .ok_or_else(|| GpuError::TooLarge {
                what: "KV cache layer".into(),
                bytes: u64::MAX,
                limit: gpu.max_binding,
            })?;
        if bytes > gpu.max_binding {
            return Err(GpuError::TooLarge {
                what: format!("KV cache layer ({n_ctx} positions x {kv_dim})"),
                bytes,
                limit: gpu.max_binding,
            });
        }
        let make = |label: &str| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.max(4),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        Ok(KvCache {
            k: (0..n_layer).map(|_| make("k_cache")).collect(),
            v: (0..n_layer).map(|_| make("v_cache")).collect(),
            capacity: n_ctx,
            kv_dim,
            len: 0,
            f16,
        })
    }

    pub fn layer(&self, l: usize) -> (&wgpu::Buffer, &wgpu::Buffer) {
        (&self.k[l], &self.v[l])
    }

    /// Positions that hold valid entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn kv_dim(&self) -> usize {
        self.kv_dim
    }

    pub(crate) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity);
        self.len = len;
    }

    /// Forgets every position from `len` on, in O(1).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// GPU bytes held by the cache.
    pub fn gpu_bytes(&self) -> u64 {
        let elem = if self.f16 { 2 } else { 4 };
        (self.k.len() * 2 * self.capacity * self.kv_dim * elem) as u64
    }

    /// The cache holds f16 values (else f32).
    pub fn is_f16(&self) -> bool {
        self.f16
    }
}

impl KvCache {
    /// Bytes one position takes in one layer's key (or value) buffer.
    pub fn bytes_per_position(&self) -> u64 {
        self.k
            .first()
            .map_or(0, |b| b.size() / self.capacity.max(1) as u64)
    }

    /// The first `len` positions of every layer, keys then values, as raw
    /// bytes (for saving a session).
    pub fn read_prefix(&self, gpu: &Gpu) -> Result<Vec<u8>, GpuError> {
        let words = (self.len as u64 * self.bytes_per_position()).div_ceil(4) as usize;
        let mut out = Vec::new();
        for buf in self.k.iter().chain(&self.v) {
            let w = gpu.read::<u32>(buf, 0, words)?;
            out.extend_from_slice(bytemuck::cast_slice(&w));
        }
        Ok(out)
    }

    /// Writes what `read_prefix` returned back and sets the length to `len`.
    pub fn write_prefix(&mut self, gpu: &Gpu, len: usize, bytes: &[u8]) -> Result<(), GpuError> {
        let per_layer = (len as u64 * self.bytes_per_position()).div_ceil(4) as usize * 4;
        if len > self.capacity || bytes.len() != per_layer * 2 * self.k.len() {
            return Err(GpuError::Invalid(format!(
                "KV state of {} bytes doesn't fit {len} positions of this cache",
                bytes.len()
            )));
        }
        for (buf, chunk) in self
            .k
            .iter()
            .chain(&self.v)
            .zip(bytes.chunks_exact(per_layer.max(1)))
        {
            gpu.queue.write_buffer(buf, 0, chunk);
        }
        self.len = len;
        Ok(())
    }
}
