//! `rw_session`: one KV cache, used by one thread at a time. Every call
//! takes the handle's lock with `try_lock`, so a second thread gets
//! `RW_BUSY` instead of a data race; only `rw_session_cancel` skips it.
//! Saving, restoring, feeding and rolling back for hosts that drive
//! decoding themselves are here; generation is in `generate` and `pull`.

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use rewind::{CancelFlag, Model, Session};

use crate::call::{Out, arg, call, slice_arg};
use crate::event::EventSlot;
use crate::model::rw_model;
use crate::options::{rw_session_options, session_options};
use crate::pull::Worker;
use crate::status::{Failure, rw_status};

/// A conversation's state on the GPU (opaque).
pub struct rw_session {
    pub(crate) model: Model,
    /// The flag the next (or running) generation watches. Cancel sets it;
    /// the end of a generation replaces it, so a cancel that comes before a
    /// generation starts stops that generation.
    cancel: Mutex<CancelFlag>,
    inner: Mutex<Inner>,
}

/// What the lock guards.
pub(crate) struct Inner {
    /// `None` while a started generation's worker owns it.
    pub session: Option<Session>,
    /// The generation `rw_session_start` started, until its last event.
    pub worker: Option<Worker>,
    /// The event `rw_session_next` handed out last.
    pub event: EventSlot,
}

impl Inner {
    /// The session, when no started generation holds it.
    pub fn idle(&mut self) -> Result<&mut Session, Failure> {
        if self.worker.is_some() {
            return Err(Failure::busy(
                "a generation started with rw_session_start is running: read its events up to \
                 RW_EVENT_DONE (rw_session_cancel ends it early)",
            ));
        }
        self.session
            .as_mut()
            .ok_or_else(|| Failure::internal("the session was lost to an earlier internal error"))
    }
}

impl rw_session {
    /// Takes the handle for one call, or `RW_BUSY`.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Inner>, Failure> {
        match self.inner.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::WouldBlock) => Err(Failure::busy(
                "the session is in use by another thread (one thread at a time per session)",
            )),
            // A panic inside a call was caught at the boundary; the state
            // it guards is still consistent (the context only changes
            // after a step completes).
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        }
    }

    /// The flag the next generation watches.
    pub(crate) fn cancel_flag(&self) -> CancelFlag {
        self.cancel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A generation ended: later cancels are for the next one.
    pub(crate) fn generation_ended(&self) {
        *self.cancel.lock().unwrap_or_else(PoisonError::into_inner) = CancelFlag::new();
    }
}

/// Creates a session of `model` with `options` (NULL = defaults). The
/// session keeps the model's weights alive: the model handle may be
/// released before it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_new(
    model: *mut rw_model,
    options: *const rw_session_options,
    out: *mut *mut rw_session,
) -> rw_status {
    call(|| {
        let m = unsafe { arg(model, "model") }?;
        let out = unsafe { Out::new(out, "out") }?;
        let opts = unsafe { session_options(options) }?;
        let session = Session::new(&m.model, &opts)?;
        out.set(Box::into_raw(Box::new(rw_session {
            model: m.model.clone(),
            cancel: Mutex::new(CancelFlag::new()),
            inner: Mutex::new(Inner {
                session: Some(session),
                worker: None,
                event: EventSlot::default(),
            }),
        })));
        Ok(())
    })
}

/// Frees a session. A generation started with `rw_session_start` is
/// cancelled and waited for. `RW_BUSY` (and nothing freed) while another
/// thread is inside a call on it: cancel, let that call return, free again.
/// NULL is `RW_OK`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_free(session: *mut rw_session) -> rw_status {
    call(|| {
        let Some(s) = (unsafe { session.as_ref() }) else {
            return Ok(());
        };
        // A started generation is cancelled and waited for (`Worker`'s drop).
        drop(s.lock()?.worker.take());
        // SAFETY: made by `rw_session_new`; no call holds the lock (checked
        // above) and the caller gives the handle up.
        drop(unsafe { Box::from_raw(session) });
        Ok(())
    })
}

/// Cancels the session's generation from any thread: the one running (a
/// long prompt stops between chunks of `n_batch` tokens, decoding before
/// the next token), or else the next one, which then ends at once. The
/// generation ends normally with `RW_STOP_CANCELLED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_cancel(session: *mut rw_session) -> rw_status {
    call(|| {
        unsafe { arg(session, "session") }?.cancel_flag().cancel();
        Ok(())
    })
}

/// Tokens in the session's context: the checkpoint to pass to
/// `rw_session_truncate` later.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_length(session: *mut rw_session, out: *mut usize) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let out = unsafe { Out::new(out, "out") }?;
        out.set(s.lock()?.idle()?.history().len());
        Ok(())
    })
}

/// Rolls the context back to its first `length` tokens, in O(1) (the cache
/// keeps its contents; only its length changes). `length` above the
/// current length is `RW_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_truncate(session: *mut rw_session, length: usize) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let mut inner = s.lock()?;
        let session = inner.idle()?;
        let len = session.history().len();
        if length > len {
            return Err(Failure::invalid(format!(
                "length {length} is past the context's {len} tokens"
            )));
        }
        session.truncate(length);
        Ok(())
    })
}

/// Runs `n` tokens at the next positions of the context (for hosts that
/// sample themselves). When `logits` is not NULL, the last token's logits
/// are written there: `n_logits` must be at least `rw_model_vocab_size`.
/// A bad token id or a full context fails before anything runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_feed(
    session: *mut rw_session,
    tokens: *const u32,
    n: usize,
    logits: *mut f32,
    n_logits: usize,
) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let tokens = unsafe { slice_arg(tokens, n, "tokens") }?;
        if tokens.is_empty() {
            return Err(Failure::invalid("no tokens to feed"));
        }
        let vocab = s.model.config().vocab_size;
        if !logits.is_null() && n_logits < vocab {
            return Err(Failure::invalid(format!(
                "n_logits is {n_logits}; the vocabulary has {vocab} tokens"
            )));
        }
        let mut inner = s.lock()?;
        let session = inner.idle()?;
        if logits.is_null() {
            session.feed(tokens, rewind::model::Readback::None)?;
        } else {
            let row = session.logits_after(tokens)?;
            // SAFETY: checked non-NULL with room for `vocab` floats.
            unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), logits, vocab) };
        }
        Ok(())
    })
}

/// Bytes `rw_session_save_state` writes now (computed, not saved).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_state_size(
    session: *mut rw_session,
    out: *mut usize,
) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let out = unsafe { Out::new(out, "out") }?;
        out.set(s.lock()?.idle()?.state_size());
        Ok(())
    })
}

/// Saves the session's whole state (token history and KV cache) into `buf`
/// of `capacity` bytes and its size into `*written`. When `capacity` is
/// below the size, nothing is written but `*written` (the size needed) and
/// the status is `RW_INVALID_ARGUMENT`. The bytes restore into any session
/// of the same model (`rw_session_restore_state`), e.g. after an app was
/// suspended.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_save_state(
    session: *mut rw_session,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let written = unsafe { Out::new(written, "written") }?;
        let mut inner = s.lock()?;
        let session = inner.idle()?;
        let size = session.state_size();
        if capacity < size || buf.is_null() {
            written.set(size);
            return Err(Failure::invalid(format!(
                "the state has {size} bytes; the buffer has {capacity}{}",
                if buf.is_null() { " and is NULL" } else { "" }
            )));
        }
        let bytes = session.save_state()?;
        // SAFETY: `buf` has room for `capacity` >= `size` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
        written.set(bytes.len());
        Ok(())
    })
}

/// Replaces the session's state with `size` bytes `rw_session_save_state`
/// wrote (by a session of the same model). Every byte is checked first: on
/// error (`RW_INVALID_ARGUMENT`) the session is unchanged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_restore_state(
    session: *mut rw_session,
    data: *const u8,
    size: usize,
) -> rw_status {
    call(|| {
        let s = unsafe { arg(session, "session") }?;
        let bytes = unsafe { slice_arg(data, size, "data") }?;
        s.lock()?.idle()?.restore_state(bytes)?;
        Ok(())
    })
}
