//! Sentence splitting with byte spans into the caller's text.
//!
//! Splits at `.`, `!`, `?`, `…` (and CJK full stops) followed by whitespace, after any
//! closing quotes or brackets, and always at blank lines (paragraphs). A single line
//! break is ordinary whitespace, so hard-wrapped text reads as one paragraph.
//! A period after a title ("Dr.", "Mr.") or inside a number ("3.14") never ends a
//! sentence; after dotted abbreviations ("U.S.", "p.m.", "etc.") it ends one only
//! when the next word starts with a capital letter. Inline overrides such as
//! `[Kokoro](/kˈOkəɹO/)` are never cut. Pause markup, `[pause:0.5s]` or
//! `[pause:500ms]`, stands alone between sentences: it ends the text before it.

use std::ops::Range;

/// One sentence: where it lies in the input and whether it opens a paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// Byte range of the sentence in the input, without surrounding whitespace.
    pub span: Range<usize>,
    /// True for the first sentence of a paragraph (after a blank line).
    pub paragraph_start: bool,
    /// For pause markup (`[pause:0.5s]`): the silence asked for, in
    /// milliseconds. Such a "sentence" has nothing to speak.
    pub pause_ms: Option<u32>,
}

/// The longest pause markup may ask for, in milliseconds.
pub const MAX_PAUSE_MS: u32 = 60_000;

/// Titles that are followed by a name, never by the end of a sentence.
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "mt", "gen", "col", "capt", "lt", "sgt",
    "rev", "hon", "gov", "pres", "sen", "rep", "fig", "figs", "vol", "no", "nos", "pp", "vs",
    "approx", "dept", "est", "ca", "cf", "e.g", "i.e", "eg", "ie", "ft", "op", "ch", "sec",
];

/// Words that often end in a period but may also end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "etc", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "aug", "sept", "sep", "oct",
    "nov", "dec",
];

const TERMINATORS: &[char] = &['.', '!', '?', '…', '。', '！', '？', '।', '॥'];
const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '»', '」', '』'];
const CJK_TERMINATORS: &[char] = &['。', '！', '？'];

/// Splits `text` into sentences. Every non-whitespace character of `text` lies in
/// exactly one returned span.
pub fn split_sentences(text: &str) -> Vec<Sentence> {
    let mut out = Vec::new();
    for (para, para_span) in paragraphs(text) {
        let mut first = true;
        let mut start = 0;
        for end in boundaries(para) {
            push_trimmed(
                &mut out,
                text,
                para_span.start + start..para_span.start + end,
                &mut first,
            );
            start = end;
        }
        push_trimmed(
            &mut out,
            text,
            para_span.start + start..para_span.end,
            &mut first,
        );
    }
    out
}

/// Pushes the sentence in `span`, trimmed; pause markup inside it stands alone,
/// cutting the text around it.
fn push_trimmed(out: &mut Vec<Sentence>, text: &str, span: Range<usize>, first: &mut bool) {
    let (mut from, end) = (span.start, span.end);
    let mut at = from;
    while let Some(open) = text[at..end].find("[pause:") {
        let open = at + open;
        match pause_len(&text[open..end]) {
            Some((len, ms)) => {
                push_text(out, text, from..open, first);
                out.push(Sentence {
                    span: open..open + len,
                    paragraph_start: *first,
                    pause_ms: Some(ms),
                });
                *first = false;
                from = open + len;
                at = from;
            }
            None => at = open + 1,
        }
    }
    push_text(out, text, from..end, first);
}

fn push_text(out: &mut Vec<Sentence>, text: &str, span: Range<usize>, first: &mut bool) {
    let s = &text[span.clone()];
    if s.trim().is_empty() {
        return;
    }
    let start = span.start + (s.len() - s.trim_start().len());
    out.push(Sentence {
        span: start..start + s.trim().len(),
        paragraph_start: *first,
        pause_ms: None,
    });
    *first = false;
}

/// Length and milliseconds of pause markup at the start of `s`: `[pause:0.5s]`,
/// `[pause:500ms]` or `[pause:1]` (seconds), at most [`MAX_PAUSE_MS`].
/// Anything else is not markup, and is read as text.
pub(crate) fn pause_len(s: &str) -> Option<(usize, u32)> {
    let body = s.strip_prefix("[pause:")?;
    let close = body.find(']')?;
    let value = body[..close].trim();
    let (number, scale) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(secs) = value.strip_suffix('s') {
        (secs, 1000.0)
    } else {
        (value, 1000.0)
    };
    let ms = number.trim().parse::<f64>().ok()? * scale;
    (ms.is_finite() && (0.0..=f64::from(MAX_PAUSE_MS)).contains(&ms))
        .then_some(("[pause:".len() + close + 1, ms.round() as u32))
}

/// Paragraphs: runs of lines separated by lines holding only whitespace.
fn paragraphs(text: &str) -> Vec<(&str, Range<usize>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    let mut prev_blank = false;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if blank && !prev_blank && pos > start {
            out.push((&text[start..pos], start..pos));
        }
        if blank {
            start = pos + line.len();
        }
        prev_blank = blank;
        pos += line.len();
    }
    if start < text.len() {
        out.push((&text[start..], start..text.len()));
    }
    out
}

/// Byte offsets (within `para`) just after each sentence end.
fn boundaries(para: &str) -> Vec<usize> {
    let chars: Vec<(usize, char)> = para.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c == '[' {
            if let Some(skip) = link_len(&para[pos..]) {
                let end = pos + skip;
                while i < chars.len() && chars[i].0 < end {
                    i += 1;
                }
                continue;
            }
        }
        if !TERMINATORS.contains(&c) {
            i += 1;
            continue;
        }
        // Run of terminators ("?!", "...") then closing quotes and brackets.
        let mut j = i;
        while j < chars.len() && TERMINATORS.contains(&chars[j].1) {
            j += 1;
        }
        while j < chars.len() && CLOSERS.contains(&chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map_or(para.len(), |&(p, _)| p);
        let at_end = j >= chars.len();
        let followed_by_space = at_end || chars[j].1.is_whitespace();
        let cjk = CJK_TERMINATORS.contains(&c);
        if (followed_by_space || cjk) && !at_end && ends_sentence(para, &chars, i, j) {
            out.push(end);
        }
        i = j.max(i + 1);
    }
    out
}

/// Length of an inline override `[text](/phonemes/)` at the start of `s`, if one
/// is there: the one parser of that markup in the crate. Its text holds no `[`
/// or line break, and each part is at most [`MAX_LINK_PART`] bytes, so that
/// looking at every `[` of a text takes time linear in the text.
pub(crate) fn link_len(s: &str) -> Option<usize> {
    fn window(t: &str) -> &[u8] {
        &t.as_bytes()[..t.len().min(MAX_LINK_PART)]
    }
    let text = window(s.get(1..)?);
    let close = 1
        + (0..text.len())
            .find(|&k| matches!(text[k], b'[' | b'\n') || text[k..].starts_with(b"]("))?;
    if s.as_bytes()[close] != b']' {
        return None;
    }
    let rest = &s[close + 2..];
    let paren = window(rest)
        .iter()
        .position(|&c| matches!(c, b')' | b'\n'))?;
    if rest.as_bytes()[paren] != b')' {
        return None;
    }
    Some(close + 2 + paren + 1)
}

/// The longest text or phonemes an inline override may have, in bytes.
pub(crate) const MAX_LINK_PART: usize = 1024;

/// Decides whether the terminator run `chars[i..j]` (with closers) ends a sentence.
fn ends_sentence(para: &str, chars: &[(usize, char)], i: usize, j: usize) -> bool {
    let c = chars[i].1;
    if c != '.' || j > i + 1 && chars[i + 1].1 == '.' {
        return true; // '!', '?', '…', CJK, or an ellipsis "..."
    }
    // The word the period closes: back to whitespace or an opening bracket/quote.
    let word_start = chars[..i]
        .iter()
        .rposition(|&(_, ch)| {
            ch.is_whitespace() || matches!(ch, '(' | '"' | '“' | '\'' | '‘' | '[')
        })
        .map_or(0, |k| k + 1);
    let word: String = chars[word_start..i].iter().map(|&(_, ch)| ch).collect();
    if word.is_empty() {
        return true;
    }
    let lower = word.to_lowercase();
    if TITLES.contains(&lower.as_str()) {
        return false;
    }
    let next_upper = next_word_is_capitalised(para, chars, j);
    // Initials "J." and dotted abbreviations "U.S", "p.m": end only before a capital.
    let single_letter = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
    let dotted = word.contains('.') && word.chars().all(|ch| ch.is_alphabetic() || ch == '.');
    if single_letter && word.chars().all(char::is_uppercase) {
        return false;
    }
    if dotted || single_letter || ABBREVIATIONS.contains(&lower.as_str()) {
        return next_upper;
    }
    true
}

fn next_word_is_capitalised(para: &str, chars: &[(usize, char)], j: usize) -> bool {
    let rest = chars.get(j).map_or("", |&(p, _)| &para[p..]);
    rest.trim_start()
        .chars()
        .find(|ch| !matches!(ch, '"' | '“' | '\'' | '‘' | '(' | '[' | '¿' | '¡' | '«'))
        .is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: &[&str]) {
        let got: Vec<&str> = split_sentences(input)
            .iter()
            .map(|s| &input[s.span.clone()])
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn titles_numbers_and_abbreviations() {
        check(
            "Dr. Smith paid $3.14 at 5 p.m. on Friday. He left.",
            &["Dr. Smith paid $3.14 at 5 p.m. on Friday.", "He left."],
        );
        check(
            "She moved to the U.S. in 1990. It rained.",
            &["She moved to the U.S. in 1990.", "It rained."],
        );
        check(
            "I met him at 7 p.m. Then we left.",
            &["I met him at 7 p.m.", "Then we left."],
        );
        check(
            "It was Jan. 5 and then Oct. We left.",
            &["It was Jan. 5 and then Oct.", "We left."],
        );
        check(
            "J. R. R. Tolkien wrote it, e.g. this one.",
            &["J. R. R. Tolkien wrote it, e.g. this one."],
        );
    }

    #[test]
    fn quotes_and_runs_of_terminators() {
        check(
            "He said \"Stop.\" Then he ran! Really?! Yes...",
            &["He said \"Stop.\"", "Then he ran!", "Really?!", "Yes..."],
        );
        check(
            "Wait… what? (Fine.) Ok.",
            &["Wait…", "what?", "(Fine.)", "Ok."],
        );
    }

    #[test]
    fn hard_wrapped_lines_and_paragraphs() {
        let text = "This line is\nwrapped by hand. Next\none.\n\n  New paragraph.\n";
        check(
            text,
            &[
                "This line is\nwrapped by hand.",
                "Next\none.",
                "New paragraph.",
            ],
        );
        let s = split_sentences(text);
        assert_eq!(
            s.iter().map(|s| s.paragraph_start).collect::<Vec<_>>(),
            [true, false, true]
        );
    }

    #[test]
    fn inline_overrides_are_not_cut() {
        check(
            "Say [Kokoro](/kˈOkəɹO/). Then [U.S.](/jˌuˈɛs/) stop.",
            &["Say [Kokoro](/kˈOkəɹO/).", "Then [U.S.](/jˌuˈɛs/) stop."],
        );
    }

    #[test]
    fn cjk_full_stops() {
        check("今日は。明日も！", &["今日は。", "明日も！"]);
    }
}
