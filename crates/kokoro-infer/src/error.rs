//! The errors of kokoro-infer.

use std::path::PathBuf;

/// Everything that can go wrong loading assets or running the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ONNX Runtime shared library is not where it was looked for.
    #[error("ONNX Runtime library not found at {path}")]
    RuntimeMissing {
        /// The path tried.
        path: PathBuf,
    },
    /// The ONNX Runtime library exists but could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    RuntimeLoad {
        /// The path tried.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// The model file could not be loaded into a session.
    #[error("cannot load the model {path}: {reason}")]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// What ONNX Runtime said.
        reason: String,
    },
    /// A file is missing.
    #[error("{what} not found: {path}")]
    NotFound {
        /// What was looked for ("model", "voices").
        what: &'static str,
        /// The path tried.
        path: PathBuf,
    },
    /// A voice name that is not in the voice set.
    #[error("unknown voice `{name}`{}", suggest(.close))]
    UnknownVoice {
        /// The name asked for.
        name: String,
        /// Known names close to it.
        close: Vec<String>,
    },
    /// A voice blend string that cannot be parsed.
    #[error("malformed voice blend `{spec}`: {reason} (expected e.g. `af_sarah:60,am_adam:40`)")]
    BadBlend {
        /// The string.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// A voice file whose size or layout is wrong.
    #[error("voice file {path} is malformed: {reason}")]
    BadVoice {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A speed outside 0.5-2.0.
    #[error("speed {0} is out of range (0.5 to 2.0)")]
    BadSpeed(f32),
    /// An input the model cannot take.
    #[error("bad model input: {0}")]
    BadInput(String),
    /// ONNX Runtime failed while running the model.
    #[error("inference failed: {0}")]
    Inference(String),
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn suggest(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(", "))
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
