//! Models derived from the fetched one, each made once into the cache and
//! sealed: the timed model (durations), the float model (for CUDA), the
//! fused model (the CPU's fast form), and ONNX Runtime's optimized graph of
//! whichever is loaded.

use std::path::{Path, PathBuf};

use super::pins::*;
use super::verify::{
    check_derived, check_hash, model_key, processor_features, seal_derived, seal_with, sha256_hex,
    write_atomically,
};
use super::Cache;
use crate::error::{io_err, Result};

impl Cache {
    /// Where ONNX Runtime's optimized form of `model` is kept, keyed by all
    /// it depends on: the model file (its path, size and modification time),
    /// the ONNX Runtime version and the processor's features (the optimized
    /// graph may use kernels of this processor only).
    pub fn optimized_model(&self, model: &Path) -> PathBuf {
        let key = model_key(model, &format!("{ORT_VERSION}\n{}", processor_features()));
        self.dir
            .join("optimized")
            .join(format!("kokoro-ort-{ORT_VERSION}-{key}.onnx"))
    }

    /// Where ONNX Runtime's optimized graph of `model` is kept, checked
    /// against its seal before use and sealed when made (see
    /// `SharedSession::open_cached`).
    pub(crate) fn open_session(
        model: &Path,
        options: kokoro_infer::SessionOptions,
        optimized: &Path,
    ) -> Result<kokoro_infer::SharedSession> {
        check_derived(optimized);
        let session = kokoro_infer::SharedSession::open_cached(model, options, optimized)?;
        seal_derived(optimized);
        Ok(session)
    }

    /// Where a form of `model` made by `edit` (`timed`, `float`, `fused`)
    /// is kept, keyed by the model file.
    fn derived_model(&self, model: &Path, edit: &str) -> PathBuf {
        let key = model_key(model, edit);
        self.dir
            .join(edit)
            .join(format!("kokoro-{edit}-{key}.onnx"))
    }

    /// Whether `model`, a file given by path, is the pinned export (as
    /// kokoro-onnx's users have it), so that its forms apply as to the
    /// fetched one: its SHA-256, computed once per file (by path, size and
    /// time) and kept in the cache.
    pub(crate) fn is_export(&self, model: &Path) -> bool {
        let record = self
            .dir
            .join("given")
            .join(format!("{}.sha256", model_key(model, "sha256")));
        let hash = match std::fs::read_to_string(&record) {
            Ok(h) => h.trim().to_string(),
            Err(_) => {
                let Ok(h) = super::verify::sha256_file(model) else {
                    return false;
                };
                // A record is an optimisation: failing to write it is no error.
                let _ = std::fs::create_dir_all(self.dir.join("given"));
                let _ = std::fs::write(&record, &h);
                h
            }
        };
        hash == MODEL_SHA256
    }

    /// Where the timed form of `model` is kept, keyed by the model file.
    pub fn timed_model(&self, model: &Path) -> PathBuf {
        self.derived_model(model, "timed")
    }

    /// The timed form of `model` (each id's duration as a second output,
    /// `kokoro_infer::timed`): made on first use, kept in the cache, checked
    /// against the SHA-256 it was sealed with. Made from the pinned model, it
    /// must have its own pinned SHA-256. An error when the model has no
    /// durations tensor: its audio still works, untimed.
    pub fn ensure_timed(&self, model: &Path) -> Result<PathBuf> {
        self.ensure_derived(
            &self.timed_model(model),
            model,
            &[(MODEL_SHA256, TIMED_MODEL_SHA256)],
            |bytes| kokoro_infer::timed::with_output(bytes, kokoro_infer::timed::DURATIONS_TENSOR),
        )
    }

    /// Where the float form of `model` is kept, keyed by the model file.
    pub fn float_model(&self, model: &Path) -> PathBuf {
        self.derived_model(model, "float")
    }

    /// The float form of `model` (`kokoro_infer::dequantize`: the int8
    /// export's quantized operators made float again), for the GPU, whose
    /// provider has no kernels for them, and for processors without fast
    /// 8-bit arithmetic: made on first use, kept in the cache and sealed as
    /// [`Cache::ensure_timed`] keeps its own; made from the pinned model, it
    /// must have its own pinned SHA-256.
    pub fn ensure_float(&self, model: &Path) -> Result<PathBuf> {
        self.ensure_derived(
            &self.float_model(model),
            model,
            &[(MODEL_SHA256, FLOAT_MODEL_SHA256)],
            kokoro_infer::dequantize::dequantize,
        )
    }

    /// Where the fused form of `model` is kept, keyed by the model file.
    pub fn fused_model(&self, model: &Path) -> PathBuf {
        self.derived_model(model, "fused")
    }

    /// The fused form of `model` (`kokoro_infer::fused`: each quantized
    /// convolution one operator of this project, on AVX-512 VNNI; its audio
    /// the export's to the bit), made on first use, kept and sealed as
    /// [`Cache::ensure_timed`] keeps its own; made from the pinned model or
    /// its timed form, it must have its own pinned SHA-256.
    pub fn ensure_fused(&self, model: &Path) -> Result<PathBuf> {
        self.ensure_derived(
            &self.fused_model(model),
            model,
            &[
                (TIMED_MODEL_SHA256, FUSED_TIMED_MODEL_SHA256),
                (MODEL_SHA256, FUSED_MODEL_SHA256),
            ],
            kokoro_infer::fused::fuse,
        )
    }

    /// `path`, made from `model` by `make` unless it is already there and
    /// matches the SHA-256 it was sealed with. `pins` pairs the SHA-256 of
    /// a pinned source with the one `make` must give from it.
    fn ensure_derived(
        &self,
        path: &Path,
        model: &Path,
        pins: &[(&str, &str)],
        make: impl FnOnce(&[u8]) -> kokoro_infer::Result<Vec<u8>>,
    ) -> Result<PathBuf> {
        check_derived(path);
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        let bytes = std::fs::read(model).map_err(io_err(model))?;
        let made = make(&bytes)?;
        let hash = sha256_hex(&made);
        let source = sha256_hex(&bytes);
        if let Some((_, pinned)) = pins.iter().find(|(s, _)| *s == source) {
            check_hash(path, &made, pinned)?;
        }
        drop(bytes);
        write_atomically(path, &made)?;
        seal_with(path, &hash);
        Ok(path.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_optimized_graph_is_keyed_by_the_model_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"one").unwrap();
        let first = cache.optimized_model(&model);
        assert!(first.starts_with(dir.path().join("optimized")));
        assert!(first.to_string_lossy().contains(ORT_VERSION));
        assert_eq!(cache.optimized_model(&model), first, "stable");
        std::fs::write(&model, b"another").unwrap();
        assert_ne!(
            cache.optimized_model(&model),
            first,
            "a changed model is another key"
        );
    }

    #[test]
    fn a_model_without_durations_has_no_timed_form_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        let model = dir.path().join("other.onnx");
        std::fs::write(&model, b"not a model at all").unwrap();
        let e = cache.ensure_timed(&model).unwrap_err().to_string();
        assert!(e.contains("cannot add the durations output"), "{e}");
        assert!(
            !cache.timed_model(&model).exists(),
            "nothing is left behind"
        );
        assert_ne!(cache.timed_model(&model), cache.optimized_model(&model));
    }
}
