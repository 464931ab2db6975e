//! The layout quantized weights are repacked into at load, for the CPU
//! kernels: 16 rows interleaved, so that one SIMD lane is one row and a
//! mat-mul needs no horizontal sums.
//!
//! Every quantized type is read as unsigned integer quants `u` and a float
//! scale `a` (and offset `b`) per sub-block of 16 or 32 elements:
//! `w = a * (u - z)` for types with a zero point `z` (Q4_0, Q5_0, Q8_0,
//! Q3_K, Q6_K) and `w = a * u + b` for types with a min (Q4_1, Q5_1; K-quants
//! store `-dmin * m`). K-quants keep their integer sub-block scales (`a = d *
//! sc`), unpacked to a byte each; everything else is bit for bit what the
//! file holds, so the repacked matrix is as large as the file's (K-quants a
//! few percent more).
//!
//! A matrix is a sequence of row groups (16 rows; the last one padded with
//! zeros). A group holds, for each block of a row (32 elements, or 256 for
//! K-quants), its scale header and then its quants, so that a mat-vec reads
//! one sequential stream:
//!
//! - scale header: f16 `d` of the 16 rows, then f16 `m`/`dmin`, then the
//!   K-quants' sub-block scales (and mins) as one byte per row per sub-block.
//! - quants: per 32-element *unit* (1 per legacy block, 8 per K block), a
//!   few 64-byte planes, each 16 rows x 4 bytes; byte `4r + i` of a plane
//!   holds element `4g + i` of row `r` for the groups `g` (of 4 elements)
//!   that the plane carries:
//!   - nibble planes `p` in 0..4: bits 0..4 of group `p` (low nibble) and of
//!     group `p + 4` (high nibble);
//!   - crumb planes `c` in 0..2: 2 bits of groups `c, c + 2, c + 4, c + 6` at
//!     bits 0, 2, 4, 6 (Q2_K, Q3_K: bits 0..2 of `u`; Q6_K: bits 4..6);
//!   - a bit plane: one bit of every group `g` at bit `g` (Q5: bit 4 of `u`,
//!     Q3_K: bit 2);
//!   - byte planes `g` in 0..8 (Q8_0): the signed quants themselves.

use crate::quant::GgmlType;
use crate::quant::cpu::{k3_scale, k4_scale_min};
#[cfg(test)]
use half::f16;

/// Rows per group: one per lane of a 16-lane vector.
pub(crate) const ROWS: usize = 16;

/// How a type's sub-block scales are stored in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SubScales {
    /// One scale per block: `d` (and `m`).
    None,
    /// Q4_K/Q5_K: 8 scales then 8 mins, a byte each (6 bits used).
    U8,
    /// Q3_K/Q6_K: 16 signed scales.
    I8,
    /// Q2_K: 16 bytes of a scale (low nibble) and a min (high nibble).
    Nib,
}

/// The packed layout of one quant type (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fmt {
    pub ty: GgmlType,
    /// Elements of a row per block.
    pub block: usize,
    /// Elements per sub-block scale: 32 or 16.
    pub sub: usize,
    /// Zero point of the unsigned quants (Q8_0's quants are signed: 0).
    pub z: i32,
    /// `b = +m` (legacy) or `b = -dmin * m` (K-quants); `None` = zero point.
    pub min: Option<MinSign>,
    pub scales: SubScales,
    pub nib: bool,
    pub crumb: bool,
    pub bit: bool,
    pub byte: bool,
    /// Where the crumbs go in `u` (0, or 4 for Q6_K).
    pub crumb_shift: u32,
    /// Where the bit goes in `u` (4 for Q5, 2 for Q3_K).
    pub bit_shift: u32,
    /// Bytes of one unit's quant planes.
    pub unit: usize,
    /// Bytes of a block's scale header (16 rows).
    pub header: usize,
    /// Offsets in the header: `m`/`dmin`, sub-block scales, mins.
    pub m_off: usize,
    pub sc_off: usize,
    pub mn_off: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MinSign {
    Plus,
    Minus,
}

const PLANE: usize = 64;

impl Fmt {
    /// The layout of `ty`, or `None` for a type that isn't repacked (floats).
    pub(crate) const fn of(ty: GgmlType) -> Option<Fmt> {
        let base = Fmt {
            ty,
            block: 32,
            sub: 32,
            z: 0,
            min: None,
            scales: SubScales::None,
            nib: false,
            crumb: false,
            bit: false,
            byte: false,
            crumb_shift: 0,
            bit_shift: 0,
            unit: 0,
            header: 32,
            m_off: 32,
            sc_off: 0,
            mn_off: 0,
        };
        let f = match ty {
            GgmlType::Q4_0 => Fmt {
                z: 8,
                nib: true,
                ..base
            },
            GgmlType::Q4_1 => Fmt {
                min: Some(MinSign::Plus),
                nib: true,
                header: 64,
                ..base
            },
            GgmlType::Q5_0 => Fmt {
                z: 16,
                nib: true,
                bit: true,
                bit_shift: 4,
                ..base
            },
            GgmlType::Q5_1 => Fmt {
                min: Some(MinSign::Plus),
                nib: true,
                bit: true,
                bit_shift: 4,
                header: 64,
                ..base
            },
            GgmlType::Q8_0 => Fmt { byte: true, ..base },
            GgmlType::Q2_K => Fmt {
                block: 256,
                sub: 16,
                min: Some(MinSign::Minus),
                scales: SubScales::Nib,
                crumb: true,
                header: 64 + 256,
                sc_off: 64,
                ..base
            },
            GgmlType::Q3_K => Fmt {
                block: 256,
                sub: 16,
                z: 4,
                scales: SubScales::I8,
                crumb: true,
                bit: true,
                bit_shift: 2,
                header: 32 + 256,
                sc_off: 32,
                ..base
            },
            GgmlType::Q4_K | GgmlType::Q5_K => Fmt {
                block: 256,
                min: Some(MinSign::Minus),
                scales: SubScales::U8,
                nib: true,
                bit: matches!(ty, GgmlType::Q5_K),
                bit_shift: 4,
                header: 64 + 256,
                sc_off: 64,
                mn_off: 64 + 128,
                ..base
            },
            GgmlType::Q6_K => Fmt {
                block: 256,
                sub: 16,
                z: 32,
                scales: SubScales::I8,
                nib: true,
                crumb: true,
                crumb_shift: 4,
                header: 32 + 256,
                sc_off: 32,
                ..base
            },
            _ => return None,
        };
        Some(Fmt {
            unit: f.nib_bytes()
                + f.crumb_bytes()
                + f.bit_bytes()
                + if f.byte { 8 * PLANE } else { 0 },
            ..f
        })
    }

    pub(crate) const fn nib_bytes(&self) -> usize {
        if self.nib { 4 * PLANE } else { 0 }
    }

    pub(crate) const fn crumb_bytes(&self) -> usize {
        if self.crumb { 2 * PLANE } else { 0 }
    }

    const fn bit_bytes(&self) -> usize {
        if self.bit { PLANE } else { 0 }
    }

    /// 32-element units per block.
    pub(crate) const fn units(&self) -> usize {
        self.block / 32
    }

    /// Bytes of one block's quants (16 rows).
    pub(crate) const fn quants(&self) -> usize {
        self.units() * self.unit
    }

    /// Bytes of one block (16 rows): its header, then its quants.
    pub(crate) const fn chunk(&self) -> usize {
        self.header + self.quants()
    }

    /// Bytes of a row group of `cols` columns, padded to whole 64-byte lines.
    pub(crate) const fn group_bytes(&self, cols: usize) -> usize {
        (cols / self.block * self.chunk()).div_ceil(64) * 64
    }
}

/// One block of one row as integers: unsigned quants (Q8_0: the signed
/// quants' bytes), the f16 factors' bits, and the sub-block scales.
struct BlockInts {
    u: [u8; 256],
    d: u16,
    m: u16,
    /// Sub-block scales as the header stores them (one byte each).
    sc: [u8; 16],
    mn: [u8; 8],
}

fn f16_bits(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads block `blk` of type `ty` (checked by the caller: whole blocks).
fn decode(ty: GgmlType, blk: &[u8]) -> BlockInts {
    let mut x = BlockInts {
        u: [0; 256],
        d: 0,
        m: 0,
        sc: [0; 16],
        mn: [0; 8],
    };
    let nib = |qs: &[u8], u: &mut [u8]| {
        for j in 0..16 {
            u[j] = qs[j] & 15;
            u[j + 16] = qs[j] >> 4;
        }
    };
    match ty {
        GgmlType::Q4_0 => {
            x.d = f16_bits(blk, 0);
            nib(&blk[2..18], &mut x.u);
        }
        GgmlType::Q4_1 => {
            (x.d, x.m) = (f16_bits(blk, 0), f16_bits(blk, 2));
            nib(&blk[4..20], &mut x.u);
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let off = if ty == GgmlType::Q5_0 { 2 } else { 4 };
            x.d = f16_bits(blk, 0);
            if ty == GgmlType::Q5_1 {
                x.m = f16_bits(blk, 2);
            }
            let qh = u32::from_le_bytes([blk[off], blk[off + 1], blk[off + 2], blk[off + 3]]);
            nib(&blk[off + 4..off + 20], &mut x.u);
            for j in 0..32 {
                x.u[j] |= (((qh >> j) & 1) << 4) as u8;
            }
        }
        GgmlType::Q8_0 => {
            x.d = f16_bits(blk, 0);
            x.u[..32].copy_from_slice(&blk[2..34]);
        }
        GgmlType::Q2_K => {
            x.sc.copy_from_slice(&blk[..16]);
            (x.d, x.m) = (f16_bits(blk, 80), f16_bits(blk, 82));
            for e in 0..256 {
                let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
                x.u[e] = (blk[16 + 32 * n + l] >> (2 * j)) & 3;
            }
        }
        GgmlType::Q3_K => {
            let (hmask, qs, scales) = (&blk[..32], &blk[32..96], &blk[96..108]);
            x.d = f16_bits(blk, 108);
            for i in 0..16 {
                x.sc[i] = k3_scale(scales, i) as i8 as u8;
            }
            for e in 0..256 {
                let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
                let lo = (qs[32 * n + l] >> (2 * j)) & 3;
                let high = (hmask[l] >> (4 * n + j)) & 1;
                x.u[e] = lo | (high << 2);
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            (x.d, x.m) = (f16_bits(blk, 0), f16_bits(blk, 2));
            let scales = &blk[4..16];
            for j in 0..8 {
                (x.sc[j], x.mn[j]) = k4_scale_min(scales, j);
            }
            let (qh, qs) = if ty == GgmlType::Q5_K {
                (Some(&blk[16..48]), &blk[48..176])
            } else {
                (None, &blk[16..144])
            };
            for e in 0..256 {
                let (s, l) = (e / 32, e % 32);
                let mut q = (qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 15;
                if let Some(qh) = qh {
                    q |= ((qh[l] >> s) & 1) << 4;
                }
                x.u[e] = q;
            }
        }
        GgmlType::Q6_K => {
            let (ql, qh, scales) = (&blk[..128], &blk[128..192], &blk[192..208]);
            x.d = f16_bits(blk, 208);
            x.sc.copy_from_slice(scales);
            for e in 0..256 {
                let (n, k, l) = (e / 128, e % 128 / 32, e % 32);
                let lo = (ql[64 * n + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
                let hi = (qh[32 * n + l] >> (2 * k)) & 3;
                x.u[e] = lo | (hi << 4);
            }
        }
        _ => unreachable!("Fmt::of refuses other types"),
    }
    x
}

/// Writes lane `r` of the 4-byte groups of one unit (`u`: its 32 quants).
fn write_unit(f: &Fmt, u: &[u8], r: usize, out: &mut [u8]) {
    for i in 0..4 {
        let at = 4 * r + i;
        if f.byte {
            for g in 0..8 {
                out[g * PLANE + at] = u[4 * g + i];
            }
            continue;
        }
        let mut off = 0;
        if f.nib {
            for p in 0..4 {
                out[off + p * PLANE + at] = (u[4 * p + i] & 15) | ((u[4 * (p + 4) + i] & 15) << 4);
            }
            off += f.nib_bytes();
        }
        if f.crumb {
            for c in 0..2 {
                out[off + c * PLANE + at] = (0..4).fold(0, |b, k| {
                    b | (((u[4 * (c + 2 * k) + i] >> f.crumb_shift) & 3) << (2 * k))
                });
            }
            off += f.crumb_bytes();
        }
        if f.bit {
            out[off + at] = (0..8).fold(0, |b, g| b | (((u[4 * g + i] >> f.bit_shift) & 1) << g));
        }
    }
}

/// Packs one row group: `rows` gives the raw bytes of each of its (up to 16)
/// rows; missing rows are zeros. `out` is `f.group_bytes(cols)` long.
pub(crate) fn pack_group(f: &Fmt, cols: usize, rows: &[&[u8]], out: &mut [u8]) {
    let n_blk = cols / f.block;
    let blk_bytes = f.ty.type_size();
    for (r, row) in rows.iter().enumerate() {
        for b in 0..n_blk {
            let x = decode(f.ty, &row[b * blk_bytes..(b + 1) * blk_bytes]);
            let (h, q) = out[b * f.chunk()..(b + 1) * f.chunk()].split_at_mut(f.header);
            for unit in 0..f.units() {
                let u = &x.u[32 * unit..32 * unit + 32];
                write_unit(f, u, r, &mut q[unit * f.unit..][..f.unit]);
            }
            h[2 * r..2 * r + 2].copy_from_slice(&x.d.to_le_bytes());
            if f.min.is_some() {
                h[f.m_off + 2 * r..f.m_off + 2 * r + 2].copy_from_slice(&x.m.to_le_bytes());
            }
            let n_sub = f.block / f.sub;
            match f.scales {
                SubScales::None => {}
                SubScales::U8 => {
                    for s in 0..n_sub {
                        h[f.sc_off + s * ROWS + r] = x.sc[s];
                        h[f.mn_off + s * ROWS + r] = x.mn[s];
                    }
                }
                SubScales::I8 | SubScales::Nib => {
                    for s in 0..n_sub {
                        h[f.sc_off + s * ROWS + r] = x.sc[s];
                    }
                }
            }
        }
    }
}

/// Element `e` (0..32) of lane `r` of a unit, as an unsigned quant (Q8_0:
/// the signed quant's byte).
#[cfg(test)]
pub(crate) fn unit_quant(f: &Fmt, unit: &[u8], r: usize, e: usize) -> u8 {
    let (g, i) = (e / 4, e % 4);
    let at = 4 * r + i;
    if f.byte {
        return unit[g * PLANE + at];
    }
    let mut u = 0;
    let mut off = 0;
    if f.nib {
        u = (unit[(g % 4) * PLANE + at] >> (4 * (g / 4))) & 15;
        off += f.nib_bytes();
    }
    if f.crumb {
        u |= ((unit[off + (g % 2) * PLANE + at] >> (2 * (g / 2))) & 3) << f.crumb_shift;
        off += f.crumb_bytes();
    }
    if f.bit {
        u |= ((unit[off + at] >> g) & 1) << f.bit_shift;
    }
    u
}

/// The scale `a` and offset `b` of sub-block `s` of lane `r` in a block
/// header: `w = a * u + b` (types with a min) or `a * (u - z)`.
#[cfg(test)]
pub(crate) fn sub_scale(f: &Fmt, h: &[u8], r: usize, s: usize) -> (f32, f32) {
    let half = |at: usize| f16::from_bits(f16_bits(h, at)).to_f32();
    let d = half(2 * r);
    let m = if f.min.is_some() {
        half(f.m_off + 2 * r)
    } else {
        0.0
    };
    let byte = |off: usize| h[off + s * ROWS + r];
    match f.scales {
        SubScales::None => (d, m),
        SubScales::U8 => (d * byte(f.sc_off) as f32, -(m * byte(f.mn_off) as f32)),
        SubScales::I8 => (d * (byte(f.sc_off) as i8) as f32, 0.0),
        SubScales::Nib => (
            d * (byte(f.sc_off) & 15) as f32,
            -(m * (byte(f.sc_off) >> 4) as f32),
        ),
    }
}

/// Dequantizes lane `r` of a packed row group into `out` (`cols` values),
/// with the reference's f32 operations: equal to `quant::dequantize` bit for
/// bit.
#[cfg(test)]
pub(crate) fn dequantize_lane(f: &Fmt, group: &[u8], cols: usize, r: usize, out: &mut [f32]) {
    let n_blk = cols / f.block;
    for b in 0..n_blk {
        let (h, quants) = group[b * f.chunk()..(b + 1) * f.chunk()].split_at(f.header);
        for unit in 0..f.units() {
            let q = &quants[unit * f.unit..][..f.unit];
            for e in 0..32 {
                let s = (32 * unit + e) / f.sub;
                let (a, off) = sub_scale(f, h, r, s);
                let u = unit_quant(f, q, r, e);
                out[b * f.block + 32 * unit + e] = if f.byte {
                    a * (u as i8) as f32
                } else if f.min.is_some() {
                    a * u as f32 + off
                } else {
                    a * (u as i32 - f.z) as f32
                };
            }
        }
    }
}
