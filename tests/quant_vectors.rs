//! rewind's CPU (de)quantization against vectors computed independently by
//! the `gguf` Python package (tests/data/quant_vectors.json, written by
//! scripts/gen_quant_vectors.py).
//!
//! * Dequantization must match bit for bit: both sides evaluate the same
//!   formula (`d * q` or `d * q + m`, f16 scales widened exactly to f32, one
//!   f32 multiply and one f32 add, no fused multiply-add; for K-quants
//!   `(d * sc) * q - (dmin * m)` or `(d * sc) * q`, where the products of an
//!   f16 and a 4..8-bit integer are exact in f32), so there is no room for
//!   rounding differences.
//! * Quantization must produce the same bytes: both follow ggml's reference
//!   quantizers (scale from the block's extreme values, f32 arithmetic,
//!   round-half-away-from-zero for Q8_0, `trunc(x + 0.5)` / `trunc(x + 8.5)`
//!   / `trunc(x + 16.5)` for Q4_1 and Q5_1 / Q4_0 / Q5_0, f16/bf16
//!   conversion with round-to-nearest-even). gguf has no K-quant quantizer.

mod common;

use rewind::quant::{GgmlType, SUPPORTED, dequantize_to_vec, quantize};
use serde_json::Value;

struct Case {
    ty: GgmlType,
    name: String,
    n: usize,
    bytes: Vec<u8>,
    floats: Vec<f32>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn type_named(name: &str) -> GgmlType {
    SUPPORTED
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unexpected type {name} in quant_vectors.json"))
}

fn cases(section: &str) -> Vec<Case> {
    let doc: Value = serde_json::from_slice(&common::read_data("quant_vectors.json"))
        .expect("quant_vectors.json is valid JSON");
    let list = doc[section].as_array().expect("a list of cases");
    let cases: Vec<Case> = list
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_else(|| panic!("field {k}"));
            let floats = unhex(s("f32le"))
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect::<Vec<_>>();
            let n = c["n_elements"].as_u64().expect("n_elements") as usize;
            assert_eq!(floats.len(), n);
            Case {
                ty: type_named(s("type")),
                name: s("name").to_string(),
                n,
                bytes: unhex(s("bytes")),
                floats,
            }
        })
        .collect();
    assert!(!cases.is_empty());
    cases
}

#[test]
fn dequantize_matches_gguf_py_bitwise() {
    let cases = cases("dequantize");
    // Every supported type but F32 (whose "dequantization" is a copy).
    for &ty in SUPPORTED.iter().filter(|&&t| t != GgmlType::F32) {
        assert!(
            cases.iter().any(|c| c.ty == ty),
            "no dequantize case for {ty}"
        );
    }
    for c in &cases {
        let got = dequantize_to_vec(c.ty, &c.bytes, c.n).unwrap();
        for (i, (g, w)) in got.iter().zip(&c.floats).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{} ({}), element {i}: {g:e} vs gguf-py {w:e}",
                c.ty,
                c.name
            );
        }
    }
}

#[test]
fn quantize_matches_gguf_py_bytes() {
    let cases = cases("quantize");
    // The types whose quantizer follows ggml's reference quantizer exactly
    // (rewind's K-quant quantizers are simpler: they only make test models).
    for ty in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
    ] {
        assert!(
            cases.iter().any(|c| c.ty == ty),
            "no quantize case for {ty}"
        );
    }
    for c in &cases {
        let got = quantize(c.ty, &c.floats).unwrap();
        let bs = c.ty.type_size();
        assert_eq!(got.len(), c.bytes.len(), "{} ({})", c.ty, c.name);
        for (b, (g, w)) in got.chunks(bs).zip(c.bytes.chunks(bs)).enumerate() {
            assert_eq!(g, w, "{} ({}), block {b}", c.ty, c.name);
        }
    }
}
