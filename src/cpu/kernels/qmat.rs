//! The quantized mat-mul of one packed row group (16 rows) with 8-bit
//! activations, generic over the backend and the quant type (a const
//! parameter, so every test on the layout folds away).
//!
//! Per sub-block and token, the integer dot products of the unsigned quants
//! with the activation quants accumulate in 32-bit lanes (one per row),
//! starting from `-z * sum(x)` for types with a zero point; then the lane is
//! converted and scaled by `a * d_x` (and `b * d_x * sum(x)` added for types
//! with a min). Rows are lanes, so nothing is summed across lanes, and each
//! unpacked group of quants serves a whole tile of tokens.

use super::super::acts::QActs;
use super::super::pack::{Fmt, MinSign, ROWS, SubScales};
use super::super::simd::Simd;
use crate::quant::GgmlType;

/// The const parameter naming a packed type.
pub(crate) const fn kind(ty: GgmlType) -> u8 {
    match ty {
        GgmlType::Q4_0 => 0,
        GgmlType::Q4_1 => 1,
        GgmlType::Q5_0 => 2,
        GgmlType::Q5_1 => 3,
        GgmlType::Q8_0 => 4,
        GgmlType::Q2_K => 5,
        GgmlType::Q3_K => 6,
        GgmlType::Q4_K => 7,
        GgmlType::Q5_K => 8,
        GgmlType::Q6_K => 9,
        _ => u8::MAX,
    }
}

const TYPES: [GgmlType; 10] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

const fn fmt<const K: u8>() -> Fmt {
    match Fmt::of(TYPES[K as usize]) {
        Some(f) => f,
        None => panic!("a packed type"),
    }
}

/// Runs `$body` for `$t` = 0, 1, ... `$n - 1` (`$n` a constant, at most 8)
/// unrolled: each `$t` is a literal, so per-token arrays stay in registers
/// (the compiler won't unroll a loop this large by itself).
macro_rules! unroll8 {
    ($n:expr, |$t:ident| $body:block) => {
        unroll8!(@ $n, $t, $body, 0 1 2 3 4 5 6 7)
    };
    (@ $n:expr, $t:ident, $body:block, $($i:literal)*) => {
        $(if $i < $n {
            let $t: usize = $i;
            $body
        })*
    };
}

/// Group `g` (4 elements) of unit `q` (its planes), lanes of pass `pass`.
///
/// # Safety
/// Inside a function compiled for `S` (see [`Simd`]).
#[inline(always)]
unsafe fn unpack<S: Simd, const K: u8>(q: &[u8], g: usize, pass: usize) -> S::B {
    let f = const { fmt::<K>() };
    let lane = pass * 4 * S::L;
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        if f.byte {
            return S::load_b(&q[g * 64 + lane..]);
        }
        let mut v = S::zero_b();
        let mut off = 0;
        if f.nib {
            let p = S::load_b(&q[(g % 4) * 64 + lane..]);
            v = S::shr_and(p, 4 * (g / 4) as u32, 15);
            off += f.nib_bytes();
        }
        if f.crumb {
            let p = S::load_b(&q[off + (g % 2) * 64 + lane..]);
            let c = S::shr_and(p, 2 * (g / 2) as u32, 3);
            v = if f.crumb_shift == 0 {
                S::or_b(v, c)
            } else {
                S::or_b(v, S::shl_and(c, f.crumb_shift, 3 << f.crumb_shift))
            };
            off += f.crumb_bytes();
        }
        if f.bit {
            let p = S::load_b(&q[off + lane..]);
            let (g, to) = (g as u32, f.bit_shift);
            let b = if g >= to {
                S::shr_and(p, g - to, 1 << to)
            } else {
                S::shl_and(p, to - g, 1 << to)
            };
            v = S::or_b(v, b);
        }
        v
    }
}

/// The scale `a` and offset `b` vectors of sub-block `s` of a block whose
/// header is `h` (`d` and `m` its f16 factors, loaded).
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn sub_scales<S: Simd, const K: u8>(
    h: &[u8],
    d: S::F,
    m: S::F,
    s: usize,
    lane: usize,
) -> (S::F, S::F) {
    let f = const { fmt::<K>() };
    // (No closures in kernels: they don't inherit the entry's target
    // features, so their intrinsics would not inline.)
    let sc = &h[f.sc_off + s * ROWS + lane..];
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        match f.scales {
            SubScales::None => (d, m),
            SubScales::U8 => (
                S::mul(d, S::load_u8f(sc)),
                S::mul(m, S::load_u8f(&h[f.mn_off + s * ROWS + lane..])),
            ),
            SubScales::I8 => (S::mul(d, S::load_i8f(sc)), m),
            SubScales::Nib => (
                S::mul(d, S::load_u4f(sc, false)),
                S::mul(m, S::load_u4f(sc, true)),
            ),
        }
    }
}

/// One sub-block (`G` groups of 4 quants from group `g0` on, unpacked in
/// `w`) of one token: `acc + (a d_x) * sum(u x - z x) (+ or - b d_x sum(x))`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn sub_dot<S: Simd, const K: u8, const G: usize>(
    acc: S::F,
    w: &[S::B; 8],
    g0: usize,
    xs: &[u32; 8],
    (isum, sum): (i32, f32),
    dx: f32,
    a: S::F,
    bm: S::F,
) -> S::F {
    let f = const { fmt::<K>() };
    let z = if f.byte { S::Q8_BIAS } else { f.z };
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        let mut ia = S::splat_i(-z * isum);
        for g in 0..G {
            let xw = xs[g0 + g] as i32;
            ia = if f.byte {
                S::dot_s(ia, w[g0 + g], xw)
            } else {
                S::dot_u(ia, w[g0 + g], xw)
            };
        }
        let acc = S::fma(S::cvt(ia), S::mul(a, S::splat_f(dx)), acc);
        match f.min {
            Some(MinSign::Plus) => S::fma(bm, S::splat_f(sum), acc),
            Some(MinSign::Minus) => S::fnma(bm, S::splat_f(sum), acc),
            None => acc,
        }
    }
}

/// Rows `pass * L..` of a row group times tokens `t0..t0 + T`, into
/// `out[t * 16 + row]`. Per 32-element unit, its 8 groups of quants are
/// unpacked once into registers and serve the `T` tokens.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn tile<S: Simd, const K: u8, const T: usize>(
    group: &[u8],
    cols: usize,
    pass: usize,
    x: &QActs,
    t0: usize,
    out: &mut [f32],
) {
    let f = const { fmt::<K>() };
    let n_blk = cols / f.block;
    let lane = pass * S::L;
    let mut toks = [x.token(t0); T];
    for (t, tok) in toks.iter_mut().enumerate() {
        *tok = x.token(t0 + t);
    }
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        let mut acc = [S::splat_f(0.0); T];
        for b in 0..n_blk {
            // One sequential stream per group (header, then quants, block
            // after block): the hardware prefetcher keeps up with it (asking
            // for lines ahead in software measured slower).
            let (h, quants) = group[b * f.chunk()..(b + 1) * f.chunk()].split_at(f.header);
            let d = S::load_f16(&h[2 * lane..]);
            let m = match f.min {
                Some(_) => S::load_f16(&h[f.m_off + 2 * lane..]),
                None => S::splat_f(0.0),
            };
            for u in 0..f.units() {
                let q = &quants[u * f.unit..][..f.unit];
                let blk32 = b * f.units() + u;
                let mut w = [S::zero_b(); 8];
                for (g, w) in w.iter_mut().enumerate() {
                    *w = unpack::<S, K>(q, g, pass);
                }
                if f.sub == 32 {
                    let (a, bm) = sub_scales::<S, K>(h, d, m, u, lane);
                    unroll8!(T, |t| {
                        let tok = &toks[t];
                        let (xs, dx) = (tok.block(blk32), tok.d(blk32));
                        acc[t] = sub_dot::<S, K, 8>(acc[t], &w, 0, xs, tok.sum32(blk32), dx, a, bm);
                    });
                } else {
                    for half in 0..2 {
                        let (a, bm) = sub_scales::<S, K>(h, d, m, 2 * u + half, lane);
                        unroll8!(T, |t| {
                            let tok = &toks[t];
                            let (xs, dx) = (tok.block(blk32), tok.d(blk32));
                            let sums = tok.sum16(2 * blk32 + half);
                            acc[t] = sub_dot::<S, K, 4>(acc[t], &w, 4 * half, xs, sums, dx, a, bm);
                        });
                    }
                }
            }
        }
        for (t, acc) in acc.iter().enumerate() {
            S::store(*acc, &mut out[(t0 + t) * ROWS + lane..]);
        }
    }
}

/// One row group of type `K` times every token of `x`: `out[t * 16 + r]`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn group_k<S: Simd, const K: u8>(group: &[u8], cols: usize, x: &QActs, out: &mut [f32]) {
    let n = x.n();
    for pass in 0..ROWS / S::L {
        let mut t0 = 0;
        while t0 < n {
            let left = n - t0;
            // SAFETY: the caller runs this inside a function compiled for `S`.
            unsafe {
                if S::T >= 8 && left >= 8 {
                    tile::<S, K, 8>(group, cols, pass, x, t0, out);
                    t0 += 8;
                } else if left >= 4 {
                    tile::<S, K, 4>(group, cols, pass, x, t0, out);
                    t0 += 4;
                } else if left >= 2 {
                    tile::<S, K, 2>(group, cols, pass, x, t0, out);
                    t0 += 2;
                } else {
                    tile::<S, K, 1>(group, cols, pass, x, t0, out);
                    t0 += 1;
                }
            }
        }
    }
}

/// One packed row group of `ty` (`cols` columns) times every token of `x`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
pub(super) unsafe fn group<S: Simd>(
    ty: GgmlType,
    group: &[u8],
    cols: usize,
    x: &QActs,
    out: &mut [f32],
) {
    debug_assert_eq!(x.cols(), cols);
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        match ty {
            GgmlType::Q4_0 => group_k::<S, { kind(GgmlType::Q4_0) }>(group, cols, x, out),
            GgmlType::Q4_1 => group_k::<S, { kind(GgmlType::Q4_1) }>(group, cols, x, out),
            GgmlType::Q5_0 => group_k::<S, { kind(GgmlType::Q5_0) }>(group, cols, x, out),
            GgmlType::Q5_1 => group_k::<S, { kind(GgmlType::Q5_1) }>(group, cols, x, out),
            GgmlType::Q8_0 => group_k::<S, { kind(GgmlType::Q8_0) }>(group, cols, x, out),
            GgmlType::Q2_K => group_k::<S, { kind(GgmlType::Q2_K) }>(group, cols, x, out),
            GgmlType::Q3_K => group_k::<S, { kind(GgmlType::Q3_K) }>(group, cols, x, out),
            GgmlType::Q4_K => group_k::<S, { kind(GgmlType::Q4_K) }>(group, cols, x, out),
            GgmlType::Q5_K => group_k::<S, { kind(GgmlType::Q5_K) }>(group, cols, x, out),
            GgmlType::Q6_K => group_k::<S, { kind(GgmlType::Q6_K) }>(group, cols, x, out),
            other => unreachable!("{other} is not packed"),
        }
    }
}
