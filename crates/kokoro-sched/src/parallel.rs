//! A pool of sessions on a rayon thread pool, with ordered delivery through a
//! bounded reorder window.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use kokoro_infer::Synthesize;
use kokoro_text::Chunk;

use crate::{Audio, ChunkSource, Control, Delivery, Error, Request, Scheduler, Sink, Summary};

/// Synthesises chunks on several sessions at once, one worker thread per session.
///
/// Workers take chunks in input order, but never more than `window` chunks ahead of
/// the last one delivered, so at most `window` chunks of audio wait in memory
/// whatever the length of the text. Audio reaches the sink on the calling thread,
/// in order, each chunk exactly once, as soon as every earlier chunk is done.
pub struct Parallel<S> {
    sessions: Vec<S>,
    threads: usize,
    window: usize,
    pool: rayon::ThreadPool,
}

impl<S> std::fmt::Debug for Parallel<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parallel")
            .field("workers", &self.sessions.len())
            .field("threads", &self.threads)
            .field("window", &self.window)
            .finish()
    }
}

/// Shared state of the workers: the chunk source and the next chunk's index, how
/// far delivery got, whether the source is exhausted, and whether to stop.
struct Window<'c, 'a> {
    chunks: &'c mut ChunkSource<'a>,
    next: usize,
    delivered: usize,
    exhausted: bool,
    stop: bool,
}

impl<S: Synthesize> Parallel<S> {
    /// A parallel scheduler over `sessions` (each with `threads` intra-op threads).
    /// The reorder window is twice the number of sessions.
    ///
    /// # Panics
    ///
    /// Never; an empty session list is given one worker's window and fails at run time.
    pub fn new(sessions: Vec<S>, threads: usize) -> Result<Self, Error> {
        let workers = sessions.len().max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("kokoro-worker-{i}"))
            .build()
            .map_err(|e| {
                Error::Session(kokoro_infer::Error::Inference(format!(
                    "cannot start worker threads: {e}"
                )))
            })?;
        Ok(Self {
            sessions,
            threads,
            window: 2 * workers,
            pool,
        })
    }

    /// Sets the reorder window (chunks in flight or waiting), at least the number of workers.
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window.max(self.sessions.len()).max(1);
        self
    }
}

impl<S: Synthesize> Scheduler for Parallel<S> {
    fn describe(&self) -> String {
        format!(
            "parallel ({} workers x {} threads)",
            self.sessions.len(),
            self.threads
        )
    }

    fn run(
        &mut self,
        request: &Request<'_>,
        chunks: &mut ChunkSource<'_>,
        sink: &mut dyn Sink,
        control: &Control,
    ) -> Result<Summary, Error> {
        let window = self.window;
        let state = Mutex::new(Window {
            chunks,
            next: 0,
            delivered: 0,
            exhausted: false,
            stop: false,
        });
        let wake = Condvar::new();
        let (tx, rx) = mpsc::channel::<Result<Audio, Error>>();
        let mut delivery = Delivery::new(request, control);
        let mut failure: Option<Error> = None;
        let stop = |st: &Mutex<Window<'_, '_>>| {
            st.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
            wake.notify_all();
        };

        let sessions = &mut self.sessions;
        let pool = &self.pool;
        std::thread::scope(|scope| {
            let (state, wake) = (&state, &wake);
            scope.spawn(move || {
                pool.scope(|s| {
                    for session in sessions.iter_mut() {
                        let tx = tx.clone();
                        s.spawn(move |_| {
                            while let Some((index, chunk)) = take_next(state, wake, control, window)
                            {
                                let result = request.run_chunk(session, index, chunk);
                                let failed = result.is_err();
                                if tx.send(result).is_err() || failed {
                                    stop(state);
                                    return;
                                }
                            }
                        });
                    }
                });
                drop(tx);
            });

            let mut pending: BTreeMap<usize, Audio> = BTreeMap::new();
            for result in &rx {
                match result {
                    Ok(audio) => {
                        pending.insert(audio.index, audio);
                        while let Some(audio) = pending.remove(&delivery.done) {
                            if let Err(e) = delivery.deliver(sink, audio) {
                                failure.get_or_insert(e);
                                break;
                            }
                            state.lock().unwrap_or_else(|p| p.into_inner()).delivered =
                                delivery.done;
                            wake.notify_all();
                        }
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
                if failure.is_some() {
                    stop(state);
                    break;
                }
            }
            // Workers finish at most their current chunk; their results are dropped.
            drop(rx);
        });

        if let Some(e) = failure {
            return Err(e);
        }
        let st = state.into_inner().unwrap_or_else(|p| p.into_inner());
        if !st.exhausted || delivery.done < st.next || control.cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(delivery.finish())
    }
}

/// Waits until the next chunk may start (inside the window), and takes it from
/// the source. `None` when there is nothing left to do or the run stops.
fn take_next(
    state: &Mutex<Window<'_, '_>>,
    wake: &Condvar,
    control: &Control,
    window: usize,
) -> Option<(usize, Chunk)> {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if st.stop || st.exhausted || control.cancel.load(Ordering::Relaxed) {
            return None;
        }
        if st.next < st.delivered + window {
            let Some(chunk) = st.chunks.next() else {
                st.exhausted = true;
                return None;
            };
            st.next += 1;
            return Some((st.next - 1, chunk));
        }
        st = wake
            .wait_timeout(st, Duration::from_millis(50))
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}
