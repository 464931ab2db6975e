//! The SIMD backends of the CPU kernels: one generic kernel source
//! (`super::kernels`) over the small set of vector operations of [`Simd`],
//! implemented with `std::arch` for AVX2, AVX-512 VNNI and NEON, and in
//! portable Rust.
//!
//! A vector holds `L` rows of a packed row group (one i32/f32 lane per row,
//! four bytes per lane for the quants). Every method is `unsafe`: it may use
//! instructions of its backend, so it must only run inside a function
//! compiled for them (the `#[target_feature]` entry points of each backend,
//! called after [`Isa`](super::Isa) detection). Slices passed in must be at
//! least as long as documented; the methods index them first, so a short
//! slice panics instead of reading out of bounds.

pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

#[allow(clippy::missing_safety_doc)]
pub(crate) trait Simd: Copy {
    /// Rows (lanes) per vector.
    const L: usize;
    /// Tokens per tile of a quantized mat-mul (as many as the registers hold).
    const T: usize;
    /// What [`Simd::dot_s`] adds to each signed quant (subtracted again
    /// through the zero point).
    const Q8_BIAS: i32;
    /// `4 * L` bytes.
    type B: Copy;
    /// `L` x i32.
    type I: Copy;
    /// `L` x f32.
    type F: Copy;

    /// `4 * L` bytes of `p`.
    unsafe fn load_b(p: &[u8]) -> Self::B;
    unsafe fn zero_b() -> Self::B;
    /// `(b >> n) & mask` per byte.
    unsafe fn shr_and(b: Self::B, n: u32, mask: u8) -> Self::B;
    /// `(b << n) & mask` per byte.
    unsafe fn shl_and(b: Self::B, n: u32, mask: u8) -> Self::B;
    unsafe fn or_b(a: Self::B, b: Self::B) -> Self::B;

    unsafe fn splat_i(v: i32) -> Self::I;
    /// Adds to each lane the dot product of its 4 bytes of `w` (unsigned,
    /// below 128) with the 4 signed bytes of `x`.
    unsafe fn dot_u(acc: Self::I, w: Self::B, x: i32) -> Self::I;
    /// The same with signed bytes in `w`, plus [`Simd::Q8_BIAS`] times the
    /// sum of `x`'s bytes.
    unsafe fn dot_s(acc: Self::I, w: Self::B, x: i32) -> Self::I;

    unsafe fn splat_f(v: f32) -> Self::F;
    unsafe fn cvt(v: Self::I) -> Self::F;
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c`.
    unsafe fn fma(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// `c - a * b`.
    unsafe fn fnma(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    unsafe fn div(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn min(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn max(a: Self::F, b: Self::F) -> Self::F;
    /// Rounded to the nearest integer (ties to even).
    unsafe fn round(v: Self::F) -> Self::F;
    /// `v * 2^n` for integral `n` in -126..=127.
    unsafe fn scale2(v: Self::F, n: Self::F) -> Self::F;
    /// `L` f16 from `2 * L` bytes.
    unsafe fn load_f16(p: &[u8]) -> Self::F;
    /// `L` bf16 from `2 * L` bytes.
    unsafe fn load_bf16(p: &[u8]) -> Self::F;
    /// `L` unsigned bytes.
    unsafe fn load_u8f(p: &[u8]) -> Self::F;
    /// `L` signed bytes.
    unsafe fn load_i8f(p: &[u8]) -> Self::F;
    /// The low (or high) nibbles of `L` bytes.
    unsafe fn load_u4f(p: &[u8], high: bool) -> Self::F;
    /// `L` floats.
    unsafe fn load(p: &[f32]) -> Self::F;
    /// `L` little-endian floats from `4 * L` bytes (any alignment).
    unsafe fn load_f32b(p: &[u8]) -> Self::F;
    unsafe fn store(v: Self::F, out: &mut [f32]);
    /// The sum of the lanes.
    unsafe fn hsum(v: Self::F) -> f32;

    /// `e^x` per lane, within a few ulp of `f32::exp` (Cephes' `expf`: a
    /// polynomial on `x - n ln 2`, `|x - n ln 2| <= ln 2 / 2`), for `x`
    /// clamped to -87.3..88.4 (so below that it gives 1e-38, not 0).
    #[inline(always)]
    unsafe fn exp(x: Self::F) -> Self::F {
        // SAFETY: only the trait's own methods, under the caller's contract.
        unsafe {
            let x = Self::min(
                Self::max(x, Self::splat_f(-87.336_55)),
                Self::splat_f(88.376_26),
            );
            let n = Self::round(Self::mul(x, Self::splat_f(std::f32::consts::LOG2_E)));
            let r = Self::fnma(n, Self::splat_f(0.693_359_4), x);
            let r = Self::fnma(n, Self::splat_f(-2.121_944_4e-4), r);
            let mut p = Self::splat_f(1.987_569_1e-4);
            for c in [
                1.398_199_9e-3,
                8.333_452e-3,
                4.166_579_6e-2,
                1.666_666_5e-1,
                0.5,
            ] {
                p = Self::fma(p, r, Self::splat_f(c));
            }
            let y = Self::fma(Self::mul(p, r), r, Self::add(r, Self::splat_f(1.0)));
            Self::scale2(y, n)
        }
    }
}
