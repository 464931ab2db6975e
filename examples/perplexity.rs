//! Perplexity of a GGUF model over a text file, computed like llama.cpp's
//! `llama-perplexity` (see `rewind::eval::perplexity`), with its output:
//! the running estimate after each chunk, then the final estimate.
//!
//!     cargo run --release --example perplexity -- -f tests/data/perplexity-text.txt -c 128
//!
//! `--json` prints one JSON object instead (for scripts); `--cpu-reference`
//! computes with the naive f32 CPU forward instead of the GPU.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rewind::KvType;
use rewind::eval::perplexity::{perplexity, perplexity_reference, scored_per_chunk, tokenize};
use rewind::gguf::GgufFile;
use rewind::gpu::GpuOptions;
use rewind::model::reference::ReferenceModel;
use rewind::model::{Device, LoadOptions, Model};

#[derive(Parser, Debug)]
#[command(about = "Perplexity of a GGUF model over a text file, like llama-perplexity")]
struct Args {
    /// GGUF model file.
    #[arg(short, long, default_value_os_t = default_model())]
    model: PathBuf,
    /// Text file.
    #[arg(short, long)]
    file: PathBuf,
    /// Tokens per chunk.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    ctx_size: usize,
    /// Evaluate at most this many chunks.
    #[arg(long)]
    chunks: Option<usize>,
    /// Backend: vulkan, metal, dx12, gl (default: the best available).
    #[arg(long)]
    backend: Option<String>,
    /// Where the steps run: auto (the native CPU path when the best adapter
    /// is a CPU), gpu (WGSL on the best adapter) or cpu (the native CPU path).
    #[arg(long, default_value = "auto")]
    device: Device,
    /// KV cache type: f32, f16 or q8_0 (default: f16 where the adapter has
    /// f16, and on the CPU path).
    #[arg(long)]
    kv: Option<KvType>,
    /// Print one JSON object with the results instead of text.
    #[arg(long)]
    json: bool,
    /// Compute with the naive f32 CPU forward instead (slow; it checks
    /// rewind's figure on real files).
    #[arg(long)]
    cpu_reference: bool,
}

fn default_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn parse_backend(name: &str) -> anyhow::Result<wgpu::Backends> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "vulkan" => wgpu::Backends::VULKAN,
        "metal" => wgpu::Backends::METAL,
        "dx12" => wgpu::Backends::DX12,
        "gl" | "gles" => wgpu::Backends::GL,
        other => anyhow::bail!("unknown backend `{other}` (vulkan, metal, dx12, gl)"),
    })
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let kv = args.kv;
    let mut opts = LoadOptions {
        gpu: GpuOptions {
            backends: args.backend.as_deref().map(parse_backend).transpose()?,
            ..GpuOptions::default()
        },
        device: args.device,
        ..LoadOptions::default()
    };
    if let Some(kv) = kv {
        opts = opts.with_kv_type(kv);
    }
    let model = Model::load(&args.model, &opts)?;
    let tokens = tokenize(&model, &text)?;
    let n_ctx = args.ctx_size;
    let chunks = (tokens.len() / n_ctx.max(1)).min(args.chunks.unwrap_or(usize::MAX));
    if !args.json {
        eprintln!(
            "{} ({}, {}): {} tokens, {} chunks of {} ({} scored each)",
            args.model.display(),
            model.file_type(),
            model.device_info(),
            tokens.len(),
            chunks,
            n_ctx,
            scored_per_chunk(n_ctx.max(4)),
        );
    }
    let t0 = Instant::now();
    let progress = |c: usize, est: f64| {
        if !args.json {
            print!("[{}]{est:.4},", c + 1);
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
    };
    let r = if args.cpu_reference {
        let file = GgufFile::open(&args.model)?;
        let reference = ReferenceModel::load(&file)?;
        let tok = model.tokenizer();
        let bos = if tok.add_bos() { tok.bos() } else { None };
        perplexity_reference(&reference, bos, &tokens, n_ctx, args.chunks, progress)?
    } else {
        perplexity(&model, &tokens, n_ctx, args.chunks, progress)?
    };
    let secs = t0.elapsed().as_secs_f64();
    if args.json {
        let running: Vec<String> = r.running.iter().map(|v| format!("{v:.6}")).collect();
        println!(
            "{{\"model\": {:?}, \"file_type\": {:?}, \"file_bytes\": {}, \"n_ctx\": {}, \"n_text_tokens\": {}, \
             \"n_chunks\": {}, \"n_scored\": {}, \"ppl\": {:.6}, \"ppl_error\": {:.6}, \"running\": [{}], \"seconds\": {:.3}}}",
            args.model.display().to_string(),
            model.file_type(),
            std::fs::metadata(&args.model)?.len(),
            r.n_ctx,
            r.n_text_tokens,
            r.n_chunks,
            r.n_scored,
            r.ppl,
            r.ppl_error,
            running.join(", "),
            secs
        );
    } else {
        println!();
        println!(
            "Final estimate: PPL = {:.4} +/- {:.5} ({} tokens scored, {:.1} s, {:.0} tokens/s)",
            r.ppl,
            r.ppl_error,
            r.n_scored,
            secs,
            (r.n_chunks * r.n_ctx) as f64 / secs
        );
    }
    Ok(())
}
