//! A model's logits against llama.cpp's, in two modes.
//!
//! Greedy runs (default; the format of tests/data/smollm2_greedy.json:
//! prompt ids, the generated ids, the top-5 logits of every step, and
//! optionally `flash_attn_delta_per_step`, how far llama.cpp's own logits
//! move between its flash-attention settings, from
//! scripts/llama_cpp_greedy.py), checked the way tests/smollm2.rs checks the
//! Q4_1 file. A step is a *near tie* when llama.cpp's top two are less than
//! max(`--near-tie`, that step's flash-attention change) apart: there
//! llama.cpp's own choice isn't stable, so neither is the comparison.
//!
//! * teacher-forced on llama.cpp's tokens, every step's logits are compared
//!   on llama.cpp's top 5, and the argmax must equal llama.cpp's token at
//!   every step that isn't a near tie, unless (with `--cpu-reference`)
//!   rewind's naive f32 CPU forward picks the same token as its GPU there:
//!   then rewind is exact and the difference is llama.cpp's activation
//!   rounding (each such step is printed);
//! * free-running, the tokens must equal llama.cpp's up to its end-of-turn
//!   token or its first near tie, whichever comes first.
//!
//! `--positions` (the format of tests/data/synth_kquants_llama_cpp.json,
//! from scripts/synth_kquants.py): the logits at every position of each
//! prompt of `files.<KEY>.prompts` (one batch), compared on llama.cpp's
//! top 5 at every position and on the whole vocabulary where `last_logits`
//! is given; the argmax is compared at the positions where llama.cpp's top
//! two are at least `--near-tie` apart. With `--cpu-reference`, also rewind's
//! naive f32 CPU forward of the same file against the GPU forward (with an
//! f32 KV cache, as the reference) and against llama.cpp.
//!
//! Prints one JSON object with the counts; exits with 1 when a greedy check
//! fails (`--positions` only measures: the caller applies its tolerance).
//!
//!     cargo run --release --example greedy_check -- -m models/X.gguf \
//!         --reference tests/data/smollm2_greedy.json --runs Q8_0

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rewind::CpuOptions;
use rewind::gguf::GgufFile;
use rewind::gpu::{GpuOptions, GpuTuning};
use rewind::model::reference::ReferenceModel;
use rewind::model::{Device, LoadOptions, Model, Readback, StepOutput};
use rewind::session::{Session, SessionOptions};
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(about = "A model's logits against llama.cpp's reference runs")]
struct Args {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// JSON file with `runs.<KEY>` (greedy) or `files.<KEY>` (`--positions`).
    #[arg(long)]
    reference: PathBuf,
    /// Which runs (or file) of the reference.
    #[arg(long)]
    runs: String,
    /// Smallest llama.cpp top-two gap that is never a near tie (llama.cpp's
    /// 8-bit activation rounding moves its logits by about this much).
    #[arg(long, default_value_t = 0.25)]
    near_tie: f32,
    /// Where the steps run: auto (the native CPU path when the best adapter
    /// is a CPU), gpu (WGSL on the best adapter) or cpu (the native CPU path).
    #[arg(long, default_value = "auto")]
    device: Device,
    /// The GPU path's matmuls with 8-bit activations (decode and prefill):
    /// off (the default, as `GpuOptions::int8_matmul`), on, or auto
    /// (allowed: whichever the load measured faster).
    #[arg(long, default_value = "off", value_parser = ["auto", "on", "off"])]
    int8: String,
    /// Compare the logits at every position of fixed prompts instead.
    #[arg(long)]
    positions: bool,
    /// Also run rewind's f32 CPU reference forward (greedy runs: at the
    /// steps whose argmax differs from llama.cpp's).
    #[arg(long)]
    cpu_reference: bool,
    /// Greedy runs: also run the f32 CPU reference forward at every step and
    /// report how far rewind's logits are from it (largest |difference| over
    /// the whole vocabulary: the error of this path's own rounding, e.g.
    /// 8-bit activations, without llama.cpp's). Slow.
    #[arg(long)]
    reference_diff: bool,
}

type Top = Vec<(u32, f32)>;

struct Run {
    id: String,
    prompt: Vec<u32>,
    tokens: Vec<u32>,
    top5: Vec<Top>,
    /// Per step: how far llama.cpp's logits move with flash attention off.
    fa_delta: Vec<f32>,
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u32)
                .collect()
        })
        .unwrap_or_default()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_f64())
                .map(|x| x as f32)
                .collect()
        })
        .unwrap_or_default()
}

/// `[[[id, logit], ...], ...]`: the top entries of every step.
fn tops(v: &Value) -> Vec<Top> {
    let pair = |p: &Value| {
        (
            p[0].as_u64().unwrap_or(0) as u32,
            p[1].as_f64().unwrap_or(0.0) as f32,
        )
    };
    v.as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| s.as_array().map(|p| p.iter().map(pair).collect()))
                .map(Option::unwrap_or_default)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_runs(doc: &Value, key: &str) -> anyhow::Result<Vec<Run>> {
    let list = doc["runs"][key]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no runs.{key} in the reference"))?;
    Ok(list
        .iter()
        .map(|r| Run {
            id: r["id"].as_str().unwrap_or("?").to_string(),
            prompt: ids(&r["prompt_ids"]),
            tokens: ids(&r["generated_ids"]),
            top5: tops(&r["top5_logits_per_step"]),
            fa_delta: floats(&r["flash_attn_delta_per_step"]),
        })
        .collect())
}

fn argmax(l: &[f32]) -> u32 {
    (0..l.len()).fold(0, |m, i| if l[i] > l[m] { i } else { m }) as u32
}

/// Largest |logit - llama.cpp's| over llama.cpp's top entries.
fn top_diff(logits: &[f32], top: &[(u32, f32)]) -> f32 {
    top.iter()
        .map(|&(id, v)| (logits[id as usize] - v).abs())
        .fold(0.0, f32::max)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let result = if args.positions {
        positions(&args)
    } else {
        greedy(&args)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The model under test, as `--device` and `--int8` ask.
fn load_options(args: &Args) -> LoadOptions {
    LoadOptions {
        device: args.device,
        gpu: GpuOptions {
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
        ..LoadOptions::default()
    }
}

fn greedy(args: &Args) -> anyhow::Result<bool> {
    let doc: Value = serde_json::from_slice(&std::fs::read(&args.reference)?)?;
    let runs = parse_runs(&doc, &args.runs)?;
    let opts = load_options(args);
    let model = Model::load(&args.model, &opts)?;
    let eog = model.tokenizer().eog_tokens().to_vec();
    let mut s = Session::new(&model, &SessionOptions::default())?;
    let (mut steps, mut compared, mut flips, mut max_diff) = (0usize, 0usize, 0usize, 0f32);
    let (mut free_ok, mut free_tokens, mut widened) = (0usize, 0usize, 0usize);
    let mut explained = 0usize;
    let reference = if args.cpu_reference || args.reference_diff {
        Some(ReferenceModel::load(&GgufFile::open(&args.model)?)?)
    } else {
        None
    };
    let (mut ref_max, mut ref_sum) = (0f32, 0f64);
    for run in &runs {
        let gap = |i: usize| run.top5[i][0].1 - run.top5[i][1].1;
        let threshold = |i: usize| {
            args.near_tie
                .max(run.fa_delta.get(i).copied().unwrap_or(0.0))
        };
        let near_tie = |i: usize| gap(i) < threshold(i);
        // Teacher-forced.
        s.truncate(0);
        let mut logits = s.logits_after(&run.prompt)?;
        let mut ref_cache = reference
            .as_ref()
            .filter(|_| args.reference_diff)
            .map(|r| r.new_cache());
        let mut ref_feed = |tokens: &[u32], logits: &[f32]| -> anyhow::Result<()> {
            if let (Some(r), Some(c)) = (&reference, &mut ref_cache) {
                let mut l = Vec::new();
                for &t in tokens {
                    l = r.forward(c, t)?;
                }
                let d = logits
                    .iter()
                    .zip(&l)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                ref_max = ref_max.max(d);
                ref_sum += d as f64;
            }
            Ok(())
        };
        ref_feed(&run.prompt, &logits)?;
        for (i, &want) in run.tokens.iter().enumerate() {
            max_diff = max_diff.max(top_diff(&logits, &run.top5[i]));
            steps += 1;
            if near_tie(i) {
                widened += usize::from(gap(i) >= args.near_tie);
            } else {
                compared += 1;
                let got = argmax(&logits);
                if got != want {
                    flips += 1;
                    let at = |l: &[f32]| {
                        format!("{got}: {}, {want}: {}", l[got as usize], l[want as usize])
                    };
                    eprintln!(
                        "{} step {i}: argmax {got} vs llama.cpp {want} (gap {}, near-tie threshold {}); rewind {}",
                        run.id,
                        gap(i),
                        threshold(i),
                        at(&logits)
                    );
                    if let Some(r) = reference.as_ref().filter(|_| args.cpu_reference) {
                        let mut cache = r.new_cache();
                        let mut l = Vec::new();
                        for &t in run.prompt.iter().chain(&run.tokens[..i]) {
                            l = r.forward(&mut cache, t)?;
                        }
                        eprintln!(
                            "{} step {i}: f32 CPU reference argmax {}; {}",
                            run.id,
                            argmax(&l),
                            at(&l)
                        );
                        // rewind's exact forward picks what its GPU picks:
                        // the difference is llama.cpp's rounding.
                        explained += usize::from(argmax(&l) == got);
                    }
                }
            }
            logits = s.logits_after(&[want])?;
            if i + 1 < run.tokens.len() {
                ref_feed(&[want], &logits)?;
            }
        }
        // Free-running up to the end of turn or llama.cpp's first near tie.
        let tie = (0..run.tokens.len())
            .find(|&i| near_tie(i))
            .unwrap_or(run.tokens.len());
        let end = run
            .tokens
            .iter()
            .position(|t| eog.contains(t))
            .map_or(tie, |e| tie.min(e + 1));
        s.truncate(0);
        let mut out = s.feed(&run.prompt, Readback::Argmax)?;
        let mut ours = Vec::new();
        while ours.len() < end {
            let StepOutput::Argmax(t) = out else {
                anyhow::bail!("argmax expected");
            };
            ours.push(t);
            out = s.feed(&[t], Readback::Argmax)?;
        }
        free_tokens += end;
        if ours == run.tokens[..end] {
            free_ok += 1;
        } else {
            eprintln!(
                "{}: free-running tokens differ before the end of turn or the first near tie",
                run.id
            );
        }
    }
    let vs_reference = if args.reference_diff {
        format!(
            ", \"max_logit_diff_vs_f32_reference\": {ref_max:.4}, \"mean_step_max_diff_vs_f32_reference\": {:.4}",
            ref_sum / steps.max(1) as f64
        )
    } else {
        String::new()
    };
    println!(
        "{{\"runs\": {}, \"steps\": {steps}, \"argmax_compared\": {compared}, \"argmax_flips\": {flips}, \"flips_where_the_f32_reference_agrees\": {explained}, \
         \"near_ties_from_flash_attn\": {widened}, \
         \"max_top5_logit_diff\": {max_diff:.4}, \"free_running_identical\": {free_ok}, \"free_running_tokens\": {free_tokens}{vs_reference}}}",
        runs.len()
    );
    Ok(flips == explained && free_ok == runs.len())
}

fn positions(args: &Args) -> anyhow::Result<bool> {
    let doc: Value = serde_json::from_slice(&std::fs::read(&args.reference)?)?;
    let prompts = doc["files"][&args.runs]["prompts"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no files.{}.prompts in the reference", args.runs))?;
    let opts = SessionOptions {
        n_ctx: 256,
        n_batch: 64,
        all_logits: true,
    };
    let load_opts = load_options(args);
    let model = Model::load(&args.model, &load_opts)?;
    let vocab = model.config().vocab_size;
    let mut s = Session::new(&model, &opts)?;
    // The CPU reference keeps its KV cache in f32 and computes in f32: so
    // does the GPU forward compared with it (the default f16 cache and
    // measured choice of 8-bit activations, like llama.cpp's, are
    // what is compared with llama.cpp).
    let mut exact = None;
    if args.cpu_reference {
        let reference = ReferenceModel::load(&GgufFile::open(&args.model)?)?;
        let load = LoadOptions {
            device: args.device,
            gpu: GpuOptions {
                kv_f16: Some(false),
                tuning: GpuTuning {
                    int8_matvec: Some(false),
                    ..Default::default()
                },
                ..Default::default()
            },
            cpu: CpuOptions {
                kv_f16: Some(false),
                ..Default::default()
            },
            ..Default::default()
        };
        let m = Model::load(&args.model, &load)?;
        exact = Some((reference, Session::new(&m, &opts)?));
    }
    let (mut n, mut agree, mut compared, mut compared_agree) = (0usize, 0usize, 0usize, 0usize);
    let (mut d_llama, mut d_cpu, mut d_cpu_llama) = (0f32, 0f32, 0f32);
    let all_logits = |s: &mut Session, tokens: &[u32]| -> anyhow::Result<Vec<f32>> {
        s.truncate(0);
        match s.feed(tokens, Readback::AllLogits)? {
            StepOutput::Logits(l) => Ok(l),
            _ => anyhow::bail!("logits expected"),
        }
    };
    for p in prompts {
        let tokens = ids(&p["token_ids"]);
        let want = tops(&p["top5_logits_per_position"]);
        let last = floats(&p["last_logits"]);
        let all = all_logits(&mut s, &tokens)?;
        let mut cpu_rows = None;
        if let Some((reference, exact_s)) = exact.as_mut() {
            let mut cache = reference.new_cache();
            let rows = tokens
                .iter()
                .map(|&t| reference.forward(&mut cache, t))
                .collect::<Result<Vec<_>, _>>()?;
            d_cpu = d_cpu.max(max_diff(&all_logits(exact_s, &tokens)?, &rows.concat()));
            cpu_rows = Some(rows);
        }
        for (i, got) in all.chunks_exact(vocab).enumerate() {
            let is_last = i + 1 == tokens.len() && last.len() == vocab;
            n += 1;
            let same = argmax(got) == want[i][0].0;
            agree += usize::from(same);
            if want[i][0].1 - want[i][1].1 >= args.near_tie {
                compared += 1;
                compared_agree += usize::from(same);
            }
            d_llama = d_llama.max(top_diff(got, &want[i]));
            if is_last {
                d_llama = d_llama.max(max_diff(got, &last));
            }
            if let Some(rows) = &cpu_rows {
                d_cpu_llama = d_cpu_llama.max(top_diff(&rows[i], &want[i]));
                if is_last {
                    d_cpu_llama = d_cpu_llama.max(max_diff(&rows[i], &last));
                }
            }
        }
    }
    let cpu = if exact.is_some() {
        format!(
            ", \"max_logit_diff_gpu_vs_cpu_reference\": {d_cpu:.2e}, \
             \"max_logit_diff_cpu_reference_vs_llama_cpp\": {d_cpu_llama:.4}"
        )
    } else {
        String::new()
    };
    println!(
        "{{\"positions\": {n}, \"top1_agreeing\": {agree}, \"top1_compared\": {compared}, \
         \"top1_compared_agreeing\": {compared_agree}, \"max_logit_diff_vs_llama_cpp\": {d_llama:.4}{cpu}}}"
    );
    Ok(true)
}
