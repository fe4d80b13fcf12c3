//! Audio out for Kokoro text-to-speech: encoders that write as audio arrives,
//! destinations that are complete or absent, chapter markers, and the joiner
//! that puts chunks together with pauses.
//!
//! This crate knows nothing of the model or of ONNX Runtime: it takes 24 kHz
//! mono `f32` samples and writes bytes.
//!
//! - [`Format`] and [`encoder`]: WAV (16-bit or float), FLAC, MP3, Ogg Opus,
//!   raw PCM, and AAC-LC in M4B audiobooks, M4A files and ADTS streams, each
//!   encoded chunk by chunk in constant memory.
//! - [`encoder_with`] and [`Tags`]: title, author, narrator, cover and
//!   chapters, in the formats that carry them.
//! - [`Dest`]: where the bytes go: a file written through a temporary file and
//!   renamed when complete, a file that grows in place, standard output, or any
//!   [`std::io::Write`].
//! - [`markers`]: MP3 `CHAP`/`CTOC` frames and WAV cue points for chapters.
//! - [`join`]: trimming the model's silence and joining chunks with pauses.
//! - `Player` (feature `playback`): the default audio device, as an encoder.
//!
//! # Example
//!
//! ```
//! use kokoro_audio::{encoder, Dest, Format};
//!
//! # fn main() -> Result<(), kokoro_audio::Error> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tone.flac");
//! let mut out = encoder(Format::Flac, Dest::file(&path, false)?)?;
//! let tone: Vec<f32> = (0..24_000).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
//! out.write(&tone)?;
//! out.finish()?.commit()?; // renamed into place only now
//! assert!(path.exists());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod aac;
mod codecs;
mod dest;
mod encode;
mod error;
pub mod join;
pub mod markers;
mod mp4;
#[cfg(feature = "playback")]
mod playback;
mod tags;
mod wav;

pub use dest::Dest;
pub use encode::{encoder, encoder_with, to_i16, Encoder, Format};
pub use error::{Error, Result};
pub use join::{samples_in, Boundary, Joiner, Pauses, Placed};
#[cfg(feature = "playback")]
pub use playback::Player;
pub use tags::{Cover, ImageKind, Tags};
pub use wav::append_chunks as append_wav_chunks;

/// Samples per second of all audio here (Kokoro's rate): mono, 24 kHz.
pub const SAMPLE_RATE: u32 = 24_000;
