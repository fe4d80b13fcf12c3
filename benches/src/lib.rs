//! Shared setup of the criterion benchmarks: corpus texts and assets.

use std::path::PathBuf;

use kokoro::{AssetOptions, AssetPaths, Want};

/// A text of the corpus (`short`, `medium`, `long`).
pub fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../test_data/corpus")
        .join(format!("{name}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The assets, fetched into the cache if needed.
pub fn assets() -> AssetPaths {
    AssetOptions {
        cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(PathBuf::from),
        ..AssetOptions::default()
    }
    .resolve(Want::ALL, &mut |_| {})
    .expect("assets")
}
