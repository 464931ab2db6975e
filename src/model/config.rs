//! Hyper-parameters of a Llama-family model, read from GGUF metadata and
//! checked against the tensor table before anything is uploaded.

use crate::gguf::{GgufError, GgufFile, TensorInfo};
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
