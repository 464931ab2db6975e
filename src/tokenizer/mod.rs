//! Text to token ids and back, built from the vocabulary stored in a GGUF file.
//!
//! [`Tokenizer::from_gguf`] rebuilds a [`tokenizers::Tokenizer`] from the
//! `tokenizer.ggml.*` metadata so that token ids equal llama.cpp's:
//!
//! * `tokenizer.ggml.model = "gpt2"`: byte-level BPE. The text is split by
//!   the pre-tokenizer regexes llama.cpp uses for `tokenizer.ggml.pre`
//!   (see [`PreTokenizerKind`]), each piece is mapped to GPT-2's byte
//!   alphabet and merged with `tokenizer.ggml.merges` in rank order.
//! * `tokenizer.ggml.model = "llama"`: SentencePiece-style BPE (Llama 2,
//!   TinyLlama, Mistral v0.1). Spaces become `▁`, a `▁` is prepended to each
//!   run of text when `tokenizer.ggml.add_space_prefix` is true (the default
//!   for this model), pieces are merged by `tokenizer.ggml.scores` (highest
//!   first) and characters missing from the vocabulary fall back to the byte
//!   tokens `<0x00>`..`<0xFF>`. The merge list is derived from the scores:
//!   every normal token that is the concatenation of two normal tokens gives
//!   a merge ranked by the token's score.
//!
//! Token types (`tokenizer.ggml.token_type`) follow llama.cpp: control (3)
//! and unknown (2) tokens are *special*: they are recognised in text only
//! when `parse_special` is true and dropped by `decode(.., skip_special =
//! true)`. User-defined tokens (4) are always recognised in text and always
//! decoded. Tokens that llama.cpp treats as end-of-generation by their text
//! (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, ...) are special too.
//!
//! Decoding does not go through the `tokenizers` decoders: each token's bytes
//! are computed as llama.cpp's `token_to_piece` does (byte-level alphabet
//! reversed, `▁` to space, `<0xNN>` to the byte) and concatenated, so
//! [`Tokenizer::decode`] and [`StreamDecoder`] agree byte for byte. The one
//! difference from llama.cpp: a SentencePiece model with `add_space_prefix`
//! drops the leading space of the first decoded (non-skipped) token, as
//! Hugging Face does, even when a skipped BOS precedes it. llama.cpp's
//! `clean_spaces` post-processing (removing spaces before punctuation) is
//! not applied, so decoding inverts encoding.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab as BpeVocab};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::utils::Sequence as NormalizerSequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, Model, OffsetReferential, OffsetType, PreTokenizer, SplitDelimiterBehavior,
};

use crate::gguf::{GgufError, Metadata};

mod build;
mod stream;
mod vocab;

pub use build::byte_to_char_table;
pub use stream::StreamDecoder;
pub use vocab::{GgufVocab, PreTokenizerKind, TokenKind, keys};

use build::*;
use vocab::{EOG_TEXTS, pre_adds_bos, pre_ignores_merges};

/// Everything that can go wrong building or using a [`Tokenizer`].
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A required metadata key is absent.
    #[error("vocabulary metadata key {key:?} is missing")]
    MissingKey { key: String },
    /// Reading a metadata value failed (wrong type, ...).
    #[error("vocabulary metadata: {0}")]
    Metadata(#[source] GgufError),
    /// `tokenizer.ggml.tokens` is empty.
    #[error("the vocabulary (tokenizer.ggml.tokens) is empty")]
    EmptyVocab,
    /// A per-token array whose length differs from the number of tokens.
    #[error("{key} has {found} entries but the vocabulary has {expected} tokens")]
    LengthMismatch {
        key: &'static str,
        expected: usize,
        found: usize,
    },
    /// A special token id (BOS, EOS, ...) outside the vocabulary.
    #[error("{key} = {id} is not a token id (the vocabulary has {vocab_size} tokens)")]
    BadTokenId {
        key: &'static str,
        id: u32,
        vocab_size: usize,
    },
    /// A `tokenizer.ggml.model` this crate cannot tokenize.
    #[error(
        "unknown tokenizer model {0:?}: supported are \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece)"
    )]
    UnknownModel(String),
    /// A merge that is not two tokens separated by a space.
    #[error(
        "tokenizer.ggml.merges entry {index} ({merge:?}) is not two tokens separated by a space"
    )]
    BadMerge { index: usize, merge: String },
    /// Metadata that contradicts itself.
    #[error("inconsistent vocabulary metadata: {0}")]
    Inconsistent(String),
    /// An id outside the vocabulary passed to decoding.
    #[error("token id {id} is out of range (the vocabulary has {vocab_size} tokens)")]
    InvalidId { id: u32, vocab_size: usize },
    /// An error of the `tokenizers` crate.
    #[error("tokenizers: {0}")]
    Tokenizers(#[source] Box<dyn StdError + Send + Sync>),
    /// Reading a tokenizer file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<GgufError> for TokenizerError {
    fn from(e: GgufError) -> Self {
        match e {
            GgufError::MissingKey { key } => TokenizerError::MissingKey { key },
            other => TokenizerError::Metadata(other),
        }
    }
}

fn tk_err(e: tokenizers::Error) -> TokenizerError {
    TokenizerError::Tokenizers(e)
}

/// How token ids turn back into bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoding {
    /// GPT-2 byte-level alphabet.
    ByteLevel,
    /// `▁` is a space, `<0xNN>` a byte; optionally drop the first leading
    /// space.
    SentencePiece { strip_leading_space: bool },
    /// A tokenizer.json whose decoder is neither: use `tokenizers`' decoder.
    Generic,
}

/// A tokenizer for one model: encoding, decoding and the special tokens.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    /// Recognises special tokens in text.
    inner: tokenizers::Tokenizer,
    /// `inner`'s added tokens, set to treat special tokens' text as plain
    /// text (user-defined tokens are still matched).
    plain_added: tokenizers::AddedVocabulary,
    pieces: Vec<String>,
    kinds: Vec<TokenKind>,
    ids: HashMap<String, u32>,
    decoding: Decoding,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: Vec<u32>,
}

impl Tokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(meta: &Metadata) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_vocab(&GgufVocab::from_metadata(meta)?)
    }

    /// Builds the tokenizer from vocabulary data.
    pub fn from_vocab(v: &GgufVocab) -> Result<Tokenizer, TokenizerError> {
        let n = v.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if n > u32::MAX as usize {
            return Err(TokenizerError::Inconsistent(format!(
                "{n} tokens do not fit in u32 ids"
            )));
        }
        let mut kinds: Vec<TokenKind> = match &v.token_types {
            Some(t) if t.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: keys::TOKEN_TYPE,
                    expected: n,
                    found: t.len(),
                });
            }
            Some(t) => t.iter().map(|&x| TokenKind::from_gguf(x)).collect(),
            None => vec![TokenKind::Normal; n],
        };
        if let Some(s) = &v.scores
            && s.len() != n
        {
            return Err(TokenizerError::LengthMismatch {
                key: keys::SCORES,
                expected: n,
                found: s.len(),
            });
        }
        let check = |key: &'static str, id: Option<u32>| -> Result<Option<u32>, TokenizerError> {
            match id {
                Some(id) if id as usize >= n => Err(TokenizerError::BadTokenId {
                    key,
                    id,
                    vocab_size: n,
                }),
                other => Ok(other),
            }
        };
        let bos = check(keys::BOS_ID, v.bos)?;
        let eos = check(keys::EOS_ID, v.eos)?;
        let eot = check(keys::EOT_ID, v.eot)?;
        let eom = check(keys::EOM_ID, v.eom)?;
        let unk = check(keys::UNK_ID, v.unk)?;
        let pad = check(keys::PAD_ID, v.pad)?;

        // Empty texts would be ambiguous; llama.cpp renames them the same way.
        let pieces: Vec<String> = v
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if t.is_empty() {
                    format!("[EMPTY_{i}]")
                } else {
                    t.clone()
                }
            })
            .collect();
        // Later duplicates win, as in llama.cpp.
        let mut ids: HashMap<String, u32> = HashMap::with_capacity(n);
        for (i, t) in pieces.iter().enumerate() {
            ids.insert(t.clone(), i as u32);
        }

        // End-of-generation tokens, which llama.cpp also forces to control.
        let mut eog: Vec<u32> = EOG_TEXTS
            .iter()
            .filter_map(|t| ids.get(*t).copied())
            .collect();
        eog.extend([eos, eot, eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();
        for &id in &eog {
            let kind = &mut kinds[id as usize];
            if !kind.is_special() && EOG_TEXTS.contains(&pieces[id as usize].as_str()) {
                *kind = TokenKind::Control;
            }
        }

        let pre = v.pre.as_deref().unwrap_or("");
        let (inner, decoding, default_add_bos) = match v.model.as_str() {
            "gpt2" => {
                let merges = v
                    .merges
                    .as_ref()
                    .ok_or_else(|| TokenizerError::MissingKey {
                        key: keys::MERGES.to_owned(),
                    })?;
                let tok = build_byte_level(&ids, merges, pre)?;
                (tok, Decoding::ByteLevel, pre_adds_bos(pre))
            }
            "llama" => {
                let scores = v
                    .scores
                    .as_ref()
                    .ok_or_else(|| TokenizerError::MissingKey {
                        key: keys::SCORES.to_owned(),
                    })?;
                let add_space_prefix = v.add_space_prefix.unwrap_or(true);
                let unk_text = unk.map(|id| pieces[id as usize].as_str());
                let tok =
                    build_sentencepiece(&pieces, &kinds, &ids, scores, unk_text, add_space_prefix)?;
                (
                    tok,
                    Decoding::SentencePiece {
                        strip_leading_space: add_space_prefix,
                    },
                    true,
                )
            }
            other => return Err(TokenizerError::UnknownModel(other.to_owned())),
        };
        let add_bos = v.add_bos.unwrap_or(default_add_bos);
        let add_eos = v.add_eos.unwrap_or(false);
        if add_bos && bos.is_none() {
            return Err(TokenizerError::Inconsistent(
                "add_bos_token is true but there is no bos_token_id".into(),
            ));
        }
        if add_eos && eos.is_none() {
            return Err(TokenizerError::Inconsistent(
                "add_eos_token is true but there is no eos_token_id".into(),
            ));
        }
        Tokenizer::assemble(
            inner,
            pieces,
            kinds,
            ids,
            decoding,
            Specials {
                bos,
                eos,
                eot,
                unk,
                pad,
                add_bos,
                add_eos,
                eog,
            },
        )
    }

    /// Loads a Hugging Face `tokenizer.json` instead of the GGUF vocabulary.
    ///
    /// Such a file has no BOS/EOS metadata: the result has no BOS or EOS,
    /// `add_bos()` is false, and the end-of-generation tokens are found by
    /// their text only. Use [`Tokenizer::from_file_with_gguf`] to take BOS,
    /// EOS, EOT and `add_bos_token` from a GGUF file, or
    /// [`Tokenizer::with_bos_eos`] to set them.
    ///
    /// Added tokens marked special become control tokens, other added tokens
    /// user-defined ones. Decoding follows the file's decoder when it is
    /// byte-level or SentencePiece-like (Replace `▁`/ByteFallback/Strip or
    /// Metaspace); any other decoder is used through `tokenizers`, and
    /// [`StreamDecoder`] then relies on `tokenizers`' own stream decoding.
    pub fn from_file(tokenizer_json: impl AsRef<Path>) -> Result<Tokenizer, TokenizerError> {
        let path = tokenizer_json.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TokenizerError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(tk_err)?;
        // Encoding never adds BOS/EOS through a post-processor: we do it.
        inner.with_post_processor(None::<tokenizers::PostProcessorWrapper>);

        let added = inner.get_added_tokens_decoder();
        let vocab = inner.get_vocab(true);
        let n = vocab
            .values()
            .chain(added.keys())
            .max()
            .map_or(0, |&m| m as usize + 1);
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if n > 2 * (vocab.len() + added.len()) + 1024 || n > u32::MAX as usize {
            return Err(TokenizerError::Inconsistent(format!(
                "token ids go up to {} but there are only {} tokens",
                n - 1,
                vocab.len()
            )));
        }
        let decoding = match inner.get_decoder() {
            Some(d) => decoding_of(d),
            None => Decoding::Generic,
        };
        let mut pieces = vec![String::new(); n];
        let mut kinds = vec![TokenKind::Unused; n];
        for (text, &id) in &vocab {
            let i = id as usize;
            pieces[i] = text.clone();
            kinds[i] = match decoding {
                Decoding::SentencePiece { .. } if parse_byte_token(text).is_some() => {
                    TokenKind::Byte
                }
                _ => TokenKind::Normal,
            };
        }
        for (&id, tok) in &added {
            let i = id as usize;
            pieces[i] = tok.content.clone();
            kinds[i] = if tok.special {
                TokenKind::Control
            } else {
                TokenKind::UserDefined
            };
        }
        let ids: HashMap<String, u32> = vocab;
        let mut eog: Vec<u32> = EOG_TEXTS
            .iter()
            .filter_map(|t| ids.get(*t).copied())
            .collect();
        eog.sort_unstable();
        eog.dedup();
        Tokenizer::assemble(
            inner,
            pieces,
            kinds,
            ids,
            decoding,
            Specials {
                eog,
                ..Specials::default()
            },
        )
    }

    /// [`Tokenizer::from_file`], with BOS, EOS, EOT and `add_bos_token` taken
    /// from GGUF metadata (the vocabularies must agree on these ids).
    pub fn from_file_with_gguf(
        tokenizer_json: impl AsRef<Path>,
        meta: &Metadata,
    ) -> Result<Tokenizer, TokenizerError> {
        let tok = Tokenizer::from_file(tokenizer_json)?;
        let model = meta.opt_str(keys::MODEL)?.unwrap_or("");
        let pre = meta.opt_str(keys::PRE)?.unwrap_or("");
        let default_add_bos = model == "llama" || pre_adds_bos(pre);
        let add_bos = meta.opt_bool(keys::ADD_BOS)?.unwrap_or(default_add_bos);
        let mut tok = tok.with_bos_eos(
            meta.opt_u32(keys::BOS_ID)?,
            meta.opt_u32(keys::EOS_ID)?,
            add_bos,
        )?;
        if let Some(eot) = meta.opt_u32(keys::EOT_ID)? {
            tok.check_id(keys::EOT_ID, eot)?;
            tok.eot = Some(eot);
            tok.add_eog(eot);
        }
        Ok(tok)
    }

    /// Sets BOS, EOS and whether [`encode_with_bos`](Self::encode_with_bos)
    /// adds BOS. EOS joins the end-of-generation tokens.
    pub fn with_bos_eos(
        mut self,
        bos: Option<u32>,
        eos: Option<u32>,
        add_bos: bool,
    ) -> Result<Tokenizer, TokenizerError> {
        if let Some(id) = bos {
            self.check_id(keys::BOS_ID, id)?;
        }
        if let Some(id) = eos {
            self.check_id(keys::EOS_ID, id)?;
            self.add_eog(id);
        }
        if add_bos && bos.is_none() {
            return Err(TokenizerError::Inconsistent(
                "add_bos is true but there is no BOS token".into(),
            ));
        }
        self.bos = bos;
        self.eos = eos;
        self.add_bos = add_bos;
        Ok(self)
    }

    fn check_id(&self, key: &'static str, id: u32) -> Result<(), TokenizerError> {
        if (id as usize) < self.pieces.len() {
            Ok(())
        } else {
            Err(TokenizerError::BadTokenId {
                key,
                id,
                vocab_size: self.pieces.len(),
            })
        }
    }

    fn add_eog(&mut self, id: u32) {
        if let Err(pos) = self.eog.binary_search(&id) {
            self.eog.insert(pos, id);
        }
    }

    fn assemble(
        inner: tokenizers::Tokenizer,
        pieces: Vec<String>,
        kinds: Vec<TokenKind>,
        ids: HashMap<String, u32>,
        decoding: Decoding,
        s: Specials,
    ) -> Result<Tokenizer, TokenizerError> {
        let mut inner = inner;
        // Register the vocabulary's special and user-defined tokens (a no-op
        // for those a tokenizer.json already has).
        let mut added = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            let special = match kind {
                TokenKind::Control | TokenKind::Unknown => true,
                TokenKind::UserDefined => false,
                _ => continue,
            };
            let text = &pieces[i];
            // Only tokens whose text maps back to their own id: a duplicate
            // text belongs to its last id.
            if ids.get(text) != Some(&(i as u32)) {
                continue;
            }
            added.push(AddedToken::from(text.clone(), special).normalized(false));
        }
        let existing = inner.get_added_tokens_decoder();
        added.retain(|t| {
            !existing
                .values()
                .any(|e| e.content == t.content && e.special == t.special)
        });
        if !added.is_empty() {
            inner.add_tokens(added).map_err(tk_err)?;
        }
        inner.set_encode_special_tokens(false);
        let mut plain_added = inner.get_added_vocabulary().clone();
        plain_added.set_encode_special_tokens(true);
        Ok(Tokenizer {
            inner,
            plain_added,
            pieces,
            kinds,
            ids,
            decoding,
            bos: s.bos,
            eos: s.eos,
            eot: s.eot,
            unk: s.unk,
            pad: s.pad,
            add_bos: s.add_bos,
            add_eos: s.add_eos,
            eog: s.eog,
        })
    }

    /// Token ids of `text`. Never adds BOS or EOS. With `parse_special`,
    /// the text of control tokens (`<|im_start|>`, `<s>`, ...) becomes those
    /// tokens; without it, it is tokenized as ordinary text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, TokenizerError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        if parse_special {
            let enc = self.inner.encode_fast(text, false).map_err(tk_err)?;
            return Ok(enc.get_ids().to_vec());
        }
        // The steps of `tokenizers`' own encoding, with the added vocabulary
        // that ignores special tokens.
        let mut pieces = self
            .plain_added
            .extract_and_normalize(self.inner.get_normalizer(), text);
        if let Some(pre) = self.inner.get_pre_tokenizer() {
            pre.pre_tokenize(&mut pieces).map_err(tk_err)?;
        }
        let model = self.inner.get_model();
        pieces
            .tokenize(|normalized| model.tokenize(normalized.get()))
            .map_err(tk_err)?;
        Ok(pieces
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .flat_map(|(_, _, tokens)| tokens.iter().flatten().map(|t| t.id))
            .collect())
    }

    /// [`encode`](Self::encode), with BOS first iff the model's
    /// `add_bos_token` says so and the text doesn't already start with it
    /// (a chat template that writes `bos_token` itself). EOS is never
    /// appended (see [`add_eos`](Self::add_eos)).
    pub fn encode_with_bos(
        &self,
        text: &str,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut out = self.encode(text, parse_special)?;
        if self.add_bos
            && let Some(bos) = self.bos
            && out.first() != Some(&bos)
        {
            out.insert(0, bos);
        }
        Ok(out)
    }

    /// The text of `ids`. With `skip_special`, control and unknown tokens
    /// are left out. Invalid UTF-8 (from a cut-off multi-byte character)
    /// becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        for &id in ids {
            self.check_decode_id(id)?;
        }
        if self.decoding == Decoding::Generic {
            return self.inner.decode(ids, skip_special).map_err(tk_err);
        }
        let mut bytes = Vec::new();
        let mut started = false;
        for &id in ids {
            self.append_bytes(id, skip_special, &mut started, &mut bytes);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn check_decode_id(&self, id: u32) -> Result<(), TokenizerError> {
        if (id as usize) < self.pieces.len() {
            Ok(())
        } else {
            Err(TokenizerError::InvalidId {
                id,
                vocab_size: self.pieces.len(),
            })
        }
    }

    /// Appends the bytes of token `id` (which must be in range), as
    /// llama.cpp's `token_to_piece`. `started` tracks whether any bytes came
    /// before, for the SentencePiece leading-space rule.
    fn append_bytes(&self, id: u32, skip_special: bool, started: &mut bool, out: &mut Vec<u8>) {
        let i = id as usize;
        let (Some(kind), Some(text)) = (self.kinds.get(i), self.pieces.get(i)) else {
            return;
        };
        let start = out.len();
        match kind {
            TokenKind::Control | TokenKind::Unknown => {
                if skip_special {
                    return;
                }
                out.extend_from_slice(text.as_bytes());
            }
            TokenKind::UserDefined => out.extend_from_slice(text.as_bytes()),
            TokenKind::Unused | TokenKind::Undefined => return,
            TokenKind::Byte => match (self.decoding, parse_byte_token(text)) {
                (Decoding::SentencePiece { .. }, Some(b)) => out.push(b),
                _ => out.extend_from_slice(text.as_bytes()),
            },
            TokenKind::Normal => match self.decoding {
                Decoding::ByteLevel => {
                    let map = byte_level_map();
                    for c in text.chars() {
                        match map.get(&c) {
                            Some(&b) => out.push(b),
                            None => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                    }
                }
                Decoding::SentencePiece { .. } => {
                    out.extend_from_slice(text.replace('\u{2581}', " ").as_bytes())
                }
                Decoding::Generic => out.extend_from_slice(text.as_bytes()),
            },
        }
        if !*started && out.len() > start {
            *started = true;
            if let Decoding::SentencePiece {
                strip_leading_space: true,
            } = self.decoding
                && out[start] == b' '
            {
                out.remove(start);
            }
        }
    }

    /// The raw vocabulary text of `id` (`Ġworld`, `▁the`, `<0x0A>`,
    /// `<|im_end|>`), or `None` outside the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.pieces.get(id as usize).cloned()
    }

    /// The id whose vocabulary text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The type of token `id`.
    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The end-of-turn token, when the metadata names one.
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }

    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    pub fn pad(&self) -> Option<u32> {
        self.pad
    }

    /// Whether [`encode_with_bos`](Self::encode_with_bos) adds BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The model's `add_eos_token`: whether llama.cpp would append EOS to a
    /// prompt. Nothing here appends it.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// End-of-generation tokens, ascending: EOS, EOT, EOM and every token
    /// whose text llama.cpp treats as ending a turn (`<|im_end|>`,
    /// `<|eot_id|>`, `<|endoftext|>`, `<end_of_turn>`, ...).
    pub fn eog_tokens(&self) -> &[u32] {
        &self.eog
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// Whether `id` is a control (or unknown) token: parsed only with
    /// `parse_special`, skipped by `decode(.., true)`.
    pub fn is_special(&self, id: u32) -> bool {
        self.kinds.get(id as usize).is_some_and(|k| k.is_special())
    }

    /// The underlying `tokenizers` tokenizer (special tokens parsed).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

#[derive(Default)]
struct Specials {
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_is_a_bijection() {
        let table = byte_to_char_table();
        let map = char_to_byte_map();
        assert_eq!(map.len(), 256);
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[b'a' as usize], 'a');
        for (b, c) in table.iter().enumerate() {
            assert_eq!(map[c] as usize, b);
        }
    }

    #[test]
    fn byte_tokens_parse() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(10));
        assert_eq!(parse_byte_token("<0xff>"), Some(255));
        assert_eq!(parse_byte_token("<0x0A"), None);
        assert_eq!(parse_byte_token("<0x123>"), None);
        assert_eq!(parse_byte_token("a"), None);
    }

    #[test]
    fn pre_tokenizer_names() {
        assert_eq!(
            PreTokenizerKind::from_name("smollm"),
            Some(PreTokenizerKind::Smollm)
        );
        assert_eq!(
            PreTokenizerKind::from_name("llama-bpe"),
            Some(PreTokenizerKind::Llama3)
        );
        assert_eq!(
            PreTokenizerKind::from_name("qwen2"),
            Some(PreTokenizerKind::Qwen2)
        );
        assert_eq!(
            PreTokenizerKind::from_name("gpt2"),
            Some(PreTokenizerKind::Gpt2)
        );
        assert_eq!(PreTokenizerKind::from_name("nope"), None);
        // Every regex compiles.
        for kind in [
            PreTokenizerKind::Default,
            PreTokenizerKind::Gpt2,
            PreTokenizerKind::Llama3,
            PreTokenizerKind::Smollm,
            PreTokenizerKind::Qwen2,
            PreTokenizerKind::Falcon,
            PreTokenizerKind::Bloom,
            PreTokenizerKind::Viking,
        ] {
            for re in kind.regexes() {
                Split::new(
                    SplitPattern::Regex((*re).to_owned()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .unwrap_or_else(|e| panic!("{kind:?} {re}: {e}"));
            }
        }
    }

    #[test]
    fn merges_split_at_first_space_after_first_byte() {
        let ids: HashMap<String, u32> = ["a", "b", "ab", " ", "  "]
            .iter()
            .enumerate()
            .map(|(i, s)| (s.to_string(), i as u32))
            .collect();
        let m = parse_merges(&["a b".into(), "   ".into()], &ids).unwrap();
        assert_eq!(m, vec![("a".into(), "b".into()), (" ".into(), " ".into())]);
        assert!(matches!(
            parse_merges(&["ab".into()], &ids),
            Err(TokenizerError::BadMerge { index: 0, .. })
        ));
    }
}
