//! A pool of sessions on a rayon thread pool, with ordered delivery through a
//! bounded reorder window.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use kokoro_infer::Synthesize;
use kokoro_text::Chunk;

use crate::{Audio, ChunkSource, Control, Delivery, Error, Request, Scheduler, Sink, Summary};

/// Synthesises chunks on several sessions at once, one worker thread per session.
///
/// Workers take chunks in input order (but see the budget below), never more than
/// `window` chunks ahead of the last one delivered, so at most `window` chunks of
/// audio wait in memory whatever the length of the text. Audio reaches the sink on
/// the calling thread, in order, each chunk exactly once, as soon as every earlier
/// chunk is done.
///
/// A call's memory grows with its chunk's length (about 24 MiB per second of
/// audio on the int8 model), so the sessions together run at most `budget`
/// phoneme ids at once; a chunk longer than that runs alone. A worker whose next
/// chunk does not fit takes a later one inside the window that does, so the
/// cores stay busy. The budget bounds what long chunks meeting can cost: without
/// it, two adjacent 195-id chunks running side by side set the peak of a
/// 60k-character run.
pub struct Parallel<S> {
    sessions: Vec<S>,
    threads: usize,
    window: usize,
    budget: usize,
    pool: rayon::ThreadPool,
}

impl<S> std::fmt::Debug for Parallel<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parallel")
            .field("workers", &self.sessions.len())
            .field("threads", &self.threads)
            .field("window", &self.window)
            .field("budget", &self.budget)
            .finish()
    }
}

/// Phoneme ids in flight per session by default: the default chunk target, so
/// that sessions run chunks of typical length side by side while a long chunk
/// (up to `ChunkOptions::max_tokens`) shares the cores only with a shorter one.
/// With two sessions, over the same 60k characters, the peak was 859 MiB with
/// it and 930 MiB without, and it was no slower (docs/BENCHMARKS.md).
pub const IDS_PER_SESSION: usize = 150;

/// Shared state of the workers: the chunk source and the next chunk's index, the
/// chunks taken from it but not started, how far delivery got, the ids being
/// synthesised, whether the source is exhausted, and whether to stop.
struct Window<'c, 'a> {
    chunks: &'c mut ChunkSource<'a>,
    next: usize,
    waiting: VecDeque<(usize, Chunk)>,
    delivered: usize,
    in_flight: usize,
    exhausted: bool,
    stop: bool,
}

impl<S: Synthesize> Parallel<S> {
    /// A parallel scheduler over `sessions` (each with `threads` intra-op threads).
    /// The reorder window is twice the number of sessions; the budget is
    /// [`IDS_PER_SESSION`] ids per session.
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
            budget: workers * IDS_PER_SESSION,
            pool,
        })
    }

    /// Sets how many phoneme ids the sessions may synthesise at once, in all
    /// (`usize::MAX`: no limit). A chunk longer than the budget runs alone.
    pub fn with_budget(mut self, ids: usize) -> Self {
        self.budget = ids.max(1);
        self
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
        let (window, budget) = (self.window, self.budget);
        let state = Mutex::new(Window {
            chunks,
            next: 0,
            waiting: VecDeque::new(),
            delivered: 0,
            in_flight: 0,
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
                            while let Some((index, chunk)) =
                                take_next(state, wake, control, window, budget)
                            {
                                let ids = chunk.ids.len();
                                let result = request.run_chunk(session, index, chunk);
                                state.lock().unwrap_or_else(|p| p.into_inner()).in_flight -= ids;
                                wake.notify_all();
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

/// Waits until a chunk may start, and takes it: the first chunk inside the
/// window whose ids fit in the budget beside those in flight (any chunk when
/// nothing is in flight). `None` when there is nothing left to do or the run stops.
fn take_next(
    state: &Mutex<Window<'_, '_>>,
    wake: &Condvar,
    control: &Control,
    window: usize,
    budget: usize,
) -> Option<(usize, Chunk)> {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if st.stop || control.cancel.load(Ordering::Relaxed) {
            return None;
        }
        // Nothing in flight: any chunk fits, so one longer than the budget runs alone.
        let in_flight = st.in_flight;
        let fits = st
            .waiting
            .iter()
            .position(|(_, c)| in_flight == 0 || in_flight + c.ids.len() <= budget);
        if let Some(taken) = fits.and_then(|at| st.waiting.remove(at)) {
            st.in_flight += taken.1.ids.len();
            return Some(taken);
        }
        // Chunks are made only when needed: the first one starts at once.
        if !st.exhausted && st.next < st.delivered + window {
            match st.chunks.next() {
                Some(chunk) => {
                    let index = st.next;
                    st.waiting.push_back((index, chunk));
                    st.next += 1;
                }
                None => st.exhausted = true,
            }
            continue;
        }
        if st.exhausted && st.waiting.is_empty() {
            return None;
        }
        st = wake
            .wait_timeout(st, Duration::from_millis(50))
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}
