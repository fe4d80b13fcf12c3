//! A directory of chapter files that a rerun resumes: their names, and the
//! record of which are complete and what made them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kokoro_audio::Format;
use sha2::{Digest, Sha256};

use crate::error::io_err;
use crate::Result;

/// A chapter's file name: `007-the-return.wav`.
pub fn file_name(index: usize, title: &str, format: Format) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("{:03}.{}", index + 1, format.extension())
    } else {
        format!("{:03}-{slug}.{}", index + 1, format.extension())
    }
}

/// What a file was made from, as a hex SHA-256 of the parts; a file made
/// from anything else is redone.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The record of finished files in a directory: `.kokoro-done.toml`, file
/// name = fingerprint, rewritten atomically after each file. A file is done
/// when it exists and its fingerprint matches.
#[derive(Debug)]
pub struct Record {
    path: PathBuf,
    done: BTreeMap<String, String>,
}

impl Record {
    /// Opens (or starts) the record in `dir`, creating `dir`, and removes the
    /// temporary files an interrupted run left there.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".kokoro-") && name.ends_with(".part") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let path = dir.join(".kokoro-done.toml");
        // A damaged record only costs redoing chapters.
        let done = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| toml::from_str(&text).ok())
            .unwrap_or_default();
        Ok(Self { path, done })
    }

    /// Whether `file` in the directory is complete and made from `fingerprint`.
    pub fn is_done(&self, file: &str, fingerprint: &str) -> bool {
        self.done.get(file).is_some_and(|f| f == fingerprint)
            && self.path.with_file_name(file).is_file()
    }

    /// Records `file` as complete.
    pub fn mark_done(&mut self, file: &str, fingerprint: &str) -> Result<()> {
        self.done.insert(file.to_string(), fingerprint.to_string());
        let text = toml::to_string(&self.done)
            .map_err(|e| crate::Error::Book(format!("cannot record progress: {e}")))?;
        super::timing::write_whole(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapter_file_names() {
        assert_eq!(
            file_name(6, "Chapter VII: The Return!", Format::Mp3),
            "007-chapter-vii-the-return.mp3"
        );
        assert_eq!(file_name(0, "", Format::Wav), "001.wav");
        assert_eq!(
            file_name(1, "¿Qué? Ça va", Format::M4b),
            "002-qué-ça-va.m4b"
        );
    }

    #[test]
    fn the_record_reads_back_what_it_wrote_and_survives_damage() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".kokoro-x.wav.abc.part"), b"half").unwrap();
        let mut r = Record::open(dir.path()).unwrap();
        assert!(!dir.path().join(".kokoro-x.wav.abc.part").exists());
        std::fs::write(dir.path().join("x.wav"), b"whole").unwrap();
        r.mark_done("x.wav", "f1").unwrap();
        let r = Record::open(dir.path()).unwrap();
        assert!(r.is_done("x.wav", "f1"));
        std::fs::write(dir.path().join(".kokoro-done.toml"), b"= garbage").unwrap();
        assert!(!Record::open(dir.path()).unwrap().is_done("x.wav", "f1"));
        let r = Record::open(dir.path()).unwrap();
        assert!(!r.is_done("x.wav", "f2"));
        assert!(
            !r.is_done("y.wav", "f1"),
            "a file that is not there is not done"
        );
    }
}
