//! The errors of the facade: one enum for everything a user of [`crate::Tts`] meets.

use std::path::PathBuf;

/// Everything that can go wrong opening the engine or speaking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Device::Cuda` on a machine that cannot run it: what is missing.
    #[error("cannot use CUDA: {0}")]
    NoCuda(String),
    /// The model form asked for cannot be used.
    #[error("{0}")]
    Form(String),
    /// Loading ONNX Runtime, the model or the voices, or running the model.
    #[error(transparent)]
    Infer(#[from] kokoro_infer::Error),
    /// Writing audio.
    #[error(transparent)]
    Audio(#[from] kokoro_audio::Error),
    /// A language this build cannot speak (a cargo feature is off).
    #[error(transparent)]
    Lang(#[from] kokoro_text::UnsupportedLang),
    /// A language code that is not known.
    #[error(transparent)]
    UnknownLang(#[from] kokoro_text::UnknownLang),
    /// A user lexicon that cannot be parsed.
    #[error(transparent)]
    Lexicon(#[from] kokoro_text::LexiconError),
    /// A chunk failed to synthesise; no new chunk was started after it.
    #[error("chunk {index} (\"{snippet}\") failed: {source}")]
    Chunk {
        /// The chunk's index.
        index: usize,
        /// The start of its source text.
        snippet: String,
        /// Why it failed.
        source: kokoro_infer::Error,
    },
    /// The sink refused audio (for example a closed pipe or a full disk).
    #[error("cannot write audio: {0}")]
    Sink(kokoro_sched::SinkError),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A speed outside [`crate::SPEED_RANGE`].
    #[error("speed {0} is out of range ({lo:?} to {hi:?})", lo = crate::SPEED_RANGE.start(), hi = crate::SPEED_RANGE.end())]
    BadSpeed(f32),
    /// The text holds nothing to speak.
    #[error("nothing to speak")]
    NothingToSay,
    /// No per-user cache directory on this platform, and none was given.
    #[error("no per-user cache directory on this platform; give one in the configuration")]
    NoCacheDir,
    /// A downloaded or cached file does not have its pinned SHA-256.
    #[error("{path} is corrupt: SHA-256 {actual}, expected {expected}; delete it and run again to fetch it anew")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Its hash.
        actual: String,
        /// The pinned hash.
        expected: String,
    },
    /// Fetching an asset failed.
    #[error("cannot fetch {what}: {reason}")]
    Fetch {
        /// The asset.
        what: String,
        /// Why.
        reason: String,
    },
    /// A file that should be there is missing.
    #[error("{what} not found: {path}")]
    NotFound {
        /// What was looked for ("asset", "voice").
        what: &'static str,
        /// The path tried.
        path: PathBuf,
    },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Captions or word timestamps asked of a voice whose words are not timed.
    #[error(
        "captions and timestamps need the model's word durations, which this model does not give"
    )]
    Untimed,
    /// A setting that is not valid, naming where it came from (the flag, the
    /// variable, or the config file and line).
    #[error("{0}")]
    Settings(String),
    /// Input that cannot be read as text (not UTF-8, or a failed read).
    #[error("{0}")]
    Input(String),
    /// A book could not be made (its record, its read-along package).
    #[error("{0}")]
    Book(String),
    /// The engine's worker thread stopped unexpectedly.
    #[error("the synthesis thread stopped: {0}")]
    Stopped(String),
}

impl From<kokoro_sched::Error> for Error {
    fn from(e: kokoro_sched::Error) -> Self {
        match e {
            kokoro_sched::Error::Chunk {
                index,
                snippet,
                source,
            } => Error::Chunk {
                index,
                snippet,
                source,
            },
            kokoro_sched::Error::Session(e) => Error::Infer(e),
            kokoro_sched::Error::Sink(e) => Error::Sink(e),
            kokoro_sched::Error::Cancelled => Error::Cancelled,
            other => Error::Stopped(other.to_string()),
        }
    }
}

impl Error {
    /// The I/O error under a refused sink or a failed write, if any: a closed
    /// pipe ([`std::io::ErrorKind::BrokenPipe`]) can be told from a full disk.
    pub fn io(&self) -> Option<&std::io::Error> {
        match self {
            Error::Sink(inner) => inner
                .downcast_ref::<std::io::Error>()
                .or_else(|| inner.downcast_ref::<kokoro_audio::Error>()?.io()),
            Error::Audio(e) => e.io(),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
