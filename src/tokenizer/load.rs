//! Building a [`Tokenizer`]: from GGUF vocabulary data, or from a Hugging
//! Face `tokenizer.json`.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::AddedToken;

use super::build::{build_byte_level, build_sentencepiece, decoding_of, parse_byte_token};
use super::error::tk_err;
use super::vocab::{EOG_TEXTS, pre_adds_bos};
use super::{Decoding, GgufVocab, TokenKind, Tokenizer, TokenizerError, keys};
use crate::gguf::Metadata;

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
        check(keys::PAD_ID, v.pad)?;

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
                add_bos,
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
    /// [`StreamDecoder`](super::StreamDecoder) then relies on `tokenizers`' own stream decoding.
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
            add_bos: s.add_bos,
            eog: s.eog,
        })
    }
}

#[derive(Default)]
struct Specials {
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    eog: Vec<u32>,
}
