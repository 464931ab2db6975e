//! Stop strings over streamed text.
//!
//! Generated text arrives in pieces (one per token), and a stop string can
//! straddle pieces. [`StopStrings`] holds back any tail of the text that could
//! still grow into a stop string, releases it once it can't, and cuts the
//! text right before the first stop string that appears (the stop string
//! itself is never emitted).

/// Watches streamed text for any of a set of stop strings.
///
/// Generation should end once [`StopStrings::push`] reports `stopped`; at the
/// natural end of a stream call [`StopStrings::flush`] to get the text still
/// held back.
#[derive(Clone, Debug, Default)]
pub struct StopStrings {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StopStrings {
    /// A watcher for `stops`. Empty strings are ignored (they would match
    /// before any text), as are duplicates.
    pub fn new<I, S>(stops: I) -> StopStrings
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut stops: Vec<String> = stops
            .into_iter()
            .map(Into::into)
            .filter(|s| !s.is_empty())
            .collect();
        stops.sort();
        stops.dedup();
        StopStrings {
            stops,
            pending: String::new(),
            stopped: false,
        }
    }

    /// The stop strings watched for.
    #[cfg(test)]
    pub fn stops(&self) -> &[String] {
        &self.stops
    }

    /// Whether a stop string has been seen.
    #[cfg(test)]
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the next piece of text. Returns the text that can be emitted now
    /// and whether a stop string was found. When one is, the returned text
    /// ends right before it and the rest (stop string included) is dropped;
    /// if several are present, the cut is at the one that starts first.
    /// After stopping, every further piece is dropped: `(String::new(), true)`.
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        self.pending.push_str(piece);

        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            self.pending.truncate(at);
            self.stopped = true;
            return (std::mem::take(&mut self.pending), true);
        }

        let keep = self.partial_match_len();
        let emit_to = self.pending.len() - keep;
        let rest = self.pending.split_off(emit_to);
        (std::mem::replace(&mut self.pending, rest), false)
    }

    /// Ends the stream: returns whatever was held back as a possible start of
    /// a stop string (empty after a stop), and resets for a new stream.
    pub fn flush(&mut self) -> String {
        let out = if self.stopped {
            String::new()
        } else {
            std::mem::take(&mut self.pending)
        };
        self.reset();
        out
    }

    /// Forgets held-back text and any stop, keeping the stop strings.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.stopped = false;
    }

    /// Length in bytes of the longest tail of `pending` that is a proper
    /// prefix of some stop string (and so could still become one).
    fn partial_match_len(&self) -> usize {
        let text = self.pending.as_bytes();
        let mut best = 0;
        for stop in &self.stops {
            let stop = stop.as_bytes();
            let longest = (stop.len() - 1).min(text.len());
            // A tail starting inside a UTF-8 sequence begins with a
            // continuation byte and can't equal the start of a `str`, so any
            // match found here begins on a char boundary.
            if let Some(len) = (best + 1..=longest)
                .rev()
                .find(|&len| text[text.len() - len..] == stop[..len])
            {
                best = len;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` and returns (all emitted text, stopped, the pieces'
    /// individual outputs).
    fn run(s: &mut StopStrings, pieces: &[&str]) -> (String, bool, Vec<String>) {
        let mut all = String::new();
        let mut outs = Vec::new();
        let mut stopped = false;
        for p in pieces {
            let (out, st) = s.push(p);
            all.push_str(&out);
            outs.push(out);
            stopped = st;
        }
        (all, stopped, outs)
    }

    #[test]
    fn no_stop_strings_passes_everything_through() {
        let mut s = StopStrings::new(Vec::<String>::new());
        assert_eq!(s.push("hello"), ("hello".to_string(), false));
        assert_eq!(s.flush(), "");
    }

    #[test]
    fn stop_split_across_pieces() {
        let mut s = StopStrings::new(["<|im_end|>"]);
        let (all, stopped, outs) = run(&mut s, &["Hi there", "<|im", "_e", "nd|>", " more"]);
        assert!(stopped);
        assert_eq!(all, "Hi there");
        assert_eq!(outs, ["Hi there", "", "", "", ""]);
        assert!(s.is_stopped());
        assert_eq!(s.flush(), "");
    }

    #[test]
    fn stop_inside_one_piece_truncates() {
        let mut s = StopStrings::new(["\nUser:"]);
        assert_eq!(s.push("ok.\nUser: hi"), ("ok.".to_string(), true));
        assert_eq!(s.push("x"), (String::new(), true));
    }

    #[test]
    fn false_partial_is_released() {
        let mut s = StopStrings::new(["</s>"]);
        assert_eq!(s.push("a </"), ("a ".to_string(), false));
        // "</b" can no longer become "</s>": all of it goes out.
        assert_eq!(s.push("b> c"), ("</b> c".to_string(), false));
        assert_eq!(s.push("<"), (String::new(), false));
        assert_eq!(s.push("<"), ("<".to_string(), false));
        assert_eq!(s.flush(), "<");
    }

    #[test]
    fn overlapping_partial_keeps_the_right_tail() {
        // "aab": after "aa", the tail "a" (not "aa") is the live prefix.
        let mut s = StopStrings::new(["ab"]);
        assert_eq!(s.push("aa"), ("a".to_string(), false));
        assert_eq!(s.push("b"), (String::new(), true));
    }

    #[test]
    fn multiple_stop_strings() {
        let mut s = StopStrings::new(["STOP", "END", "\n\n"]);
        let (all, stopped, _) = run(&mut s, &["one EN", "two\n", "\nthree"]);
        assert!(stopped);
        assert_eq!(all, "one ENtwo");

        // The earliest one wins when two complete in the same piece.
        let mut s = StopStrings::new(["xyz", "b"]);
        assert_eq!(s.push("axy"), ("a".to_string(), false));
        assert_eq!(s.push("zab"), (String::new(), true));

        // A stop string that completes stops at once, even if a longer one
        // could still complete from the same point.
        let mut s = StopStrings::new(["<|end|>", "<|"]);
        assert_eq!(s.push("x<"), ("x".to_string(), false));
        assert_eq!(s.push("|e"), (String::new(), true));
    }

    #[test]
    fn flush_at_end_releases_held_text() {
        let mut s = StopStrings::new(["<|im_end|>"]);
        let (all, stopped, _) = run(&mut s, &["answer", " <|im_"]);
        assert!(!stopped);
        assert_eq!(all, "answer ");
        assert_eq!(s.flush(), "<|im_");
        // Reset by the flush: a new stream starts clean.
        assert!(!s.is_stopped());
        assert_eq!(s.push("ok"), ("ok".to_string(), false));
    }

    #[test]
    fn multibyte_text_splits_on_char_boundaries() {
        let mut s = StopStrings::new(["é!", "日本"]);
        assert_eq!(s.push("café"), ("caf".to_string(), false));
        assert_eq!(s.push("?日"), ("é?".to_string(), false));
        assert_eq!(s.push("本語"), (String::new(), true));
        let mut s = StopStrings::new(["é!"]);
        let (all, stopped, _) = run(&mut s, &["xé", "é", "!y"]);
        assert!(stopped);
        assert_eq!(all, "xé");
    }

    #[test]
    fn empty_stop_strings_are_ignored() {
        let mut s = StopStrings::new(["", "zz"]);
        assert_eq!(s.stops(), ["zz"]);
        assert_eq!(s.push("abc"), ("abc".to_string(), false));
    }
}
