//! Giant tokens: runs of text with no space in them, longer than any word a
//! person would read out, that do not read as words either: base64 images,
//! hashes, keys, minified code, a document's glued text. Read through the
//! G2P, such a token costs about a millisecond a character (the fallback
//! spells it, or reads it as one impossible word) and says nothing to a
//! listener. A person reading aloud says what it is, reads its start, and
//! goes on; so does the front end. Each is found in one pass over a
//! sentence, replaced by a short description, and named in a
//! [`crate::Diagnostic::GiantToken`] with its span, so no text is dropped
//! silently and the cost is linear with a small constant.
//!
//! What is kept as words: a token whose pieces between separators (`/` `.`
//! `-` `_` `:` `?` `&` `=` `#` `@` `,` `;` `+`) each look like a word, a
//! number or an acronym, such as a long URL or path of ordinary words.

use std::ops::Range;

/// A token with more characters than this is looked at.
pub const GIANT_CHARS: usize = 40;

/// How many of its first characters are spelled out.
const SPELLED: usize = 8;

/// Where the giant tokens of `text[span]` lie, as byte ranges of `text`.
pub(crate) fn find(text: &str, span: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let s = &text[span.clone()];
    let mut start: Option<usize> = None;
    let mut chars = 0usize;
    let close = |from: usize, to: usize, chars: usize, out: &mut Vec<Range<usize>>| {
        // Punctuation around the token is the sentence's: it stays outside.
        let token = &s[from..to];
        let inner = token.trim_start_matches(['(', '[', '{', '"', '\'', '“', '‘', '«']);
        let inner = inner.trim_end_matches([
            '.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '\'', '”', '’', '»',
        ]);
        let from = from
            + (token.len()
                - token
                    .trim_start_matches(['(', '[', '{', '"', '\'', '“', '‘', '«'])
                    .len());
        let to = from + inner.len();
        if chars > GIANT_CHARS && !inner.is_empty() && !reads_as_words(inner) {
            out.push(span.start + from..span.start + to);
        }
    };
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if let Some(from) = start.take() {
                close(from, i, chars, &mut out);
            }
            chars = 0;
        } else {
            start.get_or_insert(i);
            chars += 1;
        }
    }
    if let Some(from) = start {
        close(from, s.len(), chars, &mut out);
    }
    out
}

/// Whether a long token reads as words: every piece between its separators
/// looks like a word, a number or a name (at most 24 characters that change
/// between lower case, upper case and digits at most twice: "multiarray",
/// "Python3", "iPhone", "2024"), or is short (at most 6), and the token is
/// not a `data:` URI. Base64, hashes and keys change class every few
/// characters.
fn reads_as_words(token: &str) -> bool {
    if is_data_uri(token) {
        return false;
    }
    let separators = |c: char| "/.-_:?&=#@,;+~%()[]'\"".contains(c);
    let class = |c: char| {
        if c.is_ascii_digit() {
            0
        } else if c.is_uppercase() {
            1
        } else {
            2
        }
    };
    token
        .split(separators)
        .filter(|p| !p.is_empty())
        .all(|piece| {
            let n = piece.chars().count();
            let changes = piece
                .chars()
                .map(class)
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| w[0] != w[1])
                .count();
            (n <= 24 && changes <= 2) || n <= 6
        })
}

fn is_data_uri(token: &str) -> bool {
    token
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
}

/// What a giant token is, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A `data:` URI, with its media type's words ("image png").
    Embedded(String),
    /// Hexadecimal digits (a hash, a key).
    Hex,
    /// Decimal digits.
    Number,
    /// Letters and digits, maybe with `+/=_-` (base64, an identifier).
    Code,
    /// Anything else.
    Text,
}

/// The kind of a giant token.
pub(crate) fn kind(token: &str) -> Kind {
    if is_data_uri(token) {
        let media = token[5..]
            .split([';', ','])
            .next()
            .unwrap_or_default()
            .split(['/', '+', '-', '.'])
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric()))
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        return Kind::Embedded(media);
    }
    if token.chars().all(|c| c.is_ascii_digit()) {
        Kind::Number
    } else if token.chars().all(|c| c.is_ascii_hexdigit()) {
        Kind::Hex
    } else if token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
    {
        Kind::Code
    } else {
        Kind::Text
    }
}

/// What is said in place of a giant token, as text for the G2P: in English,
/// what it is and how long, then its first characters one by one in groups
/// of four; in another language, its first characters only (that
/// language's G2P names them). An embedded object is not spelled.
pub(crate) fn said(token: &str, english: bool) -> String {
    let n = token.chars().count();
    let kind = kind(token);
    let start: Vec<String> = token
        .chars()
        .filter(|c| c.is_alphanumeric())
        .take(SPELLED)
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|group| {
            group
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let start = start.join(", ");
    if !english {
        return match kind {
            Kind::Embedded(_) => String::new(),
            _ => start,
        };
    }
    let count = thousands(n);
    let what = match kind {
        Kind::Embedded(media) if media.is_empty() => {
            return format!("an embedded object of {count} characters.");
        }
        Kind::Embedded(media) => return format!("an embedded {media} of {count} characters."),
        Kind::Hex => format!("a hexadecimal string of {count} characters"),
        Kind::Number => format!("a number of {count} digits"),
        Kind::Code => format!("a string of {count} letters and digits"),
        Kind::Text => format!("a string of {count} characters"),
    };
    if start.is_empty() {
        format!("{what}.")
    } else {
        format!("{what}, beginning {start}.")
    }
}

/// `n` with commas between thousands, as the G2P reads numbers.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        find(text, 0..text.len())
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn giant_tokens_are_found_and_words_are_not() {
        let b64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
        let hash = "3f786850e387550fdab836ed7e6dc881de23001b3f786850e387550fdab836ed";
        let text = format!("See {b64} and {hash}. Short words stay.");
        assert_eq!(found(&text), [b64, hash]);
        // Long URLs and paths of ordinary words are read as words.
        for words in [
            "https://example.com/docs/getting-started/installation-on-linux?lang=en&version=2",
            "/usr/local/lib/python3.11/site-packages/numpy/core/multiarray.py",
            "state-of-the-art-and-well-known-and-very-long-hyphenated-phrase",
        ] {
            assert!(found(words).is_empty(), "{words}");
        }
        // A data URI is never read, whatever it holds.
        let uri = format!("data:image/png;base64,{b64}");
        assert_eq!(found(&uri), [uri.as_str()]);
        assert_eq!(found(&"a".repeat(GIANT_CHARS)), Vec::<&str>::new());
        assert_eq!(found(&"ab".repeat(GIANT_CHARS)).len(), 1);
    }

    #[test]
    fn each_kind_is_said_in_a_few_words() {
        assert_eq!(
            said("3f786850e387550fdab836ed7e6dc881de23001b", true),
            "a hexadecimal string of 40 characters, beginning 3 f 7 8, 6 8 5 0."
        );
        assert_eq!(
            said(&"7".repeat(1234), true),
            "a number of 1,234 digits, beginning 7 7 7 7, 7 7 7 7."
        );
        assert_eq!(
            said("data:image/png;base64,iVBORw0KGgo=", true),
            "an embedded image png of 34 characters."
        );
        assert_eq!(
            said("iVBORw0KGgoAAAANSUhEUg+/=", true),
            "a string of 25 letters and digits, beginning i V B O, R w 0 K."
        );
        assert_eq!(said("iVBORw0KGgoAAAANSUhEUg", false), "i V B O, R w 0 K");
        assert_eq!(thousands(3_200_000), "3,200,000");
    }
}
