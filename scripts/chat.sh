#!/usr/bin/env bash
# Chat with a model: `scripts/chat.sh [chat flags]` (see `--help`).
#
# Fetches SmolLM2-135M-Instruct (models/fetch.sh) when -m/--model names it
# (the default model, models/demo-backtrack.gguf, is in the repository),
# builds the chat example in release mode and runs it with the given flags.
# It runs on the GPU when wgpu finds one (Vulkan, Metal, DX12, GL), and on
# the native CPU path otherwise, which needs no driver: on a machine without
# a GPU nothing is installed (a software Vulkan driver such as lavapipe, if
# present, is a CPU adapter, and the CPU path is the faster one there). The
# chat prints which path runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tool=chat.sh
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

ensure_cargo
# Silences Mesa's device-select layer where it is installed.
export NODEVICE_SELECT=1
needs_smollm2=0
prev=
for arg in "$@"; do
    case "$prev=$arg" in
    -m=*SmolLM2-135M-Instruct.Q4_1.gguf | --model=*SmolLM2-135M-Instruct.Q4_1.gguf) needs_smollm2=1 ;;
    esac
    case "$arg" in
    --model=*SmolLM2-135M-Instruct.Q4_1.gguf) needs_smollm2=1 ;;
    esac
    prev="$arg"
done
[ "$needs_smollm2" = 0 ] || bash models/fetch.sh

# Build with cargo's progress on stderr (the first build takes minutes),
# then run: stdout carries only the answer.
say "building the chat example (cargo build --release --example chat)"
cargo build --release --example chat
say "starting the chat"
exec cargo run --quiet --release --example chat -- "$@"
