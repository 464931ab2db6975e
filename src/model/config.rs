//! Hyper-parameters of a Llama-family model, read from GGUF metadata and
//! checked against the tensor table before anything is uploaded.

use crate::gguf::{GgufError, GgufFile, Metadata, TensorInfo};
use crate::quant::GgmlType;

/// Architectures that run through the Llama graph (Mistral and SmolLM GGUFs
/// are written under `llama`).
const LLAMA_ARCHS: &[&str] = &["llama"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("architecture `{0}` is not supported (rewind runs: {supported})", supported = LLAMA_ARCHS.join(", "))]
    UnsupportedArchitecture(String),
    #[error("invalid model metadata: {0}")]
    Invalid(String),
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    BadShape {
        name: String,
        found: Vec<u64>,
        expected: Vec<u64>,
    },
    #[error("tensor `{name}` has type {ty}, which rewind can't compute with yet")]
    UnsupportedType { name: String, ty: GgmlType },
}

/// The shape of a Llama model.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub arch: String,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Leading dimensions of each head that RoPE rotates.
    pub rope_dim: usize,
    pub rope_base: f32,
    /// Linear RoPE scaling (`{arch}.rope.scaling.factor`, or the older
    /// `{arch}.rope.scale_linear`): positions are divided by it. 1 = none.
    pub rope_scale: f32,
    /// Per-pair frequency divisors from the `rope_freqs.weight` tensor
    /// (`rope_dim / 2` values), which is how GGUF carries Llama 3.1+'s
    /// "llama3" RoPE scaling.
    pub rope_freq_factors: Option<Vec<f32>>,
    /// The inverse frequency of each rotated pair `i < rope_dim / 2`, all of
    /// the above applied: `rope_base^(-2i / rope_dim) / rope_scale /
    /// rope_freq_factors[i]` (computed in f64). Pair `i` of a head at
    /// position `p` rotates by `p * rope_inv_freq[i]` (the QKV mat-mul's
    /// RoPE epilogue).
    pub rope_inv_freq: Vec<f32>,
    pub rms_eps: f32,
    /// Context length the model was trained for.
    pub n_ctx_train: usize,
    pub vocab_size: usize,
    /// `output.weight` absent: the logits reuse the token embedding.
    pub tied_embeddings: bool,
}

impl LlamaConfig {
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads the config and validates every tensor the graph needs.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, ConfigError> {
        let meta = file.metadata();
        let arch = meta.get_str("general.architecture")?.to_string();
        if !LLAMA_ARCHS.contains(&arch.as_str()) {
            return Err(ConfigError::UnsupportedArchitecture(arch));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let usize_of =
            |k: &str| -> Result<usize, ConfigError> { Ok(meta.get_u32(&key(k))? as usize) };

        let n_layer = usize_of("block_count")?;
        let n_embd = usize_of("embedding_length")?;
        let n_ff = usize_of("feed_forward_length")?;
        let n_head = usize_of("attention.head_count")?;
        let n_head_kv = match meta.opt_u32(&key("attention.head_count_kv"))? {
            Some(v) => v as usize,
            None => n_head,
        };
        if n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(ConfigError::Invalid(format!(
                "head_count {n_head} must be a non-zero multiple of head_count_kv {n_head_kv}"
            )));
        }
        let head_dim = match meta.opt_u32(&key("attention.key_length"))? {
            Some(v) => v as usize,
            None => n_embd / n_head,
        };
        let rope_dim = match meta.opt_u32(&key("rope.dimension_count"))? {
            Some(v) => v as usize,
            None => head_dim,
        };
        let rope_base = meta.opt_f32(&key("rope.freq_base"))?.unwrap_or(10_000.0);
        let rope_scale = rope_scale(meta, &key)?;
        let rms_eps = meta
            .opt_f32(&key("attention.layer_norm_rms_epsilon"))?
            .unwrap_or(1e-5);
        let n_ctx_train = match meta.opt_u32(&key("context_length"))? {
            Some(v) => v as usize,
            None => 2048,
        };
        // Bounds that keep every later size computation far from overflow.
        let sane = |v: usize, max: usize| v > 0 && v <= max;
        if !(sane(n_layer, 4096)
            && sane(n_embd, 1 << 17)
            && sane(n_ff, 1 << 19)
            && sane(n_head, 1024)
            && sane(head_dim, 1024)
            && head_dim % 2 == 0
            && rope_dim <= head_dim
            && rope_dim % 2 == 0
            && sane(n_ctx_train, 1 << 24)
            && rope_base.is_finite()
            && rope_base > 0.0
            && rms_eps.is_finite()
            && rms_eps >= 0.0)
        {
            return Err(ConfigError::Invalid(format!(
                "out-of-range hyper-parameters: layers {n_layer}, embd {n_embd}, ff {n_ff}, heads {n_head}/{n_head_kv}, \
                 head_dim {head_dim}, rope_dim {rope_dim}, rope_base {rope_base}, eps {rms_eps}, ctx {n_ctx_train}"
            )));
        }

        let embd = file.require_tensor("token_embd.weight")?;
        let vocab_size = match embd.dims.as_slice() {
            [e, v] if *e as usize == n_embd && *v > 0 && *v <= (1 << 24) => *v as usize,
            _ => {
                return Err(ConfigError::BadShape {
                    name: embd.name.clone(),
                    found: embd.dims.clone(),
                    expected: vec![n_embd as u64, 0],
                });
            }
        };
        let rope_freq_factors = rope_freq_factors(file, rope_dim)?;
        let rope_inv_freq = (0..rope_dim / 2)
            .map(|i| {
                let f = (rope_base as f64).powf(-2.0 * i as f64 / rope_dim as f64);
                let factor = rope_freq_factors.as_ref().map_or(1.0, |v| v[i] as f64);
                (f / rope_scale as f64 / factor) as f32
            })
            .collect();
        let cfg = LlamaConfig {
            arch,
            n_layer,
            n_embd,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            rope_dim,
            rope_base,
            rope_scale,
            rope_freq_factors,
            rope_inv_freq,
            rms_eps,
            n_ctx_train,
            vocab_size,
            tied_embeddings: file.tensor("output.weight").is_none(),
        };
        for (name, dims) in cfg.expected_tensors() {
            let t = file.require_tensor(&name)?;
            check_tensor(t, &dims)?;
        }
        Ok(cfg)
    }

    /// Bytes of weight data `file` holds for this model's tensors (what one
    /// decode step reads).
    pub fn weight_bytes(&self, file: &GgufFile) -> u64 {
        self.expected_tensors()
            .iter()
            .filter_map(|(n, _)| file.tensor(n))
            .map(|t| t.n_bytes)
            .sum()
    }

    /// Every tensor of the graph with its ggml dims (row length first).
    pub fn expected_tensors(&self) -> Vec<(String, Vec<u64>)> {
        let (e, f, q, kv) = (
            self.n_embd as u64,
            self.n_ff as u64,
            self.q_dim() as u64,
            self.kv_dim() as u64,
        );
        let mut v = vec![
            (
                "token_embd.weight".to_string(),
                vec![e, self.vocab_size as u64],
            ),
            ("output_norm.weight".to_string(), vec![e]),
        ];
        if !self.tied_embeddings {
            v.push(("output.weight".to_string(), vec![e, self.vocab_size as u64]));
        }
        for l in 0..self.n_layer {
            let b = |s: &str| format!("blk.{l}.{s}.weight");
            v.extend([
                (b("attn_norm"), vec![e]),
                (b("attn_q"), vec![e, q]),
                (b("attn_k"), vec![e, kv]),
                (b("attn_v"), vec![e, kv]),
                (b("attn_output"), vec![q, e]),
                (b("ffn_norm"), vec![e]),
                (b("ffn_gate"), vec![e, f]),
                (b("ffn_up"), vec![e, f]),
                (b("ffn_down"), vec![f, e]),
            ]);
        }
        v
    }
}

/// The linear RoPE scaling factor, as llama.cpp reads it: the factor from
/// `rope.scaling.factor` (or the older `rope.scale_linear`; 0 or absent
/// means 1); scaling type `none` ignores it. YaRN and LongRoPE scaling
/// change more than the frequencies, so a file that asks for them with a
/// factor other than 1 is refused rather than run wrong.
fn rope_scale(meta: &Metadata, key: &dyn Fn(&str) -> String) -> Result<f32, ConfigError> {
    let factor = match meta.opt_f32(&key("rope.scaling.factor"))? {
        Some(f) => Some(f),
        None => meta.opt_f32(&key("rope.scale_linear"))?,
    };
    let factor = match factor {
        None => 1.0,
        Some(0.0) => 1.0,
        Some(f) if f.is_finite() && f > 0.0 => f,
        Some(f) => {
            return Err(ConfigError::Invalid(format!("RoPE scaling factor {f}")));
        }
    };
    let kind = meta.opt_str(&key("rope.scaling.type"))?.unwrap_or("linear");
    match kind {
        "none" => Ok(1.0),
        "linear" => Ok(factor),
        _ if factor == 1.0 => Ok(1.0),
        other => Err(ConfigError::Invalid(format!(
            "RoPE scaling `{other}` (factor {factor}) is not supported; rewind supports linear \
             scaling and per-dimension frequency factors (Llama 3)"
        ))),
    }
}

/// The `rope_freqs.weight` tensor, when the file has one: `rope_dim / 2`
/// positive divisors of the pairs' frequencies.
fn rope_freq_factors(file: &GgufFile, rope_dim: usize) -> Result<Option<Vec<f32>>, ConfigError> {
    let Some(t) = file.tensor("rope_freqs.weight") else {
        return Ok(None);
    };
    let want = [(rope_dim / 2) as u64];
    if t.dims != want {
        return Err(ConfigError::BadShape {
            name: t.name.clone(),
            found: t.dims.clone(),
            expected: want.to_vec(),
        });
    }
    let v =
        crate::quant::dequantize_to_vec(t.ty, file.tensor_data(t), rope_dim / 2).map_err(|_| {
            ConfigError::UnsupportedType {
                name: t.name.clone(),
                ty: t.ty,
            }
        })?;
    if let Some(bad) = v.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
        return Err(ConfigError::Invalid(format!(
            "rope_freqs.weight holds {bad}; frequency factors must be positive"
        )));
    }
    Ok(Some(v))
}

fn check_tensor(t: &TensorInfo, dims: &[u64]) -> Result<(), ConfigError> {
    if t.dims != dims {
        return Err(ConfigError::BadShape {
            name: t.name.clone(),
            found: t.dims.clone(),
            expected: dims.to_vec(),
        });
    }
    if !t.ty.is_supported() {
        return Err(ConfigError::UnsupportedType {
            name: t.name.clone(),
            ty: t.ty,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgufWriter, Value};
    use crate::model::synth::{SynthSpec, synth_llama};
    use crate::quant::quantize;

    /// A tiny model (head_dim 16, rope base 10000) with `edit` applied.
    fn config_of(edit: impl FnOnce(&mut GgufWriter)) -> Result<LlamaConfig, ConfigError> {
        let mut w = synth_llama(&SynthSpec::tiny(GgmlType::Q8_0, 1)).unwrap();
        edit(&mut w);
        LlamaConfig::from_gguf(&GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap())
    }

    fn plain_inv_freq(base: f64, dim: usize) -> Vec<f32> {
        (0..dim / 2)
            .map(|i| base.powf(-2.0 * i as f64 / dim as f64) as f32)
            .collect()
    }

    #[test]
    fn other_architectures_are_refused_by_name() {
        for arch in ["gemma2", "qwen2", "phi3"] {
            let err = config_of(|w| {
                w.add_metadata("general.architecture", Value::String(arch.into()));
            })
            .unwrap_err();
            assert!(
                matches!(&err, ConfigError::UnsupportedArchitecture(a) if a == arch),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(arch) && msg.contains("llama"), "{msg}");
        }
    }

    #[test]
    fn context_length_and_rope_dimensions_come_from_metadata() {
        let c = config_of(|_| {}).unwrap();
        assert_eq!(c.n_ctx_train, 512);
        assert_eq!((c.head_dim, c.rope_dim), (16, 16));
        assert_eq!(c.rope_scale, 1.0);
        assert_eq!(c.rope_freq_factors, None);
        // Unscaled: the same frequencies `Kernels::rope` computes.
        assert_eq!(c.rope_inv_freq, plain_inv_freq(10_000.0, 16));

        // Partial rotary dims: only the first 8 of each 16-dim head rotate.
        let c = config_of(|w| {
            w.add_metadata("llama.rope.dimension_count", Value::U32(8));
            w.add_metadata("llama.context_length", Value::U32(131_072));
            w.add_metadata("llama.rope.freq_base", Value::F32(500_000.0));
        })
        .unwrap();
        assert_eq!((c.head_dim, c.rope_dim, c.n_ctx_train), (16, 8, 131_072));
        assert_eq!(c.rope_inv_freq, plain_inv_freq(500_000.0, 8));
    }

    #[test]
    fn linear_rope_scaling_divides_the_frequencies() {
        let plain = plain_inv_freq(10_000.0, 16);
        for (keys, want) in [
            (vec![("rope.scaling.factor", 4.0)], 4.0),
            (vec![("rope.scale_linear", 2.0)], 2.0),
            // The newer key wins.
            (
                vec![("rope.scale_linear", 2.0), ("rope.scaling.factor", 8.0)],
                8.0,
            ),
            (vec![("rope.scaling.factor", 0.0)], 1.0),
        ] {
            let c = config_of(|w| {
                for (k, v) in &keys {
                    w.add_metadata(format!("llama.{k}"), Value::F32(*v));
                }
            })
            .unwrap();
            assert_eq!(c.rope_scale, want, "{keys:?}");
            for (a, b) in c.rope_inv_freq.iter().zip(&plain) {
                assert!((a * want - b).abs() <= 1e-6 * b, "{keys:?}: {a} vs {b}");
            }
        }
        // Type `none` ignores the factor; `yarn` with a real factor is refused.
        let c = config_of(|w| {
            w.add_metadata("llama.rope.scaling.type", Value::String("none".into()));
            w.add_metadata("llama.rope.scaling.factor", Value::F32(4.0));
        })
        .unwrap();
        assert_eq!(c.rope_inv_freq, plain);
        let err = config_of(|w| {
            w.add_metadata("llama.rope.scaling.type", Value::String("yarn".into()));
            w.add_metadata("llama.rope.scaling.factor", Value::F32(4.0));
        })
        .unwrap_err();
        assert!(err.to_string().contains("yarn"), "{err}");
        let c = config_of(|w| {
            w.add_metadata("llama.rope.scaling.type", Value::String("yarn".into()));
        })
        .unwrap();
        assert_eq!(c.rope_inv_freq, plain);
        assert!(
            config_of(|w| {
                w.add_metadata("llama.rope.scaling.factor", Value::F32(-1.0));
            })
            .is_err()
        );
    }

    /// Llama 3.1's frequency factors as its converter computes them (HF's
    /// "llama3" rope type: factor 8, low/high frequency factors 1 and 4,
    /// original context 8192), for `dim` rotary dims of base `base`.
    fn llama3_factors(base: f64, dim: usize) -> Vec<f32> {
        let (factor, low, high, old_ctx) = (8.0f64, 1.0f64, 4.0f64, 8192.0f64);
        let (low_wavelen, high_wavelen) = (old_ctx / low, old_ctx / high);
        (0..dim / 2)
            .map(|i| {
                let freq = base.powf(-2.0 * i as f64 / dim as f64);
                let wavelen = 2.0 * std::f64::consts::PI / freq;
                let f = if wavelen < high_wavelen {
                    1.0
                } else if wavelen > low_wavelen {
                    factor
                } else {
                    let smooth = (old_ctx / wavelen - low) / (high - low);
                    1.0 / ((1.0 - smooth) / factor + smooth)
                };
                f as f32
            })
            .collect()
    }

    #[test]
    fn rope_freqs_tensor_divides_each_pair_frequency() {
        let factors = llama3_factors(500_000.0, 16);
        // The three regimes all occur at these dims.
        assert_eq!(factors[0], 1.0);
        assert_eq!(factors[7], 8.0);
        assert!(factors.iter().any(|&f| f > 1.0 && f < 8.0), "{factors:?}");
        let c = config_of(|w| {
            w.add_metadata("llama.rope.freq_base", Value::F32(500_000.0));
            w.add_tensor(
                "rope_freqs.weight",
                &[8],
                GgmlType::F32,
                quantize(GgmlType::F32, &factors).unwrap(),
            )
            .unwrap();
        })
        .unwrap();
        assert_eq!(c.rope_freq_factors.as_deref(), Some(&factors[..]));
        let plain = plain_inv_freq(500_000.0, 16);
        for i in 0..8 {
            let want = (plain[i] as f64) / factors[i] as f64;
            assert!(
                (c.rope_inv_freq[i] as f64 - want).abs() <= 1e-6 * want,
                "pair {i}: {} vs {want}",
                c.rope_inv_freq[i]
            );
        }

        // Wrong length, non-positive factors: errors naming the tensor.
        let err = config_of(|w| {
            w.add_tensor(
                "rope_freqs.weight",
                &[4],
                GgmlType::F32,
                quantize(GgmlType::F32, &[1.0; 4]).unwrap(),
            )
            .unwrap();
        })
        .unwrap_err();
        assert!(err.to_string().contains("rope_freqs.weight"), "{err}");
        let err = config_of(|w| {
            let mut f = vec![1.0f32; 8];
            f[3] = 0.0;
            w.add_tensor(
                "rope_freqs.weight",
                &[8],
                GgmlType::F32,
                quantize(GgmlType::F32, &f).unwrap(),
            )
            .unwrap();
        })
        .unwrap_err();
        assert!(err.to_string().contains("rope_freqs.weight"), "{err}");
    }
}
