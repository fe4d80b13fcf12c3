//! Books: a document's chapters spoken into outputs on one timeline.
//!
//! [`speak_book`] speaks a [`Book`] into an [`Output`]: one file with chapter
//! markers where the format has them (M4B and M4A chapter lists, MP3 `CHAP`
//! frames, WAV cue points), chapters 1.5 s apart; a file per chapter in a
//! directory, a chapter recorded only when complete, so that a rerun resumes;
//! or an EPUB 3 whose chapters are read aloud with the text highlighted
//! ([`Output::ReadAlong`]). Captions and word timestamps come per output, on
//! the output's own timeline. Progress and what happens reach a callback
//! ([`BookOptions::on_event`]); [`SpeakOptions::cancel`] stops the run, and
//! nothing incomplete is left behind.
//!
//! ```
//! # if cfg!(not(feature = "model-tests")) { eprintln!("skipped: needs the model (cargo xtask test)"); return Ok(()); }
//! use kokoro::book::{speak_book, Book, BookOptions, Output};
//!
//! let tts = kokoro::Tts::open(kokoro::Config::default())?;
//! let book = Book::from_chapters([
//!     ("The Start", "It began on a Tuesday."),
//!     ("The End", "And that was all."),
//! ]);
//! let dir = tempfile::tempdir()?;
//! let options = BookOptions::new(kokoro::audio::Format::M4b);
//! let done = speak_book(&tts, &book, &options, Output::file(dir.path().join("book.m4b")))?;
//! assert!(done.audio_seconds > 2.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The chapter logic runs on any [`Voice`], so that it is tested without the
//! model.

mod record;
mod select;
mod timing;

#[cfg(feature = "documents")]
pub mod read_along;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kokoro_audio::{encoder_with, samples_in, Cover, Dest, Encoder, Format, Tags};
use kokoro_text::ssml::Ssml;

use crate::captions::CaptionFormat;
use crate::{Error, Result, Segment, SinkError, SpeakOptions, Summary as SpeechSummary, Tts, Word};

pub use record::{file_name, fingerprint, Record};
pub use select::select;
pub(crate) use timing::write_whole;
pub use timing::Timing;

/// Silence between chapters in one file, in milliseconds.
pub const CHAPTER_GAP_MS: u32 = 1500;

/// Where a [`Voice`] delivers each chunk: its segment and samples.
pub type Sink<'a> = dyn FnMut(&Segment, &[f32]) -> Result<(), SinkError> + 'a;

/// What speaks: the engine, or in tests anything that makes samples and words.
pub trait Voice {
    /// Speaks `text` into `sink`, chunk by chunk ([`Tts::speak_into`]).
    fn speak_into(
        &self,
        text: &str,
        options: &SpeakOptions,
        sink: &mut Sink<'_>,
    ) -> Result<SpeechSummary>;

    /// Speaks SSML into `sink` ([`Tts::speak_ssml_into`]).
    fn speak_ssml_into(
        &self,
        ssml: &Ssml,
        options: &SpeakOptions,
        sink: &mut Sink<'_>,
    ) -> Result<SpeechSummary>;

    /// Whether words come timed ([`Tts::timed`]).
    fn timed(&self) -> bool;
}

impl Voice for Tts {
    fn speak_into(
        &self,
        text: &str,
        options: &SpeakOptions,
        sink: &mut Sink<'_>,
    ) -> Result<SpeechSummary> {
        Tts::speak_into(self, text, options, sink)
    }

    fn speak_ssml_into(
        &self,
        ssml: &Ssml,
        options: &SpeakOptions,
        sink: &mut Sink<'_>,
    ) -> Result<SpeechSummary> {
        Tts::speak_ssml_into(self, ssml, options, sink)
    }

    fn timed(&self) -> bool {
        Tts::timed(self)
    }
}

/// One chapter of a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chapter {
    /// Its number in the document, from 0: file names, labels and the
    /// `chapter` of word timestamps count from it.
    pub number: usize,
    /// Its title (may be empty).
    pub title: String,
    /// Its text.
    pub text: String,
    /// Where its text starts in the input, in bytes: word spans count from
    /// the input's start (a plain text cut into chapters), or 0.
    pub offset: usize,
}

impl Chapter {
    /// The title markers and tables of contents show: its own, or "Chapter N".
    pub fn marker_title(&self) -> String {
        if self.title.is_empty() {
            format!("Chapter {}", self.number + 1)
        } else {
            self.title.clone()
        }
    }
}

/// A book: chapters, and what it says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Book {
    /// The chapters to speak, in order.
    pub chapters: Vec<Chapter>,
    /// The document had more than one chapter: word timestamps name each
    /// word's chapter, labels number them.
    pub numbered: bool,
    /// The title (M4B, MP3 and EPUB metadata).
    pub title: Option<String>,
    /// The author.
    pub author: Option<String>,
    /// The cover.
    pub cover: Option<Cover>,
    /// The language of the text as the document declares it (`en`, `fr`),
    /// for a read-along book's metadata.
    pub language: Option<String>,
    /// SSML spoken in place of the text (of a one-chapter book), each part
    /// with its voice and rate.
    pub ssml: Option<Ssml>,
    /// The EPUB the chapters were read from: a read-along book keeps its
    /// pages, styles and images.
    pub epub: Option<Arc<[u8]>>,
}

impl Book {
    /// A book of (title, text) chapters, numbered from 0, without metadata.
    pub fn from_chapters<'a>(chapters: impl IntoIterator<Item = (&'a str, &'a str)>) -> Book {
        let chapters: Vec<Chapter> = chapters
            .into_iter()
            .enumerate()
            .map(|(number, (title, text))| Chapter {
                number,
                title: title.to_string(),
                text: text.to_string(),
                offset: 0,
            })
            .collect();
        Book {
            numbered: chapters.len() > 1,
            chapters,
            ..Book::default()
        }
    }

    /// The tags an output of the whole book carries: title, author,
    /// narrator, cover, and the chapters when there are two or more.
    fn tags(&self, narrator: Option<&str>) -> Tags {
        Tags {
            title: self.title.clone(),
            author: self.author.clone(),
            narrator: narrator.map(str::to_string),
            cover: self.cover.clone(),
            chapters: if self.chapters.len() > 1 {
                self.chapters.iter().map(Chapter::marker_title).collect()
            } else {
                Vec::new()
            },
        }
    }

    fn chars(&self) -> usize {
        self.chapters.iter().map(|c| c.text.len()).sum()
    }
}

/// What happens while a book is spoken.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A chapter starts: `label` names it ("chapter 3 (The Return), 2/5",
    /// empty for a book of one untitled chapter).
    Chapter {
        /// The chapter's number in the document, from 0.
        number: usize,
        /// Its label.
        label: String,
    },
    /// Progress over the whole book.
    Progress {
        /// The fraction of the book's text spoken.
        fraction: f64,
        /// Seconds of audio made so far.
        audio_seconds: f64,
        /// The chapter being spoken.
        label: String,
        /// The time left, estimated from the pace so far.
        left: Option<Duration>,
    },
    /// A chapter's file was complete already: skipped.
    Skipped {
        /// The file.
        path: PathBuf,
        /// The chapter's label.
        label: String,
    },
    /// A chapter was spoken (into its own file, when the output is split).
    Spoken {
        /// Its file, when it has one of its own.
        path: Option<PathBuf>,
        /// Seconds of audio it made.
        audio_seconds: f64,
        /// The chapter's label.
        label: String,
    },
}

/// A callback for [`Event`]s, from whichever thread makes progress.
pub type EventFn = Arc<dyn Fn(&Event) + Send + Sync>;

/// How to speak a book.
#[derive(Clone)]
pub struct BookOptions {
    /// Voice, speed, language, pauses, cancellation and per-chunk callback.
    pub speak: SpeakOptions,
    /// The audio format (for a read-along book: its chapters' audio, M4A or MP3).
    pub format: Format,
    /// Silence between chapters in one file, in milliseconds.
    pub gap_ms: u32,
    /// Captions and word timestamps: the formats, and for one file the paths
    /// (with a file per chapter, each beside its audio).
    pub timing: Timing,
    /// What else the audio depends on (the lexicon, the model): a chapter file
    /// made with anything else is made again.
    pub depends_on: String,
    /// Who reads (a tag of M4B and MP3 files, a read-along book's narrator).
    pub narrator: Option<String>,
    /// A read-along book highlights each word, not each sentence.
    pub word_overlays: bool,
    /// Told what happens.
    pub on_event: Option<EventFn>,
}

impl BookOptions {
    /// The defaults, in `format`.
    pub fn new(format: Format) -> Self {
        Self {
            speak: SpeakOptions::default(),
            format,
            gap_ms: CHAPTER_GAP_MS,
            timing: Timing::default(),
            depends_on: String::new(),
            narrator: None,
            word_overlays: false,
            on_event: None,
        }
    }

    fn emit(&self, event: Event) {
        if let Some(f) = &self.on_event {
            f(&event);
        }
    }
}

impl std::fmt::Debug for BookOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookOptions")
            .field("speak", &self.speak)
            .field("format", &self.format)
            .field("gap_ms", &self.gap_ms)
            .field("timing", &self.timing)
            .field("word_overlays", &self.word_overlays)
            .finish_non_exhaustive()
    }
}

/// Where a book goes.
pub enum Output {
    /// One file: through a temporary file renamed into place when complete,
    /// or in place as it grows (`in_place`, removed if the run fails).
    File {
        /// The file.
        path: PathBuf,
        /// Written as it grows.
        in_place: bool,
    },
    /// Any destination, as a stream (standard output, a socket): no markers
    /// that need the end written over the start.
    Dest(Dest),
    /// An encoder the caller opened (an audio device).
    Encoder(Box<dyn Encoder>),
    /// A file per chapter in this directory (`007-the-return.m4b`),
    /// resumable.
    Split(PathBuf),
    /// An EPUB 3 with Media Overlays: the book's pages read aloud, the text
    /// highlighted as it is spoken, resumable (feature `documents`).
    ReadAlong(PathBuf),
}

impl Output {
    /// One file, written through a temporary file.
    pub fn file(path: impl Into<PathBuf>) -> Output {
        Output::File {
            path: path.into(),
            in_place: false,
        }
    }

    /// [`Output::File`], opened now: a path that cannot be written fails
    /// here, before any speech (what a killed run of it left is removed).
    pub fn open_file(path: &Path, in_place: bool) -> Result<Output> {
        if !in_place {
            for stale in Dest::temporaries_of(path) {
                let _ = std::fs::remove_file(stale);
            }
        }
        Ok(Output::Dest(Dest::file(path, in_place)?))
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::File { path, in_place } => f
                .debug_struct("File")
                .field("path", path)
                .field("in_place", in_place)
                .finish(),
            Output::Dest(_) => f.write_str("Dest"),
            Output::Encoder(_) => f.write_str("Encoder"),
            Output::Split(dir) => f.debug_tuple("Split").field(dir).finish(),
            Output::ReadAlong(path) => f.debug_tuple("ReadAlong").field(path).finish(),
        }
    }
}

/// What speaking a book came to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Chunks spoken.
    pub chunks: usize,
    /// Seconds of audio made by this run (0 when everything was done already).
    pub audio_seconds: f64,
    /// Seconds spent speaking.
    pub elapsed: f64,
    /// Chapters done already, skipped (a file per chapter).
    pub skipped: usize,
    /// Chapters in the book.
    pub chapters: usize,
}

impl Summary {
    /// Every chapter was done already: nothing was spoken.
    pub fn all_done_already(&self) -> bool {
        self.chapters > 0 && self.skipped == self.chapters
    }
}

/// Speaks `book` into `output` with `voice`.
///
/// Errors: [`Error::NothingToSay`] when no chapter has anything to speak,
/// [`Error::Untimed`] when captions or timestamps are asked of a voice
/// without word timings, [`Error::Cancelled`] when stopped; an output is
/// complete or absent (a file per chapter: each).
pub fn speak_book(
    voice: &dyn Voice,
    book: &Book,
    options: &BookOptions,
    output: Output,
) -> Result<Summary> {
    if options.timing.wanted() && !voice.timed() {
        return Err(Error::Untimed);
    }
    let mut speaker = Speaker::new(voice, book, options);
    let summary = match output {
        Output::File { path, in_place } => {
            if !in_place {
                // A killed run of this output left its temporary file.
                for stale in Dest::temporaries_of(&path) {
                    let _ = std::fs::remove_file(stale);
                }
            }
            let dest = Dest::file(&path, in_place)?;
            let out = encoder_with(options.format, dest, book.tags(options.narrator.as_deref()))?;
            speaker.merged(out, &options.timing)?
        }
        Output::Dest(dest) => {
            let out = encoder_with(options.format, dest, book.tags(options.narrator.as_deref()))?;
            speaker.merged(out, &options.timing)?
        }
        Output::Encoder(out) => speaker.merged(out, &options.timing)?,
        Output::Split(dir) => speaker.split(&dir)?,
        #[cfg(feature = "documents")]
        Output::ReadAlong(path) => read_along::write(&mut speaker, &path)?,
        #[cfg(not(feature = "documents"))]
        Output::ReadAlong(_) => {
            return Err(Error::Book(
                "a read-along book needs kokoro's `documents` feature".into(),
            ))
        }
    };
    Ok(summary)
}

/// Speaks a book's chapters into encoders, with progress over them all.
pub(crate) struct Speaker<'a> {
    voice: &'a dyn Voice,
    book: &'a Book,
    options: &'a BookOptions,
    /// Characters in the book, and in the chapters spoken or skipped.
    total_chars: usize,
    done_chars: usize,
    /// Audio made before the chapter being spoken, in seconds.
    audio_before: f64,
    started: Instant,
    summary: Summary,
}

/// A chapter's words where they lie in its output.
pub(crate) type Words = Vec<Word>;

impl<'a> Speaker<'a> {
    fn new(voice: &'a dyn Voice, book: &'a Book, options: &'a BookOptions) -> Self {
        Self {
            voice,
            book,
            options,
            total_chars: book.chars().max(1),
            done_chars: 0,
            audio_before: 0.0,
            started: Instant::now(),
            summary: Summary {
                chapters: book.chapters.len(),
                ..Summary::default()
            },
        }
    }

    /// "chapter 3 (The Return), 2/5" for progress and messages; nothing for
    /// a book of one untitled chapter.
    pub(crate) fn label(&self, k: usize) -> String {
        let of = self.book.chapters.len();
        let chapter = &self.book.chapters[k];
        if of <= 1 && chapter.title.is_empty() {
            return String::new();
        }
        let title = if chapter.title.is_empty() {
            String::new()
        } else {
            format!(" ({})", chapter.title)
        };
        format!("chapter {}{title}, {}/{of}", chapter.number + 1, k + 1)
    }

    /// A chapter counted as done without speaking it.
    pub(crate) fn skip(&mut self, k: usize, path: PathBuf) {
        self.done_chars += self.book.chapters[k].text.len();
        self.summary.skipped += 1;
        self.options.emit(Event::Skipped {
            path,
            label: self.label(k),
        });
    }

    /// Speaks chapter `k` into `out`, whose sample `base` is the chapter's
    /// first; its words where they lie in `out`, when `words`.
    pub(crate) fn speak(
        &mut self,
        k: usize,
        out: &mut dyn Encoder,
        base: u64,
        words: bool,
    ) -> Result<(u64, Option<Words>)> {
        let chapter = &self.book.chapters[k];
        let label = self.label(k);
        self.options.emit(Event::Chapter {
            number: chapter.number,
            label: label.clone(),
        });
        let (before, total, len) = (self.done_chars, self.total_chars, chapter.text.len());
        let (audio_before, started) = (self.audio_before, self.started);
        let mut options = self.options.speak.clone();
        if let Some(on_event) = self.options.on_event.clone() {
            let label = label.clone();
            options.progress = Some(Arc::new(move |p: &crate::Progress| {
                let fraction = (before as f64 + p.fraction_done * len as f64) / total as f64;
                let elapsed = started.elapsed().as_secs_f64();
                let left = (fraction > 0.01)
                    .then(|| Duration::from_secs_f64(elapsed * (1.0 - fraction) / fraction));
                on_event(&Event::Progress {
                    fraction,
                    audio_seconds: audio_before + p.audio_seconds,
                    label: label.clone(),
                    left,
                });
            }));
        }
        let mut collected = words.then(Vec::new);
        let mut written = 0u64;
        let mut sink = |segment: &Segment, samples: &[f32]| {
            if let Some(words) = collected.as_mut() {
                let at = (base + written) as usize - segment.samples.start;
                words.extend(segment.words.iter().map(|w| Word {
                    span: w.span.clone(),
                    samples: at + w.samples.start..at + w.samples.end,
                }));
            }
            written += samples.len() as u64;
            out.write(samples).map_err(SinkError::from)
        };
        let result = match &self.book.ssml {
            Some(ssml) => self.voice.speak_ssml_into(ssml, &options, &mut sink),
            None => self.voice.speak_into(&chapter.text, &options, &mut sink),
        };
        self.done_chars += len;
        let spoken = result?;
        let seconds = spoken.audio_seconds();
        self.audio_before += seconds;
        self.summary.chunks += spoken.chunks;
        self.summary.audio_seconds += seconds;
        self.summary.elapsed += spoken.elapsed.as_secs_f64();
        Ok((written, collected))
    }

    /// Every chapter into one output, [`BookOptions::gap_ms`] apart, each
    /// marked where it starts.
    fn merged(&mut self, mut out: Box<dyn Encoder>, timing: &Timing) -> Result<Summary> {
        let mut written = 0u64;
        let mut files = timing.files();
        let gap = samples_in(self.options.gap_ms);
        for k in 0..self.book.chapters.len() {
            if k > 0 {
                out.write(&vec![0.0; gap])
                    .map_err(kokoro_audio::Error::from)?;
                written += gap as u64;
            }
            out.begin_chapter();
            let (samples, words) = self.speak(k, out.as_mut(), written, timing.wanted())?;
            written += samples;
            if let Some(words) = words {
                let c = &self.book.chapters[k];
                files.add(
                    &c.text,
                    c.offset,
                    self.book.numbered.then_some(c.number),
                    &words,
                );
            }
            self.options.emit(Event::Spoken {
                path: None,
                audio_seconds: samples as f64 / f64::from(crate::SAMPLE_RATE),
                label: self.label(k),
            });
        }
        if self.summary.chunks == 0 {
            return Err(Error::NothingToSay);
        }
        out.finish()?.commit()?;
        // The timing files once the audio is whole.
        files.write()?;
        Ok(std::mem::take(&mut self.summary))
    }

    /// What every chapter file's audio depends on beside its text and format.
    pub(crate) fn audio_settings(&self) -> String {
        let o = &self.options.speak;
        format!(
            "{} {} {:?} {} {}",
            o.voice,
            o.speed,
            o.pauses,
            o.lang.map_or("", |l| l.code()),
            self.options.depends_on
        )
    }

    /// One file per chapter, each written atomically; a rerun skips those done.
    fn split(&mut self, dir: &Path) -> Result<Summary> {
        let mut record = Record::open(dir)?;
        let format = self.options.format;
        let settings = self.audio_settings();
        let timing = &self.options.timing;
        for k in 0..self.book.chapters.len() {
            let chapter = &self.book.chapters[k];
            let file = file_name(chapter.number, &chapter.title, format);
            let print = fingerprint(&[
                &chapter.text,
                &settings,
                format.extension(),
                &format!("{format:?}"),
            ]);
            let path = dir.join(&file);
            if record.is_done(&file, &print) && timing.present_beside(&path) {
                self.skip(k, path);
                continue;
            }
            let tags = Tags {
                title: Some(chapter.marker_title()),
                chapters: Vec::new(),
                ..self.book.tags(self.options.narrator.as_deref())
            };
            let mut out = encoder_with(format, Dest::file(&path, false)?, tags)?;
            let (samples, words) = self.speak(k, out.as_mut(), 0, timing.wanted())?;
            out.finish()?.commit()?;
            if let Some(words) = words {
                let c = &self.book.chapters[k];
                let mut files = timing.files();
                files.add(
                    &c.text,
                    c.offset,
                    self.book.numbered.then_some(c.number),
                    &words,
                );
                files.write_beside(&path)?;
            }
            record.mark_done(&file, &print)?;
            self.options.emit(Event::Spoken {
                path: Some(path),
                audio_seconds: samples as f64 / f64::from(crate::SAMPLE_RATE),
                label: self.label(k),
            });
        }
        Ok(std::mem::take(&mut self.summary))
    }
}

/// The caption format a name gives (for `--captions vtt` with a file per chapter).
pub fn caption_format(name: &Path) -> Option<CaptionFormat> {
    CaptionFormat::from_path(name).or_else(|| {
        let named = PathBuf::from(format!("x.{}", name.display()));
        CaptionFormat::from_path(&named).filter(|_| name.extension().is_none())
    })
}

#[cfg(test)]
mod tests;
