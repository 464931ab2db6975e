//! Sessions: a conversation over a shared model, and the decoding loop that
//! turns logits into a stream of events, with backtracking (see `generate`
//! and the README). The session's context (`model::Context`) owns the KV cache and the
//! position; the session decides what to feed and when to roll back.

mod generate;
mod options;
mod stop;
mod turn;

pub use generate::DEFAULT_RESET_TEXT;
pub use options::{
    BacktrackOptions, CancelFlag, Control, Event, GenerateOptions, Guard, LogitsProcessor,
    ProcessorFn, ResetCause, ResetPolicy, ResetToken, Stats, StopReason, Verdict,
};

use crate::error::Error;
use crate::model::{Context, DEFAULT_N_BATCH, Model, Readback, StepOutput};

/// Sizes of a session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Positions in the KV cache. 0 = the model's training context (its
    /// `{arch}.context_length` metadata) capped at
    /// [`DEFAULT_MAX_N_CTX`](crate::model::DEFAULT_MAX_N_CTX); any other value
    /// overrides it (and may exceed the training context). Feeding past it
    /// is [`Error::ContextFull`].
    pub n_ctx: usize,
    /// Most tokens run through the model in one step (prefill chunk size).
    pub n_batch: usize,
    /// Keep the logits of every token of a step (perplexity), not only the last.
    pub all_logits: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            n_ctx: 0,
            n_batch: DEFAULT_N_BATCH,
            all_logits: false,
        }
    }
}

/// A conversation's state on the GPU. Sessions of one model share its
/// weights and don't disturb each other.
pub struct Session {
    model: Model,
    context: Context,
}

impl Session {
    pub fn new(model: &Model, opts: &SessionOptions) -> Result<Session, Error> {
        let context = Context::new(model, opts.n_ctx, opts.n_batch, opts.all_logits)?;
        Ok(Session {
            model: model.clone(),
            context,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Tokens in the context, in order.
    pub fn history(&self) -> &[u32] {
        self.context.tokens()
    }

    /// Positions the context holds.
    pub fn n_ctx(&self) -> usize {
        self.context.n_ctx()
    }

    /// GPU bytes of the session's KV cache.
    pub fn kv_cache_bytes(&self) -> u64 {
        self.context.kv_cache_bytes()
    }

    /// Drops every token from position `len` on, in O(1): the cache keeps
    /// its contents, only its logical length changes.
    pub fn truncate(&mut self, len: usize) {
        self.context.truncate(len);
    }

    /// Appends `tokens` to the context and returns what `readback` asks for
    /// about the last step (all rows for `AllLogits` only when `tokens` fits
    /// in one step). A bad token id or a full context is an error before
    /// anything is fed.
    pub fn feed(&mut self, tokens: &[u32], readback: Readback) -> Result<StepOutput, Error> {
        self.context.feed(tokens, readback)
    }

    /// Feeds `tokens` and returns the last token's logits.
    pub fn logits_after(&mut self, tokens: &[u32]) -> Result<Vec<f32>, Error> {
        match self.feed(tokens, Readback::LastLogits)? {
            StepOutput::Logits(l) => Ok(l),
            other => unreachable!("asked for logits, got {other:?}"),
        }
    }

    /// The whole state of the session (token history and KV cache) as
    /// bytes, for [`Session::restore_state`].
    pub fn save_state(&self) -> Result<Vec<u8>, Error> {
        self.context.save_state()
    }

    /// Bytes [`Session::save_state`] returns now, without saving.
    pub fn state_size(&self) -> usize {
        self.context.state_size()
    }

    /// Replaces this session's state with one `save_state` produced (by a
    /// session of the same model). On error the session is unchanged.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.context.restore_state(bytes)
    }

    /// The session's context, for timing its ops.
    #[cfg(feature = "testing")]
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }
}
