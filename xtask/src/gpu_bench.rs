//! `cargo xtask bench-gpu`: what issue 16 asks to be measured on a GPU, in
//! one run, through whole `kokoro` processes.
//!
//! 1. The device's audio against the CPU's for the same ids: medium.txt, one
//!    call at a time, the float model on both (it is what CUDA runs), as
//!    16-bit samples: the largest difference and how many differ.
//! 2. A text (long.txt) at each number of calls in flight (`--calls
//!    1,4,8,16`): audio seconds per second of wall time (the process's start
//!    and the model's load included), peak RSS and, on CUDA, peak GPU memory
//!    over the idle level (`nvidia-smi`, sampled every 100 ms).
//! 3. `kokoro serve` on the device with `--clients` (16) concurrent clients
//!    sending paragraphs (`bench-serve`): first audio p50/p95, throughput.
//!
//! Flags: `--device cuda|cpu` (default cuda; `cpu` runs the same steps on the
//! CPU, to try the task itself), `--calls`, `--clients`, `--seconds 60` (the
//! server's run), `--serve-workers N` (the server's calls in flight; else its
//! default), `--text long`, `--exe PATH`. Prints a section for
//! docs/BENCHMARKS.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use crate::bench::flag;

pub fn run(args: &[String]) -> Result<()> {
    let device = flag(args, "--device").unwrap_or("cuda").to_string();
    ensure!(
        device == "cuda" || device == "cpu",
        "--device is cuda or cpu"
    );
    let calls: Vec<usize> = flag(args, "--calls")
        .unwrap_or("1,4,8,16")
        .split(',')
        .map(|c| c.trim().parse().context("--calls"))
        .collect::<Result<_>>()?;
    let clients = flag(args, "--clients").unwrap_or("16");
    let seconds = flag(args, "--seconds").unwrap_or("60");
    let text = flag(args, "--text").unwrap_or("long");
    let corpus = crate::bench::corpus_dir()?;
    let paths = crate::fetch::run()?;
    let float = crate::fetch::options()
        .cache()?
        .ensure_float(&paths.model)?;
    let exe = crate::bench::kokoro_exe(args)?;
    let dir = tempfile::tempdir()?;
    let mut out = format!(
        "`cargo xtask bench-gpu --device {device}` on {}{}:\n\n",
        crate::bench::machine(),
        gpu_name().map_or(String::new(), |g| format!(", {g}"))
    );

    // 1. The device's audio against the CPU's.
    let medium = corpus.join("medium.txt");
    let model = float.display().to_string();
    let mut samples = Vec::new();
    for (name, dev) in [("cpu", "cpu"), ("device", device.as_str())] {
        let wav = dir.path().join(format!("{name}.wav"));
        let run = whole_run(
            &exe,
            &["--device", dev, "--model", &model, "--max-workers", "1"],
            &medium,
            &wav,
            false,
        )?;
        eprintln!("xtask: bench-gpu: medium.txt on {dev}: {:.1} s", run.wall);
        samples.push(read_wav_i16(&wav)?);
    }
    let (a, b) = (&samples[0], &samples[1]);
    let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
    let largest = a
        .iter()
        .zip(b)
        .map(|(x, y)| (i32::from(*x) - i32::from(*y)).abs())
        .max()
        .unwrap_or(0);
    out += &format!(
        "- Audio, {device} against the CPU (medium.txt, the float model, one call at a time, 16-bit): {} and {} \
         samples; {differing} differ, by at most {largest} (of 32,767).\n\n",
        a.len(),
        b.len()
    );

    // 2. Whole runs at each number of calls in flight.
    out += &format!(
        "| {text}.txt, calls in flight | wall s | audio s | audio s per s | peak RSS MiB | peak GPU MiB over idle |\n|---:|---:|---:|---:|---:|---:|\n"
    );
    let input = corpus.join(format!("{text}.txt"));
    for n in calls {
        let wav = dir.path().join(format!("calls-{n}.wav"));
        let run = whole_run(
            &exe,
            &["--device", &device, "--max-workers", &n.to_string()],
            &input,
            &wav,
            device == "cuda",
        )?;
        let audio = read_wav_i16(&wav)?.len() as f64 / 24_000.0;
        eprintln!(
            "xtask: bench-gpu: {text}.txt at {n} call(s) in flight: {:.1} s",
            run.wall
        );
        out += &format!(
            "| {n} | {:.1} | {audio:.1} | {:.1} | {:.0} | {} |\n",
            run.wall,
            audio / run.wall,
            run.rss_mib,
            run.gpu_mib.map_or("-".into(), |m| format!("{m:.0}"))
        );
    }
    out.push('\n');
    println!("{out}");

    // 3. The server, many clients at once.
    let mut serve_args = format!("--device {device}");
    if let Some(n) = flag(args, "--serve-workers") {
        serve_args += &format!(" --max-workers {n}");
    }
    crate::serve_bench::run(&[
        "--clients".into(),
        clients.into(),
        "--seconds".into(),
        seconds.into(),
        "--paragraphs".into(),
        "--exe".into(),
        exe.display().to_string(),
        "--serve-args".into(),
        serve_args,
    ])
}

/// One whole process's measurements.
struct WholeRun {
    wall: f64,
    rss_mib: f64,
    /// Peak GPU memory over its level before the run, when sampled.
    gpu_mib: Option<f64>,
}

/// `kokoro ARGS INPUT OUTPUT`, timed, its memory sampled every 100 ms.
fn whole_run(
    exe: &Path,
    args: &[&str],
    input: &Path,
    output: &Path,
    gpu: bool,
) -> Result<WholeRun> {
    let idle = if gpu { gpu_memory_mib() } else { None };
    let started = Instant::now();
    let child = Command::new(exe)
        .args(args)
        .arg(input)
        .arg(output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let pid = child.id().to_string();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (done.clone(), pid.clone());
        std::thread::spawn(move || {
            let (mut rss, mut gpu_peak) = (0f64, None::<f64>);
            while !done.load(Ordering::Relaxed) {
                let r = crate::bench::peak_rss_mib_of(&pid);
                if r.is_finite() {
                    rss = rss.max(r);
                }
                if gpu {
                    if let Some(m) = gpu_memory_mib() {
                        gpu_peak = Some(gpu_peak.map_or(m, |p: f64| p.max(m)));
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            (rss, gpu_peak)
        })
    };
    let output_ = child.wait_with_output()?;
    let wall = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (rss_mib, gpu_peak) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the sampler panicked"))?;
    if !output_.status.success() {
        bail!(
            "{} {} failed: {}",
            exe.display(),
            args.join(" "),
            String::from_utf8_lossy(&output_.stderr).trim()
        );
    }
    Ok(WholeRun {
        wall,
        rss_mib,
        gpu_mib: gpu_peak.map(|p| p - idle.unwrap_or(0.0)),
    })
}

/// The GPU's memory in use, in MiB (`nvidia-smi`), when it can be read.
fn gpu_memory_mib() -> Option<f64> {
    let out = Command::new("nvidia-smi")
        .args(["--query-gpu=memory.used", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The GPU's name, when `nvidia-smi` says it.
fn gpu_name() -> Option<String> {
    let out = Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader"])
        .output()
        .ok()?;
    let name = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .to_string();
    (!name.is_empty()).then_some(name)
}

/// The samples of a 16-bit WAV file.
fn read_wav_i16(path: &Path) -> Result<Vec<i16>> {
    let reader = hound::WavReader::open(path).with_context(|| path.display().to_string())?;
    reader
        .into_samples::<i16>()
        .collect::<std::result::Result<_, _>>()
        .with_context(|| path.display().to_string())
}
