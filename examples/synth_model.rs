//! Writes a synthetic Llama (random weights from a seed, byte-level
//! vocabulary; `rewind::model::synth`) of a given shape and type as GGUF.
//! scripts/synth_kquants.py writes its F16 model with it and quantizes that
//! with llama.cpp's quantizer.
//!
//!     cargo run --release --example synth_model -- -o target/synth.F16.gguf \
//!         --n-embd 256 --n-ff 768 --n-layer 2 --n-head 4 --n-head-kv 2 \
//!         --vocab 512 --type F16 --seed 1

use std::path::PathBuf;

use clap::Parser;
use rewind::model::synth::{SynthSpec, readable_by_llama_cpp, synth_llama};
use rewind::quant::GgmlType;

#[derive(Parser, Debug)]
#[command(about = "Writes a synthetic Llama GGUF with random weights")]
struct Args {
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value_t = 2)]
    n_layer: usize,
    #[arg(long, default_value_t = 256)]
    n_embd: usize,
    #[arg(long, default_value_t = 768)]
    n_ff: usize,
    #[arg(long, default_value_t = 4)]
    n_head: usize,
    #[arg(long, default_value_t = 2)]
    n_head_kv: usize,
    /// Rows of the embedding (at least the 260 byte-level tokens).
    #[arg(long, default_value_t = 512)]
    vocab: usize,
    /// Type of the matrices (norms stay F32).
    #[arg(long, default_value = "F16")]
    r#type: String,
    /// A separate output matrix instead of the tied token embedding.
    #[arg(long)]
    untied: bool,
    /// Seed of the weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let ty = (0..64)
        .filter_map(GgmlType::from_id)
        .find(|t| t.name().eq_ignore_ascii_case(&a.r#type))
        .ok_or_else(|| anyhow::anyhow!("unknown --type `{}`", a.r#type))?;
    let spec = SynthSpec {
        n_layer: a.n_layer,
        n_embd: a.n_embd,
        n_ff: a.n_ff,
        n_head: a.n_head,
        n_head_kv: a.n_head_kv,
        vocab_size: a.vocab,
        tied_embeddings: !a.untied,
        ..SynthSpec::tiny(ty, a.seed)
    };
    let mut w = synth_llama(&spec)?;
    readable_by_llama_cpp(&mut w);
    w.write_file(&a.output)?;
    eprintln!("wrote {}", a.output.display());
    Ok(())
}
