//! Kokoro-82M inference on ONNX Runtime.
//!
//! This crate takes phoneme ids, a style row and a speed, and gives audio: it
//! knows nothing of text. It is the only crate of the workspace that names `ort`.
//!
//! - [`session`]: loading ONNX Runtime ([`init_runtime`], which checks the path
//!   itself rather than letting `ort` panic) and sessions with explicit options.
//! - [`SharedSession`]: one session whose `Run` is called from several threads
//!   at once, so that workers share one copy of the model (its safety argument
//!   is in `shared.rs`).
//! - [`timed`]: the model with each id's duration as a second output (a
//!   graph edit on the model's bytes), for word timings.
//! - [`dequantize`]: the float model for the GPU, made from the int8 export
//!   (another edit of the model's bytes).
//! - [`voice`]: voice packs (a directory of `.bin` files or an `.npz`), blends and
//!   the style row for a call (`n_tokens - 1`).
//!
//! # Example
//!
//! The assets (the library, the model, the voices) are the caller's: the
//! `kokoro` facade fetches and verifies them.
//!
//! ```no_run
//! use kokoro_infer::{init_runtime, KokoroSession, SessionOptions, Synthesize, VoiceSet};
//!
//! # fn main() -> kokoro_infer::Result<()> {
//! init_runtime("/path/to/libonnxruntime.so.1.31.1".as_ref())?;
//! let mut session = KokoroSession::open("kokoro-v1.0.int8.onnx".as_ref(), SessionOptions::default())?;
//! let voice = VoiceSet::open("voices".as_ref())?.resolve("af_heart")?;
//! let ids = [50, 156, 86, 54, 156, 57, 135]; // "hɛlˈoʊ"
//! let audio = session.synthesize(&ids, voice.style_for(ids.len()), 1.0)?;
//! assert!(!audio.is_empty());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod dequantize;
mod error;
pub mod fused;
mod graph;
mod proto;
pub mod session;
mod shared;
pub mod timed;
pub mod voice;

pub use error::{Error, Result};
pub use session::{
    cuda_usable, init_runtime, preload_libraries, return_large_blocks_to_the_system, Device,
    KokoroSession, SessionOptions, Synthesis, Synthesize, MIN_CUDA_DRIVER, SAMPLE_RATE,
};
pub use shared::{SharedHandle, SharedSession};
pub use voice::{Voice, VoiceSet, VoiceSpec, STYLE_DIM};
