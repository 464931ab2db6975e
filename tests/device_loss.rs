//! A lost GPU device (a driver reset, a removed GPU; simulated with
//! `Device::destroy`): the running and every later generation fail with
//! `ErrorKind::DeviceLost`, never a panic; dropping the session and the
//! model is clean; a model loaded again works.

use std::sync::Arc;

use rewind::gguf::GgufFile;
use rewind::gpu::{Gpu, GpuOptions};
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::quant::GgmlType;
use rewind::session::LogitsProcessor;
use rewind::{
    Control, ErrorKind, GenerateOptions, LoadOptions, Model, SamplerConfig, Session, SessionOptions,
};

fn load() -> (Model, Arc<Gpu>) {
    let gpu = Gpu::new(&GpuOptions::default()).expect("a wgpu adapter");
    let bytes = synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 3))
        .unwrap()
        .to_bytes()
        .unwrap();
    let file = GgufFile::from_bytes(bytes).unwrap();
    let model = Model::from_gguf(&file, gpu.clone(), &LoadOptions::default(), |_| {}).unwrap();
    (model, gpu)
}

fn session(model: &Model) -> Result<Session, rewind::Error> {
    let opts = SessionOptions {
        n_ctx: 64,
        n_batch: 4,
        all_logits: false,
    };
    Session::new(model, &opts)
}

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        sampler: SamplerConfig::greedy(),
        max_tokens,
        ignore_eos: true,
        ..GenerateOptions::default()
    }
}

const PROMPT: &[u32] = &[257, 72, 105, 33, 10, 65, 66, 67, 68];

#[test]
fn a_lost_device_is_an_error_of_its_kind() {
    let (model, gpu) = load();
    let mut s = session(&model).unwrap();
    let before = s
        .generate(PROMPT, &greedy(4), |_| Control::Continue)
        .unwrap();
    assert_eq!(before.generated_tokens, 4);

    // Lost in the middle of a generation (at its third token).
    let mut opts = greedy(32);
    let lose = gpu.clone();
    opts.logits_processor = Some(LogitsProcessor::new(move |step, _| {
        if step == 2 {
            lose.destroy();
        }
    }));
    let err = s
        .generate(&[257, 70, 71], &opts, |_| Control::Continue)
        .expect_err("the device was lost mid-generation");
    assert_eq!(err.kind(), ErrorKind::DeviceLost, "{err}");

    // And every later use.
    let err = s
        .generate(PROMPT, &greedy(4), |_| Control::Continue)
        .expect_err("a lost device");
    assert_eq!(err.kind(), ErrorKind::DeviceLost, "{err}");
    let err = session(&model).err().expect("a session on a lost device");
    assert_eq!(err.kind(), ErrorKind::DeviceLost, "{err}");
    let err = s.save_state().expect_err("state from a lost device");
    assert_eq!(err.kind(), ErrorKind::DeviceLost, "{err}");
    drop(s);
    drop(model);
    drop(gpu);

    // A model loaded again works.
    let (model, _gpu) = load();
    let mut s = session(&model).unwrap();
    let again = s
        .generate(PROMPT, &greedy(4), |_| Control::Continue)
        .unwrap();
    assert_eq!(again.generated_tokens, 4);
}
