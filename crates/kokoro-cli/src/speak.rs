//! The main job: the input read into a book, spoken by `kokoro::book` into
//! the output the plan names; and `--list-chapters`, `--phonemes-only` and
//! `--list-voices`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use kokoro::audio::{Cover, Dest, Format};
use kokoro::book::{Book, BookOptions, Output as BookOutput, Summary};
use kokoro::settings::Settings;
use kokoro::text::document::{Document, DocumentError, InputFormat, ReadOptions};
use kokoro::text::ssml::Ssml;
use kokoro::text::{Chunk, ChunkOptions, Diagnostic};
use kokoro::{SpeakOptions, Tts, Want};

use crate::cli::Args;
use crate::engine::{self, Log};
use crate::plan::{Action, Input, Output, Plan, Target};

/// The input, read.
pub struct Reading {
    pub doc: Document,
    pub format: InputFormat,
    pub ssml: Option<Ssml>,
    /// The bytes of an EPUB (a read-along book keeps its pages).
    pub epub: Option<Arc<[u8]>>,
}

/// The input read into chapters, its warnings told.
pub fn read_input(
    input: &Input,
    format: Option<InputFormat>,
    code_blocks: bool,
    log: &Log,
) -> Result<Reading> {
    let (bytes, name) = match input {
        Input::Text(t) => (t.clone().into_bytes(), "--text".to_string()),
        Input::Stdin => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("cannot read standard input")?;
            (b, "standard input".to_string())
        }
        Input::File(p) => (
            std::fs::read(p).with_context(|| format!("cannot read input file {}", p.display()))?,
            p.display().to_string(),
        ),
    };
    let format = format.unwrap_or_else(|| InputFormat::sniff(&bytes));
    let doc = match kokoro::text::document::read(&bytes, format, ReadOptions { code_blocks }) {
        Ok(doc) => doc,
        Err(DocumentError::NotUtf8(at)) => {
            bail!("{name} is not valid UTF-8 (invalid byte at offset {at})")
        }
        Err(DocumentError::Empty(_)) if format == InputFormat::Text => {
            bail!("{name} is empty: nothing to speak")
        }
        Err(e) => return Err(anyhow::Error::new(e).context(name)),
    };
    let ssml = match format {
        InputFormat::Ssml => {
            let text = std::str::from_utf8(&bytes).unwrap_or_default();
            Some(Ssml::parse(text.trim_start_matches('\u{feff}'))?)
        }
        _ => None,
    };
    for w in &doc.warnings {
        log.warn(&format!("{name}: {w}"));
    }
    log.debug(&format!(
        "{name}: read as {}, {} chapter(s)",
        format.name(),
        doc.chapters.len()
    ));
    let epub = (format == InputFormat::Epub).then(|| Arc::from(bytes));
    Ok(Reading {
        doc,
        format,
        ssml,
        epub,
    })
}

impl Reading {
    /// The chapters `chosen` (all for `None`) as a book, with the title,
    /// author and cover the flags give over the document's.
    pub fn book(&self, chosen: Option<&[usize]>, args: Option<&Args>) -> Result<Book> {
        let mut book = Book {
            ssml: self.ssml.clone(),
            epub: self.epub.clone(),
            ..Book::from_document(&self.doc, self.format, chosen)
        };
        if let Some(args) = args {
            if let Some(t) = &args.title {
                book.title = Some(t.clone());
            }
            if let Some(a) = &args.author {
                book.author = Some(a.clone());
            }
            if let Some(path) = &args.cover {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("--cover: cannot read {}", path.display()))?;
                book.cover = Some(Cover::sniff(bytes).with_context(|| {
                    format!("--cover: {} is neither a JPEG nor a PNG", path.display())
                })?);
            }
        }
        Ok(book)
    }

    /// The title a file gets when the document names none: the input's
    /// file name.
    fn fallback_title(&self, input: &Input) -> Option<String> {
        match input {
            Input::File(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()),
            _ => None,
        }
    }
}

/// The book's options for `tts`: the request prepared, the plan's pauses,
/// the settings' lexicon and model for what the audio depends on.
pub fn book_options(
    tts: &Tts,
    plan: &Plan,
    settings: &Settings,
    ssml: Option<&Ssml>,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<BookOptions> {
    let prepared = tts.prepare(&engine::request(settings, plan.lang), ssml)?;
    let speak = SpeakOptions {
        pauses: plan.pauses,
        streaming: plan.streaming,
        cancel: Some(cancel.clone()),
        on_chunk: Some(Arc::new(move |c: &Chunk, text: &str| {
            show_chunk(c, text, &log)
        })),
        ..prepared.options
    };
    Ok(BookOptions {
        narrator: Some(speak.voice.clone()),
        speak,
        timing: kokoro::book::Timing {
            captions: plan.captions.clone(),
            timestamps: plan.timestamps.clone(),
        },
        depends_on: settings.depends_on()?,
        on_event: Some(log.book_events()),
        ..BookOptions::new(plan.format)
    })
}

/// The command without a subcommand, but for standard input spoken as it
/// arrives (`live`).
pub fn main(
    args: &Args,
    plan: &Plan,
    settings: &Settings,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<()> {
    let plan = plan.clone();
    let reading = read_input(&plan.input, plan.input_format, args.code_blocks, &log)?;
    let output = match &plan.action {
        Action::ListChapters => return list_chapters(&reading.doc, settings.speed),
        Action::PrintPhonemes => None,
        Action::Speak(output) => Some(output),
    };
    let chosen = match args.chapters.as_deref() {
        Some(spec) => {
            Some(kokoro::book::select(spec, reading.doc.chapters.len()).context("--chapters")?)
        }
        None => None,
    };
    let mut book = reading.book(chosen.as_deref(), Some(args))?;
    let request = engine::request(settings, plan.lang);
    let lang = kokoro::request::lang_of(&request, reading.ssml.as_ref());
    let Some(output) = output else {
        let frontends = settings.frontends(Some(&log.events()))?;
        return print_phonemes(&*frontends.get(lang)?, &book, cancel);
    };
    if book.title.is_none() && matches!(plan.format, Format::M4b | Format::M4a) {
        book.title = reading.fallback_title(&plan.input);
    }
    // The engine comes up on a thread of its own while the output opens and
    // the front end loads: the first audio comes sooner, and an output that
    // cannot be written fails before any synthesis.
    let sentences = book
        .chapters
        .iter()
        .map(|c| kokoro::text::split_sentences(&c.text).len())
        .sum();
    let workers = kokoro::Workers {
        sentences: Some(sentences),
        ..plan.workers
    };
    let config = engine::config(settings, workers, plan.skip_timing, log)?;
    let frontends = config.frontends.clone();
    let started = std::time::Instant::now();
    let opening = std::thread::Builder::new()
        .name("kokoro-open".into())
        .spawn(move || Tts::open(config))
        .context("cannot start a thread to open the engine")?;
    let (out, place) = open_output(output)?;
    let front = std::time::Instant::now();
    if let Some(frontends) = &frontends {
        frontends.get(lang)?;
    }
    log.debug(&format!(
        "language: {} ({}), front end ready in {:.2} s",
        lang.code(),
        lang.name(),
        front.elapsed().as_secs_f64()
    ));
    while !opening.is_finished() {
        if cancel.load(Ordering::SeqCst) {
            return Err(kokoro::Error::Cancelled.into());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let tts = opening
        .join()
        .map_err(|_| anyhow::anyhow!("opening the engine panicked"))??;
    log.debug(&format!(
        "engine ready in {:.2} s; layout: {}",
        started.elapsed().as_secs_f64(),
        tts.describe()
    ));
    let mut options = book_options(&tts, &plan, settings, book.ssml.as_ref(), cancel, log)?;
    options.word_overlays = args.highlight_words;
    let done = kokoro::book::speak_book(&tts, &book, &options, out)?;
    drop(options); // the progress bar goes
    report(&done, &place, book.chapters.len(), tts.describe(), &log);
    Ok(())
}

/// The output to speak into, opened (a file that cannot be written fails
/// here), and where it is in words.
fn open_output(output: &Output) -> Result<(BookOutput, String)> {
    Ok(match output {
        Output::Split { dir } => {
            kokoro::book::Record::open(dir)?;
            (BookOutput::Split(dir.clone()), dir.display().to_string())
        }
        Output::ReadAlong { path } => {
            drop(Dest::file(path, false)?);
            (
                BookOutput::ReadAlong(path.clone()),
                path.display().to_string(),
            )
        }
        Output::Merged(Target::File { path, in_place }) => (
            BookOutput::open_file(path, *in_place)?,
            path.display().to_string(),
        ),
        Output::Merged(Target::Stdout) => (BookOutput::Dest(Dest::stdout()), "-".into()),
        Output::Merged(Target::Device) => (
            BookOutput::Encoder(engine::open_player()?),
            "audio device".into(),
        ),
    })
}

/// What a run came to, on stderr.
fn report(done: &Summary, place: &str, chapters: usize, layout: &str, log: &Log) {
    if done.all_done_already() {
        log.info(&format!(
            "{place}: all {chapters} chapter(s) were done already"
        ));
        return;
    }
    log.info(&format!(
        "{place}: {:.1} s of audio in {:.1} s (real-time factor {:.2}, {layout})",
        done.audio_seconds,
        done.elapsed,
        done.elapsed / done.audio_seconds.max(1e-9),
    ));
}

/// Diagnostics, and under `--debug` each chunk and its phonemes, on stderr.
fn show_chunk(c: &Chunk, text: &str, log: &Log) {
    for d in &c.diagnostics {
        match d {
            Diagnostic::OutOfLexicon { .. } => log.debug(&d.to_string()),
            _ => log.warn(&d.to_string()),
        }
    }
    if log.debug {
        eprintln!(
            "chunk {} [{} ids] {:?}\n  {}{}",
            c.index,
            c.ids.len(),
            kokoro::text::normalize(text.get(c.span.clone()).unwrap_or_default()),
            c.phonemes,
            pause_note(c)
        );
    }
}

/// How `--debug` shows pause markup around a chunk.
fn pause_note(c: &Chunk) -> String {
    let mut note = String::new();
    if c.pause_before_ms > 0 {
        note.push_str(&format!("\n  (pause {} ms before)", c.pause_before_ms));
    }
    if let Some(ms) = c.pause_after_ms {
        note.push_str(&format!("\n  (pause {ms} ms after)"));
    }
    note
}

/// `--list-chapters`: index, title, words and an estimate of the audio's length.
fn list_chapters(doc: &Document, speed: f32) -> Result<()> {
    let mut out = std::io::stdout().lock();
    // Kokoro reads English prose at about 2.6 words a second at speed 1.
    let secs = |words: usize| words as f64 / (2.6 * f64::from(speed.max(0.1)));
    let mut total = 0;
    for (i, c) in doc.chapters.iter().enumerate() {
        let words = c.words();
        total += words;
        let title = if c.title.is_empty() {
            "(untitled)"
        } else {
            &c.title
        };
        let estimate = engine::clock(secs(words));
        writeln!(out, "{}\t{title}\t{words} words\t~{estimate}", i + 1)?;
    }
    let estimate = engine::clock(secs(total));
    let count = doc.chapters.len();
    writeln!(out, "total\t{count} chapter(s)\t{total} words\t~{estimate}")?;
    Ok(())
}

/// `--phonemes-only`: chunks, ids and phonemes on stdout, diagnostics on stderr.
fn print_phonemes(
    frontend: &kokoro::text::Frontend,
    book: &Book,
    cancel: &Arc<AtomicBool>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut any = false;
    for chapter in &book.chapters {
        if book.chapters.len() > 1 || !chapter.title.is_empty() {
            writeln!(out, "# chapter {}: {}", chapter.number + 1, chapter.title)?;
        }
        let text = &chapter.text;
        let chunks = frontend
            .chunks(text, ChunkOptions::default())
            .with_cancel(cancel.clone());
        for c in chunks {
            any = true;
            if c.pause_before_ms > 0 {
                writeln!(out, "# pause {} ms", c.pause_before_ms)?;
            }
            let said = kokoro::text::normalize(&text[c.span.clone()]);
            writeln!(out, "# chunk {} ({} ids): {said}", c.index, c.ids.len())?;
            writeln!(out, "{}", c.phonemes)?;
            if let Some(ms) = c.pause_after_ms {
                writeln!(out, "# pause {ms} ms")?;
            }
            for d in &c.diagnostics {
                eprintln!("kokoro: chunk {}: {d}", c.index);
            }
        }
        if cancel.load(Ordering::SeqCst) {
            return Err(kokoro::Error::Cancelled.into());
        }
    }
    if !any {
        bail!("the input has nothing to speak");
    }
    Ok(())
}

/// `--list-voices`: name, language and gender of each voice.
pub fn list_voices(settings: &Settings, log: &Log) -> Result<()> {
    let want = Want {
        runtime: false,
        model: false,
        voices: true,
    };
    let paths = settings
        .assets()
        .resolve(want, &mut |e| log.event(&kokoro::Event::Fetch(e)))?;
    for name in kokoro::infer::VoiceSet::open(&paths.voices)?.names() {
        let v = kokoro::VoiceInfo::of(name);
        println!("{name}\t{}\t{}", v.lang_code(), v.gender.as_str());
    }
    Ok(())
}
