//! The matmul with 8-bit activations (the decode mat-vec and the prefill
//! tiles) against a CPU reference, on Vulkan (lavapipe: native integer-dot
//! instructions lowered by the driver) and GL (llvmpipe: naga's polyfill),
//! in the one-thread-per-row shapes of CPU adapters and the
//! many-threads-per-row shapes of GPUs.
//!
//! The reference is the dot of the dequantized weights with the
//! *dequantized 8-bit activations*: the quantization kernel's output is read
//! back and checked against its definition (scale max|x| / 127, values
//! rounded), and the mat-vec must then equal the f64 dot product of the two
//! within f32 rounding.

use rewind::gpu::{
    Gpu, GpuOptions, GpuTuning, Kernels, KvType, MatIn, MatOut, QMatrix, RopeKv, Step, StepParams,
    Tensor, X8Use, has_x8, rope_inv_freq, x8_units,
};
use rewind::quant::{GgmlType, dequantize_to_vec, quantize};
use std::sync::Arc;

/// xorshift64*: deterministic test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }
    /// Uniform in [-scale, scale).
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next_u32() as f32 / 4_294_967_296.0 * 2.0 - 1.0) * scale)
            .collect()
    }
}

const X8_TYPES: [GgmlType; 10] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Vulkan and GL, each in both mat-vec shapes, the 8-bit path forced on.
fn configs() -> Vec<(String, GpuOptions)> {
    let mut v = Vec::new();
    for (name, backends) in [
        ("vulkan", wgpu::Backends::VULKAN),
        ("gl", wgpu::Backends::GL),
    ] {
        for thread_per_row in [true, false] {
            v.push((
                format!("{name} thread_per_row={thread_per_row}"),
                GpuOptions {
                    backends: Some(backends),
                    tuning: GpuTuning {
                        thread_per_row: Some(thread_per_row),
                        int8_matvec: Some(true),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ));
        }
    }
    v
}

fn open(name: &str, opts: &GpuOptions) -> (Arc<Gpu>, Kernels) {
    let gpu = Gpu::new(opts).unwrap_or_else(|e| panic!("{name}: no device: {e}"));
    eprintln!("{name}: {}", gpu.describe());
    let k = Kernels::new(&gpu).unwrap();
    (gpu, k)
}

fn run(gpu: &Gpu, step: &Step, op: &rewind::gpu::Op, n: u32) {
    step.write(gpu, StepParams::new(n, 0));
    gpu.run(&[op], n, 0);
    gpu.wait().unwrap();
}

/// A quantized x row as the kernel wrote it: q, and per block (d, s).
struct X8 {
    q: Vec<i8>,
    d: Vec<f32>,
    s: Vec<f32>,
}

impl X8 {
    fn decode(words: &[u32], cols: usize) -> X8 {
        let blocks = cols / 32;
        let q = words[..cols / 4]
            .iter()
            .flat_map(|w| w.to_le_bytes().map(|b| b as i8))
            .collect();
        let ds = &words[8 * blocks..];
        let f = |i: usize| f32::from_bits(ds[i]);
        X8 {
            q,
            d: (0..blocks).map(|b| f(2 * b)).collect(),
            s: (0..blocks).map(|b| f(2 * b + 1)).collect(),
        }
        .padding_checked(ds, blocks)
    }

    /// An odd block count leaves (d, s) of a missing block: zeros.
    fn padding_checked(self, ds: &[u32], blocks: usize) -> X8 {
        if blocks % 2 == 1 {
            assert_eq!(&ds[2 * blocks..2 * blocks + 2], &[0, 0], "padding");
        }
        self
    }

    /// The dequantized activations d * q.
    fn values(&self) -> Vec<f64> {
        self.q
            .iter()
            .enumerate()
            .map(|(i, &q)| self.d[i / 32] as f64 * q as f64)
            .collect()
    }
}

/// Runs the quantization of `input` (`cols` wide) for a step of `n` tokens
/// and reads the result: a row per token, or the last token's with
/// `last_only`.
fn quantized(
    gpu: &Arc<Gpu>,
    k: &Kernels,
    step: &Step,
    input: MatIn<'_>,
    cols: usize,
    n: u32,
    last_only: bool,
) -> Vec<X8> {
    let cap = input.x.len / cols;
    let row = 4 * x8_units(cols);
    let xq = Tensor::new(gpu, row * cap, "xq").unwrap();
    let op = k.quantize_x8(step, input, cols, &xq, last_only).unwrap();
    run(gpu, step, &op, n);
    let rows = if last_only { 1 } else { n as usize };
    let words: Vec<u32> = gpu.read(&xq.buffer, 0, row * rows).unwrap();
    words.chunks(row).map(|w| X8::decode(w, cols)).collect()
}

/// RMS-normalized with weight `nw`, in f64.
fn norm_row(x: &[f32], nw: &[f32], eps: f32) -> Vec<f64> {
    let ms = x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (ms + eps as f64).sqrt();
    x.iter()
        .zip(nw)
        .map(|(&v, &w)| v as f64 * inv * w as f64)
        .collect()
}

#[test]
fn quantization_follows_its_definition() {
    for (name, opts) in configs() {
        let (gpu, k) = open(&name, &opts);
        let step = Step::new(&gpu);
        let mut rng = Rng::new(3);
        // 3 blocks (an odd count: padding), 25 blocks.
        for cols in [96, 800] {
            let cap = 3;
            let mut xv = rng.vec(cap * cols, 2.0);
            // A zero block in every row (d = 0), and a large value.
            for t in 0..cap {
                xv[t * cols + 32..t * cols + 64].fill(0.0);
                xv[t * cols + 70] = 9.0;
            }
            let nwv = rng.vec(cols, 1.5);
            let x = Tensor::from_slice(&gpu, &xv, "x").unwrap();
            let nw = Tensor::from_slice(&gpu, &nwv, "nw").unwrap();
            for normed in [false, true] {
                for (n, last_only) in [(1u32, false), (3, false), (3, true), (2, true)] {
                    let input = MatIn {
                        x: &x,
                        norm: normed.then_some((&nw, 1e-5)),
                    };
                    let rows = quantized(&gpu, &k, &step, input, cols, n, last_only);
                    for (i, got) in rows.iter().enumerate() {
                        let t = if last_only { n as usize - 1 } else { i };
                        let row = &xv[t * cols..(t + 1) * cols];
                        let want: Vec<f64> = if normed {
                            norm_row(row, &nwv, 1e-5)
                        } else {
                            row.iter().map(|&v| v as f64).collect()
                        };
                        let ctx = format!("{name} cols={cols} normed={normed} n={n} token {t}");
                        for b in 0..cols / 32 {
                            let xs = &want[32 * b..32 * (b + 1)];
                            let amax = xs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                            let d = got.d[b] as f64;
                            assert!(
                                (d - amax / 127.0).abs() <= 1e-5 * amax / 127.0,
                                "{ctx} block {b}: d {d}, max {amax}"
                            );
                            let qs = &got.q[32 * b..32 * (b + 1)];
                            let qsum: i64 = qs.iter().map(|&q| q as i64).sum();
                            let s = got.s[b] as f64;
                            assert!(
                                (s - d * qsum as f64).abs() <= 1e-6 * (d * qsum.abs() as f64),
                                "{ctx} block {b}: s {s}, d * sum {}",
                                d * qsum as f64
                            );
                            for (i, (&q, &v)) in qs.iter().zip(xs).enumerate() {
                                assert!(q != -128, "{ctx} block {b}: -128");
                                if amax == 0.0 {
                                    assert_eq!(q, 0, "{ctx} block {b}: zero block");
                                } else {
                                    // Rounded, up to the f32 error of x / d.
                                    let e = (q as f64 - v / d).abs();
                                    assert!(
                                        e <= 0.5 + 1e-3,
                                        "{ctx} block {b} element {i}: {q} for {}",
                                        v / d
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Checks `got` (rows of `cap` tokens of `rows`) against `y0 (+) W xd` in
/// token row 0, rows past 0 unchanged.
#[allow(clippy::too_many_arguments)]
fn check_rows(
    what: &str,
    got: &[f32],
    w: &[f32],
    xd: &[f64],
    y0: &[f32],
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    for (i, &g) in got.iter().enumerate() {
        let (t, r) = (i / rows, i % rows);
        if t > 0 {
            assert_eq!(g, y0[i], "{what}: token row {t} changed");
            continue;
        }
        let (mut s, mut mag) = (0.0f64, 0.0f64);
        for c in 0..cols {
            let p = w[r * cols + c] as f64 * xd[c];
            s += p;
            mag += p.abs();
        }
        if accumulate {
            s += y0[i] as f64;
            mag += (y0[i] as f64).abs();
        }
        let tol = 1e-5 * mag + 1e-6;
        assert!(
            (g as f64 - s).abs() <= tol,
            "{what}: row {r}: got {g}, want {s} (tolerance {tol})"
        );
    }
}

#[test]
fn matvec_equals_the_dot_with_the_quantized_activations() {
    for (name, opts) in configs() {
        let (gpu, k) = open(&name, &opts);
        let step = Step::new(&gpu);
        let mut rng = Rng::new(7);
        for (rows, cols) in [(67, 96), (130, 256), (37, 768)] {
            for ty in X8_TYPES {
                if cols % ty.block_size() != 0 {
                    continue; // K-quants: whole super-blocks of 256
                }
                let x8 = k.x8_use(ty);
                assert!(x8.decode && x8.prefill, "{name}: {ty} forced on");
                let wv = rng.vec(rows * cols, 1.0);
                let bytes = quantize(ty, &wv).unwrap();
                let w = dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
                let m = QMatrix::upload(&gpu, ty, rows, cols, &bytes, "w").unwrap();
                let cap = 3;
                let xv = rng.vec(cap * cols, 1.0);
                let y0 = rng.vec(cap * rows, 1.0);
                let x = Tensor::from_slice(&gpu, &xv, "x").unwrap();
                let plain = MatIn { x: &x, norm: None };
                // One-token step: x row 0.
                let xd = quantized(&gpu, &k, &step, plain, cols, 1, false)[0].values();
                for accumulate in [false, true] {
                    let y = Tensor::from_slice(&gpu, &y0, "y").unwrap();
                    let op = k.matmul(&step, &m, &x, &y, accumulate).unwrap();
                    run(&gpu, &step, &op, 1);
                    let got = y.read(&gpu).unwrap();
                    let ctx = format!("{name} {ty} {rows}x{cols} acc={accumulate}");
                    check_rows(&ctx, &got, &w, &xd, &y0, rows, cols, accumulate);
                }
                // The last token of a longer step (the logits).
                let xd = quantized(&gpu, &k, &step, plain, cols, 3, true)[0].values();
                let y = Tensor::from_slice(&gpu, &y0[..rows], "logits").unwrap();
                let op = k.matmul_last(&step, &m, &x, &y).unwrap();
                run(&gpu, &step, &op, 3);
                let got = y.read(&gpu).unwrap();
                let ctx = format!("{name} {ty} {rows}x{cols} last");
                check_rows(&ctx, &got, &w, &xd, &y0[..rows], rows, cols, false);
            }
        }
    }
}

/// The prefill tiles: every token of a longer step against the dot of its
/// own quantized row, in steps shorter than one tile of tokens and longer
/// than one (a partial last tile), rows past the step unchanged.
#[test]
fn prefill_tiles_equal_the_dot_with_each_tokens_quantized_activations() {
    for (name, opts) in configs() {
        let (gpu, k) = open(&name, &opts);
        let step = Step::new(&gpu);
        let mut rng = Rng::new(11);
        for (rows, cols) in [(67, 96), (37, 512)] {
            for ty in X8_TYPES {
                if cols % ty.block_size() != 0 {
                    continue; // K-quants: whole super-blocks of 256
                }
                let wv = rng.vec(rows * cols, 1.0);
                let bytes = quantize(ty, &wv).unwrap();
                let w = dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
                let m = QMatrix::upload(&gpu, ty, rows, cols, &bytes, "w").unwrap();
                let cap = 11;
                let xv = rng.vec(cap * cols, 1.0);
                let x = Tensor::from_slice(&gpu, &xv, "x").unwrap();
                let plain = MatIn { x: &x, norm: None };
                for n in [2u32, 11] {
                    let xd = quantized(&gpu, &k, &step, plain, cols, n, false);
                    let y0 = rng.vec(cap * rows, 1.0);
                    let y = Tensor::from_slice(&gpu, &y0, "y").unwrap();
                    let op = k.matmul(&step, &m, &x, &y, true).unwrap();
                    run(&gpu, &step, &op, n);
                    let got = y.read(&gpu).unwrap();
                    for t in 0..cap {
                        let ctx = format!("{name} {ty} {rows}x{cols} n={n} token {t}");
                        let (got, y0) = (&got[t * rows..][..rows], &y0[t * rows..][..rows]);
                        if t < n as usize {
                            check_rows(&ctx, got, &w, &xd[t].values(), y0, rows, cols, true);
                        } else {
                            assert_eq!(got, y0, "{ctx}: past the step, changed");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn normed_swiglu_matvec_uses_the_quantized_normed_activations() {
    for (name, opts) in configs() {
        let (gpu, k) = open(&name, &opts);
        let step = Step::new(&gpu);
        let mut rng = Rng::new(9);
        let (rows, cols, eps) = (40, 256, 1e-5f32);
        for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
            let wv = rng.vec(rows * cols, 1.0);
            let bytes = quantize(ty, &wv).unwrap();
            let w = dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
            let m = QMatrix::upload(&gpu, ty, rows, cols, &bytes, "w").unwrap();
            let xv = rng.vec(2 * cols, 3.0);
            let nwv = rng.vec(cols, 1.0);
            let x = Tensor::from_slice(&gpu, &xv, "x").unwrap();
            let nw = Tensor::from_slice(&gpu, &nwv, "nw").unwrap();
            let input = MatIn {
                x: &x,
                norm: Some((&nw, eps)),
            };
            let xd = quantized(&gpu, &k, &step, input, cols, 1, false)[0].values();
            let h = Tensor::new(&gpu, rows, "h").unwrap();
            let op = k
                .matmul_fused(&step, &[&m], input, MatOut::SwiGlu { h: &h }, false)
                .unwrap();
            run(&gpu, &step, &op, 1);
            let got = h.read(&gpu).unwrap();
            let dot = |r: usize| {
                (0..cols).fold((0.0f64, 0.0f64), |(s, mag), c| {
                    let p = w[r * cols + c] as f64 * xd[c];
                    (s + p, mag + p.abs())
                })
            };
            for (i, &h) in got.iter().enumerate().take(rows / 2) {
                let ((g, gm), (u, um)) = (dot(2 * i), dot(2 * i + 1));
                let want = g / (1.0 + (-g).exp()) * u;
                let (tg, tu) = (1e-5 * gm + 1e-6, 1e-5 * um + 1e-6);
                let tol = 1.1 * tg * (u.abs() + tu) + (g.abs() + tg) * tu + 1e-6 * want.abs();
                assert!(
                    (h as f64 - want).abs() <= tol,
                    "{name} {ty}: h[{i}] = {h}, want {want} (tolerance {tol})"
                );
            }
        }
    }
}

/// The fused Q/K/V projection with its RoPE + KV-cache epilogue (rows in
/// pairs) on 8-bit normed activations, in the decode shape and in prefill
/// tiles at a later position: q, and the cache rows of k and v, against the
/// f64 dot with each token's quantized row, then RoPE (ggml's normal mode,
/// a partial rotation) at that token's position.
#[test]
fn qkv_rope_kv_epilogue_uses_each_tokens_quantized_activations() {
    for (name, opts) in configs() {
        let (gpu, k) = open(&name, &opts);
        let step = Step::new(&gpu);
        let mut rng = Rng::new(13);
        let (cols, eps) = (256, 1e-5f32);
        let (n_heads, n_kv, hd) = (4, 2, 16);
        let (q_dim, kv_dim) = (n_heads * hd, n_kv * hd);
        let inv_freq = rope_inv_freq(12, 10_000.0);
        let max_ctx = 24;
        for ty in [GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q6_K] {
            let rows = q_dim + 2 * kv_dim;
            let bytes = quantize(ty, &rng.vec(rows * cols, 1.0)).unwrap();
            let w = dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
            let m = QMatrix::upload(&gpu, ty, rows, cols, &bytes, "qkv").unwrap();
            let nwv: Vec<f32> = rng.vec(cols, 0.5).iter().map(|v| 1.0 + v).collect();
            let nw = Tensor::from_slice(&gpu, &nwv, "nw").unwrap();
            for (n, pos0) in [(1usize, 5usize), (11, 7)] {
                let xv = rng.vec(n * cols, 2.0);
                let x = Tensor::from_slice(&gpu, &xv, "x").unwrap();
                let input = MatIn {
                    x: &x,
                    norm: Some((&nw, eps)),
                };
                let xq = quantized(&gpu, &k, &step, input, cols, n as u32, false);
                let q = Tensor::new(&gpu, n * q_dim, "q").unwrap();
                let bytes = (max_ctx * kv_dim * 4) as u64;
                let kc = gpu.storage_buffer(bytes, "kc").unwrap();
                let vc = gpu.storage_buffer(bytes, "vc").unwrap();
                let out = MatOut::RopeKv(RopeKv {
                    q: &q,
                    k_cache: &kc,
                    v_cache: &vc,
                    kv: KvType::F32,
                    at_token: false,
                    n_heads,
                    n_kv_heads: n_kv,
                    head_dim: hd,
                    inv_freq: &inv_freq,
                });
                let op = k.matmul_fused(&step, &[&m], input, out, false).unwrap();
                step.write(&gpu, StepParams::new(n as u32, pos0 as u32));
                gpu.run(&[&op], n as u32, (pos0 + n) as u32);
                gpu.wait().unwrap();
                let qg = q.read(&gpu).unwrap();
                let cache = |b: &wgpu::Buffer| -> Vec<f32> {
                    let words = gpu.read::<u32>(b, 0, (bytes / 4) as usize).unwrap();
                    words.into_iter().map(f32::from_bits).collect()
                };
                let (kg, vg) = (cache(&kc), cache(&vc));
                for (t, xq) in xq.iter().enumerate() {
                    let xd = xq.values();
                    let pos = pos0 + t;
                    // Row r of the projection: (sum, sum of |terms|).
                    let dot = |r: usize| {
                        (0..cols).fold((0.0f64, 0.0f64), |(s, mag), c| {
                            let p = w[r * cols + c] as f64 * xd[c];
                            (s + p, mag + p.abs())
                        })
                    };
                    let ctx = format!("{name} {ty} n={n} token {t}");
                    let heads = [
                        (n_heads, 0, &qg[t * q_dim..][..q_dim], true),
                        (n_kv, q_dim, &kg[pos * kv_dim..][..kv_dim], true),
                        (n_kv, q_dim + kv_dim, &vg[pos * kv_dim..][..kv_dim], false),
                    ];
                    for (count, row0, got, rotate) in heads {
                        for h in 0..count {
                            let sums: Vec<(f64, f64)> =
                                (0..hd).map(|d| dot(row0 + h * hd + d)).collect();
                            let mut want: Vec<f64> = sums.iter().map(|s| s.0).collect();
                            if rotate {
                                for (i, &f) in inv_freq.iter().enumerate() {
                                    let a = pos as f64 * f as f64;
                                    let (x0, x1) = (want[2 * i], want[2 * i + 1]);
                                    want[2 * i] = x0 * a.cos() - x1 * a.sin();
                                    want[2 * i + 1] = x0 * a.sin() + x1 * a.cos();
                                }
                            }
                            for d in 0..hd {
                                let g = got[h * hd + d] as f64;
                                let tol = 2e-5 * (sums[d].1 + sums[d ^ 1].1) + 1e-6;
                                assert!(
                                    (g - want[d]).abs() <= tol,
                                    "{ctx} rows {row0}+ head {h} dim {d}: got {g}, want {}",
                                    want[d]
                                );
                            }
                        }
                    }
                }
                // Cache rows outside the step are untouched (zero).
                for p in (0..max_ctx).filter(|&p| p < pos0 || p >= pos0 + n) {
                    let (kr, vr) = (&kg[p * kv_dim..][..kv_dim], &vg[p * kv_dim..][..kv_dim]);
                    assert!(
                        kr.iter().chain(vr).all(|&v| v == 0.0),
                        "{name} {ty} n={n}: cache row {p} written"
                    );
                }
            }
        }
    }
}

#[test]
fn the_choice_is_measured_or_forced_per_type() {
    let vulkan = |int8_matvec| GpuOptions {
        backends: Some(wgpu::Backends::VULKAN),
        int8_matmul: true,
        tuning: GpuTuning {
            int8_matvec,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut rng = Rng::new(5);
    let (rows, cols) = (256, 512);
    let wv = rng.vec(rows * cols, 1.0);
    let upload = |gpu: &Gpu, ty| {
        let bytes = quantize(ty, &wv).unwrap();
        QMatrix::upload(gpu, ty, rows, cols, &bytes, "w").unwrap()
    };

    // Measured: the f32 path until timed, then the faster one per shape.
    let (gpu, k) = open("measured", &vulkan(None));
    let m = upload(&gpu, GgmlType::Q4_1);
    assert_eq!(k.x8_use(GgmlType::Q4_1), X8Use::default());
    let t = k.choose_x8(&m).unwrap().expect("Q4_1 is timed");
    assert_eq!(t.ty, GgmlType::Q4_1);
    for times in [t.decode, t.prefill] {
        assert!(times.f32_s > 0.0 && times.x8_s > 0.0);
        assert!(times.f32_s.is_finite() && times.x8_s.is_finite());
    }
    let choice = k.x8_use(GgmlType::Q4_1);
    assert_eq!(choice.decode, t.decode.x8_wins());
    assert_eq!(choice.prefill, t.prefill.x8_wins());
    eprintln!("Q4_1 {rows}x{cols} on lavapipe: {t:?}");
    // Another device on the same adapter (a second model load) reuses the
    // timing of the same shape instead of measuring again.
    let (gpu2, k2) = open("measured again", &vulkan(None));
    let again = k2
        .choose_x8(&upload(&gpu2, GgmlType::Q4_1))
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.decode.x8_s, again.prefill.x8_s),
        (t.decode.x8_s, t.prefill.x8_s)
    );
    assert_eq!(k2.x8_use(GgmlType::Q4_1), choice);
    // Types without the 8-bit path are neither timed nor used with it.
    let fq = upload(&gpu, GgmlType::F16);
    assert!(!has_x8(GgmlType::F16));
    assert!(k.choose_x8(&fq).unwrap().is_none());
    assert_eq!(k.x8_use(GgmlType::F16), X8Use::default());

    // Forced: nothing is timed.
    for forced in [false, true] {
        let (gpu, k) = open("forced", &vulkan(Some(forced)));
        let m = upload(&gpu, GgmlType::Q8_0);
        assert!(k.choose_x8(&m).unwrap().is_none());
        let want = X8Use {
            decode: forced,
            prefill: forced,
        };
        assert_eq!(k.x8_use(GgmlType::Q8_0), want);
        assert_eq!(k.x8_use(GgmlType::F16), X8Use::default());
    }
}
