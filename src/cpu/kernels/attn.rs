//! Attention of one token's query heads that share a KV head, over the
//! cache rows `0..n_pos`: online softmax over chunks of positions (no
//! buffer grows with the context). Each key and value row is converted to
//! f32 once and serves every head of the group; the exponentials of a chunk
//! are computed a vector at a time.

use half::f16;

use super::super::simd::Simd;
use crate::gpu::KvType;

/// Positions scored at once.
const CHUNK: usize = 64;
/// Query heads per KV head handled at once (larger groups take turns).
const HEADS: usize = 8;
/// The largest head the kernel takes (`LlamaConfig` checks the model's).
pub(crate) const MAX_HEAD_DIM: usize = 1024;

/// A layer's keys or values, f16, f32 or 8-bit (blocks of 32: an f32 scale,
/// then 32 int8, see `cpu/kv.rs`), little-endian; where a head's rows are
/// is [`AttnShape`]'s.
#[derive(Clone, Copy)]
pub(crate) struct KvView<'a> {
    pub bytes: &'a [u8],
    pub ty: KvType,
}

impl KvView<'_> {
    /// Elements `at..at + out.len()` as f32 (8-bit: `at` and the length
    /// multiples of 32).
    ///
    /// # Safety
    /// Inside a function compiled for `S`.
    #[inline(always)]
    unsafe fn row<S: Simd>(&self, at: usize, out: &mut [f32]) {
        if self.ty == KvType::Q8_0 {
            debug_assert!(at.is_multiple_of(32) && out.len().is_multiple_of(32));
            const { assert!(32 % S::L == 0) };
            let blocks = &self.bytes[at / 32 * 36..][..out.len() / 32 * 36];
            for (b, ob) in blocks.chunks_exact(36).zip(out.chunks_exact_mut(32)) {
                // SAFETY: the caller runs this inside a function compiled
                // for `S`; each load reads L of the block's 32 bytes.
                unsafe {
                    let d = S::splat_f(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    for c in (0..32).step_by(S::L) {
                        S::store(S::mul(S::load_i8f(&b[4 + c..]), d), &mut ob[c..]);
                    }
                }
            }
            return;
        }
        let f16 = self.ty == KvType::F16;
        let n = out.len();
        let main = n / S::L * S::L;
        let b = self.bytes;
        // SAFETY: the caller runs this inside a function compiled for `S`.
        unsafe {
            for c in (0..main).step_by(S::L) {
                let v = if f16 {
                    S::load_f16(&b[2 * (at + c)..])
                } else {
                    S::load_f32b(&b[4 * (at + c)..])
                };
                S::store(v, &mut out[c..]);
            }
        }
        for (c, o) in out.iter_mut().enumerate().skip(main) {
            let i = at + c;
            *o = if f16 {
                f16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32()
            } else {
                f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
            };
        }
    }
}

/// The shape of one attention item.
#[derive(Clone, Copy)]
pub(crate) struct AttnShape {
    pub head_dim: usize,
    /// Elements from one position's row of the KV head to the next.
    pub stride: usize,
    /// The KV head's first element (position 0).
    pub offset: usize,
    /// Positions attended to.
    pub n_pos: usize,
    pub scale: f32,
}

/// `a · b` (equal lengths).
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn dot<S: Simd>(a: &[f32], b: &[f32]) -> f32 {
    let main = a.len() / S::L * S::L;
    // SAFETY: the caller runs this inside a function compiled for `S`.
    let v = unsafe {
        let mut acc = S::splat_f(0.0);
        for c in (0..main).step_by(S::L) {
            acc = S::fma(S::load(&a[c..]), S::load(&b[c..]), acc);
        }
        S::hsum(acc)
    };
    v + (main..a.len()).map(|c| a[c] * b[c]).sum::<f32>()
}

/// `o += e * v`.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn axpy<S: Simd>(e: f32, v: &[f32], o: &mut [f32]) {
    let main = o.len() / S::L * S::L;
    // SAFETY: the caller runs this inside a function compiled for `S`.
    unsafe {
        let ev = S::splat_f(e);
        for c in (0..main).step_by(S::L) {
            S::store(S::fma(ev, S::load(&v[c..]), S::load(&o[c..])), &mut o[c..]);
        }
    }
    for c in main..o.len() {
        o[c] += e * v[c];
    }
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
    assert!(hd <= MAX_HEAD_DIM && s.n_pos > 0);
    for (qg, og) in q.chunks(HEADS * hd).zip(out.chunks_mut(HEADS * hd)) {
        // SAFETY: the caller runs this inside a function compiled for `S`.
        unsafe { attend_heads::<S>(qg, k, v, s, og) };
    }
}

/// [`attend`] for at most [`HEADS`] heads.
///
/// # Safety
/// Inside a function compiled for `S`.
#[inline(always)]
unsafe fn attend_heads<S: Simd>(q: &[f32], k: KvView, v: KvView, s: AttnShape, out: &mut [f32]) {
    let hd = s.head_dim;
    let heads = q.len() / hd;
    out.fill(0.0);
    let mut max = [f32::NEG_INFINITY; HEADS];
    let mut sum = [0.0f32; HEADS];
    let mut scores = [[0.0f32; CHUNK]; HEADS];
    let mut row = [0.0f32; MAX_HEAD_DIM];
    let row = &mut row[..hd];
    for p0 in (0..s.n_pos).step_by(CHUNK) {
        let np = CHUNK.min(s.n_pos - p0);
        for j in 0..np {
            // SAFETY: the caller runs this inside a function compiled for `S`.
            unsafe { k.row::<S>((p0 + j) * s.stride + s.offset, row) };
            for (h, sc) in scores.iter_mut().enumerate().take(heads) {
                // SAFETY: as above.
                sc[j] = unsafe { dot::<S>(&q[h * hd..(h + 1) * hd], row) } * s.scale;
            }
        }
        for h in 0..heads {
            let sc = &mut scores[h];
            let new_max = sc[..np].iter().copied().fold(max[h], f32::max);
            let corr = (max[h] - new_max).exp();
            if corr != 1.0 {
                sum[h] *= corr;
                out[h * hd..(h + 1) * hd]
                    .iter_mut()
                    .for_each(|x| *x *= corr);
            }
            max[h] = new_max;
            // SAFETY: the caller runs this inside a function compiled for `S`.
            unsafe {
                let neg_max = S::splat_f(-new_max);
                for c in (0..np.next_multiple_of(S::L)).step_by(S::L) {
                    S::store(S::exp(S::add(S::load(&sc[c..]), neg_max)), &mut sc[c..]);
                }
            }
            sum[h] += sc[..np].iter().sum::<f32>();
        }
        for j in 0..np {
            // SAFETY: the caller runs this inside a function compiled for `S`.
            unsafe { v.row::<S>((p0 + j) * s.stride + s.offset, row) };
            for (sc, o) in scores.iter().zip(out.chunks_exact_mut(hd)) {
                // SAFETY: as above.
                unsafe { axpy::<S>(sc[j], row, o) };
            }
        }
    }
    for (o, sum) in out.chunks_exact_mut(hd).zip(sum) {
        let inv = 1.0 / sum;
        o.iter_mut().for_each(|x| *x *= inv);
    }
}
