//! Synthetic Llama models with random weights, written as GGUF with the
//! project's own writer. Tests use tiny ones to check the GPU graph against
//! the CPU reference; the bench uses full-size shapes to measure speed
//! without downloading anything.

use crate::gguf::{GgufError, GgufWriter, Value};
use crate::quant::{self, GgmlType, QuantError};
use crate::tokenizer::byte_to_char_table;

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Quant(#[from] QuantError),
    #[error("invalid synthetic model shape: {0}")]
    Shape(String),
}

/// The shape and element type of a synthetic model.
#[derive(Clone, Debug)]
pub struct SynthSpec {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Rows of the embedding; at least the byte-level vocabulary (256 + 4 specials).
    pub vocab_size: usize,
    /// Type of the matrices (norms stay F32, like in converted models).
    pub ty: GgmlType,
    /// Type of the token embedding (defaults to `ty` when `None`).
    pub embd_ty: Option<GgmlType>,
    pub tied_embeddings: bool,
    pub rope_base: f32,
    /// `rope.dimension_count`: leading dims of each head that RoPE rotates
    /// (`None` = the whole head).
    pub rope_dim: Option<usize>,
    /// Linear RoPE scaling (`rope.scaling.type` = `linear`,
    /// `rope.scaling.factor`); `None` writes neither key.
    pub rope_scale: Option<f32>,
    /// Per-pair frequency factors written as the `rope_freqs.weight` tensor
    /// (F32, `rope_dim / 2` values), Llama 3.1's RoPE scaling.
    pub rope_freq_factors: Option<Vec<f32>>,
    pub n_ctx_train: usize,
    pub seed: u64,
}

impl SynthSpec {
    /// A tiny model: dims small enough for a fast CPU reference.
    pub fn tiny(ty: GgmlType, seed: u64) -> Self {
        SynthSpec {
            n_layer: 2,
            n_embd: 64,
            n_ff: 128,
            n_head: 4,
            n_head_kv: 2,
            vocab_size: 320,
            ty,
            embd_ty: None,
            tied_embeddings: true,
            rope_base: 10_000.0,
            rope_dim: None,
            rope_scale: None,
            rope_freq_factors: None,
            n_ctx_train: 512,
            seed,
        }
    }

    /// Llama-3.2-1B's shape (vocabulary shortened to keep synthesis quick
    /// is NOT done: the output projection is a large part of a decode step).
    pub fn llama32_1b(ty: GgmlType, seed: u64) -> Self {
        SynthSpec {
            n_layer: 16,
            n_embd: 2048,
            n_ff: 8192,
            n_head: 32,
            n_head_kv: 8,
            vocab_size: 128_256,
            ty,
            embd_ty: None,
            tied_embeddings: true,
            rope_base: 500_000.0,
            rope_dim: None,
            rope_scale: None,
            rope_freq_factors: None,
            n_ctx_train: 131_072,
            seed,
        }
    }
}

/// Special tokens of the synthetic vocabulary, after the 256 byte tokens.
pub const SYNTH_SPECIALS: [&str; 4] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[RESET]"];

/// A small, fast, seedable generator (SplitMix64): test data must be the
/// same on every platform and crate version.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Makes a synthetic model's tokenizer keys loadable by llama.cpp too: it
/// knows GPT-2's pre-tokenizer as "gpt-2" (rewind takes both names) and
/// wants `tokenizer.ggml.merges` to be an array of strings, while an empty
/// array is written as one of u8: one merge (of two byte tokens whose result
/// isn't a token, so rewind drops it) does.
pub fn readable_by_llama_cpp(w: &mut GgufWriter) {
    w.add_metadata("tokenizer.ggml.pre", Value::String("gpt-2".into()));
    w.add_metadata(
        "tokenizer.ggml.merges",
        Value::Array(vec![Value::String("\u{120} \u{120}".into())]),
    );
}

/// Writes a random model of `spec` with a byte-level vocabulary.
pub fn synth_llama(spec: &SynthSpec) -> Result<GgufWriter, SynthError> {
    let s = spec;
    let n_vocab_min = 256 + SYNTH_SPECIALS.len();
    if s.vocab_size < n_vocab_min
        || s.n_head == 0
        || s.n_head_kv == 0
        || !s.n_head.is_multiple_of(s.n_head_kv)
    {
        return Err(SynthError::Shape(format!(
            "vocab {} (min {n_vocab_min}), heads {}/{}",
            s.vocab_size, s.n_head, s.n_head_kv
        )));
    }
    let head_dim = s.n_embd / s.n_head;
    let rope_dim = s.rope_dim.unwrap_or(head_dim);
    if let Some(f) = &s.rope_freq_factors
        && f.len() != rope_dim / 2
    {
        return Err(SynthError::Shape(format!(
            "{} RoPE frequency factors for rope_dim {rope_dim}",
            f.len()
        )));
    }
    let mut w = GgufWriter::new();
    let arch = "llama";
    let u32v = |v: usize| Value::U32(v as u32);
    w.add_metadata("general.architecture", Value::String(arch.into()));
    w.add_metadata("general.name", Value::String(format!("synthetic-{}", s.ty)));
    w.add_metadata(format!("{arch}.block_count"), u32v(s.n_layer));
    w.add_metadata(format!("{arch}.context_length"), u32v(s.n_ctx_train));
    w.add_metadata(format!("{arch}.embedding_length"), u32v(s.n_embd));
    w.add_metadata(format!("{arch}.feed_forward_length"), u32v(s.n_ff));
    w.add_metadata(format!("{arch}.attention.head_count"), u32v(s.n_head));
    w.add_metadata(format!("{arch}.attention.head_count_kv"), u32v(s.n_head_kv));
    w.add_metadata(format!("{arch}.rope.dimension_count"), u32v(rope_dim));
    w.add_metadata(format!("{arch}.rope.freq_base"), Value::F32(s.rope_base));
    if let Some(factor) = s.rope_scale {
        w.add_metadata(
            format!("{arch}.rope.scaling.type"),
            Value::String("linear".into()),
        );
        w.add_metadata(format!("{arch}.rope.scaling.factor"), Value::F32(factor));
    }
    w.add_metadata(
        format!("{arch}.attention.layer_norm_rms_epsilon"),
        Value::F32(1e-5),
    );

    // Vocabulary: 256 byte tokens, the specials, then filler tokens.
    let mut tokens: Vec<Value> = byte_to_char_table()
        .iter()
        .map(|c| Value::String(c.to_string()))
        .collect();
    let mut types: Vec<Value> = vec![Value::I32(1); 256];
    for sp in SYNTH_SPECIALS {
        tokens.push(Value::String(sp.into()));
        types.push(Value::I32(3));
    }
    for i in tokens.len()..s.vocab_size {
        tokens.push(Value::String(format!("<unused{i}>")));
        types.push(Value::I32(5));
    }
    w.add_metadata("tokenizer.ggml.model", Value::String("gpt2".into()));
    w.add_metadata("tokenizer.ggml.pre", Value::String("gpt2".into()));
    w.add_metadata("tokenizer.ggml.tokens", Value::Array(tokens));
    w.add_metadata("tokenizer.ggml.token_type", Value::Array(types));
    w.add_metadata("tokenizer.ggml.merges", Value::Array(Vec::new()));
    w.add_metadata("tokenizer.ggml.bos_token_id", u32v(257));
    w.add_metadata("tokenizer.ggml.eos_token_id", u32v(258));
    w.add_metadata("tokenizer.ggml.add_bos_token", Value::Bool(false));

    let mut rng = SplitMix64::new(s.seed);
    let mut matrix = |w: &mut GgufWriter,
                      name: &str,
                      cols: usize,
                      rows: usize,
                      ty: GgmlType|
     -> Result<(), SynthError> {
        // Uniform with variance 1/cols keeps activations O(1) through the layers.
        let scale = (3.0 / cols as f32).sqrt();
        let x: Vec<f32> = (0..rows * cols).map(|_| rng.next_f32() * scale).collect();
        w.add_tensor(
            name,
            &[cols as u64, rows as u64],
            ty,
            quant::quantize(ty, &x)?,
        )?;
        Ok(())
    };
    let norm = |w: &mut GgufWriter, name: &str, n: usize, rng_val: f32| -> Result<(), SynthError> {
        let x: Vec<f32> = (0..n)
            .map(|i| 1.0 + rng_val * ((i * 7 % 13) as f32 / 13.0 - 0.5))
            .collect();
        w.add_tensor(
            name,
            &[n as u64],
            GgmlType::F32,
            quant::quantize(GgmlType::F32, &x)?,
        )?;
        Ok(())
    };
    let q_dim = s.n_head * head_dim;
    let kv_dim = s.n_head_kv * head_dim;
    matrix(
        &mut w,
        "token_embd.weight",
        s.n_embd,
        s.vocab_size,
        s.embd_ty.unwrap_or(s.ty),
    )?;
    norm(&mut w, "output_norm.weight", s.n_embd, 0.4)?;
    if let Some(f) = &s.rope_freq_factors {
        w.add_tensor(
            "rope_freqs.weight",
            &[f.len() as u64],
            GgmlType::F32,
            quant::quantize(GgmlType::F32, f)?,
        )?;
    }
    if !s.tied_embeddings {
        matrix(&mut w, "output.weight", s.n_embd, s.vocab_size, s.ty)?;
    }
    for l in 0..s.n_layer {
        let n = |t: &str| format!("blk.{l}.{t}.weight");
        norm(&mut w, &n("attn_norm"), s.n_embd, 0.3)?;
        matrix(&mut w, &n("attn_q"), s.n_embd, q_dim, s.ty)?;
        matrix(&mut w, &n("attn_k"), s.n_embd, kv_dim, s.ty)?;
        matrix(&mut w, &n("attn_v"), s.n_embd, kv_dim, s.ty)?;
        matrix(&mut w, &n("attn_output"), q_dim, s.n_embd, s.ty)?;
        norm(&mut w, &n("ffn_norm"), s.n_embd, 0.2)?;
        matrix(&mut w, &n("ffn_gate"), s.n_embd, s.n_ff, s.ty)?;
        matrix(&mut w, &n("ffn_up"), s.n_embd, s.n_ff, s.ty)?;
        matrix(&mut w, &n("ffn_down"), s.n_ff, s.n_embd, s.ty)?;
    }
    Ok(w)
}
