//! Many threads on one model: eight sessions generating at once with
//! different seeds and reset policies, cancelled and dropped in the middle;
//! every generation that completes equals the same request run alone.

#[macro_use]
mod common;

use common::On;
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::quant::GgmlType;
use rewind::{
    BacktrackOptions, CancelFlag, Control, Event, GenerateOptions, Model, ResetPolicy,
    SamplerConfig, Session, SessionOptions, StopReason,
};

/// `[RESET]` and end-of-text in the synthetic vocabulary.
const RESET: u32 = 259;
const EOS: u32 = 258;
const THREADS: usize = 8;
/// Times the eight threads run together (each a different interleaving).
const ROUNDS: usize = 4;

fn model(path: On) -> Model {
    let bytes = synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 5))
        .unwrap()
        .to_bytes()
        .unwrap();
    common::model_on(path, bytes, None)
}

fn session(model: &Model) -> Session {
    let opts = SessionOptions {
        n_ctx: 128,
        n_batch: 8,
        all_logits: false,
    };
    Session::new(model, &opts).unwrap()
}

/// Request `i`: its own prompt, seed and policy; every other one resets
/// once (a bias on the reset token at one step).
fn request(i: usize) -> (Vec<u32>, GenerateOptions) {
    let prompt: Vec<u32> = [257, 72, 105]
        .into_iter()
        .chain([65 + i as u32; 5])
        .collect();
    let mut sampler = SamplerConfig {
        temperature: 0.9,
        seed: 1000 + i as u64,
        ..SamplerConfig::default()
    };
    sampler.logit_bias.push((EOS, f32::NEG_INFINITY));
    let reset_step = i.is_multiple_of(2).then_some(3 + i % 4);
    let opts = GenerateOptions {
        sampler,
        max_tokens: 24,
        ignore_eos: true,
        backtrack: BacktrackOptions {
            policy: if i.is_multiple_of(3) {
                ResetPolicy::KeepContext
            } else {
                ResetPolicy::Rollback
            },
            ..BacktrackOptions::default()
        },
        logits_processor: Some(rewind::session::LogitsProcessor::new(
            move |step, logits| {
                logits[RESET as usize] = if Some(step) == reset_step {
                    1e4
                } else {
                    f32::NEG_INFINITY
                };
            },
        )),
        ..GenerateOptions::default()
    };
    (prompt, opts)
}

/// What a UI would show at the end, the reset count and the context.
#[derive(Debug, PartialEq)]
struct Outcome {
    visible: String,
    resets: usize,
    reason: StopReason,
    history: Vec<u32>,
}

/// Runs request `i` on `s`; `cancel_after` cancels it after that many
/// text events.
fn run(s: &mut Session, i: usize, cancel_after: Option<usize>) -> Outcome {
    let (prompt, mut opts) = request(i);
    let cancel = CancelFlag::new();
    opts.cancel = Some(cancel.clone());
    let (mut visible, mut resets, mut texts, mut reason) = (String::new(), 0, 0, None);
    s.generate(&prompt, &opts, |ev| {
        match ev {
            Event::Text(t) => {
                visible.push_str(t);
                texts += 1;
                if Some(texts) == cancel_after {
                    cancel.cancel();
                }
            }
            Event::Reset { .. } => {
                visible.clear();
                resets += 1;
            }
            Event::Done { reason: r, .. } => reason = Some(r),
        }
        Control::Continue
    })
    .unwrap();
    Outcome {
        visible,
        resets,
        reason: reason.expect("a Done event"),
        history: s.history().to_vec(),
    }
}

/// Request `i` as a session sees it: a whole run, a run cancelled
/// mid-answer, and the same request again on that session (it rolls back
/// to the prompt); returns the two whole runs.
fn sequence(m: &Model, i: usize) -> Vec<Outcome> {
    let mut s = session(m);
    let first = run(&mut s, i, None);
    let cancelled = run(&mut s, i, Some(1 + i % 3));
    assert_eq!(cancelled.reason, StopReason::Cancelled);
    vec![first, run(&mut s, i, None)]
}

fn eight_threads_on_one_model_equal_each_request_alone(path: On) {
    let m = model(path);
    let start = std::time::Instant::now();
    let alone: Vec<Vec<Outcome>> = (0..THREADS).map(|i| sequence(&m, i)).collect();
    assert!(
        alone.iter().any(|o| o[0].resets == 1),
        "some requests reset"
    );
    assert!(alone.iter().all(|o| o[0].reason == StopReason::MaxTokens));

    let mut complete = Vec::new();
    for round in 0..ROUNDS {
        let together: Vec<Vec<Outcome>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let m = &m;
                    scope.spawn(move || {
                        // A session dropped in the middle of a cancelled turn.
                        let o = run(&mut session(m), i, Some(2));
                        assert_eq!(o.reason, StopReason::Cancelled);
                        sequence(m, i)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (t, a)) in together.iter().zip(&alone).enumerate() {
            assert_eq!(t, a, "round {round}, request {i}");
        }
        complete.extend(together.into_iter().flatten());
    }
    eprintln!(
        "{path:?}: {THREADS} threads x {ROUNDS} rounds, {} complete generations ({} tokens of \
         context, {} resets) equal to the same requests alone; {} cancelled mid-answer, {} of \
         them in sessions dropped mid-turn; {:.2} s in all",
        complete.len(),
        complete.iter().map(|o| o.history.len()).sum::<usize>(),
        complete.iter().map(|o| o.resets).sum::<usize>(),
        2 * THREADS * ROUNDS,
        THREADS * ROUNDS,
        start.elapsed().as_secs_f64()
    );
}

on_both_paths!(eight_threads_on_one_model_equal_each_request_alone);
