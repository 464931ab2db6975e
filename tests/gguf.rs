//! GGUF reader and writer: round trips, hand-built corrupt files, and a
//! mutation fuzz pass.

use rewind::gguf::{GgufError, GgufFile, GgufWriter, MAX_ARRAY_DEPTH, Metadata, TensorInfo, Value};
use rewind::quant::GgmlType;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Builds GGUF bytes by hand, field by field.
struct Raw(Vec<u8>);

impl Raw {
    fn new() -> Self {
        Raw(Vec::new())
    }

    /// Magic, version, tensor count, kv count.
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Self {
        Raw::new()
            .bytes(b"GGUF")
            .u32(version)
            .u64(n_tensors)
            .u64(n_kv)
    }

    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }

    fn u8(self, v: u8) -> Self {
        self.bytes(&[v])
    }

    fn u32(self, v: u32) -> Self {
        self.bytes(&v.to_le_bytes())
    }

    fn u64(self, v: u64) -> Self {
        self.bytes(&v.to_le_bytes())
    }

    fn str(self, s: &[u8]) -> Self {
        self.u64(s.len() as u64).bytes(s)
    }

    /// A u32 metadata entry.
    fn kv_u32(self, key: &str, v: u32) -> Self {
        self.str(key.as_bytes()).u32(4).u32(v)
    }

    /// A tensor info.
    fn tensor(self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        let mut r = self.str(name.as_bytes()).u32(dims.len() as u32);
        for &d in dims {
            r = r.u64(d);
        }
        r.u32(ty).u64(offset)
    }

    fn pad(mut self, alignment: usize) -> Self {
        while !self.0.len().is_multiple_of(alignment) {
            self.0.push(0);
        }
        self
    }

    fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }

    fn parse(self) -> Result<GgufFile, GgufError> {
        GgufFile::from_bytes(self.0)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

/// Deterministic pseudo-random numbers (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// One value of every type, including nested arrays of mixed inner types
/// and empty arrays.
fn every_value() -> Vec<(&'static str, Value)> {
    vec![
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-100)),
        ("t.u16", Value::U16(60000)),
        ("t.i16", Value::I16(-30000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.f32", Value::F32(-1.5e-7)),
        ("t.f64", Value::F64(std::f64::consts::PI)),
        ("t.bool.true", Value::Bool(true)),
        ("t.bool.false", Value::Bool(false)),
        ("t.string", Value::from("héllo wörld ✓")),
        ("t.string.empty", Value::from("")),
        ("t.array.u8", Value::from(vec![1u8, 2, 255])),
        ("t.array.i32", Value::from(vec![-1i32, 0, 7])),
        ("t.array.f32", Value::from(vec![0.5f32, -2.0])),
        ("t.array.f64", Value::from(vec![1e300f64])),
        ("t.array.bool", Value::from(vec![true, false, true])),
        ("t.array.str", Value::from(vec!["a", "", "ccc"])),
        ("t.array.u64", Value::from(vec![u64::MAX, 0])),
        ("t.array.i64", Value::from(vec![i64::MIN, i64::MAX])),
        ("t.array.u16", Value::from(vec![1u16])),
        ("t.array.i16", Value::from(vec![-1i16])),
        ("t.array.i8", Value::from(vec![-128i8])),
        ("t.array.u32", Value::from(vec![3u32, 4])),
        ("t.array.empty", Value::Array(vec![])),
        (
            "t.array.nested",
            Value::Array(vec![
                Value::from(vec![1u32, 2]),
                Value::from(vec!["x", "y", "z"]),
                Value::Array(vec![]),
                Value::Array(vec![Value::from(vec![Value::from(vec![true])])]),
            ]),
        ),
    ]
}

/// A small valid file with metadata of several types and four tensors.
fn sample_writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::from("llama"))
        .add_metadata("general.name", Value::from("tiny"))
        .add_metadata("llama.block_count", Value::U32(2))
        .add_metadata("llama.rope.freq_base", Value::F32(10000.0))
        .add_metadata("tokenizer.ggml.tokens", Value::from(vec!["<s>", "a", "b"]))
        .add_metadata(
            "tokenizer.ggml.scores",
            Value::from(vec![0.0f32, -1.0, -2.0]),
        )
        .add_metadata("tokenizer.ggml.token_type", Value::from(vec![3i32, 1, 1]))
        .add_metadata("tokenizer.ggml.add_bos_token", Value::Bool(true));
    let mut rng = Rng(7);
    w.add_tensor(
        "token_embd.weight",
        &[32, 3],
        GgmlType::Q8_0,
        rng.bytes(3 * 34),
    )
    .unwrap();
    w.add_tensor(
        "output_norm.weight",
        &[32],
        GgmlType::F32,
        f32_bytes(&[1.0; 32]),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.attn_q.weight",
        &[64, 2],
        GgmlType::Q4_1,
        rng.bytes(4 * 20),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.ffn.weight",
        &[3, 2, 2, 1],
        GgmlType::F16,
        rng.bytes(24),
    )
    .unwrap();
    w
}

fn sample_bytes() -> Vec<u8> {
    sample_writer().to_bytes().unwrap()
}

/// Runs every read accessor on a parsed file; must not panic.
fn exercise(f: &GgufFile) {
    let _ = (f.version(), f.alignment(), f.file_size(), f.data_offset());
    for (k, v) in f.metadata().iter() {
        let _ = (v.describe(), v.to_string(), v.as_u64(), v.as_f32());
        let _ = f.metadata().get_u32(k);
        let _ = f.metadata().get_str_array(k);
        let _ = f.metadata().get_f32_array(k);
        let _ = f.metadata().get_i32_array(k);
    }
    for t in f.tensors() {
        assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes);
        assert_eq!(f.tensor(&t.name), Some(t));
    }
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

fn round_trip_every_value(version: u32) {
    let mut w = GgufWriter::new().with_version(version);
    for (k, v) in every_value() {
        w.add_metadata(k, v);
    }
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.version(), version);
    assert_eq!(f.alignment(), 32);
    assert!(f.tensors().is_empty());
    let got: Vec<(&str, &Value)> = f.metadata().iter().collect();
    let want = every_value();
    assert_eq!(got.len(), want.len());
    for ((gk, gv), (wk, wv)) in got.iter().zip(&want) {
        assert_eq!(gk, wk);
        assert_eq!(*gv, wv, "key {wk}");
        assert_eq!(gv.type_name(), wv.type_name());
    }
    assert_eq!(f.metadata().len(), want.len());
    assert!(!f.metadata().is_empty());
}

#[test]
fn round_trip_every_value_type_v3() {
    round_trip_every_value(3);
}

#[test]
fn round_trip_every_value_type_v2() {
    round_trip_every_value(2);
}

#[test]
fn version_2_and_3_differ_only_in_the_version_field() {
    let v2 = sample_writer().with_version(2).to_bytes().unwrap();
    let v3 = sample_writer().to_bytes().unwrap();
    assert_eq!(v2.len(), v3.len());
    assert_eq!(&v2[4..8], &2u32.to_le_bytes());
    assert_eq!(&v3[4..8], &3u32.to_le_bytes());
    assert_eq!(v2[8..], v3[8..]);
    assert_eq!(GgufFile::from_bytes(v2).unwrap().version(), 2);
}

#[test]
fn tensor_data_views_equal_what_was_written() {
    let mut rng = Rng(99);
    let q8 = rng.bytes(5 * 34);
    let q4 = rng.bytes(2 * 4 * 18);
    let f16 = rng.bytes(7 * 2);
    let f32 = f32_bytes(&[1.0, -2.0, 3.5]);
    let mut w = GgufWriter::new();
    w.add_tensor("a", &[160], GgmlType::Q8_0, q8.clone())
        .unwrap()
        .add_tensor("b", &[64, 2, 2], GgmlType::Q4_0, q4.clone())
        .unwrap()
        .add_tensor("c", &[7], GgmlType::F16, f16.clone())
        .unwrap()
        .add_tensor("d", &[3, 1], GgmlType::F32, f32.clone())
        .unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let names: Vec<&str> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    for (name, data, ty, dims) in [
        ("a", &q8, GgmlType::Q8_0, vec![160]),
        ("b", &q4, GgmlType::Q4_0, vec![64, 2, 2]),
        ("c", &f16, GgmlType::F16, vec![7]),
        ("d", &f32, GgmlType::F32, vec![3, 1]),
    ] {
        let t = f.require_tensor(name).unwrap();
        assert_eq!(t.ty, ty);
        assert_eq!(t.dims, dims);
        assert_eq!(t.n_elements, dims.iter().product::<u64>());
        assert_eq!(t.n_bytes, data.len() as u64);
        assert_eq!(t.offset % 32, 0);
        assert_eq!(f.tensor_data(t), data.as_slice());
        assert_eq!(f.tensor_bytes(name).unwrap(), data.as_slice());
    }
    let d = f.tensor("d").unwrap();
    assert_eq!((d.n_dims(), d.dim(0), d.dim(1), d.dim(3)), (2, 3, 1, 1));
    assert_eq!(f.data_offset() % 32, 0);
    assert!(!f.is_mapped());
}

#[test]
fn custom_alignment_round_trips() {
    for alignment in [1u64, 8, 64, 4096] {
        let w = sample_writer().with_alignment(alignment);
        let bytes = w.to_bytes().unwrap();
        assert_eq!(bytes.len() as u64 % alignment, 0);
        let f = GgufFile::from_bytes(bytes).unwrap();
        assert_eq!(f.alignment(), alignment);
        assert_eq!(
            f.metadata().get_u32("general.alignment").unwrap() as u64,
            alignment
        );
        assert_eq!(
            f.metadata().get("general.alignment"),
            Some(&Value::U32(alignment as u32))
        );
        assert_eq!(f.data_offset() % alignment, 0);
        for t in f.tensors() {
            assert_eq!(t.offset % alignment, 0);
        }
        let reference = GgufFile::from_bytes(sample_bytes()).unwrap();
        for t in reference.tensors() {
            assert_eq!(f.tensor_bytes(&t.name).unwrap(), reference.tensor_data(t));
        }
    }
    // The default alignment is not written.
    let f = GgufFile::from_bytes(sample_writer().with_alignment(32).to_bytes().unwrap()).unwrap();
    assert!(f.metadata().get("general.alignment").is_none());
    assert_eq!(f.alignment(), 32);
}

#[test]
fn writer_layout_matches_the_spec_byte_for_byte() {
    let mut w = GgufWriter::new();
    w.add_metadata("k", Value::U32(7));
    w.add_tensor("t", &[2], GgmlType::F32, f32_bytes(&[1.0, 2.0]))
        .unwrap();
    let want = Raw::header(3, 1, 1)
        .kv_u32("k", 7)
        .tensor("t", &[2], 0, 0)
        .pad(32)
        .bytes(&f32_bytes(&[1.0, 2.0]))
        .pad(32);
    assert_eq!(w.to_bytes().unwrap(), want.0);
}

#[test]
fn empty_file_round_trips() {
    let bytes = GgufWriter::new().to_bytes().unwrap();
    assert_eq!(bytes, Raw::header(3, 0, 0).pad(32).0);
    let f = GgufFile::from_bytes(bytes).unwrap();
    assert!(f.metadata().is_empty());
    assert!(f.tensors().is_empty());
    // Without the trailing padding too.
    let f = Raw::header(2, 0, 0).parse().unwrap();
    assert_eq!(f.version(), 2);
}

#[test]
fn hand_built_file_parses() {
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    let f = Raw::header(3, 2, 2)
        .kv_u32("general.alignment", 16)
        .str(b"general.name")
        .u32(8)
        .str(b"hand")
        .tensor("x", &[2], 0, 0)
        .tensor("y", &[2], 0, 16)
        .pad(16)
        .bytes(&data[..8])
        .zeros(8)
        .bytes(&data[8..])
        .parse()
        .unwrap();
    assert_eq!(f.alignment(), 16);
    assert_eq!(f.metadata().get_str("general.name").unwrap(), "hand");
    assert_eq!(f.tensor_bytes("x").unwrap(), &data[..8]);
    assert_eq!(f.tensor_bytes("y").unwrap(), &data[8..]);
}

#[test]
fn open_reads_a_file_from_disk_through_the_mmap() {
    let dir = std::env::temp_dir().join(format!("rewind-gguf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.gguf");
    sample_writer().write_file(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert!(f.is_mapped());
    assert_eq!(f.file_size(), std::fs::metadata(&path).unwrap().len());
    let reference = GgufFile::from_bytes(sample_bytes()).unwrap();
    assert_eq!(f.metadata(), reference.metadata());
    assert_eq!(f.tensors(), reference.tensors());
    for t in f.tensors() {
        assert_eq!(f.tensor_data(t), reference.tensor_data(t));
        // A view into the mapping, not a copy.
        let start = (f.data_offset() + t.offset) as usize;
        assert_eq!(f.tensor_data(t).as_ptr(), f.as_bytes()[start..].as_ptr());
        // Released pages come back from the file, unchanged.
        f.release_tensor_pages(t);
        assert_eq!(f.tensor_data(t), reference.tensor_data(t));
    }
    assert_eq!(
        f.metadata().get_str("general.architecture").unwrap(),
        "llama"
    );
    assert!(format!("{f:?}").contains("tensors: 4"));
    drop(f);

    // An empty file on disk is a truncated GGUF, not an I/O error.
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        GgufFile::open(&empty),
        Err(GgufError::Truncated { offset: 0, .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn open_missing_file_names_the_path() {
    let path = std::env::temp_dir().join("rewind-gguf-no-such-file.gguf");
    let err = GgufFile::open(&path).unwrap_err();
    assert!(matches!(err, GgufError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("rewind-gguf-no-such-file.gguf"),
        "{err}"
    );
}

#[test]
fn write_file_into_missing_directory_names_the_path() {
    let path = std::env::temp_dir()
        .join("rewind-gguf-no-such-dir")
        .join("x.gguf");
    let err = sample_writer().write_file(&path).unwrap_err();
    assert!(matches!(err, GgufError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("rewind-gguf-no-such-dir"), "{err}");
}

// ---------------------------------------------------------------------------
// Metadata accessors
// ---------------------------------------------------------------------------

fn sample_metadata() -> GgufFile {
    let mut w = GgufWriter::new();
    for (k, v) in every_value() {
        w.add_metadata(k, v);
    }
    w.add_metadata("small.u64", Value::U64(5))
        .add_metadata("small.i64", Value::I64(6))
        .add_metadata("neg.i8", Value::I8(-1))
        .add_metadata("mixed.nested", Value::from(vec![vec![1u8]]));
    GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()
}

#[test]
fn typed_accessors_convert_what_fits() {
    let f = sample_metadata();
    let m = f.metadata();
    assert_eq!(m.get_u32("t.u8").unwrap(), 200);
    assert_eq!(m.get_u32("t.u16").unwrap(), 60000);
    assert_eq!(m.get_u32("t.u32").unwrap(), 4_000_000_000);
    assert_eq!(m.get_u32("small.u64").unwrap(), 5);
    assert_eq!(m.get_u32("small.i64").unwrap(), 6);
    assert_eq!(m.get_u64("t.u64").unwrap(), u64::MAX);
    assert_eq!(m.get_u64("t.u32").unwrap(), 4_000_000_000);
    assert_eq!(m.get_i64("t.i64").unwrap(), i64::MIN);
    assert_eq!(m.get_i32("t.i16").unwrap(), -30000);
    assert_eq!(m.get_f32("t.f32").unwrap(), -1.5e-7);
    assert_eq!(m.get_f32("t.f64").unwrap(), std::f32::consts::PI);
    assert_eq!(m.get_f32("t.u16").unwrap(), 60000.0);
    assert_eq!(m.get_f32("t.i8").unwrap(), -100.0);
    assert!(m.get_bool("t.bool.true").unwrap());
    assert!(!m.get_bool("t.bool.false").unwrap());
    assert_eq!(m.get_str("t.string").unwrap(), "héllo wörld ✓");
    assert_eq!(m.get_array("t.array.u8").unwrap().len(), 3);
    assert_eq!(m.get_str_array("t.array.str").unwrap(), ["a", "", "ccc"]);
    assert_eq!(m.get_f32_array("t.array.f32").unwrap(), [0.5, -2.0]);
    assert_eq!(m.get_f32_array("t.array.i32").unwrap(), [-1.0, 0.0, 7.0]);
    assert_eq!(m.get_i32_array("t.array.i32").unwrap(), [-1, 0, 7]);
    assert_eq!(m.get_i32_array("t.array.u8").unwrap(), [1, 2, 255]);
    assert!(m.get_str_array("t.array.empty").unwrap().is_empty());
    assert_eq!(m.opt_u32("t.u8").unwrap(), Some(200));
    assert_eq!(m.opt_u64("t.u8").unwrap(), Some(200));
    assert_eq!(m.opt_f32("t.f32").unwrap(), Some(-1.5e-7));
    assert_eq!(m.opt_bool("t.bool.true").unwrap(), Some(true));
    assert_eq!(m.opt_str("t.string.empty").unwrap(), Some(""));
    assert_eq!(m.opt_array("t.array.u8").unwrap().map(|a| a.len()), Some(3));
    assert_eq!(m.keys().next(), Some("t.u8"));
    assert!(m.contains_key("t.u8"));
}

#[test]
fn missing_key_via_accessors() {
    let f = sample_metadata();
    let m = f.metadata();
    let missing = |r: Result<(), GgufError>| match r {
        Err(GgufError::MissingKey { key }) => assert_eq!(key, "no.such.key"),
        other => panic!("expected MissingKey, got {other:?}"),
    };
    let k = "no.such.key";
    missing(m.get_u32(k).map(drop));
    missing(m.get_u64(k).map(drop));
    missing(m.get_i32(k).map(drop));
    missing(m.get_i64(k).map(drop));
    missing(m.get_f32(k).map(drop));
    missing(m.get_bool(k).map(drop));
    missing(m.get_str(k).map(drop));
    missing(m.get_array(k).map(drop));
    missing(m.get_str_array(k).map(drop));
    missing(m.get_f32_array(k).map(drop));
    missing(m.get_i32_array(k).map(drop));
    assert_eq!(m.opt_u32(k).unwrap(), None);
    assert_eq!(m.opt_u64(k).unwrap(), None);
    assert_eq!(m.opt_f32(k).unwrap(), None);
    assert_eq!(m.opt_bool(k).unwrap(), None);
    assert_eq!(m.opt_str(k).unwrap(), None);
    assert_eq!(m.opt_array(k).unwrap(), None);
    assert!(m.get(k).is_none());
    let err = m.get_u32(k).unwrap_err();
    assert!(err.to_string().contains("no.such.key"), "{err}");
}

#[test]
fn missing_tensor_via_accessors() {
    let f = GgufFile::from_bytes(sample_bytes()).unwrap();
    assert!(f.tensor("nope").is_none());
    match f.require_tensor("nope") {
        Err(GgufError::MissingTensor { name }) => assert_eq!(name, "nope"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.tensor_bytes("nope"),
        Err(GgufError::MissingTensor { .. })
    ));
    let err = f.require_tensor("nope").unwrap_err();
    assert!(err.to_string().contains("\"nope\""), "{err}");
}

#[test]
fn wrong_type_via_accessors() {
    let f = sample_metadata();
    let m = f.metadata();
    let wrong = |r: Result<(), GgufError>, key: &str, found_has: &str| match r {
        Err(GgufError::WrongType {
            key: k,
            expected,
            found,
        }) => {
            assert_eq!(k, key);
            assert!(!expected.is_empty());
            assert!(found.contains(found_has), "{found:?} lacks {found_has:?}");
        }
        other => panic!("{key}: expected WrongType, got {other:?}"),
    };
    wrong(m.get_u32("t.string").map(drop), "t.string", "string");
    wrong(m.get_u32("t.i32").map(drop), "t.i32", "i32 -2000000000");
    wrong(m.get_u32("neg.i8").map(drop), "neg.i8", "i8 -1");
    wrong(m.get_u32("t.u64").map(drop), "t.u64", "u64");
    wrong(m.get_u32("t.f32").map(drop), "t.f32", "f32");
    wrong(m.get_u32("t.bool.true").map(drop), "t.bool.true", "bool");
    wrong(m.get_u64("t.i64").map(drop), "t.i64", "i64");
    wrong(m.get_i32("t.u32").map(drop), "t.u32", "u32");
    wrong(m.get_i64("t.u64").map(drop), "t.u64", "u64");
    wrong(m.get_f32("t.string").map(drop), "t.string", "string");
    wrong(
        m.get_f32("t.array.f32").map(drop),
        "t.array.f32",
        "array of 2 f32",
    );
    wrong(m.get_bool("t.u8").map(drop), "t.u8", "u8 200");
    wrong(m.get_str("t.u32").map(drop), "t.u32", "u32");
    wrong(m.get_array("t.string").map(drop), "t.string", "string");
    wrong(
        m.get_str_array("t.array.u8").map(drop),
        "t.array.u8",
        "index 0",
    );
    wrong(m.get_str_array("t.string").map(drop), "t.string", "string");
    wrong(
        m.get_f32_array("t.array.str").map(drop),
        "t.array.str",
        "string",
    );
    wrong(
        m.get_i32_array("t.array.f32").map(drop),
        "t.array.f32",
        "f32",
    );
    wrong(
        m.get_i32_array("t.array.u64").map(drop),
        "t.array.u64",
        "index 0",
    );
    wrong(
        m.get_i32_array("mixed.nested").map(drop),
        "mixed.nested",
        "array",
    );
    wrong(m.opt_u32("t.string").map(drop), "t.string", "string");
    wrong(m.opt_u64("t.i8").map(drop), "t.i8", "i8");
    wrong(m.opt_f32("t.bool.true").map(drop), "t.bool.true", "bool");
    wrong(m.opt_bool("t.string").map(drop), "t.string", "string");
    wrong(m.opt_str("t.u8").map(drop), "t.u8", "u8");
    wrong(m.opt_array("t.u8").map(drop), "t.u8", "u8");
    let err = m.get_str("t.u32").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("t.u32") && msg.contains("string"), "{msg}");
}

#[test]
fn value_conversions() {
    assert_eq!(Value::I8(-1).as_u64(), None);
    assert_eq!(Value::I64(5).as_u64(), Some(5));
    assert_eq!(Value::U64(u64::MAX).as_i64(), None);
    assert_eq!(Value::U8(3).as_i64(), Some(3));
    assert_eq!(Value::F32(1.0).as_u64(), None);
    assert_eq!(Value::Bool(true).as_u64(), None);
    assert_eq!(Value::U32(3).as_f32(), Some(3.0));
    assert_eq!(Value::F64(0.25).as_f32(), Some(0.25));
    assert_eq!(Value::from("x").as_f32(), None);
    assert_eq!(Value::from("x").as_str(), Some("x"));
    assert_eq!(Value::U8(1).as_bool(), None);
    assert_eq!(Value::Bool(false).as_bool(), Some(false));
    assert_eq!(Value::from(vec![1u8]).as_array(), Some(&[Value::U8(1)][..]));
    assert_eq!(Value::U8(1).as_array(), None);
    let names: Vec<&str> = every_value().iter().map(|(_, v)| v.type_name()).collect();
    for n in [
        "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "bool", "string",
        "array",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    let long = Value::from(vec![0u8; 20]).to_string();
    assert!(long.contains("20 elements"), "{long}");
}

#[test]
fn metadata_insert_and_try_insert() {
    let mut m = Metadata::new();
    assert!(m.is_empty());
    assert_eq!(m.insert("a", Value::U8(1)), None);
    assert_eq!(m.insert("b", Value::U8(2)), None);
    assert_eq!(m.insert("a", Value::U8(3)), Some(Value::U8(1)));
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(m.get_u32("a").unwrap(), 3);
    assert!(matches!(
        m.try_insert("b".into(), Value::U8(0)),
        Err(GgufError::DuplicateKey { key }) if key == "b"
    ));
    m.try_insert("c".into(), Value::U8(0)).unwrap();
    assert_eq!(m.len(), 3);
}

// ---------------------------------------------------------------------------
// Corrupt files
// ---------------------------------------------------------------------------

#[test]
fn bad_magic() {
    let mut bytes = sample_bytes();
    bytes[..4].copy_from_slice(b"GGML");
    let err = GgufFile::from_bytes(bytes).unwrap_err();
    assert!(
        matches!(err, GgufError::BadMagic { found } if &found == b"GGML"),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a GGUF file"), "{err}");
    assert!(matches!(
        GgufFile::from_bytes(b"\0\0\0\0\x03\0\0\0".to_vec()),
        Err(GgufError::BadMagic { .. })
    ));
}

#[test]
fn unsupported_version() {
    for version in [0u32, 1, 4, u32::MAX, 3u32.swap_bytes()] {
        let mut bytes = sample_bytes();
        bytes[4..8].copy_from_slice(&version.to_le_bytes());
        match GgufFile::from_bytes(bytes) {
            Err(GgufError::UnsupportedVersion(v)) => assert_eq!(v, version),
            other => panic!("version {version}: {other:?}"),
        }
    }
    assert!(matches!(
        GgufWriter::new().with_version(1).to_bytes(),
        Err(GgufError::UnsupportedVersion(1))
    ));
}

#[test]
fn truncated_in_the_header() {
    let bytes = sample_bytes();
    for (len, what, offset) in [
        (0, "magic", 0u64),
        (3, "magic", 0),
        (4, "version", 4),
        (7, "version", 4),
        (8, "tensor count", 8),
        (15, "tensor count", 8),
        (16, "metadata entry count", 16),
        (23, "metadata entry count", 16),
    ] {
        match GgufFile::from_bytes(bytes[..len].to_vec()) {
            Err(GgufError::Truncated { what: w, offset: o }) => {
                assert_eq!((w.as_str(), o), (what, offset), "len {len}");
            }
            other => panic!("len {len}: {other:?}"),
        }
    }
}

#[test]
fn truncated_inside_a_kv() {
    let file = Raw::header(3, 0, 2)
        .kv_u32("first.key", 1)
        .str(b"second.key")
        .u32(8)
        .str(b"a string value");
    let full = file.0.clone();
    let second = find(&full, b"second.key") - 8;
    type Check = fn(&GgufError) -> bool;
    let cases: Vec<(usize, Check)> = vec![
        // In the length of the second key.
        (
            second + 3,
            |e| matches!(e, GgufError::Truncated { what, .. } if what.contains("length of key of metadata entry 1")),
        ),
        // In the bytes of the second key: its length runs past the end.
        (
            second + 10,
            |e| matches!(e, GgufError::LengthPastEnd { what, len: 10, .. } if what.contains("key of metadata entry 1")),
        ),
        // In its value type.
        (
            second + 8 + 10 + 2,
            |e| matches!(e, GgufError::Truncated { what, .. } if what.contains("value type of key \"second.key\"")),
        ),
        // In the value's string length.
        (
            second + 8 + 10 + 4 + 5,
            |e| matches!(e, GgufError::Truncated { what, .. } if what.contains("value of key \"second.key\"")),
        ),
        // In the value's bytes.
        (
            full.len() - 1,
            |e| matches!(e, GgufError::LengthPastEnd { what, len: 14, .. } if what == "value of key \"second.key\""),
        ),
        // In the first value (a u32).
        (
            24 + 8 + 9 + 4 + 2,
            |e| matches!(e, GgufError::Truncated { what, offset: 45 } if what == "value of key \"first.key\""),
        ),
    ];
    for (len, check) in cases {
        let err = GgufFile::from_bytes(full[..len].to_vec()).unwrap_err();
        assert!(check(&err), "len {len}: {err:?}");
    }
    assert!(GgufFile::from_bytes(full).is_ok());
}

#[test]
fn truncated_inside_tensor_infos() {
    let bytes = sample_bytes();
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    let name_at = find(&bytes, b"output_norm.weight");
    // Every cut between the start of the second tensor info and the end of
    // the last one is a truncation.
    let infos_end = bytes.len() - (f.file_size() - f.data_offset()) as usize;
    for len in name_at - 8..infos_end - 31 {
        match GgufFile::from_bytes(bytes[..len].to_vec()) {
            Err(GgufError::Truncated { what, .. }) => {
                assert!(what.contains("tensor"), "len {len}: {what}")
            }
            Err(GgufError::LengthPastEnd { what, .. }) => {
                assert!(what.contains("name of tensor"), "len {len}: {what}")
            }
            other => panic!("len {len}: {other:?}"),
        }
    }
    // A cut in the dims names the tensor and the dimension.
    let err = GgufFile::from_bytes(bytes[..name_at + 18 + 4 + 3].to_vec()).unwrap_err();
    assert!(
        matches!(&err, GgufError::Truncated { what, .. } if what == "dimension 0 of tensor \"output_norm.weight\""),
        "{err:?}"
    );
}

#[test]
fn data_section_shorter_than_a_tensor() {
    let bytes = sample_bytes();
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    let last = f.tensors().last().unwrap().clone();
    let end = (f.data_offset() + last.offset + last.n_bytes) as usize;
    assert!(GgufFile::from_bytes(bytes[..end].to_vec()).is_ok());
    match GgufFile::from_bytes(bytes[..end - 1].to_vec()) {
        Err(GgufError::TensorOutOfRange {
            name,
            offset,
            n_bytes,
            file_size,
            ..
        }) => {
            assert_eq!(name, last.name);
            assert_eq!(offset, last.offset);
            assert_eq!(n_bytes, last.n_bytes);
            assert_eq!(file_size, end as u64 - 1);
        }
        other => panic!("{other:?}"),
    }
    // With no data at all, the first tensor is reported.
    match GgufFile::from_bytes(bytes[..f.data_offset() as usize].to_vec()) {
        Err(GgufError::TensorOutOfRange { name, .. }) => assert_eq!(name, "token_embd.weight"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn string_length_past_the_end() {
    for len in [100u64, u64::MAX, u64::MAX / 2, 1 << 40] {
        // As a value.
        let err = Raw::header(3, 0, 1)
            .str(b"k")
            .u32(8)
            .u64(len)
            .bytes(b"short")
            .parse()
            .unwrap_err();
        assert!(
            matches!(&err, GgufError::LengthPastEnd { what, len: l, offset: 37 } if *l == len && what == "value of key \"k\""),
            "{err:?}"
        );
        assert!(err.to_string().contains(&len.to_string()), "{err}");
        // As a key.
        let err = Raw::header(3, 0, 1)
            .u64(len)
            .bytes(b"k")
            .parse()
            .unwrap_err();
        assert!(
            matches!(err, GgufError::LengthPastEnd { offset: 24, .. }),
            "{err:?}"
        );
        // As a tensor name.
        let err = Raw::header(3, 1, 0)
            .u64(len)
            .bytes(b"t")
            .parse()
            .unwrap_err();
        assert!(
            matches!(&err, GgufError::LengthPastEnd { what, .. } if what == "name of tensor 0"),
            "{err:?}"
        );
    }
}

#[test]
fn array_length_past_the_end() {
    for (elem_type, count) in [
        (0u32, u64::MAX),
        (0, 9),
        (8, u64::MAX / 8 + 1),
        (8, 2),
        (9, u64::MAX),
        (10, u64::MAX / 8 + 1),
        (12, 2),
        (7, 1 << 62),
    ] {
        let err = Raw::header(3, 0, 1)
            .str(b"arr")
            .u32(9)
            .u32(elem_type)
            .u64(count)
            .zeros(8)
            .parse()
            .unwrap_err();
        assert!(
            matches!(&err, GgufError::LengthPastEnd { what, len, offset: 39 } if *len == count && what == "value of key \"arr\""),
            "type {elem_type} count {count}: {err:?}"
        );
    }
    // The same lengths inside a nested array.
    let err = Raw::header(3, 0, 1)
        .str(b"arr")
        .u32(9)
        .u32(9)
        .u64(1)
        .u32(0)
        .u64(u64::MAX)
        .parse()
        .unwrap_err();
    assert!(
        matches!(&err, GgufError::LengthPastEnd { what, .. } if what == "element 0 of value of key \"arr\""),
        "{err:?}"
    );
    // Exactly enough bytes is fine.
    let f = Raw::header(3, 0, 1)
        .str(b"arr")
        .u32(9)
        .u32(0)
        .u64(8)
        .zeros(8)
        .parse()
        .unwrap();
    assert_eq!(f.metadata().get_array("arr").unwrap().len(), 8);
}

fn nested_arrays(levels: usize) -> Raw {
    // levels - 1 arrays of one array each, around one array of one u8.
    let mut r = Raw::header(3, 0, 1).str(b"deep").u32(9);
    for _ in 1..levels {
        r = r.u32(9).u64(1);
    }
    r.u32(0).u64(1).u8(42)
}

#[test]
fn array_nesting_is_capped() {
    // The deepest allowed nesting parses.
    let f = nested_arrays(MAX_ARRAY_DEPTH).parse().unwrap();
    let mut v = f.metadata().get("deep").unwrap();
    let mut depth = 0;
    while let Some(a) = v.as_array() {
        depth += 1;
        v = &a[0];
    }
    assert_eq!((depth, v), (MAX_ARRAY_DEPTH, &Value::U8(42)));
    // One more level is refused.
    let err = nested_arrays(MAX_ARRAY_DEPTH + 1).parse().unwrap_err();
    assert!(
        matches!(&err, GgufError::NestingTooDeep { max, .. } if *max == MAX_ARRAY_DEPTH),
        "{err:?}"
    );
    // A million levels fail fast instead of exhausting the stack.
    let err = nested_arrays(1_000_000).parse().unwrap_err();
    assert!(matches!(err, GgufError::NestingTooDeep { .. }), "{err:?}");
    // The writer refuses to write what the reader would refuse.
    let mut v = Value::U8(1);
    for _ in 0..=MAX_ARRAY_DEPTH {
        v = Value::Array(vec![v]);
    }
    let mut w = GgufWriter::new();
    w.add_metadata("deep", v);
    assert!(matches!(
        w.to_bytes(),
        Err(GgufError::NestingTooDeep { .. })
    ));
}

#[test]
fn tensor_offset_out_of_range() {
    let data = f32_bytes(&[1.0, 2.0]);
    let build = |offset: u64| {
        Raw::header(3, 1, 0)
            .tensor("t", &[2], 0, offset)
            .pad(32)
            .bytes(&data)
            .pad(32)
            .parse()
    };
    assert!(build(0).is_ok());
    // Still inside the padded file: the last 8 bytes of a 32-byte section.
    for offset in [32, 64, 1 << 40, u64::MAX - 31] {
        match build(offset) {
            Err(GgufError::TensorOutOfRange {
                name,
                offset: o,
                n_bytes: 8,
                ..
            }) => assert_eq!((name.as_str(), o), ("t", offset)),
            other => panic!("offset {offset}: {other:?}"),
        }
    }
    // Not a multiple of the alignment.
    let err = build(8).unwrap_err();
    assert!(
        matches!(&err, GgufError::MisalignedTensor { name, offset: 8, alignment: 32 } if name == "t"),
        "{err:?}"
    );
    // A tensor info from elsewhere doesn't panic the slice accessor.
    let f = build(0).unwrap();
    let mut bogus: TensorInfo = f.tensors()[0].clone();
    bogus.offset = u64::MAX;
    assert!(f.tensor_data(&bogus).is_empty());
    assert!(matches!(
        f.try_tensor_data(&bogus),
        Err(GgufError::TensorOutOfRange { .. })
    ));
}

#[test]
fn dimension_product_overflow() {
    for dims in [
        vec![1u64 << 32, 1 << 32],
        vec![u64::MAX],
        vec![1 << 63],
        vec![1 << 20, 1 << 20, 1 << 20, 1 << 20],
    ] {
        let err = Raw::header(3, 1, 0)
            .tensor("big", &dims, 0, 0)
            .pad(32)
            .parse()
            .unwrap_err();
        assert!(
            matches!(&err, GgufError::DimensionOverflow { name, dims: d } if name == "big" && *d == dims),
            "{dims:?}: {err:?}"
        );
        let mut w = GgufWriter::new();
        assert!(matches!(
            w.add_tensor("big", &dims, GgmlType::F32, vec![]),
            Err(GgufError::DimensionOverflow { .. })
        ));
    }
    // Elements fit in i64, but bytes (x8) don't.
    let err = Raw::header(3, 1, 0)
        .tensor("bytes", &[1 << 61], 28, 0)
        .parse()
        .unwrap_err();
    assert!(
        matches!(err, GgufError::DimensionOverflow { .. }),
        "{err:?}"
    );
}

#[test]
fn bad_dimensions() {
    let cases: Vec<(Raw, &str)> = vec![
        (Raw::header(3, 1, 0).tensor("t", &[], 0, 0), "0 dimensions"),
        (
            Raw::header(3, 1, 0).tensor("t", &[1, 1, 1, 1, 1], 0, 0),
            "5 dimensions",
        ),
        (
            Raw::header(3, 1, 0).str(b"t").u32(u32::MAX),
            "4294967295 dimensions",
        ),
        (
            Raw::header(3, 1, 0).tensor("t", &[4, 0], 0, 0),
            "dimension 1 is zero",
        ),
        (
            Raw::header(3, 1, 0).tensor("t", &[33, 32], 8, 0),
            "row length 33",
        ),
        (Raw::header(3, 1, 0).tensor("t", &[16, 2], 2, 0), "Q4_0"),
    ];
    for (raw, reason_has) in cases {
        let err = raw.pad(32).zeros(4096).parse().unwrap_err();
        assert!(
            matches!(&err, GgufError::BadDimensions { name, reason, .. } if name == "t" && reason.contains(reason_has)),
            "{reason_has}: {err:?}"
        );
    }
    let mut w = GgufWriter::new();
    for dims in [&[][..], &[1, 1, 1, 1, 1], &[0], &[31]] {
        assert!(matches!(
            w.add_tensor("t", dims, GgmlType::Q8_0, vec![0; 34]),
            Err(GgufError::BadDimensions { .. })
        ));
    }
}

#[test]
fn unknown_tensor_type() {
    for id in [4u32, 5, 31, 1000, u32::MAX] {
        let err = Raw::header(3, 1, 0)
            .tensor("weird", &[32], id, 0)
            .pad(32)
            .zeros(4096)
            .parse()
            .unwrap_err();
        assert!(
            matches!(&err, GgufError::UnknownTensorType { name, id: i } if name == "weird" && *i == id),
            "{id}: {err:?}"
        );
        assert!(err.to_string().contains(&id.to_string()));
    }
}

#[test]
fn unknown_value_type() {
    let err = Raw::header(3, 0, 1)
        .str(b"k")
        .u32(13)
        .zeros(16)
        .parse()
        .unwrap_err();
    assert!(
        matches!(&err, GgufError::UnknownValueType { what, id: 13, offset: 33 } if what == "value of key \"k\""),
        "{err:?}"
    );
    // As an array element type, also nested.
    let err = Raw::header(3, 0, 1)
        .str(b"k")
        .u32(9)
        .u32(99)
        .u64(0)
        .parse()
        .unwrap_err();
    assert!(
        matches!(&err, GgufError::UnknownValueType { id: 99, .. }),
        "{err:?}"
    );
    let err = Raw::header(3, 0, 1)
        .str(b"k")
        .u32(9)
        .u32(9)
        .u64(1)
        .u32(u32::MAX)
        .u64(0)
        .parse()
        .unwrap_err();
    assert!(
        matches!(&err, GgufError::UnknownValueType { what, id: u32::MAX, .. } if what.contains("element 0")),
        "{err:?}"
    );
}

#[test]
fn duplicate_tensor_names() {
    let mut w = GgufWriter::new();
    w.add_tensor("dup.a", &[1], GgmlType::F32, vec![0; 4])
        .unwrap()
        .add_tensor("dup.b", &[1], GgmlType::F32, vec![0; 4])
        .unwrap();
    // The writer refuses a duplicate...
    assert!(matches!(
        w.add_tensor("dup.a", &[1], GgmlType::F32, vec![0; 4]),
        Err(GgufError::DuplicateTensor { name }) if name == "dup.a"
    ));
    // ...so make one by patching the second name.
    let mut bytes = w.to_bytes().unwrap();
    let at = find(&bytes, b"dup.b");
    bytes[at + 4] = b'a';
    let err = GgufFile::from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&err, GgufError::DuplicateTensor { name } if name == "dup.a"),
        "{err:?}"
    );
    assert!(err.to_string().contains("dup.a"));
}

#[test]
fn duplicate_keys() {
    let mut w = GgufWriter::new();
    w.add_metadata("key.x", Value::U32(1))
        .add_metadata("key.y", Value::from("two"));
    let mut bytes = w.to_bytes().unwrap();
    let at = find(&bytes, b"key.y");
    bytes[at + 4] = b'x';
    let err = GgufFile::from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&err, GgufError::DuplicateKey { key } if key == "key.x"),
        "{err:?}"
    );
    // The writer replaces instead.
    let mut w = GgufWriter::new();
    w.add_metadata("k", Value::U32(1))
        .add_metadata("k", Value::U32(2));
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.metadata().len(), 1);
    assert_eq!(f.metadata().get_u32("k").unwrap(), 2);
}

#[test]
fn bad_alignment_value() {
    for value in [
        Value::U32(0),
        Value::U32(3),
        Value::U32(48),
        Value::U32(u32::MAX),
        Value::U64(1 << 33),
        Value::I32(-32),
        Value::from("32"),
        Value::F32(32.0),
    ] {
        let mut w = GgufWriter::new();
        w.add_metadata("general.alignment", value.clone());
        let err = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap_err();
        assert!(
            matches!(&err, GgufError::BadAlignment { found } if *found == value.describe()),
            "{value:?}: {err:?}"
        );
    }
    for a in [0u64, 3, 48, 1 << 33] {
        assert!(matches!(
            GgufWriter::new().with_alignment(a).to_bytes(),
            Err(GgufError::BadAlignment { .. })
        ));
    }
    // Any integer type holding a valid alignment is accepted.
    let mut w = GgufWriter::new().with_alignment(64);
    w.add_metadata("general.alignment", Value::U64(64));
    assert_eq!(
        GgufFile::from_bytes(w.to_bytes().unwrap())
            .unwrap()
            .alignment(),
        64
    );
}

#[test]
fn invalid_utf8_in_a_key() {
    let mut w = GgufWriter::new();
    w.add_metadata("good.key", Value::U8(1))
        .add_metadata("bad.key", Value::U8(2));
    let mut bytes = w.to_bytes().unwrap();
    let at = find(&bytes, b"bad.key");
    bytes[at] = 0xff;
    let err = GgufFile::from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&err, GgufError::InvalidUtf8 { what, offset } if what == "key of metadata entry 1" && *offset == at as u64 - 8),
        "{err:?}"
    );
    // In a tensor name and a string value too.
    let mut bytes = sample_bytes();
    let at = find(&bytes, b"output_norm");
    bytes[at + 1] = 0xc0;
    assert!(matches!(
        GgufFile::from_bytes(bytes),
        Err(GgufError::InvalidUtf8 { what, .. }) if what == "name of tensor 1"
    ));
    let mut bytes = sample_bytes();
    let at = find(&bytes, b"tiny");
    bytes[at..at + 2].copy_from_slice(&[0xed, 0xa0]);
    assert!(matches!(
        GgufFile::from_bytes(bytes),
        Err(GgufError::InvalidUtf8 { what, .. }) if what == "value of key \"general.name\""
    ));
}

#[test]
fn writer_refuses_bad_input() {
    let mut w = GgufWriter::new();
    let err = w
        .add_tensor("t", &[32, 2], GgmlType::Q8_0, vec![0; 67])
        .unwrap_err();
    assert!(
        matches!(&err, GgufError::DataLength { name, expected: 68, found: 67, .. } if name == "t"),
        "{err:?}"
    );
    assert!(err.to_string().contains("68"));
    w.add_metadata("mixed", Value::Array(vec![Value::U8(1), Value::U16(2)]));
    let err = w.to_bytes().unwrap_err();
    assert!(
        matches!(&err, GgufError::MixedArray { key, first: "u8", found: "u16" } if key == "mixed"),
        "{err:?}"
    );
    // Nothing was written.
    let mut out = Vec::new();
    assert!(w.write_to(&mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn error_messages_say_what_and_where() {
    let err = Raw::header(3, 0, 1)
        .str(b"my.key")
        .u32(4)
        .parse()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("my.key") && msg.contains("byte 42"), "{msg}");
    let err = Raw::header(3, 1, 0)
        .tensor("blk.0.w", &[32], 0, 64)
        .pad(32)
        .parse()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("blk.0.w") && msg.contains("offset 64"),
        "{msg}"
    );
    let err = GgufFile::from_bytes(vec![1, 2, 3, 4]).unwrap_err();
    assert!(err.to_string().contains("01, 02, 03, 04"), "{err}");
    let err = GgufError::UnsupportedVersion(1);
    assert!(err.to_string().contains("version 1"));
}

// ---------------------------------------------------------------------------
// Fuzz
// ---------------------------------------------------------------------------

#[test]
fn mutations_and_truncations_never_panic() {
    let mut w = sample_writer();
    w.add_metadata("nested", every_value().pop().unwrap().1);
    let base = w.to_bytes().unwrap();
    exercise(&GgufFile::from_bytes(base.clone()).unwrap());

    // Every truncation.
    for len in 0..base.len() {
        if let Ok(f) = GgufFile::from_bytes(base[..len].to_vec()) {
            exercise(&f);
        }
    }

    // Single-byte mutations, biased toward interesting values.
    let mut rng = Rng(0x5eed);
    let interesting = [0u8, 1, 0x7f, 0x80, 0xff, 8, 9, 12, 13, 32];
    let (mut ok, mut err) = (0, 0);
    for i in 0..30_000 {
        let mut bytes = base.clone();
        let at = rng.below(bytes.len());
        bytes[at] = if i % 2 == 0 {
            interesting[rng.below(interesting.len())]
        } else {
            rng.next() as u8
        };
        if i % 7 == 0 {
            let keep = rng.below(bytes.len() + 1);
            bytes.truncate(keep);
        }
        match GgufFile::from_bytes(bytes) {
            Ok(f) => {
                exercise(&f);
                ok += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                err += 1;
            }
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");

    // A few multi-byte mutations: overwrite 8 bytes with a huge length.
    for _ in 0..5_000 {
        let mut bytes = base.clone();
        let at = rng.below(bytes.len() - 8);
        let v = [u64::MAX, u64::MAX / 2, 1 << 40, rng.next()][rng.below(4)];
        bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
        if let Ok(f) = GgufFile::from_bytes(bytes) {
            exercise(&f);
        }
    }
}
