//! Project tasks: `cargo xtask fetch`, `cargo xtask test`, `cargo xtask bench`,
//! `cargo xtask bench-serve`, `cargo xtask bench-startup`, `cargo xtask bench-timing`,
//! `cargo xtask bench-gpu`, `cargo xtask bench-forms`, `cargo xtask profile`, `cargo xtask bench-wyoming`, `cargo xtask bench-hostile`, `cargo xtask fuzz`, `cargo xtask soak`.
//!
//! One module per task; few dependencies.

mod bench;
mod fetch;
mod forms;
mod fuzz;
mod gpu_bench;
mod hostile;
mod profile;
mod python;
mod serve_bench;
mod soak;
mod startup;
mod timing;
mod versus;
mod wyoming_bench;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fetch") => fetch::main(&args[1..]),
        Some("test") => fetch::run().and_then(|paths| test(&args[1..], &paths)),
        Some("bench") => bench::run(&args[1..]),
        Some("bench-run") => bench::run_one(&args[1..]),
        Some("bench-serve") => serve_bench::run(&args[1..]),
        Some("bench-forms") => forms::run(&args[1..]),
        Some("bench-vs") => versus::run(&args[1..]),
        Some("bench-py") => python::bench(&args[1..]),
        Some("profile") => profile::run(&args[1..]),
        Some("profile-run") => profile::run_one(&args[1..]),
        Some("bench-gpu") => gpu_bench::run(&args[1..]),
        Some("bench-startup") => startup::run(&args[1..]),
        Some("bench-timing") => timing::run(&args[1..]),
        Some("bench-wyoming") => wyoming_bench::run(&args[1..]),
        Some("bench-hostile") => hostile::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <fetch|test|bench>\n  fetch   fetch and verify the model, voices and ONNX Runtime (--gpu: and the GPU runtime with CUDA)\n  test    fetch, then run the whole test suite (real-model tests included)\n  bench   whole-run benchmarks; writes docs/BENCHMARKS.md (--quick: medium.txt only)\n  bench-forms   the forms of the model side by side: speed, memory, and the quality gate (log-mel distance to the float model, word edges, Whisper WER) (--text medium --layout 1x1)\n  bench-vs   whole processes against kokoro-onnx 0.6.1 on the same texts, start-up included (--texts medium,long --forms auto,int8)\n  bench-py   the Python drop-in (kokoro_rs.Kokoro) against kokoro-onnx 0.6.1, a process each (--texts medium --rounds 2)\n  profile   one call operator by operator, per form, against the core's measured peak (--ids 30,150,500 --forms int8,int8-fused)\n  bench-serve   a load test of `kokoro serve` over loopback (--clients 1,4 --seconds 60)\n  bench-gpu   issue 16's GPU measurements: audio against the CPU, whole runs at 1 to 16 calls in flight, the server with 16 clients (--device cuda|cpu)\n  bench-startup   process start to the first 0.5 s of audio on stdout (--runs 5 --exe A,B)\n  bench-timing   word start times against Whisper's (--text long --exe PATH --asr DIR)\n  bench-wyoming   kokoro wyoming measured by wyoming-bench (--rounds 3 --exe PATH)\n  bench-hostile   hostile documents and texts at n, 2n and 4n: time and growth (--exe PATH)\n  fuzz   every fuzz target (or those named) under libFuzzer (--seconds 60 each; nightly)\n  soak   kokoro serve under good, bad, slow and vanishing clients, then judged (--seconds 60 --exe PATH)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The features that gate tests: the real-model tests and the optional parts
/// of the library crates (`playback` is left out: it needs ALSA's headers and
/// gates no test).
const TEST_FEATURES: &str =
    "kokoro/model-tests,kokoro/espeak,kokoro/ja,kokoro/zh,kokoro/documents,\
kokoro-server/model-tests,kokoro-cli/model-tests,kokoro-text/espeak,kokoro-text/ja,kokoro-text/zh,\
kokoro-text/documents";

/// Runs the whole workspace's tests in release mode (the real model is slow in
/// debug), with every feature that gates a test, doc tests included.
fn test(extra: &[String], paths: &kokoro::AssetPaths) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(&cargo)
        .args([
            "test",
            "--release",
            "--workspace",
            "--all-targets",
            "--no-fail-fast",
        ])
        .args(["--features", TEST_FEATURES])
        .args(extra)
        .status()?;
    anyhow::ensure!(status.success(), "tests failed ({status})");
    // Doc tests are not part of --all-targets.
    let status = std::process::Command::new(&cargo)
        .args(["test", "--release", "--workspace", "--doc"])
        .args(["--features", TEST_FEATURES])
        .status()?;
    anyhow::ensure!(status.success(), "doc tests failed ({status})");
    // The Python wheel, built, installed in a fresh environment and tested.
    python::test(paths)
}
