//! `cargo xtask bench`: whole runs of the real model over the corpus, one child
//! process per configuration (so each peak RSS is its own), with the results
//! written to docs/BENCHMARKS.md.
//!
//! Flags: `--quick` (medium.txt only), `--texts a,b`, `--layouts 1x1,2x1,2x1s,...`
//! (workers x intra-op threads, `s`: the workers share one session, `t`: the
//! timed model, words timed; the first is the baseline), `--target N`
//! (chunk target in ids), `--out FILE` (default docs/BENCHMARKS.md).
//! `--book [--sizes 2000,20000]`: memory against the length of the text, with
//! texts of those sizes made from long.txt (printed, not written): the peak,
//! and the lowest and highest RSS between one delivered chunk and the next.
//!
//! The child, `bench-run --file F --layout WxT --raw OUT`, also takes
//! `--target N`, `--max N`, `--budget N|none` (ids in flight per session) and
//! `--rss-trace FILE` (one line of memory per delivered chunk).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kokoro::infer::{init_runtime, KokoroSession, SessionOptions, SharedSession, VoiceSet};
use kokoro::sched::{Audio, Control, Layout, Request, SinkError};
use kokoro::text::{ChunkOptions, Frontend, G2p, Lang};

/// One configuration's measurements, as the child prints them.
#[derive(Debug, Clone, Default)]
struct Row {
    text: String,
    layout: String,
    threads: usize,
    chunks: usize,
    wall: f64,
    audio: f64,
    ttfa: f64,
    load: f64,
    frontend: f64,
    rss_mib: f64,
    stall: f64,
    fnv: String,
    raw: PathBuf,
}

/// The `kokoro` binaries to measure: `--exe A,B`, else this workspace's,
/// built in release first.
pub(crate) fn kokoro_exes(args: &[String]) -> Result<Vec<PathBuf>> {
    if let Some(list) = flag(args, "--exe") {
        return Ok(list.split(',').map(PathBuf::from).collect());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "-p", "kokoro-cli"])
        .status()?;
    anyhow::ensure!(status.success(), "cannot build the kokoro binary");
    Ok(vec![
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/kokoro")
    ])
}

/// The one `kokoro` binary to measure (the first of [`kokoro_exes`]).
pub(crate) fn kokoro_exe(args: &[String]) -> Result<PathBuf> {
    kokoro_exes(args)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("--exe names no binary"))
}

pub(crate) fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

pub(crate) fn corpus_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KOKORO_CORPUS") {
        return Ok(dir.into());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("no workspace root")?;
    let dir = root.join("test_data/corpus");
    anyhow::ensure!(
        dir.is_dir(),
        "corpus not found at {} (set KOKORO_CORPUS)",
        dir.display()
    );
    Ok(dir)
}

/// A layout to measure: `WxT`, W sessions of T intra-op threads each; then
/// any of the letters `s` (W workers of T threads calling one shared
/// session), `t` (the timed model: each id's duration read on every call,
/// words timed), and the form of the model: `f` the fused form, `d` the
/// float (dequantized) one, neither the int8 export as fetched.
#[derive(Debug, PartialEq)]
pub(crate) struct Bench {
    pub workers: usize,
    pub threads: usize,
    pub shared: bool,
    pub timed: bool,
    pub form: kokoro::Form,
}

pub(crate) fn parse_layout(s: &str) -> Result<Bench> {
    let (w, t) = s
        .split_once('x')
        .with_context(|| format!("layout `{s}` is not WORKERSxTHREADS[s][t][f|d]"))?;
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (t, letters) = t.split_at(digits);
    let mut bench = Bench {
        workers: w.parse()?,
        threads: t.parse()?,
        shared: false,
        timed: false,
        form: kokoro::Form::Int8,
    };
    for c in letters.chars() {
        match c {
            's' => bench.shared = true,
            't' => bench.timed = true,
            'f' => bench.form = kokoro::Form::Fused,
            'd' => bench.form = kokoro::Form::Float,
            _ => bail!("layout `{s}`: unknown letter `{c}` (s, t, f, d)"),
        }
    }
    Ok(bench)
}

/// The model file of a layout's form (and timing), made in the cache.
pub(crate) fn model_for(bench: &Bench) -> Result<PathBuf> {
    let cache = crate::fetch::options().cache()?;
    let mut model = cache.paths().model;
    if bench.timed {
        model = cache.ensure_timed(&model)?;
    }
    Ok(match bench.form {
        kokoro::Form::Int8 => model,
        kokoro::Form::Fused => cache.ensure_fused(&model)?,
        kokoro::Form::Float => cache.ensure_float(&model)?,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    crate::fetch::run()?;
    let corpus = corpus_dir()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let texts: Vec<String> = match flag(args, "--texts") {
        Some(t) => t.split(',').map(str::to_string).collect(),
        None if args.iter().any(|a| a == "--quick") => vec!["medium".into()],
        None => vec!["medium".into(), "long".into()],
    };
    let layouts: Vec<String> = match flag(args, "--layouts") {
        Some(l) => l.split(',').map(str::to_string).collect(),
        None => {
            let mut l = vec!["1x1".to_string(), format!("1x{cores}")];
            let mut w = 2;
            while w <= cores {
                l.push(format!("{w}x1"));
                l.push(format!("{w}x1s"));
                w *= 2;
            }
            if cores >= 4 {
                l.push(format!("{}x2", cores / 2));
            }
            l.dedup();
            l
        }
    };
    let default_target = kokoro::text::ChunkOptions::default()
        .target_tokens
        .to_string();
    let target = flag(args, "--target").unwrap_or(&default_target);
    let out = PathBuf::from(flag(args, "--out").unwrap_or("docs/BENCHMARKS.md"));
    let exe = std::env::current_exe()?;
    let scratch = tempfile_dir()?;
    if args.iter().any(|a| a == "--first-audio") {
        return first_audio(&exe, &corpus, &texts, &layouts, &scratch, cores);
    }
    if args.iter().any(|a| a == "--book") {
        let layout = match flag(args, "--layouts") {
            Some(l) => l.split(',').next().unwrap_or("1x1").to_string(),
            None => format!("{cores}x1"),
        };
        return book(
            &exe,
            &corpus,
            flag(args, "--sizes").unwrap_or("2000,20000"),
            &layout,
            target,
            &scratch,
        );
    }

    let mut rows = Vec::new();
    for text in &texts {
        let file = corpus.join(format!("{text}.txt"));
        for layout in &layouts {
            let Bench {
                workers: w,
                threads: t,
                ..
            } = parse_layout(layout)?;
            if w * t > cores {
                eprintln!("xtask: skipping {layout}: more threads than the {cores} cores");
                continue;
            }
            let raw = scratch.join(format!("{text}-{layout}.f32"));
            eprintln!("xtask: bench {text} {layout} ...");
            let result = bench_child(&exe, &file, layout, target, &raw)
                .with_context(|| format!("bench run {text} {layout}"))?;
            let num = |k: &str| result.num(k);
            let row = Row {
                text: text.clone(),
                layout: layout.clone(),
                threads: w * t,
                chunks: num("chunks") as usize,
                wall: num("wall"),
                audio: num("audio"),
                ttfa: num("ttfa"),
                load: num("load"),
                frontend: num("frontend"),
                rss_mib: num("rss_mib"),
                stall: num("stall"),
                fnv: result.values.get("fnv").cloned().unwrap_or_default(),
                raw,
            };
            eprintln!("xtask:   {}", result.line);
            rows.push(row);
        }
    }
    let report = report(&rows, cores, target)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &report)?;
    println!("{report}");
    eprintln!("xtask: wrote {}", out.display());
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// What one `bench-run` child printed.
struct ChildResult {
    line: String,
    values: BTreeMap<String, String>,
}

impl ChildResult {
    fn num(&self, key: &str) -> f64 {
        self.values
            .get(key)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    }
}

/// Runs one configuration in a child process (so that its peak RSS is its own).
fn bench_child(
    exe: &Path,
    file: &Path,
    layout: &str,
    target: &str,
    raw: &Path,
) -> Result<ChildResult> {
    let output = Command::new(exe)
        .args(["bench-run", "--file"])
        .arg(file)
        .args(["--layout", layout, "--target", target, "--raw"])
        .arg(raw)
        .output()?;
    if !output.status.success() {
        bail!(
            "bench run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .context("bench run printed no RESULT")?
        .to_string();
    let values = line[7..]
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(ChildResult { line, values })
}

/// `--book`: one run per text size, each text made of long.txt's paragraphs
/// (repeated as needed) up to that many characters; peak RSS when a tenth, half
/// and all of the text is spoken. Memory that does not grow with the text shows
/// as equal columns, and as equal rows.
fn book(
    exe: &Path,
    corpus: &Path,
    sizes: &str,
    layout: &str,
    target: &str,
    scratch: &Path,
) -> Result<()> {
    let source = std::fs::read_to_string(corpus.join("long.txt"))?;
    let paragraphs: Vec<&str> = source
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .collect();
    let mut table = String::from(
        "| characters | chunks | audio s | wall s | RTF | peak RSS MiB at 10 % | at 50 % | at 100 % | between chunks p50 | per-chunk high p50 | p99 |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for size in sizes.split(',') {
        let size: usize = size
            .trim()
            .parse()
            .with_context(|| format!("--sizes: `{size}`"))?;
        let mut text = String::new();
        for p in paragraphs.iter().cycle() {
            if text.len() >= size {
                break;
            }
            text.push_str(p.trim());
            text.push_str("\n\n");
        }
        let file = scratch.join(format!("book-{size}.txt"));
        std::fs::write(&file, &text)?;
        eprintln!(
            "xtask: bench --book {} characters, layout {layout} ...",
            text.len()
        );
        let raw = scratch.join(format!("book-{size}.f32"));
        let result = bench_child(exe, &file, layout, target, &raw)?;
        eprintln!("xtask:   {}", result.line);
        let num = |k: &str| result.num(k);
        table += &format!(
            "| {} | {} | {:.1} | {:.1} | {:.3} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
            text.len(),
            num("chunks"),
            num("audio"),
            num("wall"),
            num("wall") / num("audio"),
            num("rss10"),
            num("rss50"),
            num("rss_mib"),
            num("quiet"),
            num("busy50"),
            num("busy99")
        );
    }
    println!("Layout {layout} on {}:\n\n{table}", machine());
    let _ = std::fs::remove_dir_all(scratch);
    Ok(())
}

/// `--first-audio`: time to first audio only, five runs per layout (median), in
/// the streaming configuration, after the model is loaded.
fn first_audio(
    exe: &Path,
    corpus: &Path,
    texts: &[String],
    layouts: &[String],
    scratch: &Path,
    cores: usize,
) -> Result<()> {
    let mut s = format!("### Time to first audio when streaming ({}), median of 5\n\n| text | layout | first audio s | runs |\n|---|---|---:|---|\n", machine());
    for text in texts {
        for layout in layouts {
            let Bench {
                workers: w,
                threads: t,
                ..
            } = parse_layout(layout)?;
            if w * t > cores {
                continue;
            }
            let mut runs = Vec::new();
            for _ in 0..5 {
                let output = Command::new(exe)
                    .args(["bench-run", "--first-audio-only", "--file"])
                    .arg(corpus.join(format!("{text}.txt")))
                    .args(["--layout", layout, "--raw"])
                    .arg(scratch.join("first.f32"))
                    .output()?;
                anyhow::ensure!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                let stdout = String::from_utf8_lossy(&output.stdout);
                let v = stdout
                    .lines()
                    .find_map(|l| l.strip_prefix("RESULT ttfa="))
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok())
                    .context("no ttfa")?;
                runs.push(v);
            }
            let mut sorted = runs.clone();
            sorted.sort_by(f64::total_cmp);
            let shown: Vec<String> = runs.iter().map(|r| format!("{r:.2}")).collect();
            eprintln!("xtask: first audio {text} {layout}: {:.2} s", sorted[2]);
            s += &format!(
                "| {text}.txt | {layout} | {:.2} | {} |\n",
                sorted[2],
                shown.join(", ")
            );
        }
    }
    println!("{s}");
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kokoro-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn read_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(String::new(), |kib| {
            format!(", {:.0} GiB RAM", kib / 1024.0 / 1024.0)
        });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores ({cpu}){mem}")
}

fn report(rows: &[Row], cores: usize, target: &str) -> Result<String> {
    let mut s = String::new();
    use std::fmt::Write as _;
    writeln!(s, "## `cargo xtask bench` on {}\n", machine())?;
    writeln!(s, "Kokoro v1.0 int8 model, ONNX Runtime {}, voice af_heart, chunk target {target} ids with a short first chunk (streaming chunking).", kokoro::assets::ORT_VERSION)?;
    writeln!(s, "Wall time is synthesis after the sessions are loaded (the front end runs lazily inside it, so first audio includes phonemizing the first chunk); playback stalls is how long a player that starts at the first audio would wait for later chunks; speedup and efficiency are against the first layout (1 worker x 1 thread) in the same run; efficiency = speedup / threads used ({cores} cores available).\n")?;
    for text in rows
        .iter()
        .map(|r| r.text.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let group: Vec<&Row> = rows.iter().filter(|r| r.text == text).collect();
        let base = group[0];
        let base_audio = read_f32(&base.raw)?;
        writeln!(
            s,
            "### {text}.txt ({} chunks, {:.1} s of audio)\n",
            base.chunks, base.audio
        )?;
        writeln!(s, "| layout (workers x threads) | wall s | RTF | speedup | efficiency | first audio s | playback stalls s | session load s | front end s | peak RSS MiB | output vs baseline |")?;
        writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")?;
        for r in &group {
            let speedup = base.wall / r.wall;
            let same = if r.fnv == base.fnv {
                "bit-identical".to_string()
            } else {
                let audio = read_f32(&r.raw)?;
                let diff = audio
                    .iter()
                    .zip(&base_audio)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                if audio.len() == base_audio.len() {
                    format!("max abs diff {diff:.1e}")
                } else {
                    format!("length differs ({} vs {})", audio.len(), base_audio.len())
                }
            };
            writeln!(
                s,
                "| {} | {:.1} | {:.3} | {:.2} | {:.0}% | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
                r.layout,
                r.wall,
                r.wall / r.audio,
                speedup,
                100.0 * speedup / r.threads as f64,
                r.ttfa,
                r.stall,
                r.load,
                r.frontend,
                r.rss_mib,
                same
            )?;
        }
        writeln!(s)?;
    }
    Ok(s)
}

fn peak_rss_mib() -> f64 {
    peak_rss_mib_of("self")
}

/// The peak RSS of a process (`self` or a pid), from /proc (Linux).
pub(crate) fn peak_rss_mib_of(process: &str) -> f64 {
    rss_mib_of(process, "VmHWM:")
}

/// One memory line of a process's /proc status (`VmHWM:` the peak RSS, `VmRSS:` the current one), in MiB.
pub(crate) fn rss_mib_of(process: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The child: one configuration over one text.
pub fn run_one(args: &[String]) -> Result<()> {
    // As the `kokoro` binary does, so that the numbers are its numbers.
    kokoro::infer::return_large_blocks_to_the_system();
    let file = PathBuf::from(flag(args, "--file").context("--file")?);
    let bench = parse_layout(flag(args, "--layout").context("--layout")?)?;
    let Bench {
        workers,
        threads,
        shared,
        timed,
        ..
    } = bench;
    let target: usize =
        flag(args, "--target").map_or(Ok(ChunkOptions::default().target_tokens), str::parse)?;
    let raw = PathBuf::from(flag(args, "--raw").context("--raw")?);
    let first_only = args.iter().any(|a| a == "--first-audio-only");
    // `--rss-trace FILE`: one line per delivered chunk (index, seconds since
    // the start, its audio seconds, lowest and highest RSS since the previous
    // chunk, peak RSS so far): where memory goes over a long run.
    let mut trace = flag(args, "--rss-trace")
        .map(|p| std::fs::File::create(p).map(std::io::LineWriter::new))
        .transpose()?;
    // `--chunks-out DIR`: each chunk's samples (`N.f32`) and, with the
    // timed model, where each of its words starts and ends (`N.words`,
    // samples, a word a line), for the quality gate.
    let chunks_out = flag(args, "--chunks-out").map(PathBuf::from);
    let sampler = RssSampler::start();
    let paths = crate::fetch::options().cache()?.paths();
    let model = model_for(&bench)?;
    let text = std::fs::read_to_string(&file)?;

    let t = Instant::now();
    let fallback = crate::fetch::fallback()?;
    let frontend = Frontend::new(G2p::new(Lang::EnUs, fallback)?);
    let opts = ChunkOptions {
        target_tokens: target,
        max_tokens: flag(args, "--max")
            .map_or(Ok(ChunkOptions::default().max_tokens), str::parse)?,
        ..ChunkOptions::streaming()
    };
    // The front end's cost on its own; in the run, chunks are made as they are pulled.
    let n_chunks = frontend.chunks(&text, opts).count();
    let frontend_s = t.elapsed().as_secs_f64();

    init_runtime(&paths.runtime)?;
    let voice = VoiceSet::open(&paths.voices)?.resolve("af_heart")?;
    let t = Instant::now();
    let layout = Layout {
        workers,
        intra_threads: threads,
    };
    // As many ids in flight per session as the chunk target (the default's rule);
    // `--budget none` lifts the limit.
    let budget = match flag(args, "--budget") {
        Some("none") => usize::MAX,
        Some(n) => n.parse().context("--budget")?,
        None => target,
    };
    // `--no-arena`: ONNX Runtime's CPU arena off (allocations straight from malloc).
    let cpu_arena = !args.iter().any(|a| a == "--no-arena");
    let mut scheduler = if shared {
        let session = SharedSession::open(
            &model,
            SessionOptions {
                intra_threads: threads,
                cpu_arena,
                ..SessionOptions::default()
            },
        )?;
        layout.build_with_budget(budget, |_| session.handle())?
    } else {
        layout.build_with_budget(budget, |o| {
            KokoroSession::open(&model, SessionOptions { cpu_arena, ..o })
        })?
    };
    let load = t.elapsed().as_secs_f64();

    let mut out = BufWriter::new(std::fs::File::create(&raw)?);
    let mut hash = Fnv(0xcbf29ce484222325);
    let request = Request {
        text: &text,
        voice: &voice,
        speed: 1.0,
    };
    let mut chunks = frontend.chunks(&text, opts);
    // A player that starts with the first chunk: how long would it wait for later ones?
    let started = Instant::now();
    let mut first_at: Option<f64> = None;
    let (mut played, mut stall) = (0.0f64, 0.0f64);
    // Peak RSS once a tenth and half of the chunks are out: flat if memory does
    // not grow with the length of the text.
    let (mut delivered, mut rss10, mut rss50) = (0usize, f64::NAN, f64::NAN);
    // The lowest and highest RSS between one delivery and the next: steady
    // when nothing accumulates, whatever the peak's luck.
    let (mut lows, mut highs) = (Vec::new(), Vec::new());
    let mut timed_words = 0usize;
    let mut sink = |a: Audio| -> Result<(), SinkError> {
        delivered += 1;
        timed_words += a.words.as_ref().map_or(0, Vec::len);
        if rss10.is_nan() && delivered * 10 >= n_chunks {
            rss10 = peak_rss_mib();
        }
        if rss50.is_nan() && delivered * 2 >= n_chunks {
            rss50 = peak_rss_mib();
        }
        let now = started.elapsed().as_secs_f64();
        let t0 = *first_at.get_or_insert(now);
        stall += (now - (t0 + played + stall)).max(0.0);
        played += a.samples.len() as f64 / 24_000.0;
        let (low, high) = sampler.take();
        lows.push(low);
        highs.push(high);
        if let Some(trace) = trace.as_mut() {
            writeln!(
                trace,
                "{} {now:.2} {:.2} {low:.1} {high:.1} {:.1}",
                a.index,
                a.samples.len() as f64 / 24_000.0,
                peak_rss_mib()
            )?;
        }
        for s in &a.samples {
            let b = s.to_le_bytes();
            hash.write(&b);
            out.write_all(&b)?;
        }
        if let Some(dir) = &chunks_out {
            let bytes: Vec<u8> = a.samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            std::fs::write(dir.join(format!("{}.f32", a.index)), bytes)?;
            if let Some(words) = &a.words {
                let lines: String = words
                    .iter()
                    .map(|w| format!("{} {}\n", w.samples.start, w.samples.end))
                    .collect();
                std::fs::write(dir.join(format!("{}.words", a.index)), lines)?;
            }
        }
        Ok(())
    };
    let control = Control {
        progress: None::<kokoro::sched::ProgressFn>,
        ..Control::default()
    };
    if first_only {
        // Time to first audio only: stop once the first chunk is out.
        let cancel = control.cancel.clone();
        let mut first = |a: Audio| -> Result<(), SinkError> {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            sink(a)
        };
        let result = scheduler.run(&request, &mut chunks, &mut first, &control);
        anyhow::ensure!(
            matches!(result, Err(kokoro::sched::Error::Cancelled) | Ok(_)),
            "run failed: {:?}",
            result.err()
        );
        let ttfa = first_at.unwrap_or(f64::NAN);
        println!(
            "RESULT ttfa={ttfa:.3} load={load:.3} rss_mib={:.1}",
            peak_rss_mib()
        );
        return Ok(());
    }
    let summary = scheduler.run(&request, &mut chunks, &mut sink, &control)?;
    out.flush()?;
    anyhow::ensure!(
        timed == (timed_words > 0),
        "the timed model timed {timed_words} words"
    );
    // The first tenth is the warm-up (short streaming chunks, first calls).
    let steady = |v: &[f64]| v[v.len() / 10..].to_vec();
    let (quiet, busy50, busy99) = (
        percentile(steady(&lows), 0.5),
        percentile(steady(&highs), 0.5),
        percentile(steady(&highs), 0.99),
    );
    println!(
        "RESULT chunks={} wall={:.3} audio={:.3} ttfa={:.3} load={:.3} frontend={:.3} rss_mib={:.1} rss10={rss10:.1} rss50={rss50:.1} quiet={quiet:.1} busy50={busy50:.1} busy99={busy99:.1} stall={:.3} fnv={:016x}",
        n_chunks,
        summary.elapsed.as_secs_f64(),
        summary.audio_seconds(),
        summary.first_audio.map_or(f64::NAN, |d| d.as_secs_f64()),
        load,
        frontend_s,
        peak_rss_mib(),
        stall,
        hash.0
    );
    Ok(())
}

/// The `q` quantile (0 to 1) of `v`, NaN when empty.
pub(crate) fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The process's RSS sampled every 20 ms on a thread of its own: the lowest and
/// highest seen since the last `take`.
struct RssSampler(std::sync::Arc<std::sync::Mutex<(f64, f64)>>);

impl RssSampler {
    const EMPTY: (f64, f64) = (f64::INFINITY, 0.0);

    fn start() -> Self {
        let range = std::sync::Arc::new(std::sync::Mutex::new(Self::EMPTY));
        let shared = range.clone();
        std::thread::spawn(move || loop {
            let now = rss_mib_of("self", "VmRSS:");
            let mut r = shared.lock().unwrap_or_else(|p| p.into_inner());
            *r = (r.0.min(now), r.1.max(now));
            drop(r);
            std::thread::sleep(std::time::Duration::from_millis(20));
        });
        Self(range)
    }

    /// NaN for both when no sample fell since the last call.
    fn take(&self) -> (f64, f64) {
        let (low, high) = std::mem::replace(
            &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()),
            Self::EMPTY,
        );
        if low.is_finite() {
            (low, high)
        } else {
            (f64::NAN, f64::NAN)
        }
    }
}

/// FNV-1a over the output bytes: enough to tell identical runs apart.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100000001b3);
        }
    }
}
