//! Captions from timed words: cues by sentence, written as SRT or WebVTT.
//!
//! A cue holds one sentence, or a part of one: at most two lines of about
//! [`CaptionOptions::line_chars`] characters, at most
//! [`CaptionOptions::max_seconds`] long. A cue shorter than
//! [`CaptionOptions::min_seconds`] is held on screen into the silence after
//! it, or joined to its neighbour, where the text allows. Cue times are the
//! words' own (the model's durations placed on the output's timeline), so
//! they do not drift however long the audio.

use std::fmt::Write as _;
use std::ops::Range;

use crate::{Word, SAMPLE_RATE};

/// How cues are cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptionOptions {
    /// Characters a line holds (42, the common broadcast limit).
    pub line_chars: usize,
    /// Lines a cue holds.
    pub lines: usize,
    /// Shortest cue, in seconds, where the text allows.
    pub min_seconds: f64,
    /// Longest cue, in seconds, where the text allows.
    pub max_seconds: f64,
}

impl Default for CaptionOptions {
    fn default() -> Self {
        Self {
            line_chars: 42,
            lines: 2,
            min_seconds: 0.5,
            max_seconds: 7.0,
        }
    }
}

/// One caption: a stretch of text on screen from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// First sample on screen.
    pub start: usize,
    /// Sample after the last on screen.
    pub end: usize,
    /// Its lines, joined by `\n`.
    pub text: String,
    /// Byte range of the source text it shows.
    pub span: Range<usize>,
    /// Indices of its words in the words given to [`cues`].
    pub words: Range<usize>,
}

/// Cues for `words` (in order, from one text), cut by the sentences of `text`.
pub fn cues(text: &str, words: &[Word], options: &CaptionOptions) -> Vec<Cue> {
    let (min, max) = (
        seconds_to_samples(options.min_seconds),
        seconds_to_samples(options.max_seconds),
    );
    let sentences = kokoro_text::split_sentences(text);
    let sentence_end = |at: usize| {
        let k = sentences.partition_point(|s| s.span.end <= at);
        sentences.get(k).map_or(usize::MAX, |s| s.span.end)
    };
    // Whether words `g` fit one cue: their text (with the punctuation after
    // the last, up to the next word) in the lines, their time in `max`.
    let fits = |g: &Range<usize>| {
        let (first, last) = (&words[g.start], &words[g.end - 1]);
        let end = words
            .get(g.end)
            .map_or(text.len(), |n| n.span.start)
            .min(sentence_end(last.span.start))
            .max(last.span.end);
        let shown = lines(&shown(text, first.span.start..end), options.line_chars);
        let long = last.samples.end.saturating_sub(first.samples.start);
        (shown.lines().count() <= options.lines.max(1) && long <= max) || g.len() == 1
    };
    // Groups of word indices, each in one sentence, each within the limits:
    // as few as fit, as even as they can be, cut after punctuation where one
    // is near.
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let end_of_sentence = sentence_end(words[i].span.start);
        let sentence_words = i..(i..words.len())
            .find(|&k| words[k].span.start >= end_of_sentence)
            .unwrap_or(words.len());
        let greedy = cut(sentence_words.clone(), &fits, None);
        let count = greedy.len();
        let balanced = (count > 1)
            .then(|| {
                let chars =
                    |g: &Range<usize>| words[g.end - 1].span.end - words[g.start].span.start;
                let target = chars(&sentence_words).div_ceil(count);
                cut(sentence_words.clone(), &fits, Some((target, text, words)))
            })
            .filter(|b| b.len() == count);
        groups.extend(balanced.unwrap_or(greedy));
        i = sentence_words.end;
    }
    // Short cues are joined to a neighbour where the result stays within limits.
    let length = |g: &Range<usize>| {
        words[g.end - 1]
            .samples
            .end
            .saturating_sub(words[g.start].samples.start)
    };
    let mut k = 0;
    while k < groups.len() {
        let short = length(&groups[k]) < min;
        let room_after = groups
            .get(k + 1)
            .map_or(usize::MAX, |n| words[n.start].samples.start)
            .saturating_sub(words[groups[k].start].samples.start);
        if short && room_after < min {
            if k + 1 < groups.len() && fits(&(groups[k].start..groups[k + 1].end)) {
                groups[k] = groups[k].start..groups[k + 1].end;
                groups.remove(k + 1);
                continue;
            }
            if k > 0 && fits(&(groups[k - 1].start..groups[k].end)) {
                groups[k - 1] = groups[k - 1].start..groups[k].end;
                groups.remove(k);
                k -= 1;
                continue;
            }
        }
        k += 1;
    }
    // Each cue's text runs from where the previous one's ended (or its
    // sentence began) to where the next word begins (or its sentence ends), so
    // that punctuation and quotes around the words are shown with them.
    let mut out: Vec<Cue> = Vec::with_capacity(groups.len());
    for (n, g) in groups.iter().enumerate() {
        let (first, last) = (&words[g.start], &words[g.end - 1]);
        // The sentence a byte is in: its span.
        let sentence_of = |at: usize| {
            let k = sentences.partition_point(|s| s.span.end <= at);
            sentences
                .get(k)
                .filter(|s| s.span.contains(&at))
                .map(|s| s.span.clone())
        };
        let (first_in, last_in) = (sentence_of(first.span.start), sentence_of(last.span.start));
        let from = match out.last() {
            Some(prev) if sentence_of(prev.span.end.saturating_sub(1)) == first_in => prev.span.end,
            _ => first_in.map_or(first.span.start, |s| s.start),
        };
        let to = match groups.get(n + 1) {
            Some(next) if sentence_of(words[next.start].span.start) == last_in => {
                words[next.start].span.start
            }
            _ => last_in.map_or(last.span.end, |s| s.end),
        }
        .max(last.span.end);
        let from = from.min(first.span.start);
        let next_start = groups
            .get(n + 1)
            .map(|next| words[next.start].samples.start);
        let start = first.samples.start;
        let mut end = last.samples.end.max(start);
        if end - start < min {
            end = (start + min).min(next_start.unwrap_or(usize::MAX)).max(end);
        }
        if let Some(next) = next_start {
            end = end.min(next).max(start);
        }
        out.push(Cue {
            start,
            end,
            text: lines(&shown(text, from..to), options.line_chars),
            span: from..to,
            words: g.clone(),
        });
    }
    out
}

/// Cuts `range` of words into groups that each `fit`: greedily, or, with a
/// target, near that many bytes a group, preferring to end a group at a word
/// followed by punctuation when that is within a fifth of the target.
fn cut(
    range: Range<usize>,
    fits: &dyn Fn(&Range<usize>) -> bool,
    target: Option<(usize, &str, &[Word])>,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut first = range.start;
    while first < range.end {
        let mut end = first + 1;
        while end < range.end && fits(&(first..end + 1)) {
            end += 1;
        }
        if let Some((target, text, words)) = target {
            if end < range.end {
                let bytes = |k: usize| words[k - 1].span.end - words[first].span.start;
                let pause_after = |k: usize| {
                    text.get(words[k - 1].span.end..words[k].span.start)
                        .is_some_and(|gap| gap.contains([',', ';', ':', '—', '–', ')']))
                };
                // The best end at or before the greedy one: nearest the target,
                // after punctuation if one is close enough.
                let near = (first + 1..=end).min_by_key(|&k| bytes(k).abs_diff(target));
                let punct = (first + 1..=end)
                    .filter(|&k| k < range.end && pause_after(k))
                    .filter(|&k| bytes(k).abs_diff(target) <= target / 5)
                    .min_by_key(|&k| bytes(k).abs_diff(target));
                end = punct.or(near).unwrap_or(end);
            }
        }
        out.push(first..end);
        first = end;
    }
    out
}

/// The text of a span as shown: whitespace runs collapsed.
fn shown(text: &str, span: Range<usize>) -> String {
    kokoro_text::normalize(text.get(span).unwrap_or_default())
}

/// `s` broken into lines of at most `width` characters where it can be: at
/// the space nearest the middle when it fits two lines, greedily past that.
fn lines(s: &str, width: usize) -> String {
    let count = s.chars().count();
    if count <= width {
        return s.to_string();
    }
    // Each space: its byte, and the characters before it.
    let spaces: Vec<(usize, usize)> = s
        .char_indices()
        .enumerate()
        .filter(|&(_, (_, c))| c == ' ')
        .map(|(chars, (byte, _))| (byte, chars))
        .collect();
    if count <= 2 * width + 1 {
        let best = spaces
            .iter()
            .filter(|&&(_, chars)| chars <= width && count - chars - 1 <= width)
            .min_by_key(|&&(_, chars)| chars.abs_diff(count / 2));
        if let Some(&(byte, _)) = best {
            return format!("{}\n{}", &s[..byte], &s[byte + 1..]);
        }
    }
    let mut out = String::with_capacity(s.len() + 4);
    let mut line = 0;
    for word in s.split(' ') {
        let n = word.chars().count();
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out
}

fn seconds_to_samples(s: f64) -> usize {
    (s.max(0.0) * f64::from(SAMPLE_RATE)).round() as usize
}

/// `HH:MM:SS` and milliseconds, joined by `sep`.
fn timestamp(samples: usize, sep: char) -> String {
    let ms = (samples as u64 * 1000 + u64::from(SAMPLE_RATE) / 2) / u64::from(SAMPLE_RATE);
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{ms:03}")
}

/// The cues as SubRip (`.srt`): numbered from 1, `00:00:01,250 --> ...`.
pub fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (n, c) in cues.iter().enumerate() {
        // A blank line would end the cue early: none is left in the text.
        let text = c
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let _ = write!(
            out,
            "{}\n{} --> {}\n{text}\n\n",
            n + 1,
            timestamp(c.start, ','),
            timestamp(c.end, ',')
        );
    }
    out
}

/// The cues as WebVTT (`.vtt`): `WEBVTT`, then `00:00:01.250 --> ...` cues
/// with `&`, `<` and `>` escaped.
pub fn vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for c in cues {
        let text = c
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let _ = write!(
            out,
            "{} --> {}\n{text}\n\n",
            timestamp(c.start, '.'),
            timestamp(c.end, '.')
        );
    }
    out
}

/// Samples to seconds, rounded to the millisecond: the one rounding of every
/// word time the command and the servers write.
pub fn seconds(samples: usize) -> f64 {
    (samples as f64 / f64::from(SAMPLE_RATE) * 1000.0).round() / 1000.0
}

/// One word as JSON (`--timestamps`, the server's timed speech): the word as
/// written, its start and end in seconds, its byte span in the input, and
/// its chapter when the input has chapters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WordTime {
    /// The word as written.
    pub word: String,
    /// Seconds from the start of the audio.
    pub start: f64,
    /// Seconds from the start of the audio.
    pub end: f64,
    /// Byte range in the input.
    pub span: [usize; 2],
    /// The chapter's number, from 0, when the input has chapters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chapter: Option<usize>,
}

impl WordTime {
    /// `word` of `text`, whose bytes start at `base` in the input.
    pub fn of(word: &Word, text: &str, base: usize, chapter: Option<usize>) -> Self {
        Self {
            word: word.text(text).to_string(),
            start: seconds(word.samples.start),
            end: seconds(word.samples.end),
            span: [base + word.span.start, base + word.span.end],
            chapter,
        }
    }
}

/// The file `--timestamps` writes: `{"sample_rate": 24000, "words": [...]}`,
/// pretty-printed, ending in a newline.
pub fn words_json(words: &[WordTime]) -> String {
    #[derive(serde::Serialize)]
    struct File<'a> {
        sample_rate: u32,
        words: &'a [WordTime],
    }
    let mut out = serde_json::to_string_pretty(&File {
        sample_rate: SAMPLE_RATE,
        words,
    })
    .unwrap_or_default();
    out.push('\n');
    out
}

/// A caption file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionFormat {
    /// SubRip, `.srt`.
    Srt,
    /// WebVTT, `.vtt`.
    Vtt,
}

impl CaptionFormat {
    /// The format a file name's extension names.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "srt" => Some(Self::Srt),
            "vtt" => Some(Self::Vtt),
            _ => None,
        }
    }

    /// The extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Srt => "srt",
            Self::Vtt => "vtt",
        }
    }

    /// The cues in this format.
    pub fn write(self, cues: &[Cue]) -> String {
        match self {
            Self::Srt => srt(cues),
            Self::Vtt => vtt(cues),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of `text` at `per_word` samples each, `gap` samples apart.
    fn timed(text: &str, per_word: usize, gap: usize) -> Vec<Word> {
        let mut at = 0;
        let mut out = Vec::new();
        let mut pos = 0;
        for w in text.split_whitespace() {
            let start = text[pos..].find(w).unwrap() + pos;
            pos = start + w.len();
            let trimmed = w.trim_matches(|c: char| !c.is_alphanumeric());
            let lead = w.find(trimmed).unwrap();
            out.push(Word {
                span: start + lead..start + lead + trimmed.len(),
                samples: at..at + per_word,
            });
            at += per_word + gap;
        }
        out
    }

    #[test]
    fn timestamps_in_both_formats() {
        assert_eq!(timestamp(0, ','), "00:00:00,000");
        assert_eq!(timestamp(24_000 * 3661 + 12_000, '.'), "01:01:01.500");
        assert_eq!(
            timestamp(12, ','),
            "00:00:00,001",
            "rounded to the millisecond"
        );
    }

    #[test]
    fn srt_and_vtt_are_well_formed() {
        let text = "Hello, world. Is 1 < 2 & 3 > 2? Yes --> it is.";
        let words = timed(text, 12_000, 2_400);
        let cues = cues(text, &words, &CaptionOptions::default());
        assert_eq!(cues.len(), 3, "{cues:?}");
        let srt = srt(&cues);
        assert!(
            srt.starts_with("1\n00:00:00,000 --> 00:00:01,100\nHello, world.\n\n2\n"),
            "{srt}"
        );
        assert!(srt.contains("\n3\n"), "{srt}");
        let vtt = vtt(&cues);
        assert!(
            vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.100\nHello, world.\n\n"),
            "{vtt}"
        );
        assert!(vtt.contains("Is 1 &lt; 2 &amp; 3 &gt; 2?"), "{vtt}");
        assert!(vtt.contains("Yes --&gt; it is."), "{vtt}");
        for block in vtt.trim_end().split("\n\n").skip(1) {
            let mut lines = block.lines();
            let times = lines.next().unwrap();
            assert_eq!(times.matches(" --> ").count(), 1, "{block}");
            assert!(lines.all(|l| !l.contains("-->")), "{block}");
        }
    }

    #[test]
    fn long_sentences_are_cut_into_two_line_cues() {
        let text = "This is a rather long sentence that goes on and on, well past what two lines of a caption hold, so that it must be cut into more than one cue.";
        let words = timed(text, 6_000, 1_200);
        let cues = cues(text, &words, &CaptionOptions::default());
        assert!(cues.len() >= 2, "{cues:?}");
        for c in &cues {
            let lines: Vec<&str> = c.text.lines().collect();
            assert!(lines.len() <= 2, "{:?}", c.text);
            assert!(
                lines.iter().all(|l| l.chars().count() <= 42),
                "{:?}",
                c.text
            );
            assert!(c.end - c.start <= 7 * 24_000);
        }
        let joined: Vec<String> = cues.iter().map(|c| c.text.replace('\n', " ")).collect();
        assert_eq!(joined.join(" "), text, "every character shown once");
    }

    #[test]
    fn short_cues_stay_half_a_second_or_join_a_neighbour() {
        // "Yes." alone is 0.1 s, with a long silence after: it is held on screen.
        let text = "Yes. Then we went home together.";
        let mut words = timed(text, 2_400, 0);
        for w in &mut words[1..] {
            w.samples = w.samples.start + 48_000..w.samples.end + 48_000;
        }
        let c = cues(text, &words, &CaptionOptions::default());
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].end - c[0].start, 12_000, "held for 0.5 s");
        // With no room after it, it joins the next sentence.
        let words = timed(text, 2_400, 0);
        let c = cues(text, &words, &CaptionOptions::default());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].text, "Yes. Then we went home together.");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Cues are in order, never overlap, and every word is in exactly one
        /// cue, within its time and its text.
        #[test]
        fn cues_are_ordered_disjoint_and_cover_every_word(
            sentences in proptest::collection::vec(
                proptest::collection::vec("[a-z]{1,12}", 1..30), 1..12),
            per_word in 600usize..30_000,
            gap in 0usize..20_000,
        ) {
            let text = sentences
                .iter()
                .map(|s| format!("{}.", s.join(" ")))
                .collect::<Vec<_>>()
                .join(" ");
            let words = timed(&text, per_word, gap);
            let cues = cues(&text, &words, &CaptionOptions::default());
            let mut next_word = 0;
            for (k, c) in cues.iter().enumerate() {
                proptest::prop_assert_eq!(c.words.start, next_word, "words in order, none left out");
                next_word = c.words.end;
                proptest::prop_assert!(c.start <= c.end);
                if let Some(n) = cues.get(k + 1) {
                    proptest::prop_assert!(c.end <= n.start, "cue {} overlaps the next", k);
                }
                let shown = c.text.replace('\n', " ");
                for w in &words[c.words.clone()] {
                    proptest::prop_assert!(c.start <= w.samples.start && w.samples.end <= c.end);
                    proptest::prop_assert!(c.span.start <= w.span.start && w.span.end <= c.span.end);
                    proptest::prop_assert!(shown.contains(&text[w.span.clone()]));
                }
                proptest::prop_assert!(
                    c.words.len() == 1
                        || (c.text.lines().count() <= 2 && c.text.lines().all(|l| l.chars().count() <= 42)),
                    "{:?}", c.text
                );
            }
            proptest::prop_assert_eq!(next_word, words.len());
        }
    }

    #[test]
    fn lines_break_near_the_middle() {
        let s = "one two three four five six seven eight nine ten eleven twelve";
        let l = lines(s, 42);
        let parts: Vec<&str> = l.lines().collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= 42));
        assert!(parts[0].len().abs_diff(parts[1].len()) < 10, "{l}");
        assert_eq!(lines("short", 42), "short");
    }
}
