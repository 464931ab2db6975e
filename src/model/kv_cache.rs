//! The KV cache: one key and one value buffer per layer on the GPU.
//!
//! It holds no length: the [`Context`](super::Context) that owns it is the
//! one owner of the position (its token history). Positions past that are
//! never read (attention reads rows `0..kv_len` of the step), so shortening
//! the context is O(1): only the length changes. This is what makes a
//! rollback to a checkpoint cheap.

use super::state::{CacheShape, layer_cache_bytes};
use crate::gpu::{Gpu, GpuError, KvType};

pub(crate) struct KvCache {
    k: Vec<wgpu::Buffer>,
    v: Vec<wgpu::Buffer>,
    capacity: usize,
    kv_dim: usize,
    ty: KvType,
}

impl KvCache {
    /// Allocates `n_ctx` positions of `kv_dim` values per layer, each row
    /// laid out as [`KvType`] says.
    pub fn new(
        gpu: &Gpu,
        n_layer: usize,
        n_ctx: usize,
        kv_dim: usize,
        ty: KvType,
    ) -> Result<Self, GpuError> {
        if !ty.fits(kv_dim) {
            return Err(GpuError::Invalid(format!(
                "a {ty} KV cache needs a KV width that is a multiple of {}, not {kv_dim}",
                if ty == KvType::Q8_0 { 32 } else { 2 }
            )));
        }
        let bytes = (n_ctx as u64)
            .checked_mul(ty.row_bytes(kv_dim))
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
            ty,
        })
    }

    pub fn layer(&self, l: usize) -> (&wgpu::Buffer, &wgpu::Buffer) {
        (&self.k[l], &self.v[l])
    }

    /// Positions the cache can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// GPU bytes held by the cache.
    pub fn gpu_bytes(&self) -> u64 {
        (self.k.len() * 2) as u64 * self.capacity as u64 * self.bytes_per_position()
    }

    /// What the cache holds.
    #[cfg(feature = "testing")]
    pub fn ty(&self) -> KvType {
        self.ty
    }

    /// Layers, width and bytes per position, as saved states record them.
    pub fn shape(&self) -> CacheShape {
        CacheShape {
            layers: self.k.len(),
            kv_dim: self.kv_dim,
            bytes_per_position: self.bytes_per_position(),
        }
    }

    /// Bytes one position takes in one layer's key (or value) buffer.
    pub fn bytes_per_position(&self) -> u64 {
        self.ty.row_bytes(self.kv_dim)
    }

    /// The first `len` positions of every layer, keys then values, as raw
    /// bytes (for saving a session).
    pub fn read_prefix(&self, gpu: &Gpu, len: usize) -> Result<Vec<u8>, GpuError> {
        let words = layer_cache_bytes(self.bytes_per_position(), len) / 4;
        let mut out = Vec::with_capacity(words * 4 * 2 * self.k.len());
        for buf in self.k.iter().chain(&self.v) {
            let w = gpu.read::<u32>(buf, 0, words)?;
            out.extend_from_slice(bytemuck::cast_slice(&w));
        }
        Ok(out)
    }

    /// Writes what [`KvCache::read_prefix`] returned for `len` positions back
    /// (queued for the next submit). The caller checks the sizes first.
    pub fn write_prefix(&self, gpu: &Gpu, len: usize, bytes: &[u8]) {
        let per_layer = layer_cache_bytes(self.bytes_per_position(), len);
        debug_assert!(len <= self.capacity && bytes.len() == per_layer * 2 * self.k.len());
        if per_layer == 0 {
            return;
        }
        for (buf, chunk) in self
            .k
            .iter()
            .chain(&self.v)
            .zip(bytes.chunks_exact(per_layer))
        {
            gpu.queue.write_buffer(buf, 0, chunk);
        }
    }
}
