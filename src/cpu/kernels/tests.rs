//! Every kernel on every instruction set this CPU has (the scalar one
//! always), against f64 sums of the CPU reference's dequantized values, on
//! random data.
//!
//! The quantized mat-mul is exact in integers and rounds only in its f32
//! scaling: it must equal the reference dot product of the dequantized
//! weights with the *dequantized 8-bit activations* within f32 rounding
//! (1e-5 of the sum of |products|, which is O(1) here while any layout
//! error is O(0.1..1) of it).

use half::f16;

use super::super::acts::QActs;
use super::super::isa::Isa;
use super::super::pack::{Fmt, ROWS, dequantize_lane, pack_group};
use super::{AttnShape, KvView, attend, fgroup, qgroup, swiglu};
use crate::gpu::KvType;
use crate::model::synth::SplitMix64;
use crate::quant::{self, GgmlType};

const PACKED: [GgmlType; 10] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Random blocks: every byte random (every quant and packed sub-block scale
/// pattern occurs) except the f16 factors, random in ±[2^-10, 2^-4].
fn random_rows(ty: GgmlType, rows: usize, cols: usize, rng: &mut SplitMix64) -> Vec<u8> {
    let n = rows * cols / ty.block_size() * ty.type_size();
    let mut b: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
    for blk in b.chunks_exact_mut(ty.type_size()) {
        for &off in ty.f16_field_offsets() {
            let v = 2f32.powf(-10.0 + 6.0 * (rng.next_f32() + 1.0) / 2.0) * rng.next_f32().signum();
            blk[off..off + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
    }
    b
}

fn pack(ty: GgmlType, raw: &[u8], rows: usize, cols: usize) -> Vec<Vec<u8>> {
    let f = Fmt::of(ty).unwrap();
    let row_bytes = cols / ty.block_size() * ty.type_size();
    (0..rows.div_ceil(ROWS))
        .map(|g| {
            let rs: Vec<&[u8]> = (g * ROWS..rows.min(g * ROWS + ROWS))
                .map(|r| &raw[r * row_bytes..(r + 1) * row_bytes])
                .collect();
            let mut out = vec![0u8; f.group_bytes(cols)];
            pack_group(&f, cols, &rs, &mut out);
            out
        })
        .collect()
}

fn activations(n: usize, cols: usize, rng: &mut SplitMix64) -> Vec<f32> {
    // Magnitudes varying by block, like real activations with outliers.
    (0..n * cols)
        .map(|i| rng.next_f32() * (1 + i / 32 % 7) as f32)
        .collect()
}

#[test]
fn packing_round_trips_bit_for_bit() {
    let mut rng = SplitMix64::new(1);
    for ty in PACKED {
        let (rows, cols) = (21, 512);
        let raw = random_rows(ty, rows, cols, &mut rng);
        let want = quant::dequantize_to_vec(ty, &raw, rows * cols).unwrap();
        let f = Fmt::of(ty).unwrap();
        for (g, group) in pack(ty, &raw, rows, cols).iter().enumerate() {
            for lane in 0..ROWS {
                let mut got = vec![0.0; cols];
                dequantize_lane(&f, group, cols, lane, &mut got);
                let r = g * ROWS + lane;
                if r < rows {
                    let w = &want[r * cols..(r + 1) * cols];
                    assert!(
                        got.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{ty} row {r}"
                    );
                } else {
                    assert!(got.iter().all(|&v| v == 0.0), "{ty}: padding row {r}");
                }
            }
        }
    }
}

#[test]
fn quantized_matmul_matches_the_reference_on_every_isa() {
    let mut rng = SplitMix64::new(2);
    for ty in PACKED {
        let (rows, cols) = (37, 512);
        let raw = random_rows(ty, rows, cols, &mut rng);
        let w = quant::dequantize_to_vec(ty, &raw, rows * cols).unwrap();
        let groups = pack(ty, &raw, rows, cols);
        // 11 tokens: tiles of 8, 2 and 1 (4 on narrow backends).
        for n in [1, 11] {
            let x = activations(n, cols, &mut rng);
            let mut qa = QActs::new(cols, n);
            qa.quantize(&x, n);
            for isa in Isa::available() {
                for (g, group) in groups.iter().enumerate() {
                    let mut out = vec![f32::NAN; n * ROWS];
                    qgroup(isa, ty, group, cols, &qa, &mut out);
                    for t in 0..n {
                        let xt = qa.dequantize(t);
                        for lane in 0..ROWS.min(rows - g * ROWS) {
                            let r = g * ROWS + lane;
                            let wr = &w[r * cols..(r + 1) * cols];
                            let want: f64 =
                                wr.iter().zip(&xt).map(|(a, b)| *a as f64 * *b as f64).sum();
                            let mag: f64 = wr
                                .iter()
                                .zip(&xt)
                                .map(|(a, b)| (*a as f64 * *b as f64).abs())
                                .sum();
                            let got = out[t * ROWS + lane] as f64;
                            assert!(
                                (got - want).abs() <= 1e-5 * mag + 1e-6,
                                "{ty} {isa} n={n} row {r} token {t}: {got} vs {want} (magnitude {mag})"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn float_matmul_matches_the_reference_on_every_isa() {
    let mut rng = SplitMix64::new(3);
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16] {
        // 70 columns: a tail past every vector width.
        let (rows, cols) = (20, 70);
        let wf: Vec<f32> = (0..rows * cols).map(|_| rng.next_f32()).collect();
        let raw = quant::quantize(ty, &wf).unwrap();
        let w = quant::dequantize_to_vec(ty, &raw, rows * cols).unwrap();
        let n = 6;
        let x = activations(n, cols, &mut rng);
        for isa in Isa::available() {
            for r0 in [0, 16] {
                let mut out = vec![f32::NAN; n * ROWS];
                fgroup(isa, ty, &raw, rows, cols, r0, &x, n, &mut out);
                for t in 0..n {
                    for lane in 0..ROWS {
                        let r = r0 + lane;
                        let got = out[t * ROWS + lane];
                        if r >= rows {
                            assert_eq!(got, 0.0);
                            continue;
                        }
                        let pairs = w[r * cols..(r + 1) * cols].iter().zip(&x[t * cols..]);
                        let want: f64 = pairs.clone().map(|(a, b)| *a as f64 * *b as f64).sum();
                        let mag: f64 = pairs.map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
                        assert!(
                            (got as f64 - want).abs() <= 1e-5 * mag,
                            "{ty} {isa} row {r} token {t}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn attention_matches_a_naive_softmax_on_every_isa() {
    let mut rng = SplitMix64::new(4);
    // head_dim 24 has a tail past 16 lanes; 150 positions span 3 chunks.
    for (hd, n_kv, group, n_pos) in [(64usize, 2, 4, 150), (16, 3, 1, 1), (24, 1, 2, 70)] {
        let kv_dim = hd * n_kv;
        let k: Vec<f32> = (0..n_pos * kv_dim).map(|_| rng.next_f32() * 3.0).collect();
        let v: Vec<f32> = (0..n_pos * kv_dim).map(|_| rng.next_f32()).collect();
        let q: Vec<f32> = (0..group * hd).map(|_| rng.next_f32()).collect();
        for ty in [KvType::F32, KvType::F16, KvType::Q8_0] {
            if ty == KvType::Q8_0 && !hd.is_multiple_of(32) {
                continue;
            }
            let enc = |x: &[f32]| -> Vec<u8> {
                match ty {
                    KvType::F16 => x
                        .iter()
                        .flat_map(|v| f16::from_f32(*v).to_le_bytes())
                        .collect(),
                    KvType::F32 => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    // Blocks of a scale and 32 int8 (see cpu/kv.rs).
                    KvType::Q8_0 => x
                        .chunks_exact(32)
                        .flat_map(|b| {
                            let d = b.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                            let q = b.iter().map(move |v| (v / d).round() as i8 as u8);
                            d.to_le_bytes().into_iter().chain(q)
                        })
                        .collect(),
                }
            };
            let dec = |b: &[u8]| -> Vec<f32> {
                match ty {
                    KvType::F16 => b
                        .chunks_exact(2)
                        .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                        .collect(),
                    KvType::F32 => b
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                    KvType::Q8_0 => b
                        .chunks_exact(36)
                        .flat_map(|c| {
                            let d = f32::from_le_bytes(c[..4].try_into().unwrap());
                            c[4..].iter().map(move |&q| q as i8 as f32 * d)
                        })
                        .collect(),
                }
            };
            let (kb, vb) = (enc(&k), enc(&v));
            let (kd, vd) = (dec(&kb), dec(&vb));
            let scale = 1.0 / (hd as f32).sqrt();
            for kvh in 0..n_kv {
                for isa in Isa::available() {
                    let shape = AttnShape {
                        head_dim: hd,
                        stride: kv_dim,
                        offset: kvh * hd,
                        n_pos,
                        scale,
                    };
                    let kview = KvView { bytes: &kb, ty };
                    let vview = KvView { bytes: &vb, ty };
                    let mut out = vec![f32::NAN; group * hd];
                    attend(isa, &q, kview, vview, shape, &mut out);
                    for h in 0..group {
                        let qh = &q[h * hd..(h + 1) * hd];
                        let s: Vec<f64> = (0..n_pos)
                            .map(|p| {
                                let kr = &kd[p * kv_dim + kvh * hd..][..hd];
                                qh.iter()
                                    .zip(kr)
                                    .map(|(a, b)| *a as f64 * *b as f64)
                                    .sum::<f64>()
                                    * scale as f64
                            })
                            .collect();
                        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                        let z: f64 = e.iter().sum();
                        for c in 0..hd {
                            let want: f64 = (0..n_pos)
                                .map(|p| e[p] / z * vd[p * kv_dim + kvh * hd + c] as f64)
                                .sum();
                            let got = out[h * hd + c] as f64;
                            assert!(
                                (got - want).abs() < 1e-5,
                                "{isa} hd {hd} head {h} dim {c}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn swiglu_and_exp_match_the_scalar_formula_on_every_isa() {
    // Arguments from far below exp's range to far above, and a tail.
    let gate: Vec<f32> = (0..203).map(|i| (i as f32 - 101.0) * 1.1).collect();
    let up: Vec<f32> = (0..203).map(|i| 1.0 + i as f32 / 203.0).collect();
    for isa in Isa::available() {
        let mut out = vec![f32::NAN; gate.len()];
        swiglu(isa, &gate, &up, &mut out);
        for ((g, u), o) in gate.iter().zip(&up).zip(&out) {
            let want = (*g as f64) / (1.0 + (-*g as f64).exp()) * *u as f64;
            let err = (*o as f64 - want).abs();
            assert!(
                err <= 4e-7 * want.abs() + 1e-30,
                "{isa}: silu({g}) * {u} = {o}, want {want}"
            );
        }
    }
}
