#!/usr/bin/env bash
# One command for a machine with a real GPU:
#
#     scripts/gpu-check.sh [--bandwidth-gbs N] [--quick]
#
# 1. Runs the kernel and forward tests on the best wgpu adapter (the tests'
#    default adapter): every kernel against the CPU reference, the 8-bit
#    matmuls (decode and prefill), the whole forward on tiny models of every
#    type.
# 2. Runs the bench on the GPU path (`--device gpu`) on SmolLM2-135M Q4_1
#    (pp512, tg128) and on a random Llama-3.2-1B-shaped Q4_0 model (pp512,
#    tg64), each with the 8-bit-activation matmuls forced off, forced on, and
#    as the load-time measurement chooses.
# 3. Prints one Markdown table: t/s, and with `--bandwidth-gbs` (the card's
#    memory bandwidth, from its data sheet: a GPU's can't be measured from
#    the host the way the bench measures a CPU's) the fraction of the
#    bandwidth bound each decode reaches.
#
# `--quick` runs fewer, shorter bench tests (to try the script on a slow
# adapter such as lavapipe). Budget on a current GPU: the test build and
# run take most of the time, the benches about a minute.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tool=gpu-check.sh
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

bandwidth=()
pp=512 tg=128 tg_1b=64 reps=3
while [ $# -gt 0 ]; do
    case "$1" in
        --bandwidth-gbs) bandwidth=(--bandwidth-gbs "$2"); shift 2 ;;
        --quick) pp=64 tg=16 tg_1b=8 reps=1; shift ;;
        *) die "unknown argument $1 (--bandwidth-gbs N, --quick)" ;;
    esac
done

ensure_cargo
bash models/fetch.sh
export NODEVICE_SELECT=1

say "kernel and forward tests on the default adapter"
cargo test --release --test gpu_kernels --test gpu_int8 --test forward --test kquants >&2

cargo build --release --quiet --example bench
bench="${CARGO_TARGET_DIR:-$root/target}/release/examples/bench"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for model in smollm2 llama32-1b; do
    for int8 in off on auto; do
        case "$model" in
            smollm2) what=(-m models/SmolLM2-135M-Instruct.Q4_1.gguf -n "$tg") ;;
            *) what=(--synth llama32-1b --type Q4_0 -n "$tg_1b") ;;
        esac
        say "bench: $model, --int8 $int8"
        "$bench" "${what[@]}" --device gpu -p "$pp" -r "$reps" --rollback 0 --json \
            --int8 "$int8" "${bandwidth[@]}" | sed "s/^{/{\"int8\":\"$int8\",/" >>"$out"
    done
done

python3 - "$out" <<'EOF'
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"adapter: {rows[0]['adapter']}\n")
print("| model | test | 8-bit activations | t/s | of bandwidth bound |")
print("|---|---|---|---:|---:|")
for r in rows:
    frac = r.get("bandwidth_fraction")
    cell = f"{100 * frac:.1f}%" if frac is not None else ""
    print(f"| {r['model']} ({r['type']}) | {r['test']} | {r['int8']} | "
          f"{r['tokens_per_s']:.1f} ± {r['stddev']:.1f} | {cell} |")
EOF
