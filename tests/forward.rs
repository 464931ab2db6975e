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
use rewind::gpu::GpuError;
use rewind::gpu::{Gpu, GpuOptions, GpuTuning};
use rewind::model::reference::ReferenceModel;
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::model::{
    DEFAULT_MAX_N_CTX, LlamaConfig, LoadOptions, Model, Readback, StepOutput, estimate_gpu_memory,
};
use rewind::quant::GgmlType;
use rewind::session::{Control, Event, GenerateOptions, Session, SessionOptions, StopReason};
use rewind::{Error, KvType};

const TOL: f32 = 2e-3;
/// With an f16 KV cache every key and value is rounded to 11 significant
/// bits (relative error <= 2^-11 ~ 4.9e-4 on O(1) values), which moves these
/// O(1) logits by up to 2.3e-3 (measured over all types, prefill and decode
/// steps); 1e-2 leaves a 4x margin and still catches any indexing error.
const TOL_F16_KV: f32 = 1e-2;
/// An 8-bit KV cache moves every key and value by up to half a step of its
/// block (max|x| / 254), which moves these logits by up to 0.065 from the
/// exact reference; against a reference that rounds its cache the same way
/// (`new_cache_q8`) only summation order differs (measured: 3.6e-6), plus
/// the rare value whose x / d lies within f32 noise of a rounding tie and
/// goes the other way (one step of its block, ~1% of its largest value):
/// TOL_Q8_KV.
const TOL_Q8_KV: f32 = 1e-2;

/// A tiny model whose attn_v and ffn_up are Q8_0 and the other matrices
/// Q4_1 (see `unfusable_type_mixes_match_the_reference`).
fn unfusable_mix(seed: u64) -> GgufFile {
    // Both files come from the same seed, hence the same f32 weights.
    let a = synth_llama(&SynthSpec::tiny(GgmlType::Q4_1, seed)).unwrap();
    let b = GgufFile::from_bytes(
        synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, seed))
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
    file
}

/// A GPU with an f32 KV cache and f32 activations unless `opts` asks
/// otherwise (8-bit activations are tested in tests/gpu_int8.rs).
fn gpu(opts: GpuOptions) -> Arc<Gpu> {
    let mut opts = opts;
    opts.kv_f16 = opts.kv_f16.or(Some(false));
    opts.tuning.int8_matvec = opts.tuning.int8_matvec.or(Some(false));
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
/// Returns the reference logits of the 7 steps compared.
fn check_against_reference(file: &GgufFile, gpu: Arc<Gpu>, n_batch: usize) -> Vec<Vec<f32>> {
    let tol = match gpu.kv {
        KvType::F32 => TOL,
        KvType::F16 => TOL_F16_KV,
        KvType::Q8_0 => TOL_Q8_KV,
    };
    let q8 = gpu.kv == KvType::Q8_0;
    let reference = ReferenceModel::load(file).unwrap();
    let model = Model::from_gguf(file, gpu, &LoadOptions::default(), |_| {}).unwrap();
    let mut s = session(&model, n_batch);
    let vocab = reference.config.vocab_size as u32;
    let mut cache = if q8 {
        reference.new_cache_q8()
    } else {
        reference.new_cache()
    };
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
    let mut all = vec![want];
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
        all.push(want);
    }
    assert_eq!(s.history().len(), 17);
    all
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
        assert_eq!(gpu.kv, KvType::F16);
        for ty in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_1] {
            check_against_reference(&tiny(&SynthSpec::tiny(ty, 13)), gpu.clone(), 4);
        }
    }
}

#[test]
fn q8_kv_cache_stays_close_to_the_reference() {
    for backends in [wgpu::Backends::VULKAN, wgpu::Backends::GL] {
        let gpu = gpu(GpuOptions {
            backends: Some(backends),
            kv_q8: true,
            ..GpuOptions::default()
        });
        assert_eq!(gpu.kv, KvType::Q8_0);
        for ty in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_1] {
            // Prefill in steps of 4 and of 11 (the staging rows of a step),
            // then decode.
            for n_batch in [4, 11] {
                check_against_reference(&tiny(&SynthSpec::tiny(ty, 13)), gpu.clone(), n_batch);
            }
        }
    }
}

#[test]
fn q8_kv_cache_needs_a_width_in_blocks_of_32() {
    // KV width 24: no whole block of 32.
    let mut spec = SynthSpec::tiny(GgmlType::Q8_0, 3);
    spec.n_embd = 96;
    spec.n_head = 4;
    spec.n_head_kv = 1;
    let gpu = gpu(GpuOptions {
        kv_q8: true,
        ..GpuOptions::default()
    });
    let model = Model::from_gguf(&tiny(&spec), gpu, &LoadOptions::default(), |_| {}).unwrap();
    let err = Session::new(&model, &SessionOptions::default())
        .err()
        .expect("a q8_0 cache of width 24 is refused");
    assert!(err.to_string().contains("multiple of 32"), "{err}");
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
    let file = unfusable_mix(17);
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
        tuning: GpuTuning {
            max_binding_size: Some(8192),
            ..Default::default()
        },
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
        tuning: GpuTuning {
            int8_matvec: Some(false),
            ..GpuTuning::default()
        },
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
        Err(Error::BadToken { .. })
    ));
    assert!(
        s.history().is_empty(),
        "a failed step leaves the context unchanged"
    );
    let long: Vec<u32> = (0..65).map(|i| i % vocab).collect();
    assert!(matches!(
        s.feed(&long, Readback::LastLogits),
        Err(Error::ContextFull { .. })
    ));
    assert!(matches!(
        s.generate(&long, &Default::default(), |_| {
            rewind::session::Control::Continue
        }),
        Err(Error::PromptTooLong { .. })
    ));
}

fn q8(seed: u64) -> SynthSpec {
    SynthSpec::tiny(GgmlType::Q8_0, seed)
}

/// The largest difference between two runs' logits over all their steps.
fn max_diff_steps(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| max_diff(x, y))
        .fold(0.0, f32::max)
}

/// Checks a model with RoPE scaling (`edit` applied to the tiny spec) on the
/// GPU against the CPU reference, and that the scaling moved the reference
/// logits well past the tolerance from those of the same weights without it
/// (so neither side can pass by ignoring it).
fn check_rope_variant(gpu: &Arc<Gpu>, plain_spec: SynthSpec, edit: impl Fn(&mut SynthSpec)) {
    let mut spec = plain_spec.clone();
    edit(&mut spec);
    let file = tiny(&spec);
    let scaled = check_against_reference(&file, gpu.clone(), 4);
    let plain = check_against_reference(&tiny(&plain_spec), gpu.clone(), 4);
    let d = max_diff_steps(&scaled, &plain);
    assert!(
        d > 20.0 * TOL,
        "{spec:?}: scaling changed the logits by only {d}"
    );
}

#[test]
fn linear_rope_scaling_matches_the_reference() {
    let gpu = gpu(GpuOptions::default());
    check_rope_variant(&gpu, q8(31), |s| s.rope_scale = Some(4.0));
    let c = rewind::model::LlamaConfig::from_gguf(&tiny(&SynthSpec {
        rope_scale: Some(4.0),
        ..SynthSpec::tiny(GgmlType::Q8_0, 31)
    }))
    .unwrap();
    assert_eq!(c.rope_scale, 4.0);
}

#[test]
fn rope_freqs_tensor_matches_the_reference() {
    let gpu = gpu(GpuOptions::default());
    // head_dim 16: 8 pairs, each with its own divisor (Llama 3.1's factors
    // are 1 for the fast pairs and up to 8 for the slow ones; these also
    // slow down the fast pairs, which the 17 positions here can see).
    let factors = vec![1.0, 4.0, 2.5, 8.0, 0.5, 3.0, 1.5, 8.0];
    check_rope_variant(&gpu, q8(37), |s| {
        s.rope_freq_factors = Some(factors.clone())
    });
    // With linear scaling on top, and on the f16 KV cache.
    check_rope_variant(&gpu, q8(37), |s| {
        s.rope_freq_factors = Some(factors.clone());
        s.rope_scale = Some(2.0);
    });
    let f16 = self::gpu(GpuOptions {
        kv_f16: Some(true),
        ..GpuOptions::default()
    });
    let mut spec = SynthSpec::tiny(GgmlType::Q4_1, 41);
    spec.rope_freq_factors = Some(factors);
    check_against_reference(&tiny(&spec), f16, 4);
}

#[test]
fn partial_rotary_dims_match_the_reference() {
    let gpu = gpu(GpuOptions::default());
    // Only the first 8 of each head's 16 dims rotate.
    check_rope_variant(&gpu, q8(43), |s| s.rope_dim = Some(8));
    // The same with 4 frequency factors (one per rotated pair).
    check_rope_variant(&gpu, q8(47), |s| {
        s.rope_dim = Some(8);
        s.rope_freq_factors = Some(vec![2.0, 1.0, 4.0, 8.0]);
    });
    // Another head layout: 8 heads of 8 dims, 4 of them rotated.
    let spec = SynthSpec {
        n_head: 8,
        n_head_kv: 4,
        ..q8(53)
    };
    check_rope_variant(&gpu, spec, |s| s.rope_dim = Some(4));
}

fn load(file: &GgufFile, gpu: &Arc<Gpu>, opts: &LoadOptions) -> Result<Model, Error> {
    Model::from_gguf(file, gpu.clone(), opts, |_| {})
}

#[test]
fn context_size_comes_from_metadata_unless_overridden() {
    let gpu = gpu(GpuOptions::default());
    let spec = SynthSpec {
        n_ctx_train: 24,
        ..q8(59)
    };
    let model = load(&tiny(&spec), &gpu, &LoadOptions::default()).unwrap();
    assert_eq!(model.config().n_ctx_train, 24);
    let s = Session::new(&model, &SessionOptions::default()).unwrap();
    assert_eq!(s.n_ctx(), 24);
    assert_eq!(model.session_n_ctx(0), 24);

    // A long training context is capped by default.
    let long = SynthSpec {
        n_ctx_train: 131_072,
        ..q8(59)
    };
    let long = load(&tiny(&long), &gpu, &LoadOptions::default()).unwrap();
    let s = Session::new(&long, &SessionOptions::default()).unwrap();
    assert_eq!(s.n_ctx(), DEFAULT_MAX_N_CTX);

    // Overrides below and above the training context; past the override a
    // typed error, and the context is unchanged.
    let vocab = model.config().vocab_size as u32;
    for n_ctx in [10, 40] {
        let opts = SessionOptions {
            n_ctx,
            n_batch: 8,
            ..SessionOptions::default()
        };
        let mut s = Session::new(&model, &opts).unwrap();
        assert_eq!(s.n_ctx(), n_ctx);
        let tokens: Vec<u32> = (0..n_ctx as u32).map(|i| (i * 7 + 1) % vocab).collect();
        s.feed(&tokens[..n_ctx - 1], Readback::None).unwrap();
        s.feed(&tokens[n_ctx - 1..], Readback::Argmax).unwrap();
        assert_eq!(s.history().len(), n_ctx);
        match s.feed(&[1], Readback::LastLogits) {
            Err(Error::ContextFull { needed, n_ctx: n }) => {
                assert_eq!((needed, n), (n_ctx + 1, n_ctx));
            }
            other => panic!("expected ContextFull, got {other:?}"),
        }
        assert_eq!(s.history().len(), n_ctx);

        // Generation stops at the end of the context instead of failing.
        s.truncate(0);
        let opts = GenerateOptions {
            max_tokens: 100,
            ignore_eos: true,
            ..GenerateOptions::default()
        };
        let mut reason = None;
        s.generate(&tokens[..n_ctx - 3], &opts, |e| {
            if let Event::Done { reason: r, .. } = e {
                reason = Some(r);
            }
            Control::Continue
        })
        .unwrap();
        assert_eq!(reason, Some(StopReason::ContextFull));
        assert!(s.history().len() <= n_ctx);
    }
}

#[test]
fn memory_estimate_covers_what_is_allocated() {
    let mut untied = SynthSpec::tiny(GgmlType::Q4_1, 67);
    untied.embd_ty = Some(GgmlType::Q8_0);
    untied.tied_embeddings = false;
    let split = GpuOptions {
        tuning: GpuTuning {
            max_binding_size: Some(8192),
            ..Default::default()
        },
        ..GpuOptions::default()
    };
    let cases = [
        (tiny(&q8(61)), GpuOptions::default()),
        (
            tiny(&SynthSpec::tiny(GgmlType::F16, 61)),
            GpuOptions::default(),
        ),
        (tiny(&untied), GpuOptions::default()),
        (unfusable_mix(61), GpuOptions::default()),
        // Weights split into parts of at most 8 KiB.
        (tiny(&untied), split.clone()),
        (tiny(&SynthSpec::tiny(GgmlType::Q4_0, 61)), split),
        (
            tiny(&SynthSpec::tiny(GgmlType::Q8_0, 61)),
            GpuOptions {
                kv_f16: Some(true),
                ..GpuOptions::default()
            },
        ),
    ];
    for (i, (file, opts)) in cases.iter().enumerate() {
        let gpu = gpu(opts.clone());
        let config = LlamaConfig::from_gguf(file).unwrap();
        let est = estimate_gpu_memory(file, &config, &gpu, 64, 8).unwrap();
        let model = load(file, &gpu, &LoadOptions::default()).unwrap();
        let actual = model.weight_gpu_bytes();
        // Repacking keeps every type's size: near the file's bytes.
        assert!(actual >= model.weight_bytes(), "case {i}");
        assert!(
            est.weights >= actual && est.weights <= actual + actual / 100,
            "case {i}: estimated {} bytes of weights, allocated {actual}",
            est.weights
        );
        let session = Session::new(
            &model,
            &SessionOptions {
                n_ctx: 64,
                n_batch: 8,
                all_logits: false,
            },
        )
        .unwrap();
        assert_eq!(est.kv_cache, session.kv_cache_bytes(), "case {i}");
        // Scratch: at least the activations of 8 tokens and the logits
        // with their readback copy.
        let c = model.config();
        let floor = (8 * (c.n_embd + 2 * c.q_dim() + c.n_ff) + 2 * c.vocab_size) as u64 * 4;
        assert!(est.scratch >= floor, "case {i}: {} < {floor}", est.scratch);
        assert_eq!(est.total(), est.weights + est.kv_cache + est.scratch);
    }
}

#[test]
fn a_model_over_the_memory_budget_is_refused_before_uploading() {
    let gpu = gpu(GpuOptions::default());
    let file = tiny(&q8(71));
    let config = LlamaConfig::from_gguf(&file).unwrap();
    // What a load plans for: a default session (512 positions here).
    let needed = estimate_gpu_memory(&file, &config, &gpu, 0, 64).unwrap();
    let budget = needed.total() - 1;
    let opts = LoadOptions {
        gpu_memory_budget: Some(budget),
        ..LoadOptions::default()
    };
    let mut uploaded = 0;
    let err = Model::from_gguf(&file, gpu.clone(), &opts, |p| uploaded = p.done)
        .err()
        .expect("over the budget");
    assert_eq!(uploaded, 0, "nothing was uploaded");
    match &err {
        Error::OutOfGpuMemory {
            needed: n,
            n_ctx,
            budget: b,
        } => assert_eq!((n, *n_ctx, *b), (&needed, 512, Some(budget))),
        other => panic!("expected OutOfGpuMemory, got {other:?}"),
    }
    let msg = err.to_string();
    for part in [
        needed.total().to_string(),
        budget.to_string(),
        rewind::model::format_bytes(needed.weights),
        "KV cache".to_string(),
        "scratch".to_string(),
    ] {
        assert!(msg.contains(&part), "`{part}` not in: {msg}");
    }

    // Exactly the budget loads; a larger planned context doesn't fit it.
    let opts = LoadOptions {
        gpu_memory_budget: Some(needed.total()),
        ..LoadOptions::default()
    };
    load(&file, &gpu, &opts).unwrap();
    let opts = LoadOptions {
        n_ctx: 4096,
        ..opts
    };
    match load(&file, &gpu, &opts).err() {
        Some(Error::OutOfGpuMemory {
            needed: n, n_ctx, ..
        }) => {
            assert_eq!(n_ctx, 4096);
            assert_eq!(n.kv_cache, needed.kv_cache * 8);
            assert_eq!(n.weights, needed.weights);
        }
        other => panic!("expected OutOfGpuMemory, got {other:?}"),
    }
}

#[test]
fn buffers_over_the_adapter_limits_are_refused_before_uploading() {
    // 32-byte bindings: not even one 64-wide Q8_0 row (64 + 4 bytes) fits.
    let gpu = gpu(GpuOptions {
        tuning: GpuTuning {
            max_binding_size: Some(32),
            ..Default::default()
        },
        ..GpuOptions::default()
    });
    let file = tiny(&q8(73));
    let mut uploaded = 0;
    let err = Model::from_gguf(&file, gpu, &LoadOptions::default(), |p| uploaded = p.done)
        .err()
        .expect("over the limits");
    assert!(
        matches!(&err, Error::Gpu(GpuError::TooLarge { limit: 32, .. })),
        "{err:?}"
    );
    assert_eq!(uploaded, 0);
}
