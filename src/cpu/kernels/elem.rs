//! Element-wise kernels of the forward.

use super::super::simd::Simd;

/// `out = silu(gate) * up`, `silu(g) = g / (1 + e^-g)`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
pub(super) unsafe fn swiglu<S: Simd>(gate: &[f32], up: &[f32], out: &mut [f32]) {
    let main = out.len() / S::L * S::L;
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        let (zero, one) = (S::splat_f(0.0), S::splat_f(1.0));
        for c in (0..main).step_by(S::L) {
            let g = S::load(&gate[c..]);
            let e = S::exp(S::fnma(g, one, zero));
            let silu = S::div(g, S::add(e, one));
            S::store(S::mul(silu, S::load(&up[c..])), &mut out[c..]);
        }
    }
    for c in main..out.len() {
        let g = gate[c];
        out[c] = g / (1.0 + (-g).exp()) * up[c];
    }
}
