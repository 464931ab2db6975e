//! What a generation is asked to do, and what it reports.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::sample::SamplerConfig;

/// How to generate one assistant turn.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub sampler: SamplerConfig,
    /// Most tokens to generate, counting those a reset discards.
    pub max_tokens: usize,
    /// Generation stops before any of these strings; they are not emitted.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// Text the answer starts with, fed after the checkpoint (so a reset
    /// discards it too: this is how a prefilling attack is tried by hand).
    pub prefill: String,
    pub backtrack: BacktrackOptions,
    /// A host callback that sees the turn's text and may ask for a reset.
    pub guard: Option<Guard>,
    /// Set from any thread to stop the generation at the next token.
    pub cancel: Option<CancelFlag>,
    /// Edits the logits before sampling (constrained decoding, custom biases).
    pub logits_processor: Option<LogitsProcessor>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            sampler: SamplerConfig::default(),
            max_tokens: 512,
            stop: Vec::new(),
            ignore_eos: false,
            prefill: String::new(),
            backtrack: BacktrackOptions::default(),
            guard: None,
            cancel: None,
            logits_processor: None,
        }
    }
}

/// Which token means "discard what I said in this turn".
#[derive(Clone, Debug, PartialEq)]
pub enum ResetToken {
    /// `[RESET]` if the vocabulary has it; backtracking is off otherwise.
    Auto,
    /// A token with this exact text; an error if the vocabulary lacks it.
    Text(String),
    /// A token id; an error if it is outside the vocabulary.
    Id(u32),
    /// No reset token (a guard may still reset).
    Off,
}

/// What happens when the model resets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResetPolicy {
    /// The KV cache goes back to the checkpoint in O(1), `[RESET]` is fed at
    /// the checkpoint position, and decoding continues: the discarded tokens
    /// leave no trace in the context.
    #[default]
    Rollback,
    /// The unsafe prefix and `[RESET]` stay in the context (as the model was
    /// trained); when the turn ends the cache is rolled back and only the
    /// visible answer re-fed, so the conversation holds what the user saw.
    KeepContext,
}

#[derive(Clone, Debug)]
pub struct BacktrackOptions {
    pub reset_token: ResetToken,
    pub policy: ResetPolicy,
    /// Resets allowed per turn; past it the reset logit is masked.
    pub max_resets: usize,
    /// Added to the reset token's logit (the safety/efficiency knob).
    pub reset_bias: f32,
    /// Newest tokens held back from the stream, so that a reset within that
    /// many tokens never shows the discarded text at all.
    pub holdback: usize,
}

impl Default for BacktrackOptions {
    fn default() -> Self {
        BacktrackOptions {
            reset_token: ResetToken::Auto,
            policy: ResetPolicy::Rollback,
            max_resets: 1,
            reset_bias: 0.0,
            holdback: 0,
        }
    }
}

/// A guard's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Reset,
}

/// A host callback that sees the text of the turn so far (held-back text
/// included) after every token.
#[derive(Clone)]
pub struct Guard(pub Arc<dyn Fn(&str) -> Verdict + Send + Sync>);

impl Guard {
    pub fn new(f: impl Fn(&str) -> Verdict + Send + Sync + 'static) -> Self {
        Guard(Arc::new(f))
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Guard(..)")
    }
}

/// A host callback that edits the logits of each step before the reset
/// bias, the reset mask and the sampler see them. It gets the index of the
/// token being sampled in this turn (0-based, discarded tokens included).
#[derive(Clone)]
pub struct LogitsProcessor(pub Arc<ProcessorFn>);

/// The function a [`LogitsProcessor`] wraps: (step, logits).
pub type ProcessorFn = dyn Fn(usize, &mut [f32]) + Send + Sync;

impl LogitsProcessor {
    pub fn new(f: impl Fn(usize, &mut [f32]) + Send + Sync + 'static) -> Self {
        LogitsProcessor(Arc::new(f))
    }
}

impl fmt::Debug for LogitsProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogitsProcessor(..)")
    }
}

/// A flag another thread sets to cancel a generation.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model emitted an end-of-generation token.
    EndOfGeneration,
    MaxTokens,
    StopString,
    ContextFull,
    /// The callback or the cancel flag stopped it.
    Cancelled,
}

/// Who asked for a reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetCause {
    /// The model sampled its reset token.
    Model,
    /// The host's guard.
    Guard,
}

/// Counters and timings of one generation.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Prompt tokens actually run (those already in the cache are reused).
    pub prompt_tokens: usize,
    /// Tokens sampled, including those later discarded.
    pub generated_tokens: usize,
    /// Tokens a reset threw away (prefill included).
    pub discarded_tokens: usize,
    pub resets: usize,
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
    /// The turn so far was discarded: `discarded` is the text already
    /// reported through `Text` events since the turn began (what a UI must
    /// erase); held-back text is dropped without ever being shown.
    Reset {
        discarded: &'a str,
        cause: ResetCause,
    },
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
