//! Bounds on rendering a chat template: it comes from the model file, so it
//! is untrusted code.
//!
//! Three limits, each failing the render with [`ChatError::Limit`]:
//! - **Fuel**: minijinja's budget, set for every render by [`fuel`]. Each
//!   instruction costs one unit, and so does every 64 bytes of strings (and
//!   list slots) that operators, filters and functions create, checked
//!   before the allocation when its size is known. A real template spends
//!   tens of instructions per message and copies each message a few times,
//!   far below the budget; loops that never end stop, and so does a value
//!   that doubles without being written out (`{% set s = s ~ s %}`
//!   repeated): what a render allocates is bounded by `64 * fuel` bytes,
//!   a few MB plus a multiple of the messages' size.
//! - **Output**: the rendered text goes through [`BoundedWriter`], which
//!   refuses to grow past a budget proportional to the messages' length.
//! - **Time**: the writer also stops a render that has run for longer than
//!   [`MAX_RENDER_TIME`] when it next writes.
//!
//! minijinja itself refuses recursion deeper than 500 calls, ranges over
//! 100,000 items and a string repeated (`"x" * n`) past 100 MB (which the
//! fuel check refuses first).
//!
//! [`ChatError::Limit`]: super::ChatError::Limit

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// Most fuel one render may have (rendering a huge conversation).
pub(super) const FUEL: u64 = 2_000_000;

/// Fuel of a render whatever its messages: 100,000 instructions, or 6.4 MB
/// of data.
const BASE_FUEL: u64 = 100_000;
/// Fuel added per message: instructions of the loop body.
const FUEL_PER_MESSAGE: u64 = 200;
/// Fuel added per byte of the messages: 64 bytes of copies of it.
const FUEL_PER_BYTE: u64 = 1;

/// Fuel for rendering `messages` messages of `input_bytes` bytes in all.
/// Scaled to the input (found by fuzzing: a flat 2M let a 1 KB string
/// double to 32 MB).
pub(super) fn fuel(input_bytes: usize, messages: usize) -> u64 {
    let per_message = FUEL_PER_MESSAGE.saturating_mul(messages as u64);
    let per_byte = FUEL_PER_BYTE.saturating_mul(input_bytes as u64);
    BASE_FUEL
        .saturating_add(per_message)
        .saturating_add(per_byte)
        .min(FUEL)
}

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
    /// The fuel budget (instructions and bytes built: 100,000 plus 200
    /// per message and one per byte of the messages, at most 2,000,000).
    Instructions,
    /// The output budget.
    Output { max_bytes: usize },
    /// The time budget (one second).
    Time,
}

impl std::fmt::Display for RenderLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderLimit::Instructions => write!(f, "ran out of fuel (instructions and data)"),
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
