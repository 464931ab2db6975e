//! Parsing and validating a GGUF file held in memory or memory-mapped.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::Path;

use memmap2::{Mmap, MmapOptions};

use super::cursor::{Cursor, MIN_KV_SIZE, MIN_TENSOR_INFO_SIZE, bounded_capacity};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GgufError, MAGIC, MAX_DIMS, Metadata};
use crate::quant::GgmlType;

/// Where one tensor lives in a GGUF file, and its shape and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Extents in ggml order: `dims[0]` is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset of the tensor's data, relative to the data section.
    pub offset: u64,
    /// Product of `dims`.
    pub n_elements: u64,
    /// Bytes of data: `ty.bytes_for(n_elements)`.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of dimensions (1 to 4).
    pub fn n_dims(&self) -> usize {
        self.dims.len()
    }

    /// Extent of dimension `i` in ggml order, 1 past the last dimension (as
    /// ggml's `ne[i]`).
    pub fn dim(&self, i: usize) -> u64 {
        self.dims.get(i).copied().unwrap_or(1)
    }
}

/// Checks a tensor's dimensions against its type and returns
/// `(n_elements, n_bytes)`.
///
/// Dimensions must number 1 to [`MAX_DIMS`], be non-zero, have a product and
/// byte size that fit in 63 bits (ggml counts in i64), and rows (`dims[0]`)
/// must be whole blocks of `ty`.
pub fn tensor_sizes(name: &str, dims: &[u64], ty: GgmlType) -> Result<(u64, u64), GgufError> {
    let bad = |reason: String| GgufError::BadDimensions {
        name: name.to_string(),
        dims: dims.to_vec(),
        reason,
    };
    let overflow = || GgufError::DimensionOverflow {
        name: name.to_string(),
        dims: dims.to_vec(),
    };
    let Some(&row) = dims.first().filter(|_| dims.len() <= MAX_DIMS) else {
        return Err(bad(format!(
            "{} dimensions, expected 1 to {MAX_DIMS}",
            dims.len()
        )));
    };
    if let Some(i) = dims.iter().position(|&d| d == 0) {
        return Err(bad(format!("dimension {i} is zero")));
    }
    let limit = i64::MAX as u64;
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= limit)
        .ok_or_else(overflow)?;
    let block = ty.block_size() as u64;
    if !row.is_multiple_of(block) {
        return Err(bad(format!(
            "row length {row} is not a whole number of {ty} blocks of {block} elements"
        )));
    }
    let n_bytes = ty
        .bytes_for(n_elements)
        .filter(|&n| n <= limit)
        .ok_or_else(overflow)?;
    Ok((n_elements, n_bytes))
}

/// Rounds `x` up to a multiple of `alignment` (a power of two), or `None` on
/// overflow.
pub(crate) fn align_up(x: u64, alignment: u64) -> Option<u64> {
    let mask = alignment.checked_sub(1)?;
    x.checked_add(mask).map(|v| v & !mask)
}

/// Whether `a` is a valid GGUF alignment.
pub(crate) fn valid_alignment(a: u64) -> bool {
    a.is_power_of_two() && a <= u64::from(u32::MAX)
}

/// Everything parsed from a file except its bytes.
struct Parsed {
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    index: HashMap<String, usize>,
}

fn parse(buf: &[u8]) -> Result<Parsed, GgufError> {
    let mut c = Cursor::new(buf);
    let magic: [u8; 4] = c.chunk(&|| "magic".to_string())?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let version = c.u32(&|| "version".to_string())?;
    if version != 2 && version != 3 {
        return Err(GgufError::UnsupportedVersion(version));
    }
    let n_tensors = c.u64(&|| "tensor count".to_string())?;
    let n_kv = c.u64(&|| "metadata entry count".to_string())?;

    let mut metadata = Metadata::with_capacity(bounded_capacity(n_kv, c.remaining(), MIN_KV_SIZE));
    for i in 0..n_kv {
        let key = c.string(&|| format!("key of metadata entry {i}"))?;
        let type_offset = c.offset();
        let id = c.u32(&|| format!("value type of key {key:?}"))?;
        let value = c.value(id, type_offset, 0, &|| format!("value of key {key:?}"))?;
        metadata.try_insert(key, value)?;
    }

    let alignment = match metadata.get(ALIGNMENT_KEY) {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if valid_alignment(a) => a,
            _ => {
                return Err(GgufError::BadAlignment {
                    found: v.describe(),
                });
            }
        },
    };

    let capacity = bounded_capacity(n_tensors, c.remaining(), MIN_TENSOR_INFO_SIZE);
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(capacity);
    let mut index = HashMap::with_capacity(capacity);
    for i in 0..n_tensors {
        let name = c.string(&|| format!("name of tensor {i}"))?;
        let n_dims = c.u32(&|| format!("dimension count of tensor {name:?}"))?;
        if n_dims == 0 || n_dims as usize > MAX_DIMS {
            return Err(GgufError::BadDimensions {
                name,
                dims: Vec::new(),
                reason: format!("{n_dims} dimensions, expected 1 to {MAX_DIMS}"),
            });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            dims.push(c.u64(&|| format!("dimension {d} of tensor {name:?}"))?);
        }
        let type_id = c.u32(&|| format!("type of tensor {name:?}"))?;
        let offset = c.u64(&|| format!("data offset of tensor {name:?}"))?;
        let Some(ty) = GgmlType::from_id(type_id) else {
            return Err(GgufError::UnknownTensorType { name, id: type_id });
        };
        let (n_elements, n_bytes) = tensor_sizes(&name, &dims, ty)?;
        if !offset.is_multiple_of(alignment) {
            return Err(GgufError::MisalignedTensor {
                name,
                offset,
                alignment,
            });
        }
        if index.contains_key(&name) {
            return Err(GgufError::DuplicateTensor { name });
        }
        index.insert(name.clone(), tensors.len());
        tensors.push(TensorInfo {
            name,
            dims,
            ty,
            offset,
            n_elements,
            n_bytes,
        });
    }

    let file_size = buf.len() as u64;
    // The cursor is inside the buffer, so this can't overflow in practice.
    let data_offset = align_up(c.offset(), alignment).unwrap_or(u64::MAX);
    for t in &tensors {
        let end = data_offset
            .checked_add(t.offset)
            .and_then(|start| start.checked_add(t.n_bytes));
        if end.is_none_or(|end| end > file_size) {
            return Err(GgufError::TensorOutOfRange {
                name: t.name.clone(),
                offset: t.offset,
                n_bytes: t.n_bytes,
                data_start: data_offset,
                file_size,
            });
        }
    }

    Ok(Parsed {
        version,
        alignment,
        data_offset,
        metadata,
        tensors,
        index,
    })
}

/// The bytes of a file: memory-mapped, owned, or lent for one call.
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
    /// Only [`GgufFile::with_bytes`] makes these, and the file never leaves
    /// that call: the real lifetime is the call's, not `'static`.
    Lent(&'static [u8]),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
            Bytes::Lent(b) => b,
        }
    }
}

/// A parsed, validated GGUF file that owns its bytes.
///
/// Every tensor's data was checked at open to lie inside the file, so
/// [`tensor_data`](Self::tensor_data) is a plain zero-copy slice.
pub struct GgufFile {
    bytes: Bytes,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    index: HashMap<String, usize>,
}

impl GgufFile {
    /// Memory-maps and parses the file at `path`.
    ///
    /// The file must not be modified while the returned value is alive:
    /// the tensor data is read straight from the mapping.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(GgufError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        // SAFETY: the mapping is read-only and private to this value. Like
        // every reader of memory-mapped model files we rely on the file not
        // being truncated or rewritten while it is open; that is documented
        // above as the caller's responsibility.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Self::from_storage(Bytes::Mapped(map))
    }

    /// Memory-maps and parses the `len` bytes of `file` from byte `offset`
    /// (`None`: to the end), such as a model stored uncompressed inside an
    /// archive (an Android APK) and handed over as a file descriptor. Any
    /// offset works; the range must lie inside the file. `name` labels I/O
    /// errors. The same rule as [`open`](Self::open) holds: the file must not
    /// change while the returned value is alive.
    pub fn open_range(
        file: &File,
        offset: u64,
        len: Option<u64>,
        name: &Path,
    ) -> Result<GgufFile, GgufError> {
        let io = |source| GgufError::Io {
            path: name.to_path_buf(),
            source,
        };
        let size = file.metadata().map_err(io)?.len();
        let len = len.unwrap_or(size.saturating_sub(offset));
        // A mapping past the end of the file faults when read: refuse it.
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{len} bytes at offset {offset} run past the end of the {size}-byte file"),
            )));
        }
        let len = usize::try_from(len).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("{len} bytes can't be mapped in this address space"),
            ))
        })?;
        // SAFETY: as in `open`: a read-only private mapping of a range
        // checked above to lie inside the file.
        let map = unsafe { MmapOptions::new().offset(offset).len(len).map(file) }.map_err(io)?;
        Self::from_storage(Bytes::Mapped(map))
    }

    /// Lets the OS drop the pages of tensor `t` of a memory-mapped file from
    /// this process's memory (a no-op for files held in memory): for a
    /// tensor the model has copied (the CPU path's repacked matrices), so
    /// its bytes don't count twice. Should they be read again, they come
    /// back from the file.
    pub fn release_tensor_pages(&self, t: &TensorInfo) {
        #[cfg(unix)]
        if let Bytes::Mapped(map) = &self.bytes {
            let offset = (self.data_offset + t.offset) as usize;
            // SAFETY: the mapping is private, read-only and never written,
            // so dropping its pages loses nothing: a later read faults the
            // same bytes in from the file. The range was checked at open to
            // lie inside the mapping. Failure only leaves the pages mapped.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    offset,
                    t.n_bytes as usize,
                )
            };
        }
        #[cfg(not(unix))]
        let _ = t;
    }

    /// Parses a file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::from_storage(Bytes::Owned(bytes))
    }

    /// Parses `bytes` without copying them and passes the file to `f`
    /// (loading a model from memory the caller owns).
    pub fn with_bytes<R>(bytes: &[u8], f: impl FnOnce(&GgufFile) -> R) -> Result<R, GgufError> {
        // SAFETY: the file is dropped at the end of this call (or while
        // unwinding out of it), before `bytes` can go away: `f` only gets a
        // reference, and nothing borrowed from it can outlive the call.
        let lent: &'static [u8] = unsafe { &*(bytes as *const [u8]) };
        let file = Self::from_storage(Bytes::Lent(lent))?;
        Ok(f(&file))
    }

    fn from_storage(bytes: Bytes) -> Result<GgufFile, GgufError> {
        let p = parse(bytes.as_slice())?;
        Ok(GgufFile {
            bytes,
            version: p.version,
            alignment: p.alignment,
            data_offset: p.data_offset,
            metadata: p.metadata,
            tensors: p.tensors,
            index: p.index,
        })
    }

    /// The GGUF version: 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Alignment of the data section and of every tensor in it:
    /// `general.alignment`, or 32 when absent.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute byte offset of the data section in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Metadata, in file order.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor called `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor called `name`, or [`GgufError::MissingTensor`].
    pub fn require_tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensor(name).ok_or_else(|| GgufError::MissingTensor {
            name: name.to_string(),
        })
    }

    /// The bytes of a tensor of this file, without copying.
    ///
    /// `info` should come from this file's [`tensors`](Self::tensors); an info
    /// whose range lies outside the file gives an empty slice (see
    /// [`try_tensor_data`](Self::try_tensor_data)).
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        self.try_tensor_data(info).unwrap_or(&[])
    }

    /// The bytes of a tensor, or [`GgufError::TensorOutOfRange`] if `info`
    /// (not from this file) points outside it.
    pub fn try_tensor_data(&self, info: &TensorInfo) -> Result<&[u8], GgufError> {
        let bytes = self.bytes.as_slice();
        let range = self
            .data_offset
            .checked_add(info.offset)
            .and_then(|s| Some(s..s.checked_add(info.n_bytes)?))
            .and_then(|r| Some(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?));
        range
            .and_then(|r| bytes.get(r))
            .ok_or_else(|| GgufError::TensorOutOfRange {
                name: info.name.clone(),
                offset: info.offset,
                n_bytes: info.n_bytes,
                data_start: self.data_offset,
                file_size: self.file_size(),
            })
    }

    /// The bytes of the tensor called `name`, or [`GgufError::MissingTensor`].
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8], GgufError> {
        self.require_tensor(name)
            .and_then(|info| self.try_tensor_data(info))
    }

    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.bytes.as_slice().len() as u64
    }

    /// Whether the bytes are memory-mapped (opened with [`open`](Self::open))
    /// rather than owned.
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(_))
    }
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("file_size", &self.file_size())
            .field("mapped", &self.is_mapped())
            .field("metadata_entries", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_up_rounds_and_reports_overflow() {
        assert_eq!(align_up(0, 32), Some(0));
        assert_eq!(align_up(1, 32), Some(32));
        assert_eq!(align_up(32, 32), Some(32));
        assert_eq!(align_up(33, 1), Some(33));
        assert_eq!(align_up(u64::MAX - 3, 4), Some(u64::MAX - 3));
        assert_eq!(align_up(u64::MAX - 2, 4), None);
        assert_eq!(align_up(5, 0), None);
    }

    #[test]
    fn alignment_validity() {
        assert!(valid_alignment(1));
        assert!(valid_alignment(32));
        assert!(valid_alignment(1 << 31));
        assert!(!valid_alignment(0));
        assert!(!valid_alignment(48));
        assert!(!valid_alignment(1 << 32));
    }

    #[test]
    fn tensor_sizes_of_quantized_rows() {
        assert_eq!(
            tensor_sizes("t", &[576, 49152], GgmlType::Q8_0).unwrap(),
            (576 * 49152, 576 * 49152 / 32 * 34)
        );
        assert_eq!(
            tensor_sizes("t", &[64, 3, 2, 1], GgmlType::Q4_1).unwrap(),
            (384, 384 / 32 * 20)
        );
        assert!(matches!(
            tensor_sizes("t", &[16, 2], GgmlType::Q8_0),
            Err(GgufError::BadDimensions { .. })
        ));
    }
}
