#!/usr/bin/env bash
# Chat with a model: `scripts/chat.sh [chat flags]` (see `--help`).
#
# On Linux, installs Mesa's Vulkan drivers when no Vulkan driver is present
# (so a machine without a GPU runs on lavapipe, the CPU), fetches the default
# model (models/fetch.sh) unless -m/--model names another, builds the chat
# example in release mode and runs it with the given flags.
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
custom_model=0
for arg in "$@"; do
    case "$arg" in
    -m | --model | --model=* | -h | --help) custom_model=1 ;;
    esac
done
[ "$custom_model" = 1 ] || bash models/fetch.sh

exec cargo run --quiet --release --example chat -- "$@"
