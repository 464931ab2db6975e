#!/usr/bin/env python3
"""rewind's bench and llama.cpp's on the same model, in one run, with ratios.

    python3 scripts/bench_vs_llama_cpp.py [-m MODEL] [-p 128] [-n 64] [-r 5] [-t THREADS]

Runs, one after the other (never at the same time, so they don't share the
CPU):

1. `examples/bench` (rewind) once per `--rewind-devices` entry: `gpu` (WGSL
   on the best wgpu adapter, or `--backend`) and `cpu` (the native CPU path
   with `-t` threads, like llama.cpp), as JSON; with `--measure-bandwidth`
   the CPU run also measures the memory bandwidth and reports the fraction
   of the bandwidth bound its decode reaches;
2. llama.cpp's `llama-bench` when it is on PATH (`--llama-bench` names
   another binary), once per `--llama-backends` entry that the binary
   supports (its `-o json` output);
3. otherwise llama.cpp's CPU backend through llama-cpp-python, timed the
   way llama-bench does: pp = one batch of `-p` random tokens on an empty
   context, tg = `-n` single-token steps from an empty context, each
   repeated `-r` times after a warm-up.

Then prints one table and rewind's speed as a ratio of each llama.cpp row.
The machines these run on are shared and noisy: compare the ratios of one
run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def rewind_rows(args, device: str) -> list[dict]:
    cmd = [
        "cargo", "run", "--quiet", "--release", "--example", "bench", "--",
        "-m", str(args.model), "-p", str(args.n_prompt), "-n", str(args.n_gen),
        "-r", str(args.reps), "--rollback", "0", "--json", "--device", device,
    ]
    if device == "cpu":
        cmd += ["--threads", str(args.threads)]
        if args.measure_bandwidth:
            cmd += ["--measure-bandwidth"]
    if args.backend:
        cmd += ["--backend", args.backend]
    res = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    for line in res.stderr.splitlines():
        if "bandwidth" in line:
            print(line, file=sys.stderr)
    rows = []
    for line in res.stdout.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        rows.append({
            "engine": f"rewind ({r.get('path', device)})",
            "backend": r["adapter"],
            "test": r["test"],
            "tps": r["tokens_per_s"],
            "sd": r["stddev"],
            "bandwidth": r.get("bandwidth_fraction"),
        })
    return rows


def llama_bench_rows(binary: str, args) -> list[dict]:
    rows = []
    for backend in args.llama_backends.split(","):
        cmd = [
            binary, "-m", str(args.model), "-p", str(args.n_prompt), "-n", str(args.n_gen),
            "-r", str(args.reps), "-t", str(args.threads), "-o", "json",
        ]
        if backend == "cpu":
            cmd += ["-ngl", "0"]
        else:
            cmd += ["-ngl", "99"]
        env = dict(os.environ)
        if backend != "cpu":
            # llama-bench picks the GPU backend it was built with; a CPU-only
            # build fails here and the row is skipped.
            env.setdefault("GGML_VK_VISIBLE_DEVICES", "0")
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            print(f"llama-bench ({backend}) failed, skipped: {res.stderr.strip()[-300:]}", file=sys.stderr)
            continue
        for r in json.loads(res.stdout):
            test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
            rows.append({
                "engine": "llama.cpp",
                "backend": f"{r.get('backends', backend)}, {r.get('n_threads', args.threads)} threads",
                "test": test,
                "tps": r["avg_ts"],
                "sd": r["stddev_ts"],
            })
    return rows


def llama_cpp_python_rows(args) -> list[dict]:
    try:
        import llama_cpp
    except ImportError:
        print("neither llama-bench nor llama-cpp-python is installed: rewind only", file=sys.stderr)
        return []
    llm = llama_cpp.Llama(
        model_path=str(args.model),
        n_ctx=args.n_prompt + args.n_gen + 8,
        n_batch=max(args.n_prompt, 1),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=0,
        logits_all=False,
        verbose=False,
    )
    rng = random.Random(0)
    vocab = llm.n_vocab()

    def tokens(n):
        return [rng.randrange(vocab) for _ in range(n)]

    def pp():
        llm.reset()
        t = time.perf_counter()
        llm.eval(tokens(args.n_prompt))
        return args.n_prompt / (time.perf_counter() - t)

    def tg():
        llm.reset()
        t = time.perf_counter()
        for tok in tokens(args.n_gen):
            llm.eval([tok])
        return args.n_gen / (time.perf_counter() - t)

    rows = []
    for name, fn in (("pp", pp), ("tg", tg)):
        n = args.n_prompt if name == "pp" else args.n_gen
        if n == 0:
            continue
        fn()  # warm-up, like llama-bench
        runs = [fn() for _ in range(args.reps)]
        rows.append({
            "engine": "llama.cpp",
            "backend": f"CPU (llama-cpp-python {llama_cpp.__version__}), {args.threads} threads",
            "test": f"{name}{n}",
            "tps": statistics.mean(runs),
            "sd": statistics.stdev(runs) if len(runs) > 1 else 0.0,
        })
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("-p", "--n-prompt", type=int, default=128)
    ap.add_argument("-n", "--n-gen", type=int, default=64)
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("-t", "--threads", type=int, default=os.cpu_count() or 1,
                    help="CPU threads of llama.cpp and of rewind's CPU path")
    ap.add_argument("--backend", help="rewind's wgpu backend (vulkan, metal, dx12, gl)")
    ap.add_argument("--rewind-devices", default="gpu,cpu", help="rewind runs: gpu and/or cpu")
    ap.add_argument("--measure-bandwidth", action="store_true",
                    help="measure the memory bandwidth in rewind's CPU run and print the fraction of the bound")
    ap.add_argument("--llama-bench", default=shutil.which("llama-bench"), help="llama-bench binary")
    ap.add_argument("--llama-backends", default="cpu,gpu", help="llama-bench runs: cpu and/or gpu")
    args = ap.parse_args()
    if not args.model.is_file():
        print(f"error: model file {args.model} not found (models/fetch.sh fetches SmolLM2)", file=sys.stderr)
        return 1

    rows = []
    for device in args.rewind_devices.split(","):
        rows += rewind_rows(args, device)
    if args.llama_bench:
        rows += llama_bench_rows(args.llama_bench, args)
    else:
        rows += llama_cpp_python_rows(args)

    print(f"\nmodel: {args.model.name}, {args.reps} repetitions\n")
    print("| engine | backend | test | t/s | of bandwidth bound |")
    print("| --- | --- | --- | ---: | ---: |")
    for r in rows:
        bw = f"{100 * r['bandwidth']:.1f}%" if r.get("bandwidth") is not None and r["test"].startswith("tg") else ""
        print(f"| {r['engine']} | {r['backend']} | {r['test']} | {r['tps']:.2f} ± {r['sd']:.2f} | {bw} |")
    ours = [r for r in rows if r["engine"].startswith("rewind")]
    others = [r for r in rows if not r["engine"].startswith("rewind")]
    if ours and others:
        print("\n| rewind | vs | test | ratio |")
        print("| --- | --- | --- | ---: |")
        for o in ours:
            for r in others:
                if r["test"] == o["test"]:
                    print(f"| {o['engine']} | {r['engine']} {r['backend']} | {r['test']} | {o['tps'] / r['tps']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
