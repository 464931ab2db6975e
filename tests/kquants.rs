//! The quant types added after the first five (BF16, Q5_0, Q5_1, Q2_K..Q6_K)
//! beyond the shared kernel tests of tests/gpu_kernels.rs, which quantize
//! uniform random data:
//!
//! * random *blocks* (every quant bit pattern, every packed 6-bit sub-block
//!   scale and min, high-bit mask) through the GPU matmul and embedding, on
//!   Vulkan and GL, against the CPU reference dequantization, including
//!   tables split into several bindings (odd super-block counts per part);
//! * tiny random models whose matrices use each type, and one mixing Q4_K,
//!   Q6_K and F32 like llama.cpp's Q4_K_M files, against the CPU reference
//!   forward;
//! * a tensor of a type rewind can't compute with (IQ*, TQ*) is refused by
//!   `LlamaConfig::from_gguf` with an error naming the tensor and the type;
//! * the synthetic F16 model of scripts/synth_kquants.py, regenerated from its
//!   seed, is the file llama.cpp ran (same sha256), and rewind's logits on it
//!   equal llama.cpp's within the measured tolerance (the K-quantized files
//!   made from it need llama.cpp's quantizer: the script compares those).

use std::sync::Arc;

use rewind::gguf::{GgufFile, GgufWriter};
use rewind::gpu::{Gpu, GpuOptions, GpuTuning, Kernels, QMatrix, Step, StepParams, Tensor};
use rewind::model::reference::ReferenceModel;
use rewind::model::synth::{SynthSpec, readable_by_llama_cpp, synth_llama};
use rewind::model::{ConfigError, LlamaConfig, LoadOptions, Model, Readback, StepOutput};
use rewind::quant::{GgmlType, SUPPORTED, dequantize_to_vec};
use rewind::session::{Session, SessionOptions};

/// xorshift32: deterministic test data.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 8) as f32 / (1 << 23) as f32 - 1.0
    }
}

/// The block types among the supported ones.
fn block_types() -> Vec<GgmlType> {
    SUPPORTED
        .iter()
        .copied()
        .filter(|t| !t.f16_field_offsets().is_empty())
        .collect()
}

/// `n_blocks` random blocks of `ty`: random bytes, with the f16 fields set
/// to normal f16 values of either sign from 1e-3 to about 0.1 (weight-like;
/// subnormal handling is up to the GPU and not tested here).
fn random_blocks(rng: &mut Rng, ty: GgmlType, n_blocks: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..n_blocks * ty.type_size())
        .map(|_| rng.next() as u8)
        .collect();
    for blk in bytes.chunks_exact_mut(ty.type_size()) {
        for &off in ty.f16_field_offsets() {
            let mag = 1e-3 * 100f32.powf((rng.unit() + 1.0) / 2.0);
            let v = if rng.next() & 1 == 0 { mag } else { -mag };
            blk[off..off + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
    }
    bytes
}

fn configs(max_binding_size: Option<u64>) -> Vec<(&'static str, GpuOptions)> {
    [
        ("vulkan", wgpu::Backends::VULKAN),
        ("gl", wgpu::Backends::GL),
    ]
    .into_iter()
    .map(|(name, b)| {
        (
            name,
            GpuOptions {
                backends: Some(b),
                tuning: GpuTuning {
                    max_binding_size,
                    ..Default::default()
                },
                ..Default::default()
            },
        )
    })
    .collect()
}

fn open(name: &str, opts: &GpuOptions) -> (Arc<Gpu>, Kernels) {
    let gpu = Gpu::new(opts).unwrap_or_else(|e| panic!("{name}: no device: {e}"));
    let k = Kernels::new(&gpu).unwrap();
    (gpu, k)
}

fn run(gpu: &Gpu, step: &Step, op: &rewind::gpu::Op, n_tokens: u32) {
    step.write(gpu, StepParams::new(n_tokens, 0));
    gpu.run(&[op], n_tokens, 0);
    gpu.wait().unwrap();
}

/// `W x[t]` for `t < n`, in f64, with the sum of the terms' magnitudes.
fn reference_matmul(w: &[f32], x: &[f32], rows: usize, cols: usize, n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for t in 0..n {
        for r in 0..rows {
            let (mut s, mut mag) = (0f64, 0f64);
            for c in 0..cols {
                let p = w[r * cols + c] as f64 * x[t * cols + c] as f64;
                s += p;
                mag += p.abs();
            }
            out.push((s, mag));
        }
    }
    out
}

/// Matmul (`ns` tokens, and the last-token variant) and embedding (of every
/// row, `per_step` tokens a step) of a random-block matrix against the CPU
/// dequantization of the same bytes.
#[allow(clippy::too_many_arguments)]
fn check_matrix(
    gpu: &Arc<Gpu>,
    k: &Kernels,
    what: &str,
    ty: GgmlType,
    (rows, cols): (usize, usize),
    ns: &[usize],
    per_step: usize,
    rng: &mut Rng,
) {
    let step = Step::new(gpu);
    let bytes = random_blocks(rng, ty, rows * cols / ty.block_size());
    let w = dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
    let m = QMatrix::upload(gpu, ty, rows, cols, &bytes, "w").unwrap();
    let what = format!("{what} {ty} {rows}x{cols} ({} parts)", m.n_parts());

    for &n in ns {
        let xv: Vec<f32> = (0..n * cols).map(|_| rng.unit()).collect();
        let x = Tensor::from_slice(gpu, &xv, "x").unwrap();
        let y = Tensor::new(gpu, n * rows, "y").unwrap();
        let op = k.matmul(&step, &m, &x, &y, false).unwrap();
        run(gpu, &step, &op, n as u32);
        let got = y.read(gpu).unwrap();
        let want = reference_matmul(&w, &xv, rows, cols, n);
        for (i, (&g, &(s, mag))) in got.iter().zip(&want).enumerate() {
            // f32 sums in another order than the f64 reference.
            let tol = 1e-5 * mag + 1e-6;
            assert!(
                (g as f64 - s).abs() <= tol,
                "{what} matmul n={n} element {i}: {g} vs {s}"
            );
        }
        let last = Tensor::new(gpu, rows, "last").unwrap();
        let op = k.matmul_last(&step, &m, &x, &last).unwrap();
        run(gpu, &step, &op, n as u32);
        let got = last.read(gpu).unwrap();
        for (r, &g) in got.iter().enumerate() {
            let (s, mag) = want[(n - 1) * rows + r];
            assert!(
                (g as f64 - s).abs() <= 1e-5 * mag + 1e-6,
                "{what} matmul_last n={n} row {r}: {g} vs {s}"
            );
        }
    }

    // Embedding: every row once, in a shuffled order.
    let ids: Vec<u32> = (0..rows as u32)
        .map(|i| (i * 7 + 3) % rows as u32)
        .collect();
    let tokens = gpu.storage_buffer(4 * per_step as u64, "tokens").unwrap();
    let out = Tensor::new(gpu, per_step * cols, "out").unwrap();
    let op = k.embed(&step, &m, &tokens, &out).unwrap();
    let amax = w.iter().fold(0f32, |a, v| a.max(v.abs()));
    for batch in ids.chunks(per_step) {
        gpu.queue
            .write_buffer(&tokens, 0, bytemuck::cast_slice(batch));
        run(gpu, &step, &op, batch.len() as u32);
        let got = out.read(gpu).unwrap();
        for (t, &id) in batch.iter().enumerate() {
            let want = &w[id as usize * cols..(id as usize + 1) * cols];
            let row = &got[t * cols..(t + 1) * cols];
            for (c, (g, v)) in row.iter().zip(want).enumerate() {
                // One or two roundings of `(d * sc) * q - dmin * m` (a GPU
                // may fuse the multiply-add): an ulp or two of the largest
                // term, which is within a few times the largest value.
                assert!(
                    (g - v).abs() <= 1e-6 * amax,
                    "{what} embed row {id} column {c}: {g} vs {v}"
                );
            }
        }
    }
}

#[test]
fn random_blocks_match_the_cpu_reference_on_the_gpu() {
    for (name, opts) in configs(None) {
        let (gpu, k) = open(name, &opts);
        let mut rng = Rng(0x9E37_79B9);
        for ty in block_types() {
            let cols = if ty.block_size() == 256 { 768 } else { 96 };
            // 3 super-blocks per row: odd counts, across rows too.
            check_matrix(&gpu, &k, name, ty, (21, cols), &[1, 5], 21, &mut rng);
        }
    }
}

#[test]
fn split_random_block_tables_match_the_cpu_reference() {
    // 2 KiB bindings: 67 rows of 256 take parts of 8..32 rows and a last
    // one of 3, so the layouts that pair super-blocks see a part with an
    // odd number of them. Activations must fit too: 2 tokens a step.
    for (name, opts) in configs(Some(2048)) {
        let (gpu, k) = open(name, &opts);
        let mut rng = Rng(0x1234_5678);
        for ty in block_types() {
            let rows = 67;
            let bytes = random_blocks(&mut rng, ty, rows * 256 / ty.block_size());
            let m = QMatrix::upload(&gpu, ty, rows, 256, &bytes, "probe").unwrap();
            let parts = m.part_rows();
            assert!(parts.len() >= 3, "{ty}: {parts:?}");
            assert!(parts.iter().any(|&(_, r)| r % 2 == 1), "{ty}: {parts:?}");
            check_matrix(
                &gpu,
                &k,
                &format!("{name} split"),
                ty,
                (rows, 256),
                &[1, 2],
                2,
                &mut rng,
            );
        }
    }
}

// ---- models ----

const TOL: f32 = 2e-3;

/// The default adapter with an f32 KV cache and f32 activations, so that
/// the GPU computes what the f32 CPU reference does (an f16 cache is tested
/// in tests/forward.rs, 8-bit activations in tests/gpu_int8.rs).
fn exact_gpu() -> Arc<Gpu> {
    Gpu::new(&GpuOptions {
        kv_f16: Some(false),
        tuning: GpuTuning {
            int8_matvec: Some(false),
            ..GpuTuning::default()
        },
        ..GpuOptions::default()
    })
    .expect("a wgpu adapter")
}

fn file_of(w: &GgufWriter) -> GgufFile {
    GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()
}

/// A tiny model with 256-wide rows (K-quants need whole super-blocks).
fn spec(ty: GgmlType, seed: u64) -> SynthSpec {
    let mut s = SynthSpec::tiny(ty, seed);
    s.n_embd = 256;
    s.n_ff = 512;
    s
}

fn logits(out: StepOutput) -> Vec<f32> {
    match out {
        StepOutput::Logits(l) => l,
        other => panic!("expected logits, got {other:?}"),
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A 9-token prompt in steps of 4, then 4 single-token steps, against the
/// CPU reference forward (same dequantized weights; differences come from
/// f32 summation order only).
fn check_model(file: &GgufFile, gpu: Arc<Gpu>, what: &str) {
    let reference = ReferenceModel::load(file).unwrap();
    let model = Model::from_gguf(file, gpu, &LoadOptions::default(), |_| {}).unwrap();
    let opts = SessionOptions {
        n_ctx: 32,
        n_batch: 4,
        all_logits: false,
    };
    let mut s = Session::new(&model, &opts).unwrap();
    let vocab = reference.config.vocab_size as u32;
    let prompt: Vec<u32> = (0..9).map(|i| (i * 37 + 5) % vocab).collect();
    let mut cache = reference.new_cache();
    let mut want = Vec::new();
    for &t in &prompt {
        want = reference.forward(&mut cache, t).unwrap();
    }
    let got = logits(s.feed(&prompt, Readback::LastLogits).unwrap());
    let d = max_diff(&got, &want);
    assert!(d < TOL, "{what}: prefill logits differ by {d}");
    for step in 0..4u32 {
        let t = (step * 101 + 3) % vocab;
        let want = reference.forward(&mut cache, t).unwrap();
        let got = logits(s.feed(&[t], Readback::LastLogits).unwrap());
        let d = max_diff(&got, &want);
        assert!(d < TOL, "{what}: decode step {step}: logits differ by {d}");
    }
}

#[test]
fn models_of_each_new_type_match_the_cpu_reference() {
    let gpu = exact_gpu();
    for ty in [
        GgmlType::BF16,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        let file = file_of(&synth_llama(&spec(ty, 17)).unwrap());
        check_model(&file, gpu.clone(), ty.name());
    }
}

#[test]
fn a_file_mixing_q4_k_q6_k_and_f32_just_works() {
    // Like llama.cpp's Q4_K_M: Q6_K embedding and output, Q4_K matrices,
    // F32 norms; and a Q5_0 matrix in each layer, as llama.cpp uses where a
    // row isn't a whole number of super-blocks.
    let mut s = spec(GgmlType::Q4_K, 23);
    s.embd_ty = Some(GgmlType::Q6_K);
    s.tied_embeddings = false;
    let file = file_of(&synth_llama(&s).unwrap());
    let out = file.tensor("output.weight").unwrap().ty;
    let file = rewrite(&file, |name, ty, data| {
        if name == "output.weight" {
            // Requantize the output to Q6_K.
            let x =
                dequantize_to_vec(ty, data, data.len() / ty.type_size() * ty.block_size()).unwrap();
            return Some((
                GgmlType::Q6_K,
                rewind::quant::quantize(GgmlType::Q6_K, &x).unwrap(),
            ));
        }
        if name.ends_with("attn_v.weight") {
            let x =
                dequantize_to_vec(ty, data, data.len() / ty.type_size() * ty.block_size()).unwrap();
            return Some((
                GgmlType::Q5_0,
                rewind::quant::quantize(GgmlType::Q5_0, &x).unwrap(),
            ));
        }
        None
    });
    assert_eq!(out, GgmlType::Q4_K);
    let mut types: Vec<GgmlType> = file.tensors().iter().map(|t| t.ty).collect();
    types.sort_by_key(|t| t.id());
    types.dedup();
    assert_eq!(
        types,
        [
            GgmlType::F32,
            GgmlType::Q5_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K
        ]
    );
    check_model(&file, exact_gpu(), "Q4_K + Q6_K + Q5_0 + F32");
}

/// A copy of `file` whose tensors `f` may replace (new type and data).
fn rewrite(
    file: &GgufFile,
    f: impl Fn(&str, GgmlType, &[u8]) -> Option<(GgmlType, Vec<u8>)>,
) -> GgufFile {
    let mut w = GgufWriter::new();
    for (k, v) in file.metadata().iter() {
        w.add_metadata(k, v.clone());
    }
    for t in file.tensors() {
        let data = file.tensor_data(t);
        let (ty, bytes) = f(&t.name, t.ty, data).unwrap_or((t.ty, data.to_vec()));
        w.add_tensor(&t.name, &t.dims, ty, bytes).unwrap();
    }
    file_of(&w)
}

#[test]
fn an_unsupported_tensor_type_is_an_error_naming_tensor_and_type() {
    let base = file_of(&synth_llama(&spec(GgmlType::Q4_K, 5)).unwrap());
    for (name, ty) in [
        ("blk.1.ffn_down.weight", GgmlType::IQ4_XS),
        ("blk.0.attn_q.weight", GgmlType::IQ2_XXS),
        ("token_embd.weight", GgmlType::TQ2_0),
        ("blk.0.ffn_up.weight", GgmlType::Q8_K),
    ] {
        let file = rewrite(&base, |n, _, data| {
            (n == name).then(|| {
                let n_elems = data.len() / 144 * 256;
                (ty, vec![0u8; n_elems / ty.block_size() * ty.type_size()])
            })
        });
        let err = LlamaConfig::from_gguf(&file).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnsupportedType { name: n, ty: t } if n == name && *t == ty),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(ty.name()), "{msg}");
        // Loading the model reports the same, before touching the GPU.
        let gpu = Gpu::new(&GpuOptions::default()).unwrap();
        let msg = match Model::from_gguf(&file, gpu, &LoadOptions::default(), |_| {}) {
            Ok(_) => panic!("{name} as {ty} loaded"),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(name) && msg.contains(ty.name()), "{msg}");
    }
}

/// SHA-256 of `data` in hex, to check that the synthetic model is byte for
/// byte the file llama.cpp was run on.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Largest |rewind - llama.cpp| allowed on the synthetic F16 model (over
/// llama.cpp's top 5 at every position and the whole last row). llama.cpp's
/// CPU backend rounds the activations to f16 before F16 mat-muls, rewind
/// keeps them in f32; the difference measured is about half of this
/// (README.md, "Correctness"; scripts/synth_kquants.py prints it).
const SYNTH_F16_LLAMA_TOL: f32 = 0.01;

/// The synthetic model of scripts/synth_kquants.py (examples/synth_model.rs)
/// from the shape and seed recorded with llama.cpp's logits.
fn synth_kquants_f16(doc: &serde_json::Value) -> GgufWriter {
    let shape = &doc["shape"];
    let dim = |k: &str| shape[k].as_u64().unwrap_or_else(|| panic!("shape.{k}")) as usize;
    let spec = SynthSpec {
        n_layer: dim("n_layer"),
        n_embd: dim("n_embd"),
        n_ff: dim("n_ff"),
        n_head: dim("n_head"),
        n_head_kv: dim("n_head_kv"),
        vocab_size: dim("vocab"),
        tied_embeddings: !shape["untied"].as_bool().unwrap_or(false),
        ..SynthSpec::tiny(GgmlType::F16, doc["seed"].as_u64().unwrap())
    };
    let mut w = synth_llama(&spec).unwrap();
    readable_by_llama_cpp(&mut w);
    w
}

#[test]
fn the_synthetic_f16_model_is_reproducible_and_matches_llama_cpp() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/synth_kquants_llama_cpp.json"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let want = &doc["files"]["F16"];
    let bytes = synth_kquants_f16(&doc).to_bytes().unwrap();
    assert_eq!(bytes.len() as u64, want["bytes"].as_u64().unwrap());
    assert_eq!(
        sha256_hex(&bytes),
        want["sha256"].as_str().unwrap(),
        "the synthetic model isn't the file llama.cpp ran on"
    );
    let file = GgufFile::from_bytes(bytes).unwrap();
    let gpu = Gpu::new(&GpuOptions::default()).unwrap();
    let model = Model::from_gguf(&file, gpu, &LoadOptions::default(), |_| {}).unwrap();
    let vocab = model.config().vocab_size;
    let opts = SessionOptions {
        n_ctx: 64,
        n_batch: 64,
        all_logits: true,
    };
    let mut s = Session::new(&model, &opts).unwrap();
    let prompts = want["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 5);
    let (mut worst, mut positions, mut compared) = (0f32, 0, 0);
    for p in prompts {
        let ids: Vec<u32> = p["token_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let tops = p["top5_logits_per_position"].as_array().unwrap();
        assert_eq!(tops.len(), ids.len());
        s.truncate(0);
        let all = logits(s.feed(&ids, Readback::AllLogits).unwrap());
        for (row, top) in all.chunks_exact(vocab).zip(tops) {
            let top: Vec<(usize, f32)> = top
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e[0].as_u64().unwrap() as usize,
                        e[1].as_f64().unwrap() as f32,
                    )
                })
                .collect();
            for &(id, v) in &top {
                worst = worst.max((row[id] - v).abs());
            }
            // Within the tolerance, the argmax can only differ where
            // llama.cpp's top two are less than twice it apart.
            positions += 1;
            if top[0].1 - top[1].1 >= 2.0 * SYNTH_F16_LLAMA_TOL {
                compared += 1;
                let best = (0..vocab).fold(0, |m, i| if row[i] > row[m] { i } else { m });
                assert_eq!(best, top[0].0, "{}: argmax differs", p["id"]);
            }
        }
        let last: Vec<f32> = p["last_logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        worst = worst.max(max_diff(&all[all.len() - vocab..], &last));
    }
    eprintln!(
        "synthetic F16: largest difference from llama.cpp {worst}; argmax equal at {compared}/{positions} positions"
    );
    assert!(compared > positions / 2, "too few positions compared");
    assert!(
        worst <= SYNTH_F16_LLAMA_TOL,
        "logits differ from llama.cpp's by {worst}"
    );
}
