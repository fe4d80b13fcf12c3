//! Where audio goes and in which format, written as it arrives.
//!
//! A file is written through a temporary file beside it and renamed into place
//! when complete, so an existing file is never left half-written. With
//! `--stream` a file is written in place, growing as chunks complete, and removed
//! if the run fails. Standard output gets the bytes as they are encoded.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// WAV, 16-bit PCM.
    Wav,
    /// WAV, 32-bit float.
    WavFloat,
    /// FLAC, 16-bit.
    Flac,
    /// MP3 (MPEG-2 layer III at 24 kHz).
    Mp3,
    /// Ogg Opus.
    Opus,
    /// Raw 16-bit little-endian PCM, 24 kHz mono, no header.
    Pcm,
}

impl FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "wav" => Format::Wav,
            "wav-float" | "wav32" | "f32" => Format::WavFloat,
            "flac" => Format::Flac,
            "mp3" => Format::Mp3,
            "opus" | "ogg" => Format::Opus,
            "pcm" | "raw" => Format::Pcm,
            _ => bail!("unknown format `{s}` (wav, wav-float, flac, mp3, opus, pcm)"),
        })
    }
}

impl Format {
    /// The format a file name asks for, by its extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "wav" => Some(Format::Wav),
            "flac" => Some(Format::Flac),
            "mp3" => Some(Format::Mp3),
            "opus" | "ogg" | "oga" => Some(Format::Opus),
            "pcm" | "raw" => Some(Format::Pcm),
            _ => None,
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Wav | Format::WavFloat => "wav",
            Format::Flac => "flac",
            Format::Mp3 => "mp3",
            Format::Opus => "opus",
            Format::Pcm => "pcm",
        }
    }
}

enum Target {
    Atomic(BufWriter<tempfile::NamedTempFile>),
    InPlace(BufWriter<File>),
    Stdout(std::io::Stdout),
    /// Any stream (an HTTP response).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    Writer(Box<dyn Write + Send>),
}

/// A byte destination: file (atomic or in place) or standard output.
pub struct Dest {
    target: Option<Target>,
    path: Option<PathBuf>,
}

impl Dest {
    /// A file at `path`: through a temporary file, or in place when `in_place`.
    /// Fails at once if the file cannot be created.
    pub fn file(path: &Path, in_place: bool) -> Result<Self> {
        if path.is_dir() {
            bail!("cannot write {}: it is a directory", path.display());
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let target = if in_place {
            let f =
                File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
            Target::InPlace(BufWriter::new(f))
        } else {
            let mut builder = tempfile::Builder::new();
            builder.prefix(".kokoro-").suffix(".part");
            // Readable by others, as a file the user created would be (a
            // temporary file is private by default).
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
            let tmp = builder.tempfile_in(dir).with_context(|| {
                format!(
                    "cannot write {}: directory {} is not writable or does not exist",
                    path.display(),
                    dir.display()
                )
            })?;
            Target::Atomic(BufWriter::new(tmp))
        };
        Ok(Self {
            target: Some(target),
            path: Some(path.to_path_buf()),
        })
    }

    /// No bytes at all (audio that went to a device).
    #[cfg_attr(not(feature = "playback"), allow(dead_code))]
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

    /// Any writer, as a stream (an HTTP response).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub fn writer(w: Box<dyn Write + Send>) -> Self {
        Self {
            target: Some(Target::Writer(w)),
            path: None,
        }
    }

    /// True for standard output, where bytes are flushed as soon as they are written.
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
        match self.target.take() {
            Some(Target::Atomic(w)) => {
                let tmp = w
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                tmp.as_file()
                    .sync_all()
                    .with_context(|| format!("cannot write {}", path.display()))?;
                tmp.persist(&path).map_err(|e| e.error).with_context(|| {
                    format!("cannot rename the finished audio to {}", path.display())
                })?;
            }
            Some(Target::InPlace(mut w)) => {
                w.flush()
                    .with_context(|| format!("cannot write {}", path.display()))?;
                w.get_ref()
                    .sync_all()
                    .with_context(|| format!("cannot write {}", path.display()))?;
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

/// Converts a float sample to 16-bit PCM, clipping.
pub fn to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// An audio encoder over a [`Dest`].
pub trait Encoder {
    /// Encodes samples (24 kHz mono floats); on a stream, flushes them out.
    /// Errors are I/O errors, so that a closed pipe can be told apart.
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()>;
    /// Finishes the stream and returns the destination, ready to commit.
    fn finish(self: Box<Self>) -> Result<Dest>;
}

/// Creates the encoder for `format` over `dest`.
pub fn encoder(format: Format, dest: Dest) -> Result<Box<dyn Encoder>> {
    Ok(match format {
        Format::Wav => Box::new(crate::wav::WavEncoder::new(
            dest,
            crate::wav::SampleFormat::Pcm16,
        )?),
        Format::WavFloat => Box::new(crate::wav::WavEncoder::new(
            dest,
            crate::wav::SampleFormat::Float32,
        )?),
        Format::Pcm => Box::new(PcmEncoder { dest }),
        Format::Flac => Box::new(crate::codecs::FlacEncoder::new(dest)?),
        Format::Mp3 => Box::new(crate::codecs::Mp3Encoder::new(dest)?),
        Format::Opus => Box::new(crate::codecs::OpusEncoder::new(dest)?),
    })
}

/// Raw 16-bit little-endian PCM.
struct PcmEncoder {
    dest: Dest,
}

impl Encoder for PcmEncoder {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        let bytes: Vec<u8> = samples
            .iter()
            .flat_map(|&s| to_i16(s).to_le_bytes())
            .collect();
        self.dest.write_all(&bytes)?;
        if self.dest.is_stream() {
            self.dest.flush()?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Dest> {
        Ok(self.dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names_and_extensions() {
        assert_eq!("MP3".parse::<Format>().unwrap(), Format::Mp3);
        assert!("aiff".parse::<Format>().is_err());
        assert_eq!(Format::from_path(Path::new("a/b.flac")), Some(Format::Flac));
        assert_eq!(Format::from_path(Path::new("b.ogg")), Some(Format::Opus));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
    }

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
}
