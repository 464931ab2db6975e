//! SmolLM2-135M-Instruct (Q4_1) against llama.cpp: greedy decoding of 8 chat
//! prompts and the top-5 logits of every step (tests/data/smollm2_greedy.json,
//! produced by llama.cpp's CPU backend on the same file).
//!
//! Token rule: rewind's greedy tokens equal llama.cpp's up to the first
//! end-of-turn token; past it, up to the first step where llama.cpp's top two
//! logits are within 0.1 (a near tie that rounding may flip).
//!
//! Logit tolerance: llama.cpp's CPU backend multiplies Q4_1 weights with
//! activations quantized to 8 bits (Q8_1) while rewind keeps activations in
//! f32, so logits (magnitude ~10-30) differ by rounding of that order; see
//! LOGIT_TOL.

mod common;

use rewind::model::{LoadOptions, Model, Readback, StepOutput};
use rewind::session::{Session, SessionOptions};
use serde_json::Value;

/// Largest allowed |rewind - llama.cpp| on any of llama.cpp's top-5 logits.
const LOGIT_TOL: f32 = 0.5;
const NEAR_TIE: f64 = 0.1;

struct Run {
    id: String,
    prompt_ids: Vec<u32>,
    generated: Vec<u32>,
    /// Per step: llama.cpp's top 5 (id, logit), best first.
    top5: Vec<Vec<(u32, f32)>>,
}

fn runs(quant: &str) -> Vec<Run> {
    let text = std::fs::read_to_string(common::data_path("smollm2_greedy.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let ids = |v: &Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
    json["runs"][quant]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Run {
            id: r["id"].as_str().unwrap().to_string(),
            prompt_ids: ids(&r["prompt_ids"]),
            generated: ids(&r["generated_ids"]),
            top5: r["top5_logits_per_step"]
                .as_array()
                .unwrap()
                .iter()
                .map(|step| {
                    step.as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_f64().unwrap() as f32))
                        .collect()
                })
                .collect(),
        })
        .collect()
}

/// Steps whose greedy token must match: up to the first end-of-turn token,
/// then up to (excluding) the first near tie.
fn steps_to_match(run: &Run, eog: &[u32]) -> usize {
    let first_eog = run.generated.iter().position(|t| eog.contains(t));
    (0..run.generated.len())
        .find(|&i| {
            let past_eog = first_eog.is_some_and(|e| i > e);
            let tie = (run.top5[i][0].1 - run.top5[i][1].1) as f64 <= NEAR_TIE;
            past_eog && tie
        })
        .unwrap_or(run.generated.len())
}

fn load() -> Model {
    Model::load(common::smollm2_path(), &LoadOptions::default()).expect("load SmolLM2")
}

#[test]
fn greedy_decoding_matches_llama_cpp() {
    let model = load();
    let eog = model.tokenizer().eog_tokens().to_vec();
    let runs = runs("Q4_1");
    assert!(runs.len() >= 6);
    let mut session = Session::new(&model, &SessionOptions::default()).unwrap();
    for run in &runs {
        session.truncate(0);
        let n = steps_to_match(run, &eog);
        assert!(n > 0, "{}: nothing to compare", run.id);
        let mut out = session.feed(&run.prompt_ids, Readback::Argmax).unwrap();
        let mut ours = Vec::new();
        for _ in 0..n {
            let StepOutput::Argmax(t) = out else { panic!("argmax expected") };
            ours.push(t);
            out = session.feed(&[t], Readback::Argmax).unwrap();
        }
        assert_eq!(ours, run.generated[..n], "{}: greedy tokens differ (compared {n} steps)", run.id);
    }
}

#[test]
fn logits_match_llama_cpp_top5_at_every_step() {
    let model = load();
    let mut session = Session::new(&model, &SessionOptions::default()).unwrap();
    let mut worst = (0.0f32, String::new());
    for run in runs("Q4_1") {
        session.truncate(0);
        // Teacher-forced: feed llama.cpp's own tokens so both see the same context.
        let mut logits = session.logits_after(&run.prompt_ids).unwrap();
        for (i, top) in run.top5.iter().enumerate() {
            for &(id, want) in top {
                let d = (logits[id as usize] - want).abs();
                if d > worst.0 {
                    worst = (d, format!("{} step {i} token {id}: {} vs {want}", run.id, logits[id as usize]));
                }
            }
            logits = session.logits_after(&[run.generated[i]]).unwrap();
        }
    }
    eprintln!("largest logit difference: {} ({})", worst.0, worst.1);
    assert!(worst.0 <= LOGIT_TOL, "logits differ from llama.cpp's by {} at {}", worst.0, worst.1);
}
