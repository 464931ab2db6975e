//! The CPU kernels and their dispatch: each kernel is written once, generic
//! over [`Simd`](super::simd::Simd), and compiled once per backend inside a
//! `#[target_feature]` entry point; [`Isa`] picks the entry at run time.

mod attn;
mod elem;
mod fmat;
mod qmat;

pub(crate) use attn::{AttnShape, KvView};

use super::acts::QActs;
use super::isa::{Isa, Level};
use crate::quant::GgmlType;

/// The entry points of one backend: the generic kernels compiled with its
/// target features (every `#[inline(always)]` helper inlines into them).
macro_rules! entries {
    ($name:ident, $simd:ty $(, $features:literal)?) => {
        mod $name {
            use super::super::acts::QActs;
            use super::{AttnShape, KvView, attn, elem, fmat, qmat};
            use crate::quant::GgmlType;

            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn qgroup(
                ty: GgmlType,
                group: &[u8],
                cols: usize,
                x: &QActs,
                out: &mut [f32],
            ) {
                // SAFETY: compiled with the backend's features.
                unsafe { qmat::group::<$simd>(ty, group, cols, x, out) }
            }

            #[allow(clippy::too_many_arguments)]
            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn fgroup(
                ty: GgmlType,
                data: &[u8],
                rows: usize,
                cols: usize,
                r0: usize,
                x: &[f32],
                n: usize,
                out: &mut [f32],
            ) {
                // SAFETY: compiled with the backend's features.
                unsafe { fmat::group::<$simd>(ty, data, rows, cols, r0, x, n, out) }
            }

            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn attend(
                q: &[f32],
                k: KvView,
                v: KvView,
                s: AttnShape,
                out: &mut [f32],
            ) {
                // SAFETY: compiled with the backend's features.
                unsafe { attn::attend::<$simd>(q, k, v, s, out) }
            }

            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
                // SAFETY: compiled with the backend's features.
                unsafe { elem::swiglu::<$simd>(gate, up, out) }
            }
        }
    };
}

entries!(scalar, super::super::simd::scalar::Scalar);
#[cfg(target_arch = "x86_64")]
entries!(avx2, super::super::simd::avx2::Avx2, "avx2,fma,f16c");
#[cfg(target_arch = "x86_64")]
entries!(
    avx512,
    super::super::simd::avx512::Avx512,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"
);
#[cfg(target_arch = "aarch64")]
entries!(neon, super::super::simd::neon::NeonDot, "neon,dotprod");

/// Calls the entry `$f` of the backend `$isa` names.
macro_rules! dispatch {
    ($isa:expr, $f:ident($($arg:expr),*)) => {
        // SAFETY: `Isa` holds a level only after detecting every feature of
        // its backend on this CPU (see `isa.rs`); the scalar entry needs none.
        unsafe {
            match $isa.level() {
                Level::Scalar => scalar::$f($($arg),*),
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => avx2::$f($($arg),*),
                #[cfg(target_arch = "x86_64")]
                Level::Avx512Vnni => avx512::$f($($arg),*),
                #[cfg(target_arch = "aarch64")]
                Level::NeonDot => neon::$f($($arg),*),
            }
        }
    };
}

/// One packed row group (16 rows of `ty`, `cols` columns) times every token
/// of `x`: `out[t * 16 + r]`.
pub(crate) fn qgroup(
    isa: Isa,
    ty: GgmlType,
    group: &[u8],
    cols: usize,
    x: &QActs,
    out: &mut [f32],
) {
    assert!(out.len() >= x.n() * 16 && x.cols() == cols);
    dispatch!(isa, qgroup(ty, group, cols, x, out))
}

/// Rows `r0..r0 + 16` of a row-major float matrix (`rows` x `cols` of
/// `ty`) times the `n` tokens of `x`: `out[t * 16 + r - r0]` (0 past the
/// last row).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fgroup(
    isa: Isa,
    ty: GgmlType,
    data: &[u8],
    rows: usize,
    cols: usize,
    r0: usize,
    x: &[f32],
    n: usize,
    out: &mut [f32],
) {
    assert!(out.len() >= n * 16 && x.len() >= n * cols);
    dispatch!(isa, fgroup(ty, data, rows, cols, r0, x, n, out))
}

/// Attention of the query heads in `q` that share one KV head (see
/// [`AttnShape`]) into `out`.
pub(crate) fn attend(isa: Isa, q: &[f32], k: KvView, v: KvView, s: AttnShape, out: &mut [f32]) {
    assert_eq!(q.len(), out.len());
    dispatch!(isa, attend(q, k, v, s, out))
}

/// `out = silu(gate) * up`.
pub(crate) fn swiglu(isa: Isa, gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(gate.len() >= out.len() && up.len() >= out.len());
    dispatch!(isa, swiglu(gate, up, out))
}

#[cfg(test)]
mod tests;
