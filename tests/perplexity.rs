//! Perplexity of SmolLM2-135M-Instruct Q4_1 over tests/data/perplexity-text.txt
//! at n_ctx 128, against llama.cpp's `llama-perplexity` on the same file
//! (tests/data/perplexity.json).
//!
//! Tolerance 1%: rewind computes in f32 throughout, while llama.cpp's CPU
//! backend quantizes activations to 8 bits before each quantized mat-mul and
//! keeps its KV cache in f16 (see tests/smollm2.rs). llama.cpp moves by
//! nearly that much by itself: 26.1497 with flash attention (llama-perplexity's
//! default, the reference), 26.3712 without
//! (tests/data/perplexity_llama_cpp.json); rewind gives 26.30, between the
//! two. A wrong chunking (scoring the first half, one token off, BOS
//! handling) moves it by far more.

#[macro_use]
mod common;

use common::On;
use rewind::eval::perplexity::{nll, perplexity, scored_per_chunk, tokenize};
use rewind::model::{Model, Readback, StepOutput};
use rewind::session::{Session, SessionOptions};
use serde_json::Value;

/// On both paths: the native CPU path quantizes activations to 8 bits
/// and keeps an f16 KV cache, like llama.cpp's CPU backend.
fn q4_1_perplexity_is_within_one_percent_of_llama_cpp(on: On) {
    let reference: Value = serde_json::from_slice(&common::read_data("perplexity.json"))
        .expect("perplexity.json is valid JSON");
    let want = reference["final_estimate_ppl"]["Q4_1"]
        .as_f64()
        .expect("a Q4_1 figure");
    let text = String::from_utf8(common::read_data("perplexity-text.txt")).expect("UTF-8 text");
    let model = Model::load(common::smollm2_path(), &common::options_on(on, None)).unwrap();
    // SmolLM2 doesn't add BOS: the tokens are the text's alone.
    assert!(!model.tokenizer().add_bos());
    let tokens = tokenize(&model, &text).unwrap();
    assert_eq!(tokens, model.tokenizer().encode(&text, false).unwrap());

    let mut seen = Vec::new();
    let r = perplexity(&model, &tokens, 128, None, |c, est| seen.push((c, est))).unwrap();
    // llama.cpp reports 5 chunks for this text at n_ctx 128 (perplexity.json).
    assert_eq!(r.n_chunks, 5);
    assert_eq!(r.n_chunks, tokens.len() / 128);
    assert_eq!(r.n_scored, 5 * scored_per_chunk(128));
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.last().map(|s| s.1), Some(r.ppl));
    assert_eq!(r.running.len(), 5);
    let rel = (r.ppl - want).abs() / want;
    eprintln!(
        "{on:?}: rewind {:.4} +/- {:.4}, llama.cpp {want:.4} ({:+.3}%), running {:?}",
        r.ppl,
        r.ppl_error,
        100.0 * (r.ppl - want) / want,
        r.running
    );
    assert!(rel < 0.01, "perplexity {:.4} vs llama.cpp {want:.4}", r.ppl);

    // A chunk limit: the first chunk's running estimate, recomputed.
    let one = perplexity(&model, &tokens, 128, Some(1), |_, _| {}).unwrap();
    assert_eq!((one.n_chunks, one.n_scored), (1, scored_per_chunk(128)));
    assert_eq!(one.ppl, r.running[0]);

    // Too little text for one chunk is an error, not a NaN.
    assert!(perplexity(&model, &tokens[..100], 128, None, |_, _| {}).is_err());
}

on_both_paths!(
    q4_1_perplexity_is_within_one_percent_of_llama_cpp,
    q8_kv_cache_perplexity_is_within_half_a_percent_of_f16
);

/// Perplexity as [`perplexity`] computes it (chunks of `n_ctx`, the second
/// half scored) over the first `chunks` chunks, but with every token fed
/// alone: one-token steps, so every mat-vec is the decode one.
fn decode_perplexity(model: &Model, tokens: &[u32], n_ctx: usize, chunks: usize) -> f64 {
    let opts = SessionOptions {
        n_ctx,
        n_batch: 1,
        all_logits: false,
    };
    let mut session = Session::new(model, &opts).unwrap();
    let (mut sum, mut count) = (0.0, 0);
    for chunk in tokens.chunks_exact(n_ctx).take(chunks) {
        session.truncate(0);
        for i in 0..n_ctx - 1 {
            let scored = i >= n_ctx / 2;
            let rb = if scored {
                Readback::LastLogits
            } else {
                Readback::None
            };
            match session.feed(&chunk[i..i + 1], rb).unwrap() {
                StepOutput::Logits(l) => {
                    sum += nll(&l, chunk[i + 1]);
                    count += 1;
                }
                StepOutput::None if !scored => {}
                other => panic!("position {i}: {other:?}"),
            }
        }
    }
    assert_eq!(count, chunks * scored_per_chunk(n_ctx));
    (sum / count as f64).exp()
}

/// The negative log-likelihood of every token of `tokens` after the first
/// in each chunk of `n_ctx` (each from an empty cache, BOS first when the
/// model adds it), fed in one step per chunk. Every position is scored, not
/// only the second half as in [`perplexity`]: this compares two paths on the
/// same predictions, and more of them make the comparison tighter.
fn chunk_nlls(model: &Model, tokens: &[u32], n_ctx: usize) -> Vec<f64> {
    let opts = SessionOptions {
        n_ctx,
        n_batch: n_ctx,
        all_logits: true,
    };
    let mut session = Session::new(model, &opts).unwrap();
    let bos = model
        .tokenizer()
        .bos()
        .filter(|_| model.tokenizer().add_bos());
    let vocab = model.config().vocab_size;
    let mut nlls = Vec::new();
    for chunk in tokens.chunks_exact(n_ctx) {
        let mut chunk = chunk.to_vec();
        if let Some(b) = bos {
            chunk[0] = b;
        }
        session.truncate(0);
        let StepOutput::Logits(l) = session.feed(&chunk, Readback::AllLogits).unwrap() else {
            panic!("asked for all logits");
        };
        for (row, &next) in l.chunks_exact(vocab).zip(&chunk[1..]) {
            nlls.push(nll(row, next));
        }
    }
    nlls
}

/// The paired change of perplexity from `base` to `other` (per-token NLLs
/// of the same predictions), in percent, with its standard error.
fn paired_change(base: &[f64], other: &[f64]) -> (f64, f64) {
    assert_eq!(base.len(), other.len());
    let n = base.len() as f64;
    let d: Vec<f64> = other.iter().zip(base).map(|(o, b)| o - b).collect();
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (100.0 * mean.exp_m1(), 100.0 * (var / n).sqrt())
}

/// The GPU matmuls with 8-bit activations (forced on) against the
/// f32-activation ones (forced off), on SmolLM2 Q4_1.
///
/// The bound, 0.5%, is checked on `long-text.txt` (about 18 KB of prose in
/// several registers, written for this test), every position of its chunks
/// of 128 scored: 3810 paired predictions. The 640 tokens of
/// `perplexity-text.txt` (llama.cpp's comparison) are too few for it: 8-bit
/// rounding flips with any change upstream, so each path's perplexity there
/// carries a noise of its own, and the paired change has a standard error of
/// 0.44% (measured: +0.58% for this kernel, -0.28% for the decode-only one
/// it replaced, +0.14% for the native CPU path, which rounds the same way).
/// On the long text: +0.06% +- 0.16%.
///
/// The decode shape (one-token steps, the mat-vec) and the prefill tiles
/// compute the same sums: their perplexities on the short text agree within
/// 0.2% (on lavapipe they are equal).
#[test]
fn int8_perplexity_is_within_half_a_percent_of_f32() {
    let load = |int8| {
        let mut opts = common::options_on(On::Gpu, None);
        opts.gpu.tuning.int8_matvec = Some(int8);
        Model::load(common::smollm2_path(), &opts).unwrap()
    };
    let short = String::from_utf8(common::read_data("perplexity-text.txt")).expect("UTF-8 text");
    let long = String::from_utf8(common::read_data("long-text.txt")).expect("UTF-8 text");
    let (n_ctx, chunks) = (128, 5);

    let f32_model = load(false);
    let short = tokenize(&f32_model, &short).unwrap();
    let long = tokenize(&f32_model, &long).unwrap();
    let f32_long = chunk_nlls(&f32_model, &long, n_ctx);
    drop(f32_model);

    let int8_model = load(true);
    let int8_long = chunk_nlls(&int8_model, &long, n_ctx);
    let decode = decode_perplexity(&int8_model, &short, n_ctx, chunks);
    let batched = perplexity(&int8_model, &short, n_ctx, Some(chunks), |_, _| {}).unwrap();

    let (change, se) = paired_change(&f32_long, &int8_long);
    eprintln!(
        "8-bit activations: perplexity {change:+.3}% +- {se:.3}% over {} predictions; short \
         text: decode {decode:.4}, batched {:.4}",
        f32_long.len(),
        batched.ppl
    );
    assert!(
        f32_long.len() > 3000,
        "long-text.txt: {} predictions",
        f32_long.len()
    );
    assert!(se < 0.25, "standard error {se}% leaves the bound unread");
    assert!(change.abs() < 0.5, "8-bit activations: {change:+}%");
    assert!(
        (decode - batched.ppl).abs() / batched.ppl < 0.002,
        "8-bit decode {decode} vs batched {}",
        batched.ppl
    );
}

/// The 8-bit KV cache against the f16 one: perplexity of SmolLM2 Q4_1 over
/// the whole text within 0.5% (measured: GPU 26.3469 against 26.3041,
/// +0.16%; CPU 26.3974 against 26.3407, +0.22%; llama.cpp's own `-ctk q8_0
/// -ctv q8_0` moves its figure by -0.03%, tests/data/perplexity_llama_cpp.json).
fn q8_kv_cache_perplexity_is_within_half_a_percent_of_f16(on: On) {
    let text = String::from_utf8(common::read_data("perplexity-text.txt")).expect("UTF-8 text");
    let load = |q8| {
        let opts = common::options_on(on, Some(true));
        let opts = if q8 {
            opts.with_kv_type(rewind::KvType::Q8_0)
        } else {
            opts
        };
        Model::load(common::smollm2_path(), &opts).unwrap()
    };
    let f16_model = load(false);
    let tokens = tokenize(&f16_model, &text).unwrap();
    let f16 = perplexity(&f16_model, &tokens, 128, None, |_, _| {}).unwrap();
    drop(f16_model);
    let q8_model = load(true);
    assert_eq!(q8_model.device_info().kv_type, rewind::KvType::Q8_0);
    let q8 = perplexity(&q8_model, &tokens, 128, None, |_, _| {}).unwrap();
    eprintln!(
        "{on:?}: perplexity, f16 KV cache {:.4}, q8_0 {:.4} ({:+.3}%)",
        f16.ppl,
        q8.ppl,
        100.0 * (q8.ppl - f16.ppl) / f16.ppl
    );
    assert!(
        (q8.ppl - f16.ppl).abs() / f16.ppl < 0.005,
        "q8_0 {} vs f16 {}",
        q8.ppl,
        f16.ppl
    );
}
