//! Token sampling: turning a row of logits into the next token id.
//!
//! The chain follows llama.cpp's default order:
//!
//! 1. penalties over the last `repeat_last_n` tokens of the history
//!    (repetition: divide positive logits by `repeat_penalty`, multiply
//!    negative ones; then subtract `count * frequency_penalty` and, once,
//!    `presence_penalty`),
//! 2. logit bias (`f32::NEG_INFINITY` bans a token),
//! 3. top-k, 4. top-p, 5. min-p, 6. temperature,
//! 7. a draw from a seeded PRNG.
//!
//! With `temperature <= 0` the sampler is greedy: the argmax after penalties
//! and bias, ties going to the lowest id; filters and PRNG are not used.
//!
//! # Reproducibility
//!
//! The same configuration (seed included), fed the same logits and histories
//! in the same order, gives the same tokens on every run and platform. To make
//! that hold the sampler relies only on IEEE-754 basic operations, which are
//! exactly specified:
//!
//! * the PRNG is SplitMix64 (Steele, Lea & Flood 2014; the constants of
//!   Vigna's reference), written out below rather than taken from a crate, so
//!   an upstream change of algorithm or of float conversion can never change
//!   the stream. It is tiny, fast, passes BigCrush, and one 64-bit word of
//!   state makes it easy to save and restore.
//! * probabilities use `exp_det`, an `exp` built from `+ - * /`, because
//!   `f64::exp` comes from the platform's libm and may differ in the last bit.
//! * every sum runs over the candidates in an order fixed by the data
//!   (token id, or logit descending with ties by id), never in an order left
//!   behind by an unstable selection.

use std::cmp::Ordering;

/// Why a [`SamplerConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    #[error("temperature must not be NaN or +infinity (got {0}); use <= 0 for greedy")]
    Temperature(f32),
    #[error("top_p must be in (0, 1] (got {0}); 1 turns it off")]
    TopP(f32),
    #[error("min_p must be in [0, 1] (got {0}); 0 turns it off")]
    MinP(f32),
    #[error("repeat_penalty must be finite and > 0 (got {0}); 1 turns it off")]
    RepeatPenalty(f32),
    #[error("presence_penalty must be finite (got {0})")]
    PresencePenalty(f32),
    #[error("frequency_penalty must be finite (got {0})")]
    FrequencyPenalty(f32),
    #[error("logit bias for token {token} is NaN")]
    LogitBias { token: u32, bias: f32 },
}

/// The default seed of [`SamplerConfig::default`]. Any fixed value would do;
/// a fixed one (rather than a random one, as llama.cpp defaults to) keeps runs
/// reproducible unless the caller asks otherwise.
pub const DEFAULT_SEED: u64 = 0xDEAD_BEEF;

/// Sampling parameters. See the module docs for the order they apply in.
#[derive(Clone, Debug)]
pub struct SamplerConfig {
    /// Softmax temperature; `<= 0` means greedy (argmax).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 turns it off.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches
    /// `top_p`; 1 turns it off. Must be in (0, 1].
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0
    /// turns it off. Must be in [0, 1].
    pub min_p: f32,
    /// Repetition penalty (> 0); 1 turns it off.
    pub repeat_penalty: f32,
    /// How many of the latest history tokens the penalties look at; 0 turns
    /// all penalties off.
    pub repeat_last_n: usize,
    /// Subtracted once from the logit of every token seen in the window.
    pub presence_penalty: f32,
    /// Subtracted from a token's logit once per occurrence in the window.
    pub frequency_penalty: f32,
    /// Added to the logits of the given tokens (summed if a token repeats);
    /// `f32::NEG_INFINITY` bans it. Ids beyond the vocabulary are ignored.
    pub logit_bias: Vec<(u32, f32)>,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for SamplerConfig {
    /// llama.cpp's defaults (temperature 0.8, top-k 40, top-p 0.95, min-p
    /// 0.05, no penalties, window 64) with the fixed seed [`DEFAULT_SEED`].
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: DEFAULT_SEED,
        }
    }
}

impl SamplerConfig {
    /// Plain argmax: temperature 0, every filter and penalty off.
    pub fn greedy() -> Self {
        SamplerConfig {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..SamplerConfig::default()
        }
    }

    /// Checks every parameter's range (see the field docs).
    pub fn validate(&self) -> Result<(), SampleError> {
        if self.temperature.is_nan() || self.temperature == f32::INFINITY {
            return Err(SampleError::Temperature(self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(SampleError::TopP(self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(SampleError::MinP(self.min_p));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(SampleError::RepeatPenalty(self.repeat_penalty));
        }
        if !self.presence_penalty.is_finite() {
            return Err(SampleError::PresencePenalty(self.presence_penalty));
        }
        if !self.frequency_penalty.is_finite() {
            return Err(SampleError::FrequencyPenalty(self.frequency_penalty));
        }
        if let Some(&(token, bias)) = self.logit_bias.iter().find(|(_, b)| b.is_nan()) {
            return Err(SampleError::LogitBias { token, bias });
        }
        Ok(())
    }

    fn penalties_active(&self) -> bool {
        self.repeat_last_n > 0
            && (self.repeat_penalty != 1.0
                || self.presence_penalty != 0.0
                || self.frequency_penalty != 0.0)
    }
}

/// SplitMix64: a 64-bit counter passed through a bijective mixer.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1): the top 53 bits, scaled (exact).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// 1/k! for k = 0..=13, evaluated at compile time (IEEE arithmetic, so the
/// same constants on every target).
const INV_FACTORIAL: [f64; 14] = {
    let mut t = [1.0; 14];
    let mut k = 1;
    while k < 14 {
        t[k] = t[k - 1] / k as f64;
        k += 1;
    }
    t
};

/// `e^x` from basic IEEE operations only, so it is bit-identical everywhere.
/// Accurate to a few ulp; returns 0 below -708 (where the true value would be
/// subnormal, far below anything that matters for a probability) and +inf
/// above 709. NaN gives NaN.
fn exp_det(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < -708.0 {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    // x = k ln2 + r with |r| <= ln2 / 2; ln2 split in two so k * LN2_HI is exact.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Taylor series to r^13/13!: the remainder is below 2e-17 for |r| <= 0.35.
    let mut p = INV_FACTORIAL[13];
    for c in INV_FACTORIAL[..13].iter().rev() {
        p = p * r + c;
    }
    // k is in [-1022, 1023], so 2^k is a normal number.
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

#[derive(Clone, Copy, Debug)]
struct Cand {
    id: u32,
    logit: f32,
    /// `exp(logit - max logit)`: the unnormalized temperature-1
    /// probability, filled in by `filter_and_weigh`.
    w: f64,
}

/// Higher logit first, ties by lower id: a total order (no NaN reaches it).
fn by_logit_desc(a: &Cand, b: &Cand) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Turns logits into token ids. Keeps scratch buffers, so reuse one per
/// generation stream.
#[derive(Clone, Debug)]
pub struct Sampler {
    cfg: SamplerConfig,
    rng: SplitMix64,
    cands: Vec<Cand>,
    weights: Vec<f64>,
    window: Vec<u32>,
    adj: Vec<f32>,
}

impl Sampler {
    /// A sampler for `cfg`, after [`SamplerConfig::validate`].
    pub fn new(cfg: SamplerConfig) -> Result<Sampler, SampleError> {
        cfg.validate()?;
        Ok(Sampler {
            rng: SplitMix64(cfg.seed),
            cfg,
            cands: Vec::new(),
            weights: Vec::new(),
            window: Vec::new(),
            adj: Vec::new(),
        })
    }

    /// The configuration in use.
    #[cfg(feature = "testing")]
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// True when [`Sampler::sample`] returns exactly the argmax of the raw
    /// logits (ties to the lowest id) whatever the history: greedy, with no
    /// penalty and no logit bias that could move the maximum. The runtime can
    /// then take the argmax on the GPU and skip reading the logits back.
    pub fn is_greedy(&self) -> bool {
        self.cfg.temperature <= 0.0
            && !self.cfg.penalties_active()
            && self.cfg.logit_bias.is_empty()
    }

    /// The PRNG's state; restoring it with [`Sampler::set_rng_state`] replays
    /// the same draws (useful when decoding backtracks).
    #[cfg(feature = "testing")]
    pub fn rng_state(&self) -> u64 {
        self.rng.0
    }

    /// Restores a state from [`Sampler::rng_state`].
    #[cfg(feature = "testing")]
    pub fn set_rng_state(&mut self, state: u64) {
        self.rng.0 = state;
    }

    /// Picks the next token from `logits` (one per vocabulary entry);
    /// `history` is the context so far, which the penalties look at.
    ///
    /// NaN logits are treated as `-inf`. The id is always `< logits.len()`,
    /// except for empty `logits`, where it is 0. If penalties and bias leave
    /// no candidate (all NaN or banned), the argmax of the raw logits is
    /// returned (0 if they are all NaN).
    ///
    /// A greedy sampler (`temperature <= 0`) never touches the PRNG; any
    /// other advances it by exactly one step per call, whatever the logits,
    /// so the PRNG state depends only on the number of calls.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let draw = (self.cfg.temperature > 0.0).then(|| self.rng.next_f64());
        let n = logits.len().min(u32::MAX as usize);
        if n == 0 {
            return 0;
        }
        self.prepare(&logits[..n], history);
        if self.cands.is_empty() {
            return argmax_raw(&logits[..n]);
        }
        let Some(draw) = draw else {
            // Greedy. `cands` is in id order: the first maximum has the lowest id.
            let mut best = self.cands[0];
            for &c in &self.cands[1..] {
                if c.logit > best.logit {
                    best = c;
                }
            }
            return best.id;
        };
        self.filter_and_weigh();
        let total: f64 = self.weights.iter().sum();
        let u = draw * total;
        let mut acc = 0.0;
        for (c, w) in self.cands.iter().zip(&self.weights) {
            acc += w;
            if u < acc {
                return c.id;
            }
        }
        // Rounding can leave `u` a hair above the final sum.
        self.cands
            .iter()
            .zip(&self.weights)
            .rev()
            .find(|(_, w)| **w > 0.0)
            .map_or(self.cands[0].id, |(c, _)| c.id)
    }

    /// Fills `cands`, in id order, with the tokens whose logit after
    /// penalties and bias is neither NaN nor `-inf`.
    fn prepare(&mut self, logits: &[f32], history: &[u32]) {
        let n = logits.len();
        let adj = &mut self.adj;
        adj.clear();
        adj.extend_from_slice(logits);

        if self.cfg.penalties_active() {
            let start = history.len().saturating_sub(self.cfg.repeat_last_n);
            self.window.clear();
            self.window.extend(
                history[start..]
                    .iter()
                    .copied()
                    .filter(|&t| (t as usize) < n),
            );
            self.window.sort_unstable();
            let rp = self.cfg.repeat_penalty;
            let mut i = 0;
            while i < self.window.len() {
                let tok = self.window[i];
                let run = self.window[i..].iter().take_while(|&&t| t == tok).count();
                i += run;
                let l = &mut adj[tok as usize];
                if rp != 1.0 {
                    *l = if *l > 0.0 { *l / rp } else { *l * rp };
                }
                *l -= run as f32 * self.cfg.frequency_penalty + self.cfg.presence_penalty;
            }
        }
        for &(tok, bias) in &self.cfg.logit_bias {
            if let Some(l) = adj.get_mut(tok as usize) {
                *l += bias;
            }
        }

        self.cands.clear();
        self.cands.extend(
            adj.iter()
                .enumerate()
                .filter(|(_, l)| !l.is_nan() && **l != f32::NEG_INFINITY)
                .map(|(i, &l)| Cand {
                    id: i as u32,
                    // +inf would turn `l - max` into NaN; the largest finite
                    // value keeps such tokens (all equally) on top.
                    logit: l.min(f32::MAX),
                    w: 0.0,
                }),
        );
    }

    /// Applies top-k, top-p, min-p and temperature to the (non-empty) `cands`,
    /// leaving in `weights` each survivor's unnormalized probability.
    fn filter_and_weigh(&mut self) {
        let cands = &mut self.cands;
        let cfg = &self.cfg;

        if cfg.top_k > 0 && cfg.top_k < cands.len() {
            cands.select_nth_unstable_by(cfg.top_k - 1, by_logit_desc);
            cands.truncate(cfg.top_k);
            cands.sort_unstable_by(by_logit_desc);
        }

        // Temperature-1 weights relative to the maximum, as top-p and min-p see them.
        let max = cands.iter().map(|c| c.logit).fold(f32::MIN, f32::max) as f64;
        for c in cands.iter_mut() {
            c.w = exp_det(c.logit as f64 - max);
        }

        // Top-p comes before min-p, but both keep a prefix of the candidates
        // sorted by probability, and min-p's threshold only depends on the
        // top probability, which top-p always keeps. So min-p can go first
        // (it needs no sorting and usually leaves a handful of tokens) as
        // long as top-p's target comes from the mass before min-p.
        let z: f64 = if cfg.top_p < 1.0 {
            cands.iter().map(|c| c.w).sum()
        } else {
            0.0
        };

        if cfg.min_p > 0.0 {
            // p_i >= min_p * p_max  <=>  exp(l_i - l_max) >= min_p.
            let min_p = cfg.min_p as f64;
            cands.retain(|c| c.w >= min_p);
        }

        if cfg.top_p < 1.0 {
            let target = cfg.top_p as f64 * z;
            // Sort only as many of the best candidates as it takes to reach
            // `target`: usually a handful out of the whole vocabulary.
            let m = cands.len();
            let mut k = m.min(64);
            loop {
                if k < m {
                    cands.select_nth_unstable_by(k - 1, by_logit_desc);
                }
                cands[..k].sort_unstable_by(by_logit_desc);
                let mut acc = 0.0;
                let cut = cands[..k].iter().position(|c| {
                    acc += c.w;
                    acc >= target
                });
                if let Some(j) = cut {
                    cands.truncate(j + 1);
                    break;
                }
                if k == m {
                    // Reached when min-p cut deeper than top-p would (or by
                    // rounding, with top_p a hair below 1): keep everything.
                    break;
                }
                k = m.min(k.saturating_mul(4));
            }
        }

        let t = cfg.temperature as f64;
        self.weights.clear();
        if t == 1.0 {
            self.weights.extend(cands.iter().map(|c| c.w));
        } else {
            self.weights
                .extend(cands.iter().map(|c| exp_det((c.logit as f64 - max) / t)));
        }
    }

    /// The final distribution (id, probability) the next draw would use, in
    /// draw order; for tests.
    #[cfg(test)]
    fn distribution(&mut self, logits: &[f32], history: &[u32]) -> Vec<(u32, f64)> {
        self.prepare(logits, history);
        self.filter_and_weigh();
        let total: f64 = self.weights.iter().sum();
        self.cands
            .iter()
            .zip(&self.weights)
            .map(|(c, w)| (c.id, w / total))
            .collect()
    }
}

/// Index of the largest non-NaN value, lowest on ties; 0 if all are NaN.
fn argmax_raw(logits: &[f32]) -> u32 {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if !l.is_nan() && best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map_or(0, |(i, _)| i as u32)
}

#[cfg(test)]
mod tests;
