//! Bounds on rendering a chat template: it comes from the model file, so it
//! is untrusted code.
//!
//! Three limits, each failing the render with [`ChatError::Limit`]:
//! - **Instructions**: minijinja's fuel, set on every template's
//!   environment. A real template spends tens of instructions per message;
//!   [`FUEL`] allows tens of thousands of messages and runs out in well under
//!   a second, so loops that never end (nested, or over huge ranges) stop.
//! - **Output**: the rendered text goes through [`BoundedWriter`], which
//!   refuses to grow past a budget proportional to the messages' length.
//! - **Time**: the writer also stops a render that has run for longer than
//!   [`MAX_RENDER_TIME`] when it next writes.
//!
//! minijinja itself refuses recursion deeper than 500 calls, ranges over
//! 100,000 items and a string repeated (`"x" * n`) past 100 MB. What these
//! can't bound is a value that doubles without being written out (`{% set
//! s = s ~ s %}` repeated): minijinja has no hook on string building, so
//! such a template can still allocate `2^n` bytes in `n` instructions. The
//! model's template is rendered once at load on a short probe conversation
//! (and replaced by a built-in one when it fails), so such a file fails
//! when it is loaded, not in the middle of a chat.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// Instructions one render may run.
pub(super) const FUEL: u64 = 2_000_000;

/// Wall time one render may take.
pub(super) const MAX_RENDER_TIME: Duration = Duration::from_secs(1);

/// Output bytes a render may write for messages of `input_bytes` bytes in
/// all: the messages four times over (a template writes each once, plus its
/// markup) and 64 KiB.
pub(super) fn max_output(input_bytes: usize) -> usize {
    input_bytes.saturating_mul(4).saturating_add(64 * 1024)
}

/// Which limit a render hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderLimit {
    /// The instruction budget (2,000,000 instructions).
    Instructions,
    /// The output budget.
    Output { max_bytes: usize },
    /// The time budget (one second).
    Time,
}

impl std::fmt::Display for RenderLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderLimit::Instructions => write!(f, "ran more than {FUEL} instructions"),
            RenderLimit::Output { max_bytes } => write!(f, "wrote more than {max_bytes} bytes"),
            RenderLimit::Time => write!(f, "ran longer than {MAX_RENDER_TIME:?}"),
        }
    }
}

/// Collects the rendered text, failing once it is past `max_bytes` or the
/// render is past its time.
pub(super) struct BoundedWriter {
    pub out: Vec<u8>,
    max_bytes: usize,
    deadline: Instant,
    /// The limit that stopped the render, if one did.
    pub hit: Option<RenderLimit>,
}

impl BoundedWriter {
    pub fn new(max_bytes: usize) -> BoundedWriter {
        BoundedWriter {
            out: Vec::new(),
            max_bytes,
            deadline: Instant::now() + MAX_RENDER_TIME,
            hit: None,
        }
    }
}

impl Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len().saturating_add(buf.len()) > self.max_bytes {
            self.hit = Some(RenderLimit::Output {
                max_bytes: self.max_bytes,
            });
        } else if Instant::now() > self.deadline {
            self.hit = Some(RenderLimit::Time);
        }
        if self.hit.is_some() {
            return Err(io::Error::other("chat template over its limits"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
