#!/usr/bin/env python3
"""Exact f32 reference logits for SmolLM2-135M-Instruct, computed with numpy.

An implementation independent of rewind's: the `gguf` package dequantizes the
weights, numpy runs the Llama forward in f32 (activations never quantized,
KV cache in f32). rewind's GPU forward is checked against it with a tight
tolerance (tests/smollm2.rs); llama.cpp's own outputs (smollm2_greedy.json)
differ from both by its 8-bit activation quantization and f16 KV cache.

For each chat prompt of tests/data/smollm2_greedy.json this writes:
- `greedy_ids`: 32 greedy tokens decoded from the f32 forward;
- `top5`: the top-5 (id, logit) at each of those steps.

Usage: pip install gguf numpy; python3 scripts/gen_f32_reference.py MODEL.gguf
Writes tests/data/smollm2_f32_reference.json.
"""
import json
import os
import sys

import gguf
import numpy as np

STEPS = 32
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "models/SmolLM2-135M-Instruct.Q4_1.gguf")
reader = gguf.GGUFReader(model_path)
tensors = {t.name: t for t in reader.tensors}


def field(key):
    return reader.fields[key].contents()


def weight(name):
    t = tensors[name]
    a = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
    return a.reshape([int(x) for x in reversed(t.shape)]) if len(t.shape) > 1 else a.reshape(-1)


arch = field("general.architecture")
n_layer = int(field(f"{arch}.block_count"))
n_embd = int(field(f"{arch}.embedding_length"))
n_head = int(field(f"{arch}.attention.head_count"))
n_head_kv = int(field(f"{arch}.attention.head_count_kv"))
head_dim = n_embd // n_head
rope_base = float(field(f"{arch}.rope.freq_base"))
eps = float(field(f"{arch}.attention.layer_norm_rms_epsilon"))

embd = weight("token_embd.weight").reshape(-1, n_embd)
output = weight("output.weight").reshape(-1, n_embd) if "output.weight" in tensors else embd
output_norm = weight("output_norm.weight")
names = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]
layers = [{n: weight(f"blk.{l}.{n}.weight") for n in names} for l in range(n_layer)]


def rms_norm(x, w):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope(x, pos):
    """ggml's normal RoPE: rotates adjacent pairs (x[2i], x[2i+1])."""
    i = np.arange(0, head_dim, 2, dtype=np.float32)
    theta = pos[:, None].astype(np.float32) * rope_base ** (-i / head_dim)
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    a, b = x[..., 0::2].copy(), x[..., 1::2].copy()
    y = x.copy()
    y[..., 0::2] = a * c - b * s
    y[..., 1::2] = a * s + b * c
    return y


class Cache:
    def __init__(self):
        self.k = [np.zeros((0, n_head_kv, head_dim), np.float32) for _ in range(n_layer)]
        self.v = [np.zeros((0, n_head_kv, head_dim), np.float32) for _ in range(n_layer)]

    def __len__(self):
        return self.k[0].shape[0]


def forward(cache, tokens):
    """Feeds `tokens` after the cache's contents; returns the logits of each."""
    n, p0 = len(tokens), len(cache)
    pos = np.arange(p0, p0 + n)
    x = embd[tokens]
    group = n_head // n_head_kv
    for l, w in enumerate(layers):
        xn = rms_norm(x, w["attn_norm"])
        q = rope((xn @ w["attn_q"].T).reshape(n, n_head, head_dim), pos)
        k = rope((xn @ w["attn_k"].T).reshape(n, n_head_kv, head_dim), pos)
        v = (xn @ w["attn_v"].T).reshape(n, n_head_kv, head_dim)
        cache.k[l] = np.concatenate([cache.k[l], k])
        cache.v[l] = np.concatenate([cache.v[l], v])
        kk, vv = cache.k[l], cache.v[l]
        mask = np.where(np.arange(p0 + n)[None, :] > pos[:, None], -np.inf, 0.0).astype(np.float32)
        att = np.zeros((n, n_head, head_dim), np.float32)
        for h in range(n_head):
            s = (q[:, h, :] @ kk[:, h // group, :].T) / np.float32(np.sqrt(head_dim)) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            att[:, h, :] = (s / s.sum(-1, keepdims=True)) @ vv[:, h // group, :]
        x = x + att.reshape(n, -1) @ w["attn_output"].T
        xn = rms_norm(x, w["ffn_norm"])
        gate, up = xn @ w["ffn_gate"].T, xn @ w["ffn_up"].T
        x = x + ((gate / (1 + np.exp(-gate))) * up) @ w["ffn_down"].T
    return rms_norm(x, output_norm) @ output.T


def top5(row):
    idx = np.argsort(-row, kind="stable")[:5]
    return [[int(i), round(float(row[i]), 5)] for i in idx]


runs = json.load(open(os.path.join(root, "tests/data/smollm2_greedy.json")))["runs"]["Q4_1"]
out = []
for run in runs:
    cache = Cache()
    logits = forward(cache, np.array(run["prompt_ids"]))[-1]
    ids, tops = [], []
    for _ in range(STEPS):
        tops.append(top5(logits))
        ids.append(int(np.argmax(logits)))
        logits = forward(cache, np.array([ids[-1]]))[-1]
    out.append({"id": run["id"], "prompt_ids": run["prompt_ids"], "greedy_ids": ids, "top5": tops})
    print(run["id"], ids[:12], file=sys.stderr)

doc = {
    "note": "numpy f32 forward of SmolLM2-135M-Instruct.Q4_1.gguf (weights dequantized by the gguf package); "
    "greedy decoding, 32 steps, not stopping at end-of-generation tokens; written by scripts/gen_f32_reference.py",
    "runs": out,
}
with open(os.path.join(root, "tests/data/smollm2_f32_reference.json"), "w") as f:
    json.dump(doc, f, indent=0)
    f.write("\n")
