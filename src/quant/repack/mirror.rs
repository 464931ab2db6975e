//! Reading elements back from the GPU layout on the CPU, the way the
//! shaders decode them: the reference the repacking tests compare against
//! ggml's dequantization.

use super::Repacked;
use crate::quant::GgmlType;
use crate::quant::cpu::{k3_scale, k4_scale_min};

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
            GgmlType::BF16 => {
                let w = self.qs[e / 2];
                let h = if e.is_multiple_of(2) {
                    w & 0xffff
                } else {
                    w >> 16
                };
                f32::from_bits(h << 16)
            }
            GgmlType::Q5_0 | GgmlType::Q5_1 => {
                let (b, j) = (e / 32, e % 32);
                let five_zero = self.ty == GgmlType::Q5_0;
                let qh = if five_zero {
                    self.sc[b / 2 * 3 + 1 + b % 2]
                } else {
                    self.sc[2 * b + 1]
                };
                let q = self.nibble(b, j) | ((qh >> j) & 1) << 4;
                if five_zero {
                    half_at(&self.sc, b / 2 * 6 + b % 2) * (q as i32 - 16) as f32
                } else {
                    half_at(&self.sc, 4 * b) * q as f32 + half_at(&self.sc, 4 * b + 1)
                }
            }
            GgmlType::Q2_K => {
                let (c, i) = (e / 64, e % 64);
                let base = 5 * (c / 4);
                let s = (self.sc[base + 1 + c % 4] >> (8 * (i / 16))) & 0xff;
                let q = (self.qs[4 * c + i / 16] >> (2 * (i % 16))) & 3;
                let dl = half_at(&self.sc, 2 * base) * (s & 15) as f32;
                let ml = half_at(&self.sc, 2 * base + 1) * (s >> 4) as f32;
                dl * q as f32 - ml
            }
            GgmlType::Q3_K => {
                let (c, i) = (e / 64, e % 64);
                let (sb, s) = (c / 4, c % 4);
                let base = sb / 2 * 23;
                let o = base + 1 + sb % 2 * 11;
                let high = (self.sc[o + 2 * s + i / 32] >> (i % 32)) & 1;
                let low = (self.qs[4 * c + i / 16] >> (2 * (i % 16))) & 3;
                let q = low as i32 - if high == 1 { 0 } else { 4 };
                let scales = self.sc_bytes::<12>(o + 8);
                let dl =
                    half_at(&self.sc, 2 * base + sb % 2) * k3_scale(&scales, 4 * s + i / 16) as f32;
                dl * q as f32
            }
            GgmlType::Q4_K | GgmlType::Q5_K => {
                let (c, i) = (e / 32, e % 32);
                let (sb, s) = (c / 8, c % 8);
                let five = self.ty == GgmlType::Q5_K;
                let base = sb * if five { 12 } else { 4 };
                let mut q = self.nibble(c, i);
                if five {
                    q |= ((self.sc[base + 4 + s] >> i) & 1) << 4;
                }
                let (sc, m) = k4_scale_min(&self.sc_bytes::<12>(base + 1), s);
                let d1 = half_at(&self.sc, 2 * base) * sc as f32;
                let m1 = half_at(&self.sc, 2 * base + 1) * m as f32;
                d1 * q as f32 - m1
            }
            GgmlType::Q6_K => {
                let (c, i) = (e / 32, e % 32);
                let (sb, s) = (c / 8, c % 8);
                let base = sb / 2 * 41;
                let o = base + 1 + sb % 2 * 20;
                let high = (self.sc[o + 2 * s + i / 16] >> (2 * (i % 16))) & 3;
                let q = (self.nibble(c, i) | (high << 4)) as i32 - 32;
                let scale = (self.sc[o + 16 + s / 2] >> (8 * (2 * (s % 2) + i / 16))) as u8 as i8;
                let dl = half_at(&self.sc, 2 * base + sb % 2) * scale as f32;
                dl * q as f32
            }
            _ => unreachable!("only supported types are repacked"),
        }
    }

    /// Nibble `i` (0..32) of 16-byte unit `unit` of `qs` (byte `i % 16`, high
    /// nibble for `i >= 16`).
    fn nibble(&self, unit: usize, i: usize) -> u32 {
        let byte = i % 16;
        (self.qs[4 * unit + byte / 4] >> (8 * (byte % 4) + 4 * (i / 16))) & 0xf
    }

    /// `N` bytes of `sc` from word `at` on.
    fn sc_bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        std::array::from_fn(|k| (self.sc[at + k / 4] >> (8 * (k % 4))) as u8)
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
