//! Every failure reaches the caller as one `rewind::Error` whose `kind()`
//! says what kind it is, through the front door only (what a C ABI maps to
//! status codes).

use rewind::gguf::Value;
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::quant::GgmlType;
use rewind::{
    Error, ErrorKind, GenerateOptions, LoadOptions, Model, SamplerConfig, Session, SessionOptions,
};

/// A tiny synthetic model written to a temporary file, with `edit` applied
/// to its GGUF writer first.
fn model_file(name: &str, edit: impl FnOnce(&mut rewind::gguf::GgufWriter)) -> std::path::PathBuf {
    let mut w = synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 7)).unwrap();
    edit(&mut w);
    let path =
        std::env::temp_dir().join(format!("rewind-errors-{}-{name}.gguf", std::process::id()));
    w.write_file(&path).unwrap();
    path
}

fn load_err(path: &std::path::Path, opts: &LoadOptions) -> Error {
    match Model::load(path, opts) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e,
    }
}

#[test]
fn load_failures_have_their_kind() {
    let opts = LoadOptions::default();
    let missing = std::env::temp_dir().join("rewind-errors-no-such-model.gguf");
    let e = load_err(&missing, &opts);
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("no-such-model"),
        "names the file: {e}"
    );

    let good = model_file("good", |_| {});
    let bytes = std::fs::read(&good).unwrap();
    let truncated = good.with_extension("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(&truncated, &opts);
    assert_eq!(e.kind(), ErrorKind::InvalidModel, "{e}");

    let other_arch = model_file("arch", |w| {
        w.add_metadata("general.architecture", Value::String("mamba".into()));
    });
    let e = load_err(&other_arch, &opts);
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("mamba"), "{e}");

    let budget = LoadOptions {
        gpu_memory_budget: Some(1024),
        ..LoadOptions::default()
    };
    let e = load_err(&good, &budget);
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    assert!(matches!(e, Error::OutOfGpuMemory { .. }));

    // The estimate an app checks before loading is the one the budget used.
    let needed = Model::estimate_memory(&good, &opts).unwrap();
    assert!(needed.total() > 1024);

    for p in [good, truncated, other_arch] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn session_failures_have_their_kind() {
    let path = model_file("session", |_| {});
    let model = Model::load(&path, &LoadOptions::default()).unwrap();
    let _ = std::fs::remove_file(&path);
    let info = model.device_info();
    assert!(!info.adapter.is_empty());
    assert!(info.max_binding_size > 0);

    let sessions = |n_ctx, n_batch| {
        Session::new(
            &model,
            &SessionOptions {
                n_ctx,
                n_batch,
                all_logits: false,
            },
        )
    };
    let e = sessions(16, 0).err().expect("n_batch 0");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

    let mut s = sessions(16, 4).unwrap();
    let vocab = model.config().vocab_size as u32;
    let e = s.generate(&[vocab], &GenerateOptions::default(), |_| {
        rewind::Control::Continue
    });
    let e = e.expect_err("token past the vocabulary");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(s.history().is_empty(), "nothing was fed");

    let e = s
        .generate(&[1; 16], &GenerateOptions::default(), |_| {
            rewind::Control::Continue
        })
        .expect_err("prompt as long as the context");
    assert_eq!(e.kind(), ErrorKind::ContextFull, "{e}");

    let bad_sampler = GenerateOptions {
        sampler: SamplerConfig {
            top_p: 2.0,
            ..SamplerConfig::default()
        },
        ..GenerateOptions::default()
    };
    let e = s
        .generate(&[1, 2], &bad_sampler, |_| rewind::Control::Continue)
        .expect_err("top_p 2");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

    let e = s.restore_state(b"nope").expect_err("not a state");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

    let e = model
        .detokenize(&[vocab + 5])
        .expect_err("id past the vocabulary");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let ids = model.tokenize("hi there", false).unwrap();
    assert_eq!(model.detokenize(&ids).unwrap(), "hi there");
}

/// Broken weights (NaN) give an error of their own, on both readback paths
/// (the GPU's argmax for plain greedy decoding, the sampler otherwise),
/// not a stream of token 0.
#[test]
fn nan_weights_are_an_error_not_garbage() {
    let bytes = synth_llama(&SynthSpec::tiny(GgmlType::F32, 11))
        .unwrap()
        .to_bytes()
        .unwrap();
    let file = rewind::gguf::GgufFile::from_bytes(bytes.clone()).unwrap();
    let norm = file.tensor("output_norm.weight").unwrap();
    let at = (file.data_offset() + norm.offset) as usize;
    let mut broken = bytes;
    for w in broken[at..at + norm.n_bytes as usize].chunks_exact_mut(4) {
        w.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    let path = std::env::temp_dir().join(format!("rewind-errors-{}-nan.gguf", std::process::id()));
    std::fs::write(&path, &broken).unwrap();
    let model = Model::load(&path, &LoadOptions::default()).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut s = Session::new(&model, &SessionOptions::default()).unwrap();
    for sampler in [SamplerConfig::greedy(), SamplerConfig::default()] {
        let opts = GenerateOptions {
            sampler,
            max_tokens: 4,
            ..GenerateOptions::default()
        };
        let e = s
            .generate(&[1, 2, 3], &opts, |_| rewind::Control::Continue)
            .expect_err("NaN logits");
        assert!(matches!(e, Error::NoFiniteLogits), "{e}");
        assert_eq!(e.kind(), ErrorKind::InvalidModel);
    }
}

/// A session whose KV cache can't be allocated is refused before anything
/// is built, and the model goes on working.
#[test]
fn a_kv_cache_too_large_is_refused_and_the_model_still_works() {
    let path = model_file("kv", |_| {});
    let model = Model::load(&path, &LoadOptions::default()).unwrap();
    let _ = std::fs::remove_file(&path);
    let huge = SessionOptions {
        n_ctx: 1 << 30,
        ..SessionOptions::default()
    };
    let e = Session::new(&model, &huge).err().expect("a huge KV cache");
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    let mut s = Session::new(&model, &SessionOptions::default()).unwrap();
    let stats = s
        .generate(
            &[1, 2],
            &GenerateOptions {
                max_tokens: 2,
                ..GenerateOptions::default()
            },
            |_| rewind::Control::Continue,
        )
        .unwrap();
    assert!(stats.generated_tokens > 0);
}
