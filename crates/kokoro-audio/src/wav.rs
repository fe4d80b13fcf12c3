//! WAV encoding, as audio arrives: the header is written first with the
//! "unknown length" sizes that players accept for streams, and fixed at the end
//! where the destination can seek.

use std::io::Write;

use crate::{to_i16, Dest, Encoder, Error, Result, SAMPLE_RATE};

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

/// The 44-byte header; `None` data size means unknown (a stream).
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

/// A WAV stream being written.
pub struct WavEncoder {
    dest: Dest,
    format: SampleFormat,
    data_bytes: u64,
}

impl WavEncoder {
    /// Starts a WAV stream on `dest`.
    pub fn new(mut dest: Dest, format: SampleFormat) -> Result<Self> {
        dest.write_all(&header(format, None))?;
        Ok(Self {
            dest,
            format,
            data_bytes: 0,
        })
    }
}

impl Encoder for WavEncoder {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        let buf: Vec<u8> = match self.format {
            SampleFormat::Pcm16 => samples
                .iter()
                .flat_map(|&s| to_i16(s).to_le_bytes())
                .collect(),
            SampleFormat::Float32 => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
        };
        self.data_bytes += buf.len() as u64;
        self.dest.write_all(&buf)?;
        if self.dest.is_stream() {
            self.dest.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Dest> {
        let data = u32::try_from(self.data_bytes).map_err(|_| Error::TooLong)?;
        self.dest.patch(0, &header(self.format, Some(data)))?;
        Ok(self.dest)
    }
}

/// Appends whole RIFF chunks (cue points, labels) after a finished WAV's data,
/// and updates the RIFF size to match.
pub fn append_chunks(dest: &mut Dest, chunks: &[u8]) -> Result<()> {
    dest.write_all(chunks)?;
    let end = dest.position()?;
    let riff = u32::try_from(end - 8).map_err(|_| Error::TooLong)?;
    dest.patch(4, &riff.to_le_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        for (format, in_place) in [
            (SampleFormat::Pcm16, false),
            (SampleFormat::Float32, false),
            (SampleFormat::Pcm16, true),
        ] {
            let path = dir.path().join("x.wav");
            let mut w: Box<dyn Encoder> =
                Box::new(WavEncoder::new(Dest::file(&path, in_place).unwrap(), format).unwrap());
            w.write(&[0.0, 0.5, -0.5, 1.5]).unwrap();
            w.write(&[0.25]).unwrap();
            w.finish().unwrap().commit().unwrap();
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
        let mut w =
            WavEncoder::new(Dest::file(&path, false).unwrap(), SampleFormat::Pcm16).unwrap();
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
