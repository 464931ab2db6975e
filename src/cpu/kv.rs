//! The KV cache of the CPU path: per layer, keys and values of every
//! position, f16 (like llama.cpp's default), f32 or 8-bit, little-endian.
//!
//! 8-bit rows are blocks of 32 values, each its f32 scale then its 32 int8
//! (`d = max|x| / 127`, `q = round(x / d)`, ties to even as the GPU's store
//! rounds, so both paths write the same bytes): interleaved, so that an
//! element offset that is a multiple of 32 is a byte offset (x 36 / 32), as
//! attention addresses rows. Saved states keep the GPU's row layout (all
//! quants, then all scales, see `KvType::Q8_0`); the copies in
//! `read_prefix`/`write_prefix` move each block's scale and quants apart.
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
use crate::gpu::KvType;
use crate::model::CacheShape;

pub(crate) struct CpuKv {
    /// `[layer]` of `[kv_head][pos][head_dim]`, as words (4-byte aligned).
    k: Vec<Vec<u32>>,
    v: Vec<Vec<u32>>,
    layout: Layout,
}

/// Where a row of one KV head lives, in bytes.
#[derive(Clone, Copy)]
struct Layout {
    capacity: usize,
    kv_dim: usize,
    head_dim: usize,
    ty: KvType,
}

impl Layout {
    /// Bytes `n` elements take (`n` a multiple of 32 for 8-bit rows).
    fn bytes(self, n: usize) -> usize {
        self.ty.row_bytes(n) as usize
    }

    /// KV head `h`'s row of position `pos` in the cache.
    fn cache(self, h: usize, pos: usize) -> usize {
        self.bytes((h * self.capacity + pos) * self.head_dim)
    }

    fn row_bytes(self) -> usize {
        self.bytes(self.head_dim)
    }

    /// Calls `f(cache offset, state offset, bytes)` for every piece of the
    /// head rows of the first `len` positions: a whole row, or for 8-bit
    /// rows each block's scale and quants (kept apart in a state).
    fn pieces(self, len: usize, mut f: impl FnMut(usize, usize, usize)) {
        let state_row = self.bytes(self.kv_dim);
        for pos in 0..len {
            for h in 0..self.kv_dim / self.head_dim {
                let (cache, state) = (self.cache(h, pos), pos * state_row);
                if self.ty != KvType::Q8_0 {
                    f(
                        cache,
                        state + self.bytes(h * self.head_dim),
                        self.row_bytes(),
                    );
                    continue;
                }
                for b in 0..self.head_dim / 32 {
                    let block = h * self.head_dim / 32 + b;
                    f(cache + 36 * b, state + self.kv_dim + 4 * block, 4);
                    f(cache + 36 * b + 4, state + 32 * block, 32);
                }
            }
        }
    }
}

/// Writes `x` (a multiple of 32 values) as 8-bit blocks: scale, then quants.
fn put_q8(x: &[f32], dst: &mut [u8]) {
    for (xb, db) in x.chunks_exact(32).zip(dst.chunks_exact_mut(36)) {
        let d = xb.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        db[..4].copy_from_slice(&d.to_le_bytes());
        for (q, v) in db[4..].iter_mut().zip(xb) {
            *q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8 as u8;
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
        ty: KvType,
    ) -> Result<CpuKv, Error> {
        debug_assert!(head_dim > 0 && kv_dim.is_multiple_of(head_dim));
        if ty == KvType::Q8_0 && !head_dim.is_multiple_of(32) {
            return Err(super::CpuError::KvQ8HeadDim { head_dim }.into());
        }
        let row = ty.row_bytes(kv_dim);
        let too_large = || Error::OutOfHostMemory {
            what: "KV cache",
            bytes: (n_ctx as u64)
                .saturating_mul(row)
                .saturating_mul(2 * n_layer as u64),
        };
        let words = n_ctx
            .checked_mul(row as usize)
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
            ty,
        };
        Ok(CpuKv { k, v, layout })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.layout.capacity
    }

    pub(crate) fn ty(&self) -> KvType {
        self.layout.ty
    }

    pub(crate) fn bytes_per_position(&self) -> u64 {
        self.layout.bytes(self.layout.kv_dim) as u64
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
        (h * l.capacity * l.head_dim, l.head_dim)
    }

    /// Layer `l`'s keys and values.
    pub(crate) fn layer(&self, l: usize) -> (KvView<'_>, KvView<'_>) {
        let ty = self.layout.ty;
        (
            KvView {
                bytes: bytemuck::cast_slice(&self.k[l]),
                ty,
            },
            KvView {
                bytes: bytemuck::cast_slice(&self.v[l]),
                ty,
            },
        )
    }

    /// Writes the key and value rows of position `pos` of layer `l`.
    pub(crate) fn store(&mut self, l: usize, pos: usize, k: &[f32], v: &[f32]) {
        let layout = self.layout;
        let put = |buf: &mut Vec<u32>, row: &[f32]| {
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf);
            for (h, head) in row.chunks_exact(layout.head_dim).enumerate() {
                let at = layout.cache(h, pos);
                let dst = &mut bytes[at..at + layout.row_bytes()];
                match layout.ty {
                    KvType::F16 => {
                        for (d, x) in dst.chunks_exact_mut(2).zip(head) {
                            d.copy_from_slice(&f16::from_f32(*x).to_le_bytes());
                        }
                    }
                    KvType::F32 => dst.copy_from_slice(bytemuck::cast_slice(head)),
                    KvType::Q8_0 => put_q8(head, dst),
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
        let mut out = vec![0u8; per_layer * 2 * self.k.len()];
        for (buf, chunk) in self
            .k
            .iter()
            .chain(&self.v)
            .zip(out.chunks_exact_mut(per_layer))
        {
            let src: &[u8] = bytemuck::cast_slice(buf);
            layout.pieces(len, |cache, state, n| {
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
        for (buf, chunk) in self
            .k
            .iter_mut()
            .chain(self.v.iter_mut())
            .zip(bytes.chunks_exact(per_layer))
        {
            let dst: &mut [u8] = bytemuck::cast_slice_mut(buf);
            layout.pieces(len, |cache, state, n| {
                dst[cache..cache + n].copy_from_slice(&chunk[state..state + n]);
            });
        }
    }
}
