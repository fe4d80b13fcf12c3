//! Grapheme-to-phoneme conversion: misaki's lexicons and tagger first, a fallback
//! for words the lexicon lacks, so that no word is ever silently dropped.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use misaki_rs::fallback::FallbackError;

use crate::align::{whole_text_sounds, Mapped, Sound};
use crate::{Diagnostic, Lang};

/// Turns out-of-lexicon words into phonemes (in misaki's symbol set).
///
/// Implementations must be cheap to call from several threads at once.
pub trait OovFallback: Send + Sync {
    /// A short name shown in diagnostics ("espeak-ng", "spelling").
    fn name(&self) -> &'static str;
    /// Phonemes for one word, or `None` when this fallback cannot say it.
    fn phonemize(&self, word: &str, lang: Lang) -> Option<String>;
    /// Whether [`OovFallback::phonemize_text`] speaks `lang`, which makes this
    /// the whole G2P of a language misaki does not speak.
    fn speaks(&self, lang: Lang) -> bool {
        let _ = lang;
        false
    }
    /// Phonemes for a run of text in a language misaki does not speak: words,
    /// numbers and punctuation, no markup. `None` when it cannot.
    fn phonemize_text(&self, text: &str, lang: Lang) -> Option<String> {
        let _ = (text, lang);
        None
    }
}

/// The fallback every build has: the word is spelled out letter by letter.
///
/// Crude, but it never loses a word. Builds with the `espeak` feature use
/// [`crate::EspeakFallback`] instead, which reads the word as espeak-ng would.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpellingFallback;

/// Letter names in misaki's US phonemes.
const LETTERS: [&str; 26] = [
    "ˈA",
    "bˈi",
    "sˈi",
    "dˈi",
    "ˈi",
    "ˈɛf",
    "ʤˈi",
    "ˈAʧ",
    "ˈI",
    "ʤˈA",
    "kˈA",
    "ˈɛl",
    "ˈɛm",
    "ˈɛn",
    "ˈO",
    "pˈi",
    "kjˈu",
    "ˈɑɹ",
    "ˈɛs",
    "tˈi",
    "jˈu",
    "vˈi",
    "dˈʌbᵊljˌu",
    "ˈɛks",
    "wˈI",
    "zˈi",
];
const DIGITS: [&str; 10] = [
    "zˈiɹO",
    "wˈʌn",
    "tˈu",
    "θɹˈi",
    "fˈɔɹ",
    "fˈIv",
    "sˈɪks",
    "sˈɛvən",
    "ˈAt",
    "nˈIn",
];

impl OovFallback for SpellingFallback {
    fn name(&self) -> &'static str {
        "spelling"
    }

    fn phonemize(&self, word: &str, _lang: Lang) -> Option<String> {
        let names: Vec<&str> = word
            .chars()
            .filter_map(|c| {
                let base = fold_diacritics(c).to_ascii_lowercase();
                match base {
                    'a'..='z' => Some(LETTERS[(base as u8 - b'a') as usize]),
                    '0'..='9' => Some(DIGITS[(base as u8 - b'0') as usize]),
                    _ => None,
                }
            })
            .collect();
        (!names.is_empty()).then(|| names.join(" "))
    }
}

/// Maps common accented Latin letters to their base letter.
fn fold_diacritics(c: char) -> char {
    match c {
        'à'..='å' | 'À'..='Å' | 'ā' | 'ą' => 'a',
        'ç' | 'Ç' | 'č' | 'ć' => 'c',
        'è'..='ë' | 'È'..='Ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' | 'ī' => 'i',
        'ñ' | 'Ñ' | 'ń' | 'ň' => 'n',
        'ò'..='ö' | 'Ò'..='Ö' | 'ø' | 'Ø' | 'ō' | 'ő' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' | 'ū' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'š' | 'ś' => 's',
        'ž' | 'ź' | 'ż' => 'z',
        'ř' => 'r',
        'ł' => 'l',
        _ => c,
    }
}

thread_local! {
    /// Words the fallback handled during the current `G2p::phonemize` call on this thread.
    static FALLBACK_WORDS: RefCell<Vec<(String, &'static str)>> = const { RefCell::new(Vec::new()) };
    /// The cancellation flag of the chunks being made on this thread.
    static CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Watches `cancel` while the returned guard lives, on this thread: once it
/// is raised, the fallback stops reading words (each is spelled, which
/// costs nothing) and [`watched`] says so.
pub(crate) fn watch(cancel: Option<Arc<AtomicBool>>) -> impl Drop {
    struct Guard(Option<Arc<AtomicBool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            let before = self.0.take();
            CANCEL.with(|c| *c.borrow_mut() = before);
        }
    }
    Guard(CANCEL.with(|c| std::mem::replace(&mut *c.borrow_mut(), cancel)))
}

/// Whether the flag watched on this thread is raised.
pub(crate) fn watched() -> bool {
    CANCEL.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

/// Adapter from our fallback to misaki's, recording every word it was asked about.
struct Recorder {
    inner: Arc<dyn OovFallback>,
    lang: Lang,
}

impl misaki_rs::Fallback for Recorder {
    fn phonemize(&self, word: &str) -> Result<String, FallbackError> {
        // Once cancelled, what is made is thrown away: spell, which is quick.
        let read = if watched() {
            None
        } else {
            self.inner.phonemize(word, self.lang)
        };
        let out = read.or_else(|| SpellingFallback.phonemize(word, self.lang));
        let via = if out.is_some() {
            self.inner.name()
        } else {
            "none"
        };
        FALLBACK_WORDS.with(|w| w.borrow_mut().push((word.to_string(), via)));
        out.ok_or_else(|| FallbackError::NoPhonemes {
            word: word.to_string(),
        })
    }
}

/// G2P of misaki quality for English, with an out-of-lexicon fallback; for the
/// other languages, the fallback's whole-text G2P ([`OovFallback::phonemize_text`]).
///
/// Building an English one takes ~150 ms and ~100 MB (lexicons and tagger); build
/// it once and share it: it is `Send + Sync`.
pub struct G2p {
    engine: Engine,
    fallback: Arc<dyn OovFallback>,
    lang: Lang,
    lexicon: crate::Lexicon,
}

/// Who reads a language.
enum Engine {
    /// misaki, for English.
    Misaki(Box<misaki_rs::G2P>),
    /// Japanese through kakasi and misaki's kana table.
    #[cfg(feature = "ja")]
    Japanese,
    /// Mandarin through jieba, pinyin and misaki's table.
    #[cfg(feature = "zh")]
    Mandarin(Box<crate::zh::Mandarin>),
    /// The fallback's whole-text G2P.
    Fallback,
}

/// A language the chosen G2P backend does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} is not in this build: it needs the `{}` feature (`{backend}` does not speak it)",
    lang.name(),
    match lang { Lang::Ja => "ja", Lang::Cmn => "zh", _ => "espeak" }
)]
pub struct UnsupportedLang {
    /// The language asked for.
    pub lang: Lang,
    /// The backend that was offered.
    pub backend: &'static str,
}

impl std::fmt::Debug for G2p {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G2p")
            .field("lang", &self.lang)
            .field("fallback", &self.fallback.name())
            .finish_non_exhaustive()
    }
}

impl G2p {
    /// G2P for `lang`: misaki with `fallback` for out-of-lexicon words in English,
    /// `fallback`'s whole-text G2P in the other languages, which it must speak.
    pub fn new(lang: Lang, fallback: Arc<dyn OovFallback>) -> Result<Self, UnsupportedLang> {
        let misaki = |l| {
            let recorder: Box<dyn misaki_rs::Fallback> = Box::new(Recorder {
                inner: fallback.clone(),
                lang,
            });
            Engine::Misaki(Box::new(misaki_rs::G2P::with_fallback(l, Some(recorder))))
        };
        let engine = match lang {
            Lang::EnGb => misaki(misaki_rs::Language::EnglishGB),
            Lang::EnUs => misaki(misaki_rs::Language::EnglishUS),
            #[cfg(feature = "ja")]
            Lang::Ja => Engine::Japanese,
            #[cfg(feature = "zh")]
            Lang::Cmn => Engine::Mandarin(Box::default()),
            _ if fallback.speaks(lang) => Engine::Fallback,
            _ => {
                return Err(UnsupportedLang {
                    lang,
                    backend: fallback.name(),
                })
            }
        };
        let g2p = Self {
            engine,
            fallback,
            lang,
            lexicon: crate::Lexicon::default(),
        };
        // The first call builds lazily made tables; pay for it here, at load
        // time, rather than in the first chunk's time to audio.
        let _ = g2p.phonemize("Warm up.", &mut Vec::new());
        Ok(g2p)
    }

    /// Uses `lexicon` before the built-in one.
    pub fn with_lexicon(mut self, lexicon: crate::Lexicon) -> Self {
        self.lexicon = lexicon;
        self
    }

    /// The language this G2P speaks.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Phonemes for one sentence (or a piece of one). Words that needed the
    /// fallback, or that no fallback could say, are reported in `diagnostics`.
    pub fn phonemize(&self, text: &str, diagnostics: &mut Vec<Diagnostic>) -> String {
        self.phonemize_mapped(text, diagnostics).0
    }

    /// [`G2p::phonemize`], with the stretch of `text` each run of phonemes
    /// was read from.
    pub(crate) fn phonemize_mapped(
        &self,
        text: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> (String, Vec<Sound>) {
        FALLBACK_WORDS.with(|w| w.borrow_mut().clear());
        let lex = self.lexicon.apply_mapped(&Mapped::identity(text));
        let t = lex.text.as_str();
        // Phoneme overrides are applied here rather than by misaki-rs, which lets
        // its own lexicon win over them for known words ("[read](/rˈɛd/)").
        let mut phonemes = String::new();
        let mut sounds = Vec::new();
        for part in overrides(t) {
            let segment = &t[part.range.clone()];
            let (ps, part_sounds) = match part.fixed {
                Some(ps) => (ps.to_string(), whole_text_sounds(segment, ps)),
                None if segment.trim().is_empty() => continue,
                None => self.plain(segment, diagnostics),
            };
            if !phonemes.is_empty() && part.spaced {
                phonemes.push(' ');
            }
            let lead = ps.len() - ps.trim_start().len();
            let trimmed = ps.trim();
            let base = phonemes.len();
            phonemes.push_str(trimmed);
            for s in part_sounds {
                let a = s.phonemes.start.saturating_sub(lead).min(trimmed.len());
                let b = s.phonemes.end.saturating_sub(lead).min(trimmed.len());
                if a < b {
                    let (ta, tb) = (
                        part.range.start + s.text.start,
                        part.range.start + s.text.end,
                    );
                    sounds.push(Sound {
                        text: lex.source_start(ta)..lex.source_end(tb),
                        phonemes: base + a..base + b,
                    });
                }
            }
        }
        FALLBACK_WORDS.with(|w| {
            for (word, via) in w.borrow_mut().drain(..) {
                diagnostics.push(if via == "none" {
                    Diagnostic::Unpronounceable { word }
                } else {
                    Diagnostic::OutOfLexicon { word, via }
                });
            }
        });
        let end = phonemes.trim_end().len();
        phonemes.truncate(end);
        for s in &mut sounds {
            s.phonemes = s.phonemes.start.min(end)..s.phonemes.end.min(end);
        }
        (phonemes, sounds)
    }

    /// The language's G2P on plain text, with the sounds of its words; if it
    /// fails, the words are spelled out.
    fn plain(&self, text: &str, diagnostics: &mut Vec<Diagnostic>) -> (String, Vec<Sound>) {
        let result = match &self.engine {
            Engine::Misaki(misaki) => misaki
                .g2p(text)
                .map(|(ps, tokens)| {
                    let sounds = token_sounds(text, &ps, &tokens, &misaki.unk);
                    (ps, sounds)
                })
                .map_err(|e| e.to_string()),
            #[cfg(feature = "ja")]
            Engine::Japanese => Ok(crate::ja::phonemize(text)).map(|ps| whole(text, ps)),
            #[cfg(feature = "zh")]
            Engine::Mandarin(zh) => Ok(zh.phonemize(text)).map(|ps| whole(text, ps)),
            Engine::Fallback => self
                .fallback
                .phonemize_text(text, self.lang)
                .map(|ps| whole(text, ps))
                .ok_or_else(|| format!("{} could not read it", self.fallback.name())),
        };
        match result {
            Ok(out) => out,
            Err(reason) => {
                diagnostics.push(Diagnostic::G2pFailed {
                    text: text.to_string(),
                    reason,
                });
                let ps = text
                    .split_whitespace()
                    .map(|w| SpellingFallback.phonemize(w, self.lang).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" ");
                whole(text, ps)
            }
        }
    }
}

/// Phonemes of a whole-text G2P, with what can be said of their sounds.
fn whole(text: &str, ps: String) -> (String, Vec<Sound>) {
    let sounds = whole_text_sounds(text, &ps);
    (ps, sounds)
}

/// misaki's tokens as sounds: its phoneme string is each token's phonemes
/// (`unk` for none) and whitespace, in order, and each token's text is found
/// in `text` in order. Should the two ever disagree, the whole text is one sound.
fn token_sounds(text: &str, ps: &str, tokens: &[misaki_rs::MToken], unk: &str) -> Vec<Sound> {
    let mut sounds = Vec::with_capacity(tokens.len());
    let (mut at, mut cursor) = (0, 0);
    for tk in tokens {
        let phonemes = tk.phonemes.as_deref().unwrap_or(unk);
        let found = (!tk.text.is_empty())
            .then(|| text[cursor..].find(tk.text.as_str()))
            .flatten()
            .map(|i| cursor + i..cursor + i + tk.text.len());
        if let Some(range) = found {
            cursor = range.end;
            if !phonemes.is_empty() {
                sounds.push(Sound {
                    text: range,
                    phonemes: at..at + phonemes.len(),
                });
            }
        }
        at += phonemes.len() + tk.whitespace.len();
    }
    if at != ps.len() || sounds.iter().any(|s| !ps.is_char_boundary(s.phonemes.end)) {
        return whole_text_sounds(text, ps);
    }
    sounds
}

/// A stretch of text for the G2P, or a phoneme override.
#[derive(Debug, PartialEq, Eq)]
struct Part<'a> {
    /// Byte range: the plain text with its leading whitespace, or the whole
    /// override `[word](/phonemes/)`.
    range: std::ops::Range<usize>,
    /// The override's phonemes.
    fixed: Option<&'a str>,
    /// Whitespace comes before it: a space goes before its phonemes.
    spaced: bool,
}

/// Splits text into plain stretches and phoneme overrides `[word](/phonemes/)`.
fn overrides(text: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    let mut search = 0;
    while let Some(open) = text[search..].find('[').map(|i| search + i) {
        let after = &text[open..];
        let parsed = crate::split::link_len(after).and_then(|len| {
            let close = after.find("](")?;
            let ps = after[close + 2..len - 1]
                .strip_prefix('/')?
                .strip_suffix('/')?;
            Some((len, ps))
        });
        match parsed {
            Some((len, ps)) => {
                let before = &text[from..open];
                out.push(Part {
                    range: from..open,
                    fixed: None,
                    spaced: before.starts_with(char::is_whitespace),
                });
                out.push(Part {
                    range: open..open + len,
                    fixed: Some(ps),
                    spaced: before.ends_with(char::is_whitespace),
                });
                from = open + len;
                search = from;
            }
            None => search = open + 1,
        }
    }
    out.push(Part {
        range: from..text.len(),
        fixed: None,
        spaced: text[from..].starts_with(char::is_whitespace),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_fallback_names_every_letter_and_digit() {
        assert_eq!(
            SpellingFallback.phonemize("Qz9", Lang::EnUs).as_deref(),
            Some("kjˈu zˈi nˈIn")
        );
        assert_eq!(
            SpellingFallback.phonemize("é", Lang::EnUs).as_deref(),
            Some("ˈi")
        );
        assert_eq!(SpellingFallback.phonemize("—", Lang::EnUs), None);
    }

    #[test]
    fn overrides_are_cut_out_with_their_spacing() {
        let parts = |text: &'static str| -> Vec<(&'static str, Option<&'static str>, bool)> {
            overrides(text)
                .into_iter()
                .map(|p| (&text[p.range], p.fixed, p.spaced))
                .collect()
        };
        assert_eq!(
            parts("I [read](/rˈɛd/) it."),
            vec![
                ("I ", None, false),
                ("[read](/rˈɛd/)", Some("rˈɛd"), true),
                (" it.", None, true)
            ]
        );
        assert_eq!(
            parts("[a](/ˈA/)."),
            vec![
                ("", None, false),
                ("[a](/ˈA/)", Some("ˈA"), false),
                (".", None, false)
            ]
        );
        assert_eq!(
            parts("no [link] (here)"),
            vec![("no [link] (here)", None, false)]
        );
    }
}
