//! Incremental detokenization that never splits a UTF-8 character.

use super::error::tk_err;
use super::{Decoding, Tokenizer, TokenizerError};

/// Incremental detokenization for streaming output.
///
/// [`push`](Self::push) returns the text completed by one more token. Bytes
/// of a multi-byte character split across tokens are held back until the
/// character is complete, so no output ever contains a broken character;
/// [`flush`](Self::flush) returns what is left (an unfinished character as
/// U+FFFD). The pushes' outputs followed by `flush` concatenate to
/// [`Tokenizer::decode`] of all the ids.
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    skip_special: bool,
    pending: Vec<u8>,
    started: bool,
    generic: Option<GenericStream<'a>>,
}

type GenericStream<'a> = tokenizers::DecodeStream<
    'a,
    tokenizers::ModelWrapper,
    tokenizers::NormalizerWrapper,
    tokenizers::PreTokenizerWrapper,
    tokenizers::PostProcessorWrapper,
    tokenizers::DecoderWrapper,
>;

impl<'a> StreamDecoder<'a> {
    pub fn new(tok: &'a Tokenizer, skip_special: bool) -> StreamDecoder<'a> {
        let generic =
            (tok.decoding == Decoding::Generic).then(|| tok.inner.decode_stream(skip_special));
        StreamDecoder {
            tok,
            skip_special,
            pending: Vec::new(),
            started: false,
            generic,
        }
    }

    /// Adds one token; returns the newly completed text (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String, TokenizerError> {
        self.tok.check_decode_id(id)?;
        if let Some(g) = &mut self.generic {
            return Ok(g.step(id).map_err(tk_err)?.unwrap_or_default());
        }
        self.tok
            .append_bytes(id, self.skip_special, &mut self.started, &mut self.pending);
        Ok(self.take_complete())
    }

    /// The text held back (an incomplete character, as U+FFFD); resets the
    /// pending bytes.
    pub fn flush(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }

    /// Moves every complete character (and each invalid byte sequence, as
    /// U+FFFD) out of `pending`, leaving an incomplete trailing character.
    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut pos = 0;
        let buf = &self.pending;
        while pos < buf.len() {
            match std::str::from_utf8(&buf[pos..]) {
                Ok(s) => {
                    out.push_str(s);
                    pos = buf.len();
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Valid by construction of `valid_up_to`.
                    out.push_str(&String::from_utf8_lossy(&buf[pos..pos + valid]));
                    pos += valid;
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            pos += bad;
                        }
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..pos);
        out
    }
}
