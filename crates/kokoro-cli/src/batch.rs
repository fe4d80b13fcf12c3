//! `kokoro batch`: a library of documents from a manifest, each into its own
//! output in a tree that mirrors the inputs', resumable document by document
//! and chapter by chapter, and split among independent workers by a stable
//! hash of each document's path, so that N workers need no coordinator and
//! never write the same file.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use kokoro::audio::{Dest, Format};
use kokoro::text::document::InputFormat;
use kokoro::{AssetOptions, Frontends, Tts};

use crate::cli::BatchArgs;
use crate::plan::{Action, Input, Output, Plan, Target};
use crate::run::{self, Log};
use crate::settings::Settings;

/// The largest manifest read: 16 MiB of paths is millions of documents.
const MAX_MANIFEST: u64 = 16 << 20;

/// One entry of a manifest: a path or glob, and what differs for it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// A file, or a glob (`books/*.epub`, `**/*.md`), relative to the manifest.
    pub path: String,
    pub voice: Option<String>,
    pub speed: Option<f32>,
    pub lang: Option<String>,
    pub format: Option<String>,
    /// One file per chapter (a directory) instead of one file.
    pub split: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listed {
    document: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonManifest {
    List(Vec<Entry>),
    Listed(Listed),
}

/// Reads a manifest: TOML (`[[document]]` tables) or JSON (a list of
/// entries, or `{"document": [...]}`) by its extension, else a list of paths
/// and globs, one a line, `#` starting a comment.
pub fn read_manifest(path: &Path) -> Result<Vec<Entry>> {
    let name = path.display();
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read manifest {name}"))?
        .len();
    if size > MAX_MANIFEST {
        bail!(
            "manifest {name} is {size} bytes, more than the {} MiB a manifest may hold",
            MAX_MANIFEST >> 20
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {name}"))?;
    parse_manifest(&text, path.extension().and_then(|e| e.to_str()))
        .with_context(|| format!("manifest {name}"))
}

/// A manifest's text, read as its extension says.
pub fn parse_manifest(text: &str, extension: Option<&str>) -> Result<Vec<Entry>> {
    let entries = match extension.map(str::to_ascii_lowercase).as_deref() {
        Some("toml") => toml::from_str::<Listed>(text)?.document,
        Some("json") => match serde_json::from_str(text)? {
            JsonManifest::List(l) => l,
            JsonManifest::Listed(l) => l.document,
        },
        _ => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| Entry {
                path: l.to_string(),
                ..Entry::default()
            })
            .collect(),
    };
    for (i, e) in entries.iter().enumerate() {
        if e.path.trim().is_empty() {
            bail!("document {} has an empty path", i + 1);
        }
    }
    Ok(entries)
}

/// One document of the library: where it is, its path below the root (the
/// same on every worker), and how it is spoken.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub path: PathBuf,
    /// Below the root, with `/` between components: names the output, and
    /// chooses the shard.
    pub rel: String,
    pub entry: Entry,
}

/// The manifest's entries as documents: globs expanded (in sorted order),
/// each path below `root`, each document once (the first entry naming it
/// wins). A glob that matches nothing, or a path outside the root, is an error.
pub fn documents(entries: &[Entry], base: &Path, root: &Path) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    let mut seen = HashMap::new();
    for entry in entries {
        let pattern = base.join(&entry.path);
        let paths: Vec<PathBuf> = if entry.path.contains(['*', '?', '[']) {
            let pattern = pattern.to_string_lossy().into_owned();
            let mut found: Vec<PathBuf> = glob::glob(&pattern)
                .map_err(|e| anyhow!("`{}` is not a valid glob: {e}", entry.path))?
                .filter_map(|p| p.ok())
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("`{}` matches no file", entry.path);
            }
            found
        } else {
            vec![pattern]
        };
        for path in paths {
            let rel = relative(&path, root).ok_or_else(|| {
                anyhow!(
                    "{} is outside {}, the tree the output mirrors (give --root)",
                    path.display(),
                    root.display()
                )
            })?;
            if seen.insert(rel.clone(), ()).is_none() {
                docs.push(Document {
                    path,
                    rel,
                    entry: entry.clone(),
                });
            }
        }
    }
    Ok(docs)
}

/// `path` below `root`, lexically (`.` and `..` resolved), with `/` between
/// components; `None` outside it.
fn relative(path: &Path, root: &Path) -> Option<String> {
    let (path, root) = (lexical(path), lexical(root));
    let rel = path.strip_prefix(&root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn lexical(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Which of `n` shards a document belongs to: the first 8 bytes of the
/// SHA-256 of its path below the root, modulo `n`. Stable across machines,
/// runs and manifest order.
pub fn shard_of(rel: &str, n: usize) -> usize {
    let digest = Sha256::digest(rel.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % n.max(1) as u64) as usize
}

/// This worker's share: index and count, 0 <= index < count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard from `--shard I/N`, else from a job array's environment: Slurm's
/// `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) of
/// `SLURM_ARRAY_TASK_COUNT` (or `--shards`), or Kubernetes'
/// `JOB_COMPLETION_INDEX` of `--shards`. `None`: the whole library.
pub fn shard(
    flag: Option<&str>,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Shard>> {
    let number = |name: &str, v: &str| -> Result<usize> {
        v.trim()
            .parse()
            .map_err(|_| anyhow!("{name}: `{v}` is not a whole number"))
    };
    let (index, count) = if let Some(spec) = flag {
        let (i, n) = spec
            .split_once('/')
            .ok_or_else(|| anyhow!("--shard: `{spec}` is not I/N (like 0/4)"))?;
        if shards.is_some_and(|s| s != number("--shard", n).unwrap_or(0)) {
            bail!("--shard {spec} and --shards disagree");
        }
        (number("--shard", i)?, number("--shard", n)?)
    } else if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
        let min = match env("SLURM_ARRAY_TASK_MIN") {
            Some(m) => number("SLURM_ARRAY_TASK_MIN", &m)?,
            None => 0,
        };
        let count = match (shards, env("SLURM_ARRAY_TASK_COUNT")) {
            (Some(n), _) => n,
            (None, Some(n)) => number("SLURM_ARRAY_TASK_COUNT", &n)?,
            (None, None) => {
                bail!("SLURM_ARRAY_TASK_ID is set but not the shard count: give --shards N")
            }
        };
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let index = id.checked_sub(min).ok_or_else(|| {
            anyhow!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
        })?;
        (index, count)
    } else if let Some(i) = env("JOB_COMPLETION_INDEX") {
        let Some(count) = shards else {
            bail!("JOB_COMPLETION_INDEX is set but not the shard count: give --shards N (the Job's completions)");
        };
        (number("JOB_COMPLETION_INDEX", &i)?, count)
    } else if let Some(n) = shards {
        bail!("--shards {n} without an index: give --shard I/{n}, or run in a Slurm job array or a Kubernetes Indexed Job");
    } else {
        return Ok(None);
    };
    if count == 0 || index >= count {
        bail!("shard {index}/{count}: the index must be below the count (0 <= I < N); a job array must be contiguous");
    }
    Ok(Some(Shard { index, count }))
}

/// A document's output: the file, or the directory of chapter files.
pub fn output_of(doc: &Document, out: &Path, format: Format, split: bool) -> PathBuf {
    let below = out.join(&doc.rel);
    if split {
        below.with_extension("")
    } else {
        below.with_extension(format.extension())
    }
}

/// The record beside a one-file output: `.NAME.kokoro-done`, holding the
/// fingerprint of what made it.
fn record_of(file: &Path) -> PathBuf {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    file.with_file_name(format!(".{name}.kokoro-done"))
}

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

/// The documents of this shard, each with its settings, plan and output.
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
    base_plan: &Plan,
    settings: &Settings,
    assets: &AssetOptions,
    code_blocks: bool,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<()> {
    let started = Instant::now();
    let entries = read_manifest(&args.manifest)?;
    let base = args
        .manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = args.root.clone().unwrap_or_else(|| base.to_path_buf());
    let all = documents(&entries, base, &root)
        .with_context(|| format!("manifest {}", args.manifest.display()))?;
    let shard = shard(args.shard.as_deref(), args.shards, &|k| {
        std::env::var(k).ok()
    })?;

    // Every document's output, checked for clashes over the whole library so
    // that every shard refuses the same manifest.
    let mut work = Vec::new();
    let mut outputs: HashMap<PathBuf, String> = HashMap::new();
    for doc in all.iter() {
        let w = plan_document(doc, args, base_plan, settings)
            .with_context(|| format!("manifest {}: {}", args.manifest.display(), doc.rel))?;
        if let Some(other) = outputs.insert(w.output.clone(), doc.rel.clone()) {
            bail!(
                "{other} and {} would both be written to {}: rename one, or give one a format of its own",
                doc.rel,
                w.output.display()
            );
        }
        if shard.is_none_or(|s| shard_of(&doc.rel, s.count) == s.index) {
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

    let mut outcomes = Vec::new();
    {
        let open = || open_engine(base_plan, settings, assets, log);
        let mut engine = Lazy {
            tts: None,
            open: &open,
            failed: false,
        };
        for (k, w) in work.iter().enumerate() {
            let label = format!("[{}/{}] {}", k + 1, work.len(), w.doc.rel);
            let result = speak(w, &mut engine, code_blocks, cancel, log);
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
                Err(e) if e.downcast_ref::<run::Interrupted>().is_some() || engine.failed => {
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

/// A document's settings (its entry over the command line's), plan and output.
fn plan_document(
    doc: &Document,
    args: &BatchArgs,
    base_plan: &Plan,
    settings: &Settings,
) -> Result<Work> {
    let e = &doc.entry;
    let mut settings = settings.clone();
    if let Some(v) = &e.voice {
        settings.voice = v.clone();
    }
    if let Some(s) = e.speed {
        if !(0.5..=2.0).contains(&s) {
            bail!("speed {s} is out of range (0.5 to 2.0)");
        }
        settings.speed = s;
    }
    let lang = match &e.lang {
        Some(l) => Some(l.parse()?),
        None => base_plan.lang,
    };
    let format = match &e.format {
        Some(f) => f.parse::<Format>()?,
        None => base_plan.format,
    };
    let split = e.split.unwrap_or(args.split);
    let output = output_of(doc, &args.out, format, split);
    let out = if split {
        Output::Split {
            dir: output.clone(),
        }
    } else {
        Output::Merged(Target::File {
            path: output.clone(),
            in_place: false,
        })
    };
    let plan = Plan {
        input: Input::File(doc.path.clone()),
        input_format: base_plan
            .input_format
            .or_else(|| InputFormat::from_path(&doc.path)),
        action: Action::Speak(out),
        format,
        lang,
        streaming: false,
        captions: None,
        timestamps: None,
        ..base_plan.clone()
    };
    Ok(Work {
        doc: doc.clone(),
        settings,
        plan,
        output,
        split,
    })
}

/// The engine, once for the whole shard: documents differ in voice and
/// language, which are chosen per call.
fn open_engine(plan: &Plan, settings: &Settings, assets: &AssetOptions, log: Log) -> Result<Tts> {
    let frontends = Frontends::new(run::fallback(assets, &log), run::load_lexicon(settings)?);
    let config = run::engine_config(
        assets,
        plan.workers,
        frontends,
        plan.skip_timing,
        settings,
        log,
    );
    let tts = Tts::open(config)?;
    log.debug(&format!("engine: {}", tts.describe()));
    Ok(tts)
}

/// The engine, opened when a document first needs it: a shard whose
/// documents are all complete opens none.
struct Lazy<'a> {
    tts: Option<Tts>,
    open: &'a dyn Fn() -> Result<Tts>,
    /// It could not be opened.
    failed: bool,
}

impl Lazy<'_> {
    fn get(&mut self) -> Result<&Tts> {
        if self.tts.is_none() {
            let opened = (self.open)();
            self.failed = opened.is_err();
            self.tts = Some(opened?);
        }
        self.tts.as_ref().context("the engine did not open")
    }
}

/// Speaks one document: `Some(audio seconds)`, or `None` when its output was
/// complete already.
fn speak(
    w: &Work,
    engine: &mut Lazy<'_>,
    code_blocks: bool,
    cancel: &Arc<AtomicBool>,
    log: Log,
) -> Result<Option<f64>> {
    if let Some(parent) = w.output.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    let mut speak_it = || {
        run::speak_file(
            &w.plan,
            &w.settings,
            engine.get()?,
            code_blocks,
            cancel,
            log,
        )
    };
    if w.split {
        // Its own directory and record, as `--split-output` keeps them.
        let spoken = speak_it()?;
        return Ok((!spoken.all_done_already).then_some(spoken.audio_seconds));
    }
    // One file: done when its record names what made it. Only this worker
    // writes this document, so the temporaries a killed run of it left are
    // its own to remove.
    let record = record_of(&w.output);
    let fingerprint = fingerprint(w)?;
    if w.output.is_file() && std::fs::read_to_string(&record).is_ok_and(|r| r.trim() == fingerprint)
    {
        return Ok(None);
    }
    for stale in Dest::temporaries_of(&w.output)
        .into_iter()
        .chain(Dest::temporaries_of(&record))
    {
        let _ = std::fs::remove_file(stale);
    }
    let spoken = speak_it()?;
    crate::book::write_whole(&record, fingerprint.as_bytes())?;
    Ok(Some(spoken.audio_seconds))
}

/// What a one-file output depends on: the document's bytes, the voice, speed,
/// language, pauses, format, lexicon and model.
fn fingerprint(w: &Work) -> Result<String> {
    let bytes = std::fs::read(&w.doc.path)
        .with_context(|| format!("cannot read {}", w.doc.path.display()))?;
    let lexicon = run::lexicon_text(&w.settings);
    let settings = format!(
        "{} {} {:?} {:?} {:?} {:?} {:?}",
        w.settings.voice,
        w.settings.speed,
        w.plan.lang.map(|l| l.code()),
        w.plan.pauses,
        w.plan.format,
        w.plan.input_format.map(|f| f.name()),
        w.settings.model,
    );
    let content = hex(&Sha256::digest(&bytes));
    Ok(crate::book::fingerprint(&[&content, &settings, &lexicon]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    proptest::proptest! {
        /// Any manifest text, as any kind: entries or an error, never a panic.
        #[test]
        fn any_manifest_is_entries_or_an_error(
            text in "(\\PC|[\\[\\]{}\"=,:\n]|path|document|voice|speed){0,80}",
            kind in proptest::sample::select(vec![None, Some("toml"), Some("json"), Some("txt")]),
        ) {
            let _ = parse_manifest(&text, kind);
        }
    }

    #[test]
    fn every_document_is_in_exactly_one_shard_for_one_to_eight_workers() {
        let rels: Vec<String> = (0..500)
            .map(|i| format!("shelf-{}/book {i}.epub", i % 7))
            .collect();
        for n in 1..=8 {
            let mut counts = vec![0usize; n];
            for rel in &rels {
                let s = shard_of(rel, n);
                assert!(s < n);
                counts[s] += 1;
                // The same answer every time: no state, no randomness.
                assert_eq!(shard_of(rel, n), s);
            }
            assert_eq!(counts.iter().sum::<usize>(), rels.len());
            // Roughly even: no shard more than twice its share.
            assert!(
                counts.iter().all(|&c| c <= 2 * rels.len() / n),
                "{counts:?}"
            );
        }
    }

    #[test]
    fn the_shard_comes_from_the_flag_or_a_job_arrays_environment() {
        let none = env(&[]);
        assert_eq!(shard(None, None, &none).unwrap(), None);
        assert_eq!(
            shard(Some("2/5"), None, &none).unwrap(),
            Some(Shard { index: 2, count: 5 })
        );
        for bad in ["5/5", "1/0", "x/2", "3"] {
            assert!(shard(Some(bad), None, &none).is_err(), "{bad}");
        }
        // Slurm: --array=1-3 numbers its tasks from 1.
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            shard(None, None, &slurm).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        // The flag wins over the environment.
        assert_eq!(
            shard(Some("0/2"), None, &slurm).unwrap(),
            Some(Shard { index: 0, count: 2 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "4")]);
        assert_eq!(
            shard(None, Some(6), &k8s).unwrap(),
            Some(Shard { index: 4, count: 6 })
        );
        let e = shard(None, None, &k8s).unwrap_err().to_string();
        assert!(e.contains("--shards"), "{e}");
        assert!(shard(None, Some(3), &none).is_err());
        assert!(shard(None, Some(4), &env(&[("JOB_COMPLETION_INDEX", "4")])).is_err());
    }

    #[test]
    fn manifests_are_lines_toml_or_json() {
        let lines = parse_manifest("# my library\nbooks/*.epub\n\n  notes/a.md  \n", None).unwrap();
        assert_eq!(
            lines.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["books/*.epub", "notes/a.md"]
        );
        let toml = "[[document]]\npath = \"a.md\"\nvoice = \"bf_emma\"\nsplit = true\n\n[[document]]\npath = \"b.txt\"\nformat = \"mp3\"\nspeed = 1.2\n";
        let t = parse_manifest(toml, Some("toml")).unwrap();
        assert_eq!(t[0].voice.as_deref(), Some("bf_emma"));
        assert_eq!(t[0].split, Some(true));
        assert_eq!(t[1].format.as_deref(), Some("mp3"));
        let json = r#"[{"path": "a.md", "voice": "bf_emma", "split": true}, {"path": "b.txt", "format": "mp3", "speed": 1.2}]"#;
        assert_eq!(parse_manifest(json, Some("json")).unwrap(), t);
        let listed = format!("{{\"document\": {json}}}");
        assert_eq!(parse_manifest(&listed, Some("json")).unwrap(), t);
        // Unknown keys are mistakes, not silence.
        let e = parse_manifest("[[document]]\npath = \"a\"\nvoise = \"x\"\n", Some("toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("voise"), "{e}");
        assert!(parse_manifest("[{\"path\": \"\"}]", Some("json")).is_err());
    }

    #[test]
    fn documents_mirror_the_root_once_each_and_globs_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("shelf")).unwrap();
        for f in ["shelf/b.md", "shelf/a.md", "top.txt"] {
            std::fs::write(root.join(f), "Hello.").unwrap();
        }
        let entries = parse_manifest("shelf/*.md\ntop.txt\nshelf/a.md\n", None).unwrap();
        let docs = documents(&entries, root, root).unwrap();
        assert_eq!(
            docs.iter().map(|d| d.rel.as_str()).collect::<Vec<_>>(),
            ["shelf/a.md", "shelf/b.md", "top.txt"]
        );
        let out = Path::new("/out");
        assert_eq!(
            output_of(&docs[0], out, Format::Mp3, false),
            Path::new("/out/shelf/a.mp3")
        );
        assert_eq!(
            output_of(&docs[0], out, Format::Mp3, true),
            Path::new("/out/shelf/a")
        );
        let e = documents(&parse_manifest("*.epub\n", None).unwrap(), root, root)
            .unwrap_err()
            .to_string();
        assert!(e.contains("matches no file"), "{e}");
        let e = documents(&parse_manifest("../x.txt\n", None).unwrap(), root, root)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside"), "{e}");
    }
}
