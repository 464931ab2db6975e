#!/usr/bin/env python3
"""llama.cpp's greedy decoding of the test prompts for each quantization
variant of the test model, as reference data for scripts/variants.py.

For every variant (Q4_1 and Q8_0 included) this makes the runs of
tests/data/smollm2_greedy.json through llama-cpp-python: same prompt ids,
32 tokens, end-of-generation not stopped at, the top-5 logits of every step,
with flash attention on (as the stored runs and llama-perplexity do). It then
feeds the same tokens again with flash attention off (teacher-forced, one
token per step like the greedy run) and records, per step, how far
llama.cpp's own logits move between the two settings: the largest
|on - off| over the union of both settings' top 5. That is the noise
llama.cpp's reference carries at that step; variants.py counts a step as a
near tie when llama.cpp's top-2 gap is below max(0.25, that change).

It checks on Q4_1 and Q8_0 that it reproduces the stored runs.

Requirements: llama-cpp-python, numpy, the variants
(scripts/make_variants.py). Usage, from anywhere:

    python3 scripts/llama_cpp_greedy.py [TYPE ...]

Writes models/.cache/greedy_llama_cpp.json (not part of the repository):
{"runs": {TYPE: [{"id", "prompt_ids", "generated_ids",
"top5_logits_per_step", "flash_attn_off_top5_logits_per_step",
"flash_attn_delta_per_step"}, ...]}}, merged into the existing file.
"""

import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "SmolLM2-135M-Instruct."
OUT = os.path.join(ROOT, "models", ".cache", "greedy_llama_cpp.json")
STEPS = 32


def load(path, flash_attn):
    import llama_cpp

    return llama_cpp.Llama(
        model_path=path,
        n_ctx=512,
        n_batch=512,
        n_threads=os.cpu_count() or 2,
        flash_attn=flash_attn,
        logits_all=True,
        verbose=False,
    )


def top5(logits):
    order = np.argsort(-logits, kind="stable")[:5]
    return [[int(i), round(float(logits[i]), 4)] for i in order]


def greedy(path, prompts):
    on, off = load(path, True), load(path, False)
    runs = []
    for p in prompts:
        # Free-running greedy decoding, flash attention on.
        on.reset()
        on.eval(p["prompt_ids"])
        ids, per_step = [], []
        for _ in range(STEPS):
            logits = np.array(on.scores[on.n_tokens - 1], dtype=np.float32)
            per_step.append(logits)
            ids.append(int(np.argmax(logits)))
            on.eval([ids[-1]])
        # The same tokens, teacher-forced, flash attention off.
        off.reset()
        off.eval(p["prompt_ids"])
        off_top, delta = [], []
        for i, logits in enumerate(per_step):
            other = np.array(off.scores[off.n_tokens - 1], dtype=np.float32)
            both = {t for t, _ in top5(logits)} | {t for t, _ in top5(other)}
            delta.append(round(max(float(abs(logits[t] - other[t])) for t in both), 4))
            off_top.append(top5(other))
            off.eval([ids[i]])
        runs.append(
            {
                "id": p["id"],
                "prompt_ids": p["prompt_ids"],
                "generated_ids": ids,
                "top5_logits_per_step": [top5(x) for x in per_step],
                "flash_attn_off_top5_logits_per_step": off_top,
                "flash_attn_delta_per_step": delta,
            }
        )
    return runs


def main(types):
    with open(os.path.join(ROOT, "tests", "data", "smollm2_greedy.json")) as f:
        stored = json.load(f)["runs"]
    prompts = stored["Q4_1"]
    doc = {"runs": {}}
    if os.path.isfile(OUT):
        with open(OUT) as f:
            doc = json.load(f)
    models = sorted(
        name[len(PREFIX) : -len(".gguf")]
        for name in os.listdir(os.path.join(ROOT, "models"))
        if name.startswith(PREFIX) and name.endswith(".gguf")
    )
    for t in types or models:
        runs = greedy(os.path.join(ROOT, "models", f"{PREFIX}{t}.gguf"), prompts)
        if t in stored:
            # The generator against llama.cpp's own stored run.
            worst, same = 0.0, 0
            for ours, theirs in zip(runs, stored[t]):
                for a, b in zip(ours["top5_logits_per_step"], theirs["top5_logits_per_step"]):
                    worst = max(worst, abs(a[0][1] - b[0][1]))
                same += ours["generated_ids"] == theirs["generated_ids"]
            print(f"{t}: {same}/{len(runs)} runs identical to the stored ones, top logit within {worst:.4f}")
        doc["runs"][t] = runs
        delta = max(d for r in runs for d in r["flash_attn_delta_per_step"])
        print(f"{t}: done; llama.cpp's logits move by up to {delta:.2f} with flash attention off", flush=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
