//! Building the `tokenizers` pipeline (byte-level BPE or SentencePiece-style)
//! from a [`GgufVocab`], and the byte alphabets both directions use.

use std::collections::{HashMap, HashSet};

use tokenizers::SplitDelimiterBehavior;
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

use super::error::tk_err;
use super::vocab::pre_ignores_merges;
use super::{Decoding, PreTokenizerKind, TokenKind, TokenizerError};

/// The GPT-2 byte-level alphabet: the char standing for each byte.
pub fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, 33..=126 | 161..=172 | 174..=255);
        let cp = if printable {
            u32::from(b)
        } else {
            let cp = next;
            next += 1;
            cp
        };
        table[usize::from(b)] = char::from_u32(cp).unwrap_or('\u{FFFD}');
    }
    table
}

/// The byte a char of the GPT-2 byte-level alphabet stands for.
pub(super) fn char_to_byte_map() -> HashMap<char, u8> {
    byte_to_char_table()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect()
}

/// `<0xNN>` -> NN.
pub(super) fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

pub(super) fn byte_level_map() -> &'static HashMap<char, u8> {
    static MAP: std::sync::OnceLock<HashMap<char, u8>> = std::sync::OnceLock::new();
    MAP.get_or_init(char_to_byte_map)
}

/// Which of our decodings a tokenizer.json decoder amounts to.
pub(super) fn decoding_of(d: &DecoderWrapper) -> Decoding {
    match d {
        DecoderWrapper::ByteLevel(_) => Decoding::ByteLevel,
        DecoderWrapper::Metaspace(m) => Decoding::SentencePiece {
            strip_leading_space: !matches!(
                m.get_prepend_scheme(),
                tokenizers::pre_tokenizers::metaspace::PrependScheme::Never
            ),
        },
        DecoderWrapper::Sequence(seq) => {
            let parts = seq.get_decoders();
            if parts.len() == 1 {
                return decoding_of(&parts[0]);
            }
            let spm = parts.iter().any(|p| {
                matches!(p, DecoderWrapper::ByteFallback(_))
                    || matches!(p, DecoderWrapper::Replace(_))
            });
            let other = parts.iter().any(|p| {
                !matches!(
                    p,
                    DecoderWrapper::ByteFallback(_)
                        | DecoderWrapper::Replace(_)
                        | DecoderWrapper::Fuse(_)
                        | DecoderWrapper::Strip(_)
                )
            });
            if spm && !other {
                Decoding::SentencePiece {
                    strip_leading_space: parts.iter().any(|p| match p {
                        DecoderWrapper::Strip(s) => s.start > 0,
                        _ => false,
                    }),
                }
            } else {
                Decoding::Generic
            }
        }
        _ => Decoding::Generic,
    }
}

/// Filters merges to those whose parts and result are tokens (llama.cpp
/// ignores the others in effect) and splits "a b" at the first space after
/// the first byte.
pub(super) fn parse_merges(
    merges: &[String],
    ids: &HashMap<String, u32>,
) -> Result<Vec<(String, String)>, TokenizerError> {
    let mut out = Vec::with_capacity(merges.len());
    let mut dropped = 0usize;
    for (index, m) in merges.iter().enumerate() {
        let split = m
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == ' ')
            .map(|(i, _)| i);
        let Some(at) = split else {
            return Err(TokenizerError::BadMerge {
                index,
                merge: m.clone(),
            });
        };
        let (a, b) = (&m[..at], &m[at + 1..]);
        if b.is_empty() {
            return Err(TokenizerError::BadMerge {
                index,
                merge: m.clone(),
            });
        }
        let merged = format!("{a}{b}");
        if ids.contains_key(a) && ids.contains_key(b) && ids.contains_key(&merged) {
            out.push((a.to_owned(), b.to_owned()));
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        log::warn!("tokenizer: ignoring {dropped} merges whose tokens are not in the vocabulary");
    }
    Ok(out)
}

pub(super) fn bpe_vocab(ids: &HashMap<String, u32>) -> BpeVocab {
    ids.iter().map(|(k, &v)| (k.clone(), v)).collect()
}

pub(super) fn build_byte_level(
    ids: &HashMap<String, u32>,
    merges: &[String],
    pre: &str,
) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let merges = parse_merges(merges, ids)?;
    let kind = match PreTokenizerKind::from_name(pre) {
        Some(k) => {
            if pre.is_empty() {
                log::warn!(
                    "tokenizer: no tokenizer.ggml.pre in the model; using llama.cpp's default pre-tokenizer"
                );
            }
            k
        }
        None => {
            log::warn!(
                "tokenizer: unknown pre-tokenizer {pre:?}; falling back to GPT-2's regex, tokenization may differ from the model's"
            );
            PreTokenizerKind::Gpt2
        }
    };
    let bpe = BPE::builder()
        .vocab_and_merges(bpe_vocab(ids), merges)
        .ignore_merges(pre_ignores_merges(pre))
        .build()
        .map_err(tk_err)?;
    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for re in kind.regexes() {
        let split = Split::new(
            SplitPattern::Regex((*re).to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tk_err)?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(PreTokenizerSequence::new(steps)));
    tok.with_decoder(Some(ByteLevel::new(false, false, false)));
    Ok(tok)
}

/// Merges implied by SentencePiece scores: for each normal token, every split
/// into two normal tokens, ranked by the token's score (higher first), then
/// by token id and by the left part's length.
pub(super) fn merges_from_scores(
    pieces: &[String],
    kinds: &[TokenKind],
    ids: &HashMap<String, u32>,
    scores: &[f32],
) -> Vec<(String, String)> {
    let is_normal = |t: &str| {
        ids.get(t)
            .is_some_and(|&id| kinds.get(id as usize) == Some(&TokenKind::Normal))
    };
    // Both halves of a split must be tokens, so only splits into lengths
    // some token has are looked up: hashing every prefix and suffix of a
    // long token would cost the square of its length (a hostile vocabulary
    // with one 1 MB token would take hours to load).
    let lengths: HashSet<usize> = pieces.iter().map(String::len).collect();
    let mut ranked: Vec<(f32, u32, usize, &str, usize)> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if kinds[i] != TokenKind::Normal || ids.get(piece) != Some(&(i as u32)) {
            continue;
        }
        for (at, _) in piece.char_indices().skip(1) {
            if !lengths.contains(&at) || !lengths.contains(&(piece.len() - at)) {
                continue;
            }
            let (a, b) = piece.split_at(at);
            if is_normal(a) && is_normal(b) {
                ranked.push((scores[i], i as u32, at, piece.as_str(), at));
            }
        }
    }
    ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    ranked
        .into_iter()
        .map(|(_, _, _, piece, at)| (piece[..at].to_owned(), piece[at..].to_owned()))
        .collect()
}

pub(super) fn build_sentencepiece(
    pieces: &[String],
    kinds: &[TokenKind],
    ids: &HashMap<String, u32>,
    scores: &[f32],
    unk_text: Option<&str>,
    add_space_prefix: bool,
) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let merges = merges_from_scores(pieces, kinds, ids, scores);
    let mut builder = BPE::builder()
        .vocab_and_merges(bpe_vocab(ids), merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk_text {
        builder = builder.unk_token(unk.to_owned());
    }
    let bpe = builder.build().map_err(tk_err)?;

    let mut norm: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        norm.push(Prepend::new("\u{2581}".to_owned()).into());
    }
    norm.push(Replace::new(" ", "\u{2581}").map_err(tk_err)?.into());

    let mut dec: Vec<DecoderWrapper> = vec![
        Replace::new("\u{2581}", " ").map_err(tk_err)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        dec.push(Strip::new(' ', 1, 0).into());
    }
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_normalizer(Some(NormalizerSequence::new(norm)))
        .map_err(tk_err)?;
    tok.with_decoder(Some(DecoderSequence::new(dec)));
    Ok(tok)
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
    fn merges_from_scores_of_a_long_token_are_quick() {
        let long = "ab".repeat(200_000);
        let pieces: Vec<String> = ["a", "b", "ab", "aba", &long]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let kinds = vec![TokenKind::Normal; pieces.len()];
        let ids: HashMap<String, u32> = pieces
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        let start = std::time::Instant::now();
        let merges = merges_from_scores(&pieces, &kinds, &ids, &[0.0, 0.0, 3.0, 2.0, 1.0]);
        // Looking up every split of the 400 KB token took minutes.
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "b"), ("ab", "a")]);
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
