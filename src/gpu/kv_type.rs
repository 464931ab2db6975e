//! What a GPU KV cache holds, and the bytes a position takes in it.

/// The element type of the GPU path's KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvType {
    /// Exact.
    F32,
    /// Keys and values rounded to f16, two per word (the even element in
    /// the low half).
    F16,
    /// Blocks of 32 values along a cache row quantized like ggml's Q8_0
    /// (`d = max|x| / 127`, `q = round(x / d)`), with the scale kept in f32.
    /// A row is its `kv_dim / 4` words of packed int8 (element `4i + j` in
    /// byte `j` of word `i`), then its `kv_dim / 32` scales. The RoPE
    /// epilogue cannot quantize a block (its 32 values come from different
    /// threads), so the projection writes the step's keys and values to a
    /// staging buffer and a store pass quantizes them into the cache.
    Q8_0,
}

impl KvType {
    /// Bytes one cache row (one position of one layer's keys, or values) of
    /// `kv_dim` values takes.
    pub fn row_bytes(self, kv_dim: usize) -> u64 {
        let n = kv_dim as u64;
        match self {
            KvType::F32 => 4 * n,
            KvType::F16 => 2 * n,
            KvType::Q8_0 => n + 4 * n.div_ceil(32),
        }
    }

    /// Whether a cache row of `kv_dim` values can have this type.
    pub fn fits(self, kv_dim: usize) -> bool {
        match self {
            KvType::F32 => true,
            KvType::F16 => kv_dim.is_multiple_of(2),
            KvType::Q8_0 => kv_dim.is_multiple_of(32),
        }
    }

    /// The type [`KvType::name`] names.
    pub fn by_name(name: &str) -> Option<KvType> {
        [KvType::F32, KvType::F16, KvType::Q8_0]
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// The name llama.cpp's `--cache-type-k` uses.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        }
    }
}

/// A KV cache type name other than `f32`, `f16` and `q8_0`.
#[derive(Debug, thiserror::Error)]
#[error("unknown KV cache type `{0}` (f32, f16, q8_0)")]
pub struct UnknownKvType(pub String);

impl std::str::FromStr for KvType {
    type Err = UnknownKvType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KvType::by_name(s).ok_or_else(|| UnknownKvType(s.to_string()))
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_rows_take_36_bytes_per_32_values() {
        assert_eq!(KvType::Q8_0.row_bytes(192), 192 + 6 * 4);
        assert_eq!(KvType::F16.row_bytes(192), 384);
        assert_eq!(KvType::F32.row_bytes(192), 768);
        assert!(KvType::Q8_0.fits(64) && !KvType::Q8_0.fits(48));
        assert_eq!(KvType::by_name("q8_0"), Some(KvType::Q8_0));
        assert_eq!(KvType::by_name("q8"), None);
        let err = "q4".parse::<KvType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown KV cache type `q4` (f32, f16, q8_0)"
        );
    }
}
