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
    /// `L` values rounded to f16 into `2 * L` bytes.
    unsafe fn store_f16(v: Self::F, out: &mut [u8]);
    /// The sum of the lanes.
    unsafe fn hsum(v: Self::F) -> f32;
}
