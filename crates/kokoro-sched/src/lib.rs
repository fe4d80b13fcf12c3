//! Scheduling for Kokoro text-to-speech: which chunk runs where and when, and
//! ordered delivery of the audio.
//!
//! A [`Scheduler`] takes the chunks of a text (from `kokoro-text`), synthesises each
//! with sessions from `kokoro-infer`, and hands each chunk's audio to a [`Sink`] in
//! input order, as soon as every earlier chunk is done: never collected at the end.
//!
//! - [`Sequential`]: one session, chunk after chunk.
//! - [`Parallel`]: a pool of sessions on a rayon thread pool, one worker per
//!   session; a bounded reorder window and a budget of phoneme ids in flight
//!   bound memory on book-length input.
//! - [`Layout::auto`]: picks between them from the chunk count, cores and memory.
//!
//! With the same intra-op thread count per session, both give bit-identical audio:
//! a chunk's audio depends only on its ids, style row, speed and thread count.
//!
//! This crate owns threads and ordering; it reads no files and knows no CLI.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use kokoro_infer::{init_runtime, KokoroSession, VoiceSet};
//! use kokoro_sched::{Audio, Control, Layout, Request};
//! use kokoro_text::{ChunkOptions, Frontend, G2p, Lang, SpellingFallback};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The assets' paths (the `kokoro` crate fetches and verifies them).
//! let (runtime, model, voices) = ("libonnxruntime.so.1.31.1", "kokoro-v1.0.int8.onnx", "voices");
//! init_runtime(runtime.as_ref())?;
//! let text = "Hello there. This is Kokoro, speaking from Rust.";
//! let frontend = Frontend::new(G2p::new(Lang::EnUs, Arc::new(SpellingFallback))?);
//! let voice = VoiceSet::open(voices.as_ref())?.resolve("af_heart")?;
//! let layout = Layout::auto(usize::MAX, 2, None);
//! let mut scheduler = layout.build(|o| KokoroSession::open(model.as_ref(), o))?;
//! let mut samples = Vec::new();
//! let request = Request { text, voice: &voice, speed: 1.0 };
//! let mut chunks = frontend.chunks(text, ChunkOptions::streaming());
//! let mut sink = |a: Audio| -> Result<(), kokoro_sched::SinkError> { samples.extend(a.samples); Ok(()) };
//! scheduler.run(&request, &mut chunks, &mut sink, &Control::default())?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod layout;
mod parallel;
mod sequential;

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kokoro_infer::{Synthesize, Voice, SAMPLE_RATE};
use kokoro_text::Chunk;

pub use layout::Layout;
pub use parallel::{Parallel, IDS_PER_SESSION};
pub use sequential::Sequential;

/// A boxed error from a sink.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// What can stop a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A chunk failed to synthesise; no new chunk was started after it.
    #[error("chunk {index} (\"{snippet}\") failed: {source}")]
    Chunk {
        /// The chunk's index.
        index: usize,
        /// The start of its source text.
        snippet: String,
        /// Why it failed.
        source: kokoro_infer::Error,
    },
    /// A session could not be created.
    #[error(transparent)]
    Session(#[from] kokoro_infer::Error),
    /// The sink refused audio (for example a closed pipe or a full disk).
    #[error("cannot write audio: {0}")]
    Sink(SinkError),
    /// The run was cancelled through [`Control::cancel`].
    #[error("cancelled")]
    Cancelled,
}

/// One chunk's audio, with the source text it speaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// The chunk's index.
    pub index: usize,
    /// Byte range of its source text.
    pub span: Range<usize>,
    /// Samples at [`SAMPLE_RATE`].
    pub samples: Vec<f32>,
    /// True when the chunk ends a paragraph.
    pub ends_paragraph: bool,
    /// True when the chunk ends a sentence.
    pub ends_sentence: bool,
    /// Silence asked for by pause markup before the chunk, in milliseconds.
    pub pause_before_ms: u32,
    /// Silence asked for by pause markup after the chunk, in milliseconds.
    pub pause_after_ms: Option<u32>,
    /// Where each of the chunk's words is spoken in `samples`, when the model
    /// gives durations (a timed model); `None` when it does not.
    pub words: Option<Vec<Spoken>>,
}

/// A word, and the samples of its chunk's audio that speak it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoken {
    /// Byte range of the word in the source text.
    pub span: Range<usize>,
    /// Its samples in the chunk's audio (empty for a word the G2P gave no
    /// sound: it sits where the next word starts).
    pub samples: Range<usize>,
}

/// Where each word is spoken, from the ids' durations (`ids + 2` values, the
/// pads first and last, in units of `SAMPLES_PER_DURATION_UNIT` samples).
/// As in the model's reference pipeline, a word takes half of the space on
/// either side of it, and every time is moved `AUDIO_LEAD_UNITS` earlier (at
/// `speed`, that lead divided by it), as the audio runs ahead of the
/// durations. `None` when the durations do not fit the chunk, or are negative.
pub fn spoken_words(chunk: &Chunk, durations: &[i64], speed: f32) -> Option<Vec<Spoken>> {
    use kokoro_infer::timed::{AUDIO_LEAD_UNITS, SAMPLES_PER_DURATION_UNIT};
    if durations.len() != chunk.ids.len() + 2 || durations.iter().any(|&d| d < 0) {
        return None;
    }
    // Half-units before each id (index 0 is the leading pad), so that a space
    // can be cut in two.
    let mut before = Vec::with_capacity(durations.len() + 1);
    let mut at = 0usize;
    before.push(0);
    for &d in durations {
        at = at.saturating_add(usize::try_from(d).ok()?.saturating_mul(2));
        before.push(at);
    }
    let space = kokoro_text::vocab::id_of(' ');
    // A space that is a word of its own (each phoneme a word) is not shared.
    let mut owned = vec![false; chunk.ids.len()];
    for w in &chunk.words {
        for o in owned.get_mut(w.ids.clone()).into_iter().flatten() {
            *o = true;
        }
    }
    let half_space = |id: Option<usize>| match id {
        Some(i) if chunk.ids.get(i).copied() == space && !owned[i] => {
            (before[i + 2] - before[i + 1]) / 2
        }
        _ => 0,
    };
    let lead = (AUDIO_LEAD_UNITS * SAMPLES_PER_DURATION_UNIT) as f32 / speed.max(0.1);
    let lead = lead.round() as usize;
    let samples =
        |half_units: usize| (half_units * SAMPLES_PER_DURATION_UNIT / 2).saturating_sub(lead);
    let total = *before.last()?;
    chunk
        .words
        .iter()
        .map(|w| {
            let (first, last) = (w.ids.start, w.ids.end);
            let mut start = *before.get(first + 1)?;
            let mut end = (*before.get(last + 1)?).max(start);
            if first < last {
                start -= half_space(first.checked_sub(1));
                end += half_space(Some(last));
            }
            Some(Spoken {
                span: w.span.clone(),
                samples: samples(start)..samples(end.min(total)),
            })
        })
        .collect()
}

/// Receives audio in input order. Returning an error stops the run.
pub trait Sink {
    /// Takes the next chunk's audio.
    fn deliver(&mut self, audio: Audio) -> Result<(), SinkError>;
}

impl<F: FnMut(Audio) -> Result<(), SinkError>> Sink for F {
    fn deliver(&mut self, audio: Audio) -> Result<(), SinkError> {
        self(audio)
    }
}

/// What to synthesise: the chunks come beside it, as an iterator, so that a long
/// text is phonemized as synthesis goes on rather than all before it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The source text the chunks' spans point into.
    pub text: &'a str,
    /// The voice (or blend).
    pub voice: &'a Voice,
    /// Speed factor.
    pub speed: f32,
}

/// Chunks in order, pulled by the scheduler as it goes (from worker threads too).
pub type ChunkSource<'a> = dyn Iterator<Item = Chunk> + Send + 'a;

impl Request<'_> {
    fn snippet(&self, chunk: &Chunk) -> String {
        let text = kokoro_text::normalize(self.text.get(chunk.span.clone()).unwrap_or(""));
        let mut s: String = text.chars().take(40).collect();
        if text.chars().count() > 40 {
            s.push('…');
        }
        s
    }

    fn run_chunk<S: Synthesize>(
        &self,
        session: &mut S,
        index: usize,
        chunk: Chunk,
    ) -> Result<Audio, Error> {
        let synthesis = session
            .synthesize_timed(
                &chunk.ids,
                self.voice.style_for(chunk.ids.len()),
                self.speed,
            )
            .map_err(|source| Error::Chunk {
                index,
                snippet: self.snippet(&chunk),
                source,
            })?;
        let words = synthesis
            .durations
            .as_deref()
            .and_then(|d| spoken_words(&chunk, d, self.speed));
        Ok(Audio {
            index,
            span: chunk.span,
            samples: synthesis.audio,
            words,
            ends_paragraph: chunk.ends_paragraph,
            ends_sentence: chunk.ends_sentence,
            pause_before_ms: chunk.pause_before_ms,
            pause_after_ms: chunk.pause_after_ms,
        })
    }
}

/// Progress of a run, reported after each delivered chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Chunks delivered.
    pub chunks_done: usize,
    /// Fraction of the source text spoken, 0 to 1.
    pub fraction_done: f64,
    /// Seconds of audio delivered.
    pub audio_seconds: f64,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Estimated time left, from the share of the text still to speak.
    pub eta: Option<Duration>,
}

/// A progress callback, called from the thread that runs the scheduler.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Cancellation and progress for a run.
#[derive(Default, Clone)]
pub struct Control {
    /// Set to stop the run: no new chunk starts, and the run returns [`Error::Cancelled`].
    pub cancel: Arc<AtomicBool>,
    /// Called after each delivered chunk, from the thread that called `run`.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl Control {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Chunks delivered.
    pub chunks: usize,
    /// Samples delivered.
    pub samples: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Time from the start to the first delivered audio.
    pub first_audio: Option<Duration>,
}

impl Summary {
    /// Seconds of audio delivered.
    pub fn audio_seconds(&self) -> f64 {
        self.samples as f64 / f64::from(SAMPLE_RATE)
    }
}

/// A way to run the chunks of a request. Implementations deliver every chunk
/// exactly once, in input order, and stop promptly on an error or cancellation.
pub trait Scheduler: Send {
    /// A short description, e.g. `parallel (2 workers x 1 thread)`.
    fn describe(&self) -> String;
    /// Synthesises `chunks` (numbered from 0, in order), delivering audio to `sink`.
    fn run(
        &mut self,
        request: &Request<'_>,
        chunks: &mut ChunkSource<'_>,
        sink: &mut dyn Sink,
        control: &Control,
    ) -> Result<Summary, Error>;
}

/// Delivery bookkeeping shared by the strategies: progress, first-audio time, totals.
struct Delivery<'a> {
    request: &'a Request<'a>,
    control: &'a Control,
    start: Instant,
    first_audio: Option<Duration>,
    done: usize,
    samples: usize,
}

impl<'a> Delivery<'a> {
    fn new(request: &'a Request<'a>, control: &'a Control) -> Self {
        Self {
            request,
            control,
            start: Instant::now(),
            first_audio: None,
            done: 0,
            samples: 0,
        }
    }

    fn deliver(&mut self, sink: &mut dyn Sink, audio: Audio) -> Result<(), Error> {
        debug_assert_eq!(audio.index, self.done, "delivery out of order");
        self.first_audio.get_or_insert_with(|| self.start.elapsed());
        self.samples += audio.samples.len();
        self.done += 1;
        let fraction =
            (audio.span.end as f64 / self.request.text.len().max(1) as f64).clamp(0.0, 1.0);
        sink.deliver(audio).map_err(Error::Sink)?;
        if let Some(progress) = &self.control.progress {
            let elapsed = self.start.elapsed();
            let eta = (fraction > 0.0).then(|| elapsed.mul_f64((1.0 - fraction) / fraction));
            progress(&Progress {
                chunks_done: self.done,
                fraction_done: fraction,
                audio_seconds: self.samples as f64 / f64::from(SAMPLE_RATE),
                elapsed,
                eta,
            });
        }
        Ok(())
    }

    fn finish(self) -> Summary {
        Summary {
            chunks: self.done,
            samples: self.samples,
            elapsed: self.start.elapsed(),
            first_audio: self.first_audio,
        }
    }
}
