//! The engine as a Python class: opened from settings, speaking texts,
//! SSML, phonemes and books, its voices' style tables handed out.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use kokoro::book::{Book, BookOptions, Event as BookEvent, Output};
use kokoro::captions::{cues, words_json, CaptionFormat, CaptionOptions, WordTime};
use kokoro::settings::{Given, Settings};
use kokoro::text::document::{self, InputFormat, ReadOptions};
use kokoro::text::ssml::Ssml;
use kokoro::{Event, EventFn, Lang, Pauses, Request, Segment, SpeakOptions, Speech, Tts};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::errors::{self, to_py};
use crate::stream::{segment, words, Feed, Stream};
use crate::wait;

/// Settings layered as the command layers them: defaults, the config file,
/// `KOKORO_*` variables, then what the caller gave (`(name, key, value)`).
pub fn settings(config: Option<&Path>, given: &[(String, String, String)]) -> PyResult<Settings> {
    // Keys and values are checked where settings are loaded, as the command's are.
    let values: Vec<Given> = given
        .iter()
        .map(|(name, key, raw)| Given::new(name.clone(), key.clone(), raw.clone()))
        .collect();
    kokoro::settings::load(config, &|k| std::env::var(k).ok(), &values).map_err(to_py)
}

/// What a call asks for beside its text.
#[derive(FromPyObject, Default)]
#[pyo3(from_item_all)]
pub struct Ask {
    /// A voice or blend; `None`: the settings' voice.
    pub voice: Option<String>,
    /// `None`: the settings' speed.
    pub speed: Option<f32>,
    /// `None`: the settings' language, else the voice's.
    pub lang: Option<String>,
    /// Pauses (sentence, clause, paragraph) in seconds, trimming each chunk;
    /// `None`: the model's audio as it is.
    pub pauses: Option<(f32, f32, f32)>,
}

/// The engine, shared by every thread that holds it.
#[pyclass(frozen, module = "kokoro_rs._native")]
pub struct Engine {
    pub(crate) tts: Tts,
    settings: Settings,
}

#[pymethods]
impl Engine {
    /// Opens the engine (fetching and verifying what is missing): `given`
    /// settings, the `config` file, `events(kind, message)` told of fetching,
    /// the form chosen and warnings; `timed=False` runs without word timings.
    #[new]
    #[pyo3(signature = (given, config=None, events=None, timed=true, streaming=false))]
    fn new(
        py: Python<'_>,
        given: Vec<(String, String, String)>,
        config: Option<PathBuf>,
        events: Option<Py<PyAny>>,
        timed: bool,
        streaming: bool,
    ) -> PyResult<Self> {
        let settings = settings(config.as_deref(), &given)?;
        let on_event: Option<EventFn> = events.map(|f| {
            Arc::new(move |e: &Event| {
                let (kind, message) = describe(e);
                Python::attach(|py| {
                    // A failing callback must not stop the engine.
                    let _ = f.call1(py, (kind, message));
                });
            }) as EventFn
        });
        let config = settings
            .engine_config(settings.workers(streaming), !timed, on_event)
            .map_err(to_py)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let tts = wait::run(py, &cancel, move || Tts::open(config))?;
        Ok(Self { tts, settings })
    }

    /// Whether words are timed.
    #[getter]
    fn timed(&self) -> bool {
        self.tts.timed()
    }

    /// The worker layout in words.
    #[getter]
    fn layout(&self) -> String {
        self.tts.describe().to_string()
    }

    /// The settings' voice, speed and language.
    #[getter]
    fn defaults(&self) -> (String, f32, Option<String>) {
        (
            self.settings.voice.clone(),
            self.settings.speed,
            self.settings.lang.clone(),
        )
    }

    /// Every voice: `(name, language code or None, gender)`, sorted by name.
    fn voices(&self) -> Vec<(String, Option<String>, String)> {
        let mut all: Vec<_> = self
            .tts
            .voices()
            .into_iter()
            .map(|v| {
                (
                    v.name,
                    v.lang.map(|l| l.code().to_string()),
                    format!("{:?}", v.gender).to_lowercase(),
                )
            })
            .collect();
        all.sort();
        all
    }

    /// A voice's (or blend's) style table, rows of 256 floats, flat.
    fn style<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let voice = self
            .tts
            .voice_set()
            .resolve(name)
            .map_err(|e| to_py(e.into()))?;
        Ok(PyArray1::from_vec(py, voice.table().to_vec()))
    }

    /// Speaks `text` (SSML with `ssml`, Kokoro phonemes with `phonemes`):
    /// the samples, and where each chunk and word lies. `style` (rows of
    /// 256 floats, flat) speaks with that table instead of the voice;
    /// `phoneme_words` times each phoneme instead of each word.
    #[pyo3(signature = (text, ask, style=None, phonemes=false, phoneme_words=false, ssml=false))]
    #[allow(clippy::too_many_arguments)]
    fn speak<'py>(
        &self,
        py: Python<'py>,
        text: String,
        ask: Ask,
        style: Option<PyReadonlyArray1<'py, f32>>,
        phonemes: bool,
        phoneme_words: bool,
        ssml: bool,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, Spoken)> {
        let ssml = ssml.then(|| parse_ssml(&text)).transpose()?;
        let style = style
            .map(|s| s.as_slice().map(<[f32]>::to_vec))
            .transpose()?;
        let (mut options, cancel) = self.options(&ask, ssml.as_ref(), style)?;
        options.phonemes = phonemes;
        options.phoneme_words = phoneme_words;
        let tts = self.tts.clone();
        let spoken_text = ssml
            .as_ref()
            .map_or_else(|| text.clone(), |s| s.text().to_string());
        let speech: Speech = wait::run(py, &cancel, move || match &ssml {
            Some(ssml) => tts.speak_ssml(ssml, &options),
            None => tts.speak(&text, &options),
        })?;
        let spoken = Spoken {
            text: spoken_text,
            segments: speech.segments,
            phoneme_words,
        };
        // The samples are handed over, not copied.
        Ok((PyArray1::from_vec(py, speech.samples), spoken))
    }

    /// `text` spoken chunk by chunk as each is made (the first short).
    #[pyo3(signature = (text, ask, style=None, phonemes=false, ssml=false))]
    fn stream(
        &self,
        text: String,
        ask: Ask,
        style: Option<PyReadonlyArray1<'_, f32>>,
        phonemes: bool,
        ssml: bool,
    ) -> PyResult<Stream> {
        let ssml = ssml.then(|| parse_ssml(&text)).transpose()?;
        let style = style
            .map(|s| s.as_slice().map(<[f32]>::to_vec))
            .transpose()?;
        let (mut options, cancel) = self.options(&ask, ssml.as_ref(), style)?;
        options.phonemes = phonemes;
        options.streaming = true;
        Ok(match ssml {
            Some(ssml) => {
                let spoken = ssml.text().to_string();
                Stream::new(self.tts.stream_ssml(ssml, &options), spoken, cancel)
            }
            None => Stream::new(self.tts.stream(text.clone(), &options), text, cancel),
        })
    }

    /// A feed: text pushed as it arrives (a language model's output),
    /// spoken sentence by sentence.
    fn feed(&self, ask: Ask) -> PyResult<Feed> {
        let (mut options, cancel) = self.options(&ask, None, None)?;
        options.streaming = true;
        let (feed, stream) = self.tts.feed(&options);
        Ok(Feed::new(feed, stream, cancel))
    }

    /// Speaks the document at `source` (text, Markdown, HTML, EPUB, PDF,
    /// SSML) into `output`: one audio file (M4B with chapters), an EPUB 3
    /// read-along book (`.epub`), or a directory of one file per chapter
    /// (`split`, resumable); `chapters` picks some (`1-3,5`); captions and
    /// word timestamps beside it; `progress(label, fraction, audio_seconds,
    /// seconds_left)` told as it goes. Returns (chapters, audio seconds).
    #[pyo3(signature = (source, output, ask, chapters=None, title=None, author=None, split=false, captions=None, timestamps=None, highlight_words=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn book(
        &self,
        py: Python<'_>,
        source: PathBuf,
        output: PathBuf,
        ask: Ask,
        chapters: Option<String>,
        title: Option<String>,
        author: Option<String>,
        split: bool,
        captions: Option<PathBuf>,
        timestamps: Option<PathBuf>,
        highlight_words: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(usize, f64)> {
        let bytes = std::fs::read(&source).map_err(|e| {
            errors::raise(
                "MissingFile",
                format!("cannot read {}: {e}", source.display()),
            )
        })?;
        let format = InputFormat::from_path(&source).unwrap_or_else(|| InputFormat::sniff(&bytes));
        let doc = document::read(&bytes, format, ReadOptions::default())
            .map_err(|e| errors::raise("InputError", format!("{}: {e}", source.display())))?;
        let chosen = chapters
            .map(|spec| kokoro::book::select(&spec, doc.chapters.len()))
            .transpose()
            .map_err(to_py)?;
        let ssml = match format {
            InputFormat::Ssml => Some(parse_ssml(
                String::from_utf8_lossy(&bytes).trim_start_matches('\u{feff}'),
            )?),
            _ => None,
        };
        let mut book = Book {
            ssml,
            epub: (format == InputFormat::Epub).then(|| Arc::from(bytes)),
            ..Book::from_document(&doc, format, chosen.as_deref())
        };
        book.title = title.or(book.title);
        book.author = author.or(book.author);
        let audio = match &output {
            _ if split => kokoro::Format::from_path(&output.join("x.wav")),
            p => kokoro::Format::from_path(p),
        };
        let read_along = output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("epub"));
        // What is made (the output itself is opened on the work's thread).
        let (format, made): (_, fn(PathBuf) -> Output) = match (split, read_along, audio) {
            (true, _, _) => (kokoro::Format::Wav, Output::Split),
            (false, true, _) => (kokoro::Format::M4a, Output::ReadAlong),
            (false, false, Some(f)) => (f, Output::file),
            (false, false, None) => {
                return Err(errors::raise(
                    "InputError",
                    format!(
                        "{}: the extension names no audio format (wav, mp3, flac, opus, ogg, m4a, m4b, aac, pcm, epub)",
                        output.display()
                    ),
                ))
            }
        };
        let caption = match captions {
            Some(p) => Some((
                kokoro::book::caption_format(&p).ok_or_else(|| {
                    errors::raise(
                        "InputError",
                        format!("{}: captions are .srt or .vtt", p.display()),
                    )
                })?,
                p,
            )),
            None => None,
        };
        let (speak, cancel) = self.options(&ask, book.ssml.as_ref(), None)?;
        let on_event = progress.map(|f| {
            Arc::new(move |e: &BookEvent| {
                if let BookEvent::Progress {
                    fraction,
                    audio_seconds,
                    label,
                    left,
                } = e
                {
                    let left = left.map(|d| d.as_secs_f64());
                    Python::attach(|py| {
                        let _ = f.call1(py, (label.clone(), *fraction, *audio_seconds, left));
                    });
                }
            }) as kokoro::book::EventFn
        });
        let options = BookOptions {
            narrator: Some(speak.voice.clone()),
            speak,
            timing: kokoro::book::Timing {
                captions: caption,
                timestamps,
            },
            depends_on: self.settings.depends_on().map_err(to_py)?,
            word_overlays: highlight_words,
            on_event,
            ..BookOptions::new(format)
        };
        let tts = self.tts.clone();
        let done = wait::run(py, &cancel, move || {
            kokoro::book::speak_book(&tts, &book, &options, made(output))
        })?;
        Ok((done.chapters, done.audio_seconds))
    }

    /// Writes `samples` to `path` in the format its extension names,
    /// complete or not at all.
    #[staticmethod]
    fn save(py: Python<'_>, path: PathBuf, samples: PyReadonlyArray1<'_, f32>) -> PyResult<()> {
        let speech = Speech {
            samples: samples.as_slice()?.to_vec(),
            sample_rate: kokoro::SAMPLE_RATE,
            segments: Vec::new(),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        wait::run(py, &cancel, move || speech.save(&path))
    }
}

impl Engine {
    /// The request made into work, through [`Tts::prepare`] as every door
    /// does; `style` replaces the voice's table; with the flag that stops it.
    fn options(
        &self,
        ask: &Ask,
        ssml: Option<&Ssml>,
        style: Option<Vec<f32>>,
    ) -> PyResult<(SpeakOptions, Arc<AtomicBool>)> {
        let lang = match ask.lang.as_deref().or(self.settings.lang.as_deref()) {
            Some(code) => Some(
                code.parse::<Lang>()
                    .map_err(|e| to_py(kokoro::Error::from(e)))?,
            ),
            None => None,
        };
        let request = Request {
            voice: ask
                .voice
                .clone()
                .unwrap_or_else(|| self.settings.voice.clone()),
            speed: ask.speed.unwrap_or(self.settings.speed),
            lang,
            aliases: &[],
        };
        let mut options = self.tts.prepare(&request, ssml).map_err(to_py)?.options;
        options.pauses = ask.pauses.map(|(sentence, clause, paragraph)| Pauses {
            sentence,
            clause,
            paragraph,
        });
        if let Some(table) = style {
            let voice =
                kokoro::infer::Voice::from_table("style", table).map_err(|e| to_py(e.into()))?;
            options.style = Some(Arc::new(voice));
        }
        let cancel = Arc::new(AtomicBool::new(false));
        options.cancel = Some(cancel.clone());
        Ok((options, cancel))
    }
}

/// `text` read as SSML, or the `InputError` that says where it is wrong.
fn parse_ssml(text: &str) -> PyResult<Ssml> {
    Ssml::parse(text).map_err(|e| errors::raise("InputError", format!("not valid SSML: {e}")))
}

/// An event as `(kind, message)` for Python's logging.
fn describe(e: &Event) -> (&'static str, String) {
    match e {
        Event::Fetch(kokoro::FetchEvent::Fetching { what, command }) => {
            ("fetch", format!("fetching {what}: {command}"))
        }
        Event::Fetch(kokoro::FetchEvent::Verified { what, path }) => {
            ("verified", format!("{what}: {}", path.display()))
        }
        Event::Warning(w) => ("warning", w.clone()),
        Event::Device(d) => ("device", d.clone()),
        Event::Form(f) => ("form", f.clone()),
        Event::Progress(p) => ("progress", p.clone()),
        other => ("info", format!("{other:?}")),
    }
}

/// A spoken text's chunks and words, and the text they point into.
#[pyclass(frozen, module = "kokoro_rs._native")]
pub struct Spoken {
    text: String,
    segments: Vec<Segment>,
    phoneme_words: bool,
}

#[pymethods]
impl Spoken {
    /// The text spoken (an SSML document's text without its markup).
    #[getter]
    fn text(&self) -> &str {
        &self.text
    }

    /// Each chunk: `(text, start, end, phonemes)`, times in seconds.
    fn segments(&self) -> Vec<(String, f64, f64, String)> {
        self.segments
            .iter()
            .map(|s| segment(&self.text, s))
            .collect()
    }

    /// Each word: `(word, start, end, span_start, span_end)`, times in
    /// seconds, the span in bytes of the text (with phoneme words, the
    /// phoneme and its position in its chunk's phonemes).
    fn words(&self) -> Vec<(String, f64, f64, usize, usize)> {
        let mut out = Vec::new();
        for s in &self.segments {
            out.extend(words(&self.text, s, self.phoneme_words));
        }
        out
    }

    /// Captions of the words, `srt` or `vtt`.
    #[pyo3(signature = (format, line_chars=42, lines=2))]
    fn captions(&self, format: &str, line_chars: usize, lines: usize) -> PyResult<String> {
        let format = match format.to_ascii_lowercase().as_str() {
            "srt" => CaptionFormat::Srt,
            "vtt" | "webvtt" => CaptionFormat::Vtt,
            other => {
                return Err(errors::raise(
                    "InputError",
                    format!("captions are srt or vtt, not `{other}`"),
                ))
            }
        };
        let all: Vec<kokoro::Word> = self
            .segments
            .iter()
            .flat_map(|s| s.words.iter().cloned())
            .collect();
        let options = CaptionOptions {
            line_chars: line_chars.max(1),
            lines: lines.max(1),
            ..CaptionOptions::default()
        };
        Ok(format.write(&cues(&self.text, &all, &options)))
    }

    /// The words as the command's `--timestamps` JSON.
    fn words_json(&self) -> String {
        let all: Vec<WordTime> = self
            .segments
            .iter()
            .flat_map(|s| s.words.iter().map(|w| WordTime::of(w, &self.text, 0, None)))
            .collect();
        words_json(&all)
    }
}
