#!/usr/bin/env bash
# Tests of the C ABI and the JVM binding (scripts/test.sh runs this after
# `cargo test`; it can also run alone): `bash ffi/test.sh`.
#
# 1. `cargo test -p rewind-ffi` (its unit tests, and include/rewind.h
#    against what cbindgen makes of the code).
# 2. Builds the library once, in release with the `jni` feature: the static
#    library and the cdylib.
# 3. C: compiles examples/c/rewind_test.c and examples/c/chat.c with the
#    system compiler against the static library and include/rewind.h (with
#    -Wall -Wextra -Werror) and runs them on the demo model, the test on
#    both compute paths (WGSL on the GPU adapter, and the native CPU path),
#    then again under valgrind memcheck (the GPU path with --quick: fewer
#    tokens), failing on any invalid access or a block definitely lost.
# 4. Java: compiles ffi/java/ with javac (-Xlint:all -Werror) and runs its
#    test through the cdylib on both paths, with -Xcheck:jni.
# 5. Reports the sizes of the libraries (the cdylib stripped).
# 6. Builds the static library for aarch64-linux-android (with `jni`) and
#    aarch64-apple-ios (rustup installs the targets; no NDK or Xcode is
#    needed for a static library), and checks with `cargo tree` that no
#    CLI-only crate is linked in.
#
# Needs the Vulkan driver scripts/test.sh installs; installs gcc, a JDK and
# valgrind where missing. TEST_SH_CROSS=0 skips step 6 (it needs the
# network for the targets the first time).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tool=ffi/test.sh
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

ensure_cargo
ensure_ffi_tools
export NODEVICE_SELECT=1

target="${CARGO_TARGET_DIR:-$root/target}"
release="$target/release"
out="$target/ffi-test"
model=models/demo-backtrack.gguf
mkdir -p "$out"

run() {
    say "+ $*"
    "$@"
}

# 1-2.
run cargo test --release -p rewind-ffi --features jni
run cargo build --release -p rewind-ffi --features jni

# 3. What a Rust static library needs from the system on Linux (`cargo rustc
#    -- --print native-static-libs`).
libs=(-ldl -lgcc_s -lutil -lrt -lpthread -lm -lc)
cflags=(-std=c11 -O1 -g -Wall -Wextra -Werror -Iinclude)
run cc "${cflags[@]}" examples/c/rewind_test.c "$release/librewind_ffi.a" "${libs[@]}" -o "$out/rewind_test"
run cc "${cflags[@]}" examples/c/chat.c "$release/librewind_ffi.a" "${libs[@]}" -o "$out/chat"
run "$out/rewind_test" --device gpu "$model"
run "$out/rewind_test" --device cpu "$model"
run "$out/chat" "$model" >"$out/chat.txt"
grep -q '\[erase' "$out/chat.txt" || die "examples/c/chat.c showed no reset: $(cat "$out/chat.txt")"

# LP_NUM_THREADS=0: lavapipe runs on the calling thread (valgrind runs one
# thread at a time; handing work to lavapipe's threads makes it ~10x slower).
memcheck() {
    local log="$out/valgrind-$1.log"
    say "+ valgrind $out/rewind_test ${*:2} (log: $log)"
    if ! LP_NUM_THREADS=0 valgrind --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --suppressions=examples/c/valgrind.supp \
        "$out/rewind_test" "${@:2}" "$model" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        die "valgrind memcheck failed (log: $log)"
    fi
    grep -E 'ERROR SUMMARY|definitely lost|checks passed' "$log" >&2
}
memcheck cpu --device cpu
memcheck gpu --device gpu --quick

# 4.
rm -rf "$out/classes"
run javac -Xlint:all -Werror -d "$out/classes" ffi/java/src/rewind/*.java ffi/java/test/RewindTest.java
for device in gpu cpu; do
    run java -Xcheck:jni -Djava.library.path="$release" -cp "$out/classes" RewindTest "$model" "$device"
done

# 5.
cp "$release/librewind_ffi.so" "$out/librewind_ffi.so"
strip "$out/librewind_ffi.so"
size() { stat -c %s "$1" | awk '{ printf "%.1f MiB", $1 / 1048576 }'; }
say "librewind_ffi.so (x86_64 Linux, stripped): $(size "$out/librewind_ffi.so")"
say "librewind_ffi.a (x86_64 Linux): $(size "$release/librewind_ffi.a")"

# 6.
if [ "${TEST_SH_CROSS:-1}" = 0 ]; then
    say "TEST_SH_CROSS=0: skipping the Android and iOS builds"
    exit 0
fi
cli_only='clap|indicatif|env_logger|anyhow|sha2'
if cargo tree -p rewind-ffi --features jni -e normal --prefix none | grep -E "^($cli_only) "; then
    die "the FFI crate links a CLI-only crate (above)"
fi
say "cargo tree -p rewind-ffi: none of $cli_only"
for t in aarch64-linux-android aarch64-apple-ios; do
    rustup target list --installed | grep -qx "$t" || run rustup target add "$t"
    features=()
    [ "$t" = aarch64-linux-android ] && features=(--features jni)
    run cargo rustc -p rewind-ffi --release --target "$t" "${features[@]}" --crate-type staticlib
    say "librewind_ffi.a ($t): $(size "$target/$t/release/librewind_ffi.a")"
done
