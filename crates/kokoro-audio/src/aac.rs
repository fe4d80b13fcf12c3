//! AAC-LC, encoded as audio arrives by syom (pure Rust): access units for the
//! MP4 writer, or an ADTS stream (`.aac`, what OpenAI's API calls `aac`).

use std::io::Write;

use crate::{Dest, Encoder, Error, Result, SAMPLE_RATE};

/// The bit rate: 64 kbit/s mono, as audiobook stores sell speech.
pub(crate) const BIT_RATE: u32 = 64_000;

/// Samples per AAC-LC frame.
pub(crate) const FRAME: u64 = 1024;

/// An AAC-LC encoder at Kokoro's rate: samples in, access units out to a
/// callback, I/O errors carried through the encoder untouched.
pub(crate) struct Frames {
    enc: syom::Encoder,
    /// Samples brought into [-1, 1] (the encoder refuses anything else).
    clamped: Vec<f32>,
}

/// What the encoder said at the end.
pub(crate) struct Finished {
    /// Decoded samples to skip before the first real one.
    pub priming: u64,
    /// Source samples encoded.
    pub samples: u64,
}

impl Frames {
    /// A mono encoder at 24 kHz, ADTS-framed or raw.
    pub(crate) fn new(adts: bool) -> Result<Self> {
        let options = if adts {
            syom::EncodeOptions::adts()
        } else {
            syom::EncodeOptions::raw()
        }
        .with_bitrate_bps(BIT_RATE);
        let enc =
            syom::Encoder::new(SAMPLE_RATE, 1, &options).map_err(|e| Error::codec("aac", e))?;
        Ok(Self {
            enc,
            clamped: Vec::new(),
        })
    }

    /// The AudioSpecificConfig of the stream (`13 08`: AAC-LC, 24 kHz, mono).
    pub(crate) fn asc(&self) -> Vec<u8> {
        self.enc.asc().to_vec()
    }

    /// Encodes `samples`; each finished access unit goes to `out`.
    pub(crate) fn write(
        &mut self,
        samples: &[f32],
        mut out: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.clamped.clear();
        self.clamped.extend(samples.iter().map(|&s| {
            if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        }));
        let mut failed = None;
        let result = self.enc.feed(&[&self.clamped], |frame| {
            out(frame.au).map_err(|e| {
                let message = e.to_string();
                failed = Some(e);
                syom::AacError::encode(message)
            })
        });
        match (result, failed) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(std::io::Error::other(format!("aac: {e}"))),
            (Ok(_), None) => Ok(()),
        }
    }

    /// Encodes what is held back and the encoder's tail.
    pub(crate) fn finish(
        &mut self,
        mut out: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<Finished> {
        let mut failed = None;
        let result = self.enc.finish(|frame| {
            out(frame.au).map_err(|e| {
                let message = e.to_string();
                failed = Some(e);
                syom::AacError::encode(message)
            })
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        let info = result.map_err(|e| Error::codec("aac", e))?;
        Ok(Finished {
            priming: info.priming,
            samples: info.samples,
        })
    }
}

/// An ADTS stream: each access unit with its 7-byte header, playable as it
/// arrives.
pub(crate) struct AdtsEncoder {
    dest: Dest,
    frames: Frames,
}

impl AdtsEncoder {
    pub(crate) fn new(dest: Dest) -> Result<Self> {
        Ok(Self {
            dest,
            frames: Frames::new(true)?,
        })
    }
}

impl Encoder for AdtsEncoder {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        let dest = &mut self.dest;
        self.frames.write(samples, |au| dest.write_all(au))?;
        if self.dest.is_stream() {
            self.dest.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Dest> {
        let dest = &mut self.dest;
        self.frames.finish(|au| dest.write_all(au))?;
        Ok(self.dest)
    }
}
