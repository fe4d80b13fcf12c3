//! `cargo xtask fetch`: the assets, into the same cache the CLI uses.

use anyhow::Result;
use kokoro::{AssetOptions, AssetPaths, FetchEvent, Want};

/// The assets of `KOKORO_CACHE_DIR`, or of the per-user cache.
pub fn options() -> AssetOptions {
    AssetOptions {
        cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(Into::into),
        ..AssetOptions::default()
    }
}

/// Fetches (when missing) and verifies every asset.
pub fn run() -> Result<AssetPaths> {
    let paths = options().resolve(Want::ALL, &mut |e| match e {
        FetchEvent::Fetching { what, command } => eprintln!("xtask: fetching {what} ({command})"),
        FetchEvent::Verified { what, path } => eprintln!("xtask: {what} ok: {}", path.display()),
    })?;
    Ok(paths)
}

/// The out-of-lexicon fallback the CLI uses: espeak-ng, data in the cache.
pub fn fallback() -> Result<std::sync::Arc<dyn kokoro::text::OovFallback>> {
    let cache = options().cache()?;
    let (fallback, warning) = kokoro::default_fallback(cache.dir());
    if let Some(w) = warning {
        anyhow::bail!(w);
    }
    Ok(fallback)
}
