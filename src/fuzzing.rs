//! Fuzz harnesses: one function per untrusted input, taking raw bytes.
//!
//! The cargo-fuzz targets in `fuzz/` call these on libFuzzer's inputs, and
//! `tests/fuzz_replay.rs` calls them on the committed corpus and crash
//! inputs, so the stable suite keeps every fixed crash fixed. Each function
//! must return normally on *any* input: a panic, a hang or a runaway
//! allocation is a bug. They also check a few invariants the docs promise.
//!
//! Structured inputs are decoded here by [`Bytes`] (rather than with the
//! `arbitrary` crate) so the library needs no extra dependency.
#![cfg(feature = "testing")]

use crate::chat::{ChatTemplate, Message};
use crate::gguf::{GgufFile, Metadata, Value};
use crate::model::{CacheShape, parse_state};
use crate::sample::{Sampler, SamplerConfig};
use crate::tokenizer::{StreamDecoder, Tokenizer, keys};

/// Longest text the tokenizer harness encodes: the BPE merge loop is
/// quadratic in a piece's length, so longer inputs only slow the fuzzer.
pub const MAX_TOKENIZER_TEXT: usize = 1024;

/// Longest template source the chat harness compiles.
pub const MAX_TEMPLATE: usize = 4096;

/// Most logits the sampler harness builds by repeating the input's.
pub const MAX_VOCAB: usize = 1 << 18;

/// A reader over fuzz input that never fails: past the end it yields zeros
/// and empty slices, so every input decodes to something.
pub struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes(data)
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    pub fn u16(&mut self) -> u16 {
        let b = self.take(2);
        u16::from_le_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ])
    }

    pub fn u32(&mut self) -> u32 {
        let mut w = [0u8; 4];
        let b = self.take(4);
        w[..b.len()].copy_from_slice(b);
        u32::from_le_bytes(w)
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    pub fn f32(&mut self) -> f32 {
        f32::from_bits(self.u32())
    }

    /// A string of at most `max` bytes, its length in the first byte.
    pub fn short_str(&mut self, max: usize) -> String {
        let n = usize::from(self.u8()) % (max + 1);
        String::from_utf8_lossy(self.take(n)).into_owned()
    }

    /// Everything up to the next `sep` (dropped) or the end.
    pub fn until(&mut self, sep: u8) -> &'a [u8] {
        let n = self.0.iter().position(|&b| b == sep);
        let field = self.take(n.unwrap_or(self.0.len()));
        self.take(1);
        field
    }

    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.0.len())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The GGUF reader on a whole file: parse, then read back everything it
/// validated.
pub fn gguf(data: &[u8]) {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    for (key, value) in file.metadata().iter() {
        std::hint::black_box((key, value.describe()));
    }
    for t in file.tensors() {
        // Validation promised every tensor lies inside the file.
        assert_eq!(file.tensor_data(t).len() as u64, t.n_bytes, "{}", t.name);
        assert_eq!(file.tensor(&t.name), Some(t));
    }
}

/// The tokenizer: built from GGUF metadata, then encoding and decoding text.
///
/// An odd first byte makes the rest a GGUF file (u32 length, file, text);
/// an even one a vocabulary in the compact form [`vocab_metadata`] reads,
/// then the text.
pub fn tokenizer(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mode = b.u8();
    let meta = if mode & 1 == 1 {
        let len = b.u32() as usize;
        match GgufFile::from_bytes(b.take(len).to_vec()) {
            Ok(file) => file.metadata().clone(),
            Err(_) => return,
        }
    } else {
        vocab_metadata(mode, &mut b)
    };
    let Ok(tok) = Tokenizer::from_gguf(&meta) else {
        return;
    };
    let text = b.rest();
    let text = String::from_utf8_lossy(&text[..text.len().min(MAX_TOKENIZER_TEXT)]);
    for parse_special in [false, true] {
        let Ok(ids) = tok.encode_with_bos(&text, parse_special) else {
            continue;
        };
        assert!(ids.iter().all(|&id| (id as usize) < tok.vocab_size()));
        for skip_special in [false, true] {
            let whole = tok
                .decode(&ids, skip_special)
                .expect("ids from encode decode");
            // The stream decoder agrees with `decode` byte for byte.
            let mut stream = StreamDecoder::new(&tok, skip_special);
            let mut streamed = String::new();
            for &id in &ids {
                streamed += &stream.push(id).expect("ids from encode decode");
            }
            streamed += &stream.flush();
            assert_eq!(streamed, whole);
        }
    }
    // Arbitrary ids, some outside the vocabulary.
    let n = tok.vocab_size() as u32 + 2;
    let ids: Vec<u32> = text.bytes().map(|c| u32::from(c) % n).collect();
    let _ = tok.decode(&ids, false);
}

/// Pre-tokenizer names the compact vocabulary picks from: one per regex set
/// and an unknown one.
const PRE_NAMES: [&str; 8] = [
    "default", "gpt2", "llama3", "smollm", "qwen2", "falcon", "bloom", "nope",
];

/// `tokenizer.ggml.*` metadata from compact bytes. `mode` bits: 1 (after
/// the GGUF bit) the model, 2-4 the pre-tokenizer, 5-6 add_space_prefix,
/// 7 add_bos. Then: token count, each token (length, bytes, type, score),
/// merge count, each merge (two token indices), and a byte saying which of
/// BOS/EOS/EOT/UNK follow, each a byte id.
pub fn vocab_metadata(mode: u8, b: &mut Bytes) -> Metadata {
    let mut meta = Metadata::new();
    let model = if mode & 2 == 0 { "gpt2" } else { "llama" };
    meta.insert(keys::MODEL, Value::String(model.into()));
    let pre = PRE_NAMES[usize::from(mode >> 2) & 7];
    meta.insert(keys::PRE, Value::String(pre.into()));
    match (mode >> 5) & 3 {
        1 => meta.insert(keys::ADD_SPACE_PREFIX, Value::Bool(false)),
        2 => meta.insert(keys::ADD_SPACE_PREFIX, Value::Bool(true)),
        _ => None,
    };
    meta.insert(keys::ADD_BOS, Value::Bool(mode & 0x80 != 0));

    let n = usize::from(b.u8());
    let mut tokens = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    for _ in 0..n {
        tokens.push(b.short_str(31));
        types.push(Value::I32(i32::from(b.u8() as i8)));
        scores.push(Value::F32(f32::from(b.u8() as i8)));
    }
    let merges: Vec<Value> = (0..b.u8())
        .filter(|_| n > 0)
        .map(|_| {
            let l = &tokens[usize::from(b.u8()) % n];
            let r = &tokens[usize::from(b.u8()) % n];
            Value::String(format!("{l} {r}"))
        })
        .collect();
    let specials = b.u8();
    for (bit, key) in [keys::BOS_ID, keys::EOS_ID, keys::EOT_ID, keys::UNK_ID]
        .into_iter()
        .enumerate()
    {
        if specials & (1 << bit) != 0 {
            meta.insert(key, Value::U32(u32::from(b.u8())));
        }
    }
    meta.insert(
        keys::TOKENS,
        Value::Array(tokens.into_iter().map(Value::String).collect()),
    );
    meta.insert(keys::TOKEN_TYPE, Value::Array(types));
    meta.insert(keys::SCORES, Value::Array(scores));
    meta.insert(keys::MERGES, Value::Array(merges));
    meta
}

/// Built-in templates the chat harness may render instead of the input's.
const BUILTINS: [&str; 3] = ["chatml", "llama2", "llama3"];

/// A chat template rendered on messages. First byte: bit 0
/// add_generation_prompt, bits 1-2 a built-in template (0: the input's own),
/// bits 3-5 the message count. Then NUL-separated fields: template, BOS,
/// EOS, and a role and a content per message.
pub fn chat(data: &[u8]) {
    let mut b = Bytes::new(data);
    let flags = b.u8();
    let mut field = || String::from_utf8_lossy(b.until(0)).into_owned();
    let src = field();
    let src = &src[..src.floor_char_boundary(MAX_TEMPLATE)];
    let bos = field();
    let eos = field();
    let messages: Vec<Message> = (0..(flags >> 3) & 7)
        .map(|_| {
            let role = field();
            Message::new(role, field())
        })
        .collect();
    let template = match usize::from(flags >> 1) & 3 {
        0 => ChatTemplate::from_source(src, &bos, &eos),
        i => ChatTemplate::named(BUILTINS[i - 1]),
    };
    if let Ok(t) = template {
        let _ = t.render(&messages, flags & 1 != 0);
    }
}

/// Restoring a saved session state. The first 12 bytes give the session
/// it is restored into (layers u16, kv_dim u16, bytes per position u32,
/// n_ctx u16, vocab u16); the rest is the state.
pub fn state(data: &[u8]) {
    let mut b = Bytes::new(data);
    let expected = CacheShape {
        layers: usize::from(b.u16()),
        kv_dim: usize::from(b.u16()),
        bytes_per_position: u64::from(b.u32()),
    };
    let n_ctx = usize::from(b.u16());
    let vocab = usize::from(b.u16());
    let bytes = b.rest();
    if let Ok(s) = parse_state(bytes, expected, n_ctx, vocab) {
        assert!(s.history.len() <= n_ctx);
        assert!(s.history.iter().all(|&t| (t as usize) < vocab));
        assert!(s.cache.len() <= bytes.len());
    }
}

/// The sampler on arbitrary logits. A configuration (raw bit patterns, so
/// NaN and infinities too), a history, then logits: raw f32s, or with
/// mode bit 0 set one byte each (-128: -inf, -127: NaN, 127: +inf, else
/// v / 8), and with mode bit 1 repeated up to a vocabulary of up to
/// [`MAX_VOCAB`].
pub fn sampler(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut cfg = SamplerConfig {
        temperature: b.f32(),
        top_k: usize::from(b.u16()),
        top_p: b.f32(),
        min_p: b.f32(),
        repeat_penalty: b.f32(),
        repeat_last_n: usize::from(b.u8()),
        presence_penalty: b.f32(),
        frequency_penalty: b.f32(),
        logit_bias: Vec::new(),
        seed: b.u64(),
    };
    for _ in 0..b.u8() % 8 {
        cfg.logit_bias.push((u32::from(b.u16()), b.f32()));
    }
    let history: Vec<u32> = (0..b.u8()).map(|_| u32::from(b.u16())).collect();
    let mode = b.u8();
    let vocab = if mode & 2 != 0 {
        usize::from(b.u16()) * 4
    } else {
        0
    };
    let mut logits: Vec<f32> = if mode & 1 != 0 {
        b.rest()
            .iter()
            .map(|&v| match v as i8 {
                -128 => f32::NEG_INFINITY,
                -127 => f32::NAN,
                127 => f32::INFINITY,
                v => f32::from(v) / 8.0,
            })
            .collect()
    } else {
        b.rest()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    if vocab > logits.len() && !logits.is_empty() {
        let pattern = logits.clone();
        logits.extend(pattern.iter().cycle().take(vocab - pattern.len()));
    }
    let Ok(mut sampler) = Sampler::new(cfg) else {
        return;
    };
    let mut replay = sampler.clone();
    // A huge vocabulary is slow enough once.
    let calls = if logits.len() > 4096 { 1 } else { 3 };
    for _ in 0..calls {
        let id = sampler.sample(&logits, &history);
        assert!(
            (id as usize) < logits.len().max(1),
            "{id} of {}",
            logits.len()
        );
        // Same state, same logits: same token.
        assert_eq!(replay.sample(&logits, &history), id);
    }
}
