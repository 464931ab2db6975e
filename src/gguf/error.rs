//! The error type of GGUF reading and writing.

use std::path::PathBuf;

use crate::quant::GgmlType;

/// Everything that can go wrong reading or writing a GGUF file.
///
/// Offsets in messages are byte offsets from the start of the file unless
/// the message says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// Opening, mapping, creating or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path names a directory, not a file.
    #[error("{} is a directory, not a GGUF file", path.display())]
    IsDirectory { path: PathBuf },
    /// Writing to a stream (not a named file) failed.
    #[error("writing GGUF data failed: {source}")]
    Write {
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the bytes "GGUF".
    #[error(
        "not a GGUF file: the first four bytes are {found:02x?}, expected \"GGUF\" ([47, 47, 55, 46])"
    )]
    BadMagic { found: [u8; 4] },
    /// A GGUF version other than 2 or 3 (or a big-endian file).
    #[error(
        "unsupported GGUF version {0}: only little-endian GGUF versions 2 and 3 can be read or written"
    )]
    UnsupportedVersion(u32),
    /// A fixed-size field runs past the end of the file.
    #[error("file truncated: {what} at byte {offset} runs past the end of the file")]
    Truncated { what: String, offset: u64 },
    /// A string or array length field claims more bytes than the file has left.
    #[error("{what} at byte {offset} has length {len}, which runs past the end of the file")]
    LengthPastEnd { what: String, len: u64, offset: u64 },
    /// A key, tensor name or string value is not UTF-8.
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { what: String, offset: u64 },
    /// A metadata value type id outside 0..=12.
    #[error("{what} at byte {offset} has unknown value type id {id}")]
    UnknownValueType { what: String, id: u32, offset: u64 },
    /// Arrays of arrays nested deeper than [`MAX_ARRAY_DEPTH`](super::MAX_ARRAY_DEPTH).
    #[error("{what} at byte {offset}: arrays are nested more than {max} levels deep")]
    NestingTooDeep {
        what: String,
        offset: u64,
        max: usize,
    },
    /// A tensor's ggml type id is not one [`GgmlType`] knows.
    #[error("tensor {name:?} has unknown ggml type id {id}")]
    UnknownTensorType { name: String, id: u32 },
    /// A tensor's bytes do not lie inside the file.
    #[error(
        "tensor {name:?}: {n_bytes} bytes at offset {offset} of the data section \
         (which starts at byte {data_start}) run past the end of the {file_size}-byte file"
    )]
    TensorOutOfRange {
        name: String,
        offset: u64,
        n_bytes: u64,
        data_start: u64,
        file_size: u64,
    },
    /// A tensor's data offset is not a multiple of the file's alignment.
    #[error("tensor {name:?}: data offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        name: String,
        offset: u64,
        alignment: u64,
    },
    /// The element count or byte size of a tensor does not fit in 63 bits.
    #[error("tensor {name:?}: dimensions {dims:?} give more elements or bytes than fit in 63 bits")]
    DimensionOverflow { name: String, dims: Vec<u64> },
    /// No dimensions, more than four, a zero extent, or rows that are not
    /// whole blocks of the tensor's type.
    #[error("tensor {name:?}: bad dimensions {dims:?}: {reason}")]
    BadDimensions {
        name: String,
        dims: Vec<u64>,
        reason: String,
    },
    /// Two tensors share a name.
    #[error("tensor name {name:?} appears more than once")]
    DuplicateTensor { name: String },
    /// Two metadata entries share a key.
    #[error("metadata key {key:?} appears more than once")]
    DuplicateKey { key: String },
    /// `general.alignment` (or the writer's alignment) is not a non-zero
    /// power of two that fits in a u32.
    #[error("general.alignment must be a non-zero power of two that fits in a u32, found {found}")]
    BadAlignment { found: String },
    /// A required metadata key is absent.
    #[error("metadata key {key:?} is missing")]
    MissingKey { key: String },
    /// A required tensor is absent.
    #[error("tensor {name:?} is missing")]
    MissingTensor { name: String },
    /// A metadata value exists but has a type (or value) the caller can't use.
    #[error("metadata key {key:?}: expected {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
    /// Writer: tensor data whose length does not match its dimensions and type.
    #[error(
        "tensor {name:?}: {found} bytes of data, but dimensions {dims:?} of type {ty} take {expected}"
    )]
    DataLength {
        name: String,
        dims: Vec<u64>,
        ty: GgmlType,
        expected: u64,
        found: u64,
    },
    /// Writer: an array whose elements are not all of one type.
    #[error(
        "metadata key {key:?}: an array mixes {first} and {found} elements; GGUF arrays hold one type"
    )]
    MixedArray {
        key: String,
        first: &'static str,
        found: &'static str,
    },
}
