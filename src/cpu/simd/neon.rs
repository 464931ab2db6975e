//! NEON with the dot-product extension: 4 rows per 128-bit register (a row
//! group takes four passes), `sdot` for the 8-bit dot products (the
//! unsigned quants are below 128, so they are valid signed bytes too).
//!
//! Soundness of every `unsafe` block below: the trait's contract is that
//! these methods only run inside functions compiled with its features (the
//! entry points of `super::super::kernels`, called only for
//! `Level::NeonDot`, which `Isa` constructs after detecting both features),
//! and every pointer comes from a slice indexed to the exact length read or
//! written first (byte loads, which have no alignment requirement).

use std::arch::aarch64::*;
use std::arch::asm;

use super::Simd;

#[derive(Clone, Copy)]
pub(crate) struct NeonDot;

/// `acc + sdot(w, x)`: per lane, the dot product of 4 signed bytes. Written
/// as one instruction of inline assembly: the `vdotq_s32` intrinsic isn't
/// stable in Rust yet.
///
/// # Safety
/// Inside a function compiled with the `dotprod` feature.
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, w: uint8x16_t, x: int32x4_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: a register-only instruction of the `dotprod` extension, which
    // the caller's function is compiled with (and `Isa` detected).
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.16b",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

impl Simd for NeonDot {
    const L: usize = 4;
    const T: usize = 4;
    const Q8_BIAS: i32 = 0;
    type B = uint8x16_t;
    type I = int32x4_t;
    type F = float32x4_t;

    #[inline(always)]
    unsafe fn load_b(p: &[u8]) -> uint8x16_t {
        // SAFETY: 16 bytes of `p` (see the module doc).
        unsafe { vld1q_u8(p[..16].as_ptr()) }
    }
    #[inline(always)]
    unsafe fn zero_b() -> uint8x16_t {
        // SAFETY: see the module doc.
        unsafe { vdupq_n_u8(0) }
    }
    #[inline(always)]
    unsafe fn shr_and(b: uint8x16_t, n: u32, mask: u8) -> uint8x16_t {
        // SAFETY: see the module doc.
        unsafe { vandq_u8(vshlq_u8(b, vdupq_n_s8(-(n as i8))), vdupq_n_u8(mask)) }
    }
    #[inline(always)]
    unsafe fn shl_and(b: uint8x16_t, n: u32, mask: u8) -> uint8x16_t {
        // SAFETY: see the module doc.
        unsafe { vandq_u8(vshlq_u8(b, vdupq_n_s8(n as i8)), vdupq_n_u8(mask)) }
    }
    #[inline(always)]
    unsafe fn or_b(a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: see the module doc.
        unsafe { vorrq_u8(a, b) }
    }
    #[inline(always)]
    unsafe fn splat_i(v: i32) -> int32x4_t {
        // SAFETY: see the module doc.
        unsafe { vdupq_n_s32(v) }
    }
    #[inline(always)]
    unsafe fn dot_u(acc: int32x4_t, w: uint8x16_t, x: i32) -> int32x4_t {
        // SAFETY: see the module doc.
        unsafe { sdot(acc, w, vdupq_n_s32(x)) }
    }
    #[inline(always)]
    unsafe fn dot_s(acc: int32x4_t, w: uint8x16_t, x: i32) -> int32x4_t {
        // SAFETY: see the module doc.
        unsafe { sdot(acc, w, vdupq_n_s32(x)) }
    }
    #[inline(always)]
    unsafe fn splat_f(v: f32) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vdupq_n_f32(v) }
    }
    #[inline(always)]
    unsafe fn cvt(v: int32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vcvtq_f32_s32(v) }
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vminq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vmaxq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn round(v: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vrndnq_f32(v) }
    }
    #[inline(always)]
    unsafe fn scale2(v: float32x4_t, n: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc. `n + 127` in the exponent field.
        unsafe {
            let e = vshlq_n_s32::<23>(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)));
            vmulq_f32(v, vreinterpretq_f32_s32(e))
        }
    }
    #[inline(always)]
    unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn fnma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: see the module doc.
        unsafe { vfmsq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: &[u8]) -> float32x4_t {
        // SAFETY: 8 bytes of `p` (see the module doc). Integer conversion
        // (Rust's f16 NEON intrinsics aren't stable): the exponent and
        // mantissa moved into place and rebiased by a multiply with 2^112
        // (which also normalizes subnormals); infinities and NaNs get the
        // all-ones exponent.
        unsafe {
            let h = vmovl_u16(vreinterpret_u16_u8(vld1_u8(p[..8].as_ptr())));
            let sign = vshlq_n_u32::<16>(vandq_u32(h, vdupq_n_u32(0x8000)));
            let em = vandq_u32(h, vdupq_n_u32(0x7fff));
            let shifted = vshlq_n_u32::<13>(em);
            let scaled = vmulq_f32(
                vreinterpretq_f32_u32(shifted),
                vdupq_n_f32(f32::from_bits(0x7780_0000)),
            );
            let special = vcgeq_u32(em, vdupq_n_u32(0x7c00));
            let inf_nan = vorrq_u32(shifted, vdupq_n_u32(0x7f80_0000));
            let bits = vbslq_u32(special, inf_nan, vreinterpretq_u32_f32(scaled));
            vreinterpretq_f32_u32(vorrq_u32(bits, sign))
        }
    }
    #[inline(always)]
    unsafe fn load_bf16(p: &[u8]) -> float32x4_t {
        // SAFETY: 8 bytes of `p` (see the module doc).
        unsafe {
            let h = vmovl_u16(vreinterpret_u16_u8(vld1_u8(p[..8].as_ptr())));
            vreinterpretq_f32_u32(vshlq_n_u32::<16>(h))
        }
    }
    #[inline(always)]
    unsafe fn load_u8f(p: &[u8]) -> float32x4_t {
        let w = u32::from_le_bytes(p[..4].try_into().expect("4 bytes"));
        // SAFETY: see the module doc (no memory access).
        unsafe {
            let b = vcreate_u8(w as u64);
            vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(b))))
        }
    }
    #[inline(always)]
    unsafe fn load_i8f(p: &[u8]) -> float32x4_t {
        let w = u32::from_le_bytes(p[..4].try_into().expect("4 bytes"));
        // SAFETY: see the module doc (no memory access).
        unsafe {
            let b = vreinterpret_s8_u8(vcreate_u8(w as u64));
            vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(b))))
        }
    }
    #[inline(always)]
    unsafe fn load_u4f(p: &[u8], high: bool) -> float32x4_t {
        let mut w = u32::from_le_bytes(p[..4].try_into().expect("4 bytes"));
        if high {
            w >>= 4;
        }
        // SAFETY: see the module doc (no memory access).
        unsafe {
            let b = vcreate_u8((w & 0x0f0f_0f0f) as u64);
            vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(b))))
        }
    }
    #[inline(always)]
    unsafe fn load(p: &[f32]) -> float32x4_t {
        // SAFETY: 4 floats of `p` (see the module doc).
        unsafe { vld1q_f32(p[..4].as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_f32b(p: &[u8]) -> float32x4_t {
        // SAFETY: 16 bytes of `p` (see the module doc).
        unsafe { vreinterpretq_f32_u8(vld1q_u8(p[..16].as_ptr())) }
    }
    #[inline(always)]
    unsafe fn store(v: float32x4_t, out: &mut [f32]) {
        // SAFETY: 4 floats of `out` (see the module doc).
        unsafe { vst1q_f32(out[..4].as_mut_ptr(), v) }
    }
    #[inline(always)]
    unsafe fn hsum(v: float32x4_t) -> f32 {
        // SAFETY: see the module doc.
        unsafe { vaddvq_f32(v) }
    }
}
