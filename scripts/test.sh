#!/usr/bin/env bash
# The project's test command: `scripts/test.sh [extra cargo test args]`.
#
# 0. Checks that cargo is installed (loading rustup's environment if needed).
# 1. Makes sure a Vulkan driver that needs no GPU (Mesa's lavapipe), the
#    Vulkan loader and Mesa's EGL/GL are installed, installing them with
#    apt-get on Debian/Ubuntu (through sudo when not root) if not.
# 2. Fetches the test model (models/fetch.sh; a no-op when it is there).
# 3. Runs `cargo fmt --check` and `cargo clippy` when those are installed,
#    so style failures show up fast.
# 4. Runs `cargo test --release` with the given arguments and exits with its
#    status.
#
# Safe to run repeatedly and from any directory. With TEST_SH_DRY_RUN=1 it
# does steps 1 and 2 and prints the cargo commands instead of running them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tool=test.sh
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

ensure_cargo
ensure_gpu_stack
bash models/fetch.sh

# Keep Mesa's device-select Vulkan layer out of the way: wgpu picks adapters itself.
export NODEVICE_SELECT=1

run() {
    say "+ $*"
    if [ "${TEST_SH_DRY_RUN:-0}" = 1 ]; then
        return 0
    fi
    "$@"
}

if cargo fmt --version >/dev/null 2>&1; then
    run cargo fmt --check
else
    say "rustfmt not installed; skipping cargo fmt --check"
fi
if cargo clippy --version >/dev/null 2>&1; then
    run cargo clippy --release --all-targets -- -D warnings
else
    say "clippy not installed; skipping cargo clippy"
fi

if [ "${TEST_SH_DRY_RUN:-0}" = 1 ]; then
    run cargo test --release "$@"
    exit 0
fi
say "+ cargo test --release $*"
exec cargo test --release "$@"
