//! espeak-ng (feature `espeak`, GPL-3.0-or-later): the out-of-lexicon fallback
//! for English, and the whole G2P of Spanish, French, Hindi, Italian and
//! Brazilian Portuguese, as in Kokoro's own pipeline.
//!
//! espeak-ng's IPA is mapped into misaki's symbol set the way misaki does it
//! (its `EspeakFallback` for English, its `EspeakG2P` for the other languages),
//! so the model hears the phonemes it was trained on.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use espeak_ng::Translator;

use crate::g2p::OovFallback;
use crate::Lang;

/// The espeak-ng dictionaries installed: English and the languages read through espeak-ng.
const DICTS: [&str; 6] = ["en", "es", "fr", "hi", "it", "pt"];

/// Reads out-of-lexicon English words, and whole texts in the languages misaki
/// does not speak, with the pure-Rust espeak-ng port.
pub struct EspeakFallback {
    us: Mutex<Translator>,
    gb: Mutex<Translator>,
    /// Translators of the other languages, loaded on first use.
    others: [OnceLock<Option<Mutex<Translator>>>; 5],
    data_dir: std::path::PathBuf,
}

/// The other languages espeak-ng reads, with their espeak-ng voices.
const OTHERS: [(Lang, &str); 5] = [
    (Lang::Es, "es"),
    (Lang::Fr, "fr-fr"),
    (Lang::Hi, "hi"),
    (Lang::It, "it"),
    (Lang::PtBr, "pt-br"),
];

impl std::fmt::Debug for EspeakFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EspeakFallback")
    }
}

/// Why the espeak-ng fallback could not start.
#[derive(Debug, thiserror::Error)]
pub enum EspeakError {
    /// The bundled English data could not be written to the data directory.
    #[error("cannot install espeak-ng data into {dir}: {source}")]
    Install {
        /// The directory tried.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// espeak-ng rejected its data.
    #[error("espeak-ng cannot load its English data from {dir}: {reason}")]
    Load {
        /// The directory tried.
        dir: String,
        /// What espeak-ng said.
        reason: String,
    },
}

impl EspeakFallback {
    /// Writes the bundled data into `data_dir` (once; it is reused after) and
    /// loads the English voices; the others load on first use. This is the only
    /// I/O kokoro-text does.
    pub fn install(data_dir: &Path) -> Result<Self, EspeakError> {
        let dir = data_dir.display().to_string();
        if !complete(data_dir) {
            install_atomically(data_dir).map_err(|source| EspeakError::Install {
                dir: dir.clone(),
                source,
            })?;
        }
        let load = |voice: &str| {
            Translator::new(voice, Some(data_dir))
                .map(Mutex::new)
                .map_err(|e| EspeakError::Load {
                    dir: dir.clone(),
                    reason: e.to_string(),
                })
        };
        Ok(Self {
            us: load("en-us")?,
            gb: load("en")?,
            others: Default::default(),
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// The translator of a language other than English, loading it on first use.
    fn other(&self, lang: Lang) -> Option<&Mutex<Translator>> {
        let i = OTHERS.iter().position(|&(l, _)| l == lang)?;
        self.others[i]
            .get_or_init(|| {
                Translator::new(OTHERS[i].1, Some(&self.data_dir))
                    .ok()
                    .map(Mutex::new)
            })
            .as_ref()
    }
}

/// The voice files kept under `lang/`: those of the voices above. espeak-ng
/// reads every voice file under `lang/` again for each clause it translates
/// (to find the voice's phoneme replacements), so with all 151 of them an
/// out-of-lexicon word cost about 7 ms; with these seven, a tenth of that.
const VOICE_FILES: [&str; 7] = [
    "gmw/en",
    "gmw/en-US",
    "roa/es",
    "roa/fr",
    "inc/hi",
    "roa/it",
    "roa/pt-BR",
];

/// Written last into a complete install: its dictionaries, and only the voice
/// files of [`VOICE_FILES`] (an install without it is replaced).
const INSTALLED_MARK: &str = ".kokoro-voices-7";

/// Whether every dictionary is in `data_dir`, with the voice files pruned.
fn complete(data_dir: &Path) -> bool {
    data_dir.join(INSTALLED_MARK).exists()
        && DICTS
            .iter()
            .all(|d| data_dir.join(format!("{d}_dict")).exists())
}

/// Removes every voice file under `lang` but [`VOICE_FILES`].
fn prune_voices(lang: &Path) -> std::io::Result<()> {
    fn walk(root: &Path, dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path)?;
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel.to_string_lossy().replace('\\', "/");
                if !VOICE_FILES.contains(&rel.as_str()) {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        Ok(())
    }
    walk(lang, lang)
}

/// Writes the data into a fresh directory beside `data_dir` and renames it into
/// place, so that processes starting at once never read half-written files.
fn install_atomically(data_dir: &Path) -> std::io::Result<()> {
    let parent = data_dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let staging = parent.join(format!(
        ".espeak-ng-data-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    espeak_ng::install_bundled_languages(&staging, &DICTS)?;
    prune_voices(&staging.join("lang"))?;
    std::fs::write(staging.join(INSTALLED_MARK), b"")?;
    if data_dir.exists() && !complete(data_dir) {
        // An older, smaller install: move it aside (a reader that has it open
        // keeps its files) and put the complete one in its place.
        let old = parent.join(format!(".espeak-ng-data-old-{}", std::process::id()));
        std::fs::rename(data_dir, &old)?;
        let _ = std::fs::remove_dir_all(old);
    }
    match std::fs::rename(&staging, data_dir) {
        Ok(()) => Ok(()),
        // Another process won the race: its copy is complete, ours goes.
        Err(_) if complete(data_dir) => std::fs::remove_dir_all(&staging),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

impl OovFallback for EspeakFallback {
    fn name(&self) -> &'static str {
        "espeak-ng"
    }

    fn phonemize(&self, word: &str, lang: Lang) -> Option<String> {
        let british = lang == Lang::EnGb;
        let translator = if british { &self.gb } else { &self.us };
        let ipa = translator.lock().ok()?.text_to_ipa(word).ok()?;
        // espeak-ng breaks a long token (a path, a code) into clauses, one a
        // line: the word's phonemes are one run, with spaces between.
        let ps = espeak_to_misaki(&ipa, british)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (!ps.is_empty()).then_some(ps)
    }

    fn speaks(&self, lang: Lang) -> bool {
        self.other(lang).is_some()
    }

    fn phonemize_text(&self, text: &str, lang: Lang) -> Option<String> {
        let translator = self.other(lang)?.lock().ok()?;
        let mut out = String::new();
        for piece in punctuated(text) {
            match piece {
                Piece::Words(words) => {
                    let ipa = translator.text_to_ipa(words).ok()?;
                    let ps = espeak_to_kokoro(&ipa);
                    if ps.is_empty() {
                        continue;
                    }
                    if !out.is_empty() && !out.ends_with(['“', '(', ' ']) {
                        out.push(' ');
                    }
                    out.push_str(&ps);
                }
                Piece::Open(p) => {
                    if !out.is_empty() && !out.ends_with(' ') {
                        out.push(' ');
                    }
                    out.push(p);
                }
                Piece::Close(p) => out.push(p),
            }
        }
        Some(out.trim().to_string())
    }
}

/// A run of text between punctuation marks, or a mark in Kokoro's vocabulary.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Words(&'a str),
    /// Opens a phrase: `“`, `(`.
    Open(char),
    /// Closes one or stands after a word: `,`, `.`, `”`, `)`...
    Close(char),
}

/// Cuts text at punctuation, as phonemizer's `preserve_punctuation` does for
/// misaki: espeak-ng reads the words, the marks go to the model as they are.
/// Marks outside the vocabulary become their nearest vocabulary mark (`«` is `“`,
/// CJK `，` is `,`) or, like `¿` and `¡`, nothing.
fn punctuated(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let mark = match c {
            ',' | '、' | '，' => Some(Piece::Close(',')),
            '.' | '。' | '．' | '।' | '॥' => Some(Piece::Close('.')),
            '!' | '！' => Some(Piece::Close('!')),
            '?' | '？' => Some(Piece::Close('?')),
            ';' | '；' => Some(Piece::Close(';')),
            ':' | '：' => Some(Piece::Close(':')),
            '—' | '–' => Some(Piece::Close('—')),
            '…' => Some(Piece::Close('…')),
            '»' | '”' | '」' | '』' => Some(Piece::Close('”')),
            ')' | '）' => Some(Piece::Close(')')),
            '«' | '“' | '「' | '『' => Some(Piece::Open('“')),
            '(' | '（' => Some(Piece::Open('(')),
            '"' | '¿' | '¡' => Some(Piece::Close(' ')),
            _ => None,
        };
        // A period between digits is part of a number ("3.5"), not a mark.
        let in_number = matches!(c, '.' | ',')
            && text[..i].ends_with(|p: char| p.is_ascii_digit())
            && text[i + 1..].starts_with(|n: char| n.is_ascii_digit());
        let Some(mark) = mark.filter(|_| !in_number) else {
            continue;
        };
        if !text[start..i].trim().is_empty() {
            out.push(Piece::Words(&text[start..i]));
        }
        if mark != Piece::Close(' ') {
            out.push(mark);
        }
        start = i + c.len_utf8();
    }
    if !text[start..].trim().is_empty() {
        out.push(Piece::Words(&text[start..]));
    }
    out
}

/// Rewrites espeak-ng IPA into Kokoro's symbols for the languages misaki reads
/// through espeak-ng (its `EspeakG2P`, version 1.0). espeak-ng here writes no
/// tie bars, so the pairs misaki joins are joined wherever they occur.
pub fn espeak_to_kokoro(ipa: &str) -> String {
    const E2M: &[(&str, &str)] = &[
        ("aɪ", "I"),
        ("aʊ", "W"),
        ("dz", "ʣ"),
        ("dʒ", "ʤ"),
        ("eɪ", "A"),
        ("oʊ", "O"),
        ("əʊ", "Q"),
        ("ts", "ʦ"),
        ("tʃ", "ʧ"),
        ("ɔɪ", "Y"),
    ];
    let mut ps = ipa.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in E2M {
        ps = ps.replace(from, to);
    }
    // Hyphens, ties and diacritics the model was not trained with.
    ps.chars()
        .filter(|c| {
            !matches!(
                c,
                '-' | '^' | '\u{361}' | '\u{329}' | '\u{32a}' | '\u{31e}' | '\u{31f}'
            )
        })
        .collect()
}

/// Rewrites espeak-ng IPA (without tie marks) into misaki's phoneme symbols.
pub fn espeak_to_misaki(ipa: &str, british: bool) -> String {
    // Longest patterns first, as misaki orders its table.
    const COMMON: &[(&str, &str)] = &[
        ("ʔˌn\u{329}", "tᵊn"),
        ("ʔn\u{329}", "tᵊn"),
        ("ʔn", "tᵊn"),
        ("ʔ", "t"),
        ("aɪ", "I"),
        ("aʊ", "W"),
        ("dʒ", "ʤ"),
        ("eɪ", "A"),
        ("tʃ", "ʧ"),
        ("ɔɪ", "Y"),
        ("əl", "ᵊl"),
        ("ʲo", "jo"),
        ("ʲə", "jə"),
        ("ʲ", ""),
        ("ɚ", "əɹ"),
        ("r", "ɹ"),
        ("x", "k"),
        ("ç", "k"),
        ("ɐ", "ə"),
        ("ɬ", "l"),
        ("\u{303}", ""),
    ];
    let mut ps = ipa
        .trim()
        .trim_end_matches(['.', ',', '?', '!'])
        .to_string();
    if british {
        ps = ps.replace("eə", "ɛː").replace("əʊ", "Q");
    } else {
        ps = ps.replace("oʊ", "O");
    }
    for (from, to) in COMMON {
        ps = ps.replace(from, to);
    }
    // A syllabic consonant "n̩" becomes "ᵊn".
    let mut out = String::with_capacity(ps.len());
    for c in ps.chars() {
        if c == '\u{329}' {
            if let Some(prev) = out.pop() {
                out.push('ᵊ');
                out.push(prev);
            }
        } else {
            out.push(c);
        }
    }
    let mut ps = out;
    if british {
        ps = ps.replace("iə", "ɪə");
    } else {
        ps = ps
            .replace("ɜːɹ", "ɜɹ")
            .replace("ɜː", "ɜɹ")
            .replace("ɪə", "iə")
            .replace('ː', "");
    }
    ps.replace('e', "A").replace('o', "ɔ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_diphthongs_and_affricates() {
        assert_eq!(espeak_to_misaki("haɪ dʒˈoʊk tʃˈeɪn", false), "hI ʤˈOk ʧˈAn");
        assert_eq!(espeak_to_misaki("hɛlˈəʊ", true), "hɛlˈQ");
        assert_eq!(espeak_to_misaki("bˈɜːd", false), "bˈɜɹd");
    }

    #[test]
    fn reads_an_unknown_word() {
        let dir = std::env::temp_dir().join(format!("kokoro-espeak-test-{}", std::process::id()));
        let fb = EspeakFallback::install(&dir).expect("espeak data installs");
        let ps = fb
            .phonemize("zorblax", Lang::EnUs)
            .expect("espeak reads any word");
        assert!(ps.contains('z'), "{ps}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_pruned_voices_read_as_all_of_them_do() {
        let base = std::env::temp_dir().join(format!("kokoro-espeak-prune-{}", std::process::id()));
        let (pruned_dir, full_dir) = (base.join("pruned"), base.join("full"));
        let pruned = EspeakFallback::install(&pruned_dir).expect("espeak data installs");
        espeak_ng::install_bundled_languages(&full_dir, &DICTS).expect("espeak data installs");
        let files = |d: &Path| {
            let mut n = 0;
            let mut stack = vec![d.join("lang")];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(dir).unwrap().flatten() {
                    if e.path().is_dir() {
                        stack.push(e.path());
                    } else {
                        n += 1;
                    }
                }
            }
            n
        };
        assert_eq!(files(&pruned_dir), VOICE_FILES.len());
        assert!(files(&full_dir) > 100);
        let translator = |voice: &str| Translator::new(voice, Some(&full_dir)).unwrap();
        let (us, gb) = (translator("en-us"), translator("en"));
        for word in [
            "zorblax",
            "Tolkien",
            "Nguyen",
            "kubectl",
            "hyperparameter",
            "Wrocław",
        ] {
            for (lang, full) in [(Lang::EnUs, &us), (Lang::EnGb, &gb)] {
                let all = full.text_to_ipa(word).unwrap();
                let british = lang == Lang::EnGb;
                let all = espeak_to_misaki(&all, british)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                assert_eq!(pruned.phonemize(word, lang), Some(all), "{word} {lang:?}");
            }
        }
        for (lang, voice, text) in [
            (Lang::Es, "es", "El perro come en la casa."),
            (Lang::Fr, "fr-fr", "Le chien mange à la maison."),
            (Lang::Hi, "hi", "नमस्ते दुनिया"),
            (Lang::It, "it", "Il cane mangia a casa."),
            (Lang::PtBr, "pt-br", "O cachorro come em casa."),
        ] {
            let all = espeak_to_kokoro(&translator(voice).text_to_ipa(text).unwrap());
            let ours = pruned.phonemize_text(text, lang).unwrap();
            // Ours keeps the punctuation espeak-ng drops: compare the words.
            let strip = |s: &str| {
                s.chars()
                    .filter(|c| c.is_alphabetic() || "ˈˌː".contains(*c))
                    .collect::<String>()
            };
            assert_eq!(strip(&ours), strip(&all), "{voice}");
        }
        let _ = std::fs::remove_dir_all(base);
    }
}
