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
        let expected = self.forward.cache_shape();
        let ParsedState { history, cache } =
            parse_state(bytes, expected, self.n_ctx(), self.vocab())?;
        self.forward.write_cache(history.len(), cache);
        self.history = history;
        Ok(())
    }
}

/// A saved state, parsed and checked against the session that restores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedState<'a> {
    /// The token history: at most `n_ctx` ids, each below `vocab`.
    pub history: Vec<u32>,
    /// The cache bytes of `history.len()` positions (see the module docs).
    pub cache: &'a [u8],
}

/// Parses and checks a state that
/// [`Session::save_state`](crate::session::Session::save_state) wrote, for a
/// context whose cache has shape `expected`, `n_ctx` positions and `vocab`
/// tokens.
/// Pure (no GPU), so it can be tested on arbitrary bytes.
pub fn parse_state(
    bytes: &[u8],
    expected: CacheShape,
    n_ctx: usize,
    vocab: usize,
) -> Result<ParsedState<'_>, StateError> {
    let mut r = Reader(bytes);
    if r.take(4)? != MAGIC {
        return Err(StateError::BadMagic);
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(StateError::Version(version));
    }
    let saved = CacheShape {
        layers: r.u32()? as usize,
        kv_dim: r.u32()? as usize,
        bytes_per_position: r.u64()?,
    };
    if saved != expected {
        return Err(StateError::ShapeMismatch {
            saved,
            session: expected,
        });
    }
    let len = r.u64()?;
    if len > n_ctx as u64 {
        return Err(StateError::TooLong { len, n_ctx });
    }
    let len = len as usize;
    let history: Vec<u32> = r
        .take(len * 4)?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(&token) = history.iter().find(|&&t| t as usize >= vocab) {
        return Err(StateError::BadToken { token, vocab });
    }
    let cache = r.take(cache_bytes(expected, len))?;
    if !r.0.is_empty() {
        return Err(StateError::TrailingBytes(r.0.len()));
    }
    Ok(ParsedState { history, cache })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: CacheShape = CacheShape {
        layers: 2,
        kv_dim: 4,
        bytes_per_position: 6,
    };

    /// A state of `history` for `SHAPE`, its cache bytes counting up.
    fn state(history: &[u32]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for v in [VERSION, 2, 4] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&6u64.to_le_bytes());
        out.extend_from_slice(&(history.len() as u64).to_le_bytes());
        for t in history {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend((0..cache_bytes(SHAPE, history.len())).map(|i| i as u8));
        out
    }

    #[test]
    fn a_saved_state_parses_back() {
        let bytes = state(&[3, 1, 4]);
        let parsed = parse_state(&bytes, SHAPE, 8, 5).unwrap();
        assert_eq!(parsed.history, [3, 1, 4]);
        // 3 positions of 6 bytes, padded to 20, for keys and values of 2 layers.
        assert_eq!(parsed.cache.len(), 80);
        assert_eq!(parsed.cache[79], 79);
        assert!(
            parse_state(&state(&[]), SHAPE, 0, 1)
                .unwrap()
                .history
                .is_empty()
        );
    }

    #[test]
    fn every_mismatch_is_an_error() {
        let bytes = state(&[3, 1, 4]);
        let other = CacheShape { kv_dim: 8, ..SHAPE };
        let longer = [bytes.as_slice(), &[0]].concat();
        let cases = [
            parse_state(&bytes[..bytes.len() - 1], SHAPE, 8, 5),
            parse_state(&longer, SHAPE, 8, 5),
            parse_state(&bytes, other, 8, 5),
            parse_state(&bytes, SHAPE, 2, 5),
            parse_state(&bytes, SHAPE, 8, 4),
            parse_state(b"RWND", SHAPE, 8, 5),
            parse_state(b"GGUF\x01\0\0\0", SHAPE, 8, 5),
        ];
        let errors = cases.map(|r| r.unwrap_err().to_string());
        assert!(errors[0].contains("truncated"), "{errors:?}");
        assert!(errors[1].contains("1 bytes past its end"), "{errors:?}");
        assert!(errors[2].contains("another model shape"), "{errors:?}");
        assert!(errors[3].contains("holds 3 positions"), "{errors:?}");
        assert!(errors[4].contains("token id 4"), "{errors:?}");
        assert!(errors[5].contains("truncated"), "{errors:?}");
        assert!(errors[6].contains("bad magic"), "{errors:?}");
    }
}
