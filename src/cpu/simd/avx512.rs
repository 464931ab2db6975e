//! AVX-512 F/BW/VL + VNNI: 16 rows per `zmm`, one `vpdpbusd` multiplies 64
//! quant bytes with a broadcast group of four activation bytes.
//!
//! Soundness of every `unsafe` block below: the trait's contract is that
//! these methods only run inside functions compiled with
//! its target features (the entry points of `super::super::kernels`, called only for
//! `Level::Avx512Vnni`, which `Isa` constructs after detecting each of those
//! features), and every pointer comes from a slice indexed to the exact
//! length read or written first (unaligned loads and stores).

use std::arch::x86_64::*;

use super::Simd;

#[derive(Clone, Copy)]
pub(crate) struct Avx512;

impl Simd for Avx512 {
    const L: usize = 16;
    const T: usize = 8;
    // vpdpbusd multiplies unsigned bytes: signed quants are biased by 128.
    const Q8_BIAS: i32 = 128;
    type B = __m512i;
    type I = __m512i;
    type F = __m512;

    #[inline(always)]
    unsafe fn load_b(p: &[u8]) -> __m512i {
        // SAFETY: 64 bytes of `p` (see the module doc).
        unsafe { _mm512_loadu_si512(p[..64].as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn zero_b() -> __m512i {
        // SAFETY: see the module doc.
        unsafe { _mm512_setzero_si512() }
    }
    #[inline(always)]
    unsafe fn shr_and(b: __m512i, n: u32, mask: u8) -> __m512i {
        // SAFETY: see the module doc.
        unsafe {
            let s = if n == 0 {
                b
            } else {
                _mm512_srl_epi16(b, _mm_cvtsi32_si128(n as i32))
            };
            _mm512_and_si512(s, _mm512_set1_epi8(mask as i8))
        }
    }
    #[inline(always)]
    unsafe fn shl_and(b: __m512i, n: u32, mask: u8) -> __m512i {
        // SAFETY: see the module doc.
        unsafe {
            let s = _mm512_sll_epi16(b, _mm_cvtsi32_si128(n as i32));
            _mm512_and_si512(s, _mm512_set1_epi8(mask as i8))
        }
    }
    #[inline(always)]
    unsafe fn or_b(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see the module doc.
        unsafe { _mm512_or_si512(a, b) }
    }
    #[inline(always)]
    unsafe fn splat_i(v: i32) -> __m512i {
        // SAFETY: see the module doc.
        unsafe { _mm512_set1_epi32(v) }
    }
    #[inline(always)]
    unsafe fn dot_u(acc: __m512i, w: __m512i, x: i32) -> __m512i {
        // SAFETY: see the module doc.
        unsafe { _mm512_dpbusd_epi32(acc, w, _mm512_set1_epi32(x)) }
    }
    #[inline(always)]
    unsafe fn dot_s(acc: __m512i, w: __m512i, x: i32) -> __m512i {
        // SAFETY: see the module doc.
        unsafe {
            let biased = _mm512_xor_si512(w, _mm512_set1_epi8(-128));
            _mm512_dpbusd_epi32(acc, biased, _mm512_set1_epi32(x))
        }
    }
    #[inline(always)]
    unsafe fn splat_f(v: f32) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn cvt(v: __m512i) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_cvtepi32_ps(v) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn round(v: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v) }
    }
    #[inline(always)]
    unsafe fn scale2(v: __m512, n: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_scalef_ps(v, n) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fnma(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: see the module doc.
        unsafe { _mm512_fnmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: &[u8]) -> __m512 {
        // SAFETY: 32 bytes of `p` (see the module doc).
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p[..32].as_ptr().cast())) }
    }
    #[inline(always)]
    unsafe fn load_bf16(p: &[u8]) -> __m512 {
        // SAFETY: 32 bytes of `p` (see the module doc).
        unsafe {
            let h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(p[..32].as_ptr().cast()));
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(h))
        }
    }
    #[inline(always)]
    unsafe fn load_u8f(p: &[u8]) -> __m512 {
        // SAFETY: 16 bytes of `p` (see the module doc).
        unsafe {
            let b = _mm_loadu_si128(p[..16].as_ptr().cast());
            _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b))
        }
    }
    #[inline(always)]
    unsafe fn load_i8f(p: &[u8]) -> __m512 {
        // SAFETY: 16 bytes of `p` (see the module doc).
        unsafe {
            let b = _mm_loadu_si128(p[..16].as_ptr().cast());
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b))
        }
    }
    #[inline(always)]
    unsafe fn load_u4f(p: &[u8], high: bool) -> __m512 {
        // SAFETY: 16 bytes of `p` (see the module doc).
        unsafe {
            let mut b = _mm_loadu_si128(p[..16].as_ptr().cast());
            if high {
                b = _mm_srli_epi16::<4>(b);
            }
            let b = _mm_and_si128(b, _mm_set1_epi8(15));
            _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b))
        }
    }
    #[inline(always)]
    unsafe fn load(p: &[f32]) -> __m512 {
        // SAFETY: 16 floats of `p` (see the module doc).
        unsafe { _mm512_loadu_ps(p[..16].as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_f32b(p: &[u8]) -> __m512 {
        // SAFETY: 64 bytes of `p` (see the module doc).
        unsafe { _mm512_loadu_ps(p[..64].as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn store(v: __m512, out: &mut [f32]) {
        // SAFETY: 16 floats of `out` (see the module doc).
        unsafe { _mm512_storeu_ps(out[..16].as_mut_ptr(), v) }
    }
    #[inline(always)]
    unsafe fn hsum(v: __m512) -> f32 {
        // SAFETY: see the module doc.
        unsafe { _mm512_reduce_add_ps(v) }
    }
}
