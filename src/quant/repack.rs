//! The GPU layout of weight tensors ("repacking").
//!
//! WGSL can only load 32-bit words (there are no byte or 16-bit loads), and
//! ggml blocks are neither 4-byte sized nor aligned (Q8_0 is 34 bytes, Q4_0 18).
//! So at load time every weight matrix (or each row range of it, see
//! [`crate::gpu::QMatrix`]) is rewritten into two `u32` arrays, a "struct of
//! arrays" instead of ggml's array of structs:
//!
//! * `qs`: the quantized values, in **units of 16 bytes** (one `vec4<u32>` in
//!   the shaders). A *chunk* of [`Layout::chunk_elems`] consecutive elements
//!   of a row takes [`Layout::chunk_vec4s`] such units. Chunks are stored in
//!   row-major order: chunk `k` of row `r` (in the part) is chunk number
//!   `r * cols / chunk_elems + k`. Within a chunk the bytes keep ggml's order.
//! * `sc`: the per-block scales (and mins), packed densely in the same block
//!   order.
//!
//! Per type:
//!
//! | type | chunk | `qs` per chunk | `sc` per block |
//! |------|-------|----------------|----------------|
//! | F32  | 4 elements | the 4 floats' bits | none |
//! | F16  | 8 elements | 8 halves, two per word (element `2i` in the low half) | none |
//! | Q8_0 | 32 (one block) | 32 × i8, 4 per word, element `4i + j` in byte `j` of word `i` | `d` as f16, two blocks per word (even block in the low half) |
//! | Q4_0 | 32 (one block) | 16 nibble bytes: byte `j` holds element `j` (low nibble) and `j + 16` (high) | `d` as f16, two blocks per word |
//! | Q4_1 | 32 (one block) | as Q4_0 | one word per block: `d` low half, `m` high half |
//!
//! F32 and F16 have no blocks: their elements are simply numbered row-major
//! across the whole part, so chunks only line up with rows when `cols` is a
//! multiple of the chunk size (the matmul kernels require that; element-wise
//! readers don't). The `qs` array is zero-padded to a whole number of 16-byte
//! units, and `sc` to a whole word (it is at least one word long, so that it
//! can always be bound).
//!
//! Why this layout: on GPUs the kernels let consecutive threads (lanes of a
//! subgroup) take consecutive chunks of one row, so a subgroup's 16-byte loads
//! cover one contiguous span of `qs` (fully coalesced) and its scale loads one
//! contiguous span of `sc`; the unpacking (shifts, masks, `unpack2x16float`)
//! happens in registers. On CPU-like adapters (lavapipe) one thread walks one
//! row, which reads both arrays sequentially. K-quants fit the same scheme:
//! their chunk is the 256-element super-block, `qs` carries the (multiple of
//! 16 bytes) quant payload and `sc` the scales and mins.

use super::{GgmlType, QuantError};

/// How one tensor type is laid out for the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The type.
    pub ty: GgmlType,
    /// Elements per chunk (the unit the kernels dequantize at once).
    pub chunk_elems: usize,
    /// 16-byte `qs` units per chunk.
    pub chunk_vec4s: usize,
    /// Elements per scale block (0 when the type has no scales).
    pub block_elems: usize,
    /// `sc` words per block, as a fraction `num / den` (f16 scales: 1/2).
    pub sc_words_num: usize,
    /// See `sc_words_num`.
    pub sc_words_den: usize,
}

impl Layout {
    /// The layout of `ty`, or `Unsupported` for types the GPU can't read yet.
    pub fn of(ty: GgmlType) -> Result<Layout, QuantError> {
        let (chunk_elems, chunk_vec4s, block_elems, num, den) = match ty {
            GgmlType::F32 => (4, 1, 0, 0, 1),
            GgmlType::F16 => (8, 1, 0, 0, 1),
            GgmlType::Q8_0 => (32, 2, 32, 1, 2),
            GgmlType::Q4_0 => (32, 1, 32, 1, 2),
            GgmlType::Q4_1 => (32, 1, 32, 1, 1),
            other => return Err(QuantError::Unsupported(other)),
        };
        Ok(Layout {
            ty,
            chunk_elems,
            chunk_vec4s,
            block_elems,
            sc_words_num: num,
            sc_words_den: den,
        })
    }

    /// Number of `qs` words for `n` elements (a whole number of blocks).
    pub fn qs_words(&self, n: u64) -> u64 {
        let units = if self.block_elems == 0 {
            // Plain types: elements numbered across the part, padded to a unit.
            let per_unit = (self.chunk_elems / self.chunk_vec4s) as u64;
            n.div_ceil(per_unit)
        } else {
            n / self.chunk_elems as u64 * self.chunk_vec4s as u64
        };
        units * 4
    }

    /// Number of `sc` words for `n` elements (at least 1).
    pub fn sc_words(&self, n: u64) -> u64 {
        if self.block_elems == 0 {
            return 1;
        }
        let blocks = n / self.block_elems as u64;
        (blocks * self.sc_words_num as u64)
            .div_ceil(self.sc_words_den as u64)
            .max(1)
    }

    /// Bytes of (`qs`, `sc`) for `rows` rows of `cols` elements.
    pub fn bytes(&self, rows: u64, cols: u64) -> Option<(u64, u64)> {
        let n = rows.checked_mul(cols)?;
        let qs = self.qs_words(n).checked_mul(4)?;
        let sc = self.sc_words(n).checked_mul(4)?;
        Some((qs, sc))
    }
}

/// A tensor (or row range) in the GPU layout; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repacked {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// Quantized values, a multiple of 4 words (16-byte units).
    pub qs: Vec<u32>,
    /// Scales (and mins), at least one word.
    pub sc: Vec<u32>,
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u16(b: &[u8]) -> u32 {
    u16::from_le_bytes([b[0], b[1]]) as u32
}

/// Rewrites `rows` rows of `cols` elements of `ty`, given as ggml bytes
/// (row-major, whole blocks), into the GPU layout.
pub fn repack(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    bytes: &[u8],
) -> Result<Repacked, QuantError> {
    let layout = Layout::of(ty)?;
    let bs = ty.block_size();
    if !cols.is_multiple_of(bs) {
        return Err(QuantError::NotWholeBlocks {
            ty,
            n: cols,
            block: bs,
        });
    }
    let n = rows.checked_mul(cols).ok_or(QuantError::SizeMismatch {
        ty,
        n_bytes: bytes.len(),
        n_elements: usize::MAX,
        expected: usize::MAX,
    })?;
    let expected = ty
        .bytes_for(n as u64)
        .and_then(|b| usize::try_from(b).ok())
        .unwrap_or(usize::MAX);
    if bytes.len() != expected {
        return Err(QuantError::SizeMismatch {
            ty,
            n_bytes: bytes.len(),
            n_elements: n,
            expected,
        });
    }
    let mut qs = Vec::with_capacity(layout.qs_words(n as u64) as usize);
    let mut sc = Vec::with_capacity(layout.sc_words(n as u64) as usize);
    let ts = ty.type_size();
    match ty {
        GgmlType::F32 => qs.extend(bytes.chunks_exact(4).map(le_u32)),
        GgmlType::F16 => {
            for pair in bytes.chunks(4) {
                let lo = le_u16(pair);
                let hi = if pair.len() == 4 {
                    le_u16(&pair[2..])
                } else {
                    0
                };
                qs.push(lo | (hi << 16));
            }
        }
        GgmlType::Q8_0 | GgmlType::Q4_0 => {
            let (start, len) = if ty == GgmlType::Q8_0 {
                (2, 32)
            } else {
                (2, 16)
            };
            for (i, blk) in bytes.chunks_exact(ts).enumerate() {
                qs.extend(blk[start..start + len].chunks_exact(4).map(le_u32));
                let d = le_u16(blk);
                if i.is_multiple_of(2) {
                    sc.push(d);
                } else {
                    *sc.last_mut().expect("pushed for the even block") |= d << 16;
                }
            }
        }
        GgmlType::Q4_1 => {
            for blk in bytes.chunks_exact(ts) {
                sc.push(le_u32(blk));
                qs.extend(blk[4..20].chunks_exact(4).map(le_u32));
            }
        }
        _ => unreachable!("Layout::of accepted only the types above"),
    }
    qs.resize(qs.len().next_multiple_of(4), 0);
    debug_assert_eq!(qs.len() as u64, layout.qs_words(n as u64));
    if sc.is_empty() {
        sc.push(0);
    }
    debug_assert_eq!(sc.len() as u64, layout.sc_words(n as u64));
    Ok(Repacked {
        ty,
        rows,
        cols,
        qs,
        sc,
    })
}

fn half_at(words: &[u32], i: usize) -> f32 {
    let w = words[i / 2];
    let h = if i.is_multiple_of(2) {
        w & 0xffff
    } else {
        w >> 16
    };
    half::f16::from_bits(h as u16).to_f32()
}

impl Repacked {
    /// Element `c` of row `r`, read from the GPU layout the way the shaders
    /// do. A CPU mirror of the kernels' decoding, used by tests.
    pub fn get(&self, r: usize, c: usize) -> f32 {
        let e = r * self.cols + c;
        match self.ty {
            GgmlType::F32 => f32::from_bits(self.qs[e]),
            GgmlType::F16 => half_at(&self.qs, e),
            GgmlType::Q8_0 => {
                let (b, j) = (e / 32, e % 32);
                let q = (self.qs[b * 8 + j / 4] >> (8 * (j % 4))) as u8 as i8;
                half_at(&self.sc, b) * q as f32
            }
            GgmlType::Q4_0 | GgmlType::Q4_1 => {
                let (b, j) = (e / 32, e % 32);
                let byte = j % 16;
                let word = self.qs[b * 4 + byte / 4];
                let shift = 8 * (byte % 4) + if j >= 16 { 4 } else { 0 };
                let q = ((word >> shift) & 0xf) as f32;
                if self.ty == GgmlType::Q4_0 {
                    half_at(&self.sc, b) * (q - 8.0)
                } else {
                    half_at(&self.sc, 2 * b) * q + half_at(&self.sc, 2 * b + 1)
                }
            }
            _ => unreachable!("only supported types are repacked"),
        }
    }

    /// The whole tensor, dequantized from the GPU layout.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(self.get(r, c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dequantize_to_vec, quantize};

    fn data(n: usize) -> Vec<f32> {
        let mut s = 0x1234_5678u32;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn repacked_layout_dequantizes_like_ggml() {
        for ty in [
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
        ] {
            for (rows, cols) in [(3, 64), (5, 96), (1, 32)] {
                let x = data(rows * cols);
                let bytes = quantize(ty, &x).unwrap();
                let want = dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
                let p = repack(ty, rows, cols, &bytes).unwrap();
                let l = Layout::of(ty).unwrap();
                assert_eq!(p.qs.len() % 4, 0);
                assert_eq!(p.qs.len() as u64, l.qs_words((rows * cols) as u64));
                assert_eq!(p.sc.len() as u64, l.sc_words((rows * cols) as u64));
                assert_eq!(p.dequantize(), want, "{ty} {rows}x{cols}");
            }
        }
    }

    #[test]
    fn odd_plain_sizes_are_padded() {
        let x = data(3 * 3);
        let bytes = quantize(GgmlType::F16, &x).unwrap();
        let p = repack(GgmlType::F16, 3, 3, &bytes).unwrap();
        assert_eq!(p.qs.len(), 8);
        assert_eq!(
            p.dequantize(),
            dequantize_to_vec(GgmlType::F16, &bytes, 9).unwrap()
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            repack(GgmlType::Q4_K, 1, 256, &[0; 144]),
            Err(QuantError::Unsupported(GgmlType::Q4_K))
        );
        assert!(matches!(
            repack(GgmlType::Q8_0, 2, 32, &[0; 34]),
            Err(QuantError::SizeMismatch { .. })
        ));
        assert!(matches!(
            repack(GgmlType::Q8_0, 1, 40, &[0; 34]),
            Err(QuantError::NotWholeBlocks { .. })
        ));
    }
}
