//! A model context: the per-session state of the forward pass.
//!
//! A [`Context`] owns a KV cache and the token history that fills it, so it
//! is the one owner of the position: tokens go in through
//! [`Context::feed`], which runs them at the next positions, and leave
//! through [`Context::truncate`] (O(1): the cache keeps its contents, only
//! the length changes, and positions past it are never read). How a step
//! runs is the backend's ([`Forward`]): the backend never decides a
//! position, it is handed one.

use super::gpu_forward::GpuForward;
use super::state::CacheShape;
use super::{Backend, Model};
use crate::cpu::CpuForward;
use crate::error::Error;
#[cfg(feature = "testing")]
use crate::gpu::KvType;

/// What a step reads back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readback {
    /// Nothing (prefill chunks before the last).
    None,
    /// The argmax of the last token's logits (4 bytes from a GPU).
    Argmax,
    /// The last token's logits.
    LastLogits,
    /// The logits of every token of the step (perplexity).
    AllLogits,
}

/// What [`Readback`] asked for.
#[derive(Debug, PartialEq)]
pub enum StepOutput {
    None,
    Argmax(u32),
    /// Row-major `[n_tokens][vocab]` (one row unless `AllLogits`).
    Logits(Vec<f32>),
}

/// How a context's steps run: the backend's per-session state.
// One per session: the variants' sizes don't matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Forward {
    Gpu(GpuForward),
    Cpu(CpuForward),
}

impl Forward {
    fn step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<StepOutput, Error> {
        match self {
            Forward::Gpu(f) => f.step(tokens, pos0, readback),
            Forward::Cpu(f) => f.step(tokens, pos0, readback),
        }
    }

    /// Waits until the steps already started have run (a GPU runs
    /// submitted steps after `step` returns).
    fn wait(&self) -> Result<(), Error> {
        match self {
            Forward::Gpu(f) => f.wait(),
            // A CPU step has run when it returns.
            Forward::Cpu(_) => Ok(()),
        }
    }

    fn n_ctx(&self) -> usize {
        match self {
            Forward::Gpu(f) => f.n_ctx(),
            Forward::Cpu(f) => f.n_ctx(),
        }
    }

    fn has_all_logits(&self) -> bool {
        match self {
            Forward::Gpu(f) => f.has_all_logits(),
            Forward::Cpu(f) => f.has_all_logits(),
        }
    }

    #[cfg(feature = "testing")]
    fn kv_type(&self) -> KvType {
        match self {
            Forward::Gpu(f) => f.kv_type(),
            Forward::Cpu(f) => f.kv_type(),
        }
    }

    fn kv_cache_bytes(&self) -> u64 {
        match self {
            Forward::Gpu(f) => f.kv_cache_bytes(),
            Forward::Cpu(f) => f.kv_cache_bytes(),
        }
    }

    pub(super) fn cache_shape(&self) -> CacheShape {
        match self {
            Forward::Gpu(f) => f.kv.shape(),
            Forward::Cpu(f) => f.cache_shape(),
        }
    }

    /// The cache's first `len` positions as bytes (see `state.rs`).
    pub(super) fn read_cache(&self, len: usize) -> Result<Vec<u8>, Error> {
        match self {
            Forward::Gpu(f) => Ok(f.kv.read_prefix(&f.gpu, len)?),
            Forward::Cpu(f) => Ok(f.read_cache(len)),
        }
    }

    /// Writes what [`Forward::read_cache`] returned for `len` positions back
    /// (sizes checked by the caller).
    pub(super) fn write_cache(&mut self, len: usize, bytes: &[u8]) {
        match self {
            Forward::Gpu(f) => f.kv.write_prefix(&f.gpu, len, bytes),
            Forward::Cpu(f) => f.write_cache(len, bytes),
        }
    }
}

/// The per-session state of a model: KV cache, token history, and the
/// backend's buffers for one step.
pub struct Context {
    /// The tokens at positions `0..len`: the position is its length.
    pub(super) history: Vec<u32>,
    pub(super) forward: Forward,
    vocab: usize,
    n_batch: usize,
}

impl Context {
    /// A context for `model` with `n_ctx` positions (0 = the model's
    /// default, see [`Model::session_n_ctx`]) and up to `n_batch` tokens per
    /// step. `all_logits` keeps the logits of every token of a step.
    pub(crate) fn new(
        model: &Model,
        n_ctx: usize,
        n_batch: usize,
        all_logits: bool,
    ) -> Result<Context, Error> {
        if n_batch == 0 {
            return Err(Error::ZeroSize("n_batch"));
        }
        let n_ctx = model.session_n_ctx(n_ctx);
        if n_ctx == 0 {
            return Err(Error::ZeroSize("n_ctx"));
        }
        let n_batch = n_batch.min(n_ctx);
        let m = &model.inner;
        let forward = match &m.backend {
            Backend::Gpu {
                gpu,
                kernels,
                weights,
            } => Forward::Gpu(GpuForward::new(
                gpu, kernels, &m.config, weights, n_ctx, n_batch, all_logits,
            )?),
            Backend::Cpu(cpu) => {
                Forward::Cpu(CpuForward::new(cpu, &m.config, n_ctx, n_batch, all_logits)?)
            }
        };
        Ok(Context {
            history: Vec::new(),
            forward,
            vocab: m.config.vocab_size,
            n_batch,
        })
    }

    /// Most tokens one step takes (longer feeds are split into steps).
    #[cfg(feature = "testing")]
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// Positions the context holds.
    pub fn n_ctx(&self) -> usize {
        self.forward.n_ctx()
    }

    /// Positions in use: the next token goes at this position.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    #[cfg(feature = "testing")]
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// The tokens in the context, in order.
    pub fn tokens(&self) -> &[u32] {
        &self.history
    }

    /// Tokens in the vocabulary.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// What the KV cache holds (the native CPU path: f16 or f32).
    #[cfg(feature = "testing")]
    pub fn kv_type(&self) -> KvType {
        self.forward.kv_type()
    }

    /// Bytes of the KV cache.
    pub fn kv_cache_bytes(&self) -> u64 {
        self.forward.kv_cache_bytes()
    }

    /// Forgets every position from `len` on, in O(1): the cache keeps its
    /// contents, only the length changes.
    pub fn truncate(&mut self, len: usize) {
        self.history.truncate(len);
    }

    /// Runs `tokens` at the next positions (in steps of at most
    /// [`Context::n_batch`]) and returns what `readback` asks for about the
    /// last step (all rows for `AllLogits` only when `tokens` fits in one
    /// step). Everything is checked before anything runs, so a bad token or
    /// a full context leaves the context as it was.
    pub fn feed(&mut self, tokens: &[u32], readback: Readback) -> Result<StepOutput, Error> {
        let out = self.run_steps(tokens, readback, None)?;
        Ok(out.unwrap_or(StepOutput::None))
    }

    /// [`Context::feed`], asking `stop` before each step after the first:
    /// `None` when it said stop (the steps already run stay in the context).
    /// Each step is waited for before `stop` is asked, so a stop takes
    /// effect within one step: without the wait a GPU would still be
    /// running every step queued ahead of it.
    pub fn feed_until(
        &mut self,
        tokens: &[u32],
        readback: Readback,
        stop: impl Fn() -> bool,
    ) -> Result<Option<StepOutput>, Error> {
        self.run_steps(tokens, readback, Some(&stop))
    }

    fn run_steps(
        &mut self,
        tokens: &[u32],
        readback: Readback,
        stop: Option<&dyn Fn() -> bool>,
    ) -> Result<Option<StepOutput>, Error> {
        self.check_feed(tokens, readback)?;
        let n_steps = tokens.len().div_ceil(self.n_batch);
        let mut out = StepOutput::None;
        for (i, chunk) in tokens.chunks(self.n_batch).enumerate() {
            if i > 0
                && let Some(stop) = stop
            {
                self.forward.wait()?;
                if stop() {
                    return Ok(None);
                }
            }
            let rb = if i + 1 == n_steps {
                readback
            } else {
                Readback::None
            };
            out = self.forward.step(chunk, self.history.len(), rb)?;
            self.history.extend_from_slice(chunk);
        }
        Ok(Some(out))
    }

    pub(super) fn check_feed(&self, tokens: &[u32], readback: Readback) -> Result<(), Error> {
        if tokens.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let needed = self.len() + tokens.len();
        if needed > self.n_ctx() {
            return Err(Error::ContextFull {
                needed,
                n_ctx: self.n_ctx(),
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.vocab) {
            return Err(Error::BadToken {
                token: bad,
                vocab: self.vocab,
            });
        }
        if readback == Readback::AllLogits && !self.forward.has_all_logits() {
            return Err(Error::NoAllLogits);
        }
        Ok(())
    }
}
