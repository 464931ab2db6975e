//! What embedders (the C ABI and JNI binding in ffi/) need from the library:
//! loading a model from memory and from a range of an open file (an APK
//! asset handed over as a descriptor), the size of a session's saved state
//! before saving it, and a cancel that comes before a generation, or during
//! its prompt.

mod common;

use std::io::Write;

use rewind::session::{
    CancelFlag, Control, Event, GenerateOptions, Session, SessionOptions, StopReason,
};
use rewind::{Device, ErrorKind, LoadOptions, Message, Model, SamplerConfig};

fn demo_path() -> std::path::PathBuf {
    common::crate_root().join("models/demo-backtrack.gguf")
}

/// The last-token logits of a fixed chat prompt.
fn logits(model: &Model) -> Vec<f32> {
    let mut s = Session::new(model, &SessionOptions::default()).unwrap();
    let prompt = model.chat_tokens(&[Message::user("Hello!")]).unwrap();
    s.logits_after(&prompt).unwrap()
}

#[test]
fn a_model_loads_the_same_from_a_path_memory_and_a_file_range() {
    let bytes = std::fs::read(demo_path()).unwrap();
    // The model inside a larger file, at an offset no page or alignment
    // rule would pick, as in an APK.
    let path = std::env::temp_dir().join(format!("rewind-embedding-{}.bin", std::process::id()));
    let offset = 4099;
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&vec![7u8; offset]).unwrap();
    f.write_all(&bytes).unwrap();
    f.write_all(b"trailing bytes").unwrap();
    drop(f);
    let open = || std::fs::File::open(&path).unwrap();
    let len = Some(bytes.len() as u64);

    for device in [Device::Gpu, Device::Cpu] {
        let opts = LoadOptions {
            device,
            ..LoadOptions::default()
        };
        let want = logits(&Model::load(demo_path(), &opts).unwrap());
        let from_memory = Model::load_from_memory(&bytes, &opts, |_| {}).unwrap();
        assert_eq!(logits(&from_memory), want, "{device:?}: from memory");
        let mut progress = 0;
        let from_file =
            Model::load_from_file(open(), offset as u64, len, &opts, |_| progress += 1).unwrap();
        assert!(progress > 0);
        assert_eq!(logits(&from_file), want, "{device:?}: from a file range");

        // A range past the end of the file is refused before it is mapped;
        // a range that isn't the model is not a model.
        let past = Some(bytes.len() as u64 + 100);
        let e = Model::load_from_file(open(), offset as u64, past, &opts, |_| {})
            .err()
            .expect("a range past the end fails");
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.to_string().contains("past the end"), "{e}");
        let whole = Model::load_from_file(open(), 0, None, &opts, |_| {});
        assert_eq!(whole.err().unwrap().kind(), ErrorKind::InvalidModel);
        let truncated = Model::load_from_memory(&bytes[..bytes.len() / 2], &opts, |_| {});
        assert_eq!(truncated.err().unwrap().kind(), ErrorKind::InvalidModel);
    }
    std::fs::remove_file(&path).unwrap();
}

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        sampler: SamplerConfig::greedy(),
        max_tokens,
        ignore_eos: true,
        ..GenerateOptions::default()
    }
}

fn run(s: &mut Session, prompt: &[u32], opts: &GenerateOptions) -> (StopReason, rewind::Stats) {
    let mut reason = None;
    let stats = s
        .generate(prompt, opts, |e| {
            if let Event::Done { reason: r, .. } = e {
                reason = Some(r);
            }
            Control::Continue
        })
        .unwrap();
    (reason.unwrap(), stats)
}

#[test]
fn the_state_size_is_known_before_saving() {
    for device in [Device::Gpu, Device::Cpu] {
        let opts = LoadOptions {
            device,
            ..LoadOptions::default()
        };
        let model = Model::load(demo_path(), &opts).unwrap();
        let mut s = Session::new(&model, &SessionOptions::default()).unwrap();
        assert_eq!(s.state_size(), s.save_state().unwrap().len());
        let prompt = model.chat_tokens(&[Message::user("Hello!")]).unwrap();
        for n in [1, 3, 8] {
            run(&mut s, &prompt, &greedy(n));
            let size = s.save_state().unwrap().len();
            assert_eq!(s.state_size(), size, "{device:?}, after {n} tokens");
        }
    }
}

#[test]
fn a_cancel_stops_a_long_prompt_between_steps() {
    let model = Model::load(demo_path(), &LoadOptions::default()).unwrap();
    let opts = SessionOptions {
        n_ctx: 256,
        n_batch: 8,
        ..SessionOptions::default()
    };
    let mut s = Session::new(&model, &opts).unwrap();
    let prompt: Vec<u32> = (0..200).map(|i| 10 + i % 50).collect();

    // Cancelled before it starts: nothing runs.
    let cancel = CancelFlag::new();
    cancel.cancel();
    let o = GenerateOptions {
        cancel: Some(cancel),
        ..greedy(4)
    };
    let (reason, stats) = run(&mut s, &prompt, &o);
    assert_eq!(reason, StopReason::Cancelled);
    assert_eq!((stats.prompt_tokens, stats.generated_tokens), (0, 0));
    assert!(s.history().is_empty());

    // Stopped after three steps of the prompt (asked before each step
    // after the first): those stay in the context, and the next generation
    // reuses them.
    let asked = std::cell::Cell::new(0);
    let out = s
        .context_mut()
        .feed_until(&prompt, rewind::model::Readback::LastLogits, || {
            asked.set(asked.get() + 1);
            asked.get() == 3
        })
        .unwrap();
    assert!(out.is_none());
    assert_eq!(s.history(), &prompt[..24]);
    let (reason, stats) = run(&mut s, &prompt, &greedy(1));
    assert_eq!(reason, StopReason::MaxTokens);
    assert_eq!(stats.prompt_tokens, prompt.len() - 24);
}
