//! The Python wheel (`crates/kokoro-py`): built with maturin, installed in a
//! fresh virtual environment beside kokoro-onnx 0.6.1 and pytest, and its
//! suite run on the real model (`cargo xtask test` does this after the Rust
//! tests); and `cargo xtask bench-py`, the drop-in against kokoro-onnx.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use kokoro::AssetPaths;

/// The build tool, pinned.
const MATURIN: &str = "maturin==1.16.0";
/// What the tests install beside the wheel, pinned: the reference the
/// drop-in is checked against, and the test runner.
const TEST_PACKAGES: &[&str] = &["kokoro-onnx==0.6.1", "pytest==8.4.2"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {what}"))?;
    anyhow::ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

/// Builds the wheel into `target/wheels/` (the workspace's build outputs
/// shared with the Rust tests) and returns its path.
pub fn wheel() -> Result<PathBuf> {
    let root = root();
    let target = root.join("target");
    let python =
        kokoro_dev::python_with_all(&target, "maturin", &[MATURIN]).map_err(anyhow::Error::msg)?;
    let out = target.join("wheels");
    if out.is_dir() {
        std::fs::remove_dir_all(&out)?;
    }
    run(
        Command::new(&python)
            .args(["-m", "maturin", "build", "--release", "--quiet", "-m"])
            .arg(root.join("crates/kokoro-py/Cargo.toml"))
            .arg("--out")
            .arg(&out),
        "maturin build",
    )?;
    let wheel = std::fs::read_dir(&out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin built no wheel")?;
    eprintln!(
        "xtask: wheel {} ({:.1} MiB)",
        wheel.display(),
        std::fs::metadata(&wheel)?.len() as f64 / 1048576.0
    );
    Ok(wheel)
}

/// A fresh virtual environment with `wheel` and `packages` installed.
pub fn fresh_venv(wheel: &Path, name: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = root().join("target").join(name);
    if venv.exists() {
        std::fs::remove_dir_all(&venv)?;
    }
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    )?;
    let python = venv.join("bin/python");
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(wheel)
            .args(packages),
        "pip install",
    )?;
    Ok(python)
}

/// Builds and installs the wheel, then runs its pytest suite.
pub fn test(paths: &AssetPaths) -> Result<()> {
    let wheel = wheel()?;
    let python = fresh_venv(&wheel, "py-test-venv", TEST_PACKAGES)?;
    run(
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(root().join("crates/kokoro-py/tests"))
            .env("KOKORO_PY_MODEL", &paths.model)
            .env("KOKORO_PY_VOICES_DIR", &paths.voices)
            .current_dir(std::env::temp_dir()),
        "the Python tests",
    )
}

/// `cargo xtask bench-py`: the same texts through kokoro-onnx and through
/// `kokoro_rs.Kokoro`, each a process of its own, one after the other
/// (`--texts medium --rounds 2`), the `kokoro` command beside them
/// (`--exe PATH`, else the release build); a Markdown table on standard
/// output.
pub fn bench(args: &[String]) -> Result<()> {
    let paths = crate::fetch::run()?;
    let wheel = wheel()?;
    let python = fresh_venv(&wheel, "py-bench-venv", &["kokoro-onnx==0.6.1"])?;
    let texts = crate::bench::flag(args, "--texts").unwrap_or("medium");
    let rounds = crate::bench::flag(args, "--rounds").unwrap_or("2");
    let corpus = crate::bench::corpus_dir()?;
    let cli = crate::bench::kokoro_exe(args)?;
    run(
        Command::new(&python)
            .arg(root().join("crates/kokoro-py/bench/versus.py"))
            .args(["--model"])
            .arg(&paths.model)
            .args(["--voices-dir"])
            .arg(&paths.voices)
            .args(["--corpus"])
            .arg(&corpus)
            .args(["--texts", texts, "--rounds", rounds, "--machine"])
            .arg(crate::bench::machine())
            .arg("--cli")
            .arg(cli),
        "the benchmark",
    )
}
