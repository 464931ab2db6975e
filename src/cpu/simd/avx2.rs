//! AVX2 + FMA + F16C: 8 rows per `ymm` (a row group takes two passes); the
//! 8-bit dot products go through `vpmaddubsw` (unsigned x signed bytes to
//! 16-bit pairs) and `vpmaddwd` (pairs to 32 bits).
//!
//! Soundness of every `unsafe` block below: the trait's contract is that
//! these methods only run inside functions compiled with its features (the
//! entry points of `super::super::kernels`, called only for `Level::Avx2` or
//! better, which `Isa` constructs after detecting each of those features),
//! and every pointer comes from a slice indexed to the exact length read or
//! written first (unaligned loads and stores).

use std::arch::x86_64::*;

use super::Simd;

#[derive(Clone, Copy)]
pub(crate) struct Avx2;

impl Simd for Avx2 {
    const L: usize = 8;
    const T: usize = 4;
    const Q8_BIAS: i32 = 0;
    type B = __m256i;
    type I = __m256i;
    type F = __m256;

    #[inline(always)]
    unsafe fn load_b(p: &[u8]) -> __m256i {
        // SAFETY: 32 bytes of `p` (see the module doc).
        unsafe { _mm256_loadu_si256(p[..32].as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn zero_b() -> __m256i {
        // SAFETY: see the module doc.
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    unsafe fn shr_and(b: __m256i, n: u32, mask: u8) -> __m256i {
        // SAFETY: see the module doc.
        unsafe {
            let s = if n == 0 {
                b
            } else {
                _mm256_srl_epi16(b, _mm_cvtsi32_si128(n as i32))
            };
            _mm256_and_si256(s, _mm256_set1_epi8(mask as i8))
        }
    }
    #[inline(always)]
    unsafe fn shl_and(b: __m256i, n: u32, mask: u8) -> __m256i {
        // SAFETY: see the module doc.
        unsafe {
            let s = _mm256_sll_epi16(b, _mm_cvtsi32_si128(n as i32));
            _mm256_and_si256(s, _mm256_set1_epi8(mask as i8))
        }
    }
    #[inline(always)]
    unsafe fn or_b(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see the module doc.
        unsafe { _mm256_or_si256(a, b) }
    }
    #[inline(always)]
    unsafe fn splat_i(v: i32) -> __m256i {
        // SAFETY: see the module doc.
        unsafe { _mm256_set1_epi32(v) }
    }
    #[inline(always)]
    unsafe fn dot_u(acc: __m256i, w: __m256i, x: i32) -> __m256i {
        // SAFETY: see the module doc. The quants are below 64 here, so the
        // 16-bit pair sums (at most 2 * 63 * 127) never saturate.
        unsafe {
            let p = _mm256_maddubs_epi16(w, _mm256_set1_epi32(x));
            _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
        }
    }
    #[inline(always)]
    unsafe fn dot_s(acc: __m256i, w: __m256i, x: i32) -> __m256i {
        // SAFETY: see the module doc. |w| * sign(x, w): each product is at
        // most 128 * 127, a pair fits in 16 bits.
        unsafe {
            let xs = _mm256_sign_epi8(_mm256_set1_epi32(x), w);
            let p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), xs);
            _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
        }
    }
    #[inline(always)]
    unsafe fn splat_f(v: f32) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn cvt(v: __m256i) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_cvtepi32_ps(v) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn round(v: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v) }
    }
    #[inline(always)]
    unsafe fn scale2(v: __m256, n: __m256) -> __m256 {
        // SAFETY: see the module doc. `n + 127` in the exponent field.
        unsafe {
            let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
                _mm256_cvtps_epi32(n),
                _mm256_set1_epi32(127),
            ));
            _mm256_mul_ps(v, _mm256_castsi256_ps(e))
        }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fnma(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_fnmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: &[u8]) -> __m256 {
        // SAFETY: 16 bytes of `p` (see the module doc).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p[..16].as_ptr().cast())) }
    }
    #[inline(always)]
    unsafe fn load_bf16(p: &[u8]) -> __m256 {
        // SAFETY: 16 bytes of `p` (see the module doc).
        unsafe {
            let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(p[..16].as_ptr().cast()));
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(h))
        }
    }
    #[inline(always)]
    unsafe fn load_u8f(p: &[u8]) -> __m256 {
        // SAFETY: 8 bytes of `p` (see the module doc).
        unsafe {
            let b = _mm_loadl_epi64(p[..8].as_ptr().cast());
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b))
        }
    }
    #[inline(always)]
    unsafe fn load_i8f(p: &[u8]) -> __m256 {
        // SAFETY: 8 bytes of `p` (see the module doc).
        unsafe {
            let b = _mm_loadl_epi64(p[..8].as_ptr().cast());
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b))
        }
    }
    #[inline(always)]
    unsafe fn load_u4f(p: &[u8], high: bool) -> __m256 {
        // SAFETY: 8 bytes of `p` (see the module doc).
        unsafe {
            let mut b = _mm_loadl_epi64(p[..8].as_ptr().cast());
            if high {
                b = _mm_srli_epi16::<4>(b);
            }
            let b = _mm_and_si128(b, _mm_set1_epi8(15));
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b))
        }
    }
    #[inline(always)]
    unsafe fn load(p: &[f32]) -> __m256 {
        // SAFETY: 8 floats of `p` (see the module doc).
        unsafe { _mm256_loadu_ps(p[..8].as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_f32b(p: &[u8]) -> __m256 {
        // SAFETY: 32 bytes of `p` (see the module doc).
        unsafe { _mm256_loadu_ps(p[..32].as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn store(v: __m256, out: &mut [f32]) {
        // SAFETY: 8 floats of `out` (see the module doc).
        unsafe { _mm256_storeu_ps(out[..8].as_mut_ptr(), v) }
    }
    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        // SAFETY: see the module doc.
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
            _mm_cvtss_f32(s)
        }
    }
}
