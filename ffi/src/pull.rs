//! Generation read one event at a time (the pull API), for hosts whose
//! streams are pulled: a Kotlin `Flow`, a Swift `AsyncSequence`, an event
//! loop.
//!
//! The core's loop is push-only (`Session::generate` calls back), so a
//! started generation runs on a worker thread that owns the session until
//! the generation ends, and hands each event over a rendezvous channel:
//! the worker computes the next token while the caller handles the
//! current event, and never runs further ahead. The caller's guard and
//! logits callbacks travel the other way: the worker asks, and
//! `rw_session_next` calls them on the caller's thread and answers, so every
//! callback still runs on a thread inside a call of the caller's. (Making
//! the core's loop resumable would avoid the thread but would turn the
//! decoding loop inside out for every other user.)

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rewind::session::LogitsProcessor;
use rewind::{CancelFlag, Control, Guard, Session, Verdict};

use crate::call::{Out, arg, call};
use crate::event::{OwnedEvent, rw_event};
use crate::generate::{Request, rw_prompt};
use crate::options::{Hooks, rw_generate_options};
use crate::session::{Inner, rw_session};
use crate::status::{Failure, rw_status};

/// What the worker sends.
enum Msg {
    Event(OwnedEvent),
    /// The guard's question, and where its answer goes.
    Guard(String, SyncSender<bool>),
    /// The logits to process, and where they go back.
    Logits(usize, Vec<f32>, SyncSender<Vec<f32>>),
    /// The generation failed (no done event follows).
    Failed(Failure),
}

/// A generation running on its own thread.
pub(crate) struct Worker {
    events: Option<Receiver<Msg>>,
    thread: Option<JoinHandle<Option<Session>>>,
    hooks: Hooks,
    cancel: CancelFlag,
}

/// Asks the reader of events something and waits for the answer (`None`
/// when nobody reads any more).
fn ask<T>(tx: &SyncSender<Msg>, msg: impl FnOnce(SyncSender<T>) -> Msg) -> Option<T> {
    let (reply_tx, reply_rx) = sync_channel(1);
    tx.send(msg(reply_tx)).ok()?;
    reply_rx.recv().ok()
}

impl Worker {
    /// Starts a thread that will run `req` on the session sent to the
    /// returned sender (sent once the thread exists, so a failed spawn loses
    /// nothing).
    fn spawn(req: Request, cancel: CancelFlag) -> Result<(Worker, SyncSender<Session>), Failure> {
        let (tx, rx) = sync_channel::<Msg>(0);
        let mut options = req.options;
        options.cancel = Some(cancel.clone());
        if req.hooks.guard.is_some() {
            let tx = tx.clone();
            options.guard = Some(Guard::new(move |text| {
                match ask(&tx, |reply| Msg::Guard(text.to_string(), reply)) {
                    Some(true) => Verdict::Reset,
                    _ => Verdict::Allow,
                }
            }));
        }
        if req.hooks.logits.is_some() {
            let tx = tx.clone();
            options.logits_processor = Some(LogitsProcessor::new(move |step, logits| {
                if let Some(back) = ask(&tx, |reply| Msg::Logits(step, logits.to_vec(), reply)) {
                    logits.copy_from_slice(&back);
                }
            }));
        }
        let (session_tx, session_rx) = sync_channel::<Session>(1);
        let tokens = req.tokens;
        let thread = std::thread::Builder::new()
            .name("rewind-generate".into())
            .spawn(move || {
                let mut session = session_rx.recv().ok()?;
                let result = session.generate(&tokens, &options, |e| {
                    match tx.send(Msg::Event(OwnedEvent::new(&e))) {
                        Ok(()) => Control::Continue,
                        Err(_) => Control::Stop, // nobody reads: stop
                    }
                });
                if let Err(e) = result {
                    let _ = tx.send(Msg::Failed(e.into()));
                }
                Some(session)
            })
            .map_err(|e| Failure::internal(format!("starting a thread: {e}")))?;
        let worker = Worker {
            events: Some(rx),
            thread: Some(thread),
            hooks: req.hooks,
            cancel,
        };
        Ok((worker, session_tx))
    }

    /// The next event, answering the worker's questions meanwhile. `None`
    /// when the worker ended without a done event or failure (it panicked).
    fn next(&mut self) -> Option<Result<OwnedEvent, Failure>> {
        let events = self.events.as_ref()?;
        loop {
            match events.recv().ok()? {
                Msg::Event(e) => return Some(Ok(e)),
                Msg::Failed(f) => return Some(Err(f)),
                Msg::Guard(text, reply) => {
                    let _ = reply.send(self.hooks.guard(&text));
                }
                Msg::Logits(step, mut logits, reply) => {
                    self.hooks.process(step, &mut logits);
                    let _ = reply.send(logits);
                }
            }
        }
    }

    /// Waits for the thread (after its last message) and takes the session
    /// back.
    fn join(mut self) -> Result<Session, Failure> {
        self.events = None;
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .ok()
            .flatten()
            .ok_or_else(|| Failure::internal("the generation thread panicked; the session is lost"))
    }
}

impl Drop for Worker {
    /// An abandoned generation (the session freed mid-way): cancel it, stop
    /// reading so its next event ends it, and wait.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.cancel.cancel();
            self.events = None;
            let _ = thread.join();
        }
    }
}

/// Starts a generation (as `rw_session_generate` would run it) without
/// waiting: read its events with `rw_session_next` until `RW_EVENT_DONE`.
/// Until then the session is `RW_BUSY` to every other call but
/// `rw_session_next`, `rw_session_cancel` and `rw_session_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_start(
    session: *mut rw_session,
    prompt: *const rw_prompt,
    options: *const rw_generate_options,
) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let req = unsafe { Request::new(s, prompt, options) }?;
        let mut inner = s.lock()?;
        inner.idle()?;
        let (worker, handover) = Worker::spawn(req, s.cancel_flag())?;
        let session = inner.session.take().expect("idle() checked it");
        handover
            .send(session)
            .expect("the worker waits for its session");
        inner.worker = Some(worker);
        Ok(())
    })
}

/// Waits for the next event of the generation `rw_session_start` started
/// and points `*event` at it: owned by the session, valid until the next
/// call on the session. After `RW_EVENT_DONE` the session is free for other
/// calls. A generation that fails returns its status here instead (the
/// session is free again, no done event follows). The guard and logits
/// callbacks of the options are called from inside this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_next(
    session: *mut rw_session,
    event: *mut *const rw_event,
) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let out = unsafe { Out::new(event, "event") }?;
        let mut guard = s.lock()?;
        let inner: &mut Inner = &mut guard;
        let worker = inner.worker.as_mut().ok_or_else(|| {
            Failure::invalid("no generation is running: call rw_session_start first")
        })?;
        let next = worker.next();
        let done = !matches!(next, Some(Ok(OwnedEvent::Text(_) | OwnedEvent::Reset(..))));
        if done {
            let worker = inner.worker.take().expect("checked above");
            s.generation_ended();
            inner.session = Some(worker.join()?);
        }
        match next {
            Some(Ok(e)) => {
                out.set(inner.event.fill(&e.as_event()));
                Ok(())
            }
            Some(Err(f)) => Err(f),
            None => Err(Failure::internal(
                "the generation thread ended without a result",
            )),
        }
    })
}
