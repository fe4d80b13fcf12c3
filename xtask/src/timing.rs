//! `cargo xtask bench-timing`: word timings against an independent ear.
//!
//! Speaks a corpus text with `kokoro --timestamps`, transcribes the audio with
//! Whisper (faster-whisper: a directory holding a virtual environment `venv`
//! and a `transcribe.py` that prints JSON with `[start, end, word]` triples,
//! `--asr DIR`, default `~/.cache/kokoro-asr`), matches the two word lists
//! (words compared lowercased, letters and digits only; unmatched words left
//! out), and reports how far apart the start times are: the median over all
//! matched words and over the last 100 (drift shows there). Two settings: the
//! default, and `--trim --pause-sentence 0.5`. `--text NAME` (default long),
//! `--exe PATH` for another build. Prints a markdown table.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::bench::{flag, machine, percentile};

/// The settings measured: a label and the extra arguments.
const SETTINGS: [(&str, &[&str]); 2] = [
    ("default", &[]),
    (
        "`--trim --pause-sentence 0.5`",
        &["--trim", "--pause-sentence", "0.5"],
    ),
];

pub fn run(args: &[String]) -> Result<()> {
    crate::fetch::run()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let name = flag(args, "--text").unwrap_or("long");
    let text = root.join("test_data/corpus").join(format!("{name}.txt"));
    let asr = match flag(args, "--asr") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var("HOME").context("HOME is not set")?)
            .join(".cache/kokoro-asr"),
    };
    let python = asr.join("venv/bin/python");
    if !python.is_file() {
        bail!(
            "no recogniser at {} (a directory with a faster-whisper `venv` and `transcribe.py`; give --asr DIR)",
            asr.display()
        );
    }
    let exe = crate::bench::kokoro_exe(args)?;
    let dir = std::env::temp_dir().join(format!("kokoro-bench-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut table = format!(
        "### Word start times against Whisper's ({name}.txt, {})\n\n\
         | setting | words | matched | median abs. start diff ms | last 100 words ms | 90th pct ms | median signed ms | median abs. end diff ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        machine()
    );
    for (label, extra) in SETTINGS {
        let (wav, json) = (dir.join("speech.wav"), dir.join("words.json"));
        let status = Command::new(&exe)
            .arg(&text)
            .arg(&wav)
            .args(extra)
            .arg("--timestamps")
            .arg(&json)
            .arg("-q")
            .status()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        anyhow::ensure!(status.success(), "kokoro failed ({status})");
        let heard = Command::new(&python)
            .arg(asr.join("transcribe.py"))
            .arg(&wav)
            .args(["--json", "--words", "--beam-size", "1"])
            .output()
            .context("cannot run the recogniser")?;
        anyhow::ensure!(
            heard.status.success(),
            "the recogniser failed: {}",
            String::from_utf8_lossy(&heard.stderr)
        );
        let ours = our_words(&json)?;
        let theirs = whisper_words(&String::from_utf8_lossy(&heard.stdout))?;
        let d = compare(&ours, &theirs);
        eprintln!(
            "xtask: {label}: {} of {} words matched",
            d.starts.len(),
            ours.len()
        );
        let abs = |v: &[f64]| v.iter().map(|x| x.abs() * 1000.0).collect::<Vec<_>>();
        let last: Vec<f64> = d.starts[d.starts.len().saturating_sub(100)..].to_vec();
        table.push_str(&format!(
            "| {label} | {} | {} | {:.0} | {:.0} | {:.0} | {:+.0} | {:.0} |\n",
            ours.len(),
            d.starts.len(),
            percentile(abs(&d.starts), 0.5),
            percentile(abs(&last), 0.5),
            percentile(abs(&d.starts), 0.9),
            percentile(d.starts.iter().map(|x| x * 1000.0).collect(), 0.5),
            percentile(abs(&d.ends), 0.5),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{table}");
    Ok(())
}

/// A word and its start and end, in seconds.
#[derive(Debug, Clone, PartialEq)]
struct Timed {
    word: String,
    start: f64,
    end: f64,
}

/// Lowercase letters and digits only: how the two lists are compared.
fn key(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn our_words(path: &Path) -> Result<Vec<Timed>> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let words = v["words"]
        .as_array()
        .context("no `words` in the timestamps")?;
    Ok(words
        .iter()
        .map(|w| Timed {
            word: w["word"].as_str().unwrap_or_default().to_string(),
            start: w["start"].as_f64().unwrap_or(f64::NAN),
            end: w["end"].as_f64().unwrap_or(f64::NAN),
        })
        .collect())
}

/// The recogniser's `[start, end, word]` triples, from its last JSON line.
fn whisper_words(out: &str) -> Result<Vec<Timed>> {
    let line = out
        .lines()
        .last()
        .context("the recogniser printed nothing")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let words = v["words"]
        .as_array()
        .context("no `words` from the recogniser")?;
    Ok(words
        .iter()
        .map(|w| Timed {
            word: w[2].as_str().unwrap_or_default().trim().to_string(),
            start: w[0].as_f64().unwrap_or(f64::NAN),
            end: w[1].as_f64().unwrap_or(f64::NAN),
        })
        .collect())
}

/// Start and end differences (ours minus theirs, seconds) of the words the
/// two lists share, matched in order.
struct Diffs {
    starts: Vec<f64>,
    ends: Vec<f64>,
}

fn compare(ours: &[Timed], theirs: &[Timed]) -> Diffs {
    let a: Vec<String> = ours.iter().map(|w| key(&w.word)).collect();
    let b: Vec<String> = theirs.iter().map(|w| key(&w.word)).collect();
    let mut d = Diffs {
        starts: Vec::new(),
        ends: Vec::new(),
    };
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &a, &b) {
        if let similar::DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for k in 0..len {
                let (o, t) = (&ours[old_index + k], &theirs[new_index + k]);
                if a[old_index + k].is_empty() {
                    continue;
                }
                d.starts.push(o.start - t.start);
                d.ends.push(o.end - t.end);
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(word: &str, start: f64) -> Timed {
        Timed {
            word: word.into(),
            start,
            end: start + 0.2,
        }
    }

    #[test]
    fn words_are_matched_in_order_and_mismatches_left_out() {
        let ours = [
            w("The", 0.3),
            w("GNU", 0.5),
            w("license", 1.0),
            w("is", 1.5),
        ];
        let theirs = [
            w("the", 0.25),
            w("new", 0.5),
            w("License,", 0.9),
            w("is.", 1.5),
        ];
        let d = compare(&ours, &theirs);
        let starts: Vec<i64> = d
            .starts
            .iter()
            .map(|x| (x * 1000.0).round() as i64)
            .collect();
        assert_eq!(starts, [50, 100, 0], "GNU/new is no match");
    }
}
