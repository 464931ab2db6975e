#!/usr/bin/env python3
"""Writes tests/data/quant_vectors.json: ggml (de)quantization test vectors
computed by the `gguf` Python package (llama.cpp's own Python library), an
implementation independent of rewind's Rust code.

Requirements: `pip install gguf numpy`. Usage, from anywhere:

    python3 scripts/gen_quant_vectors.py

Output is reproducible: all randomness comes from SplitMix64 seeded with SEED
below (a fixed, documented algorithm, unlike numpy's generators whose streams
may change between releases), and floats are derived from random integers by
exact arithmetic only. The file records the gguf and numpy versions used.

File format (all numbers exact: floats are stored as their bits):

    {
      "seed": ..., "gguf_version": ..., "numpy_version": ...,
      "dequantize": [          # ggml blocks -> floats
        {"type": "Q4_1", "name": "...", "n_elements": 64,
         "bytes": "<hex of the blocks>",
         "f32le": "<hex of the dequantized values, little-endian f32>"}, ...],
      "quantize": [            # floats -> ggml blocks
        {"type": "Q8_0", "name": "...", "n_elements": 64,
         "f32le": "<hex of the input values, little-endian f32>",
         "bytes": "<hex of gguf's quantized blocks>"}, ...]
    }

Dequantize cases cover F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the
K-quants Q2_K..Q6_K with random bytes (so every quant bit pattern and packed
6-bit sub-block scale occurs);
block scales are random finite f16 values (every exponent, subnormals and
signed zeros included; NaN and infinity excluded). Plain F16/BF16 elements
also include +-infinity but never NaN (NaN payloads are not a contract).
Quantize cases cover Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (and F16, BF16) with random inputs at
several magnitudes plus edge blocks: all zero, constant, exact rounding ties,
a tie for the largest magnitude, and values whose scale is an f16 subnormal.
"""

import importlib.metadata
import json
import os
import struct

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

SEED = 0x5EED_0F_9E7F
# Cases for the types below come from a second stream (SEED2), so that adding
# them left the earlier cases unchanged.
SEED2 = 0x5EED_0F_9E80
BLOCK = {"F16": 1, "BF16": 1, "Q8_0": 32, "Q4_0": 32, "Q4_1": 32, "Q5_0": 32, "Q5_1": 32,
         "Q2_K": 256, "Q3_K": 256, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256}
# Byte offsets of the f16 fields (scales, mins) in a block; every other byte
# (quants, packed sub-block scales, high-bit masks) is valid with any value.
SCALE_BYTES = {"Q8_0": [0], "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2],
               "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}
TYPE_SIZE = {"F16": 2, "BF16": 2, "Q8_0": 34, "Q4_0": 18, "Q4_1": 20, "Q5_0": 22, "Q5_1": 24,
             "Q2_K": 84, "Q3_K": 110, "Q4_K": 144, "Q5_K": 176, "Q6_K": 210}
NEW_BLOCK_TYPES = ("Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.u64() % n

    def bytes(self, n):
        return bytes(self.u64() & 0xFF for _ in range(n))

    def unit(self):
        """Uniform in [-1, 1) with 24 random bits: exact in f32."""
        return (self.u64() >> 40) / float(1 << 23) - 1.0


def finite_f16_bits(rng):
    while True:
        b = rng.u64() & 0xFFFF
        if (b >> 10) & 0x1F != 0x1F:
            return b


def finite_bf16_bits(rng):
    while True:
        b = rng.u64() & 0xFFFF
        if (b >> 7) & 0xFF != 0xFF:
            return b


def f32_hex(values):
    return np.asarray(values, dtype="<f4").tobytes().hex()


def dequant_case(ty, name, raw):
    data = np.frombuffer(raw, dtype=np.uint8)
    out = quants.dequantize(data, getattr(T, ty)).astype(np.float32).reshape(-1)
    assert out.size == len(raw) // TYPE_SIZE[ty] * BLOCK[ty]
    return {"type": ty, "name": name, "n_elements": int(out.size), "bytes": raw.hex(), "f32le": f32_hex(out)}


def quant_case(ty, name, values):
    x = np.asarray(values, dtype=np.float32)
    assert x.size % BLOCK[ty] == 0 and np.all(np.isfinite(x))
    if ty == "F16":
        q = x.astype("<f2").view(np.uint8)
    else:
        q = quants.quantize(x, getattr(T, ty))
    raw = np.asarray(q).view(np.uint8).tobytes()
    assert len(raw) == x.size // BLOCK[ty] * TYPE_SIZE[ty]
    return {"type": ty, "name": name, "n_elements": int(x.size), "f32le": f32_hex(x), "bytes": raw}


def dequant_cases(rng):
    cases = []
    # Plain types: random finite values, then the edges of the format.
    f16_edges = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00]
    bits = [finite_f16_bits(rng) for _ in range(52)] + f16_edges
    cases.append(dequant_case("F16", "random and edge values", struct.pack(f"<{len(bits)}H", *bits)))
    bf16_edges = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x4049]
    bits = [finite_bf16_bits(rng) for _ in range(52)] + bf16_edges
    cases.append(dequant_case("BF16", "random and edge values", struct.pack(f"<{len(bits)}H", *bits)))

    # Block types: random quants, random finite f16 scales (and mins).
    for ty in ("Q8_0", "Q4_0", "Q4_1"):
        cases += random_block_cases(rng, ty, 6)
    return cases


def random_block_cases(rng, ty, n_random):
    cases = []
    raw = bytearray()
    for _ in range(n_random):
        blk = bytearray(rng.bytes(TYPE_SIZE[ty]))
        for off in SCALE_BYTES[ty]:
            blk[off : off + 2] = struct.pack("<H", finite_f16_bits(rng))
        raw += blk
    cases.append(dequant_case(ty, "random blocks, random finite scales", bytes(raw)))
    # Typical magnitudes: scales like real weights' (about 1e-3 .. 1e-1).
    raw = bytearray()
    for _ in range(2):
        blk = bytearray(rng.bytes(TYPE_SIZE[ty]))
        for off in SCALE_BYTES[ty]:
            s = np.float16(rng.unit() * 0.1)
            blk[off : off + 2] = s.tobytes()
        raw += blk
    cases.append(dequant_case(ty, "random blocks, weight-like scales", bytes(raw)))
    return cases


def new_type_cases(rng):
    """Dequantize cases for Q5_0, Q5_1 and the K-quants; quantize cases for
    Q5_0 and Q5_1 (gguf has no K-quant quantizer: K-quant files come from
    llama.cpp, and rewind's K-quant quantizers only make test models)."""
    deq = []
    for ty in NEW_BLOCK_TYPES:
        deq += random_block_cases(rng, ty, 6 if BLOCK[ty] == 32 else 3)
    quant = []
    for ty in ("Q5_0", "Q5_1"):
        for scale in (1.0, 0.02, 300.0):
            x = random_block(rng, scale) + random_block(rng, scale)
            quant.append(quant_case(ty, f"random, magnitude {scale}", x))
        x = [abs(v) + 0.5 for v in random_block(rng, 2.0)] + [-abs(v) - 0.5 for v in random_block(rng, 2.0)]
        quant.append(quant_case(ty, "one-signed blocks", x))
        quant.append(quant_case(ty, "zero and constant blocks", [0.0] * 32 + [1.25] * 32))
        x = random_block(rng, 1.0)
        x[3], x[20] = -1.5, 1.5
        y = random_block(rng, 1.0)
        y[5], y[9] = 1.5, -1.5
        quant.append(quant_case(ty, "largest-magnitude ties", x + y))
        if ty == "Q5_0":
            x = [-16.0] + [k + 0.5 for k in range(-16, 15)]
        else:
            x = [0.0, 31.0] + [k + 0.5 for k in range(30)]
        assert len(x) == 32
        quant.append(quant_case(ty, "rounding ties", x))
        quant.append(quant_case(ty, "subnormal scale", random_block(rng, 1e-5)))
    for c in quant:
        c["bytes"] = c["bytes"].hex()
    return deq, quant


def random_block(rng, scale):
    return [rng.unit() * scale for _ in range(32)]


def quant_cases(rng):
    cases = []
    for ty in ("Q8_0", "Q4_0", "Q4_1"):
        for scale in (1.0, 0.02, 300.0):
            x = random_block(rng, scale) + random_block(rng, scale)
            cases.append(quant_case(ty, f"random, magnitude {scale}", x))
        # Positive-only and negative-only blocks (the sign of the scale flips
        # for Q4_0, the min is far from zero for Q4_1).
        x = [abs(v) + 0.5 for v in random_block(rng, 2.0)] + [-abs(v) - 0.5 for v in random_block(rng, 2.0)]
        cases.append(quant_case(ty, "one-signed blocks", x))
        # All zero, then constant: d == 0 paths.
        cases.append(quant_case(ty, "zero and constant blocks", [0.0] * 32 + [1.25] * 32))
        # A tie between +m and -m for the largest magnitude: the first wins.
        x = random_block(rng, 1.0)
        x[3], x[20] = -1.5, 1.5
        y = random_block(rng, 1.0)
        y[5], y[9] = 1.5, -1.5
        cases.append(quant_case(ty, "largest-magnitude ties", x + y))
        # Values whose quantized position lands exactly on .5 (rounding ties).
        if ty == "Q8_0":
            x = [127.0] + [k + 0.5 for k in range(-16, 15)]
        elif ty == "Q4_0":
            x = [-8.0] + [k + 0.5 for k in range(-8, 7)] + [k + 0.25 for k in range(-8, 8)]
        else:
            x = [0.0, 15.0] + [k + 0.5 for k in range(15)] + [k + 0.25 for k in range(15)]
        assert len(x) == 32
        cases.append(quant_case(ty, "rounding ties", x))
        # Tiny values: the f16 scale is subnormal.
        cases.append(quant_case(ty, "subnormal scale", random_block(rng, 1e-5)))
    for ty in ("F16", "BF16"):
        x = [rng.unit() * 10.0 ** (k % 9 - 4) for k in range(62)] + [65504.0, 1e-8]
        cases.append(quant_case(ty, "random, many magnitudes", x))
    for c in cases:
        c["bytes"] = c["bytes"].hex()
    return cases


def main():
    rng = SplitMix64(SEED)
    deq = dequant_cases(rng)
    quant = quant_cases(rng)
    new_deq, new_quant = new_type_cases(SplitMix64(SEED2))
    doc = {
        "about": "ggml (de)quantization vectors computed by the gguf Python package; "
        "regenerate with scripts/gen_quant_vectors.py",
        "seed": SEED,
        "seed2": SEED2,
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "dequantize": deq + new_deq,
        "quantize": quant + new_quant,
    }
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "tests", "data", "quant_vectors.json")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
