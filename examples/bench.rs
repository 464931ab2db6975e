//! Prompt-processing and generation speed, printed like llama-bench.
//!
//!     cargo run --release --example bench -- -m models/SmolLM2-135M-Instruct.Q4_1.gguf
//!     cargo run --release --example bench -- --synth llama32-1b --type Q4_0 --bandwidth-gbs 4800
//!     cargo run --release --example bench -- --profile
//!
//! `pp N`: one prompt of N tokens from an empty cache (tokens/s of the
//! prefill); `tg N`: N tokens decoded one at a time from an empty cache, the
//! logits of each read back (tokens/s of decoding). Each test runs once to
//! warm up, then `-r` times; the table shows mean ± standard deviation.
//!
//! `--synth SHAPE --type T` measures a synthetic model of a real model's
//! shape (random weights of type T, written once to the temp directory), so
//! that speed can be measured on any machine without downloads.
//! `--bandwidth-gbs X` adds the fraction of the memory-bandwidth bound a
//! decode reaches (weight bytes x tokens/s over X GB/s);
//! `--measure-bandwidth` measures X first (a parallel read of a buffer far
//! larger than the caches, on as many threads as the CPU path uses).
//! `--profile` prints the time per kind of op of one prefill step and of one
//! decode step (GPU timestamps where the adapter has them, the wall clock
//! between ops on the CPU path), so that a regression can be traced to one
//! kernel.
//!
//! `--device auto|gpu|cpu` picks the path (`auto`: the native CPU path when
//! the best adapter is a CPU, as `Model::load` does); the table says which
//! one ran.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rewind::gpu::{GpuOptions, GpuTuning};
use rewind::model::synth::{SynthSpec, readable_by_llama_cpp, synth_llama};
use rewind::model::{LoadOptions, Model, OpTime, Readback};
use rewind::quant::GgmlType;
use rewind::session::{
    CancelFlag, Control, Event, GenerateOptions, Session, SessionOptions, StopReason,
};
use rewind::{ComputePath, CpuOptions, Device, Isa, KvType};

#[derive(Parser, Debug)]
#[command(about = "Measure prefill and decode speed (llama-bench style)")]
struct Args {
    /// GGUF model file.
    #[arg(short, long, default_value_os_t = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))]
    model: PathBuf,
    /// Measure a synthetic model of this shape instead of `-m`:
    /// llama32-1b, smollm2-135m, tiny.
    #[arg(long)]
    synth: Option<String>,
    /// Weight type of the synthetic model (F32, F16, Q8_0, Q4_0, Q4_1, ...).
    #[arg(long = "type", default_value = "Q4_0")]
    ty: String,
    /// Seed of the synthetic weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
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
    /// Where the steps run: auto (the CPU path when the best adapter is a
    /// CPU), gpu (WGSL on the best adapter) or cpu (the native CPU path).
    #[arg(long, default_value = "auto")]
    device: Device,
    /// Threads of the CPU path (0 = the physical cores).
    #[arg(short = 't', long, default_value_t = 0)]
    threads: usize,
    /// Instruction set of the CPU path (scalar, avx2, avx512-vnni, neon-dot;
    /// default: the best this CPU has).
    #[arg(long)]
    isa: Option<String>,
    /// Backend: vulkan, metal, dx12, gl.
    #[arg(long)]
    backend: Option<String>,
    /// KV cache type: f32, f16 or q8_0 (default: f16 where the adapter has
    /// f16, and on the CPU path).
    #[arg(long)]
    kv: Option<KvType>,
    /// GPU matmuls (decode and prefill) with 8-bit activations and packed
    /// integer dot products: off (the default, as `GpuOptions::int8_matmul`),
    /// on, or auto (allowed: whichever the load measured faster per weight
    /// type and shape; `RUST_LOG=info` shows the timings).
    #[arg(long, default_value = "off", value_parser = ["auto", "on", "off"])]
    int8: String,
    /// Memory bandwidth of the device in GB/s: also print the fraction of
    /// the bandwidth bound (weight bytes x tokens/s) each test reaches.
    #[arg(long)]
    bandwidth_gbs: Option<f64>,
    /// Measure the memory read bandwidth first and use it as
    /// `--bandwidth-gbs`.
    #[arg(long)]
    measure_bandwidth: bool,
    /// Print the time per kind of op of a prefill step (the first -p) and of
    /// a decode step after it, instead of the speed table.
    #[arg(long)]
    profile: bool,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// Also measure a backtracking reset after a prompt of this many tokens:
    /// rollback to the checkpoint + the first new token, against
    /// re-prefilling the prompt from scratch (0 = skip).
    #[arg(long, default_value_t = 512)]
    rollback: usize,
    /// Instead of the table: how long a cancel takes to stop the prompt
    /// processing of a prompt of this many tokens (cancelled after half of
    /// it), against the time of one prefill chunk (-b tokens).
    #[arg(long)]
    cancel_latency: Option<usize>,
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

/// A field of /proc/self/status in MiB (Linux; `None` elsewhere).
fn proc_status_mib(field: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn synth_spec(shape: &str, ty: GgmlType, seed: u64) -> anyhow::Result<SynthSpec> {
    Ok(match shape {
        "llama32-1b" => SynthSpec::llama32_1b(ty, seed),
        "smollm2-135m" => SynthSpec {
            n_layer: 30,
            n_embd: 576,
            n_ff: 1536,
            n_head: 9,
            n_head_kv: 3,
            vocab_size: 49152,
            n_ctx_train: 8192,
            rope_base: 100_000.0,
            ..SynthSpec::tiny(ty, seed)
        },
        "tiny" => SynthSpec::tiny(ty, seed),
        other => anyhow::bail!("unknown --synth shape `{other}` (llama32-1b, smollm2-135m, tiny)"),
    })
}

/// Writes the synthetic model to the temp directory once (kept for later
/// runs; llama.cpp reads it too, for scripts/bench_vs_llama_cpp.py) and
/// returns its path.
fn synth_file(shape: &str, ty: &str, seed: u64) -> anyhow::Result<PathBuf> {
    let ty = (0..64)
        .filter_map(GgmlType::from_id)
        .find(|t| t.name().eq_ignore_ascii_case(ty))
        .ok_or_else(|| anyhow::anyhow!("unknown --type `{ty}`"))?;
    let spec = synth_spec(shape, ty, seed)?;
    let path = std::env::temp_dir().join(format!("rewind-synth-{shape}-{}-{seed}.gguf", ty.name()));
    if !path.exists() {
        eprintln!("writing {} ...", path.display());
        let t = Instant::now();
        let tmp = path.with_extension("partial");
        let mut w = synth_llama(&spec)?;
        readable_by_llama_cpp(&mut w);
        w.write_file(&tmp)?;
        std::fs::rename(&tmp, &path)?;
        eprintln!("synthesized in {:.1} s", t.elapsed().as_secs_f64());
    }
    Ok(path)
}

/// Memory read bandwidth in GB/s: `threads` threads each summing their part
/// of a 1 GiB buffer (far past any cache) with wide independent loads; the
/// best of 5 passes after one to fault the pages in.
fn measure_bandwidth(threads: usize) -> f64 {
    let words = (1usize << 30) / 8;
    let buf: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(threads.max(1));
    let mut best = 0.0f64;
    for pass in 0..6 {
        let t = Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = buf
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let mut acc = [0u64; 8];
                        for c in part.chunks_exact(8) {
                            for (a, v) in acc.iter_mut().zip(c) {
                                *a = a.wrapping_add(*v);
                            }
                        }
                        acc.iter().fold(0u64, |x, y| x.wrapping_add(*y))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a bandwidth thread"))
                .fold(0, u64::wrapping_add)
        });
        let gbs = (words * 8) as f64 / t.elapsed().as_secs_f64() / 1e9;
        std::hint::black_box(sum);
        if pass > 0 {
            best = best.max(gbs);
        }
    }
    best
}

fn print_profile(title: &str, times: &[OpTime], per: usize) {
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    println!(
        "\n{title}: {:.3} ms per token (sum of ops)\n",
        total * 1e3 / per as f64
    );
    println!("| op | ops | dispatches | ms/token | % |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for t in times {
        println!(
            "| {} | {} | {} | {:.3} | {:.1} |",
            t.name,
            t.ops,
            t.dispatches,
            t.seconds * 1e3 / per as f64,
            100.0 * t.seconds / total.max(1e-12)
        );
    }
}

/// `--profile`: one prefill step of the first prompt length, then one
/// decode step at the position after it; each measured `reps` times, the
/// fastest kept per op kind.
fn profile(model: &Model, args: &Args, reps: usize) -> anyhow::Result<()> {
    let n = args.n_prompt.first().copied().unwrap_or(128).max(1);
    let vocab = model.config().vocab_size;
    let opts = SessionOptions {
        n_ctx: n + 2,
        n_batch: n.min(args.batch),
        all_logits: false,
    };
    let mut session = Session::new(model, &opts)?;
    let ctx = session.context_mut();
    let best = |acc: &mut Option<Vec<OpTime>>, new: Vec<OpTime>| match acc {
        None => *acc = Some(new),
        Some(a) => {
            for (x, y) in a.iter_mut().zip(new) {
                x.seconds = x.seconds.min(y.seconds);
            }
        }
    };
    let (mut pp, mut tg) = (None, None);
    for rep in 0..=reps {
        let prompt = tokens(n, vocab, rep);
        ctx.truncate(0);
        let (first, rest) = prompt.split_at(ctx.n_batch());
        let (_, t) = ctx.profile_feed(first, Readback::LastLogits)?;
        if rep > 0 {
            best(&mut pp, t);
        }
        if !rest.is_empty() {
            ctx.feed(rest, Readback::None)?;
        }
        let (_, t) = ctx.profile_feed(&prompt[..1], Readback::Argmax)?;
        if rep > 0 {
            best(&mut tg, t);
        }
    }
    let timing = if model.gpu().is_some_and(|g| g.timestamps) {
        "GPU timestamps"
    } else if model.gpu().is_none() {
        "wall clock between the ops"
    } else {
        "CPU time of one submit per op"
    };
    println!(
        "{} {} on {} ({timing}, KV cache {}, best of {reps})",
        model.name(),
        model.file_type(),
        model.device_info(),
        ctx.kv_type()
    );
    if let Some(pp) = pp {
        print_profile(
            &format!("prefill, one step of {} tokens", n.min(args.batch)),
            &pp,
            n.min(args.batch),
        );
    }
    if let Some(tg) = tg {
        print_profile(&format!("decode, one token at position {n}"), &tg, 1);
    }
    Ok(())
}

/// `--cancel-latency N`: a prompt of N tokens is cancelled from another
/// thread after half of its expected prefill time; reports the time from
/// the cancel to `generate` returning, next to one chunk's time.
fn cancel_latency(model: &Model, args: &Args, n: usize, reps: usize) -> anyhow::Result<()> {
    let vocab = model.config().vocab_size;
    let opts = SessionOptions {
        n_ctx: n + 8,
        n_batch: args.batch.min(n),
        all_logits: false,
    };
    let mut session = Session::new(model, &opts)?;
    // The prompt fed chunk by chunk: its whole time (to cancel half way
    // through) and the time of the chunk where the cancel lands, which
    // attends to half the prompt (a chunk at the start would be shorter).
    let prompt = tokens(n, vocab, 0);
    let middle = n / 2 / opts.n_batch;
    let (mut prefill_times, mut chunk_times) = (Vec::new(), Vec::new());
    for _ in 0..=reps {
        session.truncate(0);
        let start = Instant::now();
        for (i, chunk) in prompt.chunks(opts.n_batch).enumerate() {
            let t = Instant::now();
            session.feed(chunk, Readback::LastLogits)?;
            if i == middle {
                chunk_times.push(t.elapsed().as_secs_f64());
            }
        }
        prefill_times.push(start.elapsed().as_secs_f64());
    }
    let (chunk_s, _) = mean_sd(&chunk_times[1..]);
    let (prefill_s, _) = mean_sd(&prefill_times[1..]);
    let mut latencies = Vec::new();
    for rep in 0..reps {
        session.truncate(0);
        let prompt = tokens(n, vocab, rep + 1);
        let cancel = CancelFlag::new();
        let gen_opts = GenerateOptions {
            cancel: Some(cancel.clone()),
            ..GenerateOptions::default()
        };
        let (tx, rx) = std::sync::mpsc::channel::<Instant>();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs_f64(prefill_s / 2.0));
            let at = Instant::now();
            cancel.cancel();
            let _ = tx.send(at);
        });
        let mut reason = None;
        session.generate(&prompt, &gen_opts, |ev| {
            if let Event::Done { reason: r, .. } = ev {
                reason = Some(r);
            }
            Control::Continue
        })?;
        let returned = Instant::now();
        canceller.join().expect("canceller thread");
        let cancelled_at = rx.recv()?;
        anyhow::ensure!(
            reason == Some(StopReason::Cancelled),
            "the prompt finished before the cancel ({reason:?}); use a longer one"
        );
        latencies.push(
            returned
                .saturating_duration_since(cancelled_at)
                .as_secs_f64(),
        );
    }
    let (lat, lat_sd) = mean_sd(&latencies);
    println!(
        "{} {} on {}: prompt {n} tokens, cancelled half way ({reps} runs)",
        model.name(),
        model.file_type(),
        model.device_info()
    );
    println!(
        "cancel -> return: {:.1} ± {:.1} ms; one prefill chunk of {} tokens half way: {:.1} ms ({:.2} chunks)",
        lat * 1e3,
        lat_sd * 1e3,
        opts.n_batch,
        chunk_s * 1e3,
        lat / chunk_s
    );
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    let path = match &args.synth {
        Some(shape) => synth_file(shape, &args.ty, args.seed)?,
        None => args.model.clone(),
    };
    if !path.exists() {
        anyhow::bail!(
            "model file {} not found (run models/fetch.sh, or pass -m FILE)",
            path.display()
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
    let kv = args.kv;
    let device = args.device;
    let isa = match &args.isa {
        None => None,
        Some(name) => Some(Isa::by_name(name).ok_or_else(|| {
            anyhow::anyhow!(
                "instruction set `{name}` is not available here (this CPU has: {})",
                Isa::available()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?),
    };
    let hwm_before = proc_status_mib("VmHWM:");
    let mut opts = LoadOptions {
        device,
        gpu: GpuOptions {
            backends,
            tuning: GpuTuning {
                int8_matvec: match args.int8.as_str() {
                    "on" => Some(true),
                    "off" => Some(false),
                    _ => None,
                },
                ..GpuTuning::default()
            },
            int8_matmul: true,
            ..GpuOptions::default()
        },
        n_threads: args.threads,
        cpu: CpuOptions {
            isa,
            ..CpuOptions::default()
        },
        ..LoadOptions::default()
    };
    if let Some(kv) = kv {
        opts = opts.with_kv_type(kv);
    }
    let t = Instant::now();
    let model = Model::load(&path, &opts)?;
    let load_s = t.elapsed().as_secs_f64();
    let rss_after_load = proc_status_mib("VmRSS:");
    let hwm_load = proc_status_mib("VmHWM:");
    let reps = args.repetitions.max(1);
    if args.profile {
        return profile(&model, &args, reps);
    }
    if let Some(n) = args.cancel_latency {
        return cancel_latency(&model, &args, n, reps);
    }
    let bandwidth_gbs = match (args.bandwidth_gbs, args.measure_bandwidth) {
        (Some(b), _) => Some(b),
        (None, true) => {
            let threads = match model.device_info().path {
                ComputePath::Cpu { threads, .. } => threads,
                ComputePath::Gpu => std::thread::available_parallelism().map_or(1, |n| n.get()),
            };
            let gbs = measure_bandwidth(threads);
            eprintln!("memory read bandwidth: {gbs:.1} GB/s ({threads} threads)");
            Some(gbs)
        }
        (None, false) => None,
    };
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
    let mut rows = Vec::new();
    // A length of 0 skips that kind of test, as in llama-bench.
    for &n in args.n_prompt.iter().filter(|&&n| n > 0) {
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
        rows.push((format!("pp{n}"), mean_sd(&runs), false));
    }
    for &n in args.n_gen.iter().filter(|&&n| n > 0) {
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
        rows.push((format!("tg{n}"), mean_sd(&runs), true));
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
    let adapter = model.device_info();
    // Fraction of the bandwidth bound: a decoded token reads every weight.
    let bw = |tps: f64| bandwidth_gbs.map(|gbs| model.weight_bytes() as f64 * tps / (gbs * 1e9));
    let path = match adapter.path {
        ComputePath::Gpu => "gpu",
        ComputePath::Cpu { .. } => "cpu",
    };
    let hwm = |v: Option<f64>| v.map_or("null".to_string(), |m| format!("{m:.1}"));
    if args.json {
        for (test, (mean, sd), decode) in &rows {
            let frac = if *decode { bw(*mean) } else { None };
            println!(
                "{{\"model\":{:?},\"type\":{:?},\"size_bytes\":{},\"adapter\":{:?},\"path\":{path:?},\"test\":{:?},\"tokens_per_s\":{mean:.3},\"stddev\":{sd:.3},\"repetitions\":{reps},\"load_s\":{load_s:.3},\"rss_after_load_mib\":{},\"peak_rss_mib\":{},\"bandwidth_fraction\":{}}}",
                model.name(),
                model.file_type(),
                model.weight_bytes(),
                adapter.to_string(),
                test,
                hwm(rss_after_load),
                hwm(hwm_load),
                frac.map_or("null".to_string(), |f| format!("{f:.4}")),
            );
        }
        for (test, (mean, sd)) in &reset_rows {
            println!(
                "{{\"test\":{test:?},\"ms\":{mean:.3},\"stddev\":{sd:.3},\"repetitions\":{reps}}}"
            );
        }
        return Ok(());
    }
    let bw_col = bandwidth_gbs.is_some();
    println!(
        "| model | type | size | adapter | test | t/s |{}",
        if bw_col { " of bandwidth bound |" } else { "" }
    );
    println!(
        "| --- | --- | ---: | --- | ---: | ---: |{}",
        if bw_col { " ---: |" } else { "" }
    );
    for (test, (mean, sd), decode) in &rows {
        let frac = match (bw(*mean), decode) {
            (Some(f), true) => format!(" {:.1}% |", 100.0 * f),
            (Some(_), false) => " |".to_string(),
            _ => String::new(),
        };
        println!(
            "| {} | {} | {size_mib:.2} MiB | {adapter} | {test} | {mean:.2} ± {sd:.2} |{frac}",
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
    let mib = |v: Option<f64>| v.map_or("?".to_string(), |m| format!("{m:.0} MiB"));
    eprintln!(
        "load: {load_s:.2} s (RSS after load {}, peak RSS {} during load{}), {reps} repetitions per test, --int8 {}",
        mib(rss_after_load),
        mib(hwm_load),
        hwm_before.map_or(String::new(), |b| format!(", {b:.0} MiB before")),
        args.int8
    );
    Ok(())
}
