//! The KV cache of the CPU path: per layer, keys and values of every
//! position, f16 (like llama.cpp's default) or f32, little-endian — the
//! same bytes a GPU cache holds, so saved states have one format.
//!
//! Like the GPU cache it keeps no length: the owning `Context` is the one
//! owner of the position, and attention reads rows `0..len` only, so a
//! rollback is O(1).

use half::f16;

use super::kernels::KvView;
use crate::error::Error;
use crate::model::CacheShape;

pub(crate) struct CpuKv {
    /// `[layer]` of `[pos][kv_dim]`, as words (4-byte aligned).
    k: Vec<Vec<u32>>,
    v: Vec<Vec<u32>>,
    capacity: usize,
    kv_dim: usize,
    f16: bool,
}

impl CpuKv {
    /// Allocates the cache, or says it doesn't fit: a context too large for
    /// this machine is an error, not an aborted process.
    pub(crate) fn new(
        n_layer: usize,
        n_ctx: usize,
        kv_dim: usize,
        f16: bool,
    ) -> Result<CpuKv, Error> {
        let elem = if f16 { 2 } else { 4 };
        let too_large = || Error::OutOfHostMemory {
            what: "KV cache",
            bytes: (n_ctx as u64)
                .saturating_mul(kv_dim as u64 * elem as u64)
                .saturating_mul(2 * n_layer as u64),
        };
        let words = n_ctx
            .checked_mul(kv_dim * elem)
            .ok_or_else(too_large)?
            .div_ceil(4);
        let layer = || -> Result<Vec<u32>, Error> {
            let mut v = Vec::new();
            v.try_reserve_exact(words).map_err(|_| too_large())?;
            v.resize(words, 0);
            Ok(v)
        };
        let mut k = Vec::with_capacity(n_layer);
        let mut v = Vec::with_capacity(n_layer);
        for _ in 0..n_layer {
            k.push(layer()?);
            v.push(layer()?);
        }
        Ok(CpuKv {
            k,
            v,
            capacity: n_ctx,
            kv_dim,
            f16,
        })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn is_f16(&self) -> bool {
        self.f16
    }

    pub(crate) fn bytes_per_position(&self) -> u64 {
        self.kv_dim as u64 * if self.f16 { 2 } else { 4 }
    }

    /// Bytes the cache holds.
    pub(crate) fn bytes(&self) -> u64 {
        (self.k.len() * 2) as u64 * self.capacity as u64 * self.bytes_per_position()
    }

    pub(crate) fn shape(&self) -> CacheShape {
        CacheShape {
            layers: self.k.len(),
            kv_dim: self.kv_dim,
            bytes_per_position: self.bytes_per_position(),
        }
    }

    /// Layer `l`'s keys and values.
    pub(crate) fn layer(&self, l: usize) -> (KvView<'_>, KvView<'_>) {
        let f16 = self.f16;
        (
            KvView {
                bytes: bytemuck::cast_slice(&self.k[l]),
                f16,
            },
            KvView {
                bytes: bytemuck::cast_slice(&self.v[l]),
                f16,
            },
        )
    }

    /// Writes the key and value rows of position `pos` of layer `l`.
    pub(crate) fn store(&mut self, l: usize, pos: usize, k: &[f32], v: &[f32]) {
        let f16 = self.f16;
        let kv_dim = self.kv_dim;
        let put = |buf: &mut Vec<u32>, row: &[f32]| {
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf);
            if f16 {
                let dst = &mut bytes[pos * kv_dim * 2..(pos + 1) * kv_dim * 2];
                for (d, x) in dst.chunks_exact_mut(2).zip(row) {
                    d.copy_from_slice(&f16::from_f32(*x).to_le_bytes());
                }
            } else {
                let dst = &mut bytes[pos * kv_dim * 4..(pos + 1) * kv_dim * 4];
                dst.copy_from_slice(bytemuck::cast_slice(row));
            }
        };
        put(&mut self.k[l], k);
        put(&mut self.v[l], v);
    }

    /// The first `len` positions of every layer, keys then values, each
    /// padded to whole words (the saved-state layout, see `state.rs`).
    pub(crate) fn read_prefix(&self, len: usize) -> Vec<u8> {
        let words = (len as u64 * self.bytes_per_position()).div_ceil(4) as usize;
        let mut out = Vec::with_capacity(words * 4 * 2 * self.k.len());
        for buf in self.k.iter().chain(&self.v) {
            out.extend_from_slice(bytemuck::cast_slice(&buf[..words]));
        }
        out
    }

    /// Writes back what [`CpuKv::read_prefix`] returned for `len` positions
    /// (sizes checked by the caller).
    pub(crate) fn write_prefix(&mut self, len: usize, bytes: &[u8]) {
        let per_layer = (len as u64 * self.bytes_per_position()).div_ceil(4) as usize * 4;
        if per_layer == 0 {
            return;
        }
        for (buf, chunk) in self
            .k
            .iter_mut()
            .chain(self.v.iter_mut())
            .zip(bytes.chunks_exact(per_layer))
        {
            let dst: &mut [u8] = bytemuck::cast_slice_mut(buf);
            dst[..per_layer].copy_from_slice(chunk);
        }
    }
}
