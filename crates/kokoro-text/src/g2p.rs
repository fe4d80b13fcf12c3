//! Grapheme-to-phoneme conversion: misaki's lexicons and tagger first, a fallback
//! for words the lexicon lacks, so that no word is ever silently dropped.

use std::cell::RefCell;
use std::sync::Arc;

use misaki_rs::fallback::FallbackError;

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
}

/// Adapter from our fallback to misaki's, recording every word it was asked about.
struct Recorder {
    inner: Arc<dyn OovFallback>,
    lang: Lang,
}

impl misaki_rs::Fallback for Recorder {
    fn phonemize(&self, word: &str) -> Result<String, FallbackError> {
        let out = self
            .inner
            .phonemize(word, self.lang)
            .or_else(|| SpellingFallback.phonemize(word, self.lang));
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
        FALLBACK_WORDS.with(|w| w.borrow_mut().clear());
        let text = self.lexicon.apply(text);
        // Phoneme overrides are applied here rather than by misaki-rs, which lets
        // its own lexicon win over them for known words ("[read](/rˈɛd/)").
        let mut phonemes = String::new();
        for (segment, fixed) in overrides(&text) {
            let ps = match fixed {
                Some(ps) => ps.to_string(),
                None if segment.trim().is_empty() => continue,
                None => self.plain(segment, diagnostics),
            };
            if !phonemes.is_empty() && segment.starts_with(char::is_whitespace) {
                phonemes.push(' ');
            }
            phonemes.push_str(ps.trim());
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
        phonemes.trim().to_string()
    }

    /// The language's G2P on plain text; if it fails, the words are spelled out.
    fn plain(&self, text: &str, diagnostics: &mut Vec<Diagnostic>) -> String {
        let result = match &self.engine {
            Engine::Misaki(misaki) => misaki
                .g2p(text)
                .map(|(ps, _)| ps)
                .map_err(|e| e.to_string()),
            #[cfg(feature = "ja")]
            Engine::Japanese => Ok(crate::ja::phonemize(text)),
            #[cfg(feature = "zh")]
            Engine::Mandarin(zh) => Ok(zh.phonemize(text)),
            Engine::Fallback => self
                .fallback
                .phonemize_text(text, self.lang)
                .ok_or_else(|| format!("{} could not read it", self.fallback.name())),
        };
        match result {
            Ok(ps) => ps,
            Err(reason) => {
                diagnostics.push(Diagnostic::G2pFailed {
                    text: text.to_string(),
                    reason,
                });
                text.split_whitespace()
                    .map(|w| SpellingFallback.phonemize(w, self.lang).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }
    }
}

/// Splits text into plain segments and phoneme overrides `[word](/phonemes/)`.
/// A segment keeps its leading whitespace, which says whether a space goes
/// before its phonemes; an override gets `" "` when whitespace preceded it.
fn overrides(text: &str) -> Vec<(&str, Option<&str>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open..];
        let parsed = crate::split::link_len(after).and_then(|len| {
            let close = after.find("](")?;
            let ps = after[close + 2..len - 1]
                .strip_prefix('/')?
                .strip_suffix('/')?;
            Some((len, ps))
        });
        match parsed {
            Some((len, ps)) => {
                let before = &rest[..open];
                out.push((before, None));
                let spaced = before.ends_with(char::is_whitespace);
                out.push((if spaced { " " } else { "" }, Some(ps)));
                rest = &rest[open + len..];
            }
            None => {
                out.push((&rest[..open + 1], None));
                rest = &rest[open + 1..];
            }
        }
    }
    out.push((rest, None));
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
        assert_eq!(
            overrides("I [read](/rˈɛd/) it."),
            vec![("I ", None), (" ", Some("rˈɛd")), (" it.", None)]
        );
        assert_eq!(
            overrides("[a](/ˈA/)."),
            vec![("", None), ("", Some("ˈA")), (".", None)]
        );
        assert_eq!(
            overrides("no [link] (here)"),
            vec![("no [", None), ("link] (here)", None)]
        );
    }
}
