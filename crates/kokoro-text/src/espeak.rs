//! Out-of-lexicon fallback through espeak-ng (feature `espeak`, GPL-3.0-or-later).
//!
//! espeak-ng's IPA is mapped into misaki's symbol set the way misaki's own espeak
//! fallback does, so the model hears the phonemes it was trained on.

use std::path::Path;
use std::sync::Mutex;

use espeak_ng::Translator;

use crate::g2p::OovFallback;
use crate::Lang;

/// Reads out-of-lexicon words with the pure-Rust espeak-ng port.
pub struct EspeakFallback {
    us: Mutex<Translator>,
    gb: Mutex<Translator>,
}

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
    /// Writes the bundled English data into `data_dir` (once; it is reused after)
    /// and loads it. This is the only I/O kokoro-text does.
    pub fn install(data_dir: &Path) -> Result<Self, EspeakError> {
        let dir = data_dir.display().to_string();
        if !data_dir.join("en_dict").exists() {
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
        })
    }
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
    espeak_ng::install_bundled_language(&staging, "en")?;
    match std::fs::rename(&staging, data_dir) {
        Ok(()) => Ok(()),
        // Another process won the race: its copy is complete, ours goes.
        Err(_) if data_dir.join("en_dict").exists() => std::fs::remove_dir_all(&staging),
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
        let ps = espeak_to_misaki(&ipa, british);
        (!ps.trim().is_empty()).then_some(ps)
    }
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
}
