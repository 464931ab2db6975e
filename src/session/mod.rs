//! Sessions: a KV cache and token history over a shared model, and the
//! decoding loop that turns logits into a stream of events, with
//! backtracking (see `generate` and the README).

mod generate;
mod options;
mod state;
mod stop;
mod turn;

pub use options::{
    BacktrackOptions, CancelFlag, Control, Event, GenerateOptions, Guard, LogitsProcessor,
    ResetCause, ResetPolicy, ResetToken, Stats, StopReason, Verdict,
};
pub use state::StateError;

use crate::chat::ChatError;
use crate::model::{Graph, Model, ModelError, Readback, StepOutput};
use crate::sample::SampleError;
use crate::tokenizer::TokenizerError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "the prompt has {prompt} tokens but the context holds {n_ctx}; shorten it or raise n_ctx"
    )]
    PromptTooLong { prompt: usize, n_ctx: usize },
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("reset token {0} is not in the model's vocabulary")]
    UnknownResetToken(String),
}

/// Sizes of a session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Positions in the KV cache. 0 = the model's training context (its
    /// `{arch}.context_length` metadata) capped at
    /// [`DEFAULT_MAX_N_CTX`](crate::model::DEFAULT_MAX_N_CTX); any other value
    /// overrides it (and may exceed the training context). Feeding past it
    /// is [`ModelError::ContextFull`].
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

/// A conversation's state on the GPU. Sessions of one model share its
/// weights and don't disturb each other.
pub struct Session {
    model: Model,
    graph: Graph,
    history: Vec<u32>,
}

impl Session {
    pub fn new(model: &Model, opts: &SessionOptions) -> Result<Session, SessionError> {
        let m = &model.inner;
        let n_ctx = model.session_n_ctx(opts.n_ctx);
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

    /// Drops every token from position `len` on, in O(1): the cache keeps
    /// its contents, only its logical length changes.
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
}
