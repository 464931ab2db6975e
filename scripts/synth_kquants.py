#!/usr/bin/env python3
"""Every K-quant type on real llama.cpp files: a synthetic Llama whose every
dimension is a multiple of 256 (so llama.cpp K-quantizes every matrix, unlike
SmolLM2's 576-wide rows), written in F16 by rewind's own GGUF writer
(examples/synth_model.rs), quantized by llama.cpp's quantizer, and rewind's
logits on each file compared with llama.cpp's.

Requirements: cargo, llama-cpp-python, numpy, the `gguf` package. Usage,
from anywhere:

    python3 scripts/synth_kquants.py [--compare-only]

Writes the files to target/synth_kquants/ (not part of the repository),
llama.cpp's logits (the top 5 at every position of 5 prompts of fixed token
ids; for F16 also the whole last row) with the seed, shape, each file's
sha256 and tensor types to tests/data/synth_kquants_llama_cpp.json (the
F16 part is what tests/kquants.rs checks rewind against, after regenerating
the F16 file in memory and checking its sha256), and prints a Markdown
table (`--compare-only`: from the files and data already there). Exits non-zero when rewind's logits differ from llama.cpp's by more
than the tolerance of the type (below) or when rewind's GPU forward differs
from its f32 CPU reference by more than REFERENCE_TOLERANCE. rewind runs its
GPU path (WGSL, lavapipe where there is no GPU), which computes in f32 like
the reference; the native CPU path rounds activations to 8 bits, and its
kernels are checked type by type against the reference in the unit tests and
on real files by `scripts/variants.py --device cpu`.
"""

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "target", "synth_kquants")
DATA = os.path.join(ROOT, "tests", "data", "synth_kquants_llama_cpp.json")
SEED = 1
SHAPE = {"n_layer": 2, "n_embd": 256, "n_ff": 768, "n_head": 4, "n_head_kv": 2, "vocab": 512, "untied": True}
TYPES = ["F16", "Q2_K", "Q3_K_M", "Q4_K_S", "Q5_K_M", "Q6_K", "Q5_0", "Q5_1"]
PROMPTS = [
    ("fox", "The quick brown fox jumps"),
    ("code", "fn main() { let x = 1; }"),
    ("digits", "3.14159 2.71828 1.41421"),
    ("chat", "\u0101user\nHi there!\u0102\n"),
    ("mixed", "Zebra? yes: 42 % OK."),
]
# Largest |rewind - llama.cpp| allowed over llama.cpp's top 5 at every
# position (and the whole last row for F16). llama.cpp's CPU backend rounds
# the activations before every mat-mul: to f16 for F16 weights, to 8 bits
# (Q8_0 / Q8_K blocks) for quantized ones; rewind keeps them in f32, and its
# f32 CPU reference agrees with its GPU forward to ~1e-5, so the whole gap is
# llama.cpp's rounding. Measured: 0.0043 for F16, 0.056-0.082 for the
# quantized files (llama.cpp's own logits move by up to 0.12 between its
# flash-attention settings); the bounds are about twice the measured
# differences. The argmax
# must equal llama.cpp's wherever llama.cpp's top two are at least twice
# the bound apart (closer, two logits each within the bound may swap).
LLAMA_TOLERANCE = {"F16": 0.01}
LLAMA_TOLERANCE_QUANTIZED = 0.15
# GPU (f32 KV cache) vs the f32 CPU reference: summation order only.
REFERENCE_TOLERANCE = 1e-3


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensor_types(path):
    from gguf import GGUFReader

    c = Counter(t.tensor_type.name for t in GGUFReader(path).tensors)
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def token_ids(text):
    # The synthetic vocabulary: ids 0..255 are the bytes, 256.. the specials
    # (U+0101/U+0102 here stand for <|im_start|>/<|im_end|>).
    out = []
    for ch in text:
        if ch == "\u0101":
            out.append(257)
        elif ch == "\u0102":
            out.append(258)
        else:
            out.extend(ch.encode())
    return out


def quantize(src, dst, name):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}")
    params.nthread = os.cpu_count() or 2
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize {name}: {rc}")


def top5(row):
    order = np.argsort(-row, kind="stable")[:5]
    return [[int(i), round(float(row[i]), 4)] for i in order]


def llama_cpp_logits(path, with_last):
    import llama_cpp

    runs, delta = [], 0.0
    models = [
        llama_cpp.Llama(
            model_path=path, n_ctx=128, n_batch=128, n_threads=os.cpu_count() or 2,
            flash_attn=fa, logits_all=True, verbose=False,
        )
        for fa in (True, False)
    ]
    for pid, text in PROMPTS:
        ids = token_ids(text)
        rows = []
        for m in models:
            m.reset()
            m.eval(ids)
            rows.append(np.array(m.scores[: len(ids)], dtype=np.float32))
        delta = max(delta, float(np.abs(rows[0] - rows[1]).max()))
        run = {"id": pid, "token_ids": ids, "top5_logits_per_position": [top5(r) for r in rows[0]]}
        if with_last:
            run["last_logits"] = [round(float(x), 4) for x in rows[0][-1]]
        runs.append(run)
    return runs, delta


def main(argv):
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--example", "synth_model", "--example", "greedy_check"],
        cwd=ROOT,
        check=True,
    )
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples")
    if "--compare-only" in argv:
        with open(DATA) as f:
            doc = json.load(f)
    else:
        doc = generate(exe)
    return compare(exe, doc)


def generate(exe):
    os.makedirs(DIR, exist_ok=True)
    f16 = os.path.join(DIR, "synth.F16.gguf")
    args = [f"--{k.replace('_', '-')}" for k, v in SHAPE.items() if v is True]
    args += [a for k, v in SHAPE.items() if v is not True for a in (f"--{k.replace('_', '-')}", str(v))]
    subprocess.run([os.path.join(exe, "synth_model"), "-o", f16, "--type", "F16", "--seed", str(SEED), *args], check=True)
    doc = {
        "note": "llama.cpp (llama-cpp-python) logits of a synthetic Llama written by examples/synth_model.rs and "
        "quantized by llama_model_quantize; flash attention on, the prompt in one batch; "
        "flash_attn_delta: the largest change of any logit with flash attention off. "
        "Regenerate with scripts/synth_kquants.py.",
        "seed": SEED,
        "shape": SHAPE,
        "files": {},
    }
    for t in TYPES:
        path = f16 if t == "F16" else os.path.join(DIR, f"synth.{t}.gguf")
        if t != "F16":
            quantize(f16, path, t)
        runs, delta = llama_cpp_logits(path, t == "F16")
        doc["files"][t] = {
            "file": os.path.basename(path),
            "bytes": os.path.getsize(path),
            "sha256": sha256(path),
            "tensor_types": tensor_types(path),
            "flash_attn_delta": round(delta, 4),
            "prompts": runs,
        }
        print(f"{t}: llama.cpp done", file=sys.stderr, flush=True)
    with open(DATA, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    return doc


def compare(exe, doc):
    rows, failed = [], False
    for t in TYPES:
        info = doc["files"][t]
        path = os.path.join(DIR, info["file"])
        tol = LLAMA_TOLERANCE.get(t, LLAMA_TOLERANCE_QUANTIZED)
        r = subprocess.run(
            [os.path.join(exe, "greedy_check"), "-m", path, "--reference", DATA, "--runs", t,
             "--positions", "--cpu-reference", "--near-tie", str(2 * tol), "--device", "gpu"],
            cwd=ROOT, capture_output=True, text=True,
        )
        if r.returncode != 0:
            rows.append(f"| {t} | failed: {r.stderr.strip().splitlines()[-1:]} | | | | | |")
            failed = True
            continue
        g = json.loads(r.stdout)
        bad = (
            g["max_logit_diff_vs_llama_cpp"] > tol
            or g["max_logit_diff_gpu_vs_cpu_reference"] > REFERENCE_TOLERANCE
            or g["top1_compared_agreeing"] != g["top1_compared"]
        )
        failed |= bad
        types = " ".join(f"{k}×{v}" for k, v in info["tensor_types"].items())
        rows.append(
            f"| {t} | {types} | {info['bytes'] / 2**20:.2f} MiB | {g['top1_agreeing']}/{g['positions']} "
            f"({g['top1_compared_agreeing']}/{g['top1_compared']}) | "
            f"{g['max_logit_diff_vs_llama_cpp']:.4f} (≤ {tol}) | {g['max_logit_diff_cpu_reference_vs_llama_cpp']:.4f} | "
            f"{g['max_logit_diff_gpu_vs_cpu_reference']:.1e} | {info['flash_attn_delta']:.4f} |{' FAILED' if bad else ''}"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"Synthetic Llama {SHAPE}, seed {SEED}: rewind vs llama.cpp, {len(PROMPTS)} prompts, every position\n")
    print(
        "| type | tensor types | file | top-1 agreeing (where llama.cpp's top two ≥ 2×bound apart) | max \\|Δlogit\\| rewind GPU vs llama.cpp | "
        "rewind f32 CPU reference vs llama.cpp | rewind GPU vs CPU reference | llama.cpp, flash attn on vs off |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
