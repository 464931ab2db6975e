//! Tokenizer tests: SmolLM2 against llama.cpp's token ids, streaming
//! detokenization, a hand-made SentencePiece vocabulary, and metadata errors.

mod common;

use rewind::gguf::{GgufFile, Metadata, Value};
use rewind::tokenizer::{StreamDecoder, TokenKind, Tokenizer, TokenizerError};

fn smollm2() -> Tokenizer {
    let path = common::smollm2_path();
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tokenizer::from_gguf(file.metadata()).expect("SmolLM2 tokenizer")
}

// ---------------------------------------------------------------------------
// A minimal JSON reader for the reference file (no JSON crate needed).

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key:?}")),
            _ => panic!("not an object"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => panic!("not an array"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string"),
        }
    }
    fn u32(&self) -> u32 {
        match self {
            Json::Num(n) => *n as u32,
            _ => panic!("not a number"),
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn parse(text: &str) -> Json {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing data in JSON");
        v
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(
            self.s[self.i], c,
            "JSON: expected {:?} at {}",
            c as char, self.i
        );
        self.i += 1;
    }
    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.eat(b':');
                    m.push((k, self.value()));
                    self.ws();
                    self.i += 1;
                    if self.s[self.i - 1] == b'}' {
                        return Json::Obj(m);
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return Json::Arr(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    self.i += 1;
                    if self.s[self.i - 1] == b']' {
                        return Json::Arr(a);
                    }
                }
            }
            b'"' => Json::Str(self.string()),
            b't' => {
                self.i += 4;
                Json::Bool(true)
            }
            b'f' => {
                self.i += 5;
                Json::Bool(false)
            }
            b'n' => {
                self.i += 4;
                Json::Null
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Json::Num(t.parse().unwrap_or_else(|_| panic!("bad number {t:?}")))
            }
        }
    }
    fn hex4(&mut self) -> u32 {
        let t = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(t, 16).unwrap()
    }
    fn string(&mut self) -> String {
        assert_eq!(self.s[self.i], b'"');
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).unwrap(),
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'/' => '/',
                        b'\\' => '\\',
                        b'"' => '"',
                        b'u' => {
                            let hi = self.hex4();
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                assert_eq!(&self.s[self.i..self.i + 2], b"\\u");
                                self.i += 2;
                                let lo = self.hex4();
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).unwrap()
                        }
                        _ => panic!("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

fn reference_cases() -> Vec<(String, Vec<u32>)> {
    let text = String::from_utf8(common::read_data("smollm2_tokenizer.json")).unwrap();
    let json = JsonParser::parse(&text);
    json.get("tokenizer")
        .arr()
        .iter()
        .map(|case| {
            (
                case.get("text").str().to_owned(),
                case.get("ids").arr().iter().map(Json::u32).collect(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// SmolLM2 (byte-level BPE, pre = "smollm")

#[test]
fn smollm2_matches_llama_cpp_reference_ids() {
    let tok = smollm2();
    let cases = reference_cases();
    assert_eq!(cases.len(), 31, "reference file should hold 31 strings");
    let mut failures = Vec::new();
    for (text, want) in &cases {
        let got = tok.encode(text, true).unwrap();
        if &got != want {
            failures.push(format!("{text:?}\n   want {want:?}\n    got {got:?}"));
        }
        // Without special tokens in the text, parse_special changes nothing.
        if !text.contains("<|") {
            let plain = tok.encode(text, false).unwrap();
            if &plain != want {
                failures.push(format!(
                    "{text:?} (parse_special off)\n   want {want:?}\n    got {plain:?}"
                ));
            }
        }
        let back = tok.decode(want, false).unwrap();
        if &back != text {
            failures.push(format!("decode({want:?}) = {back:?}, want {text:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn smollm2_vocabulary_and_special_tokens() {
    let tok = smollm2();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos(), Some(1));
    assert_eq!(tok.eos(), Some(2));
    assert!(!tok.add_bos());
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
    assert_eq!(tok.token_id("<|im_start|>"), Some(1));
    assert_eq!(tok.token_id("<|endoftext|>"), Some(0));
    assert_eq!(tok.token_id("no such token"), None);
    assert_eq!(tok.token_text(2).as_deref(), Some("<|im_end|>"));
    assert_eq!(tok.token_text(216).as_deref(), Some("Ġ"));
    assert_eq!(tok.token_text(49152), None);
    assert!(tok.is_special(1));
    assert!(tok.is_special(16));
    assert!(!tok.is_special(17));
    assert!(!tok.is_special(999_999));
    assert_eq!(tok.token_kind(1), Some(TokenKind::Control));
    assert_eq!(tok.token_kind(905), Some(TokenKind::Normal));
    // add_bos_token is false: no BOS.
    assert_eq!(
        tok.encode_with_bos("Hello world", true).unwrap(),
        vec![19556, 905]
    );
    assert_eq!(tok.inner().token_to_id("<|im_end|>"), Some(2));
}

#[test]
fn smollm2_eog_tokens() {
    let tok = smollm2();
    let eog = tok.eog_tokens();
    assert!(eog.contains(&2), "<|im_end|> must end generation: {eog:?}");
    assert!(
        eog.contains(&0),
        "<|endoftext|> must end generation: {eog:?}"
    );
    assert!(!eog.contains(&1), "<|im_start|> must not: {eog:?}");
    assert!(tok.is_eog(2) && tok.is_eog(0) && !tok.is_eog(905));
    assert!(eog.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
}

#[test]
fn smollm2_special_parsing_on_and_off() {
    let tok = smollm2();
    let text = "<|im_start|>user\nHi<|im_end|>\n";
    assert_eq!(
        tok.encode(text, true).unwrap(),
        vec![1, 4093, 198, 26843, 2, 198]
    );
    let plain = tok.encode(text, false).unwrap();
    assert!(
        !plain.contains(&1) && !plain.contains(&2),
        "special tokens must not be parsed: {plain:?}"
    );
    assert!(plain.len() > 6);
    assert_eq!(tok.decode(&plain, false).unwrap(), text);
    assert_eq!(tok.decode(&plain, true).unwrap(), text);

    // Skipping special tokens when decoding.
    let ids = tok.encode(text, true).unwrap();
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    assert_eq!(tok.decode(&ids, true).unwrap(), "user\nHi\n");
}

#[test]
fn smollm2_decode_rejects_bad_ids() {
    let tok = smollm2();
    assert!(matches!(
        tok.decode(&[905, 49152], false),
        Err(TokenizerError::InvalidId { id: 49152, .. })
    ));
    let mut s = StreamDecoder::new(&tok, false);
    assert!(s.push(u32::MAX).is_err());
    assert_eq!(s.push(905).unwrap(), " world");
}

fn stream(tok: &Tokenizer, ids: &[u32], skip_special: bool) -> Vec<String> {
    let mut s = StreamDecoder::new(tok, skip_special);
    let mut chunks: Vec<String> = ids.iter().map(|&id| s.push(id).unwrap()).collect();
    chunks.push(s.flush());
    chunks
}

#[test]
fn smollm2_stream_decoder_holds_partial_characters() {
    let tok = smollm2();
    let texts = [
        "emoji 🎉🚀 test",
        "👩‍💻 coder",
        "日本語のテキスト",
        "中文测试句子。",
        "Grüße aus München",
        "<|im_start|>assistant\n🎉 done<|im_end|>",
        "x🎉",
        "🎉",
    ];
    let mut held_back = 0;
    for text in texts {
        let ids = tok.encode(text, true).unwrap();
        for skip in [false, true] {
            let chunks = stream(&tok, &ids, skip);
            for c in &chunks {
                assert!(!c.contains('\u{FFFD}'), "{text:?}: chunk {c:?} has U+FFFD");
            }
            held_back += chunks[..ids.len()].iter().filter(|c| c.is_empty()).count();
            assert_eq!(chunks.last().unwrap(), "", "nothing left to flush");
            assert_eq!(
                chunks.concat(),
                tok.decode(&ids, skip).unwrap(),
                "{text:?} skip={skip}"
            );
        }
        assert_eq!(stream(&tok, &ids, false).concat(), text);
    }
    assert!(
        held_back > 0,
        "byte-level tokens split characters somewhere"
    );

    // Feeding the bytes of one emoji token by token: nothing until complete.
    let ids = tok.encode("🎉", false).unwrap();
    assert!(
        ids.len() > 1,
        "🎉 should take several byte-level tokens: {ids:?}"
    );
    let mut s = StreamDecoder::new(&tok, false);
    for &id in &ids[..ids.len() - 1] {
        assert_eq!(s.push(id).unwrap(), "");
    }
    assert_eq!(s.push(ids[ids.len() - 1]).unwrap(), "🎉");

    // An unfinished character comes out of flush as U+FFFD, like decode.
    let mut s = StreamDecoder::new(&tok, false);
    assert_eq!(s.push(ids[0]).unwrap(), "");
    assert_eq!(s.flush(), "\u{FFFD}");
    assert_eq!(tok.decode(&ids[..1], false).unwrap(), "\u{FFFD}");
}

// ---------------------------------------------------------------------------
// Hand-made metadata

fn strs(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::String((*s).to_owned())).collect())
}

/// A tiny SentencePiece ("llama") vocabulary: <unk>, <s>, </s>, the 256 byte
/// tokens, then `pieces` with scores falling by position (like Llama's).
fn spm_meta(pieces: &[&str], add_space_prefix: Option<bool>) -> Metadata {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types: Vec<i32> = vec![2, 3, 3];
    for b in 0..=255u32 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    for p in pieces {
        tokens.push((*p).to_owned());
        types.push(1);
    }
    let scores: Vec<f32> = (0..tokens.len())
        .map(|i| if types[i] == 1 { -(i as f32) } else { 0.0 })
        .collect();
    let mut m = Metadata::new();
    m.insert("tokenizer.ggml.model", Value::String("llama".into()));
    m.insert(
        "tokenizer.ggml.tokens",
        Value::Array(tokens.into_iter().map(Value::String).collect()),
    );
    m.insert(
        "tokenizer.ggml.token_type",
        Value::Array(types.into_iter().map(Value::I32).collect()),
    );
    m.insert(
        "tokenizer.ggml.scores",
        Value::Array(scores.into_iter().map(Value::F32).collect()),
    );
    m.insert("tokenizer.ggml.bos_token_id", Value::U32(1));
    m.insert("tokenizer.ggml.eos_token_id", Value::U32(2));
    m.insert("tokenizer.ggml.unknown_token_id", Value::U32(0));
    if let Some(p) = add_space_prefix {
        m.insert("tokenizer.ggml.add_space_prefix", Value::Bool(p));
    }
    m
}

const SPM_PIECES: &[&str] = &[
    "▁",
    "h",
    "e",
    "l",
    "o",
    "w",
    "r",
    "d",
    "a",
    "b",
    "c",
    "▁h",
    "ll",
    "he",
    "llo",
    "▁he",
    "▁hello",
    "or",
    "▁w",
    "▁wor",
    "▁world",
    "ld",
    "▁▁",
    "ab",
    "bc",
    "abc",
    "▁a",
    "▁ab",
    "▁▁▁",
    "aa",
    "ca",
    "▁c",
    "▁▁▁▁",
    "▁abc",
    "cab",
];

fn spm(add_space_prefix: Option<bool>) -> Tokenizer {
    Tokenizer::from_gguf(&spm_meta(SPM_PIECES, add_space_prefix)).expect("tiny SentencePiece")
}

fn ids_of(tok: &Tokenizer, pieces: &[&str]) -> Vec<u32> {
    pieces
        .iter()
        .map(|p| tok.token_id(p).unwrap_or_else(|| panic!("no token {p:?}")))
        .collect()
}

#[test]
fn sentencepiece_spaces_prefix_and_bos() {
    let tok = spm(None);
    assert!(tok.add_bos(), "llama vocabularies add BOS by default");
    assert_eq!(tok.bos(), Some(1));
    assert_eq!(
        tok.encode("hello world", true).unwrap(),
        ids_of(&tok, &["▁hello", "▁world"])
    );
    let mut with_bos = vec![1];
    with_bos.extend(ids_of(&tok, &["▁hello", "▁world"]));
    assert_eq!(tok.encode_with_bos("hello world", true).unwrap(), with_bos);
    assert_eq!(tok.decode(&with_bos, true).unwrap(), "hello world");
    assert_eq!(tok.decode(&with_bos, false).unwrap(), "<s> hello world");
    // Spaces become ▁, several in a row merge.
    assert_eq!(
        tok.encode("hello   world", true).unwrap(),
        ids_of(&tok, &["▁hello", "▁▁", "▁world"])
    );
    assert_eq!(tok.encode("", true).unwrap(), Vec::<u32>::new());
    assert_eq!(tok.encode_with_bos("", true).unwrap(), vec![1]);

    // Without the space prefix.
    let tok = spm(Some(false));
    assert_eq!(
        tok.encode("hello world", true).unwrap(),
        ids_of(&tok, &["he", "llo", "▁world"])
    );
    assert_eq!(
        tok.decode(&tok.encode("hello world", true).unwrap(), false)
            .unwrap(),
        "hello world"
    );
}

#[test]
fn sentencepiece_byte_fallback() {
    let tok = spm(None);
    // 'é' and '\n' are not in the vocabulary: their UTF-8 bytes are used.
    let ids = tok.encode("hé\nab", true).unwrap();
    let want = ids_of(&tok, &["▁h", "<0xC3>", "<0xA9>", "<0x0A>", "ab"]);
    assert_eq!(ids, want);
    assert_eq!(tok.decode(&ids, false).unwrap(), "hé\nab");
    assert_eq!(tok.token_kind(want[1]), Some(TokenKind::Byte));

    // Streaming holds the first byte of 'é'.
    let chunks = stream(&tok, &ids, false);
    assert_eq!(chunks, vec!["h", "", "é", "\n", "ab", ""]);

    // An emoji: four byte tokens.
    let ids = tok.encode("😀", true).unwrap();
    assert_eq!(ids.len(), 5, "▁ + 4 bytes: {ids:?}");
    let chunks = stream(&tok, &ids, false);
    assert_eq!(chunks.concat(), "😀");
    assert!(chunks.iter().all(|c| !c.contains('\u{FFFD}')));
}

#[test]
fn sentencepiece_special_tokens_and_prefix_after_them() {
    let tok = spm(None);
    // The text after a special token gets its own space prefix, as llama.cpp.
    assert_eq!(
        tok.encode("<s>hello</s>", true).unwrap(),
        [vec![1], ids_of(&tok, &["▁hello"]), vec![2]].concat()
    );
    let plain = tok.encode("<s>", false).unwrap();
    assert!(!plain.contains(&1), "{plain:?}");
    assert_eq!(tok.decode(&plain, false).unwrap(), "<s>");
    assert_eq!(tok.eog_tokens(), &[2]);
    assert!(tok.is_special(0) && tok.is_special(1) && tok.is_special(2));
}

/// llama.cpp's SentencePiece algorithm, written out directly: merge the
/// adjacent pair whose concatenation is the highest-scoring token (leftmost
/// on ties) until none is left; unknown characters become byte tokens.
fn reference_spm(tok: &Tokenizer, scores: &[f32], text: &str, prefix: bool) -> Vec<u32> {
    let mut s = String::new();
    if prefix {
        s.push(' ');
    }
    s.push_str(text);
    let s = s.replace(' ', "▁");
    let mut syms: Vec<String> = s.chars().map(String::from).collect();
    loop {
        let mut best: Option<(usize, f32)> = None;
        for i in 0..syms.len().saturating_sub(1) {
            let cat = format!("{}{}", syms[i], syms[i + 1]);
            if let Some(id) = tok.token_id(&cat) {
                let sc = scores[id as usize];
                if best.is_none_or(|(_, b)| sc > b) {
                    best = Some((i, sc));
                }
            }
        }
        let Some((i, _)) = best else { break };
        let right = syms.remove(i + 1);
        syms[i].push_str(&right);
    }
    let mut out = Vec::new();
    for sym in syms {
        match tok.token_id(&sym) {
            Some(id) => out.push(id),
            None => {
                for b in sym.bytes() {
                    out.push(tok.token_id(&format!("<0x{b:02X}>")).unwrap());
                }
            }
        }
    }
    out
}

/// A small xorshift generator, so the random tests need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Encodes `count` random strings over `alphabet` with the tokenizer built
/// from `pieces` and with [`reference_spm`]; they must agree.
fn check_against_reference(pieces: &[&str], alphabet: &str, rng: &mut Rng, count: usize) {
    let meta = spm_meta(pieces, None);
    let scores = meta.get_f32_array("tokenizer.ggml.scores").unwrap();
    let tok = Tokenizer::from_gguf(&meta).unwrap();
    let alphabet: Vec<char> = alphabet.chars().collect();
    for _ in 0..count {
        let len = 1 + rng.below(14);
        let text: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let want = reference_spm(&tok, &scores, &text, true);
        let got = tok.encode(&text, false).unwrap();
        if got != want {
            let show = |ids: &[u32]| -> Vec<String> {
                ids.iter().map(|&i| tok.token_text(i).unwrap()).collect()
            };
            panic!(
                "vocabulary {pieces:?}, text {text:?}: want {:?}, got {:?}",
                show(&want),
                show(&got)
            );
        }
        assert_eq!(tok.decode(&want, false).unwrap(), text);
    }
}

#[test]
fn sentencepiece_matches_reference_algorithm_on_random_text() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    check_against_reference(SPM_PIECES, "abc helowrd é", &mut rng, 3000);

    // Runs of one character, where one token can be formed from different
    // pairs, under many score orders.
    let runs: &[&str] = &[
        "a",
        "b",
        "▁",
        "aa",
        "ba",
        "ab",
        "aaa",
        "▁a",
        "aab",
        "baa",
        "bb",
        "▁▁",
        "▁▁▁",
        "aaaa",
        "bab",
        "▁b",
        "abab",
        "▁▁▁▁",
    ];
    for _ in 0..30 {
        let mut order = runs.to_vec();
        for i in (1..order.len()).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        check_against_reference(&order, "aab ", &mut rng, 1000);
    }
}

#[test]
fn sentencepiece_scores_decide_merge_order() {
    // "abc" with ab > bc gives ab|c; with bc > ab gives a|bc.
    let first = Tokenizer::from_gguf(&spm_meta(&["a", "b", "c", "ab", "bc"], Some(false))).unwrap();
    assert_eq!(
        first.encode("abc", true).unwrap(),
        ids_of(&first, &["ab", "c"])
    );
    let second =
        Tokenizer::from_gguf(&spm_meta(&["a", "b", "c", "bc", "ab"], Some(false))).unwrap();
    assert_eq!(
        second.encode("abc", true).unwrap(),
        ids_of(&second, &["a", "bc"])
    );
}

// ---------------------------------------------------------------------------
// Byte-level BPE on a hand-made vocabulary, and errors

fn gpt2_meta() -> Metadata {
    let mut m = Metadata::new();
    m.insert("tokenizer.ggml.model", Value::String("gpt2".into()));
    m.insert("tokenizer.ggml.pre", Value::String("gpt2".into()));
    m.insert(
        "tokenizer.ggml.tokens",
        strs(&["<|endoftext|>", "a", "b", "Ġ", "ab", "Ġab", "<tool>"]),
    );
    m.insert(
        "tokenizer.ggml.token_type",
        Value::Array([3, 1, 1, 1, 1, 1, 4].into_iter().map(Value::I32).collect()),
    );
    m.insert("tokenizer.ggml.merges", strs(&["a b", "Ġ ab"]));
    m.insert("tokenizer.ggml.eos_token_id", Value::U32(0));
    m
}

#[test]
fn byte_level_tiny_vocabulary() {
    let tok = Tokenizer::from_gguf(&gpt2_meta()).unwrap();
    assert_eq!(tok.encode("ab ab", true).unwrap(), vec![4, 5]);
    assert_eq!(tok.encode("ab<|endoftext|>", true).unwrap(), vec![4, 0]);
    // User-defined tokens are matched even without parse_special.
    assert_eq!(tok.encode("ab<tool>", false).unwrap(), vec![4, 6]);
    assert_eq!(tok.decode(&[4, 6, 0], true).unwrap(), "ab<tool>");
    assert_eq!(
        tok.decode(&[4, 6, 0], false).unwrap(),
        "ab<tool><|endoftext|>"
    );
    assert!(!tok.add_bos());
    assert_eq!(tok.eog_tokens(), &[0]);
    assert!(!tok.is_special(6));

    // An unknown pre-tokenizer falls back to GPT-2's regex.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.pre", Value::String("brand-new".into()));
    let tok = Tokenizer::from_gguf(&m).unwrap();
    assert_eq!(tok.encode("ab ab", true).unwrap(), vec![4, 5]);
}

#[test]
fn errors_on_bad_metadata() {
    // No tokens array.
    let mut m = Metadata::new();
    m.insert("tokenizer.ggml.model", Value::String("gpt2".into()));
    match Tokenizer::from_gguf(&m) {
        Err(TokenizerError::MissingKey { key }) => assert_eq!(key, "tokenizer.ggml.tokens"),
        other => panic!("expected MissingKey, got {other:?}"),
    }
    // No model.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.model", Value::U32(3));
    assert!(matches!(
        Tokenizer::from_gguf(&m),
        Err(TokenizerError::Metadata(_))
    ));
    // Tokens of the wrong type.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.tokens", Value::U32(3));
    let err = Tokenizer::from_gguf(&m).unwrap_err();
    assert!(matches!(err, TokenizerError::Metadata(_)), "{err}");
    // token_type of the wrong length.
    let mut m = gpt2_meta();
    m.insert(
        "tokenizer.ggml.token_type",
        Value::Array(vec![Value::I32(1); 3]),
    );
    match Tokenizer::from_gguf(&m) {
        Err(TokenizerError::LengthMismatch {
            key,
            expected,
            found,
        }) => {
            assert_eq!((key, expected, found), ("tokenizer.ggml.token_type", 7, 3));
        }
        other => panic!("expected LengthMismatch, got {other:?}"),
    }
    // scores of the wrong length.
    let mut m = spm_meta(&["a"], None);
    m.insert("tokenizer.ggml.scores", Value::Array(vec![Value::F32(0.0)]));
    assert!(matches!(
        Tokenizer::from_gguf(&m),
        Err(TokenizerError::LengthMismatch { .. })
    ));
    // Unknown model.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.model", Value::String("foo".into()));
    let err = Tokenizer::from_gguf(&m).unwrap_err();
    assert!(matches!(&err, TokenizerError::UnknownModel(name) if name == "foo"));
    assert!(err.to_string().contains("foo"));
    // gpt2 without merges, llama without scores.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.merges", Value::Array(vec![]));
    assert!(Tokenizer::from_gguf(&m).is_ok(), "empty merges are allowed");
    let mut m2 = Metadata::new();
    for (k, v) in gpt2_meta().iter() {
        if k != "tokenizer.ggml.merges" {
            m2.insert(k, v.clone());
        }
    }
    assert!(matches!(
        Tokenizer::from_gguf(&m2),
        Err(TokenizerError::MissingKey { key }) if key == "tokenizer.ggml.merges"
    ));
    let mut m3 = Metadata::new();
    for (k, v) in spm_meta(&["a"], None).iter() {
        if k != "tokenizer.ggml.scores" {
            m3.insert(k, v.clone());
        }
    }
    assert!(matches!(
        Tokenizer::from_gguf(&m3),
        Err(TokenizerError::MissingKey { key }) if key == "tokenizer.ggml.scores"
    ));
    // A malformed merge.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.merges", strs(&["ab"]));
    assert!(matches!(
        Tokenizer::from_gguf(&m),
        Err(TokenizerError::BadMerge { index: 0, .. })
    ));
    // Special token ids outside the vocabulary.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.bos_token_id", Value::U32(7));
    assert!(matches!(
        Tokenizer::from_gguf(&m),
        Err(TokenizerError::BadTokenId { id: 7, .. })
    ));
    // add_bos without a BOS token.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.add_bos_token", Value::Bool(true));
    assert!(matches!(
        Tokenizer::from_gguf(&m),
        Err(TokenizerError::Inconsistent(_))
    ));
    // Empty vocabulary.
    let mut m = gpt2_meta();
    m.insert("tokenizer.ggml.tokens", Value::Array(vec![]));
    m.insert("tokenizer.ggml.token_type", Value::Array(vec![]));
    assert!(matches!(
        Tokenizer::from_gguf(&m),
        Err(TokenizerError::EmptyVocab)
    ));
}

#[test]
fn tokenizer_json_override() {
    let tok = smollm2();
    let dir = std::env::temp_dir().join(format!("rewind-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    tok.inner().save(&path, false).unwrap();

    let path_gguf = common::smollm2_path();
    let file = GgufFile::open(&path_gguf).unwrap();
    let from_json = Tokenizer::from_file_with_gguf(&path, file.metadata()).unwrap();
    assert_eq!(from_json.bos(), Some(1));
    assert_eq!(from_json.eos(), Some(2));
    assert!(from_json.eog_tokens().contains(&2) && from_json.eog_tokens().contains(&0));
    for (text, want) in reference_cases() {
        assert_eq!(from_json.encode(&text, true).unwrap(), want, "{text:?}");
        assert_eq!(from_json.decode(&want, false).unwrap(), text);
    }
    let plain = Tokenizer::from_file(&path).unwrap();
    assert_eq!(plain.bos(), None);
    assert!(!plain.add_bos());
    assert!(matches!(
        Tokenizer::from_file(dir.join("missing.json")),
        Err(TokenizerError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}
