//! Every GPU kernel against a CPU reference computed here from the same
//! random data, on each adapter the test machine has: Vulkan (lavapipe on CI,
//! which has f16/subgroups) and GL (llvmpipe on CI, the plain fallback).

use rewind::gpu::{
    Gpu, GpuError, GpuOptions, GpuTuning, Kernels, KvType, MatIn, MatOut, Op, QMatrix, RopeKv,
    Step, StepParams, Tensor, rope_inv_freq,
};
use rewind::model::reference::round_kv_q8;
use rewind::quant::{GgmlType, dequantize_to_vec, quantize};
use std::sync::Arc;

/// xorshift64*: deterministic test data without extra dependencies.
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
    fn f32(&mut self, scale: f32) -> f32 {
        (self.next_u32() as f32 / 4_294_967_296.0 * 2.0 - 1.0) * scale
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32(scale)).collect()
    }
}

/// The adapters every test runs on.
fn configs() -> Vec<(&'static str, GpuOptions)> {
    vec![
        (
            "vulkan",
            GpuOptions {
                backends: Some(wgpu::Backends::VULKAN),
                ..Default::default()
            },
        ),
        (
            "gl",
            GpuOptions {
                backends: Some(wgpu::Backends::GL),
                ..Default::default()
            },
        ),
    ]
}

fn open(name: &str, opts: &GpuOptions) -> (Arc<Gpu>, Kernels) {
    let gpu = Gpu::new(opts).unwrap_or_else(|e| panic!("{name}: no device: {e}"));
    eprintln!(
        "{name}: {} (f16 {}, subgroups {})",
        gpu.describe(),
        gpu.f16,
        gpu.subgroups
    );
    let k = Kernels::new(&gpu).unwrap();
    (gpu, k)
}

fn each_gpu(mut f: impl FnMut(&str, &Arc<Gpu>, &Kernels)) {
    for (name, opts) in configs() {
        let (gpu, k) = open(name, &opts);
        f(name, &gpu, &k);
    }
}

/// Runs `ops` for a step, recording with kv_len 0 (attention never splits).
fn run(gpu: &Gpu, step: &Step, ops: &[&Op], n_tokens: u32, pos0: u32) {
    step.write(gpu, StepParams::new(n_tokens, pos0));
    gpu.run(ops, n_tokens, 0);
    gpu.wait().unwrap();
}

#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f64], tol: impl Fn(usize) -> f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let t = tol(i);
        assert!(
            (g as f64 - w).abs() <= t,
            "{what}: element {i}: got {g}, want {w} (tolerance {t})"
        );
    }
}

const TYPES: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::BF16,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// A random matrix of `ty`: (ggml bytes, the dequantized values).
fn random_matrix(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
    let w = rng.vec(rows * cols, 1.0);
    let bytes = quantize(ty, &w).unwrap();
    let deq = dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
    (bytes, deq)
}

/// Checks y (capacity `cap` token rows) after a matmul of `n` tokens:
/// rows t < n hold (y0 +) W x[t], rows past n are unchanged.
#[allow(clippy::too_many_arguments)]
fn check_matmul(
    what: &str,
    got: &[f32],
    w: &[f32],
    x: &[f32],
    y0: &[f32],
    rows: usize,
    cols: usize,
    n: usize,
    accumulate: bool,
) {
    let mut want = Vec::new();
    let mut tol = Vec::new();
    for t in 0..got.len() / rows {
        for r in 0..rows {
            let i = t * rows + r;
            if t >= n {
                want.push(y0[i] as f64);
                tol.push(0.0);
                continue;
            }
            let mut s = 0.0f64;
            let mut mag = 0.0f64;
            for c in 0..cols {
                let p = w[r * cols + c] as f64 * x[t * cols + c] as f64;
                s += p;
                mag += p.abs();
            }
            if accumulate {
                s += y0[i] as f64;
                mag += (y0[i] as f64).abs();
            }
            want.push(s);
            // f32 accumulation in another order than the f64 reference:
            // a few ulps of the magnitude of the terms.
            tol.push(1e-5 * mag + 1e-6);
        }
    }
    assert_close(what, got, &want, |i| tol[i]);
}

fn matmul_case(gpu: &Arc<Gpu>, k: &Kernels, what: &str, seed: u64) {
    let mut rng = Rng::new(seed);
    let step = Step::new(gpu);
    // rows not a multiple of any workgroup size; cols = several blocks
    // (K-quants: 256-element super-blocks, so they skip 96).
    for (rows, cols) in [(67, 96), (130, 256), (37, 768)] {
        for ty in TYPES.into_iter().filter(|t| cols % t.block_size() == 0) {
            let (bytes, w) = random_matrix(&mut rng, ty, rows, cols);
            let m = QMatrix::upload(gpu, ty, rows, cols, &bytes, "w").unwrap();
            // n = 1 (decode), n < 8, n > 8 (two token groups); capacity n + 2.
            for n in [1usize, 5, 11] {
                let cap = n + 2;
                let xv = rng.vec(cap * cols, 1.0);
                let y0 = rng.vec(cap * rows, 1.0);
                let x = Tensor::from_slice(gpu, &xv, "x").unwrap();
                for accumulate in [false, true] {
                    let y = Tensor::from_slice(gpu, &y0, "y").unwrap();
                    let op = k.matmul(&step, &m, &x, &y, accumulate).unwrap();
                    run(gpu, &step, &[&op], n as u32, 0);
                    let got = y.read(gpu).unwrap();
                    let ctx = format!("{what} {ty} {rows}x{cols} n={n} acc={accumulate}");
                    check_matmul(&ctx, &got, &w, &xv, &y0, rows, cols, n, accumulate);
                }
                // matmul_last: only x row n-1, into y[0..rows].
                let y = Tensor::from_slice(gpu, &y0[..rows], "logits").unwrap();
                let op = k.matmul_last(&step, &m, &x, &y).unwrap();
                run(gpu, &step, &[&op], n as u32, 0);
                let got = y.read(gpu).unwrap();
                let ctx = format!("{what} {ty} {rows}x{cols} matmul_last n={n}");
                let xl = &xv[(n - 1) * cols..n * cols];
                check_matmul(&ctx, &got, &w, xl, &y0[..rows], rows, cols, 1, false);
            }
        }
    }
}

#[test]
fn matmul_all_types() {
    each_gpu(|name, gpu, k| matmul_case(gpu, k, name, 1));
}

#[test]
fn matmul_cooperative_variant() {
    // The many-threads-per-row kernel real GPUs get, run on the test adapter.
    let opts = GpuOptions {
        backends: Some(wgpu::Backends::VULKAN),
        tuning: GpuTuning {
            thread_per_row: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let (gpu, k) = open("vulkan, cooperative", &opts);
    assert!(!gpu.thread_per_row);
    matmul_case(&gpu, &k, "cooperative", 2);
}

fn embed_check(gpu: &Arc<Gpu>, k: &Kernels, what: &str, m: &QMatrix, table: &[f32]) {
    let (rows, cols) = (m.rows, m.cols);
    let step = Step::new(gpu);
    let ids = [5u32, 0, rows as u32 - 1, 12];
    let cap = ids.len();
    let tokens = gpu.storage_buffer(4 * cap as u64, "tokens").unwrap();
    gpu.queue
        .write_buffer(&tokens, 0, bytemuck::cast_slice(&ids));
    let out = Tensor::from_slice(gpu, &vec![7.0; cap * cols], "out").unwrap();
    let op = k.embed(&step, m, &tokens, &out).unwrap();
    let n = 3;
    run(gpu, &step, &[&op], n as u32, 0);
    let got = out.read(gpu).unwrap();
    let mut want = Vec::new();
    for (t, &id) in ids.iter().enumerate() {
        for c in 0..cols {
            want.push(if t < n {
                table[id as usize * cols + c] as f64
            } else {
                7.0
            });
        }
    }
    // Dequantization is one multiply-add per element: allow an ulp or two.
    assert_close(&format!("{what} embed {}", m.ty), &got, &want, |i| {
        1e-6 * want[i].abs() + 1e-7
    });
    // An id past the table gives a zero row.
    gpu.queue
        .write_buffer(&tokens, 0, bytemuck::cast_slice(&[rows as u32 + 3]));
    run(gpu, &step, &[&op], 1, 0);
    let got = gpu.read::<f32>(&out.buffer, 0, cols).unwrap();
    assert!(got.iter().all(|&v| v == 0.0), "{what}: out-of-range id");
}

#[test]
fn embed_all_types() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(3);
        for ty in TYPES {
            let (rows, cols) = (37, if ty.block_size() > 64 { 512 } else { 64 });
            let (bytes, table) = random_matrix(&mut rng, ty, rows, cols);
            let m = QMatrix::upload(gpu, ty, rows, cols, &bytes, "table").unwrap();
            embed_check(gpu, k, name, &m, &table);
        }
    });
}

#[test]
fn split_matrices_give_the_same_results() {
    for (name, mut opts) in configs() {
        // A tiny binding limit splits every matrix into several parts.
        opts.tuning.max_binding_size = Some(1024);
        let (gpu, k) = open(name, &opts);
        assert_eq!(gpu.max_binding, 1024);
        let mut rng = Rng::new(4);
        let step = Step::new(&gpu);
        for ty in TYPES {
            let (rows, cols) = (100, if ty.block_size() > 64 { 256 } else { 64 });
            let (bytes, w) = random_matrix(&mut rng, ty, rows, cols);
            let m = QMatrix::upload(&gpu, ty, rows, cols, &bytes, "w").unwrap();
            assert!(m.n_parts() >= 3, "{ty}: {} parts", m.n_parts());
            let parts = m.part_rows();
            assert_eq!(parts.iter().map(|p| p.1).sum::<usize>(), rows);
            // Two tokens, or one where a row of x would exceed the limit.
            let n = if cols * 4 * 2 > 1024 { 1 } else { 2 };
            let xv = rng.vec(n * cols, 1.0);
            let y0 = rng.vec(n * rows, 1.0);
            let x = Tensor::from_slice(&gpu, &xv, "x").unwrap();
            let y = Tensor::from_slice(&gpu, &y0, "y").unwrap();
            let op = k.matmul(&step, &m, &x, &y, true).unwrap();
            assert_eq!(op.n_dispatches(), m.n_parts());
            run(&gpu, &step, &[&op], n as u32, 0);
            let got = y.read(&gpu).unwrap();
            check_matmul(
                &format!("{name} split {ty}"),
                &got,
                &w,
                &xv,
                &y0,
                rows,
                cols,
                n,
                true,
            );
            let y = Tensor::from_slice(&gpu, &y0[..rows], "y").unwrap();
            let op = k.matmul_last(&step, &m, &x, &y).unwrap();
            run(&gpu, &step, &[&op], n as u32, 0);
            let got = y.read(&gpu).unwrap();
            let xl = &xv[(n - 1) * cols..];
            check_matmul(
                &format!("{name} split last {ty}"),
                &got,
                &w,
                xl,
                &y0[..rows],
                rows,
                cols,
                1,
                false,
            );
            // (Skipped for 256 columns, whose 4-row output exceeds the
            // limit; tests/kquants.rs covers split K-quant tables.)
            if cols == 64 {
                embed_check(&gpu, &k, &format!("{name} split"), &m, &w);
            }
        }
        // A row that doesn't fit one binding is an error, not a panic.
        let bytes = quantize(GgmlType::F32, &vec![0.0; 512]).unwrap();
        assert!(matches!(
            QMatrix::upload(&gpu, GgmlType::F32, 1, 512, &bytes, "big"),
            Err(GpuError::TooLarge { .. })
        ));
        assert!(matches!(
            Tensor::new(&gpu, 1000, "big"),
            Err(GpuError::TooLarge { .. })
        ));
    }
}

#[test]
fn rmsnorm() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(5);
        let step = Step::new(gpu);
        let (dim, cap, n, eps) = (200, 4, 3, 1e-5f32);
        let xv = rng.vec(cap * dim, 2.0);
        let wv = rng.vec(dim, 1.0);
        let x = Tensor::from_slice(gpu, &xv, "x").unwrap();
        let w = Tensor::from_slice(gpu, &wv, "w").unwrap();
        let out = Tensor::new(gpu, cap * dim, "out").unwrap();
        let op = k.rmsnorm(&step, &x, &w, &out, dim, eps).unwrap();
        run(gpu, &step, &[&op], n as u32, 0);
        let got = out.read(gpu).unwrap();
        let mut want = vec![0.0f64; cap * dim];
        for t in 0..n {
            let row = &xv[t * dim..(t + 1) * dim];
            let ms = row.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / dim as f64;
            let inv = 1.0 / (ms + eps as f64).sqrt();
            for i in 0..dim {
                want[t * dim + i] = row[i] as f64 * inv * wv[i] as f64;
            }
        }
        // f32 sum of squares and sqrt: relative error ~1e-6.
        assert_close(&format!("{name} rmsnorm"), &got, &want, |i| {
            1e-5 * want[i].abs() + 1e-6
        });
    });
}

#[test]
fn rope() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(6);
        let step = Step::new(gpu);
        let (n_heads, head_dim, cap, n, base) = (3, 16, 5, 4, 10000.0f32);
        for rope_dim in [16, 8] {
            for pos0 in [0u32, 7, 2900] {
                let xv = rng.vec(cap * n_heads * head_dim, 1.0);
                let x = Tensor::from_slice(gpu, &xv, "x").unwrap();
                let op = k
                    .rope(&step, &x, n_heads, head_dim, rope_dim, base)
                    .unwrap();
                run(gpu, &step, &[&op], n as u32, pos0);
                let got = x.read(gpu).unwrap();
                let mut want: Vec<f64> = xv.iter().map(|&v| v as f64).collect();
                for t in 0..n {
                    let pos = (pos0 as usize + t) as f64;
                    for h in 0..n_heads {
                        for i in 0..rope_dim / 2 {
                            let theta = pos * (base as f64).powf(-2.0 * i as f64 / rope_dim as f64);
                            let o = (t * n_heads + h) * head_dim + 2 * i;
                            let (x0, x1) = (xv[o] as f64, xv[o + 1] as f64);
                            want[o] = x0 * theta.cos() - x1 * theta.sin();
                            want[o + 1] = x0 * theta.sin() + x1 * theta.cos();
                        }
                    }
                }
                // The angle pos * inv_freq is an f32 product (as in ggml):
                // its error grows with the position (~1e-7 relative).
                let tol = 2e-6 + 3e-7 * (pos0 as f64 + n as f64);
                assert_close(
                    &format!("{name} rope dim {rope_dim} pos0 {pos0}"),
                    &got,
                    &want,
                    |_| tol,
                );
            }
        }
    });
}

/// Reference causal GQA attention for query rows at positions pos0.. over
/// cache rows (`kc`, `vc`: [ctx][kv_dim]).
#[allow(clippy::too_many_arguments)]
fn attention_ref(
    q: &[f32],
    kc: &[f32],
    vc: &[f32],
    n: usize,
    pos0: usize,
    n_heads: usize,
    n_kv: usize,
    hd: usize,
) -> Vec<f64> {
    let kv_dim = n_kv * hd;
    let mut out = vec![0.0; n * n_heads * hd];
    for t in 0..n {
        for h in 0..n_heads {
            let kvh = h / (n_heads / n_kv);
            let qo = (t * n_heads + h) * hd;
            let len = pos0 + t + 1;
            let s: Vec<f64> = (0..len)
                .map(|j| {
                    (0..hd)
                        .map(|d| q[qo + d] as f64 * kc[j * kv_dim + kvh * hd + d] as f64)
                        .sum::<f64>()
                        / (hd as f64).sqrt()
                })
                .collect();
            let m = s.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let sum: f64 = e.iter().sum();
            for d in 0..hd {
                out[qo + d] = (0..len)
                    .map(|j| e[j] * vc[j * kv_dim + kvh * hd + d] as f64)
                    .sum::<f64>()
                    / sum;
            }
        }
    }
    out
}

#[test]
fn kv_store_and_attention() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(7);
        let step = Step::new(gpu);
        let (n_heads, n_kv) = (4, 2);
        for hd in [32, 80] {
            let (cap, max_ctx) = (6, 40);
            let kv_dim = n_kv * hd;
            let q = Tensor::new(gpu, cap * n_heads * hd, "q").unwrap();
            let kt = Tensor::new(gpu, cap * kv_dim, "k").unwrap();
            let vt = Tensor::new(gpu, cap * kv_dim, "v").unwrap();
            let out = Tensor::new(gpu, cap * n_heads * hd, "out").unwrap();
            let kc = gpu
                .storage_buffer((max_ctx * kv_dim * 4) as u64, "kc")
                .unwrap();
            let vc = gpu
                .storage_buffer((max_ctx * kv_dim * 4) as u64, "vc")
                .unwrap();
            let store = k.kv_store(&step, &kt, &vt, &kc, &vc, kv_dim).unwrap();
            let attn = k
                .attention_f32(&step, &q, &kc, &vc, &out, n_heads, n_kv, hd)
                .unwrap();
            let mut k_all = vec![0.0f32; max_ctx * kv_dim];
            let mut v_all = vec![0.0f32; max_ctx * kv_dim];
            // A prefill of 5 tokens, then 1 (decode), then 3 more.
            let mut pos0 = 0;
            for n in [5usize, 1, 3] {
                // Large q values: the softmax must subtract its maximum.
                let qv = rng.vec(n * n_heads * hd, 3.0);
                let kv = rng.vec(n * kv_dim, 1.0);
                let vv = rng.vec(n * kv_dim, 1.0);
                q.write(gpu, 0, &qv).unwrap();
                kt.write(gpu, 0, &kv).unwrap();
                vt.write(gpu, 0, &vv).unwrap();
                k_all[pos0 * kv_dim..(pos0 + n) * kv_dim].copy_from_slice(&kv);
                v_all[pos0 * kv_dim..(pos0 + n) * kv_dim].copy_from_slice(&vv);
                run(gpu, &step, &[&store, &attn], n as u32, pos0 as u32);
                assert_eq!(
                    gpu.read::<f32>(&kc, 0, k_all.len()).unwrap(),
                    k_all,
                    "{name} k cache"
                );
                assert_eq!(
                    gpu.read::<f32>(&vc, 0, v_all.len()).unwrap(),
                    v_all,
                    "{name} v cache"
                );
                let got = gpu.read::<f32>(&out.buffer, 0, n * n_heads * hd).unwrap();
                let want = attention_ref(&qv, &k_all, &v_all, n, pos0, n_heads, n_kv, hd);
                // Softmax-weighted means of values in [-1, 1], summed in f32.
                assert_close(
                    &format!("{name} attention hd {hd} pos0 {pos0} n {n}"),
                    &got,
                    &want,
                    |_| 1e-5,
                );
                pos0 += n;
            }
        }
    });
}

#[test]
fn attention_long_context() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(8);
        let step = Step::new(gpu);
        let (n_heads, n_kv, hd, ctx, n) = (4, 2, 64, 3000, 2);
        let kv_dim = n_kv * hd;
        let pos0 = ctx - n;
        let k_all = rng.vec(ctx * kv_dim, 1.0);
        let v_all = rng.vec(ctx * kv_dim, 1.0);
        let kc = gpu.storage_buffer((ctx * kv_dim * 4) as u64, "kc").unwrap();
        let vc = gpu.storage_buffer((ctx * kv_dim * 4) as u64, "vc").unwrap();
        // The cache holds earlier positions; this step stores the last n.
        gpu.queue
            .write_buffer(&kc, 0, bytemuck::cast_slice(&k_all[..pos0 * kv_dim]));
        gpu.queue
            .write_buffer(&vc, 0, bytemuck::cast_slice(&v_all[..pos0 * kv_dim]));
        let kt = Tensor::from_slice(gpu, &k_all[pos0 * kv_dim..], "k").unwrap();
        let vt = Tensor::from_slice(gpu, &v_all[pos0 * kv_dim..], "v").unwrap();
        let qv = rng.vec(n * n_heads * hd, 2.0);
        let q = Tensor::from_slice(gpu, &qv, "q").unwrap();
        let out = Tensor::new(gpu, n * n_heads * hd, "out").unwrap();
        let store = k.kv_store(&step, &kt, &vt, &kc, &vc, kv_dim).unwrap();
        let attn = k
            .attention_f32(&step, &q, &kc, &vc, &out, n_heads, n_kv, hd)
            .unwrap();
        run(gpu, &step, &[&store, &attn], n as u32, pos0 as u32);
        let got = out.read(gpu).unwrap();
        let want = attention_ref(&qv, &k_all, &v_all, n, pos0, n_heads, n_kv, hd);
        // Means over 3000 values: f32 running sums lose a few more ulps.
        assert_close(&format!("{name} attention ctx {ctx}"), &got, &want, |_| {
            2e-5
        });
    });
}

#[test]
fn silu_mul_and_add() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(9);
        let step = Step::new(gpu);
        let (n, cap, rows) = (300, 4, 3);
        let gv = rng.vec(cap * n, 6.0);
        let uv = rng.vec(cap * n, 2.0);
        let ov = rng.vec(cap * n, 1.0);
        let g = Tensor::from_slice(gpu, &gv, "gate").unwrap();
        let u = Tensor::from_slice(gpu, &uv, "up").unwrap();
        let o = Tensor::from_slice(gpu, &ov, "out").unwrap();
        let op = k.silu_mul(&step, &g, &u, &o, n).unwrap();
        run(gpu, &step, &[&op], rows as u32, 0);
        let got = o.read(gpu).unwrap();
        let want: Vec<f64> = (0..cap * n)
            .map(|i| {
                if i < rows * n {
                    let g = gv[i] as f64;
                    g / (1.0 + (-g).exp()) * uv[i] as f64
                } else {
                    ov[i] as f64
                }
            })
            .collect();
        // exp() in f32 on the GPU: a few ulps relative.
        assert_close(&format!("{name} silu_mul"), &got, &want, |i| {
            1e-5 * want[i].abs() + 1e-6
        });

        let op = k.add(&step, &o, &u, n).unwrap();
        let before = got;
        run(gpu, &step, &[&op], rows as u32, 0);
        let got = o.read(gpu).unwrap();
        let want: Vec<f64> = (0..cap * n)
            .map(|i| {
                let add = if i < rows * n { uv[i] } else { 0.0 };
                (before[i] + add) as f64
            })
            .collect();
        // One f32 addition, as computed here in f32: exact.
        assert_close(&format!("{name} add"), &got, &want, |_| 0.0);
    });
}

#[test]
fn argmax() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(10);
        let step = Step::new(gpu);
        let n = 1000; // not a multiple of the workgroup size
        let out = gpu.storage_buffer(4, "argmax").unwrap();
        let mut cases: Vec<(Vec<f32>, u32)> = Vec::new();
        // Ties: the lowest index wins.
        let mut v = rng.vec(n + 24, 1.0);
        v[700] = 5.0;
        v[300] = 5.0;
        cases.push((v, 300));
        // All equal.
        cases.push((vec![0.5; n + 24], 0));
        // The maximum at the last index; a larger value past n is ignored.
        let mut v = rng.vec(n + 24, 1.0);
        v[n - 1] = 3.0;
        v[n + 3] = 9.0;
        cases.push((v, n as u32 - 1));
        // Negative values only.
        let mut v: Vec<f32> = rng.vec(n + 24, 1.0).iter().map(|x| x.abs() - 2.0).collect();
        v[17] = -0.5;
        cases.push((v, 17));
        for (i, (v, want)) in cases.iter().enumerate() {
            let logits = Tensor::from_slice(gpu, v, "logits").unwrap();
            let op = k.argmax(&step, &logits, n, &out).unwrap();
            run(gpu, &step, &[&op], 1, 0);
            let got = gpu.read::<u32>(&out, 0, 1).unwrap()[0];
            assert_eq!(got, *want, "{name} argmax case {i}");
        }
    });
}

#[test]
fn bad_input_is_an_error() {
    let (gpu, k) = open("vulkan", &configs()[0].1);
    let step = Step::new(&gpu);
    let bytes = [0u8; 144];
    assert!(matches!(
        QMatrix::upload(&gpu, GgmlType::IQ4_XS, 1, 256, &bytes[..136], "iq4xs"),
        Err(GpuError::Unsupported { .. })
    ));
    assert!(matches!(
        QMatrix::upload(&gpu, GgmlType::Q8_0, 2, 32, &bytes[..34], "short"),
        Err(GpuError::Invalid(_))
    ));
    // F16 kernels need a multiple of 8 columns.
    let f16 = quantize(GgmlType::F16, &[0.0; 12]).unwrap();
    let m = QMatrix::upload(&gpu, GgmlType::F16, 2, 6, &f16, "odd").unwrap();
    let x = Tensor::new(&gpu, 8, "x").unwrap();
    let y = Tensor::new(&gpu, 8, "y").unwrap();
    assert!(matches!(
        k.matmul(&step, &m, &x, &y, false),
        Err(GpuError::Unsupported { .. })
    ));
    // Aliased buffers.
    assert!(matches!(k.add(&step, &x, &x, 8), Err(GpuError::Invalid(_))));
    assert!(matches!(
        k.rmsnorm(&step, &x, &y, &x, 8, 1e-5),
        Err(GpuError::Invalid(_))
    ));
    // Reading past a buffer.
    assert!(matches!(
        gpu.read::<f32>(&x.buffer, 4, 8),
        Err(GpuError::Invalid(_))
    ));
}

#[test]
fn large_dispatches_are_folded() {
    // 2 rows of 8.5M elements: 66k+ workgroups of 256, past the 65535
    // per-dimension limit, so the dispatch is spread over two dimensions.
    let (gpu, k) = open("vulkan", &configs()[0].1);
    let step = Step::new(&gpu);
    let n = 8_500_000;
    let rows = 2;
    let av: Vec<f32> = (0..rows * n).map(|i| (i % 1000) as f32).collect();
    let xv: Vec<f32> = (0..rows * n).map(|i| (i % 7) as f32).collect();
    let acc = Tensor::from_slice(&gpu, &av, "acc").unwrap();
    let x = Tensor::from_slice(&gpu, &xv, "x").unwrap();
    let op = k.add(&step, &acc, &x, n).unwrap();
    run(&gpu, &step, &[&op], rows as u32, 0);
    let got = acc.read(&gpu).unwrap();
    for (i, g) in got.iter().enumerate() {
        // Small integers: exact in f32.
        assert_eq!(*g, av[i] + xv[i], "element {i}");
    }
}

/// `x[t] / sqrt(mean(x[t]^2) + eps) * nw` for every row of `cols`, in f64
/// then rounded to f32 (the fused matmuls normalize in f32 on the fly).
fn norm_rows(x: &[f32], nw: &[f32], cols: usize, eps: f32) -> Vec<f32> {
    x.chunks(cols)
        .flat_map(|row| {
            let ms = row.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / cols as f64;
            let inv = 1.0 / (ms + eps as f64).sqrt();
            row.iter()
                .zip(nw)
                .map(move |(&v, &w)| (v as f64 * inv * w as f64) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `W x[t]` in f64 (rows of `w`, `[rows][cols]`), with the magnitude of the
/// terms for a tolerance.
fn matvec_ref(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<(f64, f64)> {
    (0..rows)
        .map(|r| {
            (0..cols).fold((0.0, 0.0), |(s, m), c| {
                let p = w[r * cols + c] as f64 * x[c] as f64;
                (s + p, m + p.abs())
            })
        })
        .collect()
}

#[test]
fn fused_matmuls_norm_swiglu_last() {
    each_gpu(|name, gpu, k| {
        let types = [
            GgmlType::F16,
            GgmlType::Q8_0,
            GgmlType::Q4_1,
            GgmlType::Q4_K,
        ];
        fused_norm_swiglu_last(name, gpu, k, &types);
    });
}

#[test]
fn fused_matmuls_cooperative_variant() {
    // The many-threads-per-row kernels of real GPUs (subgroup reduction on
    // Vulkan, workgroup-memory reduction on GL), with every epilogue.
    for (name, opts) in configs() {
        let opts = GpuOptions {
            tuning: GpuTuning {
                thread_per_row: Some(false),
                ..Default::default()
            },
            ..opts
        };
        let (gpu, k) = open(name, &opts);
        // On GL (llvmpipe's GLSL path compiles the quantized batched
        // variants for minutes) with F16 weights: the epilogues and the
        // workgroup-memory reduction are what this checks; every weight type
        // runs on GL in the tests above.
        let ty = if gpu.subgroups {
            GgmlType::Q4_1
        } else {
            GgmlType::F16
        };
        fused_norm_swiglu_last(name, &gpu, &k, &[ty]);
        fused_qkv_rope_kv(name, &gpu, &k, &[(ty, gpu.subgroups)]);
    }
}

fn fused_norm_swiglu_last(name: &str, gpu: &Arc<Gpu>, k: &Kernels, types: &[GgmlType]) {
    {
        let mut rng = Rng::new(11);
        let step = Step::new(gpu);
        let (cols, rows, eps) = (256, 70, 1e-5f32);
        for &ty in types {
            let (bytes, w) = random_matrix(&mut rng, ty, rows, cols);
            let m = QMatrix::upload(gpu, ty, rows, cols, &bytes, "w").unwrap();
            let nwv: Vec<f32> = rng.vec(cols, 0.5).iter().map(|v| 1.0 + v).collect();
            let nw = Tensor::from_slice(gpu, &nwv, "nw").unwrap();
            for n in [1usize, 5, 11] {
                let cap = n + 2;
                let xv = rng.vec(cap * cols, 2.0);
                let x = Tensor::from_slice(gpu, &xv, "x").unwrap();
                let xn = norm_rows(&xv, &nwv, cols, eps);
                let norm = Some((&nw, eps));
                // RMSNorm + matmul, all rows and last only.
                let y0 = rng.vec(cap * rows, 1.0);
                let y = Tensor::from_slice(gpu, &y0, "y").unwrap();
                let out = MatOut::Store {
                    y: &y,
                    accumulate: false,
                };
                let op = k
                    .matmul_fused(&step, &[&m], MatIn { x: &x, norm }, out, false)
                    .unwrap();
                run(gpu, &step, &[&op], n as u32, 0);
                let ctx = format!("{name} {ty} norm+matmul n={n}");
                check_matmul(
                    &ctx,
                    &y.read(gpu).unwrap(),
                    &w,
                    &xn,
                    &y0,
                    rows,
                    cols,
                    n,
                    false,
                );
                let yl = Tensor::from_slice(gpu, &y0[..rows], "logits").unwrap();
                let out = MatOut::Store {
                    y: &yl,
                    accumulate: false,
                };
                let op = k
                    .matmul_fused(&step, &[&m], MatIn { x: &x, norm }, out, true)
                    .unwrap();
                run(gpu, &step, &[&op], n as u32, 0);
                let ctx = format!("{name} {ty} norm+matmul_last n={n}");
                let xl = &xn[(n - 1) * cols..n * cols];
                let got = yl.read(gpu).unwrap();
                check_matmul(&ctx, &got, &w, xl, &y0[..rows], rows, cols, 1, false);

                // Gate/up interleaved + SwiGLU.
                let ff = rows / 2;
                let (gb, gw) = random_matrix(&mut rng, ty, ff, cols);
                let (ub, uw) = random_matrix(&mut rng, ty, ff, cols);
                let gu = QMatrix::upload_interleaved(gpu, ty, cols, &gb, &ub, "gu").unwrap();
                assert_eq!(gu.rows, rows);
                let h0 = rng.vec(cap * ff, 1.0);
                let h = Tensor::from_slice(gpu, &h0, "h").unwrap();
                let op = k
                    .matmul_fused(
                        &step,
                        &[&gu],
                        MatIn { x: &x, norm },
                        MatOut::SwiGlu { h: &h },
                        false,
                    )
                    .unwrap();
                run(gpu, &step, &[&op], n as u32, 0);
                let got = h.read(gpu).unwrap();
                for t in 0..cap {
                    for i in 0..ff {
                        let j = t * ff + i;
                        if t >= n {
                            assert_eq!(got[j], h0[j], "{name} {ty} swiglu: row {t} changed");
                            continue;
                        }
                        let xr = &xn[t * cols..(t + 1) * cols];
                        let (g, gm) = matvec_ref(&gw[i * cols..], xr, 1, cols)[0];
                        let (u, um) = matvec_ref(&uw[i * cols..], xr, 1, cols)[0];
                        let sg = g / (1.0 + (-g).exp());
                        let want = sg * u;
                        // Errors of g and u (f32 sums) through silu(g) * u.
                        let tol = 1e-5 * (gm * u.abs().max(1.0) + um * sg.abs().max(1.0)) + 1e-6;
                        assert!(
                            (got[j] as f64 - want).abs() <= tol,
                            "{name} {ty} swiglu n={n} [{t}][{i}]: got {}, want {want}",
                            got[j]
                        );
                    }
                }
            }
        }
    }
}

/// RoPE of one head in place (ggml's normal mode), in f64.
fn rope_ref(head: &mut [f64], pos: usize, inv_freq: &[f32]) {
    for (i, &f) in inv_freq.iter().enumerate() {
        let a = pos as f64 * f as f64;
        let (x0, x1) = (head[2 * i], head[2 * i + 1]);
        head[2 * i] = x0 * a.cos() - x1 * a.sin();
        head[2 * i + 1] = x0 * a.sin() + x1 * a.cos();
    }
}

#[test]
fn fused_qkv_rope_kv_cache() {
    each_gpu(|name, gpu, k| {
        let cases = [
            (GgmlType::Q4_1, true),
            (GgmlType::Q8_0, true),
            (GgmlType::Q4_K, false),
        ];
        fused_qkv_rope_kv(name, gpu, k, &cases);
    });
}

/// `cases`: (type, stacked): Q/K/V stacked in one matrix, or three of
/// which V has another type.
fn fused_qkv_rope_kv(name: &str, gpu: &Arc<Gpu>, k: &Kernels, cases: &[(GgmlType, bool)]) {
    {
        let mut rng = Rng::new(12);
        let step = Step::new(gpu);
        let (cols, eps) = (256, 1e-5f32);
        let (n_heads, n_kv, hd) = (4, 2, 16);
        let (q_dim, kv_dim) = (n_heads * hd, n_kv * hd);
        // A partial rotation (rope_dim 12 of 16).
        let inv_freq = rope_inv_freq(12, 10_000.0);
        let max_ctx = 24;
        for &(ty, stacked) in cases {
            let (qb, qw) = random_matrix(&mut rng, ty, q_dim, cols);
            let (kb, kw) = random_matrix(&mut rng, ty, kv_dim, cols);
            // Separate: V of another type, so three dispatches.
            let vty = if stacked { ty } else { GgmlType::Q8_0 };
            let (vb, vw) = random_matrix(&mut rng, vty, kv_dim, cols);
            let mats: Vec<QMatrix> = if stacked {
                vec![QMatrix::upload_concat(gpu, ty, cols, &[&qb, &kb, &vb], "qkv").unwrap()]
            } else {
                vec![
                    QMatrix::upload(gpu, ty, q_dim, cols, &qb, "q").unwrap(),
                    QMatrix::upload(gpu, ty, kv_dim, cols, &kb, "k").unwrap(),
                    QMatrix::upload(gpu, vty, kv_dim, cols, &vb, "v").unwrap(),
                ]
            };
            let refs: Vec<&QMatrix> = mats.iter().collect();
            let nwv: Vec<f32> = rng.vec(cols, 0.5).iter().map(|v| 1.0 + v).collect();
            let nw = Tensor::from_slice(gpu, &nwv, "nw").unwrap();
            for kv_f16 in [false, true] {
                let elem = if kv_f16 { 2 } else { 4 };
                for (n, pos0) in [(1usize, 0usize), (5, 3), (11, 7)] {
                    let cap = n + 1;
                    let xv = rng.vec(cap * cols, 2.0);
                    let x = Tensor::from_slice(gpu, &xv, "x").unwrap();
                    let xn = norm_rows(&xv, &nwv, cols, eps);
                    let q = Tensor::new(gpu, cap * q_dim, "q").unwrap();
                    let bytes = (max_ctx * kv_dim * elem) as u64;
                    let kc = gpu.storage_buffer(bytes, "kc").unwrap();
                    let vc = gpu.storage_buffer(bytes, "vc").unwrap();
                    let out = MatOut::RopeKv(RopeKv {
                        q: &q,
                        k_cache: &kc,
                        v_cache: &vc,
                        kv: if kv_f16 { KvType::F16 } else { KvType::F32 },
                        at_token: false,
                        n_heads,
                        n_kv_heads: n_kv,
                        head_dim: hd,
                        inv_freq: &inv_freq,
                    });
                    let norm = Some((&nw, eps));
                    let op = k
                        .matmul_fused(&step, &refs, MatIn { x: &x, norm }, out, false)
                        .unwrap();
                    run(gpu, &step, &[&op], n as u32, pos0 as u32);
                    let qg = q.read(gpu).unwrap();
                    let read_cache = |b: &wgpu::Buffer| -> Vec<f32> {
                        let w = gpu.read::<u32>(b, 0, (bytes / 4) as usize).unwrap();
                        if kv_f16 {
                            w.iter()
                                .flat_map(|&u| {
                                    [
                                        half::f16::from_bits(u as u16).to_f32(),
                                        half::f16::from_bits((u >> 16) as u16).to_f32(),
                                    ]
                                })
                                .collect()
                        } else {
                            w.iter().map(|&u| f32::from_bits(u)).collect()
                        }
                    };
                    let (kg, vg) = (read_cache(&kc), read_cache(&vc));
                    let what = format!("{name} {ty} stacked={stacked} f16={kv_f16} n={n}");
                    // f16 storage: a relative rounding of 2^-11 on top.
                    let rel = if kv_f16 { 5e-4 } else { 0.0 };
                    for t in 0..n {
                        let xr = &xn[t * cols..(t + 1) * cols];
                        let pos = pos0 + t;
                        let check = |got: f32, (want, mag): (f64, f64), rel: f64, what: String| {
                            let tol = 2e-5 * mag + rel * want.abs() + 1e-6;
                            assert!(
                                (got as f64 - want).abs() <= tol,
                                "{what}: got {got}, want {want}"
                            );
                        };
                        for (heads, w, dst, base, r) in [
                            (n_heads, &qw, &qg, t * q_dim, 0.0),
                            (n_kv, &kw, &kg, pos * kv_dim, rel),
                        ] {
                            for h in 0..heads {
                                let rows = matvec_ref(&w[h * hd * cols..], xr, hd, cols);
                                let mut v: Vec<f64> = rows.iter().map(|p| p.0).collect();
                                rope_ref(&mut v, pos, &inv_freq);
                                for d in 0..hd {
                                    check(
                                        dst[base + h * hd + d],
                                        (v[d], rows[d].1 + rows[d ^ 1].1),
                                        r,
                                        format!("{what} t={t} head {h} dim {d}"),
                                    );
                                }
                            }
                        }
                        let rows = matvec_ref(&vw, xr, kv_dim, cols);
                        for (d, &p) in rows.iter().enumerate() {
                            check(vg[pos * kv_dim + d], p, rel, format!("{what} v t={t} {d}"));
                        }
                    }
                    // Cache rows outside this step are untouched (zero).
                    for p in (0..max_ctx).filter(|&p| p < pos0 || p >= pos0 + n) {
                        let row = &kg[p * kv_dim..(p + 1) * kv_dim];
                        assert!(row.iter().all(|&v| v == 0.0), "{what}: k row {p} written");
                    }
                }
            }
        }
    }
}

/// Runs `ops` for a step, recording with the cache length (attention splits).
fn run_ctx(gpu: &Gpu, step: &Step, ops: &[&Op], n_tokens: u32, pos0: u32) {
    step.write(gpu, StepParams::new(n_tokens, pos0));
    gpu.run(ops, n_tokens, pos0 + n_tokens);
    gpu.wait().unwrap();
}

/// Rows of `kv_dim` values as an 8-bit KV cache lays them out
/// ([`KvType::Q8_0`]): packed int8, then one f32 scale per block of 32.
fn pack_q8_rows(x: &[f32], kv_dim: usize) -> Vec<u32> {
    let mut out = Vec::new();
    for row in x.chunks(kv_dim) {
        let mut scales = Vec::new();
        for b in row.chunks(32) {
            let d = b.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            for w in b.chunks(4) {
                let q = w.iter().enumerate().fold(0u32, |acc, (j, v)| {
                    let q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8;
                    acc | (q as u8 as u32) << (8 * j)
                });
                out.push(q);
            }
            scales.push(d.to_bits());
        }
        out.extend(scales);
    }
    out
}

#[test]
fn kv_store_q8_quantizes_rows_at_their_positions() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(29);
        let step = Step::new(gpu);
        let (kv_dim, max_ctx) = (96, 20);
        let row_words = KvType::Q8_0.row_bytes(kv_dim) as usize / 4;
        let bytes = (max_ctx * row_words * 4) as u64;
        for (n, pos0) in [(1usize, 0usize), (7, 5), (6, 16)] {
            let mut kv = rng.vec(2 * n * kv_dim, 3.0);
            // A block of zeros (scale 0) in the first row of keys.
            kv[32..64].fill(0.0);
            let (kv_k, kv_v) = kv.split_at(n * kv_dim);
            let kt = Tensor::from_slice(gpu, kv_k, "k").unwrap();
            let vt = Tensor::from_slice(gpu, kv_v, "v").unwrap();
            let kc = gpu.storage_buffer(bytes, "kc").unwrap();
            let vc = gpu.storage_buffer(bytes, "vc").unwrap();
            let op = k.kv_store_q8(&step, &kt, &vt, &kc, &vc, kv_dim).unwrap();
            run(gpu, &step, &[&op], n as u32, pos0 as u32);
            for (src, cache) in [(kv_k, &kc), (kv_v, &vc)] {
                let got = gpu.read::<u32>(cache, 0, max_ctx * row_words).unwrap();
                for p in 0..max_ctx {
                    let row = &got[p * row_words..(p + 1) * row_words];
                    // Rows past the cache (pos 16 + 6 > 20) are dropped.
                    if p >= pos0 && p < pos0 + n {
                        // Each value within half a step of its block (GPU
                        // division may be a few ulps off, so no bit match).
                        let x = &src[(p - pos0) * kv_dim..][..kv_dim];
                        for (b, xb) in x.chunks(32).enumerate() {
                            let d = f32::from_bits(row[kv_dim / 4 + b]);
                            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                            assert!((d - amax / 127.0).abs() <= 1e-6 * amax, "{name}: scale");
                            for (i, &xv) in xb.iter().enumerate() {
                                let e = 32 * b + i;
                                let q = (row[e / 4] >> (8 * (e % 4))) as u8 as i8;
                                let err = (q as f32 * d - xv).abs();
                                assert!(
                                    err <= 0.5001 * d,
                                    "{name}: n {n} pos0 {pos0} row {p} elem {e}: {xv} stored as {q} x {d}"
                                );
                            }
                        }
                    } else {
                        assert!(row.iter().all(|&w| w == 0), "{name}: row {p} written");
                    }
                }
            }
        }
    });
}

#[test]
fn attention_f16_and_q8_caches_tiles_and_splits() {
    each_gpu(|name, gpu, k| {
        let mut rng = Rng::new(13);
        let step = Step::new(gpu);
        let (n_heads, n_kv, hd) = (6, 2, 64);
        let kv_dim = n_kv * hd;
        for kv in [KvType::F32, KvType::F16, KvType::Q8_0] {
            // Long context, one token (split over workgroups), then a
            // prefill of 37 tokens (several query tiles per KV head).
            for (ctx, n) in [(2600usize, 1usize), (300, 37)] {
                let pos0 = ctx - n;
                let mut k_all = rng.vec(ctx * kv_dim, 1.0);
                let mut v_all = rng.vec(ctx * kv_dim, 1.0);
                let (kc, vc) = if kv == KvType::Q8_0 {
                    let (kw, vw) = (pack_q8_rows(&k_all, kv_dim), pack_q8_rows(&v_all, kv_dim));
                    // The reference sees the rounded values.
                    for row in k_all.chunks_mut(kv_dim).chain(v_all.chunks_mut(kv_dim)) {
                        round_kv_q8(row);
                    }
                    let kc = gpu.storage_buffer((kw.len() * 4) as u64, "kc").unwrap();
                    let vc = gpu.storage_buffer((vw.len() * 4) as u64, "vc").unwrap();
                    gpu.queue.write_buffer(&kc, 0, bytemuck::cast_slice(&kw));
                    gpu.queue.write_buffer(&vc, 0, bytemuck::cast_slice(&vw));
                    (kc, vc)
                } else if kv == KvType::F16 {
                    let pack = |v: &[f32]| -> Vec<u32> {
                        v.chunks(2)
                            .map(|p| {
                                let (a, b) = (half::f16::from_f32(p[0]), half::f16::from_f32(p[1]));
                                a.to_bits() as u32 | ((b.to_bits() as u32) << 16)
                            })
                            .collect()
                    };
                    let (kw, vw) = (pack(&k_all), pack(&v_all));
                    // The reference sees the rounded values.
                    for v in k_all.iter_mut().chain(v_all.iter_mut()) {
                        *v = half::f16::from_f32(*v).to_f32();
                    }
                    let kc = gpu.storage_buffer((ctx * kv_dim * 2) as u64, "kc").unwrap();
                    let vc = gpu.storage_buffer((ctx * kv_dim * 2) as u64, "vc").unwrap();
                    gpu.queue.write_buffer(&kc, 0, bytemuck::cast_slice(&kw));
                    gpu.queue.write_buffer(&vc, 0, bytemuck::cast_slice(&vw));
                    (kc, vc)
                } else {
                    let kc = gpu.storage_buffer((ctx * kv_dim * 4) as u64, "kc").unwrap();
                    let vc = gpu.storage_buffer((ctx * kv_dim * 4) as u64, "vc").unwrap();
                    gpu.queue.write_buffer(&kc, 0, bytemuck::cast_slice(&k_all));
                    gpu.queue.write_buffer(&vc, 0, bytemuck::cast_slice(&v_all));
                    (kc, vc)
                };
                let qv = rng.vec(n * n_heads * hd, 2.0);
                let q = Tensor::from_slice(gpu, &qv, "q").unwrap();
                let out = Tensor::new(gpu, n * n_heads * hd, "out").unwrap();
                let attn = k
                    .attention_kv(&step, &q, &kc, &vc, &out, n_heads, n_kv, hd, kv)
                    .unwrap();
                let groups = attn.dispatch_info(n as u32, ctx as u32);
                if n == 1 {
                    assert_eq!(groups.len(), 2, "{name}: split + combine");
                    assert!(groups[0].groups.2 > 1, "{name}: {groups:?}");
                }
                // Split (the step's kv_len) and unsplit (kv_len 0) give the same.
                let want = attention_ref(&qv, &k_all, &v_all, n, pos0, n_heads, n_kv, hd);
                for split in [true, false] {
                    if split {
                        run_ctx(gpu, &step, &[&attn], n as u32, pos0 as u32);
                    } else {
                        run(gpu, &step, &[&attn], n as u32, pos0 as u32);
                    }
                    let got = out.read(gpu).unwrap();
                    assert_close(
                        &format!("{name} attention {kv} ctx {ctx} n {n} split {split}"),
                        &got,
                        &want,
                        |_| 2e-5,
                    );
                }
            }
        }
    });
}
