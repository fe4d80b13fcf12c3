//! Kokoro-82M inference on ONNX Runtime.
//!
//! This crate takes phoneme ids, a style row and a speed, and gives audio: it
//! knows nothing of text. It is the only crate of the workspace that names `ort`.
//!
//! - [`assets`]: the ONNX Runtime library, model and voices, fetched into a
//!   per-user cache and verified against pinned SHA-256 hashes.
//! - [`session`]: loading ONNX Runtime ([`init_runtime`], which checks the path
//!   itself rather than letting `ort` panic) and sessions with explicit options.
//! - [`voice`]: voice packs (a directory of `.bin` files or an `.npz`), blends and
//!   the style row for a call (`n_tokens - 1`).
//!
//! # Example
//!
//! ```no_run
//! use kokoro_infer::{init_runtime, Cache, KokoroSession, SessionOptions, Synthesize, VoiceSet, Want};
//!
//! # fn main() -> kokoro_infer::Result<()> {
//! let paths = Cache::new("/tmp/kokoro-cache").ensure(Want::ALL, &mut |_| {})?;
//! init_runtime(&paths.runtime)?;
//! let mut session = KokoroSession::open(&paths.model, SessionOptions::default())?;
//! let voice = VoiceSet::open(&paths.voices)?.resolve("af_heart")?;
//! let ids = [50, 156, 86, 54, 156, 57, 135]; // "hɛlˈoʊ"
//! let audio = session.synthesize(&ids, voice.style_for(ids.len()), 1.0)?;
//! assert!(!audio.is_empty());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod assets;
pub mod audio;
mod error;
pub mod session;
pub mod voice;

pub use assets::{AssetPaths, Cache, FetchEvent, Want};
pub use audio::{Boundary, Joiner, Pauses};
pub use error::{Error, Result};
pub use session::{
    init_runtime, return_large_blocks_to_the_system, KokoroSession, SessionOptions, Synthesize,
    MAX_TOKENS, SAMPLE_RATE,
};
pub use voice::{Voice, VoiceSet, VoiceSpec, STYLE_DIM};
