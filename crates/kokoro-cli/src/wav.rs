//! WAV output, written as audio arrives.
//!
//! A file is written to a temporary file beside the destination and renamed into
//! place only when complete, so an existing file is never left half-written. To
//! standard output the header carries the "unknown length" sizes that players
//! accept for streams.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kokoro_infer::SAMPLE_RATE;

/// Sample format of the WAV data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 16-bit signed PCM.
    Pcm16,
    /// 32-bit IEEE float.
    Float32,
}

impl SampleFormat {
    fn bytes(self) -> u16 {
        match self {
            SampleFormat::Pcm16 => 2,
            SampleFormat::Float32 => 4,
        }
    }
}

enum Target {
    File {
        tmp: BufWriter<tempfile::NamedTempFile>,
        dest: PathBuf,
    },
    Stdout(BufWriter<std::io::Stdout>),
}

/// A WAV stream being written.
pub struct WavWriter {
    target: Target,
    format: SampleFormat,
    data_bytes: u64,
    buf: Vec<u8>,
}

fn header(format: SampleFormat, data_bytes: Option<u32>) -> [u8; 44] {
    let bytes = format.bytes();
    let data = data_bytes.unwrap_or(u32::MAX - 36);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    let tag: u16 = if format == SampleFormat::Float32 {
        3
    } else {
        1
    };
    h[20..22].copy_from_slice(&tag.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * u32::from(bytes)).to_le_bytes());
    h[32..34].copy_from_slice(&bytes.to_le_bytes());
    h[34..36].copy_from_slice(&(bytes * 8).to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// Converts a float sample to 16-bit PCM, clipping.
pub fn to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

impl WavWriter {
    /// Starts a WAV file at `dest` (through a temporary file), failing early if the
    /// destination's directory cannot be written.
    pub fn file(dest: &Path, format: SampleFormat) -> Result<Self> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if dest.is_dir() {
            anyhow::bail!("cannot write {}: it is a directory", dest.display());
        }
        let tmp = tempfile::Builder::new()
            .prefix(".kokoro-")
            .suffix(".part")
            .tempfile_in(dir)
            .with_context(|| {
                format!(
                    "cannot write {}: directory {} is not writable or does not exist",
                    dest.display(),
                    dir.display()
                )
            })?;
        let mut w = Self {
            target: Target::File {
                tmp: BufWriter::new(tmp),
                dest: dest.to_path_buf(),
            },
            format,
            data_bytes: 0,
            buf: Vec::new(),
        };
        w.raw_write(&header(format, Some(0)))
            .with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(w)
    }

    /// Starts a WAV stream on standard output.
    pub fn stdout(format: SampleFormat) -> Result<Self> {
        let mut w = Self {
            target: Target::Stdout(BufWriter::new(std::io::stdout())),
            format,
            data_bytes: 0,
            buf: Vec::new(),
        };
        w.raw_write(&header(format, None))?;
        Ok(w)
    }

    fn raw_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.target {
            Target::File { tmp, .. } => tmp.write_all(bytes),
            Target::Stdout(out) => out.write_all(bytes),
        }
    }

    /// Appends samples. To standard output they are flushed at once, so that a
    /// player hears them while synthesis goes on.
    pub fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        match self.format {
            SampleFormat::Pcm16 => {
                buf.extend(samples.iter().flat_map(|&s| to_i16(s).to_le_bytes()))
            }
            SampleFormat::Float32 => buf.extend(samples.iter().flat_map(|s| s.to_le_bytes())),
        }
        self.data_bytes += buf.len() as u64;
        let result = self.raw_write(&buf);
        self.buf = buf;
        result?;
        if let Target::Stdout(out) = &mut self.target {
            out.flush()?;
        }
        Ok(())
    }

    /// Completes the stream: for a file, fixes the header sizes and renames the
    /// temporary file into place.
    pub fn finish(self) -> Result<()> {
        match self.target {
            Target::Stdout(mut out) => Ok(out.flush()?),
            Target::File { tmp, dest } => {
                let data = u32::try_from(self.data_bytes)
                    .context("audio longer than a WAV file can hold (4 GiB)")?;
                let mut tmp = tmp
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("cannot write {}", dest.display()))?;
                let file: &mut File = tmp.as_file_mut();
                file.seek(SeekFrom::Start(0))?;
                file.write_all(&header(self.format, Some(data)))?;
                file.sync_all()
                    .with_context(|| format!("cannot write {}", dest.display()))?;
                tmp.persist(&dest).map_err(|e| e.error).with_context(|| {
                    format!("cannot rename the finished audio to {}", dest.display())
                })?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        for format in [SampleFormat::Pcm16, SampleFormat::Float32] {
            let path = dir.path().join("x.wav");
            let mut w = WavWriter::file(&path, format).unwrap();
            w.write(&[0.0, 0.5, -0.5, 1.5]).unwrap();
            w.write(&[0.25]).unwrap();
            w.finish().unwrap();
            let r = hound::WavReader::open(&path).unwrap();
            assert_eq!(r.spec().sample_rate, 24_000);
            assert_eq!(r.len(), 5);
        }
    }

    #[test]
    fn an_unfinished_file_leaves_the_old_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        std::fs::write(&path, b"old").unwrap();
        let mut w = WavWriter::file(&path, SampleFormat::Pcm16).unwrap();
        w.write(&[0.1; 100]).unwrap();
        drop(w);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn pcm_conversion_rounds_and_clips() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-2.0), -32768);
        assert_eq!(to_i16(0.5), 16384);
    }
}
