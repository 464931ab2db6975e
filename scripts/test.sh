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

say() { echo "test.sh: $*" >&2; }
die() {
    echo "test.sh: error: $*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Whether the dynamic linker knows a library (e.g. libvulkan.so.1).
have_lib() {
    local ldconfig
    ldconfig="$(command -v ldconfig || true)"
    [ -n "$ldconfig" ] || { [ -x /sbin/ldconfig ] && ldconfig=/sbin/ldconfig; }
    if [ -n "$ldconfig" ]; then
        "$ldconfig" -p 2>/dev/null | grep -qF "$1 "
    else
        compgen -G "/usr/lib/*/$1" >/dev/null || compgen -G "/usr/lib/$1" >/dev/null ||
            compgen -G "/usr/lib64/$1" >/dev/null
    fi
}

ensure_gpu_stack() {
    local missing=()
    compgen -G "/usr/share/vulkan/icd.d/lvp_icd.*.json" >/dev/null || missing+=("lavapipe ICD")
    have_lib libvulkan.so.1 || missing+=(libvulkan.so.1)
    have_lib libEGL.so.1 || missing+=(libEGL.so.1)
    have_lib libEGL_mesa.so.0 || missing+=(libEGL_mesa.so.0)
    [ ${#missing[@]} -eq 0 ] && return 0

    say "missing: ${missing[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        say "warning: no apt-get here; install a Vulkan driver and loader yourself (tests that need a GPU adapter will fail)"
        return 0
    fi
    say "installing Mesa's Vulkan (lavapipe) and EGL/GL drivers with apt-get"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri
}

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # rustup's environment, for shells that haven't loaded it yet.
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust (https://rustup.rs), then run this again"

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
