# Shared by scripts/test.sh and scripts/chat.sh (sourced, not run):
# helpers that install what rewind needs on a fresh Debian/Ubuntu machine.
# Callers set `tool` to their own name for messages.

say() { echo "${tool:-rewind}: $*" >&2; }
die() {
    echo "${tool:-rewind}: error: $*" >&2
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
    # apt's output goes to stderr: stdout is for what the caller prints
    # (the chat's answer).
    as_root apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri >&2
}

# What the tests of the C ABI and the JVM binding (ffi/test.sh) need: a C
# compiler, a JDK and valgrind, installed with apt-get where missing.
ensure_ffi_tools() {
    local missing=()
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    { command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; } ||
        missing+=(default-jdk-headless)
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    [ ${#missing[@]} -eq 0 ] && return 0

    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get here: install a C compiler, a JDK and valgrind"
    say "installing ${missing[*]} with apt-get"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# Loads rustup's environment when cargo isn't on PATH yet, or explains.
ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # rustup's environment, for shells that haven't loaded it yet.
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust (https://rustup.rs), then run this again"
}
