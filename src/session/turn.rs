//! The text side of one assistant turn: incremental detokenization, stop
//! strings, and the holdback queue.

use std::collections::VecDeque;

use super::stop::StopStrings;
use crate::tokenizer::{StreamDecoder, Tokenizer, TokenizerError};

pub(super) struct Turn<'a> {
    tokenizer: &'a Tokenizer,
    decoder: StreamDecoder<'a>,
    stop: StopStrings,
    holdback: usize,
    /// Text of the newest tokens, not yet released (one entry per token).
    pending: VecDeque<String>,
    /// Text released to the caller since the turn (or the last reset) began.
    pub shown: String,
    /// All text of the turn so far: shown + pending.
    pub text: String,
    /// Tokens of the turn fed or to be fed after the checkpoint.
    pub tokens: Vec<u32>,
}

impl<'a> Turn<'a> {
    pub fn new(tokenizer: &'a Tokenizer, stops: &[String], holdback: usize) -> Self {
        Turn {
            tokenizer,
            decoder: StreamDecoder::new(tokenizer, true),
            stop: StopStrings::new(stops.iter().cloned()),
            holdback,
            pending: VecDeque::new(),
            shown: String::new(),
            text: String::new(),
            tokens: Vec::new(),
        }
    }

    /// Forgets everything (after a reset).
    pub fn clear(&mut self) {
        self.decoder = StreamDecoder::new(self.tokenizer, true);
        self.stop.reset();
        self.pending.clear();
        self.shown.clear();
        self.text.clear();
        self.tokens.clear();
    }

    /// Text the caller wrote (a prefill): shown at once, never held back.
    pub fn push_text(&mut self, tokens: &[u32], text: &str) -> String {
        self.tokens.extend_from_slice(tokens);
        self.text.push_str(text);
        self.shown.push_str(text);
        text.to_string()
    }

    /// Adds a generated token; returns the text now safe to release and
    /// whether a stop string matched.
    pub fn push(&mut self, token: u32) -> Result<(String, bool), TokenizerError> {
        self.tokens.push(token);
        let piece = self.decoder.push(token)?;
        let (visible, matched) = self.stop.push(&piece);
        self.text.push_str(&visible);
        self.pending.push_back(visible);
        let mut out = String::new();
        while self.pending.len() > self.holdback {
            out.push_str(&self.pending.pop_front().unwrap_or_default());
        }
        self.shown.push_str(&out);
        Ok((out, matched))
    }

    /// Releases everything held back (the turn ended normally).
    pub fn finish(&mut self, stopped_by_string: bool) -> String {
        if !stopped_by_string {
            let tail = self.decoder.flush();
            let (visible, _) = self.stop.push(&tail);
            let rest = self.stop.flush();
            self.text.push_str(&visible);
            self.text.push_str(&rest);
            self.pending.push_back(visible);
            self.pending.push_back(rest);
        }
        let out: String = self.pending.drain(..).collect();
        self.shown.push_str(&out);
        out
    }
}
