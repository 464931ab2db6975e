//! What a generation reports across the boundary: [`rw_event`], built in a
//! buffer the library owns ([`EventSlot`]) so its text stays valid while
//! the caller looks at it.

use std::ffi::c_char;

use rewind::{Event, ResetCause, Stats, StopReason};

/// What an event is.
pub type rw_event_kind = i32;
/// New visible text: `text` is what to append.
pub const RW_EVENT_TEXT: rw_event_kind = 0;
/// The turn so far was discarded: `text` is exactly the text shown since the
/// turn began (what a UI must erase), `reset_cause` says who asked.
pub const RW_EVENT_RESET: rw_event_kind = 1;
/// The generation ended: `stop_reason` and `stats` say how. Always the
/// last event of a generation that didn't fail.
pub const RW_EVENT_DONE: rw_event_kind = 2;

/// Who asked for a reset.
pub type rw_reset_cause = i32;
/// The model sampled its reset token.
pub const RW_RESET_BY_MODEL: rw_reset_cause = 0;
/// The host's guard callback.
pub const RW_RESET_BY_GUARD: rw_reset_cause = 1;

/// Why a generation ended.
pub type rw_stop_reason = i32;
/// The model emitted an end-of-generation token.
pub const RW_STOP_END_OF_GENERATION: rw_stop_reason = 0;
pub const RW_STOP_MAX_TOKENS: rw_stop_reason = 1;
/// A stop string was reached (it is not emitted).
pub const RW_STOP_STOP_STRING: rw_stop_reason = 2;
pub const RW_STOP_CONTEXT_FULL: rw_stop_reason = 3;
/// `rw_session_cancel`, or the event callback returned `RW_STOP`.
pub const RW_STOP_CANCELLED: rw_stop_reason = 4;

/// Counters and timings of one generation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rw_stats {
    /// Prompt tokens run (those already in the cache are reused, not run).
    pub prompt_tokens: u64,
    /// Tokens sampled, those later discarded included.
    pub generated_tokens: u64,
    /// Tokens a reset threw away (prefill included).
    pub discarded_tokens: u64,
    pub resets: u64,
    pub prompt_seconds: f64,
    pub generation_seconds: f64,
}

impl From<&Stats> for rw_stats {
    fn from(s: &Stats) -> rw_stats {
        rw_stats {
            prompt_tokens: s.prompt_tokens as u64,
            generated_tokens: s.generated_tokens as u64,
            discarded_tokens: s.discarded_tokens as u64,
            resets: s.resets as u64,
            prompt_seconds: s.prompt_time.as_secs_f64(),
            generation_seconds: s.generation_time.as_secs_f64(),
        }
    }
}

/// One event of a generation. Owned by the library: valid during the
/// callback (push) or until the next call on the session (pull).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_event {
    /// `RW_EVENT_TEXT`, `RW_EVENT_RESET` or `RW_EVENT_DONE`.
    pub kind: rw_event_kind,
    /// `RW_EVENT_RESET`: `RW_RESET_BY_*`; 0 otherwise.
    pub reset_cause: rw_reset_cause,
    /// TEXT: the new text; RESET: the discarded text; DONE: "". UTF-8,
    /// NUL-terminated, never NULL.
    pub text: *const c_char,
    /// Bytes of `text`, without the NUL (text may hold NUL bytes).
    pub text_len: usize,
    /// `RW_EVENT_DONE`: `RW_STOP_*`; 0 otherwise.
    pub stop_reason: rw_stop_reason,
    /// `RW_EVENT_DONE`: the generation's counters; zeros otherwise.
    pub stats: rw_stats,
}

fn stop_reason(r: StopReason) -> rw_stop_reason {
    match r {
        StopReason::EndOfGeneration => RW_STOP_END_OF_GENERATION,
        StopReason::MaxTokens => RW_STOP_MAX_TOKENS,
        StopReason::StopString => RW_STOP_STOP_STRING,
        StopReason::ContextFull => RW_STOP_CONTEXT_FULL,
        StopReason::Cancelled => RW_STOP_CANCELLED,
    }
}

fn reset_cause(c: ResetCause) -> rw_reset_cause {
    match c {
        ResetCause::Model => RW_RESET_BY_MODEL,
        ResetCause::Guard => RW_RESET_BY_GUARD,
    }
}

/// An event that owns its text, to cross threads (the pull API).
#[derive(Debug)]
pub(crate) enum OwnedEvent {
    Text(String),
    Reset(String, ResetCause),
    Done(StopReason, Stats),
}

impl OwnedEvent {
    pub fn new(e: &Event<'_>) -> OwnedEvent {
        match *e {
            Event::Text(t) => OwnedEvent::Text(t.to_string()),
            Event::Reset { discarded, cause } => OwnedEvent::Reset(discarded.to_string(), cause),
            Event::Done { reason, stats } => OwnedEvent::Done(reason, stats.clone()),
        }
    }

    pub fn as_event(&self) -> Event<'_> {
        match self {
            OwnedEvent::Text(t) => Event::Text(t),
            OwnedEvent::Reset(t, cause) => Event::Reset {
                discarded: t,
                cause: *cause,
            },
            OwnedEvent::Done(reason, stats) => Event::Done {
                reason: *reason,
                stats,
            },
        }
    }
}

/// Where the library keeps the event it hands out, and its text.
pub(crate) struct EventSlot {
    event: rw_event,
    text: Vec<u8>,
}

impl Default for EventSlot {
    fn default() -> Self {
        EventSlot {
            event: rw_event {
                kind: RW_EVENT_DONE,
                reset_cause: 0,
                text: c"".as_ptr(),
                text_len: 0,
                stop_reason: 0,
                stats: rw_stats::default(),
            },
            text: Vec::new(),
        }
    }
}

impl EventSlot {
    /// Stores `e` and returns its C view, valid until the next `fill`.
    pub fn fill(&mut self, e: &Event<'_>) -> &rw_event {
        let (kind, text, cause, reason, stats) = match *e {
            Event::Text(t) => (RW_EVENT_TEXT, t, 0, 0, rw_stats::default()),
            Event::Reset { discarded, cause } => (
                RW_EVENT_RESET,
                discarded,
                reset_cause(cause),
                0,
                rw_stats::default(),
            ),
            Event::Done { reason, stats } => {
                (RW_EVENT_DONE, "", 0, stop_reason(reason), stats.into())
            }
        };
        self.text.clear();
        self.text.extend_from_slice(text.as_bytes());
        self.text.push(0);
        self.event = rw_event {
            kind,
            reset_cause: cause,
            text: self.text.as_ptr().cast(),
            text_len: text.len(),
            stop_reason: reason,
            stats,
        };
        &self.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn events_carry_their_text_and_details() {
        let mut slot = EventSlot::default();
        let e = slot.fill(&Event::Reset {
            discarded: "Sure! The code is",
            cause: ResetCause::Model,
        });
        assert_eq!(
            (e.kind, e.reset_cause, e.text_len),
            (RW_EVENT_RESET, RW_RESET_BY_MODEL, 17)
        );
        assert_eq!(
            unsafe { CStr::from_ptr(e.text) }.to_str().unwrap(),
            "Sure! The code is"
        );
        let stats = Stats {
            generated_tokens: 3,
            ..Stats::default()
        };
        let owned = OwnedEvent::new(&Event::Done {
            reason: StopReason::Cancelled,
            stats: &stats,
        });
        let e = slot.fill(&owned.as_event());
        assert_eq!(
            (e.kind, e.stop_reason, e.text_len),
            (RW_EVENT_DONE, RW_STOP_CANCELLED, 0)
        );
        assert_eq!(e.stats.generated_tokens, 3);
        assert_eq!(unsafe { *e.text }, 0);
    }
}
