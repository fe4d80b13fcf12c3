//! Text front end for Kokoro text-to-speech.
//!
//! The pipeline, one module per stage:
//!
//! 1. [`split`] and [`mod@normalize`]: sentences with byte spans into the caller's text, robust to
//!    "Dr.", "U.S.", "3.14", "p.m.", quotes and hard-wrapped lines.
//! 2. [`g2p`]: misaki's lexicons, tagger, number and currency handling (through
//!    `misaki-rs`), and an out-of-lexicon fallback so no word is ever silently dropped.
//!    Inline overrides such as `[Kokoro](/kˈOkəɹO/)` set a word's phonemes.
//! 3. [`vocab`]: phonemes to the model's ids; unknown symbols are dropped with a
//!    [`Diagnostic`], never a panic.
//! 4. [`chunk`]: packing into model calls of at most [`MAX_TOKENS`] ids, each
//!    with the span of source text it speaks and, for each of its words, the
//!    ids that speak it ([`Word`]: the ground of word timings). Every rewrite
//!    on the way keeps a map back to the source, so that a word is found
//!    where the user wrote it.
//!
//! This crate does no I/O (except [`EspeakFallback::install`], behind the `espeak`
//! feature) and spawns no threads. It never fails on valid UTF-8: problems come
//! back as diagnostics beside the chunks.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use kokoro_text::{ChunkOptions, Frontend, G2p, Lang, SpellingFallback};
//!
//! let frontend = Frontend::new(G2p::new(Lang::EnUs, Arc::new(SpellingFallback))?);
//! let text = "Dr. Smith paid $3.14. Then he left.";
//! let out = frontend.process(text, ChunkOptions::default());
//! assert_eq!(out.chunks.len(), 1);
//! assert!(out.chunks[0].ids.len() <= kokoro_text::MAX_TOKENS);
//! assert_eq!(&text[out.chunks[0].span.clone()], text);
//! # Ok::<(), kokoro_text::UnsupportedLang>(())
//! ```
//!
//! # Licence
//!
//! Default features are MIT OR Apache-2.0 (misaki-rs is MIT). The `espeak` feature
//! links the GPL-3.0-or-later espeak-ng port: a binary built with it is GPL.
#![deny(missing_docs)]

mod align;
pub mod chunk;
#[cfg(feature = "documents")]
pub mod document;
#[cfg(feature = "espeak")]
pub mod espeak;
pub mod g2p;
pub mod giant;
pub mod given;
#[cfg(feature = "ja")]
pub mod ja;
pub mod lexicon;
pub mod normalize;
pub mod split;
pub mod ssml;
pub mod vocab;
#[cfg(feature = "zh")]
pub mod zh;

use std::ops::Range;
use std::str::FromStr;

pub use align::Word;
pub use chunk::{normalize, Chunk, ChunkOptions, Chunks};
#[cfg(feature = "espeak")]
pub use espeak::{EspeakError, EspeakFallback};
pub use g2p::{G2p, OovFallback, SpellingFallback, UnsupportedLang};
pub use lexicon::{Lexicon, LexiconError};
pub use split::{split_sentences, Sentence};
pub use vocab::MAX_TOKENS;

/// A language the front end speaks: the nine of Kokoro v1.0's voices.
///
/// English goes through misaki's lexicons ([`G2p`]); the others need a G2P
/// backend that speaks them, such as [`EspeakFallback`] (feature `espeak`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// American English (misaki's US lexicon).
    EnUs,
    /// British English (misaki's GB lexicon).
    EnGb,
    /// Spanish.
    Es,
    /// French (France).
    Fr,
    /// Hindi.
    Hi,
    /// Italian.
    It,
    /// Brazilian Portuguese.
    PtBr,
    /// Japanese.
    Ja,
    /// Mandarin Chinese.
    Cmn,
}

impl Lang {
    /// All languages, in the order `--list-languages` shows them.
    pub const ALL: [Lang; 9] = [
        Lang::EnUs,
        Lang::EnGb,
        Lang::Es,
        Lang::Fr,
        Lang::Hi,
        Lang::It,
        Lang::PtBr,
        Lang::Ja,
        Lang::Cmn,
    ];

    /// The code users type: `en-us`, `en-gb`, `es`, `fr-fr`, `hi`, `it`, `pt-br`, `ja`, `cmn`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::EnUs => "en-us",
            Lang::EnGb => "en-gb",
            Lang::Es => "es",
            Lang::Fr => "fr-fr",
            Lang::Hi => "hi",
            Lang::It => "it",
            Lang::PtBr => "pt-br",
            Lang::Ja => "ja",
            Lang::Cmn => "cmn",
        }
    }

    /// Kokoro's one-letter code, the first letter of the language's voices
    /// (`a` for `af_heart`, `z` for `zf_xiaobei`).
    pub fn letter(self) -> char {
        match self {
            Lang::EnUs => 'a',
            Lang::EnGb => 'b',
            Lang::Es => 'e',
            Lang::Fr => 'f',
            Lang::Hi => 'h',
            Lang::It => 'i',
            Lang::PtBr => 'p',
            Lang::Ja => 'j',
            Lang::Cmn => 'z',
        }
    }

    /// A human name.
    pub fn name(self) -> &'static str {
        match self {
            Lang::EnUs => "English (American)",
            Lang::EnGb => "English (British)",
            Lang::Es => "Spanish",
            Lang::Fr => "French",
            Lang::Hi => "Hindi",
            Lang::It => "Italian",
            Lang::PtBr => "Portuguese (Brazilian)",
            Lang::Ja => "Japanese",
            Lang::Cmn => "Mandarin Chinese",
        }
    }

    /// True for the two Englishes, which misaki's lexicons speak.
    pub fn is_english(self) -> bool {
        matches!(self, Lang::EnUs | Lang::EnGb)
    }

    /// The language a Kokoro voice speaks, from its prefix (`af_heart` is
    /// American English, `ef_dora` Spanish).
    pub fn from_voice(voice: &str) -> Option<Lang> {
        let letter = voice.chars().next()?;
        Lang::ALL.into_iter().find(|l| l.letter() == letter)
    }
}

/// A language code that is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language `{0}` (supported: en-us, en-gb, es, fr-fr, hi, it, pt-br, ja, cmn, or their letters a b e f h i p j z)")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_lowercase().replace('_', "-");
        let lang = match code.as_str() {
            "en-us" | "en" | "us" | "american" => Lang::EnUs,
            "en-gb" | "gb" | "uk" | "british" => Lang::EnGb,
            "es" | "es-es" | "es-419" | "es-mx" | "spanish" => Lang::Es,
            "fr-fr" | "fr" | "french" => Lang::Fr,
            "hi" | "hi-in" | "hindi" => Lang::Hi,
            "it" | "it-it" | "italian" => Lang::It,
            "pt-br" | "pt" | "portuguese" => Lang::PtBr,
            "ja" | "ja-jp" | "jp" | "japanese" => Lang::Ja,
            "cmn" | "zh" | "zh-cn" | "cmn-cn" | "mandarin" | "chinese" => Lang::Cmn,
            one if one.chars().count() == 1 => {
                let letter = one.chars().next().unwrap_or_default();
                return Lang::ALL
                    .into_iter()
                    .find(|l| l.letter() == letter)
                    .ok_or_else(|| UnknownLang(s.to_string()));
            }
            _ => return Err(UnknownLang(s.to_string())),
        };
        Ok(lang)
    }
}

/// Something the front end noticed and worked around. None of these lose a word
/// silently: each names what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnostic {
    /// A word missing from the lexicon, read by a fallback.
    OutOfLexicon {
        /// The word.
        word: String,
        /// The fallback that read it.
        via: &'static str,
    },
    /// A word no fallback could read (spoken as nothing).
    Unpronounceable {
        /// The word.
        word: String,
    },
    /// A phoneme symbol outside the model's vocabulary, dropped.
    UnknownSymbol {
        /// The symbol.
        symbol: char,
    },
    /// The G2P failed on a piece of text, which was spelled out instead.
    G2pFailed {
        /// The text.
        text: String,
        /// What went wrong.
        reason: String,
    },
    /// The text has nothing to speak (only symbols or punctuation).
    NothingToSay {
        /// Byte range of that text.
        span: Range<usize>,
    },
    /// A run of text with no space, too long to read out and not words (base64,
    /// a hash, a key): said as what it is and its start ([`giant`]).
    GiantToken {
        /// Byte range of the token.
        span: Range<usize>,
        /// Its length in characters.
        chars: usize,
        /// What is said in its place.
        said: String,
    },
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Diagnostic::OutOfLexicon { word, via } => {
                write!(f, "`{word}` is not in the lexicon; read by {via}")
            }
            Diagnostic::Unpronounceable { word } => write!(f, "`{word}` could not be pronounced"),
            Diagnostic::UnknownSymbol { symbol } => write!(
                f,
                "phoneme {symbol:?} is not in the model's vocabulary; dropped"
            ),
            Diagnostic::G2pFailed { text, reason } => {
                write!(f, "G2P failed on `{text}` ({reason}); spelled out")
            }
            Diagnostic::NothingToSay { span } => {
                write!(f, "nothing to speak in bytes {}..{}", span.start, span.end)
            }
            Diagnostic::GiantToken { span, chars, said } => write!(
                f,
                "a token of {chars} characters with no space (bytes {}..{}) is not read out; said as \"{said}\"",
                span.start, span.end
            ),
        }
    }
}

/// Front-end output: chunks ready for the model, and what was noticed on the way.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    /// Chunks in speaking order.
    pub chunks: Vec<Chunk>,
    /// Diagnostics in text order.
    pub diagnostics: Vec<Diagnostic>,
}

/// The whole text pipeline for one language.
#[derive(Debug)]
pub struct Frontend {
    g2p: G2p,
}

impl Frontend {
    /// A front end over a G2P.
    pub fn new(g2p: G2p) -> Self {
        Self { g2p }
    }

    /// The language spoken.
    pub fn lang(&self) -> Lang {
        self.g2p.lang()
    }

    /// Chunks of `text`, phonemized lazily as they are pulled: the way to start
    /// speaking a long text before all of it is phonemized.
    pub fn chunks<'a>(&'a self, text: &'a str, opts: ChunkOptions) -> Chunks<'a> {
        Chunks::new(&self.g2p, text, opts)
    }

    /// Splits, phonemizes and chunks all of `text` at once.
    pub fn process(&self, text: &str, opts: ChunkOptions) -> Processed {
        let chunks: Vec<Chunk> = self.chunks(text, opts).collect();
        let mut diagnostics: Vec<Diagnostic> = chunks
            .iter()
            .flat_map(|c| c.diagnostics.iter().cloned())
            .collect();
        if chunks.is_empty() && !text.trim().is_empty() {
            let start = text.len() - text.trim_start().len();
            diagnostics.push(Diagnostic::NothingToSay {
                span: start..start + text.trim().len(),
            });
        }
        Processed {
            chunks,
            diagnostics,
        }
    }

    /// Phonemes of a piece of text, without chunking.
    pub fn phonemize(&self, text: &str) -> (String, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let ps = self
            .g2p
            .phonemize(&normalize::for_lang(&normalize(text), self.lang()), &mut d);
        (ps, d)
    }
}
