//! The engine: assets, sessions, front ends and voices, opened once; texts
//! spoken into samples, into a sink as they are made, or as a stream.

use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use kokoro_audio::{Boundary, Format, Joiner, Pauses};
use kokoro_infer::{KokoroSession, SessionOptions, SharedSession, Voice, VoiceSet};
use kokoro_sched::{Audio, Control, Layout, ProgressFn, Request, Scheduler, SinkError, Summary};
use kokoro_text::{Chunk, ChunkOptions, Lang};

use crate::assets::{AssetOptions, Cache, FetchEvent, FormChoice, Provisioned};
use crate::gate::{Gate, Gated, Load};
use crate::voices::{voice_lang, VoiceInfo};
use crate::Device;
use crate::{default_fallback, Error, Frontends, Result, Workers, SAMPLE_RATE};

/// The speeds the model takes: half to twice the normal rate.
pub const SPEED_RANGE: RangeInclusive<f32> = 0.5..=2.0;

/// What the engine reports while it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An asset is being fetched, or was verified.
    Fetch(FetchEvent),
    /// Something works, but not as well as it could.
    Warning(String),
    /// Where the model runs, and why (`auto chose cpu: no NVIDIA driver...`).
    Device(String),
    /// Which form of the model runs, and why (`model form: int8-fused (chosen now: ...)`).
    Form(String),
    /// Work that takes a moment while the engine opens (a progress line).
    Progress(String),
}

/// A callback for [`Event`]s.
pub type EventFn = Arc<dyn Fn(&Event) + Send + Sync>;

/// A callback that sees each chunk as it is made (phonemes, ids, diagnostics)
/// with the text its span points into, from whichever thread pulls it.
pub type ChunkFn = Arc<dyn Fn(&Chunk, &str) + Send + Sync>;

/// How to open the engine. `Config::default()` fetches everything into the
/// per-user cache and picks the worker layout for this machine.
#[derive(Clone, Default)]
pub struct Config {
    /// Where the ONNX Runtime library, the model and the voices come from.
    pub assets: AssetOptions,
    /// Sessions and threads.
    pub workers: Workers,
    /// The text front ends; `None`: this build's out-of-lexicon fallback
    /// ([`default_fallback`]) and no user lexicon.
    pub frontends: Option<Frontends>,
    /// Told about fetching and warnings.
    pub on_event: Option<EventFn>,
    /// Run the model as it is, without the durations output: no word timings
    /// (the audio is the same). By default the engine derives the timed
    /// model once into the cache and reads each id's duration on every call.
    pub skip_timing: bool,
    /// Where the model runs: the CPU (the default), CUDA, or CUDA when usable.
    pub device: Device,
    /// Which form of the fetched model runs on the CPU: the fastest for
    /// this machine (the default, found once by a short timed run), or one
    /// named ([`crate::assets::forms`]).
    pub form: FormChoice,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("assets", &self.assets)
            .field("workers", &self.workers)
            .field("device", &self.device)
            .field("form", &self.form)
            .finish_non_exhaustive()
    }
}

/// How to speak one text.
#[derive(Clone)]
pub struct SpeakOptions {
    /// A voice (`af_heart`) or a blend (`af_sarah:60,am_adam:40`).
    pub voice: String,
    /// Speed, within [`SPEED_RANGE`].
    pub speed: f32,
    /// The language; `None`: the (first) voice's, else en-us.
    pub lang: Option<Lang>,
    /// `Some`: trim each chunk's silence and join chunks with these pauses,
    /// each sentence its own model call; `None`: the model's audio as it is.
    pub pauses: Option<Pauses>,
    /// A short first chunk, so that a listener hears the start at once.
    pub streaming: bool,
    /// Set to stop: no new chunk starts, and the call returns [`Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Called after each chunk is delivered.
    pub progress: Option<ProgressFn>,
    /// Called with each chunk as it is made.
    pub on_chunk: Option<ChunkFn>,
    /// A style table spoken with instead of [`SpeakOptions::voice`] (a voice
    /// made by arithmetic on others); `voice` still names its language.
    pub style: Option<Arc<Voice>>,
    /// The text is phonemes in Kokoro's symbols, spoken as they are (each
    /// whitespace-separated token a word).
    pub phonemes: bool,
    /// Each phoneme is a word: segments' words are their phonemes, timed.
    pub phoneme_words: bool,
}

impl Default for SpeakOptions {
    /// `af_heart` at normal speed, untrimmed.
    fn default() -> Self {
        Self {
            voice: "af_heart".into(),
            speed: 1.0,
            lang: None,
            pauses: None,
            streaming: false,
            cancel: None,
            progress: None,
            on_chunk: None,
            style: None,
            phonemes: false,
            phoneme_words: false,
        }
    }
}

impl std::fmt::Debug for SpeakOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakOptions")
            .field("voice", &self.voice)
            .field("speed", &self.speed)
            .field("lang", &self.lang)
            .field("pauses", &self.pauses)
            .field("streaming", &self.streaming)
            .finish_non_exhaustive()
    }
}

impl SpeakOptions {
    /// The defaults with this voice.
    pub fn voice(voice: impl Into<String>) -> Self {
        Self {
            voice: voice.into(),
            ..Self::default()
        }
    }

    /// How the text is cut into model calls: chosen pauses go between calls,
    /// so each sentence is then its own; a stream starts with a short chunk.
    pub fn chunk_options(&self) -> ChunkOptions {
        ChunkOptions {
            sentence_per_chunk: self.pauses.is_some(),
            ..if self.streaming {
                ChunkOptions::streaming()
            } else {
                ChunkOptions::default()
            }
        }
    }
}

/// Where one chunk's audio lies: its source text and its samples in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The chunk's index, from 0.
    pub index: usize,
    /// Byte range of the text it speaks.
    pub span: Range<usize>,
    /// Its samples in the whole output, the pause before it included.
    pub samples: Range<usize>,
    /// Its words, where each is spoken in the whole output (empty when the
    /// engine runs untimed: [`Tts::timed`]). With
    /// [`SpeakOptions::phoneme_words`], each phoneme is a word, its span in
    /// [`Segment::phonemes`].
    pub words: Vec<Word>,
    /// The phonemes the model spoke for it, in Kokoro's symbols.
    pub phonemes: String,
}

/// A word of the text, and where it is spoken in the output: the model's own
/// durations, placed exactly as the joiner placed the samples (trimmed
/// silence, pauses, speed), so that timings do not drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Byte range of the word in the text (surrounding punctuation left out).
    pub span: Range<usize>,
    /// Its samples in the output; empty for a word with no sound of its own.
    pub samples: Range<usize>,
}

impl Word {
    /// The word as written in `text`, the text it was spoken from (empty if
    /// the span is not in it).
    pub fn text<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.span.clone()).unwrap_or_default()
    }

    /// Start, in seconds from the start of the output.
    pub fn start(&self) -> f64 {
        self.samples.start as f64 / f64::from(SAMPLE_RATE)
    }

    /// End, in seconds from the start of the output.
    pub fn end(&self) -> f64 {
        self.samples.end as f64 / f64::from(SAMPLE_RATE)
    }
}

/// A spoken text.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    /// Mono samples.
    pub samples: Vec<f32>,
    /// Samples per second ([`SAMPLE_RATE`]).
    pub sample_rate: u32,
    /// Each chunk's source text and samples, in order.
    pub segments: Vec<Segment>,
}

impl Speech {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Every word, in order, with where it is spoken (none when the engine
    /// runs untimed).
    pub fn words(&self) -> impl Iterator<Item = &Word> {
        self.segments.iter().flat_map(|s| s.words.iter())
    }

    /// Writes the audio to `path` in the format its extension names (WAV when
    /// it names none), through a temporary file renamed into place.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let format = Format::from_path(path).unwrap_or(Format::Wav);
        let mut encoder = kokoro_audio::encoder(format, kokoro_audio::Dest::file(path, false)?)?;
        encoder
            .write(&self.samples)
            .map_err(kokoro_audio::Error::from)?;
        encoder.finish()?.commit()?;
        Ok(())
    }
}

/// One chunk of a [`SpeechStream`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechChunk {
    /// Where it lies.
    pub segment: Segment,
    /// Its samples, the pause before it included.
    pub samples: Vec<f32>,
}

/// The engine: open it once, then speak as many texts as you like, from any
/// thread. Cheap to clone; clones share the session. Texts spoken at the same
/// time share the workers fairly, chunk by chunk, each still delivered in
/// order (with a session per worker they are spoken one after another).
#[derive(Clone)]
pub struct Tts {
    inner: Arc<Inner>,
}

struct Inner {
    voices: VoiceSet,
    frontends: Frontends,
    sessions: Sessions,
    layout: Layout,
    described: String,
    timed: bool,
    on_event: Option<EventFn>,
}

/// Where the model runs.
enum Sessions {
    /// One session for every worker of every text: each text being spoken
    /// gets a scheduler over it (idle ones are kept for the next text), and
    /// the gate grants the waiting call with the fewest ids first, a call's
    /// wait counting in its favour (see `gate`).
    Shared {
        session: SharedSession,
        gate: Arc<Gate>,
        idle: Mutex<Vec<Box<dyn Scheduler>>>,
    },
    /// A session per worker, one text at a time.
    PerWorker(Mutex<Box<dyn Scheduler>>),
}

impl std::fmt::Debug for Tts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tts")
            .field("layout", &self.inner.layout)
            .finish_non_exhaustive()
    }
}

impl Tts {
    /// Fetches and verifies what is missing, loads ONNX Runtime, the voices and
    /// the model's sessions.
    pub fn open(config: Config) -> Result<Self> {
        let emit = |event: Event| {
            if let Some(f) = &config.on_event {
                f(&event);
            }
        };
        let asked = crate::assets::Asked {
            assets: &config.assets,
            device: config.device,
            form: config.form,
            skip_timing: config.skip_timing,
        };
        let provisioned = crate::assets::provision(asked, &emit)?;
        let voices = VoiceSet::open(&provisioned.voices)?;
        let frontends = match config.frontends {
            Some(f) => f,
            None => default_frontends(&config.assets, &emit),
        };
        let layout = if provisioned.cuda {
            config.workers.gpu_layout()
        } else {
            Workers {
                threaded_calls: provisioned.form == Some(crate::Form::Fused),
                ..config.workers
            }
            .layout()
        };
        let (sessions, described) =
            open_sessions(&provisioned, layout, config.workers.session_per_worker)?;
        Ok(Self {
            inner: Arc::new(Inner {
                voices,
                frontends,
                sessions,
                layout,
                described,
                timed: provisioned.timed,
                on_event: config.on_event,
            }),
        })
    }

    /// Tells the configuration's event callback.
    pub(crate) fn emit(&self, event: &Event) {
        if let Some(f) = &self.inner.on_event {
            f(event);
        }
    }

    /// Whether each word's timing is known ([`Segment::words`]): the model
    /// gives its durations.
    pub fn timed(&self) -> bool {
        self.inner.timed
    }

    /// The worker layout in use.
    pub fn layout(&self) -> Layout {
        self.inner.layout
    }

    /// The layout in words: `parallel (2 workers x 1 thread)`.
    pub fn describe(&self) -> &str {
        &self.inner.described
    }

    /// The voices.
    pub fn voice_set(&self) -> &VoiceSet {
        &self.inner.voices
    }

    /// Every voice with its language and gender.
    pub fn voices(&self) -> Vec<VoiceInfo> {
        self.inner
            .voices
            .names()
            .iter()
            .map(|n| VoiceInfo::of(n))
            .collect()
    }

    /// The text front ends.
    pub fn frontends(&self) -> &Frontends {
        &self.inner.frontends
    }

    /// Speaks `text` whole: every sample, and where each chunk lies.
    pub fn speak(&self, text: &str, options: &SpeakOptions) -> Result<Speech> {
        collect(|sink| self.speak_into(text, options, sink))
    }

    /// Speaks `text` into `sink`, chunk by chunk in order, as each is made:
    /// memory does not grow with the text. A sink error stops the run.
    pub fn speak_into(
        &self,
        text: &str,
        options: &SpeakOptions,
        sink: impl FnMut(&Segment, &[f32]) -> Result<(), SinkError>,
    ) -> Result<Summary> {
        let mut joiner = options.pauses.map_or_else(Joiner::raw, Joiner::new);
        let mut at = Timeline::default();
        self.speak_piece(text, options, &mut joiner, &mut at, false, sink)
    }

    /// Speaks SSML read by [`kokoro_text::ssml::Ssml::parse`] into `sink`:
    /// each part with its own voice and rate (a multiple of `options.speed`,
    /// kept within [`SPEED_RANGE`]), joined as one text would be. Spans point
    /// into [`kokoro_text::ssml::Ssml::text`]. Every part's voice is checked
    /// before anything is spoken.
    pub fn speak_ssml_into(
        &self,
        ssml: &kokoro_text::ssml::Ssml,
        options: &SpeakOptions,
        mut sink: impl FnMut(&Segment, &[f32]) -> Result<(), SinkError>,
    ) -> Result<Summary> {
        crate::request::check_speed(options.speed)?;
        let mut each = Vec::with_capacity(ssml.parts.len());
        for part in &ssml.parts {
            let mut o = options.clone();
            match &part.voice {
                // A voice of its own speaks its own language.
                Some(voice) => {
                    o.voice = voice.clone();
                    o.lang = None;
                }
                None => o.lang = options.lang.or(ssml.lang),
            }
            o.speed = (options.speed * part.rate).clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end());
            self.inner.voices.resolve(&o.voice)?;
            each.push(o);
        }
        let mut joiner = options.pauses.map_or_else(Joiner::raw, Joiner::new);
        let mut at = Timeline::default();
        let mut total = Summary::default();
        let started = std::time::Instant::now();
        for (i, (part, o)) in ssml.parts.iter().zip(&each).enumerate() {
            if part.text.trim().is_empty() {
                at.bytes += part.text.len();
                continue;
            }
            let continues = ssml.parts[i + 1..]
                .iter()
                .find(|p| !p.text.trim().is_empty())
                .is_some_and(|_| !part.text.ends_with("\n\n"));
            // Only the very first chunk is short (a quick start), as in a feed.
            let mut o = o.clone();
            o.streaming &= total.chunks == 0;
            let s = self.speak_piece(&part.text, &o, &mut joiner, &mut at, continues, &mut sink)?;
            if total.first_audio.is_none() && s.chunks > 0 {
                total.first_audio = Some(started.elapsed());
            }
            total.chunks += s.chunks;
            total.samples += s.samples;
        }
        total.elapsed = started.elapsed();
        Ok(total)
    }

    /// [`Tts::speak_ssml_into`], the whole of it: every sample, and where each chunk lies.
    pub fn speak_ssml(
        &self,
        ssml: &kokoro_text::ssml::Ssml,
        options: &SpeakOptions,
    ) -> Result<Speech> {
        collect(|sink| self.speak_ssml_into(ssml, options, sink))
    }

    /// [`Tts::speak_into`] for one piece of a longer text: `at` says where the
    /// piece starts (bytes of the text, samples of the output) and moves past
    /// it; `joiner` carries the pause after the piece to the next one; with
    /// `continues`, the text after the piece goes on in the same paragraph.
    fn speak_piece(
        &self,
        text: &str,
        options: &SpeakOptions,
        joiner: &mut Joiner,
        at: &mut Timeline,
        continues: bool,
        mut sink: impl FnMut(&Segment, &[f32]) -> Result<(), SinkError>,
    ) -> Result<Summary> {
        crate::request::check_speed(options.speed)?;
        let voice = match &options.style {
            Some(style) => Voice::clone(style),
            None => self.inner.voices.resolve(&options.voice)?,
        };
        let lang = options
            .lang
            .unwrap_or_else(|| voice_lang(&options.voice).unwrap_or(Lang::EnUs));
        let on_chunk = options.on_chunk.clone();
        // One flag stops the front end and the workers alike.
        let cancel = options.cancel.clone().unwrap_or_default();
        let frontend = match options.phonemes {
            true => None,
            false => Some(self.inner.frontends.get(lang)?),
        };
        let source: Box<dyn Iterator<Item = Chunk> + Send + '_> = match &frontend {
            None => Box::new(
                kokoro_text::given::phoneme_chunks(text, &options.chunk_options()).into_iter(),
            ),
            Some(f) => Box::new(
                f.chunks(text, options.chunk_options())
                    .with_cancel(cancel.clone()),
            ),
        };
        // Each chunk's phonemes as spoken, for its segment; with phoneme
        // words, each id its own word.
        let spoken: Arc<Mutex<std::collections::HashMap<usize, String>>> = Arc::default();
        let kept = spoken.clone();
        let phoneme_words = options.phoneme_words;
        let mut chunks = source.map(move |mut c| {
            if let Some(f) = &on_chunk {
                f(&c, text);
            }
            let mut phonemes = String::with_capacity(c.ids.len() * 2);
            let mut words = Vec::with_capacity(if phoneme_words { c.ids.len() } else { 0 });
            for (k, &id) in c.ids.iter().enumerate() {
                let start = phonemes.len();
                phonemes.extend(kokoro_text::vocab::symbol_of(id));
                words.push(kokoro_text::Word {
                    span: start..phonemes.len(),
                    ids: k..k + 1,
                });
            }
            if phoneme_words {
                c.words = words;
            }
            kept.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(c.index, phonemes);
            c
        });
        let mut joined = Vec::new();
        let (base, piece_end, first_index) = (at.bytes, text.trim_end().len(), at.chunks);
        let written = &mut at.samples;
        let mut deliver = |audio: Audio| -> Result<(), SinkError> {
            joined.clear();
            let mut boundary = boundary(&audio);
            if continues && audio.span.end >= piece_end {
                // The piece's last chunk: the paragraph goes on after it.
                boundary.ends_paragraph = false;
                boundary.ends_sentence = true;
            }
            let placed = joiner.push(&audio.samples, boundary, &mut joined);
            let words = audio.words.unwrap_or_default();
            let phonemes = spoken
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&audio.index)
                .unwrap_or_default();
            // A phoneme word's span is in the segment's phonemes, a word's in the text.
            let shift = if phoneme_words { 0 } else { base };
            let segment = Segment {
                index: first_index + audio.index,
                span: base + audio.span.start..base + audio.span.end,
                samples: *written..*written + joined.len(),
                words: words
                    .into_iter()
                    .map(|w| {
                        let place = placed.place_range(w.samples);
                        Word {
                            span: shift + w.span.start..shift + w.span.end,
                            samples: *written + place.start..*written + place.end,
                        }
                    })
                    .collect(),
                phonemes,
            };
            *written += joined.len();
            sink(&segment, &joined)
        };
        let control = Control {
            cancel,
            progress: options.progress.clone(),
        };
        let request = Request {
            text,
            voice: &voice,
            speed: options.speed,
        };
        let summary = match &self.inner.sessions {
            Sessions::PerWorker(scheduler) => {
                let mut scheduler = scheduler.lock().unwrap_or_else(|p| p.into_inner());
                scheduler.run(&request, &mut chunks, &mut deliver, &control)?
            }
            Sessions::Shared {
                session,
                gate,
                idle,
            } => {
                let taken = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let mut scheduler = match taken {
                    Some(s) => s,
                    None => build_gated(self.inner.layout, session, gate)?,
                };
                let result = scheduler.run(&request, &mut chunks, &mut deliver, &control);
                idle.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(scheduler);
                result?
            }
        };
        at.bytes += text.len();
        at.chunks += summary.chunks;
        Ok(summary)
    }

    /// Text that arrives over time (a language model writing, a pipe): push it
    /// into the [`TextFeed`] as it comes, and each sentence is spoken as soon
    /// as it is complete (followed by more text or a blank line), in order,
    /// into the [`SpeechStream`], without waiting for the end. With pauses
    /// (each sentence its own model call), the audio equals that of the whole
    /// text spoken at once; without, chunks are cut where the text arrived in
    /// pieces, so the audio may differ there. Spans and word times count from
    /// the start of everything pushed.
    pub fn feed(&self, options: &SpeakOptions) -> (TextFeed, SpeechStream) {
        let (pieces, inbox) = std::sync::mpsc::channel::<Piece>();
        let (tx, rx) = sync_channel::<Result<SpeechChunk>>(2);
        let mut options = options.clone();
        let stop = options
            .cancel
            .get_or_insert_with(|| Arc::new(AtomicBool::new(false)))
            .clone();
        let tts = self.clone();
        let spawned = std::thread::Builder::new()
            .name("kokoro-feed".into())
            .spawn(move || {
                let mut joiner = options.pauses.map_or_else(Joiner::raw, Joiner::new);
                let mut at = Timeline::default();
                let mut chunks = 0;
                for piece in inbox {
                    at.bytes = piece.base;
                    let result = tts.speak_piece(
                        &piece.text,
                        &options,
                        &mut joiner,
                        &mut at,
                        piece.continues,
                        |segment, samples| {
                            tx.send(Ok(SpeechChunk {
                                segment: segment.clone(),
                                samples: samples.to_vec(),
                            }))
                            .map_err(|_| SinkError::from("the stream was dropped"))
                        },
                    );
                    // Only the very first chunk is short (a quick start); the
                    // sentences after it are cut as usual.
                    options.streaming = false;
                    match result {
                        Ok(summary) => chunks += summary.chunks,
                        Err(Error::Sink(_)) => return, // the receiver is gone
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                if chunks == 0 {
                    let _ = tx.send(Err(Error::NothingToSay));
                }
            });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                let (tx, rx) = sync_channel(1);
                let _ = tx.send(Err(Error::Stopped(e.to_string())));
                rx
            }
        };
        let feed = TextFeed {
            pieces: Some(pieces),
            pending: String::new(),
            base: 0,
        };
        (
            feed,
            SpeechStream {
                rx,
                stop: Some(stop),
            },
        )
    }

    /// Speaks what `reader` gives as it arrives (a pipe, a socket, a language
    /// model's reply): plain text through a [`TextFeed`], each sentence as
    /// soon as it is complete and what is there after `stall` without more
    /// input; SSML (input that opens with `<speak>`) read whole first, its
    /// elements spanning it. Input that is not UTF-8, or a failed read, ends
    /// the stream with [`Error::Input`] after the audio of what came before.
    pub fn stream_reader(
        &self,
        reader: impl std::io::Read + Send + 'static,
        options: &SpeakOptions,
        stall: std::time::Duration,
    ) -> SpeechStream {
        let (tx, rx) = sync_channel::<Result<SpeechChunk>>(2);
        let mut options = options.clone();
        let stop = options
            .cancel
            .get_or_insert_with(|| Arc::new(AtomicBool::new(false)))
            .clone();
        let texts = read_texts(reader);
        let tts = self.clone();
        let spawned = std::thread::Builder::new()
            .name("kokoro-reader".into())
            .spawn(move || {
                // The first text says what the input is.
                let mut first = String::new();
                let mut failed = None;
                while undecided(&first) {
                    match texts.recv() {
                        Ok(Ok(text)) => first.push_str(&text),
                        Ok(Err(e)) => {
                            failed = Some(e);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let speech = if failed.is_none() && kokoro_text::ssml::looks_like_ssml(&first) {
                    let mut whole = first;
                    for text in &texts {
                        match text {
                            Ok(t) => whole.push_str(&t),
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    match kokoro_text::ssml::Ssml::parse(&whole) {
                        Ok(ssml) => {
                            for w in &ssml.warnings {
                                tts.emit(&Event::Warning(format!("SSML: {w}")));
                            }
                            options.lang = options.lang.or(ssml.lang);
                            tts.stream_ssml(ssml, &options)
                        }
                        Err(e) => {
                            let _ = tx.send(Err(Error::Input(e.to_string())));
                            return;
                        }
                    }
                } else {
                    let (mut feed, speech) = tts.feed(&options);
                    feed.push(&first);
                    let (pushed, failure) = std::sync::mpsc::channel();
                    // Text goes to the feed from a thread of its own, so that
                    // audio is passed on here while more text arrives.
                    let feeding = std::thread::Builder::new()
                        .name("kokoro-reader-feed".into())
                        .spawn(move || {
                            let result = match failed {
                                Some(e) => Err(e), // dropping the feed ends the stream
                                None => feed.feed_from(&texts, stall),
                            };
                            if let Err(e) = result {
                                let _ = pushed.send(e);
                            }
                        });
                    if let Err(e) = feeding {
                        let _ = tx.send(Err(Error::Stopped(e.to_string())));
                        return;
                    }
                    let mut spoken = false;
                    for chunk in speech {
                        let last = match chunk {
                            Err(Error::NothingToSay) if spoken => continue,
                            Err(Error::NothingToSay) => match failure.try_recv() {
                                Ok(e) => Err(e),
                                Err(_) => Err(Error::NothingToSay),
                            },
                            other => other,
                        };
                        spoken |= last.is_ok();
                        if tx.send(last).is_err() {
                            return;
                        }
                    }
                    if let Ok(e) = failure.try_recv() {
                        let _ = tx.send(Err(e));
                    }
                    return;
                };
                for chunk in speech {
                    if tx.send(chunk).is_err() {
                        return;
                    }
                }
            });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                let (tx, rx) = sync_channel(1);
                let _ = tx.send(Err(Error::Stopped(e.to_string())));
                rx
            }
        };
        SpeechStream {
            rx,
            stop: Some(stop),
        }
    }

    /// Model calls running and waiting for their turn, over every text being
    /// spoken (all zero with a session per worker).
    pub fn load(&self) -> Load {
        match &self.inner.sessions {
            Sessions::Shared { gate, .. } => gate.load(),
            Sessions::PerWorker(_) => Load::default(),
        }
    }

    /// Speaks `text` on a thread of its own, yielding chunks as they are made.
    /// Dropping the stream stops the synthesis at the next chunk.
    pub fn stream(&self, text: impl Into<String>, options: &SpeakOptions) -> SpeechStream {
        let text = text.into();
        self.stream_with(options, move |tts, options, sink| {
            tts.speak_into(&text, options, sink)
        })
    }

    /// [`Tts::stream`] for SSML (see [`Tts::speak_ssml_into`]).
    pub fn stream_ssml(
        &self,
        ssml: kokoro_text::ssml::Ssml,
        options: &SpeakOptions,
    ) -> SpeechStream {
        self.stream_with(options, move |tts, options, sink| {
            tts.speak_ssml_into(&ssml, options, sink)
        })
    }

    /// Runs `speak` on a thread of its own, its chunks into a stream.
    fn stream_with(
        &self,
        options: &SpeakOptions,
        speak: impl FnOnce(
                &Tts,
                &SpeakOptions,
                &mut dyn FnMut(&Segment, &[f32]) -> Result<(), SinkError>,
            ) -> Result<Summary>
            + Send
            + 'static,
    ) -> SpeechStream {
        let (tx, rx) = sync_channel::<Result<SpeechChunk>>(2);
        let mut options = options.clone();
        // Without a flag of the user's, dropping the stream raises one of its
        // own; either way the next chunk finds the receiver gone and stops the run.
        let stop = match options.cancel {
            Some(_) => None,
            None => {
                let own = Arc::new(AtomicBool::new(false));
                options.cancel = Some(own.clone());
                Some(own)
            }
        };
        let tts = self.clone();
        let spawned = std::thread::Builder::new()
            .name("kokoro-stream".into())
            .spawn(move || {
                let result = speak(&tts, &options, &mut |segment, samples| {
                    tx.send(Ok(SpeechChunk {
                        segment: segment.clone(),
                        samples: samples.to_vec(),
                    }))
                    .map_err(|_| SinkError::from("the stream was dropped"))
                });
                let last = match result {
                    Ok(summary) if summary.chunks == 0 => Some(Error::NothingToSay),
                    Ok(_) => None,
                    Err(Error::Sink(_)) => None, // the receiver is gone
                    Err(e) => Some(e),
                };
                if let Some(e) = last {
                    let _ = tx.send(Err(e));
                }
            });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                let (tx, rx) = sync_channel(1);
                let _ = tx.send(Err(Error::Stopped(e.to_string())));
                rx
            }
        };
        SpeechStream { rx, stop }
    }
}

/// The whole of what `speak` delivers to its sink, as one [`Speech`]; a run
/// that delivers nothing had nothing to say.
fn collect(
    speak: impl FnOnce(&mut dyn FnMut(&Segment, &[f32]) -> Result<(), SinkError>) -> Result<Summary>,
) -> Result<Speech> {
    let mut speech = Speech {
        samples: Vec::new(),
        sample_rate: SAMPLE_RATE,
        segments: Vec::new(),
    };
    let summary = speak(&mut |segment, samples| {
        speech.samples.extend_from_slice(samples);
        speech.segments.push(segment.clone());
        Ok(())
    })?;
    if summary.chunks == 0 {
        return Err(Error::NothingToSay);
    }
    Ok(speech)
}

/// Where a piece of a fed text starts: bytes into the text, samples into the output.
#[derive(Debug, Clone, Copy, Default)]
struct Timeline {
    bytes: usize,
    samples: usize,
    chunks: usize,
}

/// Complete sentences handed to the feed's synthesis thread.
struct Piece {
    text: String,
    /// Where it starts in everything pushed.
    base: usize,
    /// The text after it goes on in the same paragraph.
    continues: bool,
}

/// The writing end of [`Tts::feed`]: push text as it arrives; complete
/// sentences are spoken at once. Dropping it, or [`TextFeed::finish`], speaks
/// what is left and ends the stream after its audio.
#[derive(Debug)]
pub struct TextFeed {
    pieces: Option<std::sync::mpsc::Sender<Piece>>,
    /// Text pushed and not yet handed over: the sentence being written.
    pending: String,
    /// Bytes handed over so far.
    base: usize,
}

/// The most text a feed holds back waiting for its sentence to end, in bytes.
const MAX_PENDING: usize = 4096;

impl TextFeed {
    /// Adds text. Every sentence it completes (one followed by more text, or
    /// by a blank line) is handed over to be spoken.
    pub fn push(&mut self, text: &str) {
        self.pending.push_str(text);
        let sentences = kokoro_text::split_sentences(&self.pending);
        let blank_line_after = {
            let tail = self.pending.trim_end_matches([' ', '\t', '\r']);
            tail.ends_with("\n\n") && !tail.trim().is_empty()
        };
        if blank_line_after {
            self.hand_over(self.pending.len(), false);
        } else if let [.., last] = &sentences[..] {
            if sentences.len() > 1 {
                self.hand_over(last.span.start, !last.paragraph_start);
            }
        }
        // A sentence that never ends is spoken in pieces at word boundaries,
        // so that the work per push stays bounded.
        while self.pending.len() > MAX_PENDING {
            let mut end = MAX_PENDING;
            while !self.pending.is_char_boundary(end) {
                end -= 1;
            }
            let cut = self.pending[..end]
                .char_indices()
                .rev()
                .find(|&(_, c)| c.is_whitespace())
                .map_or(self.pending.len(), |(i, c)| i + c.len_utf8());
            self.hand_over(cut, true);
        }
    }

    /// Hands over everything pushed, complete or not (a stall in the input:
    /// what is there is spoken now).
    pub fn flush(&mut self) {
        if !self.pending.trim().is_empty() {
            self.hand_over(self.pending.len(), false);
        }
    }

    /// No more text: what is left is spoken, and the stream ends after it.
    pub fn finish(mut self) {
        self.flush();
        self.pieces = None;
    }

    /// Pushes what `reader` gives as it arrives (whole UTF-8 characters), what
    /// is there spoken after `stall` without more, the rest at the end of the
    /// input; returns then, the stream ending after its audio. Input that is
    /// not UTF-8, or a failed read, is [`Error::Input`] (what came before it
    /// is still spoken).
    pub fn read_from(
        self,
        reader: impl std::io::Read + Send + 'static,
        stall: std::time::Duration,
    ) -> Result<()> {
        self.feed_from(&read_texts(reader), stall)
    }

    /// [`TextFeed::read_from`] for texts already read.
    fn feed_from(
        mut self,
        texts: &Receiver<Result<String>>,
        stall: std::time::Duration,
    ) -> Result<()> {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            match texts.recv_timeout(stall) {
                Ok(Ok(text)) => self.push(&text),
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => self.flush(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish();
                    return Ok(());
                }
            }
        }
    }

    fn hand_over(&mut self, len: usize, continues: bool) {
        let rest = self.pending.split_off(len);
        let text = std::mem::replace(&mut self.pending, rest);
        let base = self.base;
        self.base += text.len();
        if let Some(pieces) = &self.pieces {
            let _ = pieces.send(Piece {
                text,
                base,
                continues,
            });
        }
    }
}

impl Drop for TextFeed {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Chunks of speech as they are made: see [`Tts::stream`] and [`Tts::feed`].
#[derive(Debug)]
pub struct SpeechStream {
    rx: Receiver<Result<SpeechChunk>>,
    stop: Option<Arc<AtomicBool>>,
}

/// What [`SpeechStream::next_within`] found.
#[derive(Debug)]
pub enum Next {
    /// The next chunk (or the error that ended the stream).
    Chunk(Result<SpeechChunk>),
    /// The stream is over.
    End,
    /// Nothing yet: the next chunk is still being made.
    Waiting,
}

impl SpeechStream {
    /// The next chunk if it comes within `wait`: a caller that must stay
    /// responsive (to a signal, say) waits in slices.
    pub fn next_within(&mut self, wait: std::time::Duration) -> Next {
        match self.rx.recv_timeout(wait) {
            Ok(chunk) => Next::Chunk(chunk),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Next::Waiting,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Next::End,
        }
    }
}

impl Iterator for SpeechStream {
    type Item = Result<SpeechChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}

impl Drop for SpeechStream {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// The front ends when the configuration names none: this build's
/// out-of-lexicon fallback, no user lexicon.
fn default_frontends(assets: &AssetOptions, emit: &dyn Fn(Event)) -> Frontends {
    let (fallback, warning) = match assets.cache() {
        Ok(cache) => default_fallback(cache.dir()),
        Err(_) => (
            Arc::new(kokoro_text::SpellingFallback) as _,
            Some(
                "no cache directory for espeak-ng's data; unknown words will be spelled out".into(),
            ),
        ),
    };
    if let Some(w) = warning {
        emit(Event::Warning(w));
    }
    Frontends::new(fallback, kokoro_text::Lexicon::default())
}

/// The model's sessions for `layout`: one per worker, or one shared by all
/// (on CUDA, one per call in flight); and the layout in words.
fn open_sessions(
    provisioned: &Provisioned,
    layout: Layout,
    per_worker: bool,
) -> Result<(Sessions, String)> {
    let model = &provisioned.model;
    let device = if provisioned.cuda {
        kokoro_infer::Device::Cuda { device_id: 0 }
    } else {
        kokoro_infer::Device::Cpu
    };
    if per_worker {
        let scheduler = layout
            .build(|options| KokoroSession::open(model, SessionOptions { device, ..options }))?;
        let described = scheduler.describe();
        return Ok((Sessions::PerWorker(Mutex::new(scheduler)), described));
    }
    // One session whose Run every worker calls at once: one copy of the
    // weights, kernels and arena (see kokoro_infer::SharedSession).
    let options = SessionOptions {
        intra_threads: layout.intra_threads,
        device,
        ..SessionOptions::default()
    };
    let session = match &provisioned.optimized {
        // On CUDA, a session per call in flight, each lent to one call at a
        // time: ONNX Runtime promises concurrent runs of one session for the
        // CPU provider only, and a session has one CUDA compute stream, so
        // calls sharing one would run one after the other on the GPU (a
        // maintainer's answer in microsoft/onnxruntime issue 12049). GPU
        // memory is plentiful.
        _ if provisioned.cuda => SharedSession::open_lent(model, options, layout.workers)?,
        // ONNX Runtime's optimized graph, kept in the cache: later starts
        // skip the optimizations (see SharedSession::open_cached).
        Some(optimized) => Cache::open_session(model, options, optimized)?,
        None => SharedSession::open(model, options)?,
    };
    let gate = Arc::new(Gate::new(layout.workers));
    let scheduler = build_gated(layout, &session, &gate)?;
    let described = match session.sessions() {
        1 => format!("{}, one shared session", scheduler.describe()),
        n => format!(
            "{}, {n} sessions, each lent to one call at a time",
            scheduler.describe()
        ),
    };
    let sessions = Sessions::Shared {
        session,
        gate,
        idle: Mutex::new(vec![scheduler]),
    };
    Ok((sessions, described))
}

/// Text read from `reader` as it comes, on a thread of its own: whole UTF-8
/// characters only; a failed read or bytes that are not UTF-8 end it with
/// [`Error::Input`].
fn read_texts(mut reader: impl std::io::Read + Send + 'static) -> Receiver<Result<String>> {
    let (texts, inbox) = std::sync::mpsc::channel::<Result<String>>();
    let spawned = std::thread::Builder::new()
        .name("kokoro-read".into())
        .spawn(move || {
            let mut carry: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            let not_utf8 = || Err(Error::Input("the input is not UTF-8 text".into()));
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ =
                            texts.send(Err(Error::Input(format!("cannot read the input: {e}"))));
                        return;
                    }
                };
                carry.extend_from_slice(&buf[..n]);
                let valid = match std::str::from_utf8(&carry) {
                    Ok(s) => s.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => {
                        let _ = texts.send(not_utf8());
                        return;
                    }
                };
                let rest = carry.split_off(valid);
                let text =
                    String::from_utf8(std::mem::replace(&mut carry, rest)).unwrap_or_default();
                if texts.send(Ok(text)).is_err() {
                    return;
                }
            }
            if !carry.is_empty() {
                let _ = texts.send(not_utf8());
            }
        });
    if let Err(e) = spawned {
        let (texts, inbox) = std::sync::mpsc::channel();
        let _ = texts.send(Err(Error::Stopped(e.to_string())));
        return inbox;
    }
    inbox
}

/// Whether the input so far may still turn out to be SSML (nothing but
/// blanks, the start of `<speak`, or a declaration or comment before it).
fn undecided(so_far: &str) -> bool {
    let head = so_far.trim_start_matches('\u{feff}').trim_start();
    head.is_empty()
        || ("<speak".starts_with(head))
        || ((head.starts_with("<?xml") || head.starts_with("<!--"))
            && !head.contains("<speak")
            && head.len() < 4096)
}

/// A scheduler whose workers call the shared session in turn.
fn build_gated(
    layout: Layout,
    session: &SharedSession,
    gate: &Arc<Gate>,
) -> Result<Box<dyn Scheduler>> {
    Ok(layout.build(|_| {
        Ok(Gated {
            handle: session.handle()?,
            gate: gate.clone(),
        })
    })?)
}

/// How a chunk ends, for the joiner.
fn boundary(audio: &Audio) -> Boundary {
    Boundary {
        ends_sentence: audio.ends_sentence,
        ends_paragraph: audio.ends_paragraph,
        pause_before_ms: audio.pause_before_ms,
        pause_after_ms: audio.pause_after_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_pauses_give_each_sentence_its_own_call() {
        let plain = SpeakOptions::default().chunk_options();
        assert!(!plain.sentence_per_chunk);
        let paused = SpeakOptions {
            pauses: Some(Pauses::default()),
            ..SpeakOptions::default()
        };
        assert!(paused.chunk_options().sentence_per_chunk);
        let streaming = SpeakOptions {
            streaming: true,
            ..SpeakOptions::default()
        };
        assert_eq!(
            streaming.chunk_options(),
            ChunkOptions::streaming(),
            "a stream starts short"
        );
    }

    #[test]
    fn a_feed_hands_over_each_sentence_once_it_is_complete() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut feed = TextFeed {
            pieces: Some(tx),
            pending: String::new(),
            base: 0,
        };
        let next = || rx.try_recv().map(|p| (p.text, p.base, p.continues)).ok();
        feed.push("Hello the");
        assert_eq!(next(), None, "a sentence being written waits");
        feed.push("re. How are");
        assert_eq!(next(), Some(("Hello there. ".into(), 0, true)));
        feed.push(" you?\n\n");
        assert_eq!(
            next(),
            Some(("How are you?\n\n".into(), 13, false)),
            "a blank line ends a paragraph"
        );
        feed.push("Dr. Smith");
        assert_eq!(next(), None, "an abbreviation does not end a sentence");
        feed.flush();
        assert_eq!(
            next(),
            Some(("Dr. Smith".into(), 27, false)),
            "a stall speaks what is there"
        );
        // A sentence that never ends is handed over in bounded pieces at spaces.
        feed.push(&"word ".repeat(2000));
        let mut total = 0;
        while let Some((text, _, _)) = next() {
            assert!(
                text.len() <= MAX_PENDING && text.ends_with(' '),
                "{}",
                text.len()
            );
            total += text.len();
        }
        feed.finish();
        assert!(total > 0 && total <= 10_000);
    }
}
