//! Saving a context's whole state (token history and KV cache) to bytes and
//! restoring it, e.g. when a mobile app is suspended.
//!
//! Layout (little-endian): magic `RWND`, u32 format version, u32 layers,
//! u32 kv_dim, u64 bytes per position, u64 length, `length` u32 token ids,
//! then the cache bytes (each layer's keys, then each layer's values, the
//! first `length` positions of each, padded to whole 4-byte words).

use super::Context;
use crate::error::Error;

const MAGIC: &[u8; 4] = b"RWND";
const VERSION: u32 = 1;
/// Magic, version, layers, kv_dim, bytes per position, length.
const HEADER_BYTES: usize = 4 + 4 + 4 + 4 + 8 + 8;

/// The shape of a KV cache, as saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheShape {
    pub layers: usize,
    pub kv_dim: usize,
    pub bytes_per_position: u64,
}

impl std::fmt::Display for CacheShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} layers x {} ({} B/position)",
            self.layers, self.kv_dim, self.bytes_per_position
        )
    }
}

/// Why saved state can't be restored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("not a rewind session state (bad magic)")]
    BadMagic,
    #[error("session state version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("session state is truncated")]
    Truncated,
    #[error("session state has {0} bytes past its end")]
    TrailingBytes(usize),
    #[error("session state is for another model shape ({saved}), this session has {session}")]
    ShapeMismatch {
        saved: CacheShape,
        session: CacheShape,
    },
    #[error("session state holds {len} positions, the context holds {n_ctx}")]
    TooLong { len: u64, n_ctx: usize },
    #[error("session state holds token id {token}, outside the vocabulary ({vocab} tokens)")]
    BadToken { token: u32, vocab: usize },
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        if self.0.len() < n {
            return Err(StateError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, StateError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        let lo = self.u32()? as u64;
        let hi = self.u32()? as u64;
        Ok(lo | hi << 32)
    }
}

/// Bytes of `len` positions of a cache of `shape`: each layer's keys, then
/// each layer's values, each padded to whole 4-byte words.
pub(super) fn cache_bytes(shape: CacheShape, len: usize) -> usize {
    layer_cache_bytes(shape.bytes_per_position, len) * 2 * shape.layers
}

/// Bytes of one layer's keys (or values) for `len` positions, in whole words.
pub(super) fn layer_cache_bytes(bytes_per_position: u64, len: usize) -> usize {
    (len as u64 * bytes_per_position).div_ceil(4) as usize * 4
}

impl Context {
    /// Bytes [`Context::save_state`] returns now (computed, not saved).
    pub fn state_size(&self) -> usize {
        HEADER_BYTES + 4 * self.len() + cache_bytes(self.forward.cache_shape(), self.len())
    }

    /// The whole state of the context as bytes.
    pub fn save_state(&self) -> Result<Vec<u8>, Error> {
        let shape = self.forward.cache_shape();
        let len = self.len();
        let mut out = Vec::with_capacity(36 + 4 * len + cache_bytes(shape, len));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(shape.layers as u32).to_le_bytes());
        out.extend_from_slice(&(shape.kv_dim as u32).to_le_bytes());
        out.extend_from_slice(&shape.bytes_per_position.to_le_bytes());
        out.extend_from_slice(&(len as u64).to_le_bytes());
        for t in &self.history {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend(self.forward.read_cache(len)?);
        Ok(out)
    }

    /// Replaces this context's state with one [`Context::save_state`]
    /// produced (by a context of the same model shape). Every byte is
    /// checked before anything changes: on error the context is as it was.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(StateError::BadMagic.into());
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(StateError::Version(version).into());
        }
        let saved = CacheShape {
            layers: r.u32()? as usize,
            kv_dim: r.u32()? as usize,
            bytes_per_position: r.u64()?,
        };
        let session = self.forward.cache_shape();
        if saved != session {
            return Err(StateError::ShapeMismatch { saved, session }.into());
        }
        let len = r.u64()?;
        if len > self.n_ctx() as u64 {
            return Err(StateError::TooLong {
                len,
                n_ctx: self.n_ctx(),
            }
            .into());
        }
        let len = len as usize;
        let history: Vec<u32> = r
            .take(len * 4)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(&token) = history.iter().find(|&&t| t as usize >= self.vocab()) {
            return Err(StateError::BadToken {
                token,
                vocab: self.vocab(),
            }
            .into());
        }
        let cache = r.take(cache_bytes(session, len))?;
        if !r.0.is_empty() {
            return Err(StateError::TrailingBytes(r.0.len()).into());
        }
        self.forward.write_cache(len, cache);
        self.history = history;
        Ok(())
    }
}
