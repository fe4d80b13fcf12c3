//! Which phoneme ids speak which word: the ground of word timings.
//!
//! The text the G2P reads is not the user's: whitespace is collapsed,
//! "10:30" becomes "10 30", lexicon words become overrides. Each rewrite is
//! made through [`Mapped`], which keeps a map from the rewritten text back to
//! the source. The G2P reports which stretch of its input each run of
//! phonemes came from (misaki: one per token); mapped back, those stretches
//! are shared out among the source's words ([`assign`]), exactly where the
//! G2P says and in proportion to the bytes where it says less (a whole-text
//! G2P of another language).

use std::ops::Range;

/// A word of the source text, and the phoneme ids of its chunk that speak it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Byte range of the word in the source text (surrounding punctuation
    /// left out: `"Hello,"` is `Hello`).
    pub span: Range<usize>,
    /// Range of [`crate::Chunk::ids`] that speaks it; empty when the G2P gave
    /// the word no sound of its own.
    pub ids: Range<usize>,
}

/// Text made from a source by rewrites, with the way back: each byte offset of
/// `text` maps to one of the source. Inside a rewritten stretch the map is
/// proportional; elsewhere it is exact.
#[derive(Debug, Clone)]
pub(crate) struct Mapped {
    /// The rewritten text.
    pub text: String,
    /// `(offset in text, offset in source)`, both never decreasing, from
    /// `(0, 0)` to the two ends.
    points: Vec<(usize, usize)>,
}

impl Mapped {
    /// The source itself.
    pub fn identity(text: &str) -> Self {
        Self {
            text: text.to_string(),
            points: vec![(0, 0), (text.len(), text.len())],
        }
    }

    /// The source offset of `pos` in `text`, as the first byte of a stretch
    /// (where several source offsets meet at `pos`, as after a deletion, the
    /// last: the stretch starts after what was deleted).
    pub fn source_start(&self, pos: usize) -> usize {
        self.source(pos, true)
    }

    /// The source offset of `pos` in `text`, as the end of a stretch (where
    /// several meet, the first: the stretch ends before what was deleted).
    pub fn source_end(&self, pos: usize) -> usize {
        self.source(pos, false)
    }

    fn source(&self, pos: usize, last: bool) -> usize {
        let after = self.points.partition_point(|&(d, _)| d < pos);
        let at_end = self.points.partition_point(|&(d, _)| d <= pos);
        if after < at_end {
            // Points at exactly `pos`.
            return if last {
                self.points[at_end - 1].1
            } else {
                self.points[after].1
            };
        }
        let (Some(&(d0, s0)), Some(&(d1, s1))) = (
            after.checked_sub(1).and_then(|i| self.points.get(i)),
            self.points.get(after),
        ) else {
            return self.points.last().map_or(0, |p| p.1);
        };
        s0 + (pos - d0) * (s1 - s0) / (d1 - d0).max(1)
    }

    /// The text with each of `edits` (ranges of `text`, in order, not
    /// overlapping) replaced by its string.
    pub fn rewrite(&self, edits: Vec<(Range<usize>, String)>) -> Self {
        if edits.is_empty() {
            return self.clone();
        }
        let mut text = String::with_capacity(self.text.len() + 16);
        let mut points = Vec::with_capacity(self.points.len() + 2 * edits.len());
        let mut from = 0;
        let push = |points: &mut Vec<(usize, usize)>, p: (usize, usize)| {
            if points.last() != Some(&p) {
                points.push(p);
            }
        };
        // The old points of an unchanged stretch [a, b), shifted to `at`.
        let keep = |points: &mut Vec<(usize, usize)>, a: usize, b: usize, at: usize| {
            push(points, (at, self.source_start(a)));
            for &(d, s) in self.points.iter().filter(|&&(d, _)| d > a && d < b) {
                push(points, (at + d - a, s));
            }
            push(points, (at + b - a, self.source_end(b)));
        };
        for (range, with) in edits {
            if range.start < from || range.end > self.text.len() {
                continue;
            }
            keep(&mut points, from, range.start, text.len());
            text.push_str(&self.text[from..range.start]);
            let start = text.len();
            text.push_str(&with);
            push(&mut points, (start, self.source_start(range.start)));
            push(&mut points, (text.len(), self.source_end(range.end)));
            from = range.end;
        }
        keep(&mut points, from, self.text.len(), text.len());
        text.push_str(&self.text[from..]);
        Self { text, points }
    }
}

/// Runs of whitespace collapsed to one space, none at the ends (the map of
/// [`crate::normalize`]).
pub(crate) fn collapse_whitespace(text: &str) -> Mapped {
    let source = Mapped::identity(text);
    let mut edits = Vec::new();
    let mut run: Option<usize> = None;
    for (i, c) in text.char_indices().chain([(text.len(), 'x')]) {
        match (c.is_whitespace(), run) {
            (true, None) => run = Some(i),
            (false, Some(start)) => {
                run = None;
                let inner = start > 0 && i < text.len();
                if inner && &text[start..i] == " " {
                    continue;
                }
                edits.push((start..i, if inner { " " } else { "" }.to_string()));
            }
            _ => {}
        }
    }
    source.rewrite(edits)
}

/// The words of `text[span]`: runs between whitespace, with surrounding
/// punctuation left out; each CJK character is a word of its own; the text of
/// an override `[word](/phonemes/)` holds its words, the phonemes none. A run
/// with no letter or digit (a dash, an ellipsis) is no word.
pub(crate) fn words_in(text: &str, span: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let s = &text[span.clone()];
    let mut i = 0;
    let mut run_start: Option<usize> = None;
    let flush = |out: &mut Vec<Range<usize>>, a: usize, b: usize| {
        let run = &s[a..b];
        let lead = run.len() - run.trim_start_matches(is_edge_punctuation).len();
        let trimmed = run.trim_matches(is_edge_punctuation);
        if trimmed.chars().any(char::is_alphanumeric) {
            let start = span.start + a + lead;
            out.push(start..start + trimmed.len());
        }
    };
    while i < s.len() {
        let rest = &s[i..];
        let Some(c) = rest.chars().next() else { break };
        if c == '[' {
            if let Some(len) = crate::split::link_len(rest) {
                if let Some(a) = run_start.take() {
                    flush(&mut out, a, i);
                }
                let close = rest.find("](").unwrap_or(1);
                let inner = i + 1..i + close;
                let mut inner_words =
                    words_in(text, span.start + inner.start..span.start + inner.end);
                out.append(&mut inner_words);
                i += len;
                continue;
            }
        }
        if c.is_whitespace() || is_cjk(c) {
            if let Some(a) = run_start.take() {
                flush(&mut out, a, i);
            }
            if is_cjk(c) {
                out.push(span.start + i..span.start + i + c.len_utf8());
            }
        } else if run_start.is_none() {
            run_start = Some(i);
        }
        i += c.len_utf8();
    }
    if let Some(a) = run_start {
        flush(&mut out, a, s.len());
    }
    out
}

/// Punctuation that surrounds a word rather than belonging to it. Currency
/// signs, `%`, `#`, `@` and `&` are read, so they stay.
fn is_edge_punctuation(c: char) -> bool {
    !c.is_alphanumeric() && !matches!(c, '$' | '€' | '£' | '¥' | '%' | '#' | '@' | '&' | '+')
}

/// Han ideographs and kana: scripts written without spaces, timed by character.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}' // hiragana, katakana
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{f900}'..='\u{faff}'
        | '\u{ff66}'..='\u{ff9f}' // half-width katakana
    )
}

/// A run of phonemes and the source bytes it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sound {
    /// Byte range of the source (or of the G2P's input, before mapping).
    pub text: Range<usize>,
    /// Byte range of the phoneme string.
    pub phonemes: Range<usize>,
}

/// The phoneme byte range of each word (`words` in order, not overlapping):
/// the sounds over it. A sound over one word is all that word's (with the
/// punctuation beside it: `Dr.` is the word `Dr`); a sound over several is
/// shared out in proportion to the bytes of each. A sound over no word (a
/// comma, a dash) is a pause between words. A word no sound covers gets an
/// empty range where the next word's sounds begin.
pub(crate) fn assign(
    words: &[Range<usize>],
    sounds: &[Sound],
    phonemes: &str,
) -> Vec<Range<usize>> {
    let mut out: Vec<Option<Range<usize>>> = vec![None; words.len()];
    let mut add = |i: usize, a: usize, b: usize| {
        let (a, b) = (floor_boundary(phonemes, a), floor_boundary(phonemes, b));
        let r = &mut out[i];
        *r = Some(match r.take() {
            Some(r) => r.start.min(a)..r.end.max(b),
            None => a..b,
        });
    };
    for s in sounds {
        // The words it overlaps, or, for a sound of no text, the one it is in.
        let first = words.partition_point(|w| w.end <= s.text.start);
        let over: Vec<(usize, usize)> = words[first..]
            .iter()
            .enumerate()
            .take_while(|(_, w)| {
                w.start < s.text.end || (s.text.is_empty() && w.start <= s.text.start)
            })
            .filter_map(|(k, w)| {
                let overlap = s
                    .text
                    .end
                    .min(w.end)
                    .saturating_sub(s.text.start.max(w.start));
                (overlap > 0 || s.text.is_empty()).then_some((first + k, overlap.max(1)))
            })
            .collect();
        let total: usize = over.iter().map(|&(_, n)| n).sum();
        let len = s.phonemes.len();
        let mut done = 0;
        for (i, n) in over {
            let a = s.phonemes.start + done * len / total;
            done += n;
            let b = s.phonemes.start + done * len / total;
            add(i, a, b);
        }
    }
    // Words without sound sit where the next sounding word starts.
    let mut next = phonemes.len();
    let mut filled = vec![0..0; out.len()];
    for (i, r) in out.iter().enumerate().rev() {
        filled[i] = match r {
            Some(r) => {
                next = r.start;
                r.clone()
            }
            None => next..next,
        };
    }
    filled
}

/// The char boundary at or before `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Sounds of a whole-text G2P, which says only that `phonemes` came from
/// `text`: word by word when the two have as many space-separated words, else
/// one sound for all.
pub(crate) fn whole_text_sounds(text: &str, phonemes: &str) -> Vec<Sound> {
    let spans = |s: &str| -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in s.char_indices().chain([(s.len(), ' ')]) {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(a)) => {
                    out.push(a..i);
                    start = None;
                }
                _ => {}
            }
        }
        out
    };
    let (t, p) = (spans(text), spans(phonemes));
    if !t.is_empty() && t.len() == p.len() {
        return t
            .into_iter()
            .zip(p)
            .map(|(text, phonemes)| Sound { text, phonemes })
            .collect();
    }
    vec![Sound {
        text: 0..text.len(),
        phonemes: 0..phonemes.len(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_map_back_to_the_source() {
        let m = collapse_whitespace("  at  10:30\n today ");
        assert_eq!(m.text, "at 10:30 today");
        assert_eq!(m.source_start(0), 2);
        assert_eq!(m.source_start(3), 6, "`10:30`");
        assert_eq!(m.source_start(9), 13, "`today`");
        assert_eq!(m.source_end(14), 18);
        // A rewrite of a rewrite: `10:30` -> `10 30` -> `ten thirty`.
        let m = m.rewrite(vec![(5..6, " ".into())]);
        assert_eq!(m.text, "at 10 30 today");
        let m = m.rewrite(vec![(3..8, "ten thirty".into())]);
        assert_eq!(m.text, "at ten thirty today");
        assert_eq!((m.source_start(3), m.source_end(13)), (6, 11));
        assert_eq!(m.source_start(14), 13);
    }

    #[test]
    fn words_leave_out_punctuation_and_markup() {
        let text = "\"Hello,\" said Dr. Smith — $3.14! [Kokoro](/kˈOkəɹO/) rocks... 東京";
        let words: Vec<&str> = words_in(text, 0..text.len())
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(
            words,
            ["Hello", "said", "Dr", "Smith", "$3.14", "Kokoro", "rocks", "東", "京"]
        );
    }

    #[test]
    fn sounds_are_shared_among_words() {
        let phonemes = "wanwan tu";
        let words = [0..3, 4..7, 8..11];
        // One sound for the first two words, one for the third.
        let sounds = [
            Sound {
                text: 0..7,
                phonemes: 0..6,
            },
            Sound {
                text: 8..11,
                phonemes: 7..9,
            },
        ];
        let got = assign(&words, &sounds, phonemes);
        assert_eq!(got[0], 0..3, "half each: 3 bytes of words each");
        assert_eq!(got[1], 3..6);
        assert_eq!(got[2], 7..9);
        // A word no sound covers sits where the next one starts.
        let got = assign(&[0..1, 2..3, 8..11], &sounds[1..], phonemes);
        assert_eq!(got, [7..7, 7..7, 7..9]);
        // A sound over one word and its punctuation is all the word's.
        let word = 0..2;
        let got = assign(
            std::slice::from_ref(&word),
            &[Sound {
                text: 0..3,
                phonemes: 0..6,
            }],
            "dˈɑk",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], 0..6);
        // In bytes of the phonemes, never inside a character.
        let got = assign(
            &[0..3, 4..7],
            &[Sound {
                text: 0..7,
                phonemes: 0..6,
            }],
            "wˈʌn",
        );
        assert!(got
            .iter()
            .all(|r| "wˈʌn".is_char_boundary(r.start) && "wˈʌn".is_char_boundary(r.end)));
    }

    #[test]
    fn whole_text_g2p_is_matched_word_for_word_when_it_can_be() {
        assert_eq!(whole_text_sounds("uno dos", "ˈuno dˈos").len(), 2);
        assert_eq!(whole_text_sounds("東京", "toːkʲoː").len(), 1);
    }
}
