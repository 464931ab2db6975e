#!/usr/bin/env bash
# Chat with a model: `scripts/chat.sh [chat flags]` (see `--help`).
#
# On Linux, installs Mesa's Vulkan drivers when no Vulkan driver is present
# (so a machine without a GPU runs on lavapipe, the CPU), fetches
# SmolLM2-135M-Instruct (models/fetch.sh) when -m/--model names it (the
# default model, models/demo-backtrack.gguf, is in the repository), builds the
# chat example in release mode and runs it with the given flags.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tool=chat.sh
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

ensure_cargo
if [ "$(uname -s)" = Linux ]; then
    ensure_gpu_stack
    export NODEVICE_SELECT=1
fi
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
