//! `cargo xtask bench-startup`: from process start to the first half second of
//! audio on standard output, as a listener meets it: `kokoro long.txt -`.
//!
//! Each run spawns the `kokoro` binary (`--exe PATH` for another build, to
//! compare two builds in one run), reads its standard output until 0.5 s of
//! 16-bit audio has come after the WAV header, then stops it. Under `--debug`
//! the binary says when its front end and its engine were ready; those are
//! reported beside the total. `--runs N` (default 5), `--text NAME` (default
//! long), `--forms auto,int8` (each binary once per model form, runs
//! alternating); prints a markdown table of medians.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::bench::{flag, machine, percentile};

fn median(v: Vec<f64>) -> f64 {
    percentile(v, 0.5)
}

/// Bytes of the WAV header plus half a second of 16-bit mono audio at 24 kHz.
const HALF_SECOND: usize = 44 + 24_000;

pub fn run(args: &[String]) -> Result<()> {
    crate::fetch::run()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let runs: usize = flag(args, "--runs").map_or(Ok(5), str::parse)?;
    let text = root
        .join("test_data/corpus")
        .join(format!("{}.txt", flag(args, "--text").unwrap_or("long")));
    let exes = crate::bench::kokoro_exes(args)?;
    let forms: Vec<&str> = flag(args, "--forms").unwrap_or("auto").split(',').collect();
    let mut table = format!(
        "### Start-up: process start to the first 0.5 s of audio on stdout ({}), median of {runs}\n\n\
         | binary | model form | first 0.5 s of audio s | front end ready s | engine ready s |\n|---|---|---:|---:|---:|\n",
        machine()
    );
    let variants: Vec<(&PathBuf, &str)> = exes
        .iter()
        .flat_map(|e| forms.iter().map(move |f| (e, *f)))
        .collect();
    for (exe, form) in variants {
        let mut totals = Vec::new();
        let mut frontends = Vec::new();
        let mut engines = Vec::new();
        for _ in 0..runs {
            let (total, frontend, engine) = once(exe, &text, form)?;
            eprintln!(
                "xtask: {}: {total:.2} s (front end {frontend:.2} s, engine {engine:.2} s)",
                exe.display()
            );
            totals.push(total);
            frontends.push(frontend);
            engines.push(engine);
        }
        table.push_str(&format!(
            "| `{}` | {form} | {:.2} | {:.2} | {:.2} |\n",
            exe.display(),
            median(totals),
            median(frontends),
            median(engines)
        ));
    }
    println!("{table}");
    Ok(())
}

/// One run: seconds to the first half second of audio, and the front end's
/// and the engine's ready times as the binary reported them (NaN if it did not).
fn once(exe: &PathBuf, text: &PathBuf, form: &str) -> Result<(f64, f64, f64)> {
    let t = Instant::now();
    let mut child = Command::new(exe)
        .arg(text)
        .args(["-", "--debug", "--model-form", form])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let mut out = child.stdout.take().context("no stdout")?;
    let err = child.stderr.take().context("no stderr")?;
    let log = std::thread::spawn(move || {
        let (mut frontend, mut engine) = (f64::NAN, f64::NAN);
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let secs = |l: &str, key: &str| -> Option<f64> {
                let rest = &l[l.find(key)? + key.len()..];
                rest.split_whitespace().next()?.parse().ok()
            };
            if let Some(s) = secs(&line, "front end ready in ") {
                frontend = s;
            }
            if let Some(s) = secs(&line, "engine ready in ") {
                engine = s;
            }
        }
        (frontend, engine)
    });
    let mut got = 0;
    let mut buf = [0u8; 8192];
    while got < HALF_SECOND {
        let n = out.read(&mut buf)?;
        anyhow::ensure!(
            n > 0,
            "{} ended before half a second of audio",
            exe.display()
        );
        got += n;
    }
    let total = t.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    drop(out);
    let (frontend, engine) = log.join().unwrap_or((f64::NAN, f64::NAN));
    Ok((total, frontend, engine))
}
