//! The decoding loop on tiny random models: stop conditions, seeds, prefix
//! reuse across turns, cancellation; on the GPU and the native CPU path.

#[macro_use]
mod common;

use common::On;
use rewind::model::Model;
use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::sample::SamplerConfig;
use rewind::session::{
    BacktrackOptions, Control, Event, GenerateOptions, ResetToken, Session, SessionOptions, Stats,
    StopReason,
};

/// The synthetic vocabulary's end-of-text token (see `SYNTH_SPECIALS`).
const EOS: u32 = 258;

/// A tiny model on `path` (each test runs on both, see the end).
fn model(path: On, seed: u64) -> Model {
    let bytes = synth_llama(&SynthSpec::tiny(rewind::quant::GgmlType::Q8_0, seed))
        .unwrap()
        .to_bytes()
        .unwrap();
    common::model_on(path, bytes, None)
}

fn session(model: &Model) -> Session {
    Session::new(
        model,
        &SessionOptions {
            n_ctx: 256,
            n_batch: 16,
            all_logits: false,
        },
    )
    .unwrap()
}

/// Runs `generate` and collects the text, the end reason and the stats.
fn run(s: &mut Session, prompt: &[u32], opts: &GenerateOptions) -> (String, StopReason, Stats) {
    let mut text = String::new();
    let mut reason = None;
    let stats = s
        .generate(prompt, opts, |ev| {
            match ev {
                Event::Text(t) => text.push_str(t),
                Event::Done { reason: r, .. } => reason = Some(r),
                Event::Reset { .. } => panic!("backtracking is off in these tests"),
            }
            Control::Continue
        })
        .unwrap();
    (text, reason.expect("a Done event"), stats)
}

fn no_eos(mut sampler: SamplerConfig) -> SamplerConfig {
    sampler.logit_bias.push((EOS, f32::NEG_INFINITY));
    sampler
}

/// The synthetic vocabulary has `[RESET]`; these tests run without backtracking.
fn opts(sampler: SamplerConfig, max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        sampler: no_eos(sampler),
        max_tokens,
        backtrack: BacktrackOptions {
            reset_token: ResetToken::Off,
            ..BacktrackOptions::default()
        },
        ..GenerateOptions::default()
    }
}

const PROMPT: &[u32] = &[72, 101, 108, 108, 111];

fn max_tokens_and_seeds(path: On) {
    let m = model(path, 1);
    let mut s = session(&m);
    let sampled = SamplerConfig {
        temperature: 1.5,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        ..SamplerConfig::default()
    };
    let (a, reason, stats) = run(&mut s, PROMPT, &opts(sampled.clone(), 20));
    assert_eq!(reason, StopReason::MaxTokens);
    assert_eq!(stats.generated_tokens, 20);
    assert_eq!(stats.prompt_tokens, PROMPT.len());
    // Same seed, same text (on a fresh session and on a reused one).
    let (b, ..) = run(&mut session(&m), PROMPT, &opts(sampled.clone(), 20));
    let (c, ..) = run(&mut s, PROMPT, &opts(sampled.clone(), 20));
    assert_eq!(a, b);
    assert_eq!(a, c);
    let other = SamplerConfig {
        seed: 99,
        ..sampled
    };
    let (d, ..) = run(&mut s, PROMPT, &opts(other, 20));
    assert_ne!(a, d, "a different seed should give a different sample");
}

fn end_of_generation_and_ignore_eos(path: On) {
    let m = model(path, 2);
    let mut s = session(&m);
    let mut forced = SamplerConfig::greedy();
    forced.logit_bias.push((EOS, 1e4));
    let eos_opts = GenerateOptions {
        sampler: forced,
        max_tokens: 10,
        ..opts(SamplerConfig::greedy(), 10)
    };
    let (text, reason, _) = run(&mut s, PROMPT, &eos_opts);
    assert_eq!(reason, StopReason::EndOfGeneration);
    assert!(text.is_empty());
    let (_, reason, stats) = run(
        &mut s,
        PROMPT,
        &GenerateOptions {
            ignore_eos: true,
            ..eos_opts
        },
    );
    assert_eq!(reason, StopReason::MaxTokens);
    assert_eq!(stats.generated_tokens, 10);
}

fn stop_strings_cut_the_text_before_them(path: On) {
    let m = model(path, 3);
    let mut s = session(&m);
    let greedy = opts(SamplerConfig::greedy(), 24);
    let (full, ..) = run(&mut s, PROMPT, &greedy);
    let chars: Vec<char> = full.chars().collect();
    assert!(chars.len() >= 8, "expected some text, got {full:?}");
    // A stop string taken from the middle of the free-running answer.
    let stop: String = chars[5..8].iter().collect();
    let cut = full.find(&stop).unwrap();
    let (text, reason, _) = run(
        &mut s,
        PROMPT,
        &GenerateOptions {
            stop: vec![stop.clone()],
            ..greedy
        },
    );
    assert_eq!(reason, StopReason::StopString);
    assert_eq!(text, full[..cut], "stop string {stop:?}");
}

fn a_longer_prompt_reuses_the_cached_prefix(path: On) {
    let m = model(path, 4);
    let mut s = session(&m);
    let greedy = opts(SamplerConfig::greedy(), 4);
    let (_, _, first) = run(&mut s, PROMPT, &greedy);
    assert_eq!(first.prompt_tokens, PROMPT.len());
    // The next turn: the whole conversation again plus new tokens.
    let mut next: Vec<u32> = s.history().to_vec();
    next.extend_from_slice(&[10, 66, 121, 101]);
    let (text_cached, _, second) = run(&mut s, &next, &greedy);
    assert_eq!(second.prompt_tokens, 4, "only the new tokens are computed");
    let (text_fresh, ..) = run(&mut session(&m), &next, &greedy);
    assert_eq!(text_cached, text_fresh);
}

fn the_callback_can_cancel(path: On) {
    let m = model(path, 5);
    let mut s = session(&m);
    let mut pieces = 0;
    let mut reason = None;
    // Forced to emit 'a' so that every token is a visible piece.
    let mut sampler = SamplerConfig::greedy();
    sampler.logit_bias.push((u32::from(b'a'), 1e4));
    s.generate(PROMPT, &opts(sampler, 50), |ev| match ev {
        Event::Text(_) => {
            pieces += 1;
            if pieces == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        }
        Event::Done { reason: r, .. } => {
            reason = Some(r);
            Control::Continue
        }
        Event::Reset { .. } => panic!("backtracking is off in these tests"),
    })
    .unwrap();
    assert_eq!(pieces, 3);
    assert_eq!(reason, Some(StopReason::Cancelled));
}

on_both_paths!(
    max_tokens_and_seeds,
    end_of_generation_and_ignore_eos,
    stop_strings_cut_the_text_before_them,
    a_longer_prompt_reuses_the_cached_prefix,
    the_callback_can_cancel,
);
