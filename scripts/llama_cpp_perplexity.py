#!/usr/bin/env python3
"""llama.cpp's perplexity of the test model's quantization variants, as
reference figures for scripts/variants.py.

`llama-perplexity` is a C++ tool that the llama-cpp-python wheel doesn't
ship; this computes the same thing through llama-cpp-python's API: the text
tokenized once (BOS only if the model adds it), consecutive chunks of n_ctx
tokens each evaluated in one batch from an empty KV cache (BOS replacing the
first token of each chunk when the model adds it), and the negative
log-likelihood of the second half of each chunk (logits at n_ctx/2 ..
n_ctx-2 predicting the next token) averaged. With flash attention on (as
`llama-perplexity` runs by default) it reproduces the figures of
tests/data/perplexity.json to all printed digits (Q4_1: 26.1497); flash
attention off is computed too, to show how much llama.cpp moves by itself.

Requirements: llama-cpp-python, numpy, and the variants
(scripts/make_variants.py). Usage, from anywhere:

    python3 scripts/llama_cpp_perplexity.py [TYPE ...]

Writes tests/data/perplexity_llama_cpp.json (n_ctx 128 over
tests/data/perplexity-text.txt) with the figures of every variant found in
models/ (or of the TYPEs given, merged into the existing file).
"""

import json
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = os.path.join(ROOT, "tests", "data", "perplexity-text.txt")
OUT = os.path.join(ROOT, "tests", "data", "perplexity_llama_cpp.json")
N_CTX = 128
PREFIX = "SmolLM2-135M-Instruct."


def perplexity(path, text, flash_attn, kv_q8=False):
    import llama_cpp

    # An 8-bit cache (`-ctk q8_0 -ctv q8_0`) needs flash attention for V.
    kv = {"type_k": llama_cpp.GGML_TYPE_Q8_0, "type_v": llama_cpp.GGML_TYPE_Q8_0} if kv_q8 else {}
    llm = llama_cpp.Llama(
        model_path=path,
        n_ctx=N_CTX,
        n_batch=N_CTX,
        n_threads=2,
        logits_all=True,
        flash_attn=flash_attn,
        verbose=False,
        **kv,
    )
    tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
    add_bos = llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model))
    bos = llm.token_bos()
    first = N_CTX // 2
    nll, count = 0.0, 0
    for c in range(len(tokens) // N_CTX):
        chunk = tokens[c * N_CTX : (c + 1) * N_CTX]
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[:N_CTX], dtype=np.float64)
        for j in range(first, N_CTX - 1):
            row = logits[j]
            m = row.max()
            nll -= row[chunk[j + 1]] - m - math.log(np.exp(row - m).sum())
            count += 1
    return round(math.exp(nll / count), 4), len(tokens)


def main(types):
    with open(TEXT, encoding="utf-8") as f:
        text = f.read()
    doc = {}
    if os.path.isfile(OUT):
        with open(OUT) as f:
            doc = json.load(f)
    models = sorted(
        name[len(PREFIX) : -len(".gguf")]
        for name in os.listdir(os.path.join(ROOT, "models"))
        if name.startswith(PREFIX) and name.endswith(".gguf")
    )
    results = doc.get("ppl", {})
    for t in types or models:
        path = os.path.join(ROOT, "models", f"{PREFIX}{t}.gguf")
        if not os.path.isfile(path):
            sys.exit(f"llama_cpp_perplexity.py: {path} is missing (scripts/make_variants.py {t})")
        on, n_tokens = perplexity(path, text, True)
        off, _ = perplexity(path, text, False)
        q8, _ = perplexity(path, text, True, kv_q8=True)
        results[t] = {
            "flash_attn_on": on,
            "flash_attn_off": off,
            "flash_attn_on_kv_q8_0": q8,
            "file_bytes": os.path.getsize(path),
        }
        print(f"{t}: {on} (flash attention off: {off}; 8-bit KV cache: {q8}), {n_tokens} tokens", flush=True)
    import llama_cpp

    doc = {
        "about": "llama.cpp's perplexity (llama-cpp-python, reproducing llama-perplexity -c 128 -b 128) "
        "over perplexity-text.txt for variants requantized from the Q4_1 file by scripts/make_variants.py; "
        "regenerate with scripts/llama_cpp_perplexity.py",
        "llama_cpp_python_version": llama_cpp.__version__,
        "n_ctx": N_CTX,
        "ppl": dict(sorted(results.items())),
    }
    with open(OUT + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
