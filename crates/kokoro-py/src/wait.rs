//! Long work off the interpreter: the work runs on a thread of its own while
//! the calling thread, the GIL released, waits for it in slices and checks
//! for signals between them. Ctrl-C raises `KeyboardInterrupt` within a
//! slice and sets the work's cancel flag: no new chunk starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;

use crate::errors;

/// How long the caller waits between two checks for a signal.
pub const SLICE: Duration = Duration::from_millis(50);

/// Runs `work` on its own thread and waits for it, interruptibly: a signal
/// handler that raises (Ctrl-C's `KeyboardInterrupt`) sets `cancel` and its
/// exception is raised here at once; the work stops before its next chunk.
pub fn run<T: Send + 'static>(
    py: Python<'_>,
    cancel: &Arc<AtomicBool>,
    work: impl FnOnce() -> kokoro::Result<T> + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("kokoro-py".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| errors::raise("KokoroError", format!("cannot start a thread: {e}")))?;
    let mut rx = rx;
    loop {
        // The receiver goes into the released section and comes back out
        // (it may not be shared across threads).
        let (got, back) = py.detach(move || (rx.recv_timeout(SLICE), rx));
        rx = back;
        match got {
            Ok(done) => return done.map_err(errors::to_py),
            Err(RecvTimeoutError::Timeout) => interrupted(py, cancel)?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(errors::raise(
                    "KokoroError",
                    "the synthesis thread stopped unexpectedly".into(),
                ))
            }
        }
    }
}

/// Runs the interpreter's signal handlers; if one raised, `cancel` is set
/// and its exception returned.
pub fn interrupted(py: Python<'_>, cancel: &AtomicBool) -> PyResult<()> {
    py.check_signals().inspect_err(|_| {
        cancel.store(true, Ordering::SeqCst);
    })
}
