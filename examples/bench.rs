//! Prompt-processing and generation speed, printed like llama-bench.
//!
//!     cargo run --release --example bench -- -m models/SmolLM2-135M-Instruct.Q4_1.gguf
//!
//! `pp N`: one prompt of N tokens from an empty cache (tokens/s of the
//! prefill); `tg N`: N tokens decoded one at a time from an empty cache, the
//! logits of each read back (tokens/s of decoding). Each test runs once to
//! warm up, then `-r` times; the table shows mean ± standard deviation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rewind::gpu::GpuOptions;
use rewind::model::{LoadOptions, Model, Readback};
use rewind::session::{Session, SessionOptions};

#[derive(Parser, Debug)]
#[command(about = "Measure prefill and decode speed (llama-bench style)")]
struct Args {
    /// GGUF model file.
    #[arg(short, long, default_value_os_t = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))]
    model: PathBuf,
    /// Prompt lengths to test.
    #[arg(
        short = 'p',
        long = "n-prompt",
        default_value = "128",
        value_delimiter = ','
    )]
    n_prompt: Vec<usize>,
    /// Generation lengths to test.
    #[arg(
        short = 'n',
        long = "n-gen",
        default_value = "64",
        value_delimiter = ','
    )]
    n_gen: Vec<usize>,
    /// Repetitions of each test.
    #[arg(short, long, default_value_t = 5)]
    repetitions: usize,
    /// Prefill chunk size (tokens per step).
    #[arg(short = 'b', long = "batch-size", default_value_t = 512)]
    batch: usize,
    /// Backend: vulkan, metal, dx12, gl.
    #[arg(long)]
    backend: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// Also measure a backtracking reset after a prompt of this many tokens:
    /// rollback to the checkpoint + the first new token, against
    /// re-prefilling the prompt from scratch (0 = skip).
    #[arg(long, default_value_t = 512)]
    rollback: usize,
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

/// Token ids spread over the vocabulary, like llama-bench's random prompt.
fn tokens(n: usize, vocab: usize, salt: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i * 7919 + salt * 104_729 + 13) % vocab) as u32)
        .collect()
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn run(args: Args) -> anyhow::Result<()> {
    if !args.model.exists() {
        anyhow::bail!(
            "model file {} not found (run models/fetch.sh, or pass -m FILE)",
            args.model.display()
        );
    }
    let backends = match args
        .backend
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("vulkan") => Some(wgpu::Backends::VULKAN),
        Some("metal") => Some(wgpu::Backends::METAL),
        Some("dx12") => Some(wgpu::Backends::DX12),
        Some("gl") => Some(wgpu::Backends::GL),
        Some(other) => anyhow::bail!("unknown backend `{other}`"),
    };
    let t = Instant::now();
    let model = Model::load(
        &args.model,
        &LoadOptions {
            gpu: GpuOptions {
                backends,
                ..GpuOptions::default()
            },
            ..LoadOptions::default()
        },
    )?;
    let load_s = t.elapsed().as_secs_f64();
    let vocab = model.config().vocab_size;
    let longest = args
        .n_prompt
        .iter()
        .chain(&args.n_gen)
        .copied()
        .chain([args.rollback + 2])
        .max()
        .unwrap_or(1);
    let mut session = Session::new(
        &model,
        &SessionOptions {
            n_ctx: longest + 1,
            n_batch: args.batch,
            all_logits: false,
        },
    )?;
    let reps = args.repetitions.max(1);
    let mut rows = Vec::new();
    for &n in &args.n_prompt {
        let mut runs = Vec::new();
        for rep in 0..=reps {
            session.truncate(0);
            let prompt = tokens(n, vocab, rep);
            let t = Instant::now();
            session.feed(&prompt, Readback::LastLogits)?;
            if rep > 0 {
                runs.push(n as f64 / t.elapsed().as_secs_f64());
            }
        }
        rows.push((format!("pp{n}"), mean_sd(&runs)));
    }
    for &n in &args.n_gen {
        let mut runs = Vec::new();
        for rep in 0..=reps {
            session.truncate(0);
            let toks = tokens(n, vocab, rep);
            let t = Instant::now();
            for tok in &toks {
                session.feed(std::slice::from_ref(tok), Readback::LastLogits)?;
            }
            if rep > 0 {
                runs.push(n as f64 / t.elapsed().as_secs_f64());
            }
        }
        rows.push((format!("tg{n}"), mean_sd(&runs)));
    }

    // Reset cost: after a prompt and one generated token, roll back to the
    // checkpoint (end of the prompt) and feed the reset token there, reading
    // its logits: what a `Rollback` reset costs before decoding goes on.
    let mut reset_rows = Vec::new();
    if args.rollback > 0 {
        let n = args.rollback;
        let (mut rollback, mut reprefill) = (Vec::new(), Vec::new());
        for rep in 0..=reps {
            let prompt = tokens(n, vocab, rep);
            session.truncate(0);
            session.feed(&prompt, Readback::None)?;
            session.feed(&prompt[..1], Readback::LastLogits)?;
            let t = Instant::now();
            session.truncate(n);
            session.feed(&prompt[1..2], Readback::LastLogits)?;
            let dt_rollback = t.elapsed().as_secs_f64();
            let t = Instant::now();
            session.truncate(0);
            session.feed(&prompt, Readback::LastLogits)?;
            let dt_reprefill = t.elapsed().as_secs_f64();
            if rep > 0 {
                rollback.push(dt_rollback * 1e3);
                reprefill.push(dt_reprefill * 1e3);
            }
        }
        reset_rows.push((format!("reset rollback @{n}"), mean_sd(&rollback)));
        reset_rows.push((format!("re-prefill {n}"), mean_sd(&reprefill)));
    }

    let size_mib = model.weight_bytes() as f64 / (1024.0 * 1024.0);
    let adapter = model.gpu().describe();
    if args.json {
        for (test, (mean, sd)) in &rows {
            println!(
                "{{\"model\":{:?},\"type\":{:?},\"size_bytes\":{},\"adapter\":{:?},\"test\":{:?},\"tokens_per_s\":{mean:.3},\"stddev\":{sd:.3},\"repetitions\":{reps},\"load_s\":{load_s:.3}}}",
                model.name(),
                model.file_type(),
                model.weight_bytes(),
                adapter,
                test
            );
        }
        for (test, (mean, sd)) in &reset_rows {
            println!(
                "{{\"test\":{test:?},\"ms\":{mean:.3},\"stddev\":{sd:.3},\"repetitions\":{reps}}}"
            );
        }
        return Ok(());
    }
    println!("| model | type | size | adapter | test | t/s |");
    println!("| --- | --- | ---: | --- | ---: | ---: |");
    for (test, (mean, sd)) in &rows {
        println!(
            "| {} | {} | {size_mib:.2} MiB | {adapter} | {test} | {mean:.2} ± {sd:.2} |",
            model.name(),
            model.file_type()
        );
    }
    if let [(rb_name, (rb, rb_sd)), (pp_name, (pp, pp_sd))] = reset_rows.as_slice() {
        println!();
        println!("| test | ms |");
        println!("| --- | ---: |");
        println!("| {rb_name} (restore + first token) | {rb:.2} ± {rb_sd:.2} |");
        println!("| {pp_name} (from an empty cache) | {pp:.2} ± {pp_sd:.2} |");
        println!("\nreset / re-prefill = 1/{:.1}", pp / rb);
    }
    eprintln!("load: {load_s:.2} s, {reps} repetitions per test");
    Ok(())
}
