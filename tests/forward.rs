//! The GPU forward graph against the naive CPU reference, on tiny random
//! models written with the GGUF writer, for every supported quant type.
//!
//! Tolerance: both sides dequantize the same blocks exactly, so differences
//! come only from f32 summation order (GPU reductions vs sequential loops)
//! through 2 layers. The logits are O(1); 2e-3 absolute leaves room for
//! rounding while any layout or indexing error gives O(0.1..1) differences.
//! These tests use an f32 KV cache (exact); the f16 cache is checked
//! separately with its own tolerance (TOL_F16_KV).

use std::sync::Arc;

use rewind::gguf::{GgufFile, GgufWriter};
use rewind::gpu::{Gpu, GpuOptions};
use rewind::model::reference::ReferenceModel;
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::model::{LoadOptions, Model, ModelError, Readback, StepOutput};
use rewind::quant::GgmlType;
use rewind::session::{Session, SessionError, SessionOptions};

const TOL: f32 = 2e-3;
/// With an f16 KV cache every key and value is rounded to 11 significant
/// bits (relative error <= 2^-11 ~ 4.9e-4 on O(1) values), which moves these
/// O(1) logits by up to 2.3e-3 (measured over all types, prefill and decode
/// steps); 1e-2 leaves a 4x margin and still catches any indexing error.
const TOL_F16_KV: f32 = 1e-2;

/// A GPU with an f32 KV cache unless `opts` asks otherwise.
fn gpu(opts: GpuOptions) -> Arc<Gpu> {
    let opts = GpuOptions {
        kv_f16: opts.kv_f16.or(Some(false)),
        ..opts
    };
    Gpu::new(&opts).expect("a wgpu adapter (scripts/test.sh installs Mesa lavapipe)")
}

fn tiny(spec: &SynthSpec) -> GgufFile {
    let bytes = synth_llama(spec).unwrap().to_bytes().unwrap();
    GgufFile::from_bytes(bytes).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn logits(out: StepOutput) -> Vec<f32> {
    match out {
        StepOutput::Logits(l) => l,
        other => panic!("expected logits, got {other:?}"),
    }
}

fn session(model: &Model, n_batch: usize) -> Session {
    let opts = SessionOptions {
        n_ctx: 64,
        n_batch,
        all_logits: false,
    };
    Session::new(model, &opts).unwrap()
}

fn prompt(vocab: u32) -> Vec<u32> {
    (0..11).map(|i| (i * 37 + 5) % vocab).collect()
}

/// Feeds an 11-token prompt in steps of `n_batch` tokens, then decodes 6
/// tokens one at a time, comparing every step's logits with the reference.
fn check_against_reference(file: &GgufFile, gpu: Arc<Gpu>, n_batch: usize) {
    let tol = if gpu.kv_f16 { TOL_F16_KV } else { TOL };
    let reference = ReferenceModel::load(file).unwrap();
    let model = Model::from_gguf(file, gpu, &LoadOptions::default(), |_| {}).unwrap();
    let mut s = session(&model, n_batch);
    let vocab = reference.config.vocab_size as u32;
    let mut cache = reference.new_cache();
    let mut want = Vec::new();
    for &t in &prompt(vocab) {
        want = reference.forward(&mut cache, t).unwrap();
    }
    let got = logits(s.feed(&prompt(vocab), Readback::LastLogits).unwrap());
    let d = max_diff(&got, &want);
    assert!(
        d < tol,
        "{}: prefill logits differ by {d}",
        model.file_type()
    );
    for step in 0..6u32 {
        let t = (step * 101 + 3) % vocab;
        let want = reference.forward(&mut cache, t).unwrap();
        let got = logits(s.feed(&[t], Readback::LastLogits).unwrap());
        let d = max_diff(&got, &want);
        assert!(
            d < tol,
            "{}: decode step {step}: logits differ by {d}",
            model.file_type()
        );
    }
    assert_eq!(s.history().len(), 17);
}

#[test]
fn every_quant_type_matches_the_cpu_reference() {
    let gpu = gpu(GpuOptions::default());
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
    ] {
        // A prompt of 11 tokens in steps of 4: three prefill steps.
        check_against_reference(&tiny(&SynthSpec::tiny(ty, 7)), gpu.clone(), 4);
    }
}

#[test]
fn f16_kv_cache_stays_close_to_the_reference() {
    // On every adapter, GL included (the cache only needs pack2x16float).
    for backends in [wgpu::Backends::VULKAN, wgpu::Backends::GL] {
        let gpu = gpu(GpuOptions {
            backends: Some(backends),
            kv_f16: Some(true),
            ..GpuOptions::default()
        });
        assert!(gpu.kv_f16);
        for ty in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_1] {
            check_against_reference(&tiny(&SynthSpec::tiny(ty, 13)), gpu.clone(), 4);
        }
    }
}

#[test]
fn mixed_types_and_separate_output_match_the_reference() {
    // Like SmolLM2: Q8_0 embedding, Q4_1 matrices; here with an untied output.
    let mut spec = SynthSpec::tiny(GgmlType::Q4_1, 11);
    spec.embd_ty = Some(GgmlType::Q8_0);
    spec.tied_embeddings = false;
    spec.n_head = 8;
    spec.n_head_kv = 1;
    check_against_reference(&tiny(&spec), gpu(GpuOptions::default()), 16);
}

#[test]
fn unfusable_type_mixes_match_the_reference() {
    // attn_v and ffn_up of another type than their neighbours (as in
    // llama.cpp's Q4_K_M files): Q/K/V can't be stacked into one matrix nor
    // gate/up interleaved, so the graph runs them as separate dispatches.
    // Both files come from the same seed, hence the same f32 weights.
    let a = synth_llama(&SynthSpec::tiny(GgmlType::Q4_1, 17)).unwrap();
    let b = GgufFile::from_bytes(
        synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 17))
            .unwrap()
            .to_bytes()
            .unwrap(),
    )
    .unwrap();
    let a = GgufFile::from_bytes(a.to_bytes().unwrap()).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in a.metadata().iter() {
        w.add_metadata(k, v.clone());
    }
    for t in a.tensors() {
        let src = if t.name.ends_with("attn_v.weight") || t.name.ends_with("ffn_up.weight") {
            &b
        } else {
            &a
        };
        let t = src.tensor(&t.name).unwrap();
        w.add_tensor(&t.name, &t.dims, t.ty, src.tensor_data(t).to_vec())
            .unwrap();
    }
    let file = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(
        file.tensor("blk.0.attn_v.weight").unwrap().ty,
        GgmlType::Q8_0
    );
    for backends in [wgpu::Backends::VULKAN, wgpu::Backends::GL] {
        let opts = GpuOptions {
            backends: Some(backends),
            ..GpuOptions::default()
        };
        check_against_reference(&file, gpu(opts), 4);
    }
}

#[test]
fn weights_split_across_bindings_give_the_same_logits() {
    // 8 KiB bindings (the KV cache of a layer just fits): the 320-row
    // embedding and output (Q8_0, 68 B per row) are split into 3 parts, the
    // 128-row FFN matrices into 2.
    let opts = GpuOptions {
        max_binding_size: Some(8192),
        ..GpuOptions::default()
    };
    let mut spec = SynthSpec::tiny(GgmlType::Q8_0, 3);
    spec.tied_embeddings = false;
    check_against_reference(&tiny(&spec), gpu(opts), 5);
}

#[test]
fn gl_fallback_matches_the_reference() {
    // The GL adapter (llvmpipe on CI) has neither f16 nor subgroups.
    let opts = GpuOptions {
        backends: Some(wgpu::Backends::GL),
        ..GpuOptions::default()
    };
    let gpu =
        Gpu::new(&opts).expect("the GL adapter (scripts/test.sh installs Mesa's EGL/GL drivers)");
    check_against_reference(&tiny(&SynthSpec::tiny(GgmlType::Q4_0, 5)), gpu, 8);
}

#[test]
fn argmax_readback_equals_the_argmax_of_the_logits() {
    let file = tiny(&SynthSpec::tiny(GgmlType::Q4_1, 21));
    let model = Model::from_gguf(
        &file,
        gpu(GpuOptions::default()),
        &LoadOptions::default(),
        |_| {},
    )
    .unwrap();
    let (mut a, mut b) = (session(&model, 8), session(&model, 8));
    let p = prompt(model.config().vocab_size as u32);
    let mut l = logits(a.feed(&p, Readback::LastLogits).unwrap());
    let mut am = b.feed(&p, Readback::Argmax).unwrap();
    for _ in 0..5 {
        let best = (0..l.len()).fold(0, |m, i| if l[i] > l[m] { i } else { m }) as u32;
        assert_eq!(am, StepOutput::Argmax(best));
        l = logits(a.feed(&[best], Readback::LastLogits).unwrap());
        am = b.feed(&[best], Readback::Argmax).unwrap();
    }
}

#[test]
fn bad_tokens_and_a_full_context_are_errors() {
    let file = tiny(&SynthSpec::tiny(GgmlType::F16, 1));
    let model = Model::from_gguf(
        &file,
        gpu(GpuOptions::default()),
        &LoadOptions::default(),
        |_| {},
    )
    .unwrap();
    let mut s = session(&model, 8);
    let vocab = model.config().vocab_size as u32;
    assert!(matches!(
        s.feed(&[1, vocab], Readback::LastLogits),
        Err(SessionError::Model(ModelError::BadToken { .. }))
    ));
    assert!(
        s.history().is_empty(),
        "a failed step leaves the context unchanged"
    );
    let long: Vec<u32> = (0..65).map(|i| i % vocab).collect();
    assert!(matches!(
        s.feed(&long, Readback::LastLogits),
        Err(SessionError::Model(ModelError::ContextFull { .. }))
    ));
    assert!(matches!(
        s.generate(&long, &Default::default(), |_| {
            rewind::session::Control::Continue
        }),
        Err(SessionError::PromptTooLong { .. })
    ));
}
