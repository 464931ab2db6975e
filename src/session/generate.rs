//! The decoding loop of one assistant turn, with backtracking.
//!
//! The checkpoint is the context length when the turn starts: after the
//! prompt, before any prefill. A reset (the model's reset token, or the
//! host's guard) discards the turn's text; under `Rollback` the cache's
//! logical length goes back to the checkpoint (O(1): nothing is copied or
//! recomputed) and the reset token is fed there, so the discarded tokens
//! leave no trace; under `KeepContext` the unsafe prefix and the reset token
//! stay in the context until the turn ends, and then the cache is rolled back
//! and only the visible answer re-fed.

use std::time::Instant;

use super::Session;
use super::options::{
    Control, Event, GenerateOptions, ResetCause, ResetPolicy, ResetToken, Stats, StopReason,
    Verdict,
};
use super::turn::Turn;
use crate::error::Error;
use crate::model::{Readback, StepOutput};
use crate::sample::Sampler;

/// The reset token the default options look for.
pub const DEFAULT_RESET_TEXT: &str = "[RESET]";

impl Session {
    /// The reset token id `which` names in this model's vocabulary, or
    /// `None` when backtracking is off.
    pub fn resolve_reset_token(&self, which: &ResetToken) -> Result<Option<u32>, Error> {
        let tok = self.model().tokenizer();
        match which {
            ResetToken::Off => Ok(None),
            ResetToken::Auto => Ok(tok.token_id(DEFAULT_RESET_TEXT)),
            ResetToken::Text(t) => tok
                .token_id(t)
                .map(Some)
                .ok_or_else(|| Error::UnknownResetToken(format!("`{t}`"))),
            ResetToken::Id(id) if (*id as usize) < self.model().config().vocab_size => {
                Ok(Some(*id))
            }
            ResetToken::Id(id) => Err(Error::UnknownResetToken(format!("id {id}"))),
        }
    }

    /// Makes the context equal to `prompt` (reusing the longest common
    /// prefix already in the cache), then generates one assistant turn,
    /// reporting it through `on_event`. The context afterwards holds the
    /// prompt and the turn's visible tokens.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        opts: &GenerateOptions,
        mut on_event: impl FnMut(Event<'_>) -> Control,
    ) -> Result<Stats, Error> {
        if prompt.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        if prompt.len() >= self.n_ctx() {
            return Err(Error::PromptTooLong {
                prompt: prompt.len(),
                n_ctx: self.n_ctx(),
            });
        }
        let bt = &opts.backtrack;
        let reset_token = self.resolve_reset_token(&bt.reset_token)?;
        let vocab = self.model().config().vocab_size;
        let mut sampler = Sampler::new(opts.sampler.clone())?;
        let model = self.model().clone();
        let tok = model.tokenizer();
        // Greedy without penalties or a reset logit to adjust needs only the
        // argmax: 4 bytes read back per token.
        let readback =
            if sampler.is_greedy() && reset_token.is_none() && opts.logits_processor.is_none() {
                Readback::Argmax
            } else {
                Readback::LastLogits
            };

        let common = self
            .history()
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len() - 1);
        self.truncate(common);
        let mut stats = Stats::default();
        let cancelled = || opts.cancel.as_ref().is_some_and(|c| c.is_cancelled());
        let mut turn = Turn::new(tok, &opts.stop, bt.holdback);
        let t0 = Instant::now();
        // The prompt runs in steps of n_batch tokens; a cancel stops it
        // between two (one that came before the call stops it before any).
        let fed = match cancelled() {
            true => None,
            false => self
                .context
                .feed_until(&prompt[common..], readback, cancelled)?,
        };
        stats.prompt_tokens = self.history().len() - common;
        stats.prompt_time = t0.elapsed();
        let t1 = Instant::now();
        let Some(mut out) = fed else {
            return self.finish(turn, false, StopReason::Cancelled, stats, t1, on_event);
        };

        let checkpoint = self.history().len();
        if !opts.prefill.is_empty() {
            let ids = tok.encode(&opts.prefill, false)?;
            if self.history().len() + ids.len() >= self.n_ctx() {
                return Err(Error::PromptTooLong {
                    prompt: self.history().len() + ids.len(),
                    n_ctx: self.n_ctx(),
                });
            }
            if !ids.is_empty() {
                out = self.feed(&ids, readback)?;
                let shown = turn.push_text(&ids, &opts.prefill);
                if on_event(Event::Text(&shown)) == Control::Stop {
                    return self.finish(turn, false, StopReason::Cancelled, stats, t1, on_event);
                }
            }
        }
        let mut diverged = false; // KeepContext: discarded tokens are in the context
        let mut visible_from = checkpoint; // where the visible answer's tokens start
        let mut banned: Option<u32> = None; // first token of an attempt a guard reset
        let reason = loop {
            if cancelled() {
                break StopReason::Cancelled;
            }
            if stats.generated_tokens >= opts.max_tokens {
                break StopReason::MaxTokens;
            }
            let next = match out {
                StepOutput::Argmax(t) if t as usize >= vocab => return Err(Error::NoFiniteLogits),
                StepOutput::Argmax(t) => t,
                StepOutput::Logits(mut logits) => {
                    if let Some(p) = &opts.logits_processor {
                        (p.0)(stats.generated_tokens, &mut logits);
                    }
                    if let Some(r) = reset_token {
                        let l = &mut logits[r as usize];
                        *l = if stats.resets >= bt.max_resets {
                            f32::NEG_INFINITY
                        } else {
                            *l + bt.reset_bias
                        };
                    }
                    if let Some(b) = banned.take() {
                        logits[b as usize] = f32::NEG_INFINITY;
                    }
                    let t = sampler.sample(&logits, self.history());
                    // The sampler picks a NaN logit only when all are NaN.
                    if logits[t as usize].is_nan() {
                        return Err(Error::NoFiniteLogits);
                    }
                    t
                }
                StepOutput::None => unreachable!("the last step always reads back"),
            };
            stats.generated_tokens += 1;

            let cause = if Some(next) == reset_token {
                Some(ResetCause::Model)
            } else {
                if !opts.ignore_eos && tok.is_eog(next) {
                    break StopReason::EndOfGeneration;
                }
                let (released, matched) = turn.push(next)?;
                if !released.is_empty() && on_event(Event::Text(&released)) == Control::Stop {
                    break StopReason::Cancelled;
                }
                if matched {
                    break StopReason::StopString;
                }
                let guard_says_reset = stats.resets < bt.max_resets
                    && opts
                        .guard
                        .as_ref()
                        .is_some_and(|g| (g.0)(&turn.text) == Verdict::Reset);
                guard_says_reset.then_some(ResetCause::Guard)
            };

            let Some(cause) = cause else {
                if self.history().len() >= self.n_ctx() {
                    break StopReason::ContextFull;
                }
                out = self.feed(&[next], readback)?;
                continue;
            };

            // A reset: the turn so far is discarded.
            stats.resets += 1;
            stats.discarded_tokens += turn.tokens.len();
            on_event(Event::Reset {
                discarded: &turn.shown,
                cause,
            });
            let first_attempt_token = turn.tokens.first().copied();
            turn.clear();
            // Under KeepContext a guard-flagged token goes into the context
            // too, before the reset token.
            let unfed: &[u32] = if cause == ResetCause::Guard {
                &[next]
            } else {
                &[]
            };
            let room = self.n_ctx() - self.history().len();
            out = match (bt.policy, reset_token) {
                (ResetPolicy::Rollback, Some(r)) => {
                    self.truncate(checkpoint);
                    self.feed(&[r], readback)?
                }
                (ResetPolicy::KeepContext, Some(r)) => {
                    if room < unfed.len() + 1 {
                        break StopReason::ContextFull;
                    }
                    diverged = true;
                    let tokens: Vec<u32> = unfed.iter().copied().chain([r]).collect();
                    let out = self.feed(&tokens, readback)?;
                    visible_from = self.history().len();
                    out
                }
                (_, None) => {
                    // No reset token to feed: go back to the checkpoint and
                    // recompute its logits from the last prompt token, banning
                    // the discarded attempt's first token so decoding takes
                    // another path.
                    self.truncate(checkpoint - 1);
                    let last = prompt[checkpoint - 1];
                    banned = first_attempt_token;
                    self.feed(&[last], Readback::LastLogits)?
                }
            };
        };
        if diverged {
            // KeepContext: the conversation keeps only what the user saw, as
            // far as it was fed (a last token that ended the turn isn't).
            let fed = self.history().len() - visible_from;
            self.truncate(checkpoint);
            let visible: Vec<u32> = turn.tokens.iter().copied().take(fed).collect();
            if !visible.is_empty() {
                self.feed(&visible, Readback::None)?;
            }
        }
        let stopped_by_string = reason == StopReason::StopString;
        self.finish(turn, stopped_by_string, reason, stats, t1, on_event)
    }

    /// Releases held-back text (unless cancelled) and reports the end.
    fn finish(
        &mut self,
        mut turn: Turn<'_>,
        stopped_by_string: bool,
        reason: StopReason,
        mut stats: Stats,
        t1: Instant,
        mut on_event: impl FnMut(Event<'_>) -> Control,
    ) -> Result<Stats, Error> {
        if reason != StopReason::Cancelled {
            let rest = turn.finish(stopped_by_string);
            if !rest.is_empty() {
                on_event(Event::Text(&rest));
            }
        }
        stats.generation_time = t1.elapsed();
        on_event(Event::Done {
            reason,
            stats: &stats,
        });
        Ok(stats)
    }
}
