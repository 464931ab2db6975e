//! Generation with a callback (the push API): the core's loop runs on the
//! calling thread, and every event, guard and logits callback is called
//! there, during the call.

use std::ffi::c_void;

use rewind::session::LogitsProcessor;
use rewind::{Control, Event, GenerateOptions, Guard, Verdict};

use crate::call::{arg, call, slice_arg};
use crate::event::{EventSlot, rw_event};
use crate::model::{messages, rw_message};
use crate::options::{Hooks, generate_options, rw_generate_options};
use crate::session::rw_session;
use crate::status::{Failure, rw_status};

/// What to generate from: either messages, rendered with the model's chat
/// template (ending with the assistant's header), or raw token ids fed as
/// they are. Exactly one of `n_messages` and `n_tokens` is non-zero.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_prompt {
    pub messages: *const rw_message,
    pub n_messages: usize,
    pub tokens: *const u32,
    pub n_tokens: usize,
}

/// The event callback's answer.
pub type rw_control = i32;
pub const RW_CONTINUE: rw_control = 0;
/// Stop the generation (it ends with `RW_STOP_CANCELLED`).
pub const RW_STOP: rw_control = 1;

/// Receives each event of a generation, on the calling thread; the event
/// and its text are valid during the call only.
pub type rw_event_fn =
    Option<unsafe extern "C" fn(event: *const rw_event, user: *mut c_void) -> rw_control>;

/// A generation's input: the prompt's tokens and the options.
pub(crate) struct Request {
    pub tokens: Vec<u32>,
    pub options: GenerateOptions,
    pub hooks: Hooks,
}

impl Request {
    /// Checks and converts a caller's prompt and options.
    ///
    /// # Safety
    /// The pointers are NULL or valid, as the entry points document.
    pub unsafe fn new(
        session: &rw_session,
        prompt: *const rw_prompt,
        options: *const rw_generate_options,
    ) -> Result<Request, Failure> {
        let p = unsafe { arg(prompt, "prompt") }?;
        let tokens = match (p.n_messages, p.n_tokens) {
            (0, 0) => return Err(Failure::invalid("the prompt is empty")),
            (_, 0) => session
                .model
                .chat_tokens(&unsafe { messages(p.messages, p.n_messages) }?)?,
            (0, _) => unsafe { slice_arg(p.tokens, p.n_tokens, "prompt->tokens") }?.to_vec(),
            _ => return Err(Failure::invalid("the prompt has both messages and tokens")),
        };
        let (options, hooks) = unsafe { generate_options(options) }?;
        Ok(Request {
            tokens,
            options,
            hooks,
        })
    }
}

/// Runs one generation on the calling thread, `on_event` (and the
/// options' callbacks) called there.
pub(crate) fn run_here(
    s: &rw_session,
    tokens: &[u32],
    mut options: GenerateOptions,
    on_event: impl FnMut(Event<'_>) -> Control,
) -> Result<(), Failure> {
    let mut inner = s.lock()?;
    let session = inner.idle()?;
    options.cancel = Some(s.cancel_flag());
    let result = session.generate(tokens, &options, on_event);
    s.generation_ended();
    result?;
    Ok(())
}

impl Hooks {
    /// Has the core call the hooks directly (on the generating thread).
    fn install(self, options: &mut GenerateOptions) {
        if self.guard.is_some() {
            options.guard = Some(Guard::new(move |text| {
                if self.guard(text) {
                    Verdict::Reset
                } else {
                    Verdict::Allow
                }
            }));
        }
        if self.logits.is_some() {
            options.logits_processor = Some(LogitsProcessor::new(move |step, logits| {
                self.process(step, logits)
            }));
        }
    }
}

/// Generates one assistant turn on the calling thread. The context is made
/// equal to the prompt (reusing the longest prefix already in the cache, so
/// a conversation re-sent with a new turn only runs the new tokens), then
/// each event goes to `on_event(event, user)`: text, a reset with the
/// discarded text (erase exactly that), and last, done. Returns after
/// the done event; a cancelled generation is `RW_OK` with
/// `RW_STOP_CANCELLED`. `options` NULL = defaults.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_generate(
    session: *mut rw_session,
    prompt: *const rw_prompt,
    options: *const rw_generate_options,
    on_event: rw_event_fn,
    user: *mut c_void,
) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let on_event = on_event.ok_or_else(|| Failure::invalid("on_event is NULL"))?;
        let mut req = unsafe { Request::new(s, prompt, options) }?;
        req.hooks.install(&mut req.options);
        let mut slot = EventSlot::default();
        run_here(s, &req.tokens, req.options, |e| {
            // SAFETY: the caller's callback, with an event live for the call.
            match unsafe { on_event(slot.fill(&e), user) } {
                RW_CONTINUE => Control::Continue,
                _ => Control::Stop,
            }
        })
    })
}
