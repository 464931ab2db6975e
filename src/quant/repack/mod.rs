//! The GPU layout of weight tensors ("repacking").
//!
//! WGSL can only load 32-bit words (there are no byte or 16-bit loads), and
//! ggml blocks are neither 4-byte sized nor aligned (Q8_0 is 34 bytes, Q4_0 18).
//! So at load time every weight matrix (or each row range of it, see
//! the GPU's `QMatrix`) is rewritten into two `u32` arrays, a "struct of
//! arrays" instead of ggml's array of structs:
//!
//! * `qs`: the quantized values, in **units of 16 bytes** (one `vec4<u32>` in
//!   the shaders). A *chunk* of [`Layout::chunk_elems`] consecutive elements
//!   of a row takes [`Layout::chunk_vec4s`] such units. Chunks are stored in
//!   row-major order: chunk `k` of row `r` (in the part) is chunk number
//!   `r * cols / chunk_elems + k`. Within a chunk the bytes keep ggml's order
//!   for the older types; for K-quants the low bits of each chunk are
//!   gathered into its own units (ggml interleaves sub-blocks).
//! * `sc`: the per-block scales (and mins), packed densely in the same block
//!   order, and, for the types whose quants have more bits than fit whole
//!   units (Q5_*, Q3_K, Q5_K, Q6_K), their high bits.
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
//! | BF16 | 8 elements | as F16 (a bf16 is the top half of an f32) | none |
//! | Q5_0 | 32 (one block) | the low 4 bits, as Q4_0 | 3 words per pair of blocks: both `d` (f16), `qh` of the even block, `qh` of the odd one (bit `i`: bit 4 of element `i`) |
//! | Q5_1 | 32 (one block) | as Q5_0 | 2 words per block: `d` low half and `m` high half, then `qh` |
//! | Q2_K | 64 (¼ super-block) | 2-bit quants, word `w` holding elements `16w..16w+16` at bits `2i` | 5 words per super-block: `d` and `dmin` (f16), then the 16 scale/min bytes as in ggml (byte `4s + w` is for elements `16w..` of chunk `s`) |
//! | Q3_K | 64 (¼ super-block) | the low 2 bits, as Q2_K | 23 words per pair of super-blocks: both `d` (f16), then per super-block 8 words of high bits (word `2s + h`, bit `l`: element `32h + l` of chunk `s`) and ggml's 12 bytes of packed 6-bit scales |
//! | Q4_K | 32 (⅛ super-block) | the 32 nibbles of the chunk, as Q4_0 | 4 words per super-block: `d` and `dmin` (f16), ggml's 12 bytes of packed 6-bit scales and mins |
//! | Q5_K | 32 (⅛ super-block) | the low 4 bits, as Q4_K | 12 words per super-block: as Q4_K, then one word of high bits per chunk (bit `i`: element `i`) |
//! | Q6_K | 32 (⅛ super-block) | the low 4 bits, as Q4_K | 41 words per pair of super-blocks: both `d` (f16), then per super-block two words of high 2-bit pairs per chunk (elements `0..16`, `16..32` at bits `2i`) and the 16 signed 8-bit scales as in ggml (byte `2s + h` for elements `16h..` of chunk `s`) |
//!
//! Every type keeps ggml's size exactly: `qs` plus `sc` take as many bytes
//! as the ggml blocks (up to the padding of the last unit and word). The
//! layouts that pair blocks put the shared word of two f16 scales first, so
//! that a part with an odd number of blocks needs no padding inside. The
//! shaders read each chunk with one 16-byte load plus a few scale words;
//! the K-quants' 6-bit scales are unpacked in the shader (a few integer
//! operations per 32 or 64 elements) rather than widened at load time,
//! which would cost an extra word per super-block of memory bandwidth.
//! Chunks of 64 for Q2_K/Q3_K keep one unit per chunk (their 2-bit quants
//! of 32 elements would fill half a unit).
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
//! row, which reads both arrays sequentially.

#[cfg(feature = "testing")]
mod mirror;

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
            GgmlType::BF16 => (8, 1, 0, 0, 1),
            GgmlType::Q5_0 => (32, 1, 32, 3, 2),
            GgmlType::Q5_1 => (32, 1, 32, 2, 1),
            GgmlType::Q2_K => (64, 1, 256, 5, 1),
            GgmlType::Q3_K => (64, 1, 256, 23, 2),
            GgmlType::Q4_K => (32, 1, 256, 4, 1),
            GgmlType::Q5_K => (32, 1, 256, 12, 1),
            GgmlType::Q6_K => (32, 1, 256, 41, 2),
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
        GgmlType::F16 | GgmlType::BF16 => {
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
        GgmlType::Q5_0
        | GgmlType::Q5_1
        | GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K => repack_blocks(ty, bytes, &mut qs, &mut sc),
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

/// 32 nibbles (or the low 4 bits of 32 values) as one 16-byte unit: byte
/// `j` holds element `j` (low nibble) and element `j + 16` (high nibble).
fn nibble_unit(q: impl Fn(usize) -> u8) -> [u32; 4] {
    let mut u = [0u32; 4];
    for j in 0..16 {
        let b = (q(j) & 0x0f) as u32 | (((q(j + 16) & 0x0f) as u32) << 4);
        u[j / 4] |= b << (8 * (j % 4));
    }
    u
}

/// `n` values of `bits` bits each, packed from bit 0 of a word up.
fn pack_bits(bits: usize, n: usize, q: impl Fn(usize) -> u8) -> u32 {
    (0..n).fold(0, |w, i| w | ((q(i) as u32) << (bits * i)))
}

/// The Q5_0/Q5_1/K-quant arms of [`repack`] (see the module docs).
fn repack_blocks(ty: GgmlType, bytes: &[u8], qs: &mut Vec<u32>, sc: &mut Vec<u32>) {
    let ts = ty.type_size();
    // For layouts that pair blocks around a shared word of two f16 scales:
    // where that word is, for the odd block.
    let mut pair_word = 0;
    let mut paired_f16 = |sc: &mut Vec<u32>, i: usize, d: u32| {
        if i.is_multiple_of(2) {
            pair_word = sc.len();
            sc.push(d);
        } else {
            sc[pair_word] |= d << 16;
        }
    };
    for (i, blk) in bytes.chunks_exact(ts).enumerate() {
        match ty {
            GgmlType::Q5_0 => {
                paired_f16(sc, i, le_u16(blk));
                sc.push(le_u32(&blk[2..]));
                qs.extend(blk[6..22].chunks_exact(4).map(le_u32));
            }
            GgmlType::Q5_1 => {
                sc.push(le_u32(blk));
                sc.push(le_u32(&blk[4..]));
                qs.extend(blk[8..24].chunks_exact(4).map(le_u32));
            }
            GgmlType::Q2_K => {
                let (scales, q2) = (&blk[..16], &blk[16..80]);
                sc.push(le_u32(&blk[80..]));
                sc.extend(scales.chunks_exact(4).map(le_u32));
                // Chunk s (64 elements): word w holds elements 16w..16w+16,
                // 2 bits each; element i of the chunk is element
                // e = 64s + i of the block: bits 2j of q2[32n + l].
                for s in 0..4 {
                    for w in 0..4 {
                        qs.push(pack_bits(2, 16, |k| {
                            let e = 64 * s + 16 * w + k;
                            (q2[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3
                        }));
                    }
                }
            }
            GgmlType::Q3_K => {
                let (hmask, q2, scales) = (&blk[..32], &blk[32..96], &blk[96..108]);
                paired_f16(sc, i, le_u16(&blk[108..]));
                // High bits: word 2s + h, bit l = element 32h + l of chunk
                // s = bit 2s + h of hmask[l].
                sc.extend((0..8).map(|b| pack_bits(1, 32, |l| (hmask[l] >> b) & 1)));
                sc.extend(scales.chunks_exact(4).map(le_u32));
                for s in 0..4 {
                    for w in 0..4 {
                        qs.push(pack_bits(2, 16, |k| {
                            let e = 64 * s + 16 * w + k;
                            (q2[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3
                        }));
                    }
                }
            }
            GgmlType::Q4_K | GgmlType::Q5_K => {
                sc.push(le_u32(blk));
                sc.extend(blk[4..16].chunks_exact(4).map(le_u32));
                let q4 = if ty == GgmlType::Q5_K {
                    let qh = &blk[16..48];
                    sc.extend((0..8).map(|s| pack_bits(1, 32, |l| (qh[l] >> s) & 1)));
                    &blk[48..176]
                } else {
                    &blk[16..144]
                };
                for s in 0..8 {
                    qs.extend(nibble_unit(|l| q4[32 * (s / 2) + l] >> (4 * (s % 2))));
                }
            }
            GgmlType::Q6_K => {
                let (ql, qh, scales) = (&blk[..128], &blk[128..192], &blk[192..208]);
                paired_f16(sc, i, le_u16(&blk[208..]));
                // Chunk s = 4n + k (32 elements): low 4 bits as a nibble
                // unit; the high 2 bits in two words (elements 0..16 and
                // 16..32 of the chunk).
                let lo =
                    |s: usize, l: usize| ql[64 * (s / 4) + 32 * (s % 2) + l] >> (4 * (s % 4 / 2));
                let hi = |s: usize, l: usize| (qh[32 * (s / 4) + l] >> (2 * (s % 4))) & 3;
                for s in 0..8 {
                    sc.push(pack_bits(2, 16, |l| hi(s, l)));
                    sc.push(pack_bits(2, 16, |l| hi(s, l + 16)));
                    qs.extend(nibble_unit(|l| lo(s, l)));
                }
                sc.extend(scales.chunks_exact(4).map(le_u32));
            }
            _ => unreachable!("only the types above"),
        }
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
        for &ty in crate::quant::SUPPORTED {
            for (rows, cols) in [(3usize, 64usize), (5, 96), (1, 32), (3, 512), (1, 256)] {
                if !cols.is_multiple_of(ty.block_size()) {
                    continue;
                }
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

    /// Random blocks: every quant bit pattern and sub-block scale, f16
    /// fields set to random finite values of weight-like and extreme size.
    fn random_blocks(ty: GgmlType, n_blocks: usize, seed: u32) -> Vec<u8> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        let mut bytes: Vec<u8> = (0..n_blocks * ty.type_size())
            .map(|_| next() as u8)
            .collect();
        for (b, blk) in bytes.chunks_exact_mut(ty.type_size()).enumerate() {
            for &off in ty.f16_field_offsets() {
                let h = if b % 3 == 0 {
                    // Any finite f16, subnormals included.
                    let h = next() as u16;
                    if h & 0x7c00 == 0x7c00 { h & 0x83ff } else { h }
                } else {
                    half::f16::from_f32((next() % 2001) as f32 * 1e-4 - 0.1).to_bits()
                };
                blk[off..off + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
        bytes
    }

    #[test]
    fn repacked_random_blocks_dequantize_bitwise_like_ggml() {
        for &ty in crate::quant::SUPPORTED {
            if ty.f16_field_offsets().is_empty() {
                continue;
            }
            // Odd block counts exercise the layouts that pair blocks.
            for (rows, cols) in [(1, 256), (3, 256), (2, 768), (5, 512)] {
                let n = rows * cols;
                let bytes = random_blocks(ty, n / ty.block_size(), (n + ty.id() as usize) as u32);
                let want = dequantize_to_vec(ty, &bytes, n).unwrap();
                let p = repack(ty, rows, cols, &bytes).unwrap();
                let l = Layout::of(ty).unwrap();
                assert_eq!(p.qs.len() as u64, l.qs_words(n as u64), "{ty}");
                assert_eq!(p.sc.len() as u64, l.sc_words(n as u64), "{ty}");
                // Sizes on the GPU equal the file's (up to the padding).
                let (q, sc) = l.bytes(rows as u64, cols as u64).unwrap();
                assert!(q + sc - bytes.len() as u64 <= 4 + 15, "{ty}: {q} + {sc}");
                let got = p.dequantize();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        g.to_bits(),
                        w.to_bits(),
                        "{ty} {rows}x{cols} element {i}: {g} vs {w}"
                    );
                }
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
            repack(GgmlType::IQ4_XS, 1, 256, &[0; 136]),
            Err(QuantError::Unsupported(GgmlType::IQ4_XS))
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
