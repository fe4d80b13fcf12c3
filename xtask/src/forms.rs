//! `cargo xtask bench-forms`: the forms of the model side by side in one
//! run, on the same text and layout: speed, peak memory, and the quality
//! gate (docs/BENCHMARKS.md): each form's audio against the float model's,
//! chunk by chunk, by log-mel distance (`kokoro_dev::logmel`); where its
//! words fall against the export's (the durations); and, with a recogniser
//! (`--asr DIR`, default `~/.cache/kokoro-asr`, skipped with a note when
//! missing), Whisper's word error rate on the whole text.
//!
//! Flags: `--text NAME` (default medium), `--layout WxT[s]` (default 1x1;
//! the timed model is always used), `--forms int8,int8-fused,float`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::bench::{corpus_dir, flag, machine};

/// One form's run.
struct Run {
    form: kokoro::Form,
    wall: f64,
    audio: f64,
    rss: f64,
    chunks: PathBuf,
    wav: PathBuf,
}

pub fn run(args: &[String]) -> Result<()> {
    crate::fetch::run()?;
    let name = flag(args, "--text").unwrap_or("medium");
    let text = corpus_dir()?.join(format!("{name}.txt"));
    let layout = flag(args, "--layout").unwrap_or("1x1");
    let forms: Vec<kokoro::Form> = match flag(args, "--forms") {
        Some(list) => list
            .split(',')
            .map(|f| match f.parse::<kokoro::FormChoice>() {
                Ok(kokoro::FormChoice::Fixed(form)) => Ok(form),
                _ => bail!("--forms: `{f}` is not a form (int8, int8-fused, float)"),
            })
            .collect::<Result<_>>()?,
        None => kokoro::Form::ALL.to_vec(),
    };
    let exe = std::env::current_exe()?;
    let scratch = std::env::temp_dir().join(format!("kokoro-bench-forms-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut runs = Vec::new();
    for form in forms {
        let letter = match form {
            kokoro::Form::Int8 => "",
            kokoro::Form::Fused => "f",
            kokoro::Form::Float => "d",
        };
        let chunks = scratch.join(form.name());
        std::fs::create_dir_all(&chunks)?;
        let raw = scratch.join(format!("{}.f32", form.name()));
        eprintln!("xtask: bench-forms {name} {layout} {form} ...");
        let out = Command::new(&exe)
            .args(["bench-run", "--file"])
            .arg(&text)
            .args(["--layout", &format!("{layout}t{letter}"), "--raw"])
            .arg(&raw)
            .arg("--chunks-out")
            .arg(&chunks)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let values: BTreeMap<&str, f64> = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .context("no RESULT")?
            .split_whitespace()
            .filter_map(|p| p.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let wav = scratch.join(format!("{}.wav", form.name()));
        write_wav(&raw, &wav)?;
        runs.push(Run {
            form,
            wall: values["wall"],
            audio: values["audio"],
            rss: values["rss_mib"],
            chunks,
            wav,
        });
    }
    let float = runs.iter().find(|r| r.form == kokoro::Form::Float);
    let export = runs.iter().find(|r| r.form == kokoro::Form::Int8);
    let asr = asr_dir(args)?;
    let mut table = format!(
        "### The forms of the model on {name}.txt, layout {layout}, timed ({})\n\n\
         | form | wall s | audio s | compute s per s of audio | vs int8 | peak RSS MiB | log-mel distance to float, dB (mean over chunks) | word edges vs int8, mean / max units | Whisper WER |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|\n",
        machine()
    );
    let export_rate = export.map(|e| e.wall / e.audio);
    for r in &runs {
        let rate = r.wall / r.audio;
        let gain = export_rate.map_or("".into(), |e| format!("{:.2}x", e / rate));
        let distance = match float {
            Some(f) => format!("{:.3}", mean_distance(&r.chunks, &f.chunks)?),
            None => "(no float run)".into(),
        };
        let edges = match export {
            Some(e) => {
                let (mean, max) = word_edges(&r.chunks, &e.chunks)?;
                format!("{mean:.3} / {max}")
            }
            None => "(no int8 run)".into(),
        };
        let wer = match &asr {
            Some(asr) => format!("{:.4}", whisper_wer(asr, &r.wav, &text)?),
            None => "(no recogniser)".into(),
        };
        table += &format!(
            "| {} | {:.1} | {:.1} | {rate:.3} | {gain} | {:.0} | {distance} | {edges} | {wer} |\n",
            r.form, r.wall, r.audio, r.rss
        );
    }
    println!("{table}");
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The recogniser's directory, if it is there.
fn asr_dir(args: &[String]) -> Result<Option<PathBuf>> {
    let dir = match flag(args, "--asr") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var("HOME").context("HOME is not set")?)
            .join(".cache/kokoro-asr"),
    };
    if dir.join("venv/bin/python").is_file() {
        Ok(Some(dir))
    } else {
        eprintln!(
            "xtask: no recogniser at {} (../shared/tools/asr/setup.sh makes one): Whisper's word error rate is left out",
            dir.display()
        );
        Ok(None)
    }
}

fn read_f32(path: &Path) -> Result<Vec<f32>> {
    Ok(std::fs::read(path)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The chunk files of a run, by index.
fn chunk_files(dir: &Path, ext: &str) -> Result<BTreeMap<usize, PathBuf>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            if let Some(i) = path.file_stem().and_then(|s| s.to_str()?.parse().ok()) {
                out.insert(i, path);
            }
        }
    }
    Ok(out)
}

/// The mean over chunks of the log-mel distance between two runs' chunks.
fn mean_distance(a: &Path, b: &Path) -> Result<f64> {
    let (xa, xb) = (chunk_files(a, "f32")?, chunk_files(b, "f32")?);
    anyhow::ensure!(xa.len() == xb.len(), "the runs made different chunks");
    let mut sum = 0.0;
    for (i, pa) in &xa {
        sum += kokoro_dev::logmel::distance(&read_f32(pa)?, &read_f32(&xb[i])?);
    }
    Ok(sum / xa.len().max(1) as f64)
}

/// How far apart two runs put their words' edges, in duration units
/// (25 ms): the mean and the largest.
fn word_edges(a: &Path, b: &Path) -> Result<(f64, usize)> {
    let (wa, wb) = (chunk_files(a, "words")?, chunk_files(b, "words")?);
    let edges = |p: &Path| -> Result<Vec<usize>> {
        Ok(std::fs::read_to_string(p)?
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect())
    };
    let (mut sum, mut n, mut max) = (0usize, 0usize, 0usize);
    for (i, pa) in &wa {
        let (ea, eb) = (edges(pa)?, edges(&wb[i])?);
        anyhow::ensure!(ea.len() == eb.len(), "chunk {i}: different words");
        for (x, y) in ea.iter().zip(&eb) {
            let units = x
                .abs_diff(*y)
                .div_ceil(kokoro::infer::timed::SAMPLES_PER_DURATION_UNIT);
            sum += units;
            max = max.max(units);
            n += 1;
        }
    }
    Ok((sum as f64 / n.max(1) as f64, max))
}

/// Raw float samples as a 16-bit WAV.
fn write_wav(raw: &Path, wav: &Path) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 24_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(wav, spec)?;
    for s in read_f32(raw)? {
        w.write_sample((s * 32767.0).round().clamp(-32768.0, 32767.0) as i16)?;
    }
    w.finalize()?;
    Ok(())
}

/// Whisper's word error rate on `wav` against `text`.
fn whisper_wer(asr: &Path, wav: &Path, text: &Path) -> Result<f64> {
    let out = Command::new(asr.join("venv/bin/python"))
        .arg(asr.join("transcribe.py"))
        .arg(wav)
        .arg("--ref")
        .arg(text)
        .args(["--json", "--beam-size", "1"])
        .output()
        .context("cannot run the recogniser")?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or_default())?;
    json["wer"].as_f64().context("no WER from the recogniser")
}
