//! The main job: settings, assets, text, scheduling, output.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kokoro_infer::{
    init_runtime, Cache, FetchEvent, Joiner, KokoroSession, Pauses, VoiceSet, Want,
};
use kokoro_sched::{Audio, Control, Layout, Request, SinkError};
use kokoro_text::document::{Chapter, Document, DocumentError, InputFormat, ReadOptions};
use kokoro_text::{ChunkOptions, Diagnostic, Frontend, G2p, Lang, Lexicon, OovFallback};

use crate::book;
use crate::cli::Args;
use crate::output::{self, Dest, Format};
use crate::settings::{self, Settings};

/// The run was stopped by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Where the text comes from.
enum Input {
    Text(String),
    Stdin,
    File(PathBuf),
}

pub fn main(mut args: Args) -> Result<()> {
    // Ctrl-C only raises a flag: the run stops between chunks and the output's
    // temporary file is removed. Failing to install the handler only loses that.
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let settings = settings::load(&args, &|k| std::env::var(k).ok())?;
    let log = Log {
        quiet: args.quiet,
        debug: args.debug,
    };

    if args.list_languages {
        for lang in Lang::ALL {
            println!("{}\t{}", lang.code(), lang.name());
        }
        return Ok(());
    }

    let cache = Cache::new(match &settings.cache_dir {
        Some(dir) => dir.clone(),
        None => Cache::default_dir()
            .context("no per-user cache directory on this platform; set KOKORO_CACHE_DIR")?,
    });

    if let Some(crate::cli::Command::Serve(serve)) = &args.command {
        return serve_main(serve, &settings, &cache, &log);
    }

    if args.list_voices {
        let voices = voice_set(&cache, &settings, &log)?;
        for name in voices.names() {
            println!("{name}\t{}\t{}", voice_language(name), voice_gender(name));
        }
        return Ok(());
    }

    // --text "..." OUT: the one positional argument is the output.
    if args.text.is_some() && args.output.is_none() {
        args.output = args.input.take();
    }
    let input = match (&args.text, &args.input) {
        (Some(_), Some(_)) => bail!("give either --text or an INPUT file, not both"),
        (Some(t), None) => Input::Text(t.clone()),
        (None, Some(p)) if p.as_os_str() == "-" => Input::Stdin,
        (None, Some(p)) => Input::File(p.clone()),
        (None, None) => bail!(
            "no input: give a text file, `-` for standard input, or --text \"...\" (see --help)"
        ),
    };
    let (bytes, name) = read_bytes(&input)?;
    let input_format = match (&args.input_format, &input) {
        (Some(f), _) => f.parse::<InputFormat>()?,
        (None, Input::File(p)) => {
            InputFormat::from_path(p).unwrap_or_else(|| InputFormat::sniff(&bytes))
        }
        (None, _) => InputFormat::sniff(&bytes),
    };
    let doc = read_document(&bytes, &name, input_format, args.code_blocks)?;
    drop(bytes);
    for w in &doc.warnings {
        log.warn(&format!("{name}: {w}"));
    }
    log.debug(&format!(
        "{name}: read as {}, {} chapter(s)",
        input_format.name(),
        doc.chapters.len()
    ));
    if args.list_chapters {
        return list_chapters(&doc.chapters, settings.speed);
    }
    let selected = match &args.chapters {
        Some(spec) => book::select(spec, doc.chapters.len())?,
        None => (0..doc.chapters.len()).collect(),
    };
    let chapters: Vec<(usize, &Chapter)> =
        selected.iter().map(|&i| (i, &doc.chapters[i])).collect();

    let lang = choose_lang(settings.lang.as_deref(), &settings.voice, &log)?;
    let lexicon = load_lexicon(&settings)?;
    let frontend = Frontend::new(G2p::new(lang, fallback(&cache, &log))?.with_lexicon(lexicon));
    log.debug(&format!("language: {} ({})", lang.code(), lang.name()));
    if args.phonemes_only {
        return print_phonemes(&frontend, &chapters);
    }

    let format = match (&args.format, args.float) {
        (Some(f), _) => f.parse::<Format>()?,
        (None, true) => Format::WavFloat,
        (None, false) => args
            .output
            .as_deref()
            .and_then(Format::from_path)
            .unwrap_or(Format::Wav),
    };
    let split_dir = args.split_output.clone();
    let output = match &args.output {
        Some(p) => p.clone(),
        None if args.stream => PathBuf::from("-"),
        None => match &input {
            Input::File(p) => {
                PathBuf::from(p.file_stem().unwrap_or_default()).with_extension(format.extension())
            }
            _ => PathBuf::from("kokoro").with_extension(format.extension()),
        },
    };
    let to_stdout = split_dir.is_none() && output.as_os_str() == "-";
    let pauses = shaping(&args)?;
    // Open the output first: an unwritable path fails before any work.
    let mut single = match &split_dir {
        Some(_) => None,
        None if play_on_device(&args) => Some(open_player()?),
        None => {
            let mut dest = if to_stdout {
                Dest::stdout()
            } else {
                Dest::file(&output, args.stream)?
            };
            if format == Format::Mp3 && chapters.len() > 1 && !dest.is_stream() {
                // Room for the chapter tag, written over at the end.
                dest.write_all(&book::id3_chapters(&markers_placeholder(&chapters), 0)?)?;
            }
            Some(output::encoder(format, dest)?)
        }
    };
    let mut manifest = match &split_dir {
        Some(dir) => Some(book::Manifest::open(dir)?),
        None => None,
    };

    let voices = voice_set(&cache, &settings, &log)?;
    let voice = voices.resolve(&settings.voice)?;

    // A stream to a player starts with a short chunk so that it is heard at once.
    // A file gets the same chunks whether it is streamed or not, so the two are
    // equal. Chosen pauses go between model calls, so each sentence gets its own.
    let chunk_options = ChunkOptions {
        sentence_per_chunk: pauses.is_some(),
        ..if to_stdout {
            ChunkOptions::streaming()
        } else {
            ChunkOptions::default()
        }
    };
    let sentences: usize = chapters
        .iter()
        .map(|(_, c)| kokoro_text::split_sentences(&c.text).len())
        .sum();

    let runtime = match &settings.ort_lib {
        Some(p) => p.clone(),
        None => {
            ensure(
                &cache,
                Want {
                    runtime: true,
                    model: false,
                    voices: false,
                },
                &log,
            )?
            .runtime
        }
    };
    init_runtime(&runtime)?;
    let model = match &settings.model {
        Some(p) => p.clone(),
        None => {
            ensure(
                &cache,
                Want {
                    runtime: false,
                    model: true,
                    voices: false,
                },
                &log,
            )?
            .model
        }
    };

    let layout = choose_layout(&settings, sentences, to_stdout || play_on_device(&args));
    log.debug(&format!("layout: {layout} for {sentences} sentences"));
    let scheduler = layout.build(|options| KokoroSession::open(&model, options))?;
    let mut speaker = Speaker {
        frontend: &frontend,
        scheduler,
        voice: &voice,
        speed: settings.speed,
        chunk_options,
        pauses,
        log: &log,
        cancel: cancel.clone(),
        bar: progress_bar(&log),
        total_chars: chapters.iter().map(|(_, c)| c.text.len()).sum(),
        done_chars: 0,
        audio_before: 0.0,
        started: std::time::Instant::now(),
    };

    let mut total = Totals::default();
    let mut skipped = 0;
    if let (Some(dir), Some(manifest)) = (&split_dir, manifest.as_mut()) {
        // One file per chapter, each written atomically; a rerun skips those done.
        // Everything that changes the audio: voice, speed, pauses, language, the
        // user's lexicon and the model.
        let lexicon_text = match &settings.lexicon {
            Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
            None => String::new(),
        };
        let voice_key = format!(
            "{} {} {:?} {} {:?}\n{lexicon_text}",
            settings.voice,
            settings.speed,
            pauses,
            lang.code(),
            settings.model,
        );
        for (k, &(i, chapter)) in chapters.iter().enumerate() {
            let file = book::file_name(i, &chapter.title, format);
            let print = fingerprint_of(chapter, &voice_key, format);
            let label = chapter_label(k, chapters.len(), i, chapter);
            if manifest.is_done(&file, &print) {
                log.info(&format!("{label}: {file} is done already; skipped"));
                speaker.done_chars += chapter.text.len();
                skipped += 1;
                continue;
            }
            let mut encoder = output::encoder(format, Dest::file(&dir.join(&file), false)?)?;
            let mut written = 0;
            let summary = speaker.speak(&chapter.text, encoder.as_mut(), &mut written, &label)?;
            encoder.finish()?.commit()?;
            manifest.mark_done(&file, &print)?;
            total.add(&summary);
            log.info(&format!(
                "{label}: {} ({:.1} s of audio)",
                dir.join(&file).display(),
                summary.audio_seconds()
            ));
        }
    } else if let Some(mut encoder) = single.take() {
        let mut written = 0u64;
        let mut markers = Vec::new();
        for (k, &(i, chapter)) in chapters.iter().enumerate() {
            if k > 0 {
                encoder.write(&vec![0.0; kokoro_infer::audio::samples_in(CHAPTER_GAP_MS)])?;
                written += kokoro_infer::audio::samples_in(CHAPTER_GAP_MS) as u64;
            }
            markers.push(book::Marker {
                title: marker_title(i, chapter),
                start: written,
            });
            let label = chapter_label(k, chapters.len(), i, chapter);
            let summary = speaker.speak(&chapter.text, encoder.as_mut(), &mut written, &label)?;
            total.add(&summary);
            if speaker.bar.is_none() && !label.is_empty() {
                log.info(&format!(
                    "{label}: {:.1} s of audio",
                    summary.audio_seconds()
                ));
            }
        }
        if total.chunks == 0 {
            bail!("the input has nothing to speak");
        }
        let mut dest = encoder.finish()?;
        if chapters.len() > 1 && !dest.is_stream() {
            match format {
                Format::Mp3 => dest.patch(0, &book::id3_chapters(&markers, written)?)?,
                Format::Wav | Format::WavFloat => {
                    crate::wav::append_chunks(&mut dest, &book::wav_cues(&markers))?
                }
                _ => {}
            }
        }
        dest.commit()?;
    }
    if let Some(bar) = speaker.bar.take() {
        bar.finish_and_clear();
    }
    if skipped == chapters.len() {
        log.info(&format!(
            "{}: all {} chapter(s) were done already",
            split_dir.as_deref().unwrap_or(Path::new(".")).display(),
            chapters.len()
        ));
        return Ok(());
    }
    let place = match &split_dir {
        Some(dir) => dir.display().to_string(),
        None if play_on_device(&args) => "audio device".to_string(),
        None => output.display().to_string(),
    };
    log.info(&format!(
        "{place}: {:.1} s of audio in {:.1} s (real-time factor {:.2}, {})",
        total.audio_seconds,
        total.elapsed,
        total.elapsed / total.audio_seconds.max(1e-9),
        speaker.scheduler.describe()
    ));
    Ok(())
}

/// `kokoro serve`: assets, sessions, then the server until Ctrl-C.
#[cfg(feature = "server")]
fn serve_main(
    serve: &crate::cli::ServeArgs,
    settings: &Settings,
    cache: &Cache,
    log: &Log,
) -> Result<()> {
    let host: std::net::IpAddr = serve
        .host
        .parse()
        .with_context(|| format!("--host: `{}` is not an IP address", serve.host))?;
    if serve.queue == 0 {
        bail!("--queue: 0 would refuse every request");
    }
    let runtime = match &settings.ort_lib {
        Some(p) => p.clone(),
        None => ensure(cache, Want::ALL, log)?.runtime,
    };
    init_runtime(&runtime)?;
    let model = match &settings.model {
        Some(p) => p.clone(),
        None => ensure(cache, Want::ALL, log)?.model,
    };
    let voices = voice_set(cache, settings, log)?;
    voices.resolve(&settings.voice)?;
    let lexicon = load_lexicon(settings)?;
    // Requests are short and wait for their first audio: the streaming layout.
    let layout = choose_layout(settings, usize::MAX, true);
    let engine = crate::serve::Engine {
        layout,
        model,
        fallback: fallback(cache, log),
        lexicon,
    };
    crate::serve::serve(
        crate::serve::ServeOptions {
            addr: std::net::SocketAddr::new(host, serve.port),
            api_key: serve.api_key.clone(),
            queue: serve.queue,
            default_voice: settings.voice.clone(),
        },
        engine,
        voices,
    )
}

#[cfg(not(feature = "server"))]
fn serve_main(_: &crate::cli::ServeArgs, _: &Settings, _: &Cache, _: &Log) -> Result<()> {
    bail!("this kokoro was built without the server: build it with `--features server`")
}

/// The user's lexicon, or an empty one.
fn load_lexicon(settings: &Settings) -> Result<Lexicon> {
    Ok(match &settings.lexicon {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read lexicon {}", path.display()))?;
            Lexicon::parse(&text).with_context(|| format!("lexicon {}", path.display()))?
        }
        None => Lexicon::default(),
    })
}

/// Silence between chapters in one file, in milliseconds.
const CHAPTER_GAP_MS: u32 = 1500;

/// What the runs added up to.
#[derive(Debug, Default)]
struct Totals {
    chunks: usize,
    audio_seconds: f64,
    elapsed: f64,
}

impl Totals {
    fn add(&mut self, s: &kokoro_sched::Summary) {
        self.chunks += s.chunks;
        self.audio_seconds += s.audio_seconds();
        self.elapsed += s.elapsed.as_secs_f64();
    }
}

/// Speaks texts through one scheduler, into any encoder.
struct Speaker<'a> {
    frontend: &'a Frontend,
    scheduler: Box<dyn kokoro_sched::Scheduler>,
    voice: &'a kokoro_infer::Voice,
    speed: f32,
    chunk_options: ChunkOptions,
    pauses: Option<Pauses>,
    log: &'a Log,
    cancel: Arc<AtomicBool>,
    bar: Option<ProgressBar>,
    /// Characters in all the chapters to speak, and in those already spoken.
    total_chars: usize,
    done_chars: usize,
    /// Audio made by earlier chapters, in seconds, and when the whole run began.
    audio_before: f64,
    started: std::time::Instant,
}

impl Speaker<'_> {
    /// Speaks `text` into `encoder`; `written` counts the samples written.
    fn speak(
        &mut self,
        text: &str,
        encoder: &mut dyn output::Encoder,
        written: &mut u64,
        label: &str,
    ) -> Result<kokoro_sched::Summary> {
        let log = self.log;
        let (before, total, len) = (self.done_chars, self.total_chars.max(1), text.len());
        let (audio_before, started) = (self.audio_before, self.started);
        let prefix = if label.is_empty() {
            String::new()
        } else {
            format!("{label}: ")
        };
        let control = Control {
            progress: self.bar.clone().map(|bar| {
                Arc::new(move |p: &kokoro_sched::Progress| {
                    // Over the whole book: text spoken, audio made, time left.
                    let done = (before as f64 + p.fraction_done * len as f64) / total as f64;
                    bar.set_position((done * 1000.0) as u64);
                    let elapsed = started.elapsed().as_secs_f64();
                    let eta = if done > 0.01 {
                        format!(", {} left", clock(elapsed * (1.0 - done) / done))
                    } else {
                        String::new()
                    };
                    bar.set_message(format!(
                        "{prefix}{} of audio{eta}",
                        clock(audio_before + p.audio_seconds)
                    ));
                }) as kokoro_sched::ProgressFn
            }),
            cancel: self.cancel.clone(),
        };
        let request = Request {
            text,
            voice: self.voice,
            speed: self.speed,
        };
        let mut chunks = self.frontend.chunks(text, self.chunk_options).inspect(|c| {
            report_diagnostics(&c.diagnostics, log);
            if log.debug {
                eprintln!(
                    "chunk {} [{} ids] {:?}\n  {}{}",
                    c.index,
                    c.ids.len(),
                    kokoro_text::normalize(&text[c.span.clone()]),
                    c.phonemes,
                    pause_note(c)
                );
            }
        });
        let mut joiner = self.pauses.map_or_else(Joiner::raw, Joiner::new);
        let mut joined = Vec::new();
        let mut sink = |audio: Audio| -> Result<(), SinkError> {
            joined.clear();
            joiner.push(&audio.samples, audio.boundary(), &mut joined);
            *written += joined.len() as u64;
            Ok(encoder.write(&joined)?)
        };
        let result = self
            .scheduler
            .run(&request, &mut chunks, &mut sink, &control);
        self.done_chars += text.len();
        match result {
            Ok(s) => {
                self.audio_before += s.audio_seconds();
                Ok(s)
            }
            Err(kokoro_sched::Error::Cancelled) => Err(Interrupted.into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// "chapter 3 (The Return), 2/5" for progress and messages; nothing for a single text.
fn chapter_label(k: usize, of: usize, index: usize, chapter: &Chapter) -> String {
    if of <= 1 && chapter.title.is_empty() {
        return String::new();
    }
    let title = if chapter.title.is_empty() {
        String::new()
    } else {
        format!(" ({})", chapter.title)
    };
    format!("chapter {}{title}, {}/{of}", index + 1, k + 1)
}

fn marker_title(index: usize, chapter: &Chapter) -> String {
    if chapter.title.is_empty() {
        format!("Chapter {}", index + 1)
    } else {
        chapter.title.clone()
    }
}

/// Markers with the real titles and no times: the chapter tag's size.
fn markers_placeholder(chapters: &[(usize, &Chapter)]) -> Vec<book::Marker> {
    chapters
        .iter()
        .map(|&(i, c)| book::Marker {
            title: marker_title(i, c),
            start: 0,
        })
        .collect()
}

/// What a chapter file depends on: its text, the voice, shaping, lexicon and model, the format.
fn fingerprint_of(chapter: &Chapter, voice_key: &str, format: Format) -> String {
    book::fingerprint(&[
        &chapter.text,
        voice_key,
        format.extension(),
        &format!("{format:?}"),
    ])
}

/// `--list-chapters`: index, title, words and an estimate of the audio's length.
fn list_chapters(chapters: &[Chapter], speed: f32) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // Kokoro reads English prose at about 2.6 words a second at speed 1.
    let secs = |words: usize| words as f64 / (2.6 * f64::from(speed.max(0.1)));
    let mut total = 0;
    for (i, c) in chapters.iter().enumerate() {
        let words = c.words();
        total += words;
        writeln!(
            out,
            "{}\t{}\t{words} words\t~{}",
            i + 1,
            if c.title.is_empty() {
                "(untitled)"
            } else {
                &c.title
            },
            clock(secs(words))
        )?;
    }
    writeln!(
        out,
        "total\t{} chapter(s)\t{total} words\t~{}",
        chapters.len(),
        clock(secs(total))
    )?;
    Ok(())
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

struct Log {
    quiet: bool,
    debug: bool,
}

impl Log {
    fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("kokoro: {msg}");
        }
    }
    fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("kokoro: warning: {msg}");
        }
    }
    fn debug(&self, msg: &str) {
        if self.debug {
            eprintln!("kokoro: {msg}");
        }
    }
}

fn read_bytes(input: &Input) -> Result<(Vec<u8>, String)> {
    Ok(match input {
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
    })
}

/// The input read into chapters; text that is empty, or not UTF-8, is an error
/// that names the input.
fn read_document(
    bytes: &[u8],
    name: &str,
    format: InputFormat,
    code_blocks: bool,
) -> Result<Document> {
    let opts = ReadOptions { code_blocks };
    match kokoro_text::document::read(bytes, format, opts) {
        Ok(doc) => Ok(doc),
        Err(DocumentError::NotUtf8(at)) => {
            bail!("{name} is not valid UTF-8 (invalid byte at offset {at})")
        }
        Err(DocumentError::Empty(_)) if format == InputFormat::Text => {
            bail!("{name} is empty: nothing to speak")
        }
        Err(e) => Err(anyhow::Error::new(e).context(name.to_string())),
    }
}

fn ensure(cache: &Cache, want: Want, log: &Log) -> Result<kokoro_infer::AssetPaths> {
    let paths = cache.ensure(want, &mut |event| match event {
        FetchEvent::Fetching { what, command } => log.info(&format!(
            "fetching {what} ({command}) into {}",
            cache.dir().display()
        )),
        FetchEvent::Verified { what, path } => {
            log.debug(&format!("{what}: {} (SHA-256 verified)", path.display()))
        }
    })?;
    Ok(paths)
}

fn voice_set(cache: &Cache, settings: &Settings, log: &Log) -> Result<VoiceSet> {
    let path = match &settings.voices {
        Some(p) => p.clone(),
        None => {
            ensure(
                cache,
                Want {
                    runtime: false,
                    model: false,
                    voices: true,
                },
                log,
            )?
            .voices
        }
    };
    Ok(VoiceSet::open(&path)?)
}

/// How `--debug` and `--phonemes-only` show pause markup around a chunk.
fn pause_note(c: &kokoro_text::Chunk) -> String {
    let mut note = String::new();
    if c.pause_before_ms > 0 {
        note.push_str(&format!("\n  (pause {} ms before)", c.pause_before_ms));
    }
    if let Some(ms) = c.pause_after_ms {
        note.push_str(&format!("\n  (pause {ms} ms after)"));
    }
    note
}

pub(crate) fn voice_language(name: &str) -> &'static str {
    Lang::from_voice(name).map_or("?", Lang::code)
}

/// The language to speak: `--lang` when given, else the (first) voice's. A voice
/// of another language still speaks, with a warning: its accent will show.
fn choose_lang(code: Option<&str>, voice: &str, log: &Log) -> Result<Lang> {
    let first = voice
        .split([',', ':', '+'])
        .next()
        .unwrap_or_default()
        .trim();
    let of_voice = Lang::from_voice(first);
    Ok(match (code, of_voice) {
        (Some(code), of_voice) => {
            let lang = code.parse::<Lang>()?;
            if let Some(v) = of_voice.filter(|&v| v != lang) {
                log.warn(&format!(
                    "voice `{first}` is {} but the text is read as {}; expect an accent",
                    v.name(),
                    lang.name()
                ));
            }
            lang
        }
        (None, Some(lang)) => lang,
        (None, None) => {
            log.warn(&format!(
                "cannot tell the language of voice `{first}`; reading en-us (use --lang to choose)"
            ));
            Lang::EnUs
        }
    })
}

pub(crate) fn voice_gender(name: &str) -> &'static str {
    match name.chars().nth(1) {
        Some('f') => "female",
        Some('m') => "male",
        _ => "?",
    }
}

#[cfg(feature = "espeak")]
fn fallback(cache: &Cache, log: &Log) -> Arc<dyn OovFallback> {
    match kokoro_text::EspeakFallback::install(&cache.dir().join("espeak-ng-data")) {
        Ok(fb) => Arc::new(fb),
        Err(e) => {
            log.warn(&format!("{e}; unknown words will be spelled out"));
            Arc::new(kokoro_text::SpellingFallback)
        }
    }
}

#[cfg(not(feature = "espeak"))]
fn fallback(_cache: &Cache, _log: &Log) -> Arc<dyn OovFallback> {
    Arc::new(kokoro_text::SpellingFallback)
}

fn report_diagnostics(diagnostics: &[Diagnostic], log: &Log) {
    for d in diagnostics {
        match d {
            Diagnostic::OutOfLexicon { .. } => log.debug(&d.to_string()),
            _ => log.warn(&d.to_string()),
        }
    }
}

/// `--phonemes-only`: chunks, ids and phonemes on stdout, diagnostics on stderr.
fn print_phonemes(frontend: &Frontend, chapters: &[(usize, &Chapter)]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut any = false;
    for &(i, chapter) in chapters {
        if chapters.len() > 1 || !chapter.title.is_empty() {
            writeln!(out, "# chapter {}: {}", i + 1, chapter.title)?;
        }
        any |= print_chunks(frontend, &chapter.text, &mut out)?;
    }
    if !any {
        bail!("the input has nothing to speak");
    }
    Ok(())
}

/// Prints one text's chunks; false if it has nothing to speak.
fn print_chunks(frontend: &Frontend, text: &str, out: &mut impl Write) -> Result<bool> {
    let mut any = false;
    for c in frontend.chunks(text, ChunkOptions::default()) {
        any = true;
        if c.pause_before_ms > 0 {
            writeln!(out, "# pause {} ms", c.pause_before_ms)?;
        }
        writeln!(
            out,
            "# chunk {} ({} ids): {}",
            c.index,
            c.ids.len(),
            kokoro_text::normalize(&text[c.span.clone()])
        )?;
        writeln!(out, "{}", c.phonemes)?;
        if let Some(ms) = c.pause_after_ms {
            writeln!(out, "# pause {ms} ms")?;
        }
        for d in &c.diagnostics {
            eprintln!("kokoro: chunk {}: {d}", c.index);
        }
    }
    Ok(any)
}

/// `--stream` without OUTPUT plays on the audio device, where the build can.
fn play_on_device(args: &Args) -> bool {
    cfg!(feature = "playback") && args.stream && args.output.is_none()
}

#[cfg(feature = "playback")]
fn open_player() -> Result<Box<dyn output::Encoder>> {
    Ok(Box::new(crate::playback::Player::open()?))
}

#[cfg(not(feature = "playback"))]
fn open_player() -> Result<Box<dyn output::Encoder>> {
    bail!("this build has no audio playback (build with --features playback)")
}

/// The pauses to join chunks with, when the user asked for trimming or pauses.
fn shaping(args: &Args) -> Result<Option<Pauses>> {
    for (flag, v) in [
        ("--pause-sentence", args.pause_sentence),
        ("--pause-paragraph", args.pause_paragraph),
    ] {
        if let Some(v) = v {
            if !(0.0..=10.0).contains(&v) {
                bail!("{flag}: {v} is out of range (0 to 10 seconds)");
            }
        }
    }
    if !args.trim && args.pause_sentence.is_none() && args.pause_paragraph.is_none() {
        return Ok(None);
    }
    let d = Pauses::default();
    Ok(Some(Pauses {
        sentence: args.pause_sentence.unwrap_or(d.sentence),
        paragraph: args.pause_paragraph.unwrap_or(d.paragraph),
        clause: d.clause,
    }))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Memory available to new sessions, from /proc/meminfo where there is one.
fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The worker layout: forced by the settings, or chosen for the chunks, cores
/// and memory; a stream to a listener favours latency (see `Layout::auto_streaming`).
fn choose_layout(settings: &Settings, chunks: usize, streaming: bool) -> Layout {
    let cores = cores();
    match settings.use_parallel {
        Some(false) => Layout::fitted(1, settings.intra_threads.unwrap_or(cores), cores),
        Some(true) => {
            let workers = settings.max_workers.unwrap_or(cores);
            Layout::fitted(
                workers,
                settings
                    .intra_threads
                    .unwrap_or(cores / workers.clamp(1, cores)),
                cores,
            )
        }
        None => {
            let auto = if streaming {
                Layout::auto_streaming(chunks, cores, mem_available())
            } else {
                Layout::auto(chunks, cores, mem_available())
            };
            let workers = settings
                .max_workers
                .map_or(auto.workers, |m| auto.workers.min(m));
            Layout::fitted(
                workers,
                settings.intra_threads.unwrap_or(cores / workers.max(1)),
                cores,
            )
        }
    }
}

fn progress_bar(log: &Log) -> Option<ProgressBar> {
    if log.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(1000);
    bar.set_style(ProgressStyle::with_template("{bar:30} {percent}%, {msg}").ok()?);
    Some(bar)
}
