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
mod gpu;
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

/// A text of the benchmark corpus.
#[cfg(feature = "model-tests")]
fn corpus(name: &str) -> String {
    test_data(&format!("corpus/{name}"))
}
