//! Sessions: a KV cache and token history over a shared model, and the
//! decoding loop that turns logits into a stream of text events.

use std::time::{Duration, Instant};

use crate::model::{Graph, Model, ModelError, Readback, StepOutput};
use crate::sample::{SampleError, Sampler, SamplerConfig, StopStrings};
use crate::tokenizer::{StreamDecoder, TokenizerError};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error(
        "the prompt has {prompt} tokens but the context holds {n_ctx}; shorten it or raise n_ctx"
    )]
    PromptTooLong { prompt: usize, n_ctx: usize },
    #[error("the prompt is empty")]
    EmptyPrompt,
}

/// Sizes of a session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Positions in the KV cache; 0 = the model's training context, capped at 4096.
    pub n_ctx: usize,
    /// Most tokens run through the graph in one step (prefill chunk size).
    pub n_batch: usize,
    /// Keep the logits of every token of a step (perplexity), not only the last.
    pub all_logits: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            n_ctx: 0,
            n_batch: 64,
            all_logits: false,
        }
    }
}

/// How to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub sampler: SamplerConfig,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Generation stops before any of these strings; they are not emitted.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            sampler: SamplerConfig::default(),
            max_tokens: 512,
            stop: Vec::new(),
            ignore_eos: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model emitted an end-of-generation token.
    EndOfGeneration,
    MaxTokens,
    StopString,
    ContextFull,
    /// The event callback asked to stop.
    Cancelled,
}

/// Counters and timings of one generation.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Prompt tokens actually run (those already in the cache are reused).
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub prompt_time: Duration,
    pub generation_time: Duration,
}

impl Stats {
    pub fn prompt_tokens_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }

    pub fn generation_tokens_per_s(&self) -> f64 {
        self.generated_tokens as f64 / self.generation_time.as_secs_f64().max(1e-9)
    }
}

/// What the decoding loop reports.
#[derive(Debug)]
pub enum Event<'a> {
    /// New visible text.
    Text(&'a str),
    /// Generation ended.
    Done {
        reason: StopReason,
        stats: &'a Stats,
    },
}

/// The callback's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

pub struct Session {
    model: Model,
    graph: Graph,
    history: Vec<u32>,
}

impl Session {
    pub fn new(model: &Model, opts: &SessionOptions) -> Result<Session, SessionError> {
        let m = &model.inner;
        let n_ctx = match opts.n_ctx {
            0 => m.config.n_ctx_train.min(4096),
            n => n,
        };
        let graph = Graph::new(
            &m.gpu,
            &m.kernels,
            &m.config,
            &m.weights,
            n_ctx,
            opts.n_batch.min(n_ctx),
            opts.all_logits,
        )?;
        Ok(Session {
            model: model.clone(),
            graph,
            history: Vec::new(),
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Tokens in the context, in order.
    pub fn history(&self) -> &[u32] {
        &self.history
    }

    pub fn n_ctx(&self) -> usize {
        self.graph.kv.capacity()
    }

    /// Drops every token from position `len` on (O(1): the cache keeps its
    /// contents, only its logical length changes).
    pub fn truncate(&mut self, len: usize) {
        self.history.truncate(len);
        self.graph.kv.truncate(len);
    }

    /// Appends `tokens` to the context and returns what `readback` asks for
    /// about the last step (all rows for `AllLogits` only when `tokens` fits
    /// in one step).
    pub fn feed(&mut self, tokens: &[u32], readback: Readback) -> Result<StepOutput, SessionError> {
        if tokens.is_empty() {
            return Err(SessionError::EmptyPrompt);
        }
        // Checked up front so that a bad id in a later chunk can't leave the
        // earlier chunks half-applied.
        let vocab = self.model.config().vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::BadToken { token: bad, vocab }.into());
        }
        let needed = self.history.len() + tokens.len();
        if needed > self.n_ctx() {
            return Err(ModelError::ContextFull {
                needed,
                n_ctx: self.n_ctx(),
            }
            .into());
        }
        let chunks: Vec<&[u32]> = tokens.chunks(self.graph.n_batch()).collect();
        let mut out = StepOutput::None;
        for (i, chunk) in chunks.iter().enumerate() {
            let rb = if i + 1 == chunks.len() {
                readback
            } else {
                Readback::None
            };
            out = self.graph.step(chunk, self.history.len(), rb)?;
            self.history.extend_from_slice(chunk);
        }
        Ok(out)
    }

    /// Feeds `tokens` and returns the last token's logits.
    pub fn logits_after(&mut self, tokens: &[u32]) -> Result<Vec<f32>, SessionError> {
        match self.feed(tokens, Readback::LastLogits)? {
            StepOutput::Logits(l) => Ok(l),
            other => unreachable!("asked for logits, got {other:?}"),
        }
    }

    /// Makes the context equal to `prompt` (reusing the longest common
    /// prefix already in the cache), then samples up to `max_tokens` tokens,
    /// reporting text through `on_event`.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        opts: &GenerateOptions,
        mut on_event: impl FnMut(Event<'_>) -> Control,
    ) -> Result<Stats, SessionError> {
        if prompt.is_empty() {
            return Err(SessionError::EmptyPrompt);
        }
        if prompt.len() >= self.n_ctx() {
            return Err(SessionError::PromptTooLong {
                prompt: prompt.len(),
                n_ctx: self.n_ctx(),
            });
        }
        let mut sampler = Sampler::new(opts.sampler.clone())?;
        let model = self.model.clone();
        let tok = model.tokenizer();
        let s = &opts.sampler;
        // Greedy without penalties needs only the argmax: 4 bytes read back.
        let argmax_only = sampler.is_greedy()
            && s.repeat_penalty == 1.0
            && s.presence_penalty == 0.0
            && s.frequency_penalty == 0.0
            && s.logit_bias.is_empty();
        let readback = if argmax_only {
            Readback::Argmax
        } else {
            Readback::LastLogits
        };

        let common = self
            .history
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len() - 1);
        self.truncate(common);
        let mut stats = Stats::default();
        let t0 = Instant::now();
        let mut out = self.feed(&prompt[common..], readback)?;
        stats.prompt_tokens = prompt.len() - common;
        stats.prompt_time = t0.elapsed();

        let t1 = Instant::now();
        let mut decoder = StreamDecoder::new(tok, true);
        let mut stop = StopStrings::new(&opts.stop);
        let emit = |text: &str, on_event: &mut dyn FnMut(Event<'_>) -> Control| -> bool {
            !text.is_empty() && on_event(Event::Text(text)) == Control::Stop
        };
        let reason = loop {
            if stats.generated_tokens >= opts.max_tokens {
                break StopReason::MaxTokens;
            }
            let next = match &out {
                StepOutput::Argmax(t) => *t,
                StepOutput::Logits(l) => sampler.sample(l, &self.history),
                StepOutput::None => unreachable!("the last step always reads back"),
            };
            stats.generated_tokens += 1;
            if !opts.ignore_eos && tok.eog_tokens().contains(&next) {
                break StopReason::EndOfGeneration;
            }
            let piece = decoder.push(next)?;
            let (visible, matched) = stop.push(&piece);
            if emit(&visible, &mut on_event) {
                break StopReason::Cancelled;
            }
            if matched {
                break StopReason::StopString;
            }
            if self.history.len() >= self.n_ctx() {
                break StopReason::ContextFull;
            }
            out = self.feed(&[next], readback)?;
        };
        if !matches!(reason, StopReason::StopString | StopReason::Cancelled) {
            let mut rest = decoder.flush();
            let (visible, _) = stop.push(&rest);
            rest = visible + &stop.flush();
            emit(&rest, &mut on_event);
        }
        stats.generation_time = t1.elapsed();
        on_event(Event::Done {
            reason,
            stats: &stats,
        });
        Ok(stats)
    }
}
