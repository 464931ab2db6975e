//! Saving a session's whole state (token history and KV cache) to bytes and
//! restoring it, e.g. when a mobile app is suspended.
//!
//! Layout (little-endian): magic `RWKV`, u32 format version, u32 layers,
//! u32 kv_dim, u64 bytes per position, u64 length, `length` u32 token ids,
//! then the cache bytes (`KvCache::read_prefix`).

use super::{Session, SessionError};

const MAGIC: &[u8; 4] = b"RWKV";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("not a rewind session state (bad magic)")]
    BadMagic,
    #[error("session state version {0} is not supported")]
    Version(u32),
    #[error("session state is truncated")]
    Truncated,
    #[error("session state is for another model shape ({0})")]
    Mismatch(String),
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
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

impl Session {
    /// The whole state of the session as bytes.
    pub fn save_state(&self) -> Result<Vec<u8>, SessionError> {
        let kv = &self.graph.kv;
        let cfg = self.model.config();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(cfg.n_layer as u32).to_le_bytes());
        out.extend_from_slice(&(kv.kv_dim() as u32).to_le_bytes());
        out.extend_from_slice(&kv.bytes_per_position().to_le_bytes());
        out.extend_from_slice(&(self.history.len() as u64).to_le_bytes());
        for t in &self.history {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend(
            kv.read_prefix(self.model.gpu())
                .map_err(crate::model::ModelError::from)?,
        );
        Ok(out)
    }

    /// Replaces this session's state with one `save_state` produced (by a
    /// session of the same model). On error the session is unchanged.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(StateError::BadMagic.into());
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(StateError::Version(version).into());
        }
        let cfg = self.model.config();
        let kv = &self.graph.kv;
        let (layers, kv_dim, bpp) = (r.u32()? as usize, r.u32()? as usize, r.u64()?);
        if layers != cfg.n_layer || kv_dim != kv.kv_dim() || bpp != kv.bytes_per_position() {
            return Err(StateError::Mismatch(format!(
                "{layers} layers x {kv_dim} ({bpp} B/position), this session has {} x {} ({} B/position)",
                cfg.n_layer,
                kv.kv_dim(),
                kv.bytes_per_position()
            ))
            .into());
        }
        let len = r.u64()?;
        if len > kv.capacity() as u64 {
            return Err(StateError::Mismatch(format!(
                "{len} positions, the context holds {}",
                kv.capacity()
            ))
            .into());
        }
        let len = len as usize;
        let history: Vec<u32> = r
            .take(len * 4)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        if history.iter().any(|&t| t as usize >= cfg.vocab_size) {
            return Err(StateError::Mismatch("token ids past the vocabulary".into()).into());
        }
        let gpu = self.model.gpu().clone();
        self.graph
            .kv
            .write_prefix(&gpu, len, r.0)
            .map_err(|_| StateError::Truncated)?;
        self.history = history;
        Ok(())
    }
}
