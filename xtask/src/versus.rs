//! `cargo xtask bench-vs`: whole processes, start-up included, one after
//! another on the same texts: the `kokoro` command (each `--forms` variant:
//! `auto` is the default command, `int8` the export as fetched) against
//! kokoro-onnx 0.6.1 (`xtask/reference/kokoro_onnx_run.py`, installed pinned
//! into a virtual environment under the target directory on first use).
//! Wall time, seconds of audio, and each process's own peak RSS (from
//! `wait4`), with the ratios to kokoro-onnx.
//!
//! Flags: `--texts medium,long` (corpus names), `--forms auto,int8`,
//! `--exe PATH`, `--rounds N` (the whole set N times, alternating).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::bench::{corpus_dir, flag, machine};

const REFERENCE: &str = "kokoro-onnx==0.6.1";

/// One process's wall time and peak RSS.
struct Measured {
    wall: f64,
    rss_mib: f64,
}

/// Runs `command` to its end, with its peak RSS (Linux `wait4`).
fn measure(mut command: Command) -> Result<Measured> {
    let start = Instant::now();
    let child = command.spawn().context("cannot start the process")?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; the pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    anyhow::ensure!(waited == pid, "wait4 failed");
    anyhow::ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the process failed (status {status})"
    );
    std::mem::forget(child);
    Ok(Measured {
        wall,
        rss_mib: usage.ru_maxrss as f64 / 1024.0,
    })
}

/// Seconds of audio in a 16-bit WAV.
fn audio_seconds(wav: &Path) -> Result<f64> {
    let r = hound::WavReader::open(wav)?;
    Ok(r.duration() as f64 / f64::from(r.spec().sample_rate))
}

pub fn run(args: &[String]) -> Result<()> {
    let paths = crate::fetch::run()?;
    let texts: Vec<&str> = flag(args, "--texts")
        .unwrap_or("medium,long")
        .split(',')
        .collect();
    let forms: Vec<&str> = flag(args, "--forms")
        .unwrap_or("auto,int8")
        .split(',')
        .collect();
    let rounds: usize = flag(args, "--rounds").map_or(Ok(1), str::parse)?;
    let exe = crate::bench::kokoro_exe(args)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python =
        kokoro_dev::python_with(&root.join("../target"), REFERENCE).map_err(anyhow::Error::msg)?;
    let script = root.join("reference/kokoro_onnx_run.py");
    let scratch = std::env::temp_dir().join(format!("kokoro-bench-vs-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut table = format!(
        "### Whole processes against kokoro-onnx 0.6.1 ({}), start-up included\n\n\
         | text | round | process | audio s | wall s | wall / audio | peak RSS MiB | wall vs kokoro-onnx | RSS vs kokoro-onnx |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|\n",
        machine()
    );
    for text in &texts {
        let file = corpus_dir()?.join(format!("{text}.txt"));
        for round in 1..=rounds {
            let mut rows: Vec<(String, f64, Measured)> = Vec::new();
            let out = scratch.join("reference.wav");
            eprintln!("xtask: bench-vs {text}: kokoro-onnx ...");
            let mut reference = Command::new(&python);
            reference
                .arg(&script)
                .arg(&paths.model)
                .arg(&paths.voices)
                .arg(&file)
                .arg(&out);
            let m = measure(reference)?;
            rows.push(("kokoro-onnx 0.6.1".into(), audio_seconds(&out)?, m));
            for form in &forms {
                let out = scratch.join(format!("{form}.wav"));
                eprintln!("xtask: bench-vs {text}: kokoro --model-form {form} ...");
                let mut ours = Command::new(&exe);
                ours.arg(&file)
                    .arg(&out)
                    .args(["--quiet", "--model-form", form]);
                let m = measure(ours)?;
                let label = if *form == "auto" {
                    "`kokoro` (default)".to_string()
                } else {
                    format!("`kokoro --model-form {form}`")
                };
                rows.push((label, audio_seconds(&out)?, m));
            }
            let (ref_wall, ref_rss) = (rows[0].2.wall, rows[0].2.rss_mib);
            for (label, audio, m) in &rows {
                table += &format!(
                    "| {text}.txt | {round} | {label} | {audio:.1} | {:.1} | {:.3} | {:.0} | {:.2} | {:.2} |\n",
                    m.wall,
                    m.wall / audio,
                    m.rss_mib,
                    m.wall / ref_wall,
                    m.rss_mib / ref_rss
                );
            }
        }
    }
    println!("{table}");
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
