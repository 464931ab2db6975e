//! CPU reference (de)quantization. This is the ground truth the GPU kernels
//! are tested against, so it favours clarity over speed.

use super::GgmlType;
use half::{bf16, f16};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuantError {
    #[error("tensor type {0} is not supported")]
    Unsupported(GgmlType),
    #[error("{ty}: {n} elements is not a whole number of {block}-element blocks")]
    NotWholeBlocks {
        ty: GgmlType,
        n: usize,
        block: usize,
    },
    #[error("{ty}: {n_bytes} bytes of data for {n_elements} elements (expected {expected})")]
    SizeMismatch {
        ty: GgmlType,
        n_bytes: usize,
        n_elements: usize,
        expected: usize,
    },
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

fn check_sizes(ty: GgmlType, n_bytes: usize, n_elements: usize) -> Result<(), QuantError> {
    let block = ty.block_size();
    if !n_elements.is_multiple_of(block) {
        return Err(QuantError::NotWholeBlocks {
            ty,
            n: n_elements,
            block,
        });
    }
    let expected = n_elements / block * ty.type_size();
    if n_bytes != expected {
        return Err(QuantError::SizeMismatch {
            ty,
            n_bytes,
            n_elements,
            expected,
        });
    }
    Ok(())
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K/Q5_K
/// super-block, from its 12 packed scale bytes: sub-blocks 0..3 keep theirs
/// in the low 6 bits of bytes `j` and `j + 4`; sub-blocks 4..7 have their low
/// 4 bits in the nibbles of byte `j + 4` and their top 2 bits in the top bits
/// of bytes `j - 4` (scale) and `j` (min).
pub(crate) fn k4_scale_min(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// The signed 6-bit scale `i` (0..16) of a Q3_K super-block, from its 12
/// packed scale bytes: the low 4 bits are the low (`i < 8`) or high nibble
/// of byte `i % 8`, the top 2 bits are bits `2 * (i / 4)` of byte `8 + i % 4`;
/// the stored value is offset by 32.
pub(crate) fn k3_scale(s: &[u8], i: usize) -> i32 {
    let lo = (s[i % 8] >> (4 * (i / 8))) & 0x0f;
    let hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    (lo | (hi << 4)) as i32 - 32
}

/// Dequantizes one block. The formulas keep ggml's order of f32 operations
/// (products of an f16 scale and a small integer are exact in f32): `d * q`,
/// `d * q + m`, or for K-quants `(d * sc) * q - (dmin * m)` and `(d * sc) * q`.
fn dequantize_block(ty: GgmlType, blk: &[u8], y: &mut [f32]) {
    match ty {
        GgmlType::F32 => y[0] = f32::from_le_bytes([blk[0], blk[1], blk[2], blk[3]]),
        GgmlType::F16 => y[0] = f16_at(blk, 0),
        GgmlType::BF16 => y[0] = bf16::from_le_bytes([blk[0], blk[1]]).to_f32(),
        GgmlType::Q8_0 => {
            // d: f16, qs: 32 x i8
            let d = f16_at(blk, 0);
            for (j, v) in y.iter_mut().enumerate() {
                *v = d * (blk[2 + j] as i8) as f32;
            }
        }
        GgmlType::Q4_0 => {
            // d: f16, qs: 16 bytes; low nibbles are elements 0..16, high 16..32
            let d = f16_at(blk, 0);
            for j in 0..16 {
                let q = blk[2 + j];
                y[j] = d * ((q & 0x0f) as i32 - 8) as f32;
                y[j + 16] = d * ((q >> 4) as i32 - 8) as f32;
            }
        }
        GgmlType::Q4_1 => {
            // d: f16, m: f16, qs: 16 bytes; value = d * q + m
            let d = f16_at(blk, 0);
            let m = f16_at(blk, 2);
            for j in 0..16 {
                let q = blk[4 + j];
                y[j] = d * (q & 0x0f) as f32 + m;
                y[j + 16] = d * (q >> 4) as f32 + m;
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            // Q5_0: d: f16, qh: u32, qs: 16 bytes; value = d * (q - 16).
            // Q5_1: d: f16, m: f16, qh: u32, qs: 16 bytes; value = d * q + m.
            // q = nibble (as Q4_0) | bit j of qh << 4 for element j.
            let d = f16_at(blk, 0);
            let off = if ty == GgmlType::Q5_0 { 2 } else { 4 };
            let qh = u32::from_le_bytes([blk[off], blk[off + 1], blk[off + 2], blk[off + 3]]);
            let qs = &blk[off + 4..off + 20];
            for (j, v) in y.iter_mut().enumerate() {
                let nib = if j < 16 {
                    qs[j] & 0x0f
                } else {
                    qs[j - 16] >> 4
                };
                let q = (nib as u32 | ((qh >> j) & 1) << 4) as i32;
                *v = if ty == GgmlType::Q5_0 {
                    d * (q - 16) as f32
                } else {
                    d * q as f32 + f16_at(blk, 2)
                };
            }
        }
        GgmlType::Q2_K => {
            // scales: 16 bytes (low nibble: scale, high nibble: min of each
            // 16-element sub-block), qs: 64 bytes, d: f16, dmin: f16.
            // Element 128n + 32j + l is bits 2j..2j+2 of qs[32n + l].
            let (scales, qs) = (&blk[..16], &blk[16..80]);
            let d = f16_at(blk, 80);
            let dmin = f16_at(blk, 82);
            for (e, v) in y.iter_mut().enumerate() {
                let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
                let q = (qs[32 * n + l] >> (2 * j)) & 3;
                let s = scales[e / 16];
                let dl = d * (s & 0x0f) as f32;
                let ml = dmin * (s >> 4) as f32;
                *v = dl * q as f32 - ml;
            }
        }
        GgmlType::Q3_K => {
            // hmask: 32 bytes, qs: 64 bytes, scales: 12 bytes (16 signed
            // 6-bit scales), d: f16. Element 128n + 32j + l: low 2 bits as
            // Q2_K; 4 is subtracted unless bit 4n + j of hmask[l] is set.
            let (hmask, qs, scales) = (&blk[..32], &blk[32..96], &blk[96..108]);
            let d = f16_at(blk, 108);
            for (e, v) in y.iter_mut().enumerate() {
                let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
                let lo = ((qs[32 * n + l] >> (2 * j)) & 3) as i32;
                let high = (hmask[l] >> (4 * n + j)) & 1;
                let q = lo - if high == 1 { 0 } else { 4 };
                let dl = d * k3_scale(scales, e / 16) as f32;
                *v = dl * q as f32;
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            // d: f16, dmin: f16, scales: 12 bytes (8 scales and mins of
            // 6 bits), [Q5_K: qh: 32 bytes], qs: 128 bytes. Sub-block
            // s = 2g + h (32 elements) is nibble h of qs[32g..32g + 32];
            // Q5_K adds bit s of qh[l] << 4 to element l of sub-block s.
            let d = f16_at(blk, 0);
            let dmin = f16_at(blk, 2);
            let scales = &blk[4..16];
            let (qh, qs) = if ty == GgmlType::Q5_K {
                (Some(&blk[16..48]), &blk[48..176])
            } else {
                (None, &blk[16..144])
            };
            for (e, v) in y.iter_mut().enumerate() {
                let (s, l) = (e / 32, e % 32);
                let mut q = (qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 0x0f;
                if let Some(qh) = qh {
                    q |= ((qh[l] >> s) & 1) << 4;
                }
                let (sc, m) = k4_scale_min(scales, s);
                let d1 = d * sc as f32;
                let m1 = dmin * m as f32;
                *v = d1 * q as f32 - m1;
            }
        }
        GgmlType::Q6_K => {
            // ql: 128 bytes (low 4 bits), qh: 64 bytes (high 2 bits),
            // scales: 16 x i8, d: f16. In each half n (128 elements), the
            // quarter k (32 elements, l = 0..32) takes the low (k < 2) or
            // high nibble of ql[64n + 32(k % 2) + l] and bits 2k..2k+2 of
            // qh[32n + l]; value = (d * scale) * (q - 32).
            let (ql, qh, scales) = (&blk[..128], &blk[128..192], &blk[192..208]);
            let d = f16_at(blk, 208);
            for (e, v) in y.iter_mut().enumerate() {
                let (n, k, l) = (e / 128, e % 128 / 32, e % 32);
                let lo = (ql[64 * n + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
                let hi = (qh[32 * n + l] >> (2 * k)) & 3;
                let q = (lo | (hi << 4)) as i32 - 32;
                let dl = d * (scales[e / 16] as i8) as f32;
                *v = dl * q as f32;
            }
        }
        _ => unreachable!("checked by is_supported"),
    }
}

/// Dequantizes `bytes` (a whole number of blocks of `ty`) into `out`, whose
/// length is the number of elements.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    if !ty.is_supported() {
        return Err(QuantError::Unsupported(ty));
    }
    check_sizes(ty, bytes.len(), out.len())?;
    let bs = ty.block_size();
    let ts = ty.type_size();
    for (blk, y) in bytes.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
        dequantize_block(ty, blk, y);
    }
    Ok(())
}

/// Dequantizes a whole tensor into a new vector.
pub fn dequantize_to_vec(
    ty: GgmlType,
    bytes: &[u8],
    n_elements: usize,
) -> Result<Vec<f32>, QuantError> {
    let mut out = vec![0.0; n_elements];
    dequantize(ty, bytes, &mut out)?;
    Ok(out)
}

/// Quantizes `x` to `ty` the way ggml's reference quantizers do (round to
/// nearest, one scale per block). Used to build test models and test data.
pub fn quantize(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>, QuantError> {
    let bs = ty.block_size();
    if !x.len().is_multiple_of(bs) {
        return Err(QuantError::NotWholeBlocks {
            ty,
            n: x.len(),
            block: bs,
        });
    }
    let mut out = Vec::with_capacity(x.len() / bs * ty.type_size());
    for b in x.chunks_exact(bs) {
        match ty {
            GgmlType::F32 => out.extend_from_slice(&b[0].to_le_bytes()),
            GgmlType::F16 => out.extend_from_slice(&f16::from_f32(b[0]).to_le_bytes()),
            GgmlType::BF16 => out.extend_from_slice(&bf16::from_f32(b[0]).to_le_bytes()),
            GgmlType::Q8_0 => {
                let amax = b.iter().fold(0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                out.extend(b.iter().map(|v| (v * id).round() as i8 as u8));
            }
            GgmlType::Q4_0 => {
                // The scale maps the value of largest magnitude to -8.
                let max = b
                    .iter()
                    .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
                let d = max / -8.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
                out.extend((0..16).map(|j| q(b[j]) | (q(b[j + 16]) << 4)));
            }
            GgmlType::Q4_1 => {
                let min = b.iter().copied().fold(f32::INFINITY, f32::min);
                let max = b.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let d = (max - min) / 15.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
                let q = |v: f32| (((v - min) * id + 0.5) as i32).clamp(0, 15) as u8;
                out.extend((0..16).map(|j| q(b[j]) | (q(b[j + 16]) << 4)));
            }
            GgmlType::Q5_0 => {
                // As Q4_0 with 5 bits: the largest magnitude maps to -16.
                let max = b
                    .iter()
                    .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
                let d = max / -16.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let q: Vec<u8> = b
                    .iter()
                    .map(|v| ((v * id + 16.5) as i32).clamp(0, 31) as u8)
                    .collect();
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                push_q5(&mut out, &q);
            }
            GgmlType::Q5_1 => {
                let min = b.iter().copied().fold(f32::INFINITY, f32::min);
                let max = b.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let d = (max - min) / 31.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let q: Vec<u8> = b
                    .iter()
                    .map(|v| (((v - min) * id + 0.5) as i32).clamp(0, 31) as u8)
                    .collect();
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
                push_q5(&mut out, &q);
            }
            GgmlType::Q2_K => quantize_q2_k(b, &mut out),
            GgmlType::Q3_K => quantize_q3_k(b, &mut out),
            GgmlType::Q4_K | GgmlType::Q5_K => quantize_q45_k(ty, b, &mut out),
            GgmlType::Q6_K => quantize_q6_k(b, &mut out),
            other => return Err(QuantError::Unsupported(other)),
        }
    }
    Ok(out)
}

/// Appends Q5_0/Q5_1's `qh` (bit j: bit 4 of element j) and `qs` (as Q4_0).
fn push_q5(out: &mut Vec<u8>, q: &[u8]) {
    let qh = q
        .iter()
        .enumerate()
        .fold(0u32, |h, (j, &v)| h | (((v >> 4) as u32 & 1) << j));
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend((0..16).map(|j| (q[j] & 0x0f) | (q[j + 16] << 4)));
}

// K-quant quantizers. These are deliberately simple (one pass: each
// sub-block's scale from its extremes, the scales quantized against the
// largest one), not ggml's iterative error-minimizing search: rewind only
// needs them to write test models. Real K-quant files come from llama.cpp.

/// The f32 value of `v` rounded to f16 (the precision the file stores).
fn f16_round(v: f32) -> f32 {
    f16::from_f32(v).to_f32()
}

/// `v` rounded to the nearest integer, clamped to `lo..=hi` (NaN gives `lo`
/// or 0, whichever is in range).
fn nearest(v: f32, lo: i32, hi: i32) -> i32 {
    (v.round() as i32).clamp(lo, hi)
}

/// The value of largest magnitude (the first one on ties).
fn signed_max(x: &[f32]) -> f32 {
    x.iter()
        .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
}

/// Quantizes `x / d` to `lo..=hi`, or 0 when `d` is 0.
fn q_of(x: f32, d: f32, lo: i32, hi: i32) -> i32 {
    if d != 0.0 { nearest(x / d, lo, hi) } else { 0 }
}

/// Asymmetric sub-block quantization (Q2_K, Q4_K, Q5_K): per sub-block a
/// scale (range / `nmax`) and a min (`-min(0, lowest)`), both quantized to
/// `0..=smax` against f16 super-block factors `d` and `dmin`. Returns
/// (d, dmin, scales, mins, quants).
fn asym_k(x: &[f32], sub: usize, nmax: i32, smax: i32) -> (f32, f32, Vec<u8>, Vec<u8>, Vec<u8>) {
    let n_sub = x.len() / sub;
    let mut scale = vec![0f32; n_sub];
    let mut min = vec![0f32; n_sub];
    for (s, part) in x.chunks_exact(sub).enumerate() {
        let lo = part.iter().copied().fold(0f32, f32::min);
        let hi = part.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        scale[s] = (hi - lo) / nmax as f32;
        min[s] = -lo;
    }
    let d = f16_round(scale.iter().copied().fold(0f32, f32::max) / smax as f32);
    let dmin = f16_round(min.iter().copied().fold(0f32, f32::max) / smax as f32);
    let sc: Vec<u8> = scale.iter().map(|&v| q_of(v, d, 0, smax) as u8).collect();
    let mn: Vec<u8> = min.iter().map(|&v| q_of(v, dmin, 0, smax) as u8).collect();
    let q = x
        .iter()
        .enumerate()
        .map(|(e, &v)| {
            let s = e / sub;
            let ds = d * sc[s] as f32;
            let dm = dmin * mn[s] as f32;
            q_of(v + dm, ds, 0, nmax) as u8
        })
        .collect();
    (d, dmin, sc, mn, q)
}

/// Symmetric sub-block quantization (Q3_K, Q6_K): per sub-block the value
/// of largest magnitude maps to `qmin` (negative), the scales are quantized
/// to `-smax - 1..=smax` against an f16 factor `d`. Returns (d, scales,
/// quants).
fn sym_k(x: &[f32], sub: usize, qmin: i32, smax: i32) -> (f32, Vec<i32>, Vec<i32>) {
    let scale: Vec<f32> = x
        .chunks_exact(sub)
        .map(|part| signed_max(part) / qmin as f32)
        .collect();
    let d = f16_round(signed_max(&scale).abs() / smax as f32);
    let sc: Vec<i32> = scale.iter().map(|&v| q_of(v, d, -smax - 1, smax)).collect();
    let q = x
        .iter()
        .enumerate()
        .map(|(e, &v)| q_of(v, d * sc[e / sub] as f32, qmin, -qmin - 1))
        .collect();
    (d, sc, q)
}

fn quantize_q2_k(x: &[f32], out: &mut Vec<u8>) {
    let (d, dmin, sc, mn, q) = asym_k(x, 16, 3, 15);
    out.extend((0..16).map(|i| sc[i] | (mn[i] << 4)));
    for n in 0..2 {
        out.extend(
            (0..32).map(|l| (0..4).fold(0u8, |b, j| b | (q[128 * n + 32 * j + l] << (2 * j)))),
        );
    }
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    out.extend_from_slice(&f16::from_f32(dmin).to_le_bytes());
}

fn quantize_q3_k(x: &[f32], out: &mut Vec<u8>) {
    let (d, sc, q) = sym_k(x, 16, -4, 31);
    // Stored unsigned: u = q + 4; its bit 2 goes to hmask.
    let u: Vec<u8> = q.iter().map(|&v| (v + 4) as u8).collect();
    out.extend((0..32).map(|l| (0..8).fold(0u8, |h, b| h | ((u[32 * b + l] >> 2) << b))));
    for n in 0..2 {
        out.extend(
            (0..32)
                .map(|l| (0..4).fold(0u8, |b, j| b | ((u[128 * n + 32 * j + l] & 3) << (2 * j)))),
        );
    }
    let v: Vec<u8> = sc.iter().map(|&s| (s + 32) as u8).collect();
    let mut scales = [0u8; 12];
    for (i, &s) in v.iter().enumerate() {
        scales[i % 8] |= (s & 0x0f) << (4 * (i / 8));
        scales[8 + i % 4] |= (s >> 4) << (2 * (i / 4));
    }
    out.extend_from_slice(&scales);
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
}

fn quantize_q45_k(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) {
    let five = ty == GgmlType::Q5_K;
    let (d, dmin, sc, mn, q) = asym_k(x, 32, if five { 31 } else { 15 }, 63);
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    out.extend_from_slice(&f16::from_f32(dmin).to_le_bytes());
    let mut scales = [0u8; 12];
    for j in 0..4 {
        scales[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        scales[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
        scales[j + 8] = (sc[j + 4] & 0x0f) | ((mn[j + 4] & 0x0f) << 4);
    }
    out.extend_from_slice(&scales);
    if five {
        out.extend((0..32).map(|l| (0..8).fold(0u8, |h, s| h | (((q[32 * s + l] >> 4) & 1) << s))));
    }
    for g in 0..4 {
        out.extend((0..32).map(|l| (q[64 * g + l] & 0x0f) | ((q[64 * g + 32 + l] & 0x0f) << 4)));
    }
}

fn quantize_q6_k(x: &[f32], out: &mut Vec<u8>) {
    let (d, sc, q) = sym_k(x, 16, -32, 127);
    let u: Vec<u8> = q.iter().map(|&v| (v + 32) as u8).collect();
    // ql: half n, quarter k: nibble k / 2 of ql[64n + 32(k % 2) + l].
    for n in 0..2 {
        for half in 0..2 {
            out.extend((0..32).map(|l| {
                let e = 128 * n + 32 * half + l;
                (u[e] & 0x0f) | ((u[e + 64] & 0x0f) << 4)
            }));
        }
    }
    for n in 0..2 {
        out.extend(
            (0..32)
                .map(|l| (0..4).fold(0u8, |h, k| h | ((u[128 * n + 32 * k + l] >> 4) << (2 * k)))),
        );
    }
    out.extend(sc.iter().map(|&s| s as i8 as u8));
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect()
    }

    #[test]
    fn quantize_round_trips_within_half_a_step() {
        let x = ramp(256);
        for (ty, tol) in [
            (GgmlType::F32, 0.0),
            (GgmlType::F16, 2e-3),
            (GgmlType::BF16, 2e-2),
            (GgmlType::Q8_0, 2.0 / 127.0 / 2.0 + 1e-3),
            // Q4_0 is asymmetric (-8..7): the extreme of the other sign loses a full step.
            (GgmlType::Q4_0, 2.0 / 8.0 + 1e-2),
            (GgmlType::Q4_1, 4.0 / 15.0 / 2.0 + 1e-2),
        ] {
            let q = quantize(ty, &x).unwrap();
            assert_eq!(q.len() as u64, ty.bytes_for(256).unwrap());
            let y = dequantize_to_vec(ty, &q, 256).unwrap();
            for (a, b) in x.iter().zip(&y) {
                assert!((a - b).abs() <= tol, "{ty}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn quantizers_of_the_newer_types_round_trip() {
        // Sub-blocks of 16 with magnitudes from 0.2 to 2 (and signs) make
        // the sub-block scales differ, so their own quantization counts.
        let x: Vec<f32> = ramp(1024)
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1 + i / 16 % 10) as f32 / 5.0)
            .collect();
        // Worst error relative to the largest magnitude `a` of the element's
        // block (Q5_0/Q5_1) or super-block (K-quants): half a quantization
        // step (a range of up to 2a for types with a min; a whole step for
        // the symmetric types, whose extreme of the other sign loses one,
        // as in Q4_0), plus half a step
        // of the quantized sub-block scale times the largest quant, plus
        // half a step of the quantized min; 1e-2 for the f16 factors.
        for (ty, group, rel) in [
            (GgmlType::Q5_0, 32, 1.0 / 16.0 + 1e-2),
            (GgmlType::Q5_1, 32, 1.0 / 31.0 + 1e-2),
            (
                GgmlType::Q2_K,
                256,
                1.0 / 3.0 + 1.0 / 15.0 + 1.0 / 30.0 + 1e-2,
            ),
            (GgmlType::Q3_K, 256, 1.0 / 4.0 + 1.0 / 62.0 + 1e-2),
            (
                GgmlType::Q4_K,
                256,
                1.0 / 15.0 + 1.0 / 63.0 + 1.0 / 126.0 + 1e-2,
            ),
            (
                GgmlType::Q5_K,
                256,
                1.0 / 31.0 + 1.0 / 63.0 + 1.0 / 126.0 + 1e-2,
            ),
            (GgmlType::Q6_K, 256, 1.0 / 32.0 + 1.0 / 254.0 + 1e-2),
        ] {
            let q = quantize(ty, &x).unwrap();
            assert_eq!(q.len() as u64, ty.bytes_for(1024).unwrap());
            let y = dequantize_to_vec(ty, &q, 1024).unwrap();
            for (g, (a, b)) in x.chunks(group).zip(y.chunks(group)).enumerate() {
                let amax = a.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (u, v) in a.iter().zip(b) {
                    assert!((u - v).abs() <= rel * amax, "{ty} group {g}: {u} vs {v}");
                }
            }
        }
    }

    #[test]
    fn size_errors() {
        let mut out = vec![0.0; 32];
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0; 33], &mut out),
            Err(QuantError::SizeMismatch { .. })
        ));
        let mut out = vec![0.0; 31];
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0; 34], &mut out),
            Err(QuantError::NotWholeBlocks { .. })
        ));
        assert_eq!(
            dequantize(GgmlType::IQ2_XXS, &[0; 66], &mut vec![0.0; 256]),
            Err(QuantError::Unsupported(GgmlType::IQ2_XXS))
        );
    }
}
