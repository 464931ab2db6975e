#!/usr/bin/env python3
"""Makes quantization variants of the test model with llama.cpp's own
quantizer, for checks that go beyond the test suite (perplexity and greedy
decoding of each quant type; see scripts/variants.py).

Requirements: the test model (models/fetch.sh) and llama-cpp-python
(`pip install llama-cpp-python`, which builds llama.cpp from source: about
12 minutes on 2 cores). Usage, from anywhere:

    python3 scripts/make_variants.py [TYPE ...]

with TYPE among the keys of FTYPES below (default: all). Each variant is
requantized from models/SmolLM2-135M-Instruct.Q4_1.gguf (`allow_requantize`,
as `llama-quantize --allow-requantize` does) into
models/SmolLM2-135M-Instruct.<TYPE>.gguf; existing files are kept. llama.cpp's
quantizer is deterministic: the files are byte-identical from run to run.

SmolLM2's rows are 576 wide, not a multiple of 256: for the K-quant variants
llama.cpp falls back to Q5_0/Q5_1/Q8_0 for the tensors it can't K-quantize,
so only `ffn_down` (1536 wide) gets the K-quant type itself. The script
prints the tensor types of each file it makes.
"""

import ctypes
import os
import sys
from collections import Counter

# llama.cpp's `enum llama_ftype` values.
FTYPES = {
    "F16": 1,
    "Q4_0": 2,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_M": 12,
    "Q4_K_M": 15,
    "Q5_K_M": 17,
    "Q6_K": 18,
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def target(name):
    return os.path.join(ROOT, "models", f"SmolLM2-135M-Instruct.{name}.gguf")


def tensor_types(path):
    from gguf import GGUFReader

    return Counter(t.tensor_type.name for t in GGUFReader(path).tensors)


def main(names):
    try:
        import llama_cpp
    except ImportError:
        sys.exit("make_variants.py: llama-cpp-python is not installed (pip install llama-cpp-python)")
    if not os.path.isfile(SOURCE):
        sys.exit(f"make_variants.py: {SOURCE} is missing: run models/fetch.sh first")
    for name in names or FTYPES:
        if name not in FTYPES:
            sys.exit(f"make_variants.py: unknown type {name} (known: {', '.join(FTYPES)})")
        out = target(name)
        if os.path.isfile(out):
            print(f"{out}: exists")
            continue
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = FTYPES[name]
        params.allow_requantize = True
        params.nthread = 2
        tmp = out + ".tmp"
        rc = llama_cpp.llama_model_quantize(SOURCE.encode(), tmp.encode(), ctypes.byref(params))
        if rc != 0:
            sys.exit(f"make_variants.py: llama_model_quantize failed for {name} ({rc})")
        os.replace(tmp, out)
        try:
            types = ", ".join(f"{t} x{n}" for t, n in sorted(tensor_types(out).items()))
        except ImportError:
            types = "(install the gguf package to list tensor types)"
        print(f"{out}: {os.path.getsize(out)} bytes; {types}")


if __name__ == "__main__":
    main(sys.argv[1:])
