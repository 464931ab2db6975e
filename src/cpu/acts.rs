//! Activations quantized to 8 bits for the integer mat-muls: per block of 32
//! values a scale `d = max|x| / 127` and quants `q = round(x / d)` in
//! -127..=127, plus the sums the kernels need for zero points and mins
//! (per 32 and per 16 values: the integer sum of the quants and `d` times
//! it).
//!
//! Each token is one record of 4-byte words (so tokens quantize in
//! parallel, each into its own slice): the quants, four per word, then per
//! 32-block `d`, the integer sum and `d` times it, then the same two sums
//! per 16-block.

use super::pool::for_chunks;

/// The quantized activations of up to `cap` tokens of `cols` values.
pub(crate) struct QActs {
    cols: usize,
    n: usize,
    /// Words per token.
    stride: usize,
    words: Vec<u32>,
}

/// One token's record, sliced for the kernels.
#[derive(Clone, Copy)]
pub(crate) struct Tok<'a> {
    qs: &'a [u32],
    d: &'a [u32],
    isum32: &'a [u32],
    s32: &'a [u32],
    isum16: &'a [u32],
    s16: &'a [u32],
}

impl Tok<'_> {
    /// The 32 quants of block `b`, four per word.
    #[inline(always)]
    pub(crate) fn block(&self, b: usize) -> &[u32; 8] {
        self.qs[8 * b..8 * b + 8].try_into().expect("8 words")
    }

    /// Scale of 32-block `b`.
    #[inline(always)]
    pub(crate) fn d(&self, b: usize) -> f32 {
        f32::from_bits(self.d[b])
    }

    /// Integer sum and scaled sum of 32-block `b`.
    #[inline(always)]
    pub(crate) fn sum32(&self, b: usize) -> (i32, f32) {
        (self.isum32[b] as i32, f32::from_bits(self.s32[b]))
    }

    /// Integer sum and scaled sum of 16-block `b`.
    #[inline(always)]
    pub(crate) fn sum16(&self, b: usize) -> (i32, f32) {
        (self.isum16[b] as i32, f32::from_bits(self.s16[b]))
    }
}

/// Round to nearest, ties to even, for |v| < 2^22 (adding and subtracting
/// 1.5 * 2^23 leaves no fraction bits): vectorizes on every target.
#[inline(always)]
fn round(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// Offsets of a record's parts, in words.
#[derive(Clone, Copy)]
struct Layout {
    d: usize,
    isum32: usize,
    s32: usize,
    isum16: usize,
    s16: usize,
}

impl Layout {
    fn of(cols: usize) -> (Layout, usize) {
        let (b32, b16) = (cols / 32, cols / 16);
        let d = cols / 4;
        let l = Layout {
            d,
            isum32: d + b32,
            s32: d + 2 * b32,
            isum16: d + 3 * b32,
            s16: d + 3 * b32 + b16,
        };
        (l, l.s16 + b16)
    }
}

/// Quantizes one token's `x` into its record `rec`.
fn quantize_token(x: &[f32], rec: &mut [u32], l: Layout) {
    let (qs, sums) = rec.split_at_mut(l.d);
    let qs: &mut [i8] = bytemuck::cast_slice_mut(qs);
    let b32 = x.len() / 32;
    for (b, (xb, qb)) in x.chunks_exact(32).zip(qs.chunks_exact_mut(32)).enumerate() {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        let mut s = [0i32; 2];
        for (h, (xh, qh)) in xb.chunks_exact(16).zip(qb.chunks_exact_mut(16)).enumerate() {
            for (v, q) in xh.iter().zip(qh.iter_mut()) {
                let r = round(v * id) as i32;
                *q = r as i8;
                s[h] += r;
            }
        }
        let at = |off: usize| off - l.d;
        sums[at(l.d) + b] = d.to_bits();
        sums[at(l.isum32) + b] = (s[0] + s[1]) as u32;
        sums[at(l.s32) + b] = (d * (s[0] + s[1]) as f32).to_bits();
        for h in 0..2 {
            sums[at(l.isum16) + 2 * b + h] = s[h] as u32;
            sums[at(l.s16) + 2 * b + h] = (d * s[h] as f32).to_bits();
        }
    }
    debug_assert_eq!(b32 * 32, x.len());
}

impl QActs {
    /// Room for `cap` tokens of `cols` values (a multiple of 32).
    pub(crate) fn new(cols: usize, cap: usize) -> QActs {
        debug_assert!(cols.is_multiple_of(32));
        let (_, stride) = Layout::of(cols);
        QActs {
            cols,
            n: 0,
            stride,
            words: vec![0; cap * stride],
        }
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Tokens held.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    fn layout(&self) -> Layout {
        Layout::of(self.cols).0
    }

    /// Quantizes `x`, `n` rows of `cols` values (at most the capacity), a
    /// token per task on the enclosing pool.
    pub(crate) fn quantize(&mut self, x: &[f32], n: usize) {
        let (c, l) = (self.cols, self.layout());
        assert!(x.len() >= n * c && self.words.len() >= n * self.stride);
        self.n = n;
        for_chunks(&mut self.words[..n * self.stride], self.stride, |t, rec| {
            quantize_token(&x[t * c..(t + 1) * c], rec, l)
        });
    }

    /// Token `t`'s record.
    #[inline(always)]
    pub(crate) fn token(&self, t: usize) -> Tok<'_> {
        let l = self.layout();
        let r = &self.words[t * self.stride..(t + 1) * self.stride];
        let (b32, b16) = (self.cols / 32, self.cols / 16);
        Tok {
            qs: &r[..l.d],
            d: &r[l.d..l.d + b32],
            isum32: &r[l.isum32..l.isum32 + b32],
            s32: &r[l.s32..l.s32 + b32],
            isum16: &r[l.isum16..l.isum16 + b16],
            s16: &r[l.s16..l.s16 + b16],
        }
    }

    /// Word `w` (four quants) of token `t`.
    #[cfg(test)]
    pub(crate) fn word(&self, t: usize, w: usize) -> i32 {
        self.words[t * self.stride + w] as i32
    }

    #[cfg(test)]
    fn d(&self, t: usize, b: usize) -> f32 {
        self.token(t).d(b)
    }

    #[cfg(test)]
    fn sum32(&self, t: usize, b: usize) -> (i32, f32) {
        self.token(t).sum32(b)
    }

    #[cfg(test)]
    fn sum16(&self, t: usize, b: usize) -> (i32, f32) {
        self.token(t).sum16(b)
    }

    /// The dequantized values of token `t` (tests compare kernels with the
    /// f32 dot product of these and the dequantized weights).
    #[cfg(test)]
    pub(crate) fn dequantize(&self, t: usize) -> Vec<f32> {
        let r = &self.words[t * self.stride..];
        let qs: &[i8] = bytemuck::cast_slice(&r[..self.cols / 4]);
        (0..self.cols)
            .map(|i| self.d(t, i / 32) * qs[i] as f32)
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
            for b in 0..4 {
                let s: i32 = (0..16)
                    .map(|i| (y[16 * b + i] / a.d(t, b / 2)).round() as i32)
                    .sum();
                assert_eq!(a.sum16(t, b).0, s);
                assert_eq!(a.sum16(t, b).1, a.d(t, b / 2) * s as f32);
            }
            for b in 0..2 {
                assert_eq!(
                    a.sum32(t, b).0,
                    a.sum16(t, 2 * b).0 + a.sum16(t, 2 * b + 1).0
                );
            }
        }
        // A zero block quantizes to zeros with scale 0.
        a.quantize(&[0.0; 64], 1);
        assert_eq!(a.d(0, 0), 0.0);
        assert_eq!(a.word(0, 3), 0);
    }
}
