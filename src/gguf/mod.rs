//! GGUF files: reading (zero-copy, over a memory map) and writing.
//!
//! # Layout
//!
//! A GGUF file is little-endian throughout and has four parts:
//!
//! ```text
//! header        magic "GGUF" (4 bytes), u32 version (2 or 3),
//!               u64 tensor_count, u64 kv_count
//! metadata      kv_count entries: key (string), u32 value type, value
//! tensor infos  tensor_count entries: name (string), u32 n_dims (1..=4),
//!               u64 dims[n_dims], u32 ggml type id, u64 data offset
//! padding       zeros up to the next multiple of the alignment
//! data section  tensor data, each tensor at its data offset (a multiple of
//!               the alignment) from the start of this section
//! ```
//!
//! A string is a u64 byte length followed by that many bytes of UTF-8, with
//! no terminator. A value is one of the types below, by id; an array is a u32
//! element type, a u64 count and that many values of the element type
//! (encoded without their type id). Arrays may hold arrays, each inner array
//! carrying its own element type.
//!
//! | id | type | id | type   | id | type   |
//! |----|------|----|--------|----|--------|
//! | 0  | u8   | 5  | i32    | 10 | u64    |
//! | 1  | i8   | 6  | f32    | 11 | i64    |
//! | 2  | u16  | 7  | bool   | 12 | f64    |
//! | 3  | i16  | 8  | string |    |        |
//! | 4  | u32  | 9  | array  |    |        |
//!
//! Tensor dimensions are in ggml order: `dims[0]` is the contiguous (row)
//! dimension, so a `[n_embd, n_vocab]` matrix has `n_vocab` rows of `n_embd`
//! elements. Quantized types pack whole blocks of a row (see
//! [`GgmlType`](crate::quant::GgmlType)); a tensor takes
//! `ty.bytes_for(n_elements)` bytes.
//!
//! The alignment is the metadata entry `general.alignment` (a u32 power of
//! two) or 32 when absent. Version 1 used 32-bit lengths and counts and is
//! not supported; versions 2 and 3 share this layout (3 allowed big-endian
//! files, which are refused here).
//!
//! # Validation
//!
//! [`GgufFile::open`] and [`GgufFile::from_bytes`] check everything before
//! returning: every length against the bytes left (so a corrupt length never
//! causes a large allocation), array nesting depth (at most
//! [`MAX_ARRAY_DEPTH`]), UTF-8 of keys, names and strings, unique keys and
//! tensor names, known value and tensor types, dimensions, alignment of
//! tensor offsets, and that every tensor's bytes lie inside the file. After
//! that, [`GgufFile::tensor_data`] is a plain slice of the mapping.

mod cursor;
mod error;
mod reader;
mod value;
mod writer;

pub use error::GgufError;
pub use reader::{GgufFile, TensorInfo, tensor_sizes};
pub use value::{Metadata, Value};
pub use writer::GgufWriter;

/// The first four bytes of every GGUF file.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// Alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The metadata key that overrides the alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 4;

/// Most levels of arrays nested in one metadata value (an array of scalars
/// is one level).
pub const MAX_ARRAY_DEPTH: usize = 16;
