//! Where encoded audio goes: a file that is complete or absent, a file that
//! grows in place, standard output, or any writer.
//!
//! A file is written through a temporary file beside it and renamed into place
//! when complete, so an existing file is never left half-written. A file
//! written in place (a stream to a file) is removed unless committed.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

enum Target {
    Atomic(BufWriter<tempfile::NamedTempFile>),
    InPlace(BufWriter<File>),
    Stdout(std::io::Stdout),
    /// Any stream (an HTTP response, a pipe).
    Writer(Box<dyn Write + Send>),
}

/// A byte destination: a file (atomic or in place), standard output, or any writer.
pub struct Dest {
    target: Option<Target>,
    path: Option<PathBuf>,
}

/// A file's name for its temporary's, cut short to keep within name limits.
fn file_name_of(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.chars().take(100).collect()
}

impl Dest {
    /// A file at `path`: through a temporary file, or in place when `in_place`.
    /// Fails at once if the file cannot be created.
    pub fn file(path: &Path, in_place: bool) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let target = if in_place {
            let f = File::create(path).map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
            Target::InPlace(BufWriter::new(f))
        } else {
            // `.kokoro-NAME.XXXXXX.part`: hidden, and named after its target,
            // so that a writer can clear what a killed run of its own left
            // (see [`temporaries_of`]) without touching another's.
            let prefix = format!(".kokoro-{}.", file_name_of(path));
            let mut builder = tempfile::Builder::new();
            builder.prefix(&prefix).suffix(".part");
            // Readable by others, as a file the user created would be (a
            // temporary file is private by default).
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
            let tmp = builder
                .tempfile_in(dir)
                .map_err(|source| Error::Directory {
                    path: path.to_path_buf(),
                    dir: dir.to_path_buf(),
                    source,
                })?;
            Target::Atomic(BufWriter::new(tmp))
        };
        Ok(Self {
            target: Some(target),
            path: Some(path.to_path_buf()),
        })
    }

    /// The temporary files that [`Dest::file`] made for `path` and a killed
    /// process left behind (they are removed on every other exit).
    pub fn temporaries_of(path: &Path) -> Vec<PathBuf> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let prefix = format!(".kokoro-{}.", file_name_of(path));
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(&prefix) && name.ends_with(".part")
            })
            .map(|e| e.path())
            .collect()
    }

    /// No bytes at all (audio that went to a device).
    pub fn nowhere() -> Self {
        Self {
            target: None,
            path: None,
        }
    }

    /// Standard output.
    pub fn stdout() -> Self {
        Self {
            target: Some(Target::Stdout(std::io::stdout())),
            path: None,
        }
    }

    /// Any writer, as a stream (an HTTP response, a pipe, a `Vec<u8>`).
    pub fn writer(w: impl Write + Send + 'static) -> Self {
        Self {
            target: Some(Target::Writer(Box::new(w))),
            path: None,
        }
    }

    /// True for a stream (standard output, a writer, a file growing in place),
    /// where bytes are flushed as soon as they are encoded.
    pub fn is_stream(&self) -> bool {
        matches!(
            self.target,
            Some(Target::Stdout(_)) | Some(Target::InPlace(_)) | Some(Target::Writer(_))
        )
    }

    /// Overwrites bytes at `offset` (a header whose sizes are known only at the
    /// end). A no-op on standard output, which cannot seek.
    pub fn patch(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let file: &mut File = match self.target.as_mut() {
            Some(Target::Atomic(w)) => {
                w.flush()?;
                w.get_mut().as_file_mut()
            }
            Some(Target::InPlace(w)) => {
                w.flush()?;
                w.get_mut()
            }
            _ => return Ok(()),
        };
        let end = file.stream_position()?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)?;
        file.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    /// Bytes written so far (0 on standard output).
    pub fn position(&mut self) -> std::io::Result<u64> {
        match self.target.as_mut() {
            Some(Target::Atomic(w)) => {
                w.flush()?;
                w.get_mut().as_file_mut().stream_position()
            }
            Some(Target::InPlace(w)) => {
                w.flush()?;
                w.get_mut().stream_position()
            }
            _ => Ok(0),
        }
    }

    /// Completes the output: flushes, and renames a temporary file into place.
    pub fn commit(mut self) -> Result<()> {
        let path = self.path.clone().unwrap_or_default();
        let write = |source| Error::Write {
            path: path.clone(),
            source,
        };
        match self.target.take() {
            Some(Target::Atomic(w)) => {
                let tmp = w.into_inner().map_err(|e| write(e.into_error()))?;
                tmp.as_file().sync_all().map_err(write)?;
                tmp.persist(&path).map_err(|e| Error::Rename {
                    path: path.clone(),
                    source: e.error,
                })?;
            }
            Some(Target::InPlace(mut w)) => {
                w.flush().map_err(write)?;
                w.get_ref().sync_all().map_err(write)?;
            }
            Some(Target::Stdout(mut s)) => s.flush()?,
            Some(Target::Writer(mut w)) => w.flush()?,
            None => {}
        }
        Ok(())
    }
}

impl Write for Dest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.target.as_mut() {
            Some(Target::Atomic(w)) => w.write(buf),
            Some(Target::InPlace(w)) => w.write(buf),
            Some(Target::Stdout(s)) => s.write(buf),
            Some(Target::Writer(w)) => w.write(buf),
            None => Err(std::io::Error::other("output already closed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.target.as_mut() {
            Some(Target::Atomic(w)) => w.flush(),
            Some(Target::InPlace(w)) => w.flush(),
            Some(Target::Stdout(s)) => s.flush(),
            Some(Target::Writer(w)) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Dest {
    /// An output not committed is removed: a temporary file by its own drop, a
    /// file written in place here.
    fn drop(&mut self) {
        if let (Some(Target::InPlace(_)), Some(path)) = (self.target.take(), &self.path) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_place_file_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcm");
        let mut d = Dest::file(&path, true).unwrap();
        d.write_all(b"abc").unwrap();
        drop(d);
        assert!(!path.exists());
        let mut d = Dest::file(&path, true).unwrap();
        d.write_all(b"abc").unwrap();
        d.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
    }

    #[test]
    fn a_killed_writers_temporary_is_found_by_its_target_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
        let mut d = Dest::file(&a, false).unwrap();
        d.write_all(b"abc").unwrap();
        let _other = Dest::file(&b, false).unwrap();
        // As a killed process leaves it: not removed, not renamed.
        std::mem::forget(d);
        let left = Dest::temporaries_of(&a);
        assert_eq!(left.len(), 1, "{left:?}");
        let name = left[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".kokoro-a.wav.") && name.ends_with(".part"),
            "{name}"
        );
        assert_eq!(Dest::temporaries_of(&b).len(), 1);
        assert!(Dest::temporaries_of(&dir.path().join("c.wav")).is_empty());
    }

    #[test]
    fn a_directory_or_a_missing_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Dest::file(dir.path(), false).err().unwrap();
        assert!(e.to_string().contains("it is a directory"), "{e}");
        let e = Dest::file(&dir.path().join("no/such/x.wav"), false)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("not writable or does not exist"),
            "{e}"
        );
    }
}
