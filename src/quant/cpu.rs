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

/// Dequantizes `bytes` (a whole number of blocks of `ty`) into `out`, whose
/// length is the number of elements.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    if !ty.is_supported() && ty != GgmlType::BF16 {
        return Err(QuantError::Unsupported(ty));
    }
    check_sizes(ty, bytes.len(), out.len())?;
    let bs = ty.block_size();
    let ts = ty.type_size();
    for (blk, y) in bytes.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
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
            _ => unreachable!("checked by is_supported"),
        }
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
            other => return Err(QuantError::Unsupported(other)),
        }
    }
    Ok(out)
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
