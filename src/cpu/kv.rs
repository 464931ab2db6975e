//! The KV cache of the CPU path: per layer, keys and values of every
//! position, f16 (like llama.cpp's default) or f32, little-endian.
//!
//! Head-major (`[kv_head][pos][head_dim]`): attention walks one KV head's
//! positions in order, so its rows are one sequential stream the hardware
//! prefetcher follows. Position-major rows (`[pos][kv_dim]`, the GPU
//! cache's layout) put one head's rows a whole row apart, and decode was
//! bound by the latency of those misses (1.3 GB/s, a third of a 1B-shaped
//! model's decode time at 512 positions). Saved states keep the
//! position-major layout, so they have one format on both paths; the
//! transposition is in `read_prefix`/`write_prefix`.
//!
//! Like the GPU cache it keeps no length: the owning `Context` is the one
//! owner of the position, and attention reads rows `0..len` only, so a
//! rollback is O(1).

use half::f16;

use super::kernels::KvView;
use crate::error::Error;
use crate::model::CacheShape;

pub(crate) struct CpuKv {
    /// `[layer]` of `[kv_head][pos][head_dim]`, as words (4-byte aligned).
    k: Vec<Vec<u32>>,
    v: Vec<Vec<u32>>,
    layout: Layout,
    f16: bool,
}

/// Where a row of one KV head lives, in bytes.
#[derive(Clone, Copy)]
struct Layout {
    capacity: usize,
    kv_dim: usize,
    head_dim: usize,
    /// Bytes per element.
    elem: usize,
}

impl Layout {
    /// KV head `h`'s row of position `pos` in the cache.
    fn cache(self, h: usize, pos: usize) -> usize {
        (h * self.capacity + pos) * self.head_dim * self.elem
    }

    /// The same row in a saved state (position-major).
    fn state(self, h: usize, pos: usize) -> usize {
        (pos * self.kv_dim + h * self.head_dim) * self.elem
    }

    fn row_bytes(self) -> usize {
        self.head_dim * self.elem
    }

    /// Calls `f(cache offset, state offset)` for every head row of the
    /// first `len` positions.
    fn rows(self, len: usize, mut f: impl FnMut(usize, usize)) {
        for pos in 0..len {
            for h in 0..self.kv_dim / self.head_dim {
                f(self.cache(h, pos), self.state(h, pos));
            }
        }
    }
}

impl CpuKv {
    /// Allocates the cache, or says it doesn't fit: a context too large for
    /// this machine is an error, not an aborted process.
    pub(crate) fn new(
        n_layer: usize,
        n_ctx: usize,
        kv_dim: usize,
        head_dim: usize,
        f16: bool,
    ) -> Result<CpuKv, Error> {
        debug_assert!(head_dim > 0 && kv_dim.is_multiple_of(head_dim));
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
        let layout = Layout {
            capacity: n_ctx,
            kv_dim,
            head_dim,
            elem,
        };
        Ok(CpuKv { k, v, layout, f16 })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.layout.capacity
    }

    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn is_f16(&self) -> bool {
        self.f16
    }

    pub(crate) fn bytes_per_position(&self) -> u64 {
        (self.layout.kv_dim * self.layout.elem) as u64
    }

    /// Bytes the cache holds.
    pub(crate) fn bytes(&self) -> u64 {
        (self.k.len() * 2) as u64 * self.layout.capacity as u64 * self.bytes_per_position()
    }

    pub(crate) fn shape(&self) -> CacheShape {
        CacheShape {
            layers: self.k.len(),
            kv_dim: self.layout.kv_dim,
            bytes_per_position: self.bytes_per_position(),
        }
    }

    /// KV head `h`'s rows in [`CpuKv::layer`]'s views, in elements: its
    /// first one and the distance from one position to the next.
    pub(crate) fn head_rows(&self, h: usize) -> (usize, usize) {
        let l = self.layout;
        (l.cache(h, 0) / l.elem, l.head_dim)
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
        let (f16, layout) = (self.f16, self.layout);
        let put = |buf: &mut Vec<u32>, row: &[f32]| {
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf);
            for (h, head) in row.chunks_exact(layout.head_dim).enumerate() {
                let at = layout.cache(h, pos);
                let dst = &mut bytes[at..at + layout.row_bytes()];
                if f16 {
                    for (d, x) in dst.chunks_exact_mut(2).zip(head) {
                        d.copy_from_slice(&f16::from_f32(*x).to_le_bytes());
                    }
                } else {
                    dst.copy_from_slice(bytemuck::cast_slice(head));
                }
            }
        };
        put(&mut self.k[l], k);
        put(&mut self.v[l], v);
    }

    /// One layer's keys or values of `len` positions in a saved state, in
    /// bytes (padded to whole words).
    fn state_bytes(&self, len: usize) -> usize {
        (len as u64 * self.bytes_per_position()).div_ceil(4) as usize * 4
    }

    /// The first `len` positions of every layer, keys then values, each
    /// position-major (`[pos][kv_dim]`) and padded to whole words (the
    /// saved-state layout, see `state.rs`).
    pub(crate) fn read_prefix(&self, len: usize) -> Vec<u8> {
        let (per_layer, layout) = (self.state_bytes(len), self.layout);
        if per_layer == 0 {
            return Vec::new();
        }
        let n = layout.row_bytes();
        let mut out = vec![0u8; per_layer * 2 * self.k.len()];
        for (buf, chunk) in self
            .k
            .iter()
            .chain(&self.v)
            .zip(out.chunks_exact_mut(per_layer))
        {
            let src: &[u8] = bytemuck::cast_slice(buf);
            layout.rows(len, |cache, state| {
                chunk[state..state + n].copy_from_slice(&src[cache..cache + n]);
            });
        }
        out
    }

    /// Writes back what [`CpuKv::read_prefix`] returned for `len` positions
    /// (sizes checked by the caller).
    pub(crate) fn write_prefix(&mut self, len: usize, bytes: &[u8]) {
        let (per_layer, layout) = (self.state_bytes(len), self.layout);
        if per_layer == 0 {
            return;
        }
        let n = layout.row_bytes();
        for (buf, chunk) in self
            .k
            .iter_mut()
            .chain(self.v.iter_mut())
            .zip(bytes.chunks_exact(per_layer))
        {
            let dst: &mut [u8] = bytemuck::cast_slice_mut(buf);
            layout.rows(len, |cache, state| {
                dst[cache..cache + n].copy_from_slice(&chunk[state..state + n]);
            });
        }
    }
}
