//! Checking files: SHA-256 against pins, stamps that spare re-hashing an
//! unchanged file, seals on derived files, atomic writes.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use super::pins::VOICES;
use crate::error::{io_err, Error, Result};

/// Hex SHA-256 of a file, read in pieces.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Hex SHA-256 of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn check_hash(path: &Path, bytes: &[u8], expected: &str) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            actual,
            expected: expected.to_string(),
        });
    }
    Ok(())
}

/// Writes `bytes` to `dest` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(dest))?;
    // Temporary files are private (0600); a cached asset is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err(dest))?;
    }
    tmp.persist(dest).map_err(|e| Error::Io {
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// A stamp beside a verified file: its size and modification time (seconds,
/// then nanoseconds). Hashing the 92 MB model on every run would cost a few
/// hundred milliseconds; the stamp lets a run skip it until the file changes.
pub(crate) fn stamp_of(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!(
        "{} {} {}",
        meta.len(),
        mtime.as_secs(),
        mtime.subsec_nanos()
    ))
}

/// Whether two stamps are of the same state of a file: equal, or equal but
/// for the sub-second part one of them lost. A container image's layers keep
/// whole seconds, and a cache prepared at build time must still be
/// recognised in every container started from it.
pub(crate) fn same_stamp(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    fn parts(s: &str) -> Option<(&str, &str, &str)> {
        let mut it = s.split(' ');
        Some((it.next()?, it.next()?, it.next()?))
    }
    match (parts(a), parts(b)) {
        (Some((len_a, secs_a, nanos_a)), Some((len_b, secs_b, nanos_b))) => {
            len_a == len_b && secs_a == secs_b && (nanos_a == "0" || nanos_b == "0")
        }
        _ => false,
    }
}

pub(crate) fn stamp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    path.with_file_name(name)
}

/// The processor's feature flags (Linux), or nothing where they cannot be read.
pub(crate) fn processor_features() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("flags"))?;
            Some(line.to_string())
        })
        .unwrap_or_default()
}

/// The SHA-256 a derived file was sealed with, beside it.
pub(crate) fn seal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    path.with_file_name(name)
}

/// Checks a kept derived file (an optimized or timed model) against the SHA-256 it was sealed with
/// (cheaply, through its stamp, unless the file changed); a copy that fails is
/// removed, so that it is made again. A copy not sealed yet is sealed now.
pub(crate) fn check_derived(path: &Path) {
    if !path.is_file() {
        return;
    }
    match std::fs::read_to_string(seal_path(path)) {
        Ok(expected) if verify_file(path, expected.trim()).is_ok() => {}
        Ok(_) => {
            for p in [path.to_path_buf(), seal_path(path), stamp_path(path)] {
                let _ = std::fs::remove_file(p);
            }
        }
        Err(_) => seal_derived(path),
    }
}

/// Records the SHA-256 of a freshly made derived file (an optimized or timed
/// model), and its stamp.
pub(crate) fn seal_derived(path: &Path) {
    if !path.is_file() || seal_path(path).is_file() {
        return;
    }
    if let Ok(bytes) = std::fs::read(path) {
        seal_with(path, &sha256_hex(&bytes));
    }
}

/// Records `hash` as the SHA-256 of the derived file `path`, and its stamp.
pub(crate) fn seal_with(path: &Path, hash: &str) {
    if std::fs::write(seal_path(path), hash).is_ok() {
        let _ = verify_file(path, hash);
    }
}

/// A short key for a file derived from `model` (its path, size and
/// modification time) and from `more`.
pub(crate) fn model_key(model: &Path, more: &str) -> String {
    let path = std::fs::canonicalize(model)
        .unwrap_or_else(|_| model.to_path_buf())
        .display()
        .to_string();
    // Whole seconds only: the key must be the same where the file's time
    // lost its sub-second part (see `same_stamp`).
    let stamp = stamp_of(model).unwrap_or_default();
    let stamp = stamp
        .rsplit_once(' ')
        .map_or(stamp.as_str(), |(rest, _)| rest);
    sha256_hex(format!("{path}\n{stamp}\n{more}").as_bytes())[..16].to_string()
}

/// Checks `path` against `expected`, unless an up-to-date stamp says it was checked.
pub(crate) fn verify_file(path: &Path, expected: &str) -> Result<()> {
    let stamp = stamp_path(path);
    let current = stamp_of(path).ok_or_else(|| Error::NotFound {
        what: "asset",
        path: path.to_path_buf(),
    })?;
    let recorded = std::fs::read_to_string(&stamp).ok();
    let unchanged = recorded
        .as_deref()
        .and_then(|r| r.strip_prefix(expected))
        .and_then(|r| r.strip_prefix(' '))
        .is_some_and(|r| same_stamp(r, &current));
    if unchanged {
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    check_hash(path, &bytes, expected)?;
    // The stamp is an optimisation: failing to write it is not an error.
    let _ = std::fs::write(&stamp, format!("{expected} {current}"));
    Ok(())
}

pub(crate) fn verify_voices(dir: &Path) -> Result<()> {
    for (name, sha) in VOICES {
        let file = dir.join(format!("{name}.bin"));
        if !file.exists() {
            return Err(Error::NotFound {
                what: "voice",
                path: file,
            });
        }
        verify_file(&file, sha)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::pins::{MODEL_FILE, MODEL_SHA256};
    use super::*;
    #[test]
    fn a_kept_optimized_graph_that_changed_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("g.onnx");
        std::fs::write(&kept, b"graph").unwrap();
        check_derived(&kept); // not sealed yet: sealed now
        assert!(seal_path(&kept).is_file());
        check_derived(&kept);
        assert!(kept.is_file(), "a sealed, unchanged copy stays");
        std::fs::write(&kept, b"GRAPH").unwrap();
        check_derived(&kept);
        assert!(!kept.exists(), "a changed copy goes, to be made again");
        assert!(!seal_path(&kept).exists());
    }

    #[test]
    fn corrupt_files_are_named_with_the_way_to_refetch() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(MODEL_FILE);
        std::fs::write(&file, b"not a model").unwrap();
        let msg = verify_file(&file, MODEL_SHA256).unwrap_err().to_string();
        assert!(
            msg.contains(MODEL_FILE) && msg.contains("delete it and run again"),
            "{msg}"
        );
    }

    #[test]
    fn a_stamp_that_lost_its_sub_second_time_is_the_same() {
        assert!(same_stamp(
            "92 1700000000 123456789",
            "92 1700000000 123456789"
        ));
        assert!(same_stamp("92 1700000000 123456789", "92 1700000000 0"));
        assert!(same_stamp("92 1700000000 0", "92 1700000000 5"));
        assert!(!same_stamp("92 1700000000 123", "92 1700000000 124"));
        assert!(!same_stamp("92 1700000000 0", "93 1700000000 0"));
        assert!(!same_stamp("92 1700000000 0", "92 1700000001 0"));
        assert!(!same_stamp("92 1700000000123456789", "92 1700000000 0"));
    }

    #[test]
    fn a_verified_stamp_is_invalidated_by_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x");
        std::fs::write(&file, b"abc").unwrap();
        let sha = sha256_hex(b"abc");
        verify_file(&file, &sha).unwrap();
        assert!(stamp_path(&file).exists());
        std::fs::write(&file, b"abd").unwrap();
        assert!(verify_file(&file, &sha).is_err());
    }
}
