//! The native CPU path's whole forward against the naive f32 CPU reference
//! (`model::reference`), on tiny random models of every supported type, on
//! every instruction set this CPU has (the scalar one everywhere).
//!
//! Tolerances: float weights (F32, F16, BF16) multiply f32 activations, so
//! the logits differ from the reference's by f32 summation order only (TOL,
//! as on the GPU). Quantized weights multiply activations rounded to 8 bits
//! per block of 32 (like llama.cpp's CPU backend): each input of each
//! mat-mul moves by up to half a step (|x|max / 254), which moves these O(1)
//! logits by up to TOL_Q8 (the largest measured over all types, ISAs and
//! steps is 0.085, for Q2_K; 0.055-0.065 for most types, the same on every
//! ISA to 1e-5); a layout or indexing error moves them by O(0.1..1) on
//! every step, and the kernel tests catch it exactly. The kernels themselves are exact to f32 rounding against the
//! reference on the same 8-bit activations (`cpu::kernels` unit tests).

use rewind::gguf::{GgufFile, GgufWriter};
use rewind::model::reference::ReferenceModel;
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::model::{Readback, StepOutput};
use rewind::quant::GgmlType;
use rewind::session::{Session, SessionOptions};
use rewind::{ComputePath, CpuOptions, Device, Isa, LoadOptions, Model};

const TOL: f32 = 2e-3;
const TOL_Q8: f32 = 0.15;
/// An f16 KV cache on top (see tests/forward.rs's TOL_F16_KV).
const TOL_F16_KV: f32 = 0.16;

const TYPES: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

fn bytes(spec: &SynthSpec) -> Vec<u8> {
    synth_llama(spec).unwrap().to_bytes().unwrap()
}

/// A tiny model with 256-wide rows (K-quants need whole super-blocks).
fn spec(ty: GgmlType, seed: u64) -> SynthSpec {
    let mut s = SynthSpec::tiny(ty, seed);
    s.n_embd = 256;
    s.n_ff = 512;
    s
}

fn cpu(isa: Isa, kv_f16: bool, n_threads: usize) -> LoadOptions {
    LoadOptions {
        device: Device::Cpu,
        n_threads,
        cpu: CpuOptions {
            isa: Some(isa),
            kv_f16: Some(kv_f16),
            kv_q8: false,
        },
        ..LoadOptions::default()
    }
}

fn load(bytes: &[u8], opts: &LoadOptions) -> Model {
    let file = GgufFile::from_bytes(bytes.to_vec()).unwrap();
    Model::load_file(file, opts, |_| {}).unwrap()
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

/// Feeds an 11-token prompt in steps of `n_batch`, then decodes 6 tokens one
/// at a time, comparing every step's logits with the reference's. Returns
/// the largest difference and every step's logits.
fn check(
    bytes: &[u8],
    opts: &LoadOptions,
    n_batch: usize,
    tol: f32,
    what: &str,
) -> (f32, Vec<Vec<f32>>) {
    let reference = ReferenceModel::load(&GgufFile::from_bytes(bytes.to_vec()).unwrap()).unwrap();
    let model = load(bytes, opts);
    assert!(matches!(model.device_info().path, ComputePath::Cpu { .. }));
    let mut s = Session::new(
        &model,
        &SessionOptions {
            n_ctx: 64,
            n_batch,
            all_logits: false,
        },
    )
    .unwrap();
    let vocab = reference.config.vocab_size as u32;
    let prompt: Vec<u32> = (0..11).map(|i| (i * 37 + 5) % vocab).collect();
    // An 8-bit cache against a reference that rounds its cache the same way.
    let mut cache = if opts.cpu.kv_q8 {
        reference.new_cache_q8()
    } else {
        reference.new_cache()
    };
    let mut want = Vec::new();
    for &t in &prompt {
        want = reference.forward(&mut cache, t).unwrap();
    }
    let got = logits(s.feed(&prompt, Readback::LastLogits).unwrap());
    let mut worst = max_diff(&got, &want);
    assert!(worst < tol, "{what}: prefill logits differ by {worst}");
    let mut all = vec![got];
    for step in 0..6u32 {
        let t = (step * 101 + 3) % vocab;
        let want = reference.forward(&mut cache, t).unwrap();
        let got = logits(s.feed(&[t], Readback::LastLogits).unwrap());
        let d = max_diff(&got, &want);
        assert!(d < tol, "{what}: decode step {step}: logits differ by {d}");
        worst = worst.max(d);
        all.push(got);
    }
    (worst, all)
}

fn tol_of(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => TOL,
        _ => TOL_Q8,
    }
}

#[test]
fn every_type_matches_the_reference_on_every_isa() {
    for ty in TYPES {
        let b = bytes(&spec(ty, 7));
        for isa in Isa::available() {
            // 11 tokens in steps of 4: three prefill steps.
            let (d, _) = check(
                &b,
                &cpu(isa, false, 2),
                4,
                tol_of(ty),
                &format!("{ty} {isa}"),
            );
            eprintln!("{ty} {isa}: largest difference {d}");
        }
    }
}

#[test]
fn f16_kv_cache_stays_close_to_the_reference() {
    for ty in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K] {
        let b = bytes(&spec(ty, 13));
        let tol = tol_of(ty).max(TOL_F16_KV);
        check(
            &b,
            &cpu(Isa::best(), true, 2),
            5,
            tol,
            &format!("{ty} f16 KV"),
        );
    }
}

/// The 8-bit cache (blocks of 32 with an f32 scale, as the GPU's) against
/// a reference whose cache is rounded the same way: with float weights the
/// activations are exact, so only summation order differs, plus the rare
/// value within f32 noise of a rounding tie (see tests/forward.rs's
/// TOL_Q8_KV); with quantized weights, TOL_Q8 as above. Every ISA.
#[test]
fn q8_kv_cache_matches_a_reference_that_rounds_the_same() {
    for ty in [GgmlType::F32, GgmlType::Q4_1] {
        let b = bytes(&spec(ty, 23));
        for isa in Isa::available() {
            let mut opts = cpu(isa, false, 2);
            opts.cpu.kv_q8 = true;
            let tol = tol_of(ty).max(1e-2);
            let (d, _) = check(&b, &opts, 4, tol, &format!("{ty} {isa} q8_0 KV"));
            eprintln!("{ty} {isa} q8_0 KV: largest difference {d}");
        }
    }
}

#[test]
fn q8_kv_cache_needs_heads_in_blocks_of_32() {
    // head_dim 16.
    let b = bytes(&SynthSpec::tiny(GgmlType::Q8_0, 3));
    let mut opts = cpu(Isa::best(), false, 1);
    opts.cpu.kv_q8 = true;
    let model = load(&b, &opts);
    let err = Session::new(&model, &SessionOptions::default())
        .err()
        .expect("an 8-bit cache of 16-wide heads is refused");
    assert!(err.to_string().contains("multiple of 32"), "{err}");
}

#[test]
fn mixed_types_gqa_partial_rope_and_separate_output_match_the_reference() {
    // Like SmolLM2: Q8_0 embedding, Q4_1 matrices; here with an untied
    // output, one KV head for 8 query heads and RoPE on half of each head.
    let mut s = SynthSpec::tiny(GgmlType::Q4_1, 11);
    s.embd_ty = Some(GgmlType::Q8_0);
    s.tied_embeddings = false;
    s.n_head = 8;
    s.n_head_kv = 1;
    s.rope_dim = Some(4);
    check(&bytes(&s), &cpu(Isa::best(), false, 2), 16, TOL_Q8, "mixed");
}

#[test]
fn quantized_and_float_matrices_mix_in_one_layer() {
    // attn_v and ffn_up F16 among Q4_K matrices: one mat-mul reads both
    // 8-bit and f32 activations of the same input.
    let a = GgufFile::from_bytes(bytes(&spec(GgmlType::Q4_K, 17))).unwrap();
    let b = GgufFile::from_bytes(bytes(&spec(GgmlType::F16, 17))).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in a.metadata().iter() {
        w.add_metadata(k, v.clone());
    }
    for t in a.tensors() {
        let f16 = t.name.ends_with("attn_v.weight") || t.name.ends_with("ffn_up.weight");
        let src = if f16 { &b } else { &a };
        let t = src.tensor(&t.name).unwrap();
        w.add_tensor(&t.name, &t.dims, t.ty, src.tensor_data(t).to_vec())
            .unwrap();
    }
    check(
        &w.to_bytes().unwrap(),
        &cpu(Isa::best(), false, 2),
        4,
        TOL_Q8,
        "Q4_K + F16",
    );
}

#[test]
fn logits_do_not_depend_on_the_thread_count() {
    // Every output row is computed the same way by whichever thread takes
    // it: one thread and three give the same bits.
    let b = bytes(&spec(GgmlType::Q4_0, 23));
    let (_, one) = check(&b, &cpu(Isa::best(), true, 1), 4, TOL_F16_KV, "1 thread");
    let (_, three) = check(&b, &cpu(Isa::best(), true, 3), 4, TOL_F16_KV, "3 threads");
    assert_eq!(one, three);
}

#[test]
fn argmax_and_all_logits_readbacks_agree_with_last_logits() {
    let b = bytes(&spec(GgmlType::Q5_K, 29));
    let model = load(&b, &cpu(Isa::best(), true, 2));
    let opts = |all_logits| SessionOptions {
        n_ctx: 32,
        n_batch: 8,
        all_logits,
    };
    let (mut a, mut b, mut c) = (
        Session::new(&model, &opts(false)).unwrap(),
        Session::new(&model, &opts(false)).unwrap(),
        Session::new(&model, &opts(true)).unwrap(),
    );
    let prompt: Vec<u32> = (0..7).map(|i| i * 31 + 2).collect();
    let last = logits(a.feed(&prompt, Readback::LastLogits).unwrap());
    let best = (0..last.len()).fold(0, |m, i| if last[i] > last[m] { i } else { m });
    assert_eq!(
        b.feed(&prompt, Readback::Argmax).unwrap(),
        StepOutput::Argmax(best as u32)
    );
    let all = logits(c.feed(&prompt, Readback::AllLogits).unwrap());
    assert_eq!(all.len(), 7 * last.len());
    assert_eq!(&all[6 * last.len()..], &last[..]);
}

#[test]
fn auto_takes_the_cpu_path_when_the_best_adapter_is_a_cpu() {
    let b = bytes(&spec(GgmlType::Q8_0, 31));
    let model = load(&b, &LoadOptions::default());
    let gpu = rewind::gpu::Gpu::new(&rewind::GpuOptions::default());
    let cpu_only = gpu
        .as_ref()
        .map_or(true, |g| g.info.device_type == wgpu::DeviceType::Cpu);
    let info = model.device_info();
    assert_eq!(
        matches!(info.path, ComputePath::Cpu { .. }),
        cpu_only,
        "{info}"
    );
    // Forced, either way.
    let forced = load(
        &b,
        &LoadOptions {
            device: Device::Gpu,
            ..LoadOptions::default()
        },
    );
    assert_eq!(forced.device_info().path, ComputePath::Gpu);
    let forced = load(&b, &cpu(Isa::scalar(), true, 1));
    let info = forced.device_info();
    assert_eq!(
        info.path,
        ComputePath::Cpu {
            isa: Isa::scalar(),
            threads: 1
        }
    );
    assert!(
        info.to_string().contains("native CPU: scalar, 1 threads"),
        "{info}"
    );
}
