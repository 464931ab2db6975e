#!/usr/bin/env python3
"""llama.cpp's greedy decoding of the test prompts for each quantization
variant of the test model, as reference data for scripts/variants.py.

tests/data/smollm2_greedy.json holds llama.cpp's greedy runs for the Q4_1
file and its Q8_0 requantization; this makes the same runs (same prompt ids,
32 tokens, end-of-generation not stopped at, the top-5 logits of every step)
for the other variants through llama-cpp-python, and checks on Q8_0 that it
reproduces the stored data.

Requirements: llama-cpp-python, numpy, the variants
(scripts/make_variants.py). Usage, from anywhere:

    python3 scripts/llama_cpp_greedy.py [TYPE ...]

Writes models/.cache/greedy_llama_cpp.json (not part of the repository):
{"runs": {TYPE: [{"id", "prompt_ids", "generated_ids",
"top5_logits_per_step"}, ...]}}, merged into the existing file.
"""

import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "SmolLM2-135M-Instruct."
OUT = os.path.join(ROOT, "models", ".cache", "greedy_llama_cpp.json")
STEPS = 32


def greedy(path, prompts):
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=path, n_ctx=512, n_batch=512, n_threads=2, flash_attn=True, logits_all=True, verbose=False
    )
    runs = []
    for p in prompts:
        llm.reset()
        llm.eval(p["prompt_ids"])
        ids, tops = [], []
        for _ in range(STEPS):
            logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            order = np.argsort(-logits, kind="stable")[:5]
            tops.append([[int(i), round(float(logits[i]), 4)] for i in order])
            ids.append(int(order[0]))
            llm.eval([ids[-1]])
        runs.append({"id": p["id"], "prompt_ids": p["prompt_ids"], "generated_ids": ids, "top5_logits_per_step": tops})
    return runs


def main(types):
    with open(os.path.join(ROOT, "tests", "data", "smollm2_greedy.json")) as f:
        stored = json.load(f)["runs"]
    prompts = stored["Q4_1"]
    # The generator against llama.cpp's own stored run.
    check = greedy(os.path.join(ROOT, "models", f"{PREFIX}Q8_0.gguf"), prompts)
    worst = 0.0
    for ours, theirs in zip(check, stored["Q8_0"]):
        for a, b in zip(ours["top5_logits_per_step"], theirs["top5_logits_per_step"]):
            worst = max(worst, abs(a[0][1] - b[0][1]))
        same = ours["generated_ids"] == theirs["generated_ids"]
        print(f"Q8_0 {ours['id']}: tokens {'identical' if same else 'DIFFER'} to the stored run")
    print(f"Q8_0: top logit within {worst:.4f} of the stored run")
    doc = {"runs": {}}
    if os.path.isfile(OUT):
        with open(OUT) as f:
            doc = json.load(f)
    models = sorted(
        name[len(PREFIX) : -len(".gguf")]
        for name in os.listdir(os.path.join(ROOT, "models"))
        if name.startswith(PREFIX) and name.endswith(".gguf")
    )
    for t in types or [m for m in models if m not in stored]:
        doc["runs"][t] = greedy(os.path.join(ROOT, "models", f"{PREFIX}{t}.gguf"), prompts)
        print(f"{t}: done", flush=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
