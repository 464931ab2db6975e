//! Unit tests of the sampler, and the helpers they share.

use super::*;

mod chain;
mod reproducibility;

/// Only the filter under test switched on; temperature 1.
fn plain() -> SamplerConfig {
    SamplerConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        ..SamplerConfig::default()
    }
}

fn sampler(cfg: SamplerConfig) -> Sampler {
    Sampler::new(cfg).unwrap()
}

fn ids(dist: &[(u32, f64)]) -> Vec<u32> {
    let mut v: Vec<u32> = dist.iter().map(|d| d.0).collect();
    v.sort_unstable();
    v
}

/// Logits whose softmax is exactly proportional to `probs`.
fn logits_of(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

fn frequencies(s: &mut Sampler, logits: &[f32], draws: usize) -> Vec<f64> {
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..draws {
        counts[s.sample(logits, &[]) as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / draws as f64).collect()
}

/// A deterministic pseudo-random logit row.
fn noisy_logits(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|_| (rng.next_f64() * 20.0 - 10.0) as f32)
        .collect()
}
