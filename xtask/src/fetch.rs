//! `cargo xtask fetch`: the assets, into the same cache the CLI uses.

use anyhow::{Context, Result};
use kokoro_infer::{AssetPaths, Cache, FetchEvent, Want};

/// The cache directory: `KOKORO_CACHE_DIR`, or the per-user default.
pub fn cache() -> Result<Cache> {
    let dir = match std::env::var_os("KOKORO_CACHE_DIR") {
        Some(d) => d.into(),
        None => {
            Cache::default_dir().context("no per-user cache directory; set KOKORO_CACHE_DIR")?
        }
    };
    Ok(Cache::new(dir))
}

/// Fetches (when missing) and verifies every asset.
pub fn run() -> Result<AssetPaths> {
    let cache = cache()?;
    let paths = cache.ensure(Want::ALL, &mut |e| match e {
        FetchEvent::Fetching { what, command } => eprintln!("xtask: fetching {what} ({command})"),
        FetchEvent::Verified { what, path } => eprintln!("xtask: {what} ok: {}", path.display()),
    })?;
    Ok(paths)
}

/// The out-of-lexicon fallback the CLI uses: espeak-ng, data in the cache.
pub fn fallback() -> Result<std::sync::Arc<dyn kokoro_text::OovFallback>> {
    let dir = cache()?.dir().join("espeak-ng-data");
    Ok(std::sync::Arc::new(kokoro_text::EspeakFallback::install(
        &dir,
    )?))
}
