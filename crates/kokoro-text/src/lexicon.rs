//! A user lexicon: words and the phonemes to say them with, applied before the
//! built-in lexicon.
//!
//! File format, one entry a line: the word, then whitespace, then its phonemes in
//! Kokoro's (misaki's) symbols, optionally between slashes. `#` starts a comment.
//! An entry written in lowercase matches the word in any case ("kokoro" matches
//! "Kokoro" and "KOKORO"); an entry with a capital letter matches only that exact
//! spelling ("US" does not match "us").
//!
//! ```text
//! # name        phonemes
//! Kokoro        kˈOkəɹO
//! nginx         /ˈɛnʤɪnˌɛks/
//! ```

use std::collections::HashMap;

use crate::vocab::id_of;

/// A parsed user lexicon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lexicon {
    exact: HashMap<String, String>,
    folded: HashMap<String, String>,
}

/// A malformed lexicon line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lexicon line {line}: {reason}")]
pub struct LexiconError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl Lexicon {
    /// Parses a lexicon; the first malformed line is an error naming it.
    pub fn parse(text: &str) -> Result<Self, LexiconError> {
        let mut lex = Lexicon::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason: String| LexiconError {
                line: i + 1,
                reason,
            };
            let mut parts = line.splitn(2, char::is_whitespace);
            let word = parts.next().unwrap_or_default();
            let phonemes = parts
                .next()
                .map(str::trim)
                .unwrap_or_default()
                .trim_matches('/')
                .trim();
            if phonemes.is_empty() {
                return Err(err(format!(
                    "`{word}` has no phonemes (expected `word phonemes`)"
                )));
            }
            if !word
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '\'' | '’' | '-' | '.'))
            {
                return Err(err(format!("`{word}` is not a single word")));
            }
            if let Some(bad) = phonemes.chars().find(|&c| c != ' ' && id_of(c).is_none()) {
                return Err(err(format!(
                    "phoneme {bad:?} in `{phonemes}` is not in Kokoro's vocabulary"
                )));
            }
            if word.chars().any(char::is_uppercase) {
                lex.exact.insert(word.to_string(), phonemes.to_string());
            } else {
                lex.folded.insert(word.to_lowercase(), phonemes.to_string());
            }
        }
        Ok(lex)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.exact.len() + self.folded.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The phonemes for `word`, if the lexicon has it.
    pub fn get(&self, word: &str) -> Option<&str> {
        self.exact
            .get(word)
            .or_else(|| self.folded.get(&word.to_lowercase()))
            .map(String::as_str)
    }

    /// Rewrites known words of `text` as inline overrides `[word](/phonemes/)`,
    /// leaving existing overrides alone.
    pub fn apply(&self, text: &str) -> String {
        self.apply_mapped(&crate::align::Mapped::identity(text))
            .text
    }

    /// [`Lexicon::apply`], keeping the way back to the source.
    pub(crate) fn apply_mapped(&self, text: &crate::align::Mapped) -> crate::align::Mapped {
        if self.is_empty() {
            return text.clone();
        }
        let mut edits = Vec::new();
        let mut at = 0;
        let s = text.text.as_str();
        while at < s.len() {
            let rest = &s[at..];
            // Keep an existing override whole.
            if let Some(len) = rest
                .starts_with('[')
                .then(|| crate::split::link_len(rest))
                .flatten()
            {
                at += len;
                continue;
            }
            let word_len = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
                .unwrap_or(rest.len());
            if word_len == 0 {
                at += rest.chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let word = &rest[..word_len];
            if let Some(ps) = self.get(word) {
                edits.push((at..at + word_len, format!("[{word}](/{ps}/)")));
            }
            at += word_len;
        }
        text.rewrite(edits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_applies_with_case_rules() {
        let lex = Lexicon::parse("# names\nkokoro kˈOkəɹO\nUS /jˌuˈɛs/\n\n").unwrap();
        assert_eq!(lex.len(), 2);
        assert_eq!(
            lex.apply("Kokoro, tell us about the US."),
            "[Kokoro](/kˈOkəɹO/), tell us about the [US](/jˌuˈɛs/)."
        );
        assert_eq!(lex.apply("[kokoro](/kə/) stays"), "[kokoro](/kə/) stays");
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(Lexicon::parse("ok ˈO\nbroken\n").unwrap_err().line, 2);
        let e = Lexicon::parse("a b c ☃\n").unwrap_err();
        assert!(
            e.to_string().contains("line 1") && e.to_string().contains("vocabulary"),
            "{e}"
        );
        assert!(Lexicon::parse("a/b ˈO\n").is_err());
    }
}
