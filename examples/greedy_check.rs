//! Greedy decoding of a model against llama.cpp's greedy runs of the same
//! prompts (the format of tests/data/smollm2_greedy.json: prompt ids, the
//! generated ids, the top-5 logits of every step), checked the way
//! tests/smollm2.rs checks the Q4_1 file:
//!
//! * teacher-forced on llama.cpp's tokens, every step's logits are compared
//!   on llama.cpp's top 5, and the argmax must equal llama.cpp's token
//!   wherever llama.cpp's own top two are at least `--near-tie` apart;
//! * free-running, the tokens must equal llama.cpp's up to its first near
//!   tie.
//!
//! Prints one JSON object with the counts; exits with 1 when a check fails.
//!
//!     cargo run --release --example greedy_check -- -m models/X.gguf \
//!         --reference tests/data/smollm2_greedy.json --runs Q8_0

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rewind::model::{LoadOptions, Model, Readback, StepOutput};
use rewind::session::{Session, SessionOptions};
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(about = "Greedy decoding against llama.cpp's reference runs")]
struct Args {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// JSON file with `runs.<KEY>`: a list of runs.
    #[arg(long)]
    reference: PathBuf,
    /// Which runs of the file.
    #[arg(long)]
    runs: String,
    /// llama.cpp top-two gap below which its 8-bit activation rounding may
    /// flip the argmax.
    #[arg(long, default_value_t = 0.25)]
    near_tie: f32,
}

struct Run {
    id: String,
    prompt: Vec<u32>,
    tokens: Vec<u32>,
    top5: Vec<Vec<(u32, f32)>>,
}

fn parse_runs(doc: &Value, key: &str) -> anyhow::Result<Vec<Run>> {
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = doc["runs"][key]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no runs.{key} in the reference"))?;
    Ok(list
        .iter()
        .map(|r| Run {
            id: r["id"].as_str().unwrap_or("?").to_string(),
            prompt: ids(&r["prompt_ids"]),
            tokens: ids(&r["generated_ids"]),
            top5: r["top5_logits_per_step"]
                .as_array()
                .map(|steps| {
                    steps
                        .iter()
                        .map(|s| {
                            s.as_array()
                                .map(|p| {
                                    p.iter()
                                        .map(|p| {
                                            (
                                                p[0].as_u64().unwrap_or(0) as u32,
                                                p[1].as_f64().unwrap_or(0.0) as f32,
                                            )
                                        })
                                        .collect()
                                })
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

fn argmax(l: &[f32]) -> u32 {
    (0..l.len()).fold(0, |m, i| if l[i] > l[m] { i } else { m }) as u32
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<bool> {
    let doc: Value = serde_json::from_slice(&std::fs::read(&args.reference)?)?;
    let runs = parse_runs(&doc, &args.runs)?;
    let model = Model::load(&args.model, &LoadOptions::default())?;
    let mut s = Session::new(&model, &SessionOptions::default())?;
    let (mut steps, mut compared, mut flips, mut max_diff) = (0usize, 0usize, 0usize, 0f32);
    let (mut free_ok, mut free_tokens) = (0usize, 0usize);
    for run in &runs {
        let gap = |i: usize| run.top5[i][0].1 - run.top5[i][1].1;
        // Teacher-forced.
        s.truncate(0);
        let mut logits = s.logits_after(&run.prompt)?;
        for (i, &want) in run.tokens.iter().enumerate() {
            let d = run.top5[i]
                .iter()
                .map(|&(id, v)| (logits[id as usize] - v).abs())
                .fold(0.0, f32::max);
            max_diff = max_diff.max(d);
            steps += 1;
            if gap(i) >= args.near_tie {
                compared += 1;
                if argmax(&logits) != want {
                    flips += 1;
                    eprintln!(
                        "{} step {i}: argmax {} vs llama.cpp {want} (gap {})",
                        run.id,
                        argmax(&logits),
                        gap(i)
                    );
                }
            }
            logits = s.logits_after(&[want])?;
        }
        // Free-running up to llama.cpp's first near tie.
        let tie = (0..run.tokens.len())
            .find(|&i| gap(i) < args.near_tie)
            .unwrap_or(run.tokens.len());
        s.truncate(0);
        let mut out = s.feed(&run.prompt, Readback::Argmax)?;
        let mut ours = Vec::new();
        while ours.len() < tie {
            let StepOutput::Argmax(t) = out else {
                anyhow::bail!("argmax expected");
            };
            ours.push(t);
            out = s.feed(&[t], Readback::Argmax)?;
        }
        free_tokens += tie;
        if ours == run.tokens[..tie] {
            free_ok += 1;
        } else {
            eprintln!(
                "{}: free-running tokens differ before the first near tie",
                run.id
            );
        }
    }
    println!(
        "{{\"runs\": {}, \"steps\": {steps}, \"argmax_compared\": {compared}, \"argmax_flips\": {flips}, \
         \"max_top5_logit_diff\": {max_diff:.4}, \"free_running_identical\": {free_ok}, \"free_running_tokens\": {free_tokens}}}",
        runs.len()
    );
    Ok(flips == 0 && free_ok == runs.len())
}
