//! The bounds-checked little-endian reads GGUF parsing is made of, metadata
//! values included, and the limits that keep allocations within the file.

use super::value::type_id;
use super::{GgufError, MAX_ARRAY_DEPTH, Value};

/// Smallest encoding of one value of type `id`, or `None` for an unknown id.
/// Used to bound array lengths by the bytes left before allocating.
fn min_encoded_size(id: u32) -> Option<u64> {
    Some(match id {
        type_id::U8 | type_id::I8 | type_id::BOOL => 1,
        type_id::U16 | type_id::I16 => 2,
        type_id::U32 | type_id::I32 | type_id::F32 => 4,
        type_id::U64 | type_id::I64 | type_id::F64 => 8,
        // u64 length
        type_id::STRING => 8,
        // u32 element type + u64 count
        type_id::ARRAY => 12,
        _ => return None,
    })
}

/// Smallest encoding of a metadata entry: empty key, type, one byte.
pub(super) const MIN_KV_SIZE: u64 = 8 + 4 + 1;
/// Smallest encoding of a tensor info: empty name, n_dims, one dim, type, offset.
pub(super) const MIN_TENSOR_INFO_SIZE: u64 = 8 + 4 + 8 + 4 + 8;

/// A capacity for `count` items of at least `min_size` bytes each, never more
/// than the remaining bytes could hold.
pub(super) fn bounded_capacity(count: u64, remaining: u64, min_size: u64) -> usize {
    usize::try_from(count.min(remaining / min_size)).unwrap_or(0)
}

pub(super) type What<'w> = &'w dyn Fn() -> String;

/// A bounds-checked little-endian reader over the file's bytes.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub(super) fn offset(&self) -> u64 {
        self.pos as u64
    }

    pub(super) fn remaining(&self) -> u64 {
        self.buf.len().saturating_sub(self.pos) as u64
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub(super) fn chunk<const N: usize>(&mut self, what: What) -> Result<[u8; N], GgufError> {
        match self.rest().first_chunk::<N>() {
            Some(c) => {
                self.pos += N;
                Ok(*c)
            }
            None => Err(GgufError::Truncated {
                what: what(),
                offset: self.offset(),
            }),
        }
    }

    pub(super) fn u32(&mut self, what: What) -> Result<u32, GgufError> {
        self.chunk(what).map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self, what: What) -> Result<u64, GgufError> {
        self.chunk(what).map(u64::from_le_bytes)
    }

    pub(super) fn string(&mut self, what: What) -> Result<String, GgufError> {
        let start = self.offset();
        let len = self.u64(&|| format!("length of {}", what()))?;
        let bytes = usize::try_from(len)
            .ok()
            .and_then(|n| self.rest().get(..n))
            .ok_or_else(|| GgufError::LengthPastEnd {
                what: what(),
                len,
                offset: start,
            })?;
        self.pos += bytes.len();
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 {
                what: what(),
                offset: start,
            }),
        }
    }

    /// Reads a value of type `id`; `type_offset` is where the type id was
    /// read, `depth` the number of arrays enclosing the value.
    pub(super) fn value(
        &mut self,
        id: u32,
        type_offset: u64,
        depth: usize,
        what: What,
    ) -> Result<Value, GgufError> {
        Ok(match id {
            type_id::U8 => Value::U8(u8::from_le_bytes(self.chunk(what)?)),
            type_id::I8 => Value::I8(i8::from_le_bytes(self.chunk(what)?)),
            type_id::U16 => Value::U16(u16::from_le_bytes(self.chunk(what)?)),
            type_id::I16 => Value::I16(i16::from_le_bytes(self.chunk(what)?)),
            type_id::U32 => Value::U32(u32::from_le_bytes(self.chunk(what)?)),
            type_id::I32 => Value::I32(i32::from_le_bytes(self.chunk(what)?)),
            type_id::U64 => Value::U64(u64::from_le_bytes(self.chunk(what)?)),
            type_id::I64 => Value::I64(i64::from_le_bytes(self.chunk(what)?)),
            type_id::F32 => Value::F32(f32::from_le_bytes(self.chunk(what)?)),
            type_id::F64 => Value::F64(f64::from_le_bytes(self.chunk(what)?)),
            type_id::BOOL => Value::Bool(self.chunk::<1>(what)?[0] != 0),
            type_id::STRING => Value::String(self.string(what)?),
            type_id::ARRAY => self.array(depth + 1, what)?,
            _ => {
                return Err(GgufError::UnknownValueType {
                    what: what(),
                    id,
                    offset: type_offset,
                });
            }
        })
    }

    /// Reads an array's element type, count and elements; `depth` counts this
    /// array.
    fn array(&mut self, depth: usize, what: What) -> Result<Value, GgufError> {
        let start = self.offset();
        if depth > MAX_ARRAY_DEPTH {
            return Err(GgufError::NestingTooDeep {
                what: what(),
                offset: start,
                max: MAX_ARRAY_DEPTH,
            });
        }
        let elem_type = self.u32(&|| format!("element type of {}", what()))?;
        let Some(min_size) = min_encoded_size(elem_type) else {
            return Err(GgufError::UnknownValueType {
                what: format!("element type of {}", what()),
                id: elem_type,
                offset: start,
            });
        };
        let count = self.u64(&|| format!("length of {}", what()))?;
        let fits = count
            .checked_mul(min_size)
            .is_some_and(|n| n <= self.remaining());
        if !fits {
            return Err(GgufError::LengthPastEnd {
                what: what(),
                len: count,
                offset: start,
            });
        }
        // `count` elements of at least `min_size` bytes fit in the bytes left,
        // so this allocation is bounded by the file size.
        let mut items = Vec::with_capacity(bounded_capacity(count, self.remaining(), min_size));
        for i in 0..count {
            let elem_offset = self.offset();
            let elem_what = || format!("element {i} of {}", what());
            items.push(self.value(elem_type, elem_offset, depth, &elem_what)?);
        }
        Ok(Value::Array(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_are_bounded_by_remaining_bytes() {
        assert_eq!(bounded_capacity(u64::MAX, 100, 8), 12);
        assert_eq!(bounded_capacity(3, 100, 8), 3);
        assert_eq!(bounded_capacity(u64::MAX, 0, 1), 0);
        for id in 0..=12 {
            assert!(min_encoded_size(id).is_some_and(|n| n >= 1), "{id}");
        }
        assert_eq!(min_encoded_size(13), None);
    }

    #[test]
    fn cursor_reads_little_endian_and_stops_at_the_end() {
        let bytes = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9];
        let mut c = Cursor {
            buf: &bytes,
            pos: 0,
        };
        let what = || "x".to_string();
        assert_eq!(c.u32(&what).unwrap(), 1);
        assert_eq!(c.u64(&what).unwrap(), 2);
        assert_eq!(c.remaining(), 1);
        assert!(matches!(
            c.u32(&what),
            Err(GgufError::Truncated { offset: 12, .. })
        ));
        assert_eq!(c.offset(), 12);
    }
}
