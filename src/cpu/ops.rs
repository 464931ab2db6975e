//! The small ops of a step, each O(activations): RMSNorm, RoPE, argmax
//! (SwiGLU is a SIMD kernel). They are the CPU reference's formulas (`model::reference`), so
//! the two paths agree to f32 rounding outside the mat-muls.

/// `out = x / rms(x) * w` for one row.
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let s = 1.0 / (ms + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(w) {
        *o = v * s * w;
    }
}

/// ggml's "normal" RoPE (adjacent pairs) at the positions of one step: the
/// cosines and sines are computed once per step and reused by every layer.
pub(crate) struct Rope {
    inv_freq: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    /// For up to `n_batch` positions per step.
    pub(crate) fn new(inv_freq: &[f32], n_batch: usize) -> Rope {
        Rope {
            inv_freq: inv_freq.to_vec(),
            cos: vec![0.0; n_batch * inv_freq.len()],
            sin: vec![0.0; n_batch * inv_freq.len()],
        }
    }

    /// Prepares positions `pos0..pos0 + n`.
    pub(crate) fn set_positions(&mut self, pos0: usize, n: usize) {
        let h = self.inv_freq.len();
        for t in 0..n {
            for (i, f) in self.inv_freq.iter().enumerate() {
                let (s, c) = ((pos0 + t) as f32 * f).sin_cos();
                self.sin[t * h + i] = s;
                self.cos[t * h + i] = c;
            }
        }
    }

    /// Rotates one head of token `t` of the step.
    pub(crate) fn apply(&self, t: usize, head: &mut [f32]) {
        let h = self.inv_freq.len();
        let (cos, sin) = (&self.cos[t * h..(t + 1) * h], &self.sin[t * h..(t + 1) * h]);
        for ((pair, c), s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * c - b * s;
            pair[1] = a * s + b * c;
        }
    }
}

/// The index of the first largest value.
pub(crate) fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference;

    #[test]
    fn norm_and_rope_equal_the_reference() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let w: Vec<f32> = (0..64).map(|i| 1.0 + i as f32 / 64.0).collect();
        let mut out = vec![0.0; 64];
        rms_norm(&x, &w, 1e-5, &mut out);
        assert_eq!(out, reference::rms_norm(&x, &w, 1e-5));

        let inv_freq: Vec<f32> = (0..6).map(|i| 10000f32.powf(-(i as f32) / 8.0)).collect();
        let mut rope = Rope::new(&inv_freq, 4);
        rope.set_positions(5, 4);
        let mut head = x[..16].to_vec();
        let mut want = head.clone();
        rope.apply(2, &mut head);
        reference::rope(&mut want, 7, &inv_freq);
        assert_eq!(head, want);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
    }
}
