//! Backtracking on tiny random models whose vocabulary has `[RESET]`, on
//! the GPU path and on the native CPU path (every test runs on both).
//! Resets are forced at a chosen step with a logits processor (a bias on the
//! reset token at that step only) or through the guard hook.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use common::On;
use rewind::ErrorKind;
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::model::{Model, StateError};
use rewind::quant::GgmlType;
use rewind::sample::SamplerConfig;
use rewind::session::{
    BacktrackOptions, CancelFlag, Control, Event, GenerateOptions, Guard, LogitsProcessor,
    ResetCause, ResetPolicy, ResetToken, Session, SessionOptions, Stats, StopReason, Verdict,
};

/// `[RESET]` in the synthetic vocabulary (after 256 bytes and 3 specials).
const RESET: u32 = 259;
const EOS: u32 = 258;
const PROMPT: &[u32] = &[257, 72, 105, 33, 10, 258, 257, 65];

/// The tiny model on `path` (each test runs on both, see the end).
fn model(path: On) -> Model {
    let bytes = synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 42))
        .unwrap()
        .to_bytes()
        .unwrap();
    common::model_on(path, bytes, None)
}

fn session(model: &Model) -> Session {
    let opts = SessionOptions {
        n_ctx: 128,
        n_batch: 4,
        all_logits: false,
    };
    Session::new(model, &opts).unwrap()
}

/// Greedy, never ending by itself; `reset_at` forces `[RESET]` at those steps.
fn opts(reset_at: &[usize], policy: ResetPolicy, max_tokens: usize) -> GenerateOptions {
    let steps = reset_at.to_vec();
    let mut sampler = SamplerConfig::greedy();
    sampler.logit_bias.push((EOS, f32::NEG_INFINITY));
    GenerateOptions {
        sampler,
        max_tokens,
        backtrack: BacktrackOptions {
            policy,
            max_resets: 4,
            ..BacktrackOptions::default()
        },
        logits_processor: Some(LogitsProcessor::new(move |step, logits| {
            // Unforced steps never pick the reset token by chance.
            logits[RESET as usize] = if steps.contains(&step) {
                1e4
            } else {
                f32::NEG_INFINITY
            };
        })),
        ..GenerateOptions::default()
    }
}

#[derive(Default, Debug)]
struct Transcript {
    /// Text events, in order.
    texts: Vec<String>,
    /// (discarded, cause) of each reset.
    resets: Vec<(String, ResetCause)>,
    reason: Option<StopReason>,
    /// Text shown since the last reset: what a UI displays at the end.
    visible: String,
}

fn run(s: &mut Session, prompt: &[u32], o: &GenerateOptions) -> (Transcript, Stats) {
    let mut t = Transcript::default();
    let stats = s
        .generate(prompt, o, |ev| {
            match ev {
                Event::Text(x) => {
                    t.texts.push(x.to_string());
                    t.visible.push_str(x);
                }
                Event::Reset { discarded, cause } => {
                    assert_eq!(
                        discarded, t.visible,
                        "a reset discards exactly what was shown"
                    );
                    t.resets.push((discarded.to_string(), cause));
                    t.visible.clear();
                }
                Event::Done { reason, .. } => t.reason = Some(reason),
            }
            Control::Continue
        })
        .unwrap();
    (t, stats)
}

fn decode(m: &Model, ids: &[u32]) -> String {
    m.tokenizer().decode(ids, true).unwrap()
}

fn rollback_leaves_no_trace_of_the_discarded_tokens(path: On) {
    let m = model(path);
    let mut s = session(&m);
    // What the model says without a reset: its first 3 tokens get discarded below.
    let (plain, _) = run(&mut s, PROMPT, &opts(&[], ResetPolicy::Rollback, 3));
    let discarded_ids = s.history()[PROMPT.len()..].to_vec();

    let (t, stats) = run(&mut s, PROMPT, &opts(&[3], ResetPolicy::Rollback, 12));
    assert_eq!(t.resets, vec![(plain.visible.clone(), ResetCause::Model)]);
    assert_eq!(stats.resets, 1);
    assert_eq!(stats.discarded_tokens, 3);
    assert_eq!(
        stats.generated_tokens, 12,
        "tokens before the reset count toward max_tokens"
    );
    // The context: prompt, [RESET] at the checkpoint, then the visible answer.
    let h = s.history();
    assert_eq!(&h[..PROMPT.len()], PROMPT);
    assert_eq!(h[PROMPT.len()], RESET);
    let answer = &h[PROMPT.len() + 1..];
    assert_eq!(answer.len(), 12 - 3 - 1);
    assert_eq!(decode(&m, answer), t.visible);
    assert!(
        !h[PROMPT.len()..]
            .windows(3)
            .any(|w| w == discarded_ids.as_slice())
    );
}

fn after_a_rollback_the_logits_equal_a_fresh_sessions(path: On) {
    // Same device, same kernels, same step shapes (prompt in steps of 4, then
    // one token): the cache rows before the checkpoint are identical and the
    // rows after it are never read, so the logits are bit-identical.
    let m = model(path);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut o = opts(&[5], ResetPolicy::Rollback, 7);
    let inner = o.logits_processor.clone().unwrap();
    let seen2 = seen.clone();
    o.logits_processor = Some(LogitsProcessor::new(move |step, logits| {
        if step == 6 {
            seen2.lock().unwrap().push(logits.to_vec());
        }
        (inner.0)(step, logits);
    }));
    let mut s = session(&m);
    run(&mut s, PROMPT, &o);
    let after_rollback = seen.lock().unwrap().pop().expect("step 6 was sampled");

    let mut fresh = session(&m);
    fresh.logits_after(PROMPT).unwrap();
    let want = fresh.logits_after(&[RESET]).unwrap();
    assert_eq!(after_rollback.len(), want.len());
    let same = after_rollback
        .iter()
        .zip(&want)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(
        same,
        "logits after a rollback differ from a fresh session's"
    );
}

fn keep_context_keeps_the_prefix_during_the_turn_but_not_after(path: On) {
    let m = model(path);
    let mut s = session(&m);
    let (t, stats) = run(&mut s, PROMPT, &opts(&[3], ResetPolicy::KeepContext, 9));
    assert_eq!(stats.resets, 1);
    assert_eq!(t.resets.len(), 1);
    // The history holds only what the user saw.
    let answer = s.history()[PROMPT.len()..].to_vec();
    assert_eq!(answer.len(), 9 - 3 - 1);
    assert!(!answer.contains(&RESET));
    assert_eq!(decode(&m, &answer), t.visible);
    // During the turn the model saw prompt + discarded + [RESET]: the answer
    // is the greedy continuation of exactly that context.
    let mut fresh = session(&m);
    let (plain, _) = run(&mut fresh, PROMPT, &opts(&[], ResetPolicy::Rollback, 3));
    assert_eq!(plain.visible, t.resets[0].0);
    let mut ctx = fresh.history().to_vec();
    ctx.push(RESET);
    let mut expect = Vec::new();
    let mut logits = fresh.logits_after(&[RESET]).unwrap();
    for _ in 0..answer.len() {
        logits[EOS as usize] = f32::NEG_INFINITY;
        logits[RESET as usize] = f32::NEG_INFINITY;
        let best =
            (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b }) as u32;
        expect.push(best);
        ctx.push(best);
        logits = fresh.logits_after(&[best]).unwrap();
    }
    assert_eq!(answer, expect);
}

fn a_prefill_is_discarded_by_a_reset(path: On) {
    let m = model(path);
    let mut s = session(&m);
    let mut o = opts(&[0], ResetPolicy::Rollback, 6);
    o.prefill = "Sure! The code is".into();
    let (t, stats) = run(&mut s, PROMPT, &o);
    assert_eq!(
        t.texts.first().map(String::as_str),
        Some("Sure! The code is")
    );
    assert_eq!(
        t.resets,
        vec![("Sure! The code is".to_string(), ResetCause::Model)]
    );
    assert_eq!(
        stats.discarded_tokens,
        "Sure! The code is".len(),
        "byte-level vocabulary"
    );
    assert!(!t.visible.contains("Sure!"));
    assert_eq!(s.history()[PROMPT.len()], RESET);
    assert_eq!(s.history().len(), PROMPT.len() + 6);
}

fn max_resets_masks_the_reset_token(path: On) {
    let m = model(path);
    let mut s = session(&m);
    // The processor pushes [RESET] at every step; only two resets happen.
    let mut o = opts(&(0..20).collect::<Vec<_>>(), ResetPolicy::Rollback, 10);
    o.backtrack.max_resets = 2;
    let (t, stats) = run(&mut s, PROMPT, &o);
    assert_eq!(stats.resets, 2);
    assert_eq!(t.resets.len(), 2);
    assert_eq!(stats.generated_tokens, 10);
    assert_eq!(
        s.history()[PROMPT.len()..]
            .iter()
            .filter(|&&x| x == RESET)
            .count(),
        1
    );
}

fn reset_bias_shifts_the_reset_logit(path: On) {
    let m = model(path);
    let base = |bias: f32| {
        let mut sampler = SamplerConfig::greedy();
        sampler.logit_bias.push((EOS, f32::NEG_INFINITY));
        GenerateOptions {
            sampler,
            max_tokens: 4,
            backtrack: BacktrackOptions {
                reset_bias: bias,
                ..BacktrackOptions::default()
            },
            ..GenerateOptions::default()
        }
    };
    let mut s = session(&m);
    let (_, none) = run(&mut s, PROMPT, &base(-1e4));
    assert_eq!(none.resets, 0);
    let (t, some) = run(&mut s, PROMPT, &base(1e4));
    assert_eq!(some.resets, 1, "a large bias makes the model reset at once");
    assert_eq!(t.resets[0].0, "", "nothing was shown before the reset");
}

fn holdback_never_shows_text_a_reset_discards(path: On) {
    let m = model(path);
    let mut s = session(&m);
    let mut o = opts(&[3], ResetPolicy::Rollback, 12);
    o.backtrack.holdback = 4;
    let (t, _) = run(&mut s, PROMPT, &o);
    assert_eq!(t.resets.len(), 1);
    assert_eq!(t.resets[0].0, "", "held-back text is dropped, never shown");
    // Everything shown is the final answer.
    assert_eq!(t.texts.concat(), t.visible);
    let answer = &s.history()[PROMPT.len() + 1..];
    assert_eq!(decode(&m, answer), t.visible);
}

fn a_guard_resets_through_the_same_path(path: On) {
    let m = model(path);
    let mut s = session(&m);
    let mut o = opts(&[], ResetPolicy::Rollback, 10);
    o.backtrack.max_resets = 1;
    o.guard = Some(Guard::new(|text| {
        if text.chars().count() >= 2 {
            Verdict::Reset
        } else {
            Verdict::Allow
        }
    }));
    let (t, stats) = run(&mut s, PROMPT, &o);
    assert_eq!(stats.resets, 1, "max_resets caps guard resets too");
    assert_eq!(t.resets[0].1, ResetCause::Guard);
    assert_eq!(s.history()[PROMPT.len()], RESET);
    let answer = &s.history()[PROMPT.len() + 1..];
    assert_eq!(decode(&m, answer), t.visible);
}

fn cancellation_from_another_thread(path: On) {
    let m = model(path);
    let mut s = session(&m);
    let cancel = CancelFlag::new();
    let mut o = opts(&[], ResetPolicy::Rollback, 10_000);
    o.cancel = Some(cancel.clone());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let canceller = std::thread::spawn(move || {
        rx.recv().unwrap();
        cancel.cancel();
        done_tx.send(()).unwrap();
    });
    let mut sent = false;
    let mut reason = None;
    s.generate(PROMPT, &o, |ev| {
        match ev {
            Event::Text(_) if !sent => {
                // Wait for the other thread's cancel: on a loaded machine it
                // could otherwise run only after the context is full.
                tx.send(()).unwrap();
                done_rx.recv().unwrap();
                sent = true;
            }
            Event::Done { reason: r, .. } => reason = Some(r),
            _ => {}
        }
        Control::Continue
    })
    .unwrap();
    canceller.join().unwrap();
    assert_eq!(reason, Some(StopReason::Cancelled));
    assert!(s.history().len() < PROMPT.len() + 32);
}

fn save_and_restore_round_trip(path: On) {
    let m = model(path);
    let mut a = session(&m);
    run(&mut a, PROMPT, &opts(&[2], ResetPolicy::Rollback, 6));
    let state = a.save_state().unwrap();
    assert_eq!(&state[..4], b"RWND");
    let mut b = session(&m);
    b.restore_state(&state).unwrap();
    assert_eq!(a.history(), b.history());
    let la = a.logits_after(&[65]).unwrap();
    let lb = b.logits_after(&[65]).unwrap();
    assert_eq!(la, lb);
}

/// The CPU path's cache is laid out by its capacity (head-major), the saved
/// state by position: a state moves between sessions of any size.
fn a_state_restores_into_sessions_of_other_sizes(path: On) {
    let m = model(path);
    let mut a = session(&m);
    let empty = a.save_state().unwrap();
    run(&mut a, PROMPT, &opts(&[], ResetPolicy::Rollback, 6));
    let state = a.save_state().unwrap();
    let want = a.logits_after(&[65]).unwrap();
    restores_in_other_sizes(&m, &[&empty, &state], &want);
}

/// Restores `states` in turn into sessions of 32 and of 512 positions: each
/// saves back byte for byte, and the last gives `want` after token 65.
fn restores_in_other_sizes(m: &Model, states: &[&[u8]], want: &[f32]) {
    for n_ctx in [32, 512] {
        let o = SessionOptions {
            n_ctx,
            n_batch: 4,
            all_logits: false,
        };
        let mut b = Session::new(m, &o).unwrap();
        for &state in states {
            b.restore_state(state).unwrap();
            assert_eq!(b.save_state().unwrap(), state, "n_ctx {n_ctx}");
        }
        assert_eq!(b.logits_after(&[65]).unwrap(), want, "n_ctx {n_ctx}");
    }
}

/// Both paths save the same bytes for the same cache: a state saved on
/// the GPU path restores on the CPU path and saves back unchanged.
#[test]
fn a_state_moves_between_the_paths() {
    let bytes = || {
        synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 42))
            .unwrap()
            .to_bytes()
            .unwrap()
    };
    for f16 in [false, true] {
        let gpu = common::model_on(On::Gpu, bytes(), Some(f16));
        let cpu = common::model_on(On::Cpu, bytes(), Some(f16));
        let mut a = session(&gpu);
        run(&mut a, PROMPT, &opts(&[], ResetPolicy::Rollback, 6));
        let state = a.save_state().unwrap();
        let mut b = session(&cpu);
        b.restore_state(&state).unwrap();
        assert_eq!(a.history(), b.history());
        assert_eq!(b.save_state().unwrap(), state, "f16 cache: {f16}");
    }
}

/// An 8-bit cache (GPU) backtracks, and its state restores byte for byte
/// into sessions of other sizes with the same cache type; a session with
/// another cache type refuses it as a shape mismatch, unchanged.
#[test]
fn an_8_bit_cache_backtracks_and_its_state_keeps_its_type() {
    let bytes = || {
        synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 42))
            .unwrap()
            .to_bytes()
            .unwrap()
    };
    let mut opts_q8 = common::options_on(On::Gpu, None);
    opts_q8.gpu.kv_q8 = true;
    let file = rewind::gguf::GgufFile::from_bytes(bytes()).unwrap();
    let q8 = Model::load_file(file, &opts_q8, |_| {}).unwrap();
    assert_eq!(q8.device_info().kv_type, rewind::KvType::Q8_0);
    // A reset discards what was said since the checkpoint, as on other
    // caches (see rollback_leaves_no_trace_of_the_discarded_tokens).
    let mut a = session(&q8);
    let (plain, _) = run(&mut a, PROMPT, &opts(&[], ResetPolicy::Rollback, 3));
    let (t, stats) = run(&mut a, PROMPT, &opts(&[3], ResetPolicy::Rollback, 8));
    assert_eq!(t.resets, vec![(plain.visible.clone(), ResetCause::Model)]);
    assert_eq!(stats.discarded_tokens, 3);
    let state = a.save_state().unwrap();
    let want = a.logits_after(&[65]).unwrap();
    restores_in_other_sizes(&q8, &[&state], &want);
    // The CPU path's 8-bit cache takes the same state: both write
    // position-major rows of quants then scales (the CPU path's head rows
    // interleave each block's scale and quants; see cpu/kv.rs). Its heads
    // must be whole blocks: 4 heads of 32 here.
    let mut spec = SynthSpec::tiny(GgmlType::Q8_0, 42);
    spec.n_embd = 128;
    let wide = || synth_llama(&spec).unwrap().to_bytes().unwrap();
    let mut opts_cpu = common::options_on(On::Cpu, None);
    opts_cpu.cpu.kv_q8 = true;
    let on = |opts: &rewind::LoadOptions| {
        let file = rewind::gguf::GgufFile::from_bytes(wide()).unwrap();
        Model::load_file(file, opts, |_| {}).unwrap()
    };
    let (gpu_q8, cpu_q8) = (on(&opts_q8), on(&opts_cpu));
    assert_eq!(cpu_q8.device_info().kv_type, rewind::KvType::Q8_0);
    let mut g = session(&gpu_q8);
    run(&mut g, PROMPT, &opts(&[], ResetPolicy::Rollback, 6));
    let g_state = g.save_state().unwrap();
    let mut c = session(&cpu_q8);
    c.restore_state(&g_state).unwrap();
    assert_eq!(c.history(), g.history());
    assert_eq!(c.save_state().unwrap(), g_state);
    // And the two paths store the same bytes for the same keys and values
    // where their activations agree: the CPU path's own run differs only
    // by its 8-bit activations' rounding, so compare next-token logits.
    let (lg, lc) = (
        g.logits_after(&[65]).unwrap(),
        c.logits_after(&[65]).unwrap(),
    );
    let d = lg
        .iter()
        .zip(&lc)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(d < 0.15, "GPU and CPU 8-bit caches: logits differ by {d}");
    for other in [
        common::model_on(On::Gpu, bytes(), Some(true)),
        common::model_on(On::Cpu, bytes(), Some(true)),
    ] {
        let mut c = session(&other);
        run(&mut c, &PROMPT[..3], &opts(&[], ResetPolicy::Rollback, 2));
        let before = c.save_state().unwrap();
        let err = c.restore_state(&state).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert_eq!(c.save_state().unwrap(), before);
    }
}

fn a_failed_restore_leaves_the_session_as_it_was(path: On) {
    let m = model(path);
    let o = opts(&[], ResetPolicy::Rollback, 6);
    let mut a = session(&m);
    run(&mut a, PROMPT, &o);
    let state = a.save_state().unwrap();
    // What `b` generates next, from its own (different) state.
    let next = [257, 66, 67];
    let mut b = session(&m);
    run(&mut b, &next, &o);
    let b_state = b.save_state().unwrap();
    let mut fresh = session_from(&m, &b_state);
    let expected = run(&mut fresh, &[257, 66, 67, 68], &o).0;

    let layers = u32::from_le_bytes(state[8..12].try_into().unwrap());
    let other_version = with(&state, 4, &2u32.to_le_bytes());
    let other_shape = with(&state, 8, &(layers + 1).to_le_bytes());
    let too_long = with(&state, 24, &1_000_000u64.to_le_bytes());
    let bad_token = with(&state, 32, &u32::MAX.to_le_bytes());
    let mut trailing = state.clone();
    trailing.push(0);
    let cases: Vec<(&str, Vec<u8>, IsExpected)> = vec![
        ("empty", Vec::new(), |e| matches!(e, StateError::Truncated)),
        ("bad magic", with(&state, 0, b"RWKV"), |e| {
            matches!(e, StateError::BadMagic)
        }),
        ("other version", other_version, |e| {
            matches!(e, StateError::Version(2))
        }),
        ("other model shape", other_shape, |e| {
            matches!(e, StateError::ShapeMismatch { .. })
        }),
        ("longer than the context", too_long, |e| {
            matches!(e, StateError::TooLong { .. })
        }),
        ("token past the vocabulary", bad_token, |e| {
            matches!(e, StateError::BadToken { .. })
        }),
        ("truncated cache", state[..state.len() - 1].to_vec(), |e| {
            matches!(e, StateError::Truncated)
        }),
        ("trailing bytes", trailing, |e| {
            matches!(e, StateError::TrailingBytes(1))
        }),
    ];
    for (what, bytes, expected_error) in cases {
        match b.restore_state(&bytes) {
            Err(e @ rewind::Error::State(_)) => {
                assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}");
                let rewind::Error::State(se) = &e else {
                    unreachable!()
                };
                assert!(expected_error(se), "{what}: {e}");
            }
            other => panic!("{what}: expected a state error, got {other:?}"),
        }
        assert_eq!(b.save_state().unwrap(), b_state, "{what}: state changed");
    }
    // After the failed restores, b generates exactly what it would have.
    let (after, _) = run(&mut b, &[257, 66, 67, 68], &o);
    assert_eq!(after.visible, expected.visible);
    assert_eq!(b.history(), fresh.history());
}

/// Whether a state error is the one a case expects.
type IsExpected = fn(&StateError) -> bool;

/// `bytes` with `patch` written at `at`.
fn with(bytes: &[u8], at: usize, patch: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at..at + patch.len()].copy_from_slice(patch);
    out
}

/// A new session restored from `state`.
fn session_from(m: &Model, state: &[u8]) -> Session {
    let mut s = session(m);
    s.restore_state(state).unwrap();
    s
}

fn two_sessions_on_one_model_dont_disturb_each_other(path: On) {
    let m = model(path);
    let o = opts(&[], ResetPolicy::Rollback, 8);
    let (alone, _) = run(&mut session(&m), PROMPT, &o);
    let other_prompt = [257, 66, 67, 68];
    let (alone_b, _) = run(&mut session(&m), &other_prompt, &o);
    // Interleaved step by step.
    let (mut a, mut b) = (session(&m), session(&m));
    let mut la = a.logits_after(PROMPT).unwrap();
    let mut lb = b.logits_after(&other_prompt).unwrap();
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let pick = |l: &mut Vec<f32>| {
        l[EOS as usize] = f32::NEG_INFINITY;
        l[RESET as usize] = f32::NEG_INFINITY;
        (0..l.len()).fold(0, |b, i| if l[i] > l[b] { i } else { b }) as u32
    };
    for _ in 0..8 {
        let (x, y) = (pick(&mut la), pick(&mut lb));
        ta.push(x);
        tb.push(y);
        la = a.logits_after(&[x]).unwrap();
        lb = b.logits_after(&[y]).unwrap();
    }
    assert_eq!(decode(&m, &ta), alone.visible);
    assert_eq!(decode(&m, &tb), alone_b.visible);
}

fn reset_token_resolution(path: On) {
    let m = model(path);
    let s = session(&m);
    assert_eq!(
        s.resolve_reset_token(&ResetToken::Auto).unwrap(),
        Some(RESET)
    );
    assert_eq!(
        s.resolve_reset_token(&ResetToken::Id(RESET)).unwrap(),
        Some(RESET)
    );
    assert_eq!(s.resolve_reset_token(&ResetToken::Off).unwrap(), None);
    assert!(matches!(
        s.resolve_reset_token(&ResetToken::Text("[UNDO]".into())),
        Err(rewind::Error::UnknownResetToken(_))
    ));
    assert!(matches!(
        s.resolve_reset_token(&ResetToken::Id(1_000_000)),
        Err(rewind::Error::UnknownResetToken(_))
    ));
}

on_both_paths!(
    rollback_leaves_no_trace_of_the_discarded_tokens,
    after_a_rollback_the_logits_equal_a_fresh_sessions,
    keep_context_keeps_the_prefix_during_the_turn_but_not_after,
    a_prefill_is_discarded_by_a_reset,
    max_resets_masks_the_reset_token,
    reset_bias_shifts_the_reset_logit,
    holdback_never_shows_text_a_reset_discards,
    a_guard_resets_through_the_same_path,
    cancellation_from_another_thread,
    save_and_restore_round_trip,
    a_state_restores_into_sessions_of_other_sizes,
    a_failed_restore_leaves_the_session_as_it_was,
    two_sessions_on_one_model_dont_disturb_each_other,
    reset_token_resolution,
);
