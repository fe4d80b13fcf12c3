//! The errors of kokoro-audio.

use std::path::PathBuf;

/// What can go wrong writing audio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be created, written, synced or renamed.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The output path names a directory.
    #[error("cannot write {path}: it is a directory")]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// No temporary file could be made beside the output.
    #[error("cannot write {path}: directory {dir} is not writable or does not exist")]
    Directory {
        /// The output file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The finished file could not be renamed into place.
    #[error("cannot rename the finished audio to {path}")]
    Rename {
        /// The output file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing to a stream failed (a closed pipe, a client gone).
    #[error("cannot write audio")]
    Io(#[from] std::io::Error),
    /// More audio than the format can describe.
    #[error("audio longer than a WAV file can hold (4 GiB)")]
    TooLong,
    /// An encoder refused its settings or its input.
    #[error("{codec}: {reason}")]
    Codec {
        /// `flac`, `mp3`, `opus`, `aac`, `mp4` or `id3`.
        codec: &'static str,
        /// What it said.
        reason: String,
    },
    /// The audio device cannot be opened or played on.
    #[error("{0}")]
    Device(String),
    /// A format name that is not known.
    #[error("unknown format `{0}` (wav, wav-float, flac, mp3, opus, pcm, m4b, m4a, aac)")]
    UnknownFormat(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn codec(codec: &'static str, reason: impl std::fmt::Debug) -> Self {
        Error::Codec {
            codec,
            reason: format!("{reason:?}"),
        }
    }

    /// The I/O error underneath, if any (to tell a closed pipe from a full disk).
    pub fn io(&self) -> Option<&std::io::Error> {
        match self {
            Error::Write { source, .. }
            | Error::Directory { source, .. }
            | Error::Rename { source, .. }
            | Error::Io(source) => Some(source),
            _ => None,
        }
    }
}
