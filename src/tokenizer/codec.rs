//! Encoding text to token ids and decoding ids back to text.

use tokenizers::{Model, OffsetReferential, OffsetType, PreTokenizer};

use super::build::{byte_level_map, parse_byte_token};
use super::error::tk_err;
use super::{Decoding, TokenKind, Tokenizer, TokenizerError};

impl Tokenizer {
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
    /// appended, whatever the model's `add_eos_token`.
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

    pub(super) fn check_decode_id(&self, id: u32) -> Result<(), TokenizerError> {
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
    pub(super) fn append_bytes(
        &self,
        id: u32,
        skip_special: bool,
        started: &mut bool,
        out: &mut Vec<u8>,
    ) {
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
}
