//! The mat-mul of float weights (F32, F16, BF16), read in place from the
//! file's row-major data, with f32 activations: per row and tile of tokens,
//! `L`-wide fused multiply-adds, then one sum across the lanes.

use half::{bf16, f16};

use super::super::pack::ROWS;
use super::super::simd::Simd;
use crate::quant::GgmlType;

/// Element `c` of a row of `ty`.
fn scalar_at(ty: GgmlType, row: &[u8], c: usize) -> f32 {
    match ty {
        GgmlType::F32 => {
            f32::from_le_bytes([row[4 * c], row[4 * c + 1], row[4 * c + 2], row[4 * c + 3]])
        }
        GgmlType::F16 => f16::from_le_bytes([row[2 * c], row[2 * c + 1]]).to_f32(),
        _ => bf16::from_le_bytes([row[2 * c], row[2 * c + 1]]).to_f32(),
    }
}

/// `L` elements of a row of `ty` from element `c` on.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn load_w<S: Simd>(ty: GgmlType, row: &[u8], c: usize) -> S::F {
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        match ty {
            GgmlType::F32 => S::load_f32b(&row[4 * c..]),
            GgmlType::F16 => S::load_f16(&row[2 * c..]),
            _ => S::load_bf16(&row[2 * c..]),
        }
    }
}

/// One row times tokens `t0..t0 + T` into `out[t * 16 + lane]`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn tile<S: Simd, const T: usize>(
    ty: GgmlType,
    row: &[u8],
    cols: usize,
    x: &[f32],
    t0: usize,
    lane: usize,
    out: &mut [f32],
) {
    let main = cols / S::L * S::L;
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        let mut acc = [S::splat_f(0.0); T];
        for c in (0..main).step_by(S::L) {
            let w = load_w::<S>(ty, row, c);
            for (t, a) in acc.iter_mut().enumerate() {
                *a = S::fma(w, S::load(&x[(t0 + t) * cols + c..]), *a);
            }
        }
        for (t, a) in acc.iter().enumerate() {
            let xt = &x[(t0 + t) * cols..(t0 + t + 1) * cols];
            let tail: f32 = (main..cols).map(|c| scalar_at(ty, row, c) * xt[c]).sum();
            out[(t0 + t) * ROWS + lane] = S::hsum(*a) + tail;
        }
    }
}

/// Rows `r0..r0 + 16` (those below `rows`; the others give 0) of a
/// row-major `ty` matrix times `n` tokens of `x` (`n * cols` values):
/// `out[t * 16 + r - r0]`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) unsafe fn group<S: Simd>(
    ty: GgmlType,
    data: &[u8],
    rows: usize,
    cols: usize,
    r0: usize,
    x: &[f32],
    n: usize,
    out: &mut [f32],
) {
    let row_bytes = cols * ty.type_size();
    for lane in 0..ROWS {
        let r = r0 + lane;
        if r >= rows {
            for t in 0..n {
                out[t * ROWS + lane] = 0.0;
            }
            continue;
        }
        let row = &data[r * row_bytes..(r + 1) * row_bytes];
        let mut t0 = 0;
        while t0 < n {
            // SAFETY: the caller runs this inside a function compiled for `S`.
            unsafe {
                if n - t0 >= 4 {
                    tile::<S, 4>(ty, row, cols, x, t0, lane, out);
                    t0 += 4;
                } else {
                    tile::<S, 1>(ty, row, cols, x, t0, lane, out);
                    t0 += 1;
                }
            }
        }
    }
}
