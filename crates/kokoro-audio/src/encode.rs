//! Formats and the encoder trait: samples in, bytes out, as audio arrives.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use crate::{Dest, Error, Result, Tags};

/// Output formats, all 24 kHz mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// WAV, 16-bit PCM.
    Wav,
    /// WAV, 32-bit float.
    WavFloat,
    /// FLAC, 16-bit.
    Flac,
    /// MP3 (MPEG-2 layer III at 24 kHz, 64 kbit/s).
    Mp3,
    /// Ogg Opus (32 kbit/s).
    Opus,
    /// Raw 16-bit little-endian PCM, no header.
    Pcm,
    /// AAC-LC (64 kbit/s) in an MP4 audiobook: chapters, title, author,
    /// narrator and cover, the index first.
    M4b,
    /// AAC-LC (64 kbit/s) in an MP4 audio file (M4A): as M4B, not marked
    /// as an audiobook.
    M4a,
    /// AAC-LC (64 kbit/s) as an ADTS stream, playable as it arrives (what
    /// OpenAI's API calls `aac`).
    Aac,
}

impl FromStr for Format {
    type Err = Error;

    /// A format by name: `wav`, `wav-float` (`wav32`, `f32`), `flac`, `mp3`,
    /// `opus` (`ogg`), `pcm` (`raw`), `m4b`, `m4a`, `aac`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "wav" => Format::Wav,
            "wav-float" | "wav32" | "f32" => Format::WavFloat,
            "flac" => Format::Flac,
            "mp3" => Format::Mp3,
            "opus" | "ogg" => Format::Opus,
            "pcm" | "raw" => Format::Pcm,
            "m4b" => Format::M4b,
            "m4a" | "mp4" => Format::M4a,
            "aac" | "adts" => Format::Aac,
            _ => return Err(Error::UnknownFormat(s.to_string())),
        })
    }
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 9] = [
        Format::Wav,
        Format::WavFloat,
        Format::Flac,
        Format::Mp3,
        Format::Opus,
        Format::Pcm,
        Format::M4b,
        Format::M4a,
        Format::Aac,
    ];

    /// The format a file name asks for, by its extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "wav" => Some(Format::Wav),
            "flac" => Some(Format::Flac),
            "mp3" => Some(Format::Mp3),
            "opus" | "ogg" | "oga" => Some(Format::Opus),
            "pcm" | "raw" => Some(Format::Pcm),
            "m4b" => Some(Format::M4b),
            "m4a" | "mp4" => Some(Format::M4a),
            "aac" => Some(Format::Aac),
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
            Format::M4b => "m4b",
            Format::M4a => "m4a",
            Format::Aac => "aac",
        }
    }

    /// The MIME type, for HTTP responses.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            Format::Wav | Format::WavFloat => "audio/wav",
            Format::Flac => "audio/flac",
            Format::Opus => "audio/ogg",
            Format::Pcm => "audio/L16;rate=24000;channels=1",
            Format::M4b | Format::M4a => "audio/mp4",
            Format::Aac => "audio/aac",
        }
    }

    /// Whether the bytes can be played as they arrive: false for MP4, whose
    /// index is written, first, only once the audio is complete.
    pub fn streams(self) -> bool {
        !matches!(self, Format::M4b | Format::M4a)
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
    /// A chapter starts here: the next of the titles the encoder was opened
    /// with ([`encoder_with`]). Formats without chapters ignore it.
    fn begin_chapter(&mut self) {}
    /// Finishes the stream and returns the destination, ready to commit.
    fn finish(self: Box<Self>) -> Result<Dest>;
}

/// Creates the encoder for `format` over `dest`; the header, if the format has
/// one, is written at once.
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
        Format::M4b | Format::M4a | Format::Aac => {
            return encoder_with(format, dest, Tags::default())
        }
    })
}

/// Creates the encoder for `format` over `dest`, saying what `tags` say where
/// the format can: M4B and M4A everything, MP3 everything in an ID3 tag
/// (chapters as `CHAP` frames), WAV the chapters as cue points. MP3's tag and
/// WAV's cue points need a file (a stream gets the audio alone).
pub fn encoder_with(format: Format, mut dest: Dest, tags: Tags) -> Result<Box<dyn Encoder>> {
    Ok(match format {
        Format::M4b => Box::new(crate::mp4::Mp4Encoder::new(
            dest,
            crate::mp4::Brand::M4b,
            tags,
        )?),
        Format::M4a => Box::new(crate::mp4::Mp4Encoder::new(
            dest,
            crate::mp4::Brand::M4a,
            tags,
        )?),
        Format::Aac => Box::new(crate::aac::AdtsEncoder::new(dest)?),
        Format::Mp3 if !dest.is_stream() && (tags.chapters.len() > 1 || has_words(&tags)) => {
            // The tag comes first; its size does not depend on the chapters'
            // times, so it is written now and over itself at the end.
            let placeholder = crate::markers::id3_tag(&tags, &placeholders(&tags), 0)?;
            dest.write_all(&placeholder)?;
            Box::new(Marked::new(format, encoder(format, dest)?, tags))
        }
        Format::Wav | Format::WavFloat if !dest.is_stream() && tags.chapters.len() > 1 => {
            Box::new(Marked::new(format, encoder(format, dest)?, tags))
        }
        _ => encoder(format, dest)?,
    })
}

/// Whether the tags say what a work is (its title, author or cover): a
/// narrator alone is no reason for an MP3 to carry a tag.
fn has_words(tags: &Tags) -> bool {
    tags.title.is_some() || tags.author.is_some() || tags.cover.is_some()
}

fn placeholders(tags: &Tags) -> Vec<crate::markers::Marker> {
    tags.chapters
        .iter()
        .map(|title| crate::markers::Marker {
            title: title.clone(),
            start: 0,
        })
        .collect()
}

/// MP3 or WAV with chapters written when the audio is complete: MP3's tag
/// over its placeholder, WAV's cue points after its data.
struct Marked {
    format: Format,
    inner: Box<dyn Encoder>,
    tags: Tags,
    written: u64,
    markers: Vec<crate::markers::Marker>,
}

impl Marked {
    fn new(format: Format, inner: Box<dyn Encoder>, tags: Tags) -> Self {
        Self {
            format,
            inner,
            tags,
            written: 0,
            markers: Vec::new(),
        }
    }
}

impl Encoder for Marked {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        self.written += samples.len() as u64;
        self.inner.write(samples)
    }

    fn begin_chapter(&mut self) {
        if let Some(title) = self.tags.chapters.get(self.markers.len()) {
            self.markers.push(crate::markers::Marker {
                title: title.clone(),
                start: self.written,
            });
        }
    }

    fn finish(self: Box<Self>) -> Result<Dest> {
        let Marked {
            format,
            inner,
            tags,
            written,
            mut markers,
        } = *self;
        let mut dest = inner.finish()?;
        match format {
            Format::Mp3 => {
                // Chapters never begun keep their place in the tag, at the end.
                for title in tags.chapters.iter().skip(markers.len()) {
                    markers.push(crate::markers::Marker {
                        title: title.clone(),
                        start: written,
                    });
                }
                dest.patch(0, &crate::markers::id3_tag(&tags, &markers, written)?)?;
            }
            _ if markers.len() > 1 => {
                crate::wav::append_chunks(&mut dest, &crate::markers::wav_cues(&markers))?
            }
            _ => {}
        }
        Ok(dest)
    }
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
    use std::sync::{Arc, Mutex};

    #[test]
    fn formats_from_names_and_extensions() {
        assert_eq!("MP3".parse::<Format>().unwrap(), Format::Mp3);
        assert!("aiff".parse::<Format>().is_err());
        assert_eq!(Format::from_path(Path::new("a/b.flac")), Some(Format::Flac));
        assert_eq!(Format::from_path(Path::new("b.ogg")), Some(Format::Opus));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        for f in Format::ALL {
            assert_eq!(
                f.extension().parse::<Format>().ok().map(|g| g.extension()),
                Some(f.extension())
            );
        }
    }

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_format_streams_into_any_writer() {
        let tone: Vec<f32> = (0..30_000).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
        for format in Format::ALL.into_iter().filter(|f| f.streams()) {
            let bytes = Shared::default();
            let mut e = encoder(format, Dest::writer(bytes.clone())).unwrap();
            e.write(&tone[..10_000]).unwrap();
            let after_first = bytes.0.lock().unwrap().len();
            e.write(&tone[10_000..]).unwrap();
            e.finish().unwrap().commit().unwrap();
            let total = bytes.0.lock().unwrap().len();
            assert!(after_first > 0, "{format:?}: bytes before the end");
            assert!(total > after_first, "{format:?}: more bytes at the end");
        }
    }

    #[test]
    fn mp4_is_written_whole_at_the_end_into_any_writer() {
        let tone: Vec<f32> = (0..30_000).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
        for format in Format::ALL.into_iter().filter(|f| !f.streams()) {
            let bytes = Shared::default();
            let mut e = encoder(format, Dest::writer(bytes.clone())).unwrap();
            e.write(&tone).unwrap();
            assert_eq!(bytes.0.lock().unwrap().len(), 0, "{format:?}");
            e.finish().unwrap().commit().unwrap();
            assert!(bytes.0.lock().unwrap().len() > 1000, "{format:?}");
        }
    }

    #[test]
    fn flac_reads_back_sample_for_sample() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.flac");
        let tone: Vec<f32> = (0..10_000).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
        let mut e = encoder(Format::Flac, Dest::file(&path, false).unwrap()).unwrap();
        e.write(&tone).unwrap();
        e.finish().unwrap().commit().unwrap();
        let mut r = claxon::FlacReader::open(&path).unwrap();
        let back: Vec<i16> = r.samples().map(|s| s.unwrap() as i16).collect();
        let want: Vec<i16> = tone.iter().map(|&s| to_i16(s)).collect();
        assert_eq!(back, want);
    }
}
