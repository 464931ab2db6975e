//! The portable backend: 16 lanes as arrays (the compiler vectorizes the
//! lane loops with whatever the target has). Runs on every machine; the
//! tests run it everywhere so the generic kernels are checked even where no
//! SIMD backend exists.

use half::{bf16, f16};

use super::Simd;

#[derive(Clone, Copy)]
pub(crate) struct Scalar;

const L: usize = 16;

fn lanes<T: Copy + Default, const N: usize>(f: impl Fn(usize) -> T) -> [T; N] {
    let mut v = [T::default(); N];
    for (i, x) in v.iter_mut().enumerate() {
        *x = f(i);
    }
    v
}

// Nothing here needs more than the baseline instruction set: the methods are
// `unsafe` only to share the trait's contract.
impl Simd for Scalar {
    const L: usize = L;
    const T: usize = 4;
    const Q8_BIAS: i32 = 0;
    type B = [u8; 4 * L];
    type I = [i32; L];
    type F = [f32; L];

    #[inline(always)]
    unsafe fn load_b(p: &[u8]) -> Self::B {
        p[..4 * L].try_into().expect("64 bytes")
    }
    #[inline(always)]
    unsafe fn zero_b() -> Self::B {
        [0; 4 * L]
    }
    #[inline(always)]
    unsafe fn shr_and(b: Self::B, n: u32, mask: u8) -> Self::B {
        lanes(|i| (b[i] >> n) & mask)
    }
    #[inline(always)]
    unsafe fn shl_and(b: Self::B, n: u32, mask: u8) -> Self::B {
        lanes(|i| (b[i] << n) & mask)
    }
    #[inline(always)]
    unsafe fn or_b(a: Self::B, b: Self::B) -> Self::B {
        lanes(|i| a[i] | b[i])
    }
    #[inline(always)]
    unsafe fn splat_i(v: i32) -> Self::I {
        [v; L]
    }
    #[inline(always)]
    unsafe fn dot_u(acc: Self::I, w: Self::B, x: i32) -> Self::I {
        let x = x.to_le_bytes().map(|b| b as i8 as i32);
        lanes(|l| acc[l] + (0..4).map(|i| w[4 * l + i] as i32 * x[i]).sum::<i32>())
    }
    #[inline(always)]
    unsafe fn dot_s(acc: Self::I, w: Self::B, x: i32) -> Self::I {
        let x = x.to_le_bytes().map(|b| b as i8 as i32);
        lanes(|l| {
            acc[l]
                + (0..4)
                    .map(|i| w[4 * l + i] as i8 as i32 * x[i])
                    .sum::<i32>()
        })
    }
    #[inline(always)]
    unsafe fn splat_f(v: f32) -> Self::F {
        [v; L]
    }
    #[inline(always)]
    unsafe fn cvt(v: Self::I) -> Self::F {
        v.map(|x| x as f32)
    }
    #[inline(always)]
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F {
        lanes(|i| a[i] * b[i])
    }
    #[inline(always)]
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F {
        lanes(|i| a[i] + b[i])
    }
    #[inline(always)]
    unsafe fn div(a: Self::F, b: Self::F) -> Self::F {
        lanes(|i| a[i] / b[i])
    }
    #[inline(always)]
    unsafe fn min(a: Self::F, b: Self::F) -> Self::F {
        lanes(|i| a[i].min(b[i]))
    }
    #[inline(always)]
    unsafe fn max(a: Self::F, b: Self::F) -> Self::F {
        lanes(|i| a[i].max(b[i]))
    }
    #[inline(always)]
    unsafe fn round(v: Self::F) -> Self::F {
        // Ties to even for |v| < 2^22 (the exponents here are far smaller).
        v.map(|x| (x + 12_582_912.0) - 12_582_912.0)
    }
    #[inline(always)]
    unsafe fn scale2(v: Self::F, n: Self::F) -> Self::F {
        lanes(|i| v[i] * f32::from_bits(((n[i] as i32 + 127) as u32) << 23))
    }
    #[inline(always)]
    unsafe fn fma(a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        lanes(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    unsafe fn fnma(a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        lanes(|i| c[i] - a[i] * b[i])
    }
    #[inline(always)]
    unsafe fn load_f16(p: &[u8]) -> Self::F {
        let p = &p[..2 * L];
        lanes(|i| f16::from_le_bytes([p[2 * i], p[2 * i + 1]]).to_f32())
    }
    #[inline(always)]
    unsafe fn load_bf16(p: &[u8]) -> Self::F {
        let p = &p[..2 * L];
        lanes(|i| bf16::from_le_bytes([p[2 * i], p[2 * i + 1]]).to_f32())
    }
    #[inline(always)]
    unsafe fn load_u8f(p: &[u8]) -> Self::F {
        let p = &p[..L];
        lanes(|i| p[i] as f32)
    }
    #[inline(always)]
    unsafe fn load_i8f(p: &[u8]) -> Self::F {
        let p = &p[..L];
        lanes(|i| p[i] as i8 as f32)
    }
    #[inline(always)]
    unsafe fn load_u4f(p: &[u8], high: bool) -> Self::F {
        let p = &p[..L];
        lanes(|i| ((p[i] >> if high { 4 } else { 0 }) & 15) as f32)
    }
    #[inline(always)]
    unsafe fn load(p: &[f32]) -> Self::F {
        p[..L].try_into().expect("16 floats")
    }
    #[inline(always)]
    unsafe fn load_f32b(p: &[u8]) -> Self::F {
        let p = &p[..4 * L];
        lanes(|i| f32::from_le_bytes([p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]]))
    }
    #[inline(always)]
    unsafe fn store(v: Self::F, out: &mut [f32]) {
        out[..L].copy_from_slice(&v);
    }
    #[inline(always)]
    unsafe fn hsum(v: Self::F) -> f32 {
        // Pairwise, like the SIMD backends' reductions.
        let mut v = v;
        let mut n = L;
        while n > 1 {
            n /= 2;
            for i in 0..n {
                v[i] += v[i + n];
            }
        }
        v[0]
    }
}
