//! The main job: settings, assets, text, scheduling, output.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kokoro_infer::{
    init_runtime, Cache, FetchEvent, Joiner, KokoroSession, Pauses, VoiceSet, Want,
};
use kokoro_sched::{Audio, Control, Layout, Request, SinkError};
use kokoro_text::{ChunkOptions, Diagnostic, Frontend, G2p, Lang, Lexicon, OovFallback};

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
    let text = read_input(&input)?;
    let lang = choose_lang(settings.lang.as_deref(), &settings.voice, &log)?;
    let lexicon = match &settings.lexicon {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read lexicon {}", path.display()))?;
            Lexicon::parse(&text).with_context(|| format!("lexicon {}", path.display()))?
        }
        None => Lexicon::default(),
    };
    let frontend = Frontend::new(G2p::new(lang, fallback(&cache, &log))?.with_lexicon(lexicon));
    log.debug(&format!("language: {} ({})", lang.code(), lang.name()));
    if args.phonemes_only {
        return print_phonemes(&frontend, &text);
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
    let to_stdout = output.as_os_str() == "-";
    let pauses = shaping(&args)?;
    // Open the output first: an unwritable path fails before any work.
    let mut encoder = if play_on_device(&args) {
        open_player()?
    } else {
        let dest = if to_stdout {
            Dest::stdout()
        } else {
            Dest::file(&output, args.stream)?
        };
        output::encoder(format, dest)?
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
    let sentences = kokoro_text::split_sentences(&text).len();

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
    let mut scheduler = layout.build(|options| KokoroSession::open(&model, options))?;

    let bar = progress_bar(&log);
    let control = Control {
        progress: bar.clone().map(|bar| {
            Arc::new(move |p: &kokoro_sched::Progress| {
                bar.set_position((p.fraction_done * 1000.0) as u64);
                let eta = p.eta.map_or(String::new(), |d| {
                    format!(", {:.0} s left", d.as_secs_f64())
                });
                bar.set_message(format!("{:.1} s of audio{eta}", p.audio_seconds));
            }) as kokoro_sched::ProgressFn
        }),
        cancel: cancel.clone(),
    };

    let request = Request {
        text: &text,
        voice: &voice,
        speed: settings.speed,
    };
    let mut chunks = frontend.chunks(&text, chunk_options).inspect(|c| {
        report_diagnostics(&c.diagnostics, &log);
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
    let mut joiner = pauses.map_or_else(Joiner::raw, Joiner::new);
    let mut joined = Vec::new();
    let mut sink = |audio: Audio| -> Result<(), SinkError> {
        joined.clear();
        joiner.push(&audio.samples, audio.boundary(), &mut joined);
        Ok(encoder.write(&joined)?)
    };
    let result = scheduler.run(&request, &mut chunks, &mut sink, &control);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        Err(kokoro_sched::Error::Cancelled) => return Err(Interrupted.into()),
        Err(e) => return Err(e.into()),
    };
    if summary.chunks == 0 {
        bail!("the input has nothing to speak");
    }
    encoder.finish()?.commit()?;
    log.info(&format!(
        "{}: {:.1} s of audio in {:.1} s (real-time factor {:.2}, {})",
        if play_on_device(&args) {
            "audio device".to_string()
        } else {
            output.display().to_string()
        },
        summary.audio_seconds(),
        summary.elapsed.as_secs_f64(),
        summary.elapsed.as_secs_f64() / summary.audio_seconds().max(1e-9),
        scheduler.describe()
    ));
    Ok(())
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

fn read_input(input: &Input) -> Result<String> {
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
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{name} is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    if text.trim().is_empty() {
        bail!("{name} is empty: nothing to speak");
    }
    Ok(text)
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

fn voice_language(name: &str) -> &'static str {
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

fn voice_gender(name: &str) -> &'static str {
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
fn print_phonemes(frontend: &Frontend, text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
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
    if !any {
        bail!("the input has nothing to speak");
    }
    Ok(())
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
    bar.set_style(ProgressStyle::with_template("{bar:30} {percent}% of the text, {msg}").ok()?);
    Some(bar)
}
