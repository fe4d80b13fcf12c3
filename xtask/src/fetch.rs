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

fn report(e: FetchEvent) {
    match e {
        FetchEvent::Fetching { what, command } => eprintln!("xtask: fetching {what} ({command})"),
        FetchEvent::Verified { what, path } => eprintln!("xtask: {what} ok: {}", path.display()),
    }
}

/// Fetches (when missing) and verifies every asset.
pub fn run() -> Result<AssetPaths> {
    Ok(options().resolve(Want::ALL, &mut report)?)
}

/// `cargo xtask fetch [--gpu]`: with `--gpu`, ONNX Runtime's GPU build and
/// the CUDA libraries too (about 1.5 GB; no GPU is needed to fetch them),
/// and the float model made from the int8 one (330 MB).
pub fn main(args: &[String]) -> Result<()> {
    let paths = run()?;
    if args.iter().any(|a| a == "--gpu") {
        let cache = options().cache()?;
        let float = cache.ensure_float(&paths.model)?;
        eprintln!("xtask: float model for the GPU ok: {}", float.display());
        let gpu = cache.ensure_gpu(&mut report)?;
        eprintln!(
            "xtask: GPU runtime: {} and {} CUDA libraries",
            gpu.runtime.display(),
            gpu.preload.len()
        );
    }
    Ok(())
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
