//! `cargo xtask bench-serve`: a load test of `kokoro serve` over loopback.
//!
//! Builds the `kokoro` binary, starts a server on a free port, and runs N
//! concurrent clients for a fixed time, each sending short requests one after
//! another. Reports requests per second, latency to the first audio (the
//! first 4 KiB, past any header) and to the last byte (p50 and p95), refusals (429) and errors, and the server's peak RSS.
//!
//! Flags: `--clients 1,4` (one run per count), `--seconds 60`, `--format wav`,
//! `--paragraphs` (each request a paragraph of long.txt instead of a short
//! sentence), `--exe A,B` (other builds of `kokoro`, compared in one run),
//! `--serve-args "..."` (more options for `kokoro serve`, as `--device cuda`).
//! With WAV or PCM the audio seconds served per second of wall time are
//! counted too.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const SENTENCES: [&str; 4] = [
    "The quick brown fox jumps over the lazy dog.",
    "Kokoro speaks from Rust, one chunk at a time.",
    "How long does it take before the first sound arrives?",
    "Every request here is short, as a chat reply would be.",
];

/// One client's results.
#[derive(Default)]
struct Tally {
    ttfb: Vec<f64>,
    total: Vec<f64>,
    refused: usize,
    errors: usize,
    /// Seconds of audio received (WAV and PCM).
    audio: f64,
}

/// Paragraphs of long.txt of 300 to 900 characters, each on one line.
pub fn paragraphs() -> Result<Vec<String>> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test_data/corpus/long.txt");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let found: Vec<String> = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| (300..=900).contains(&p.len()))
        .collect();
    anyhow::ensure!(
        !found.is_empty(),
        "no paragraph of 300 to 900 characters in long.txt"
    );
    Ok(found)
}

pub fn run(args: &[String]) -> Result<()> {
    let flag = |name: &str| crate::bench::flag(args, name);
    let clients: Vec<usize> = flag("--clients")
        .unwrap_or("1,4")
        .split(',')
        .map(|c| c.trim().parse().context("--clients"))
        .collect::<Result<_>>()?;
    let seconds: u64 = flag("--seconds")
        .unwrap_or("60")
        .parse()
        .context("--seconds")?;
    let format = flag("--format").unwrap_or("wav").to_string();
    let texts: Vec<String> = if args.iter().any(|a| a == "--paragraphs") {
        paragraphs()?
    } else {
        SENTENCES.iter().map(|s| s.to_string()).collect()
    };
    crate::fetch::run()?;
    let exes = crate::bench::kokoro_exes(args)?;

    let mut table = String::from(
        "| binary | clients | requests | requests/s | audio s/s | first audio (4 KiB) p50 s | p95 s | whole reply p50 s | p95 s | refused (429) | errors | server peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for exe in &exes {
        for &n in &clients {
            let queue = (2 * n).max(8).to_string();
            let mut serve_args = vec!["--queue", &queue];
            serve_args.extend(flag("--serve-args").unwrap_or("").split_whitespace());
            let (mut server, base, layout) = start_serve(exe, &serve_args)?;
            eprintln!("xtask: bench-serve {n} client(s) for {seconds} s against {base} {layout}");
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let handles: Vec<_> = (0..n)
                .map(|k| {
                    let url = format!("{base}/v1/audio/speech");
                    let format = format.clone();
                    let texts = texts.clone();
                    std::thread::spawn(move || client(&url, k, &format, &texts, deadline))
                })
                .collect();
            let mut all = Tally::default();
            for h in handles {
                let t = h.join().map_err(|_| anyhow::anyhow!("a client panicked"))?;
                all.ttfb.extend(t.ttfb);
                all.total.extend(t.total);
                all.refused += t.refused;
                all.errors += t.errors;
                all.audio += t.audio;
            }
            let wall = started.elapsed().as_secs_f64();
            let rss = crate::bench::peak_rss_mib_of(&server.id().to_string());
            let _ = server.kill();
            let _ = server.wait();
            let done = all.total.len();
            table += &format!(
            "| `{}` | {n} | {done} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {rss:.0} |\n",
            exe.display(),
            done as f64 / wall,
            all.audio / wall,
            percentile(&mut all.ttfb, 0.5),
            percentile(&mut all.ttfb, 0.95),
            percentile(&mut all.total, 0.5),
            percentile(&mut all.total, 0.95),
            all.refused,
            all.errors,
        );
        }
    }
    println!(
        "`cargo xtask bench-serve` on {} cores, {seconds} s per run, {} in {format}:\n\n{table}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if texts.len() == SENTENCES.len() {
            "short sentences"
        } else {
            "paragraphs of long.txt"
        }
    );
    Ok(())
}

/// Sends requests one after another until `deadline`.
/// `kokoro serve --port 0 ARGS` from `exe`, once it listens: the process, its
/// base URL and the layout it printed. Its stderr is drained on a thread.
pub fn start_serve(exe: &Path, args: &[&str]) -> Result<(Child, String, String)> {
    let mut server = Command::new(exe)
        .args(["serve", "--port", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start kokoro serve")?;
    let mut lines = BufReader::new(server.stderr.take().context("stderr")?).lines();
    let (base, layout) = loop {
        let Some(line) = lines.next() else {
            bail!("the server stopped before listening");
        };
        if let Some(rest) = line?.strip_prefix("kokoro: listening on ") {
            let (url, layout) = rest.split_once(' ').unwrap_or((rest, ""));
            break (url.to_string(), layout.to_string());
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((server, base, layout))
}

fn client(url: &str, k: usize, format: &str, texts: &[String], deadline: Instant) -> Tally {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut tally = Tally::default();
    let mut i = k;
    while Instant::now() < deadline {
        let body = format!(
            r#"{{"input":"{}","voice":"af_heart","response_format":"{format}"}}"#,
            texts[i % texts.len()]
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        );
        i += 1;
        let t = Instant::now();
        let res = agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(&body);
        let mut res = match res {
            Ok(r) => r,
            Err(_) => {
                tally.errors += 1;
                continue;
            }
        };
        match res.status().as_u16() {
            200 => {}
            429 => {
                tally.refused += 1;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            _ => {
                tally.errors += 1;
                continue;
            }
        }
        // The first audio, not the header: a few kilobytes in.
        let mut reader = res.body_mut().as_reader();
        let mut first = [0u8; 4096];
        if reader.read_exact(&mut first).is_err() {
            tally.errors += 1;
            continue;
        }
        let ttfb = t.elapsed().as_secs_f64();
        let mut rest = Vec::new();
        if reader.read_to_end(&mut rest).is_err() || rest.len() < 1000 {
            tally.errors += 1;
            continue;
        }
        tally.ttfb.push(ttfb);
        tally.total.push(t.elapsed().as_secs_f64());
        let bytes = first.len() + rest.len();
        tally.audio += match format {
            "wav" => bytes.saturating_sub(44) as f64 / 48_000.0,
            "pcm" => bytes as f64 / 48_000.0,
            _ => 0.0,
        };
    }
    tally
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}
