//! Attention of one token's query heads that share a KV head, over the
//! cache rows `0..n_pos`: scores, softmax and the weighted sum of values in
//! one pass per head (online softmax over chunks of positions, so no
//! buffer grows with the context).

use half::f16;

use super::super::simd::Simd;

/// Positions scored at once.
const CHUNK: usize = 64;

/// A layer's keys or values: `[pos][kv_dim]`, f16 or f32, little-endian.
#[derive(Clone, Copy)]
pub(crate) struct KvView<'a> {
    pub bytes: &'a [u8],
    pub f16: bool,
}

impl KvView<'_> {
    fn elem(&self) -> usize {
        if self.f16 { 2 } else { 4 }
    }

    fn scalar(&self, i: usize) -> f32 {
        let b = self.bytes;
        if self.f16 {
            f16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32()
        } else {
            f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
        }
    }

    /// # Safety
    /// Inside a function compiled for `S`.
    #[inline(always)]
    unsafe fn load<S: Simd>(&self, i: usize) -> S::F {
        // SAFETY: the caller runs this inside a function compiled for `S`.
        unsafe {
            if self.f16 {
                S::load_f16(&self.bytes[2 * i..])
            } else {
                S::load_f32b(&self.bytes[4 * i..])
            }
        }
    }
}

/// The shape of one attention item.
#[derive(Clone, Copy)]
pub(crate) struct AttnShape {
    pub head_dim: usize,
    pub kv_dim: usize,
    /// The KV head's offset in a cache row.
    pub kv_off: usize,
    /// Positions attended to.
    pub n_pos: usize,
    pub scale: f32,
}

/// `out` (heads x head_dim) = softmax(q k^T * scale) v for each query head
/// in `q` (heads x head_dim), over cache positions `0..n_pos`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
pub(super) unsafe fn attend<S: Simd>(
    q: &[f32],
    k: KvView,
    v: KvView,
    s: AttnShape,
    out: &mut [f32],
) {
    let hd = s.head_dim;
    let main = hd / S::L * S::L;
    debug_assert!(k.bytes.len() >= s.n_pos * s.kv_dim * k.elem());
    for (qh, o) in q.chunks_exact(hd).zip(out.chunks_exact_mut(hd)) {
        o.fill(0.0);
        let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
        let mut scores = [0.0f32; CHUNK];
        for p0 in (0..s.n_pos).step_by(CHUNK) {
            let np = CHUNK.min(s.n_pos - p0);
            for (j, sc) in scores[..np].iter_mut().enumerate() {
                let row = (p0 + j) * s.kv_dim + s.kv_off;
                // SAFETY: the caller runs this inside a function compiled for `S`.
                let dot = unsafe {
                    let mut acc = S::splat_f(0.0);
                    for c in (0..main).step_by(S::L) {
                        acc = S::fma(S::load(&qh[c..]), k.load::<S>(row + c), acc);
                    }
                    S::hsum(acc)
                };
                let tail: f32 = (main..hd).map(|c| qh[c] * k.scalar(row + c)).sum();
                *sc = (dot + tail) * s.scale;
            }
            let new_max = scores[..np].iter().copied().fold(max, f32::max);
            let corr = (max - new_max).exp();
            if corr != 1.0 {
                sum *= corr;
                o.iter_mut().for_each(|x| *x *= corr);
            }
            max = new_max;
            for (j, sc) in scores[..np].iter().enumerate() {
                let e = (sc - max).exp();
                sum += e;
                let row = (p0 + j) * s.kv_dim + s.kv_off;
                // SAFETY: the caller runs this inside a function compiled for `S`.
                unsafe {
                    let ev = S::splat_f(e);
                    for c in (0..main).step_by(S::L) {
                        let r = S::fma(ev, v.load::<S>(row + c), S::load(&o[c..]));
                        S::store(r, &mut o[c..]);
                    }
                }
                for (c, oc) in o.iter_mut().enumerate().skip(main) {
                    *oc += e * v.scalar(row + c);
                }
            }
        }
        let inv = 1.0 / sum;
        o.iter_mut().for_each(|x| *x *= inv);
    }
}
