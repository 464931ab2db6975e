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
# 4. Runs `cargo test --release` with the given arguments.
# 5. Tests the C ABI and the JVM binding (ffi/test.sh: the C test program,
#    also under valgrind, the Java test through JNI, the library sizes, and
#    the static library built for Android and iOS), installing gcc, a JDK
#    and valgrind where missing. TEST_SH_FFI=0 skips it.
# 6. Where llama.cpp's Python API is installed (`pip install
#    llama-cpp-python gguf`; set TEST_SH_LLAMA_CPP=0 to skip), the checks
#    that need its quantizer: makes the Q8_0, Q4_K_M and Q6_K requantizations
#    of the test model (models/, not committed) and checks their perplexity
#    and greedy decoding against llama.cpp's (scripts/variants.py: the GPU
#    path and the CPU path), then the synthetic model in every K-quant type
#    (scripts/synth_kquants.py).
#    Without it, says so and stops after step 5.
#
# Exits with the first failing step's status.
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
    run cargo fmt --all --check
else
    say "rustfmt not installed; skipping cargo fmt --check"
fi
if cargo clippy --version >/dev/null 2>&1; then
    run cargo clippy --release --workspace --all-targets --all-features -- -D warnings
else
    say "clippy not installed; skipping cargo clippy"
fi

if [ "${TEST_SH_DRY_RUN:-0}" = 1 ]; then
    run cargo test --release "$@"
    run bash ffi/test.sh
    exit 0
fi
run cargo test --release "$@"
if [ "${TEST_SH_FFI:-1}" = 1 ]; then
    run bash ffi/test.sh
fi

if [ "${TEST_SH_LLAMA_CPP:-1}" = 0 ]; then
    exit 0
fi
if ! python3 -c 'import llama_cpp, gguf' >/dev/null 2>&1; then
    say "llama-cpp-python not installed: skipping the checks against llama.cpp's quantizer (scripts/variants.py, scripts/synth_kquants.py)"
    exit 0
fi
run python3 scripts/make_variants.py Q8_0 Q4_K_M Q6_K
run python3 scripts/variants.py --device gpu --int8 off --greedy --only Q4_1,Q8_0,Q4_K_M,Q6_K
run python3 scripts/variants.py --device cpu --greedy --only Q4_1,Q8_0,Q4_K_M,Q6_K
run python3 scripts/synth_kquants.py
