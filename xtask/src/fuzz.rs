//! `cargo xtask fuzz [--seconds N] [TARGET...]`: every fuzz target in `fuzz/`
//! (or those named) under libFuzzer (without a sanitizer) for a bounded time each, with the seeds and
//! the kept regressions as its starting corpus, at most 2 GiB of memory and
//! 20 s an input. What it finds (a crash, a timeout, memory past the bound) is
//! copied into `fuzz/regressions/TARGET/`, which the workspace's tests replay,
//! and the task fails. Needs a nightly toolchain; installs cargo-fuzz on first
//! use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::bench::flag;

pub fn run(args: &[String]) -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let fuzz = root.join("fuzz");
    let seconds: u64 = flag(args, "--seconds").map_or(Ok(60), str::parse)?;
    let all: Vec<String> = std::fs::read_dir(fuzz.join("fuzz_targets"))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    let named: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--seconds"))
        .map(|(_, a)| a.clone())
        .collect();
    let mut targets = if named.is_empty() { all.clone() } else { named };
    targets.sort();
    for t in &targets {
        ensure!(
            all.contains(t),
            "no fuzz target `{t}` (there are: {})",
            all.join(", ")
        );
    }

    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output();
    ensure!(
        nightly.is_ok_and(|o| o.status.success()),
        "cargo xtask fuzz needs a nightly toolchain (rustup toolchain install nightly); \
         without one, the tests run the same targets through proptest"
    );
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        eprintln!("xtask: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
        let ok = Command::new("cargo")
            .args(["install", "cargo-fuzz", "--locked"])
            .status()?
            .success();
        ensure!(ok, "cannot install cargo-fuzz");
    }

    let mut found = Vec::new();
    for t in &targets {
        let corpus = fuzz.join("corpus").join(t);
        std::fs::create_dir_all(&corpus)?;
        for kept in ["seeds", "regressions"] {
            copy_files(&fuzz.join(kept).join(t), &corpus)?;
        }
        let artifacts = fuzz.join("artifacts").join(t);
        let _ = std::fs::remove_dir_all(&artifacts);
        eprintln!("xtask: fuzzing {t} for {seconds} s");
        let status = Command::new("cargo")
            .current_dir(&fuzz)
            // Safe Rust needs no address sanitizer to show a panic, a hang or
            // runaway memory, and runs several times faster without one.
            .args([
                "+nightly",
                "fuzz",
                "run",
                "--release",
                "--sanitizer",
                "none",
                t,
            ])
            .arg(&corpus)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=2048",
                "-timeout=20",
                "-max_len=65536",
                "-print_final_stats=1",
            ])
            .status()
            .context("cannot run cargo fuzz")?;
        if !status.success() {
            let kept = fuzz.join("regressions").join(t);
            std::fs::create_dir_all(&kept)?;
            let n = copy_files(&artifacts, &kept)?;
            found.push(format!("{t}: {n} input(s) kept in fuzz/regressions/{t}/"));
        }
    }
    if !found.is_empty() {
        bail!(
            "the fuzzer found failures (fix them; the tests replay the inputs):\n  {}",
            found.join("\n  ")
        );
    }
    eprintln!(
        "xtask: {} target(s), {seconds} s each: nothing found",
        targets.len()
    );
    Ok(())
}

/// Copies the plain files of `from` (if it exists) into `to`; how many.
fn copy_files(from: &Path, to: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_file() {
            std::fs::copy(&path, to.join(entry.file_name()))?;
            n += 1;
        }
    }
    Ok(n)
}
