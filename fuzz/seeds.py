#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target to fuzz/work/<target>/.

Usage: python3 fuzz/seeds.py [path/to/model.gguf ...]
The models' metadata (not their tensors) and chat templates become seeds;
models/demo-backtrack.gguf is always used. The input formats are those of
src/fuzzing.rs.
"""

import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "fuzz", "work")

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
          F32: "<f", BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t in SCALAR:
        return struct.pack(SCALAR[t], v)
    if t == STRING:
        return gstr(v)
    et, items = v
    return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)


def gguf(kv, tensors=(), align=32):
    """kv: [(key, type, value)]; tensors: [(name, dims, ggml type, data)]."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offset, data = 0, b""
    for name, dims, ty, payload in tensors:
        out += gstr(name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ty, offset)
        pad = -len(payload) % align
        data += payload + b"\0" * pad
        offset += len(payload) + pad
    out += b"\0" * (-len(out) % align)
    return out + data


def read_gguf(path):
    """The metadata of a GGUF file as [(key, type, value)]."""
    b = open(path, "rb").read()
    pos = 24

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, b, pos)[0]
        pos += struct.calcsize(fmt)
        return v

    def s():
        nonlocal pos
        n = take("<Q")
        pos += n
        return b[pos - n:pos].decode()

    def val(t):
        if t in SCALAR:
            return take(SCALAR[t])
        if t == STRING:
            return s()
        et, n = take("<I"), take("<Q")
        return (et, [val(et) for _ in range(n)])

    kv = []
    for _ in range(struct.unpack_from("<Q", b, 16)[0]):
        k = s()
        t = take("<I")
        kv.append((k, t, val(t)))
    return kv


def write(target, name, data):
    d = os.path.join(WORK, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def sentencepiece_vocab():
    toks = [("<unk>", 2, 0.0), ("<s>", 3, 0.0), ("</s>", 3, 0.0)]
    toks += [("<0x%02X>" % i, 6, 0.0) for i in range(256)]
    words = ["\u2581", "a", "b", "e", "h", "l", "o", "t", "\u2581t", "he",
             "\u2581the", "ll", "\u2581hello", "lo", "\u2581a", "<|user|>"]
    toks += [(w, 4 if w.startswith("<|") else 1, -float(i)) for i, w in enumerate(words)]
    return [
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, [t for t, _, _ in toks])),
        ("tokenizer.ggml.token_type", ARRAY, (I32, [k for _, k, _ in toks])),
        ("tokenizer.ggml.scores", ARRAY, (F32, [s for _, _, s in toks])),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.unknown_token_id", U32, 0),
    ]


def compact_vocab(mode, tokens, merges, specials, text):
    """The tokenizer target's compact vocabulary form (see vocab_metadata)."""
    out = bytes([mode & ~1, len(tokens)])
    for t, kind, score in tokens:
        b = t.encode()
        out += bytes([len(b)]) + b + bytes([kind & 0xFF, score & 0xFF])
    out += bytes([len(merges)]) + b"".join(bytes([a, b]) for a, b in merges)
    mask = sum(1 << i for i, v in enumerate(specials) if v is not None)
    out += bytes([mask]) + bytes(v for v in specials if v is not None)
    return out + text.encode()


TEXTS = ["Hello world! 123 4567 <|im_start|>user\nhi<|im_end|> \u00e9\u00e8 \U0001F600 's 'll",
         "  leading spaces\ttabs\r\n\n\nthe end  ", ""]


def main():
    models = [os.path.join(ROOT, "models", "demo-backtrack.gguf")] + sys.argv[1:]
    metas = [read_gguf(m) for m in models]

    # gguf: every value type, nested arrays, tensors of a few types.
    every = [("general.alignment", U32, 32), ("u8", U8, 7), ("i8", I8, -7),
             ("u16", U16, 700), ("i16", I16, -700), ("u32", U32, 70000),
             ("i32", I32, -70000), ("f32", F32, 1.5), ("bool", BOOL, True),
             ("str", STRING, "h\u00e9llo"), ("u64", U64, 1 << 40),
             ("i64", I64, -(1 << 40)), ("f64", F64, 2.5),
             ("arr", ARRAY, (ARRAY, [(U8, [1, 2]), (STRING, ["a", ""]), (ARRAY, [])]))]
    tensors = [("f32", [4, 2], 0, struct.pack("<8f", *range(8))),
               ("q8_0", [32], 8, b"\x01\x00" + bytes(range(32))),
               ("f16", [2, 1, 1, 2], 1, b"\x00\x3c" * 4)]
    write("gguf", "every-type", gguf(every, tensors))
    write("gguf", "no-tensors", gguf([("general.architecture", STRING, "llama")]))
    write("gguf", "align-64", gguf([("general.alignment", U32, 64)], tensors[:1], 64))
    for i, kv in enumerate(metas):
        small = [x for x in kv if x[1] != ARRAY or len(x[2][1]) < 64]
        write("gguf", "model-%d-meta" % i, gguf(small))

    # tokenizer: the models' vocabularies (GGUF mode), a SentencePiece one,
    # compact byte-level and SentencePiece ones.
    # Only the demo model's: a full-size vocabulary makes megabyte inputs.
    vocabs = [metas[0], sentencepiece_vocab()]
    for i, kv in enumerate(vocabs):
        g = gguf([x for x in kv if x[0] != "tokenizer.chat_template"])
        for j, text in enumerate(TEXTS[:2]):
            write("tokenizer", "gguf-%d-%d" % (i, j),
                  b"\x01" + struct.pack("<I", len(g)) + g + text.encode())
    letters = [(c, 1, -i) for i, c in enumerate("abcdehlort ")]
    letters += [("he", 1, 5), ("ll", 1, 4), ("hell", 1, 3), ("<s>", 3, 0), ("<|x|>", 4, 0)]
    merges = [(4, 3), (6, 6), (11, 12)]
    for mode in range(0, 256, 14):
        write("tokenizer", "compact-%02x" % mode,
              compact_vocab(mode, letters, merges, [13, 13, None, 0], TEXTS[mode % 2]))

    # chat: the models' templates and the built-ins on a conversation.
    conv = [b"system", b"Be brief.", b"user", b"Hi <|im_end|> {{ x }}",
            b"assistant", b"Hello!", b"user", b"\xe2\x9c\x93 again"]
    templates = [dict((k, v) for k, _, v in kv).get("tokenizer.chat_template") for kv in metas]
    templates += [
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] "
        "{{ m['content'] | trim }} [/INST]{% else %}{{ m['content'] }}{{ eos_token }}"
        "{% endif %}{% endfor %}",
        "{%- set ns = namespace(n=0) -%}{%- for m in messages %}{%- set ns.n = ns.n + 1 %}"
        "{{ ns.n }}: {{ m.content | tojson }}{% if loop.last %}!{% endif %}{% endfor -%}",
        "{{ raise_exception('no') }}",
        "{{ strftime_now('%Y-%m-%d') }}{{ messages | length }}{{ messages[0].content.split(' ') }}",
    ]
    for i, src in enumerate(t for t in templates if t):
        fields = [src.encode(), b"<s>", b"</s>"] + conv
        write("chat", "template-%d" % i, bytes([0x21]) + b"\0".join(fields))
    for b in range(1, 4):
        fields = [b"", b"<s>", b"</s>"] + conv
        write("chat", "builtin-%d" % b, bytes([0x21 | b << 1]) + b"\0".join(fields))

    # state: a session (2 layers, kv_dim 8, 16 B/position, n_ctx 16, vocab
    # 100) and a state of 3 positions for it, plus an empty one.
    session = struct.pack("<HHIHH", 2, 8, 16, 16, 100)
    for n in (0, 3):
        s = b"RWND" + struct.pack("<IIIQQ", 1, 2, 8, 16, n)
        s += b"".join(struct.pack("<I", 5 + t) for t in range(n))
        s += bytes(range(n * 16 * 2 * 2))
        write("state", "len-%d" % n, session + s)

    # sampler: llama.cpp's defaults, greedy, penalties and bias, over a few
    # logit rows.
    def cfg(temp, top_k, top_p, min_p, rp, last_n, pres, freq, bias, seed):
        out = struct.pack("<fHfffBffQ", temp, top_k, top_p, min_p, rp, last_n, pres, freq, seed)
        return out + bytes([len(bias)]) + b"".join(struct.pack("<Hf", t, v) for t, v in bias)
    history = bytes([4]) + struct.pack("<4H", 1, 2, 2, 9)
    raw = struct.pack("<6f", 1.0, 2.0, float("nan"), float("inf"), -float("inf"), 2.0)
    configs = [cfg(0.8, 40, 0.95, 0.05, 1.0, 64, 0.0, 0.0, [], 1),
               cfg(0.0, 0, 1.0, 0.0, 1.0, 64, 0.0, 0.0, [], 2),
               cfg(1.0, 3, 0.5, 0.0, 1.3, 8, 0.5, 0.25, [(1, -float("inf")), (3, 2.0)], 3),
               cfg(0.01, 0, 0.9, 0.1, 1.0, 0, 0.0, 0.0, [], 4)]
    for i, c in enumerate(configs):
        write("sampler", "raw-%d" % i, c + history + bytes([0]) + raw)
        write("sampler", "bytes-%d" % i, c + history + bytes([1]) + bytes([0, 8, 16, 0x80, 0x81, 0x7F, 16]))
        write("sampler", "huge-%d" % i, c + history + bytes([3]) + struct.pack("<H", 0xFFFF) + bytes(range(0, 64, 3)))


if __name__ == "__main__":
    main()
