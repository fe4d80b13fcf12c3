//! `kokoro batch`: the documents of a manifest ([`kokoro::batch`]), this
//! worker's share of them, each spoken into its own output like the main
//! job's, resumable document by document and chapter by chapter; a summary
//! at the end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kokoro::audio::Format;
use kokoro::batch::{self as library, Document};
use kokoro::book::Output as BookOutput;
use kokoro::settings::Settings;
use kokoro::Tts;
use serde::Serialize;

use crate::cli::{Args, BatchArgs};
use crate::engine::{self, Log};
use crate::plan::{Input, Plan};

/// What happened to one document.
#[derive(Debug, Serialize)]
struct Outcome {
    path: String,
    output: String,
    /// `done`, `skipped` (complete already) or `failed`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    audio_seconds: f64,
}

/// The summary `--json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    shard: Option<String>,
    documents: usize,
    done: usize,
    skipped: usize,
    failed: usize,
    audio_hours: f64,
    wall_seconds: f64,
    outcomes: Vec<Outcome>,
}

/// One document of this shard: its settings and plan (its entry over the
/// command line's), and its output.
struct Work {
    doc: Document,
    settings: Settings,
    plan: Plan,
    output: PathBuf,
    split: bool,
}

/// `kokoro batch`.
pub fn main(
    args: &BatchArgs,
    cli: &Args,
    settings: &Settings,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<()> {
    let started = Instant::now();
    let defaults = Plan::batch_defaults(cli, settings)?;
    let entries = library::read_manifest(&args.manifest)?;
    let base = args
        .manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = args.root.clone().unwrap_or_else(|| base.to_path_buf());
    let manifest = args.manifest.display();
    let all = library::documents(&entries, base, &root)
        .with_context(|| format!("manifest {manifest}"))?;
    let shard = library::shard(args.shard.as_deref(), args.shards, &|k| {
        std::env::var(k).ok()
    })?;

    // Every document's output, checked for clashes over the whole library so
    // that every shard refuses the same manifest.
    let mut work = Vec::new();
    let mut outputs: HashMap<PathBuf, String> = HashMap::new();
    for doc in &all {
        let w = plan_document(doc, args, &defaults, settings)
            .with_context(|| format!("manifest {manifest}: {}", doc.rel))?;
        if let Some(other) = outputs.insert(w.output.clone(), doc.rel.clone()) {
            bail!(
                "{other} and {} would both be written to {}: rename one, or give one a format of its own",
                doc.rel,
                w.output.display()
            );
        }
        if shard.is_none_or(|s| library::shard_of(&doc.rel, s.count) == s.index) {
            work.push(w);
        }
    }
    let of = match shard {
        Some(s) => format!("shard {s}: {} of {} document(s)", work.len(), all.len()),
        None => format!("{} document(s)", work.len()),
    };
    if args.list {
        for w in &work {
            println!("{}\t{}", w.doc.rel, w.output.display());
        }
        return Ok(());
    }
    log.info(&of);

    // The engine, opened when a document first needs it (a shard whose
    // documents are all complete opens none), once for the whole shard:
    // documents differ in voice and language, which are chosen per call.
    let mut engine: Option<Tts> = None;
    let mut outcomes = Vec::new();
    for (k, w) in work.iter().enumerate() {
        let label = format!("[{}/{}] {}", k + 1, work.len(), w.doc.rel);
        let result = speak(w, &mut engine, &defaults, cli.code_blocks, cancel, log);
        let (status, error, audio_seconds) = match result {
            Ok(Some(secs)) => {
                log.info(&format!(
                    "{label}: {} ({secs:.1} s of audio)",
                    w.output.display()
                ));
                ("done", None, secs)
            }
            Ok(None) => {
                log.info(&format!("{label}: done already; skipped"));
                ("skipped", None, 0.0)
            }
            // Stopped, or no engine for any document: the run ends here.
            Err(e) if engine::cancelled(&e) || e.downcast_ref::<NoEngine>().is_some() => {
                return Err(e)
            }
            Err(e) => {
                let e = format!("{e:#}");
                log.warn(&format!("{label}: failed: {e}"));
                ("failed", Some(e), 0.0)
            }
        };
        outcomes.push(Outcome {
            path: w.doc.rel.clone(),
            output: w.output.display().to_string(),
            status,
            error,
            audio_seconds,
        });
    }
    let count = |s: &str| outcomes.iter().filter(|o| o.status == s).count();
    let summary = Summary {
        shard: shard.map(|s| s.to_string()),
        documents: outcomes.len(),
        done: count("done"),
        skipped: count("skipped"),
        failed: count("failed"),
        audio_hours: outcomes.iter().map(|o| o.audio_seconds).sum::<f64>() / 3600.0,
        wall_seconds: started.elapsed().as_secs_f64(),
        outcomes,
    };
    log.info(&format!(
        "{of}: {} done, {} skipped, {} failed; {:.2} h of audio in {:.1} s",
        summary.done, summary.skipped, summary.failed, summary.audio_hours, summary.wall_seconds
    ));
    for o in summary.outcomes.iter().filter(|o| o.status == "failed") {
        log.warn(&format!(
            "failed: {}: {}",
            o.path,
            o.error.as_deref().unwrap_or_default()
        ));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    if summary.failed > 0 {
        bail!(
            "{} of {} document(s) failed (the others are complete; a rerun retries only what is missing)",
            summary.failed,
            summary.documents
        );
    }
    Ok(())
}

/// The engine could not be opened: no document can be spoken.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NoEngine(String);

/// A document's settings (its entry over the command line's), plan and output.
fn plan_document(
    doc: &Document,
    args: &BatchArgs,
    defaults: &Plan,
    settings: &Settings,
) -> Result<Work> {
    let e = &doc.entry;
    let mut settings = settings.clone();
    if let Some(v) = &e.voice {
        settings.voice = v.clone();
    }
    if let Some(s) = e.speed {
        settings.speed = kokoro::check_speed(s)?;
    }
    let lang = match &e.lang {
        Some(l) => Some(l.parse()?),
        None => defaults.lang,
    };
    let format = match &e.format {
        Some(f) => f.parse::<Format>()?,
        None => defaults.format,
    };
    let split = e.split.unwrap_or(args.split);
    let output = library::output_of(doc, &args.out, format, split);
    let plan = Plan {
        input: Input::File(doc.path.clone()),
        input_format: defaults
            .input_format
            .or_else(|| kokoro::text::document::InputFormat::from_path(&doc.path)),
        format,
        lang,
        ..defaults.clone()
    };
    Ok(Work {
        doc: doc.clone(),
        settings,
        plan,
        output,
        split,
    })
}

/// Speaks one document: `Some(audio seconds)`, or `None` when its output was
/// complete already.
fn speak(
    w: &Work,
    engine: &mut Option<Tts>,
    defaults: &Plan,
    code_blocks: bool,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<Option<f64>> {
    if let Some(parent) = w.output.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    // One file: done when its record names what made it.
    let fingerprint = if w.split {
        None
    } else {
        let p = &w.plan;
        let settings = format!(
            "{} {} {:?} {:?} {:?} {:?} {:?}",
            w.settings.voice,
            w.settings.speed,
            p.lang.map(|l| l.code()),
            p.pauses,
            p.format,
            p.input_format.map(|f| f.name()),
            w.settings.model,
        );
        let print = library::fingerprint(&w.doc.path, &[&settings, &w.settings.lexicon_text()?])?;
        if library::is_done(&w.output, &print) {
            return Ok(None);
        }
        library::clear_stale(&w.output);
        Some(print)
    };
    let reading = crate::speak::read_input(&w.plan.input, w.plan.input_format, code_blocks, &log)?;
    let book = reading.book(None, None)?;
    let tts = match engine {
        Some(tts) => tts,
        None => {
            let config = engine::config(&w.settings, defaults.workers, defaults.skip_timing, log)?;
            let tts =
                Tts::open(config).map_err(|e| NoEngine(format!("{:#}", anyhow::Error::new(e))))?;
            log.debug(&format!("engine: {}", tts.describe()));
            engine.insert(tts)
        }
    };
    let options =
        crate::speak::book_options(tts, &w.plan, &w.settings, book.ssml.as_ref(), cancel, log)?;
    let output = if w.split {
        BookOutput::Split(w.output.clone())
    } else {
        BookOutput::open_file(&w.output, false)?
    };
    let done = kokoro::book::speak_book(tts, &book, &options, output)?;
    if let Some(print) = fingerprint {
        library::mark_done(&w.output, &print)?;
    }
    Ok((!done.all_done_already()).then_some(done.audio_seconds))
}
