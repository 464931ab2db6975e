//! Activations quantized to 8 bits for the integer mat-muls: per block of 32
//! values a scale `d = max|x| / 127` and quants `q = round(x / d)` in
//! -127..=127, plus the sums the kernels need for zero points and mins
//! (per 32 and per 16 values: the integer sum of the quants and `d` times
//! it).

/// The quantized activations of up to `cap` tokens of `cols` values.
pub(crate) struct QActs {
    cols: usize,
    n: usize,
    /// `[t][cols / 4]`: four quants per word, in order (little-endian).
    qs: Vec<i32>,
    /// `[t][cols / 32]`.
    d: Vec<f32>,
    isum32: Vec<i32>,
    s32: Vec<f32>,
    /// `[t][cols / 16]`.
    isum16: Vec<i32>,
    s16: Vec<f32>,
}

/// Round to nearest, ties to even, for |v| < 2^22 (adding and subtracting
/// 1.5 * 2^23 leaves no fraction bits): vectorizes on every target.
#[inline(always)]
fn round(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

impl QActs {
    /// Room for `cap` tokens of `cols` values (a multiple of 32).
    pub(crate) fn new(cols: usize, cap: usize) -> QActs {
        debug_assert!(cols.is_multiple_of(32));
        QActs {
            cols,
            n: 0,
            qs: vec![0; cap * cols / 4],
            d: vec![0.0; cap * cols / 32],
            isum32: vec![0; cap * cols / 32],
            s32: vec![0.0; cap * cols / 32],
            isum16: vec![0; cap * cols / 16],
            s16: vec![0.0; cap * cols / 16],
        }
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Tokens held.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Quantizes `x`, `n` rows of `cols` values (at most the capacity).
    pub(crate) fn quantize(&mut self, x: &[f32], n: usize) {
        let c = self.cols;
        assert!(x.len() >= n * c && self.d.len() >= n * c / 32);
        self.n = n;
        let qs: &mut [i8] = bytemuck::cast_slice_mut(&mut self.qs[..n * c / 4]);
        for (b, (xb, qb)) in x[..n * c]
            .chunks_exact(32)
            .zip(qs.chunks_exact_mut(32))
            .enumerate()
        {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut sums = [0i32; 2];
            for (h, (xh, qh)) in xb.chunks_exact(16).zip(qb.chunks_exact_mut(16)).enumerate() {
                let mut s = 0;
                for (v, q) in xh.iter().zip(qh.iter_mut()) {
                    let r = round(v * id) as i32;
                    *q = r as i8;
                    s += r;
                }
                sums[h] = s;
            }
            self.d[b] = d;
            self.isum16[2 * b] = sums[0];
            self.isum16[2 * b + 1] = sums[1];
            self.s16[2 * b] = d * sums[0] as f32;
            self.s16[2 * b + 1] = d * sums[1] as f32;
            self.isum32[b] = sums[0] + sums[1];
            self.s32[b] = d * (sums[0] + sums[1]) as f32;
        }
    }

    /// Word `w` (four quants) of token `t`.
    #[inline(always)]
    pub(crate) fn word(&self, t: usize, w: usize) -> i32 {
        self.qs[t * self.cols / 4 + w]
    }

    /// The four quants of token `t` from word `w` on.
    #[inline(always)]
    pub(crate) fn words(&self, t: usize, w: usize) -> &[i32] {
        &self.qs[t * self.cols / 4 + w..]
    }

    /// Scale of 32-block `b` of token `t`.
    #[inline(always)]
    pub(crate) fn d(&self, t: usize, b: usize) -> f32 {
        self.d[t * self.cols / 32 + b]
    }

    /// Integer sum and scaled sum of 32-block `b` of token `t`.
    #[inline(always)]
    pub(crate) fn sum32(&self, t: usize, b: usize) -> (i32, f32) {
        let i = t * self.cols / 32 + b;
        (self.isum32[i], self.s32[i])
    }

    /// Integer sum and scaled sum of 16-block `b` of token `t`.
    #[inline(always)]
    pub(crate) fn sum16(&self, t: usize, b: usize) -> (i32, f32) {
        let i = t * self.cols / 16 + b;
        (self.isum16[i], self.s16[i])
    }

    /// The dequantized values of token `t` (tests compare kernels with the
    /// f32 dot product of these and the dequantized weights).
    #[cfg(test)]
    pub(crate) fn dequantize(&self, t: usize) -> Vec<f32> {
        let qs: &[i8] = bytemuck::cast_slice(&self.qs);
        let c = self.cols;
        (0..c)
            .map(|i| self.d(t, i / 32) * qs[t * c + i] as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_error_is_half_a_step_and_sums_match() {
        let x: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let mut a = QActs::new(64, 2);
        a.quantize(&x, 2);
        for t in 0..2 {
            let y = a.dequantize(t);
            for (i, (u, v)) in x[t * 64..].iter().zip(&y).enumerate() {
                let d = a.d(t, i / 32);
                assert!((u - v).abs() <= d / 2.0 + 1e-6, "{u} vs {v}");
            }
            let qs: &[i8] = bytemuck::cast_slice(&a.qs);
            for b in 0..4 {
                let s: i32 = qs[t * 64 + 16 * b..][..16].iter().map(|&q| q as i32).sum();
                assert_eq!(a.sum16(t, b).0, s);
            }
        }
        // A zero block quantizes to zeros with scale 0.
        a.quantize(&[0.0; 64], 1);
        assert_eq!(a.d(0, 0), 0.0);
        assert_eq!(a.word(0, 3), 0);
    }
}
