//! Books: choosing chapters, naming chapter files, and remembering which are
//! done, so that a rerun resumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use kokoro::audio::{Dest, Format};

/// Parses `--chapters`: `3`, `3-7`, `-4`, `10-`, or a comma-separated list of
/// those, against `count` chapters; 1-based, in order, without repeats.
pub fn select(spec: &str, count: usize) -> Result<Vec<usize>> {
    let mut chosen = std::collections::BTreeSet::new();
    for part in spec.split(',').map(str::trim) {
        let bad = || {
            anyhow::anyhow!(
                "--chapters: `{part}` is not a chapter or range (like 3, 3-7, 10-, or 1,4-6)"
            )
        };
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (
                if a.trim().is_empty() {
                    1
                } else {
                    a.trim().parse().map_err(|_| bad())?
                },
                if b.trim().is_empty() {
                    count
                } else {
                    b.trim().parse().map_err(|_| bad())?
                },
            ),
            None => {
                let n: usize = part.parse().map_err(|_| bad())?;
                (n, n)
            }
        };
        if from == 0 || from > to {
            return Err(bad());
        }
        if to > count {
            bail!("--chapters: the document has {count} chapter(s), not {to}");
        }
        chosen.extend(from..=to);
    }
    Ok(chosen.into_iter().map(|n| n - 1).collect())
}

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

/// What a chapter file was made from; a file made from anything else is redone.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The record of finished chapter files in a `--split-output` directory:
/// `.kokoro-done.toml`, file name = fingerprint, rewritten atomically after each
/// chapter. A file is done when it exists and its fingerprint matches.
#[derive(Debug)]
pub struct Record {
    path: PathBuf,
    done: BTreeMap<String, String>,
}

impl Record {
    /// Opens (or starts) the record in `dir`, creating `dir`, and removes the
    /// temporary files an interrupted run left there.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".kokoro-") && name.ends_with(".part") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let path = dir.join(".kokoro-done.toml");
        let done = match std::fs::read_to_string(&path) {
            // A damaged record only costs redoing chapters.
            Ok(text) => toml::from_str(&text).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
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
        let text = toml::to_string(&self.done).context("cannot record progress")?;
        write_whole(&self.path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` whole or not at all (a temporary file, renamed).
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut dest = Dest::file(path, false)?;
    std::io::Write::write_all(&mut dest, bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(dest.commit()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any `--chapters` text: an error or chapters of the document, never
        /// a panic (the parsers' fuzzing, as proptest over arbitrary text).
        #[test]
        fn any_chapter_list_is_chapters_or_an_error(spec in "(\\PC|[0-9,\\- ]){0,40}", count in 0usize..50) {
            if let Ok(chosen) = select(&spec, count) {
                proptest::prop_assert!(chosen.iter().all(|&c| c < count));
                proptest::prop_assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn chapter_selections() {
        assert_eq!(select("3-5", 10).unwrap(), vec![2, 3, 4]);
        assert_eq!(select("1,4-5,4", 10).unwrap(), vec![0, 3, 4]);
        assert_eq!(select("-2", 10).unwrap(), vec![0, 1]);
        assert_eq!(select("9-", 10).unwrap(), vec![8, 9]);
        for bad in ["0", "5-3", "x", "1-x", "", "11"] {
            assert!(select(bad, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn chapter_file_names() {
        assert_eq!(
            file_name(6, "Chapter VII: The Return!", Format::Mp3),
            "007-chapter-vii-the-return.mp3"
        );
        assert_eq!(file_name(0, "", Format::Wav), "001.wav");
        assert_eq!(
            file_name(1, "¿Qué? Ça va", Format::Flac),
            "002-qué-ça-va.flac"
        );
    }
}
