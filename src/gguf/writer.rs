//! Writing GGUF files (used to build small models for tests and tools).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::reader::{align_up, tensor_sizes, valid_alignment};
use super::value::type_id;
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GgufError, MAGIC, MAX_ARRAY_DEPTH, Metadata, Value};
use crate::quant::GgmlType;

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

/// Builds a GGUF file: metadata in insertion order, then tensors in insertion
/// order, each tensor's data aligned to the alignment.
pub struct GgufWriter {
    version: u32,
    alignment: u64,
    metadata: Metadata,
    tensors: Vec<PendingTensor>,
    names: HashSet<String>,
}

impl std::fmt::Debug for GgufWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufWriter")
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("metadata_entries", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// An empty version-3 file with alignment 32.
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Metadata::new(),
            tensors: Vec::new(),
            names: HashSet::new(),
        }
    }

    /// Sets the version written in the header (2 or 3; others are refused by
    /// [`write_to`](Self::write_to)). Both versions share one layout.
    pub fn with_version(mut self, v: u32) -> Self {
        self.version = v;
        self
    }

    /// Sets the alignment of the data section and tensors. When it is not 32,
    /// a `general.alignment` u32 entry is written first, unless metadata
    /// already sets that key (then that value is written as given, which lets
    /// tests build inconsistent files). A value that is not a power of two
    /// fitting in a u32 is refused by [`write_to`](Self::write_to).
    pub fn with_alignment(mut self, a: u64) -> Self {
        self.alignment = a;
        self
    }

    /// Sets metadata `key` to `value`; setting a key again replaces its value
    /// in place.
    pub fn add_metadata(&mut self, key: impl Into<String>, value: Value) -> &mut Self {
        self.metadata.insert(key, value);
        self
    }

    /// Adds a tensor with dimensions `dims` (ggml order) whose `data` must be
    /// exactly `ty.bytes_for(product of dims)` bytes.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        let name = name.into();
        let (_, n_bytes) = tensor_sizes(&name, dims, ty)?;
        if data.len() as u64 != n_bytes {
            return Err(GgufError::DataLength {
                name,
                dims: dims.to_vec(),
                ty,
                expected: n_bytes,
                found: data.len() as u64,
            });
        }
        if !self.names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor { name });
        }
        self.tensors.push(PendingTensor {
            name,
            dims: dims.to_vec(),
            ty,
            data,
        });
        Ok(self)
    }

    /// Encodes everything before the data section, padding included, and
    /// returns it with each tensor's data offset.
    fn encode_header(&self) -> Result<(Vec<u8>, Vec<u64>), GgufError> {
        if self.version != 2 && self.version != 3 {
            return Err(GgufError::UnsupportedVersion(self.version));
        }
        if !valid_alignment(self.alignment) {
            return Err(GgufError::BadAlignment {
                found: self.alignment.to_string(),
            });
        }
        let alignment = self.alignment;
        let implicit_alignment =
            alignment != DEFAULT_ALIGNMENT && !self.metadata.contains_key(ALIGNMENT_KEY);

        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        let n_kv = self.metadata.len() + usize::from(implicit_alignment);
        out.extend_from_slice(&(n_kv as u64).to_le_bytes());

        if implicit_alignment {
            // valid_alignment checked it fits in a u32.
            let a = Value::U32(u32::try_from(alignment).unwrap_or(u32::MAX));
            encode_kv(&mut out, ALIGNMENT_KEY, &a)?;
        }
        for (key, value) in self.metadata.iter() {
            encode_kv(&mut out, key, value)?;
        }

        let mut offsets = Vec::with_capacity(self.tensors.len());
        let mut next = 0u64;
        for t in &self.tensors {
            encode_str(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ty.id().to_le_bytes());
            out.extend_from_slice(&next.to_le_bytes());
            offsets.push(next);
            next =
                align_up(next.saturating_add(t.data.len() as u64), alignment).ok_or_else(|| {
                    GgufError::DimensionOverflow {
                        name: t.name.clone(),
                        dims: t.dims.clone(),
                    }
                })?;
        }
        pad_to(&mut out, alignment);
        Ok((out, offsets))
    }

    /// Writes the whole file to `w`.
    pub fn write_to(&self, w: &mut impl Write) -> Result<(), GgufError> {
        let (header, offsets) = self.encode_header()?;
        put(w, &header)?;
        let mut written = 0u64;
        for (t, &offset) in self.tensors.iter().zip(&offsets) {
            // `offset` is `written` rounded up to the alignment.
            put_zeros(w, offset.saturating_sub(written))?;
            put(w, &t.data)?;
            written = offset.saturating_add(t.data.len() as u64);
        }
        // Pad the last tensor too, as ggml does.
        let end = align_up(written, self.alignment).unwrap_or(written);
        put_zeros(w, end.saturating_sub(written))?;
        w.flush().map_err(|source| GgufError::Write { source })
    }

    /// The whole file as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GgufError> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Writes the whole file to `path`, creating or truncating it.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Validate before touching the file system.
        self.encode_header()?;
        let file = File::create(path).map_err(io)?;
        let mut w = BufWriter::new(file);
        self.write_to(&mut w).map_err(|e| match e {
            GgufError::Write { source } => io(source),
            other => other,
        })?;
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)
    }
}

fn put(w: &mut impl Write, bytes: &[u8]) -> Result<(), GgufError> {
    w.write_all(bytes)
        .map_err(|source| GgufError::Write { source })
}

fn put_zeros(w: &mut impl Write, mut n: u64) -> Result<(), GgufError> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        put(w, &ZEROS[..k])?;
        n -= k as u64;
    }
    Ok(())
}

fn pad_to(out: &mut Vec<u8>, alignment: u64) {
    let len = out.len() as u64;
    let end = align_up(len, alignment).unwrap_or(len);
    out.resize(end as usize, 0);
}

fn encode_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_kv(out: &mut Vec<u8>, key: &str, value: &Value) -> Result<(), GgufError> {
    encode_str(out, key);
    out.extend_from_slice(&value.value_type_id().to_le_bytes());
    encode_value(out, key, value, 0)
}

/// Encodes `value` without its type id; `depth` is the number of arrays
/// enclosing it.
fn encode_value(
    out: &mut Vec<u8>,
    key: &str,
    value: &Value,
    depth: usize,
) -> Result<(), GgufError> {
    match value {
        Value::U8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => encode_str(out, s),
        Value::Array(items) => {
            if depth + 1 > MAX_ARRAY_DEPTH {
                return Err(GgufError::NestingTooDeep {
                    what: format!("value of key {key:?}"),
                    offset: out.len() as u64,
                    max: MAX_ARRAY_DEPTH,
                });
            }
            // An empty array has no element to take a type from; it is
            // written as an empty array of u8.
            let elem_type = items.first().map_or(type_id::U8, Value::value_type_id);
            if let Some(first) = items.first()
                && let Some(other) = items.iter().find(|v| v.value_type_id() != elem_type)
            {
                return Err(GgufError::MixedArray {
                    key: key.to_string(),
                    first: first.type_name(),
                    found: other.type_name(),
                });
            }
            out.extend_from_slice(&elem_type.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode_value(out, key, item, depth + 1)?;
            }
        }
    }
    Ok(())
}
