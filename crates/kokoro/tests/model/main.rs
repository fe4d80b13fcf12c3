//! The engine and the crates under it on the real model, voices and ONNX
//! Runtime (fetched into the cache and verified on first use). One test binary:
//! a process loads ONNX Runtime once. Built with the `model-tests` feature,
//! which `cargo xtask test` turns on.

#[cfg(not(feature = "model-tests"))]
#[test]
fn real_model_tests_are_off_without_the_model_tests_feature() {
    eprintln!(
        "skipped: the real-model tests of kokoro need `--features model-tests` and the assets; \
         `cargo xtask test` runs them"
    );
}

#[cfg(feature = "model-tests")]
mod engine;
#[cfg(feature = "model-tests")]
mod forms;
#[cfg(feature = "model-tests")]
mod infer;
#[cfg(feature = "model-tests")]
mod sched;

#[cfg(feature = "model-tests")]
use std::path::Path;
#[cfg(feature = "model-tests")]
use std::sync::OnceLock;

/// The assets, fetched and verified once; ONNX Runtime loaded.
#[cfg(feature = "model-tests")]
fn assets() -> &'static kokoro::AssetPaths {
    static A: OnceLock<kokoro::AssetPaths> = OnceLock::new();
    A.get_or_init(|| {
        let options = kokoro::AssetOptions {
            cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(Into::into),
            ..kokoro::AssetOptions::default()
        };
        let paths = options
            .resolve(kokoro::Want::ALL, &mut |_| {})
            .expect("assets fetch and verify");
        kokoro::infer::init_runtime(&paths.runtime).expect("ONNX Runtime loads");
        paths
    })
}

/// A text of `test_data/`.
#[cfg(feature = "model-tests")]
fn test_data(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../test_data")
            .join(name),
    )
    .expect("test_data is part of the repository")
}

/// The pinned SHA-256 of the paragraph's WAV for `case` on this processor
/// (`test_data/paragraph.sha256`, by the first of its flags the processor has).
#[cfg(feature = "model-tests")]
fn pinned_paragraph(case: &str) -> Option<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: std::collections::HashSet<&str> = cpu
        .lines()
        .filter(|l| l.starts_with("flags"))
        .flat_map(str::split_whitespace)
        .collect();
    let table = test_data("paragraph.sha256");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .filter(|r: &Vec<&str>| r.len() == 3)
        .collect();
    let flag = rows.iter().map(|r| r[0]).find(|f| flags.contains(f))?;
    rows.iter()
        .find(|r| r[0] == flag && r[1] == case)
        .map(|r| r[2].to_string())
}

/// A text of the benchmark corpus.
#[cfg(feature = "model-tests")]
fn corpus(name: &str) -> String {
    test_data(&format!("corpus/{name}"))
}
