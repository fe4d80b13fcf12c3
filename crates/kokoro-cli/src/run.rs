//! The main job: the plan carried out on the engine: the input read into
//! chapters, each spoken into one encoder, or one per chapter.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kokoro::audio::{encoder, markers, samples_in, Dest, Encoder, Format};
use kokoro::infer::VoiceSet;
use kokoro::text::document::{Chapter, Document, DocumentError, InputFormat, ReadOptions};
use kokoro::text::ssml::Ssml;
use kokoro::text::{Chunk, ChunkOptions, Diagnostic, Frontend};
use kokoro::{
    choose_lang, default_fallback, AssetOptions, Config, Event, FetchEvent, Frontends, Lang,
    Lexicon, SpeakOptions, Tts, VoiceInfo, Want, Word,
};

use crate::book;
use crate::cli::Args;
use crate::plan::{Action, Input, Output, Plan, Target};
use crate::settings::{self, Settings};
use crate::timing::Timing;

/// The run was stopped by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Silence between chapters in one file, in milliseconds.
const CHAPTER_GAP_MS: u32 = 1500;

pub fn main(args: Args) -> Result<()> {
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
    let assets = asset_options(&settings);
    if let Some(crate::cli::Command::Serve(serve)) = &args.command {
        #[cfg(feature = "server")]
        return crate::serve::main(serve, &settings, &assets, &log);
        #[cfg(not(feature = "server"))]
        {
            let _ = serve;
            bail!("this kokoro was built without the server: build it with `--features server`");
        }
    }
    if let Some(crate::cli::Command::Wyoming(wyoming)) = &args.command {
        #[cfg(feature = "wyoming")]
        return crate::serve::wyoming(wyoming, &settings, &assets, &log);
        #[cfg(not(feature = "wyoming"))]
        {
            let _ = wyoming;
            bail!("this kokoro was built without Wyoming: build it with `--features wyoming`");
        }
    }
    // The servers stop on signals themselves (kokoro_server::shutdown_signal);
    // everything else watches one flag.
    let cancel = stop_flag();
    if let Some(crate::cli::Command::Batch(batch)) = &args.command {
        let plan = Plan::batch_defaults(&args, &settings)?;
        return crate::batch::main(
            batch,
            &plan,
            &settings,
            &assets,
            args.code_blocks,
            &cancel,
            log,
        );
    }
    if args.list_voices {
        return list_voices(&assets, &log);
    }

    let plan = Plan::new(&args, &settings, cfg!(feature = "playback"))?;
    if let Some(target) = crate::live::applies(&plan) {
        // Standard input to a listener: spoken as it arrives, not at its end.
        // (Everything else reads its input whole: documents, files, timings.)
        let choice = choose_lang(plan.lang, &settings.voice);
        if let Some(w) = &choice.warning {
            log.warn(w);
        }
        let lang = choice.lang;
        let frontends = Frontends::new(fallback(&assets, &log), load_lexicon(&settings)?);
        let config = crate::live::config(&assets, frontends, &plan, &settings, &log);
        return crate::live::speak(&plan, target, &settings, config, lang, &cancel, &log);
    }
    let (doc, input_format, ssml) = read_input(&plan, args.code_blocks, &log)?;
    let output = match &plan.action {
        Action::ListChapters => return list_chapters(&doc.chapters, settings.speed),
        Action::PrintPhonemes => None,
        Action::Speak(output) => Some(output),
    };
    let (selected, chapter_starts) = choose_chapters(&doc, input_format, args.chapters.as_deref())?;
    let chapters: Vec<(usize, &Chapter)> =
        selected.iter().map(|&i| (i, &doc.chapters[i])).collect();
    let lang = document_lang(&plan, ssml.as_ref(), &settings, &log);
    let frontends = Frontends::new(fallback(&assets, &log), load_lexicon(&settings)?);
    let job = Job {
        plan: &plan,
        settings: &settings,
        chapters: &chapters,
        chapter_starts: &chapter_starts,
        numbered: doc.chapters.len() > 1,
        lang,
        ssml: ssml.as_ref(),
        log,
    };
    // The engine comes up on a thread of its own while the front end loads and
    // the outputs open: the two take about as long, so the first audio comes
    // sooner.
    let engine = output.map(|_| job.start_engine(&assets, frontends.clone()));
    let started = std::time::Instant::now();
    let frontend = frontends.get(lang)?;
    log.debug(&format!(
        "language: {} ({}), front end ready in {:.2} s",
        lang.code(),
        lang.name(),
        started.elapsed().as_secs_f64()
    ));
    let (Some(output), Some(engine)) = (output, engine) else {
        return print_phonemes(&frontend, &chapters, &cancel);
    };
    let Some((totals, place)) = job.deliver(output, Engine::Opening(engine), &cancel)? else {
        return Ok(());
    };
    log.info(&format!(
        "{place}: {:.1} s of audio in {:.1} s (real-time factor {:.2}, {})",
        totals.audio_seconds,
        totals.elapsed,
        totals.elapsed / totals.audio_seconds.max(1e-9),
        totals.layout
    ));
    Ok(())
}

/// SIGINT (Ctrl-C), SIGTERM (how systemd, container engines and Kubernetes
/// stop a process) and SIGHUP (the terminal went away) raise the flag
/// returned: the run stops at its next check (between chunks, and inside the
/// front end), its temporary files are removed and only complete outputs are
/// left (exit 130). A second signal stops the process at once, leaving at
/// most a hidden temporary file, which the next run of the same output
/// removes. Failing to install the handler only loses the clean stop.
fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if raised.swap(true, Ordering::SeqCst) {
            eprintln!("kokoro: stopped at once");
            std::process::exit(130);
        }
    });
    flag
}

/// What [`speak_file`] made of one document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spoken {
    /// Seconds of audio made by this run (0 when everything was done already).
    pub audio_seconds: f64,
    /// Every chapter was done already (`Output::Split`).
    pub all_done_already: bool,
}

/// One document file spoken into its output on an engine already open (what
/// `kokoro batch` does for each): the same reading, language choice, chapters
/// and outputs as the main job, all chapters.
pub fn speak_file(
    plan: &Plan,
    settings: &Settings,
    tts: &Tts,
    code_blocks: bool,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<Spoken> {
    let Action::Speak(output) = &plan.action else {
        bail!("nothing to speak into");
    };
    let (doc, input_format, ssml) = read_input(plan, code_blocks, &log)?;
    let (selected, chapter_starts) = choose_chapters(&doc, input_format, None)?;
    let chapters: Vec<(usize, &Chapter)> =
        selected.iter().map(|&i| (i, &doc.chapters[i])).collect();
    let job = Job {
        plan,
        settings,
        chapters: &chapters,
        chapter_starts: &chapter_starts,
        numbered: doc.chapters.len() > 1,
        lang: document_lang(plan, ssml.as_ref(), settings, &log),
        ssml: ssml.as_ref(),
        log,
    };
    tts.voice_set().resolve(&settings.voice)?;
    Ok(match job.deliver(output, Engine::Open(tts), cancel)? {
        Some((totals, _)) => Spoken {
            audio_seconds: totals.audio_seconds,
            all_done_already: false,
        },
        None => Spoken {
            audio_seconds: 0.0,
            all_done_already: true,
        },
    })
}

/// The chapters chosen by `--chapters` (all without it), and where each
/// starts in the input: a plain text's chapters are the input cut in pieces,
/// so that word spans point into the input; a document's start at 0.
fn choose_chapters(
    doc: &Document,
    input_format: InputFormat,
    spec: Option<&str>,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let selected = match spec {
        Some(spec) => book::select(spec, doc.chapters.len())?,
        None => (0..doc.chapters.len()).collect(),
    };
    let starts: Vec<usize> = doc
        .chapters
        .iter()
        .scan(0, |at, c| {
            let start = *at;
            *at += c.text.len();
            Some(start)
        })
        .collect();
    let chapter_starts = selected
        .iter()
        .map(|&i| match input_format {
            InputFormat::Text => starts[i],
            _ => 0,
        })
        .collect();
    Ok((selected, chapter_starts))
}

/// An explicit --lang, else SSML's xml:lang, else the voice's; a mismatch is told.
fn document_lang(plan: &Plan, ssml: Option<&Ssml>, settings: &Settings, log: &Log) -> Lang {
    let choice = choose_lang(plan.lang.or(ssml.and_then(|s| s.lang)), &settings.voice);
    if let Some(w) = &choice.warning {
        let advice = if plan.lang.is_none() {
            " (use --lang to choose)"
        } else {
            ""
        };
        log.warn(&format!("{w}{advice}"));
    }
    choice.lang
}

/// `--list-voices`: name, language and gender of each voice.
fn list_voices(assets: &AssetOptions, log: &Log) -> Result<()> {
    let want = Want {
        runtime: false,
        model: false,
        voices: true,
    };
    let paths = assets.resolve(want, &mut |e| log.fetch(&e))?;
    for name in VoiceSet::open(&paths.voices)?.names() {
        let v = VoiceInfo::of(name);
        println!("{name}\t{}\t{}", v.lang_code(), v.gender.as_str());
    }
    Ok(())
}

/// The input read into chapters, its warnings told.
/// SSML comes back read too: its parts' voices and rates.
fn read_input(
    plan: &Plan,
    code_blocks: bool,
    log: &Log,
) -> Result<(Document, InputFormat, Option<Ssml>)> {
    let (bytes, name) = read_bytes(&plan.input)?;
    let input_format = plan
        .input_format
        .unwrap_or_else(|| InputFormat::sniff(&bytes));
    let doc = read_document(&bytes, &name, input_format, code_blocks)?;
    let ssml = match input_format {
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
        input_format.name(),
        doc.chapters.len()
    ));
    Ok((doc, input_format, ssml))
}

/// The engine coming up on its own thread.
struct Opening {
    thread: std::io::Result<std::thread::JoinHandle<kokoro::Result<Tts>>>,
    started: std::time::Instant,
}

impl Opening {
    /// The engine, once open, with the voice checked; [`Interrupted`] if the
    /// run is stopped while it opens (fetching can take minutes).
    fn wait(self, job: &Job<'_>, cancel: &AtomicBool) -> Result<Tts> {
        let thread = self
            .thread
            .context("cannot start a thread to open the engine")?;
        while !thread.is_finished() {
            if cancel.load(Ordering::SeqCst) {
                return Err(Interrupted.into());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let tts = thread
            .join()
            .map_err(|_| anyhow::anyhow!("opening the engine panicked"))??;
        job.log.debug(&format!(
            "engine ready in {:.2} s; layout: {}",
            self.started.elapsed().as_secs_f64(),
            tts.describe()
        ));
        tts.voice_set().resolve(&job.settings.voice)?;
        Ok(tts)
    }
}

/// The engine: still opening on its thread, or open.
enum Engine<'a> {
    Opening(Opening),
    Open(&'a Tts),
}

impl<'a> Engine<'a> {
    /// The engine, waited for if need be (and then kept in `slot`).
    fn get(self, slot: &'a mut Option<Tts>, job: &Job<'_>, cancel: &AtomicBool) -> Result<&'a Tts> {
        Ok(match self {
            Engine::Open(tts) => tts,
            Engine::Opening(o) => slot.insert(o.wait(job, cancel)?),
        })
    }
}

/// Chapters to speak, and how.
struct Job<'a> {
    plan: &'a Plan,
    settings: &'a Settings,
    chapters: &'a [(usize, &'a Chapter)],
    /// Where each chapter's text starts in the input (0 for a document's).
    chapter_starts: &'a [usize],
    /// The input has more than one chapter: timestamps name them.
    numbered: bool,
    lang: Lang,
    /// The input, when it is SSML: spoken part by part.
    ssml: Option<&'a Ssml>,
    log: Log,
}

impl Job<'_> {
    /// Starts opening the engine, with a layout for these chapters, on a
    /// thread of its own.
    fn start_engine(&self, assets: &AssetOptions, frontends: Frontends) -> Opening {
        let sentences: usize = self
            .chapters
            .iter()
            .map(|(_, c)| kokoro::text::split_sentences(&c.text).len())
            .sum();
        let workers = kokoro::Workers {
            sentences: Some(sentences),
            ..self.plan.workers
        };
        let log = self.log;
        let config = engine_config(
            assets,
            workers,
            frontends,
            self.plan.skip_timing,
            self.settings,
            log,
        );
        let started = std::time::Instant::now();
        Opening {
            thread: std::thread::Builder::new()
                .name("kokoro-open".into())
                .spawn(move || Tts::open(config)),
            started,
        }
    }

    fn speaker<'t>(&'t self, tts: &'t Tts, cancel: &Arc<AtomicBool>) -> Speaker<'t> {
        let log = self.log;
        Speaker {
            tts,
            ssml: self.ssml,
            options: SpeakOptions {
                voice: self.settings.voice.clone(),
                speed: self.settings.speed,
                lang: Some(self.lang),
                pauses: self.plan.pauses,
                streaming: self.plan.streaming,
                cancel: Some(cancel.clone()),
                progress: None,
                on_chunk: Some(Arc::new(move |c: &Chunk, text: &str| {
                    show_chunk(c, text, &log)
                })),
            },
            bar: progress_bar(&log),
            total_chars: self.chapters.iter().map(|(_, c)| c.text.len()).sum(),
            done_chars: 0,
            audio_before: 0.0,
            started: std::time::Instant::now(),
            totals: Totals {
                layout: tts.describe().to_string(),
                ..Totals::default()
            },
            words: None,
        }
    }

    /// The timing files asked for; an error when the engine cannot time words.
    fn timing(&self, tts: &Tts) -> Result<Timing> {
        let timing = Timing::new(self.plan.captions.clone(), self.plan.timestamps.clone());
        if timing.wanted() && !tts.timed() {
            bail!("--captions and --timestamps need the model's word durations, which this model does not give (see the warning above)");
        }
        Ok(timing)
    }

    /// Speaks the chapters into `output`, opened before the engine is waited
    /// for (an unwritable path fails before any synthesis): the totals and
    /// where they went, or `None` when every chapter was done already.
    fn deliver(
        &self,
        output: &Output,
        engine: Engine<'_>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Option<(Totals, String)>> {
        let mut opened = None;
        Ok(Some(match output {
            Output::Split { dir } => {
                let record = book::Record::open(dir)?;
                let tts = engine.get(&mut opened, self, cancel)?;
                let mut speaker = self.speaker(tts, cancel);
                let totals = self.speak_split(dir, record, &mut speaker)?;
                speaker.finish();
                if totals.skipped == self.chapters.len() {
                    self.log.info(&format!(
                        "{}: all {} chapter(s) were done already",
                        dir.display(),
                        self.chapters.len()
                    ));
                    return Ok(None);
                }
                (totals, dir.display().to_string())
            }
            Output::Merged(target) => {
                let out = open_merged(target, self.plan.format, self.chapters)?;
                let tts = engine.get(&mut opened, self, cancel)?;
                let mut speaker = self.speaker(tts, cancel);
                let totals = self.speak_merged(out, &mut speaker)?;
                speaker.finish();
                let place = match target {
                    Target::Device => "audio device".to_string(),
                    Target::Stdout => "-".to_string(),
                    Target::File { path, .. } => path.display().to_string(),
                };
                (totals, place)
            }
        }))
    }

    /// One file per chapter, each written atomically; a rerun skips those done.
    fn speak_split(
        &self,
        dir: &Path,
        mut record: book::Record,
        speaker: &mut Speaker<'_>,
    ) -> Result<Totals> {
        let (settings, format) = (self.settings, self.plan.format);
        // Everything that changes the audio: voice, speed, pauses, language, the
        // user's lexicon and the model.
        let lexicon_text = lexicon_text(settings);
        let audio_settings = format!(
            "{} {} {:?} {} {:?}\n{lexicon_text}",
            settings.voice,
            settings.speed,
            self.plan.pauses,
            self.lang.code(),
            settings.model,
        );
        let of = self.chapters.len();
        let mut timing = self.timing(speaker.tts)?;
        for (k, &(i, chapter)) in self.chapters.iter().enumerate() {
            let file = book::file_name(i, &chapter.title, format);
            let fingerprint = fingerprint_of(chapter, &audio_settings, format);
            let label = chapter_label(k, of, i, chapter);
            let path = dir.join(&file);
            if record.is_done(&file, &fingerprint) && timing.present_beside(&path) {
                self.log
                    .info(&format!("{label}: {file} is done already; skipped"));
                speaker.done_chars += chapter.text.len();
                speaker.totals.skipped += 1;
                continue;
            }
            let mut out = encoder(format, Dest::file(&path, false)?)?;
            let mut written = 0;
            speaker.words = timing.wanted().then(Vec::new);
            let summary = speaker.speak(&chapter.text, out.as_mut(), &mut written, &label)?;
            out.finish()?.commit()?;
            if let Some(words) = speaker.words.take() {
                let numbered = self.numbered.then_some(i);
                timing.add(&chapter.text, self.chapter_starts[k], numbered, &words);
                timing.write_beside(&path)?;
            }
            record.mark_done(&file, &fingerprint)?;
            self.log.info(&format!(
                "{label}: {} ({:.1} s of audio)",
                dir.join(&file).display(),
                summary.audio_seconds()
            ));
        }
        Ok(std::mem::take(&mut speaker.totals))
    }

    /// Every chapter into one output, 1.5 s apart, with chapter markers where
    /// the format has them.
    fn speak_merged(&self, mut out: Box<dyn Encoder>, speaker: &mut Speaker<'_>) -> Result<Totals> {
        let of = self.chapters.len();
        let mut written = 0u64;
        let mut chapter_marks = Vec::new();
        let mut timing = self.timing(speaker.tts)?;
        for (k, &(i, chapter)) in self.chapters.iter().enumerate() {
            if k > 0 {
                out.write(&vec![0.0; samples_in(CHAPTER_GAP_MS)])?;
                written += samples_in(CHAPTER_GAP_MS) as u64;
            }
            chapter_marks.push(markers::Marker {
                title: marker_title(i, chapter),
                start: written,
            });
            let label = chapter_label(k, of, i, chapter);
            speaker.words = timing.wanted().then(Vec::new);
            let summary = speaker.speak(&chapter.text, out.as_mut(), &mut written, &label)?;
            if let Some(words) = speaker.words.take() {
                let numbered = self.numbered.then_some(i);
                timing.add(&chapter.text, self.chapter_starts[k], numbered, &words);
            }
            if speaker.bar.is_none() && !label.is_empty() {
                self.log.info(&format!(
                    "{label}: {:.1} s of audio",
                    summary.audio_seconds()
                ));
            }
        }
        if speaker.totals.chunks == 0 {
            bail!("the input has nothing to speak");
        }
        let mut dest = out.finish()?;
        if of > 1 && !dest.is_stream() {
            match self.plan.format {
                Format::Mp3 => dest.patch(0, &markers::id3_chapters(&chapter_marks, written)?)?,
                Format::Wav | Format::WavFloat => {
                    kokoro::audio::append_wav_chunks(&mut dest, &markers::wav_cues(&chapter_marks))?
                }
                _ => {}
            }
        }
        dest.commit()?;
        // The timing files once the audio is whole.
        timing.write()?;
        Ok(std::mem::take(&mut speaker.totals))
    }
}

/// The engine's configuration: the settings' assets, device and model form,
/// `workers`, front ends, events told through `log`; `skip_timing` runs the
/// model without its durations.
pub fn engine_config(
    assets: &AssetOptions,
    workers: kokoro::Workers,
    frontends: Frontends,
    skip_timing: bool,
    settings: &Settings,
    log: Log,
) -> Config {
    Config {
        assets: assets.clone(),
        workers,
        frontends: Some(frontends),
        on_event: Some(Arc::new(move |e: &Event| log.event(e))),
        skip_timing,
        device: settings.device(),
        form: settings.form(),
    }
}

/// The user's lexicon file as text, for fingerprints (empty without one).
pub fn lexicon_text(settings: &Settings) -> String {
    match &settings.lexicon {
        Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
        None => String::new(),
    }
}

/// The assets the settings name; the rest come from the cache.
fn asset_options(settings: &Settings) -> AssetOptions {
    AssetOptions {
        cache_dir: settings.cache_dir.clone(),
        runtime: settings.ort_lib.clone(),
        model: settings.model.clone(),
        voices: settings.voices.clone(),
    }
}

/// The merged output: a file, standard output or the device, with room for
/// the MP3 chapter tag written over at the end.
pub fn open_merged(
    target: &Target,
    format: Format,
    chapters: &[(usize, &Chapter)],
) -> Result<Box<dyn Encoder>> {
    let mut dest = match target {
        Target::Device => return open_player(),
        Target::Stdout => Dest::stdout(),
        Target::File { path, in_place } => Dest::file(path, *in_place)?,
    };
    if format == Format::Mp3 && chapters.len() > 1 && !dest.is_stream() {
        let placeholder: Vec<markers::Marker> = chapters
            .iter()
            .map(|&(i, c)| markers::Marker {
                title: marker_title(i, c),
                start: 0,
            })
            .collect();
        dest.write_all(&markers::id3_chapters(&placeholder, 0)?)?;
    }
    Ok(encoder(format, dest)?)
}

/// The user's lexicon, or an empty one.
pub fn load_lexicon(settings: &Settings) -> Result<Lexicon> {
    Ok(match &settings.lexicon {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read lexicon {}", path.display()))?;
            Lexicon::parse(&text).with_context(|| format!("lexicon {}", path.display()))?
        }
        None => Lexicon::default(),
    })
}

/// The out-of-lexicon fallback, its data in the cache.
pub fn fallback(assets: &AssetOptions, log: &Log) -> Arc<dyn kokoro::text::OovFallback> {
    let cache = match assets.cache() {
        Ok(c) => c,
        Err(e) => {
            log.warn(&format!("{e}; unknown words will be spelled out"));
            return Arc::new(kokoro::text::SpellingFallback);
        }
    };
    let (fallback, warning) = default_fallback(cache.dir());
    if let Some(w) = warning {
        log.warn(&w);
    }
    fallback
}

/// What the runs added up to.
#[derive(Debug, Default)]
struct Totals {
    chunks: usize,
    audio_seconds: f64,
    elapsed: f64,
    /// Chapters done already (`--split-output`).
    skipped: usize,
    /// The engine's layout, in words.
    layout: String,
}

impl Totals {
    fn add(&mut self, s: &kokoro::Summary) {
        self.chunks += s.chunks;
        self.audio_seconds += s.audio_seconds();
        self.elapsed += s.elapsed.as_secs_f64();
    }
}

/// Speaks texts on the engine into any encoder, with progress over them all.
struct Speaker<'a> {
    tts: &'a Tts,
    /// SSML, spoken in place of its chapter's text (which is its text).
    ssml: Option<&'a Ssml>,
    options: SpeakOptions,
    bar: Option<ProgressBar>,
    /// Characters in all the chapters to speak, and in those already spoken.
    total_chars: usize,
    done_chars: usize,
    /// Audio made by earlier chapters, in seconds, and when the whole run began.
    audio_before: f64,
    started: std::time::Instant,
    totals: Totals,
    /// The words spoken, where each lies in the output, when collected.
    words: Option<Vec<Word>>,
}

impl Speaker<'_> {
    /// Clears the progress bar.
    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Speaks `text` into `out`; `written` counts the samples written.
    fn speak(
        &mut self,
        text: &str,
        out: &mut dyn Encoder,
        written: &mut u64,
        label: &str,
    ) -> Result<kokoro::Summary> {
        let (before, total, len) = (self.done_chars, self.total_chars.max(1), text.len());
        let (audio_before, started) = (self.audio_before, self.started);
        let prefix = if label.is_empty() {
            String::new()
        } else {
            format!("{label}: ")
        };
        let options = SpeakOptions {
            progress: self.bar.clone().map(|bar| {
                Arc::new(move |p: &kokoro::Progress| {
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
                }) as kokoro::ProgressFn
            }),
            ..self.options.clone()
        };
        let base = *written as usize;
        let words = &mut self.words;
        let sink = |segment: &kokoro::Segment, samples: &[f32]| {
            if let Some(words) = words.as_mut() {
                words.extend(segment.words.iter().map(|w| Word {
                    span: w.span.clone(),
                    samples: base + w.samples.start..base + w.samples.end,
                }));
            }
            *written += samples.len() as u64;
            Ok(out.write(samples)?)
        };
        let result = match self.ssml {
            Some(ssml) => self.tts.speak_ssml_into(ssml, &options, sink),
            None => self.tts.speak_into(text, &options, sink),
        };
        self.done_chars += text.len();
        match result {
            Ok(s) => {
                self.audio_before += s.audio_seconds();
                self.totals.add(&s);
                Ok(s)
            }
            Err(kokoro::Error::Cancelled) => Err(Interrupted.into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Diagnostics, and under `--debug` each chunk and its phonemes, on stderr.
fn show_chunk(c: &Chunk, text: &str, log: &Log) {
    report_diagnostics(&c.diagnostics, log);
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

/// What a chapter file depends on: its text, the voice, shaping, lexicon and model, the format.
fn fingerprint_of(chapter: &Chapter, audio_settings: &str, format: Format) -> String {
    book::fingerprint(&[
        &chapter.text,
        audio_settings,
        format.extension(),
        &format!("{format:?}"),
    ])
}

/// `--list-chapters`: index, title, words and an estimate of the audio's length.
fn list_chapters(chapters: &[Chapter], speed: f32) -> Result<()> {
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

/// Messages on stderr, as `--quiet` and `--debug` allow.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub quiet: bool,
    pub debug: bool,
}

impl Log {
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("kokoro: {msg}");
        }
    }
    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("kokoro: warning: {msg}");
        }
    }
    pub fn debug(&self, msg: &str) {
        if self.debug {
            eprintln!("kokoro: {msg}");
        }
    }
    /// What the engine reports while it opens.
    pub fn event(&self, event: &Event) {
        match event {
            Event::Fetch(f) => self.fetch(f),
            Event::Warning(w) => self.warn(w),
            Event::Device(d) => self.debug(&format!("device: {d}")),
            Event::Form(f) => self.debug(f),
            Event::Progress(p) => self.info(p),
            _ => {}
        }
    }

    /// Fetching is news; a verified asset only under `--debug`.
    pub fn fetch(&self, event: &FetchEvent) {
        match event {
            FetchEvent::Fetching { what, command } => {
                self.info(&format!("fetching {what} ({command})"))
            }
            FetchEvent::Verified { what, path } => {
                self.debug(&format!("{what}: {} (SHA-256 verified)", path.display()))
            }
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
    match kokoro::text::document::read(bytes, format, opts) {
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

/// How `--debug` and `--phonemes-only` show pause markup around a chunk.
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

fn report_diagnostics(diagnostics: &[Diagnostic], log: &Log) {
    for d in diagnostics {
        match d {
            Diagnostic::OutOfLexicon { .. } => log.debug(&d.to_string()),
            _ => log.warn(&d.to_string()),
        }
    }
}

/// `--phonemes-only`: chunks, ids and phonemes on stdout, diagnostics on stderr.
fn print_phonemes(
    frontend: &Frontend,
    chapters: &[(usize, &Chapter)],
    cancel: &Arc<AtomicBool>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut any = false;
    for &(i, chapter) in chapters {
        if chapters.len() > 1 || !chapter.title.is_empty() {
            writeln!(out, "# chapter {}: {}", i + 1, chapter.title)?;
        }
        any |= print_chunks(frontend, &chapter.text, &mut out, cancel)?;
        if cancel.load(Ordering::SeqCst) {
            return Err(Interrupted.into());
        }
    }
    if !any {
        bail!("the input has nothing to speak");
    }
    Ok(())
}

/// Prints one text's chunks; false if it has nothing to speak.
fn print_chunks(
    frontend: &Frontend,
    text: &str,
    out: &mut impl Write,
    cancel: &Arc<AtomicBool>,
) -> Result<bool> {
    let mut any = false;
    let chunks = frontend
        .chunks(text, ChunkOptions::default())
        .with_cancel(cancel.clone());
    for c in chunks {
        any = true;
        if c.pause_before_ms > 0 {
            writeln!(out, "# pause {} ms", c.pause_before_ms)?;
        }
        writeln!(
            out,
            "# chunk {} ({} ids): {}",
            c.index,
            c.ids.len(),
            kokoro::text::normalize(&text[c.span.clone()])
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

#[cfg(feature = "playback")]
fn open_player() -> Result<Box<dyn Encoder>> {
    Ok(Box::new(crate::playback::Player::open()?))
}

#[cfg(not(feature = "playback"))]
fn open_player() -> Result<Box<dyn Encoder>> {
    bail!("this build has no audio playback (build with --features playback)")
}

fn progress_bar(log: &Log) -> Option<ProgressBar> {
    if log.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(1000);
    bar.set_style(ProgressStyle::with_template("{bar:30} {percent}%, {msg}").ok()?);
    Some(bar)
}
