//! Perplexity over a text, computed the way llama.cpp's `llama-perplexity`
//! does, so that the two can be compared number for number:
//!
//! 1. The whole text is tokenized once (special tokens not parsed), with BOS
//!    first when the model's `add_bos_token` says so.
//! 2. The tokens are cut into consecutive chunks of `n_ctx`; leftover tokens
//!    at the end are dropped.
//! 3. Each chunk is evaluated from an empty KV cache. When the model adds
//!    BOS, the first token of every chunk is replaced by BOS for the
//!    evaluation (llama.cpp does the same).
//! 4. Only the second half of each chunk is scored: the logits at positions
//!    `n_ctx / 2 .. n_ctx - 1` predict the tokens at `n_ctx / 2 + 1 ..
//!    n_ctx`, so every scored token has at least `n_ctx / 2` tokens of
//!    context. That is `n_ctx - n_ctx / 2 - 1` predictions per chunk.
//! 5. The negative log-likelihoods (log-softmax in f64) are averaged over all
//!    scored tokens; perplexity is `exp` of that mean. The running estimate
//!    after each chunk is what llama.cpp prints as `[1]...,[2]...`, and the
//!    uncertainty is its `+/-` figure: `ppl * sqrt(var(nll) / (count - 1))`.

use crate::error::Error;
#[cfg(feature = "testing")]
use crate::model::reference::ReferenceModel;
use crate::model::{Model, Readback, StepOutput};
use crate::session::{Session, SessionOptions};

/// The result of [`perplexity`].
#[derive(Clone, Debug, PartialEq)]
pub struct Perplexity {
    /// Context length of each chunk.
    pub n_ctx: usize,
    /// Tokens of the whole text (BOS included when the model adds it).
    pub n_text_tokens: usize,
    /// Chunks evaluated.
    pub n_chunks: usize,
    /// Tokens scored (predictions).
    pub n_scored: usize,
    /// Mean negative log-likelihood of the scored tokens (nats).
    pub mean_nll: f64,
    /// `exp(mean_nll)`.
    pub ppl: f64,
    /// Standard error of `ppl` (llama.cpp's `+/-`).
    pub ppl_error: f64,
    /// The running estimate after each chunk.
    pub running: Vec<f64>,
}

/// `-log softmax(logits)[target]`, in f64.
pub fn nll(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    -(logits[target as usize] as f64 - max - sum.ln())
}

/// The tokens of `text` as llama.cpp's perplexity tool sees them.
pub fn tokenize(model: &Model, text: &str) -> Result<Vec<u32>, Error> {
    Ok(model.tokenizer().encode_with_bos(text, false)?)
}

/// The number of tokens a chunk of `n_ctx` scores.
pub fn scored_per_chunk(n_ctx: usize) -> usize {
    n_ctx - n_ctx / 2 - 1
}

/// Perplexity of `model` over `tokens` in chunks of `n_ctx` (at most
/// `max_chunks` of them when given); `progress` sees the running estimate
/// after each chunk. Needs `n_ctx >= 4` and at least one whole chunk.
pub fn perplexity(
    model: &Model,
    tokens: &[u32],
    n_ctx: usize,
    max_chunks: Option<usize>,
    progress: impl FnMut(usize, f64),
) -> Result<Perplexity, Error> {
    check(tokens, n_ctx)?;
    let first = n_ctx / 2;
    // The first half of a chunk is fed without reading anything back; the
    // second half (which holds every scored position) in one step, so the
    // session keeps logits for n_ctx - first tokens, not n_ctx.
    let opts = SessionOptions {
        n_ctx,
        n_batch: n_ctx - first,
        all_logits: true,
    };
    let mut session = Session::new(model, &opts)?;
    let bos = match model.tokenizer().add_bos() {
        true => model.tokenizer().bos(),
        false => None,
    };
    let eval = |chunk: &[u32]| -> Result<Vec<f32>, Error> {
        session.truncate(0);
        session.feed(&chunk[..first], Readback::None)?;
        match session.feed(&chunk[first..], Readback::AllLogits)? {
            StepOutput::Logits(l) => Ok(l),
            other => unreachable!("asked for all logits, got {other:?}"),
        }
    };
    score(
        tokens,
        n_ctx,
        max_chunks,
        bos,
        model.config().vocab_size,
        eval,
        progress,
    )
}

#[cfg(feature = "testing")]
/// [`perplexity`] computed by the naive f32 CPU forward instead of the GPU
/// (slow: for checking the GPU on real files). `bos` is the token replacing
/// the first of each chunk, when the model adds BOS.
pub fn perplexity_reference(
    reference: &ReferenceModel,
    bos: Option<u32>,
    tokens: &[u32],
    n_ctx: usize,
    max_chunks: Option<usize>,
    progress: impl FnMut(usize, f64),
) -> Result<Perplexity, Error> {
    check(tokens, n_ctx)?;
    let first = n_ctx / 2;
    let eval = |chunk: &[u32]| -> Result<Vec<f32>, Error> {
        let mut cache = reference.new_cache();
        let mut rows = Vec::new();
        for (p, &t) in chunk.iter().enumerate() {
            let logits = reference.forward(&mut cache, t)?;
            if p >= first {
                rows.extend(logits);
            }
        }
        Ok(rows)
    };
    let vocab = reference.config.vocab_size;
    score(tokens, n_ctx, max_chunks, bos, vocab, eval, progress)
}

/// The smallest chunk perplexity scores (it scores `n_ctx - n_ctx/2 - 1`
/// tokens per chunk).
const MIN_N_CTX: usize = 4;

fn check(tokens: &[u32], n_ctx: usize) -> Result<(), Error> {
    if n_ctx < MIN_N_CTX {
        return Err(Error::ContextTooSmall {
            n_ctx,
            min: MIN_N_CTX,
        });
    }
    if tokens.len() < n_ctx {
        return Err(Error::TooFewTokens {
            tokens: tokens.len(),
            needed: n_ctx,
        });
    }
    Ok(())
}

/// The chunking and scoring, given `eval`, which runs one chunk from an
/// empty cache and returns the logits of its positions `n_ctx / 2..`.
fn score(
    tokens: &[u32],
    n_ctx: usize,
    max_chunks: Option<usize>,
    bos: Option<u32>,
    vocab: usize,
    mut eval: impl FnMut(&[u32]) -> Result<Vec<f32>, Error>,
    mut progress: impl FnMut(usize, f64),
) -> Result<Perplexity, Error> {
    let n_chunks = (tokens.len() / n_ctx).min(max_chunks.unwrap_or(usize::MAX));
    if n_chunks == 0 {
        return Err(Error::ZeroSize("max_chunks"));
    }
    let first = n_ctx / 2;
    let (mut sum, mut sum2, mut count) = (0f64, 0f64, 0usize);
    let mut running = Vec::with_capacity(n_chunks);
    for c in 0..n_chunks {
        let mut chunk = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
        if let Some(b) = bos {
            chunk[0] = b;
        }
        let logits = eval(&chunk)?;
        // Row j of `logits` is position first + j; it predicts the token
        // after it. The last row predicts past the chunk and isn't scored.
        for (j, row) in logits
            .chunks_exact(vocab)
            .take(scored_per_chunk(n_ctx))
            .enumerate()
        {
            let v = nll(row, chunk[first + j + 1]);
            sum += v;
            sum2 += v * v;
            count += 1;
        }
        let est = (sum / count as f64).exp();
        running.push(est);
        progress(c, est);
    }
    let mean = sum / count as f64;
    let var = sum2 / count as f64 - mean * mean;
    let ppl = mean.exp();
    let ppl_error = if var > 0.0 && count > 1 {
        ppl * (var / (count - 1) as f64).sqrt()
    } else {
        0.0
    };
    Ok(Perplexity {
        n_ctx,
        n_text_tokens: tokens.len(),
        n_chunks,
        n_scored: count,
        mean_nll: mean,
        ppl,
        ppl_error,
        running,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nll_is_minus_log_softmax() {
        let logits = [1.0f32, 2.0, 3.0];
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        for t in 0..3 {
            let want = -(((t + 1) as f64).exp() / z).ln();
            assert!((nll(&logits, t as u32) - want).abs() < 1e-12);
        }
        // Large logits don't overflow.
        assert!((nll(&[1000.0, 1000.0], 0) - 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn chunk_scoring_counts_like_llama_cpp() {
        // n_ctx 128: positions 64..=126 predict tokens 65..=127.
        assert_eq!(scored_per_chunk(128), 63);
        assert_eq!(scored_per_chunk(5), 2);
    }
}
