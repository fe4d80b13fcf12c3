//! How many sessions and threads: forced by the user, or chosen for the text,
//! the cores and the memory.

use kokoro_sched::Layout;

/// Model calls in flight on a GPU by default.
pub const GPU_CALLS_IN_FLIGHT: usize = 4;

/// What the user asked of the worker layout; all `None` is automatic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Workers {
    /// `Some(true)` parallel, `Some(false)` one session, `None` automatic.
    pub parallel: Option<bool>,
    /// Most sessions at once.
    pub max_workers: Option<usize>,
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: Option<usize>,
    /// Sentences the engine will speak at once, when known (a short text needs
    /// fewer sessions); `None`: many.
    pub sentences: Option<usize>,
    /// Latency before throughput (a stream to a listener, a server): see
    /// [`Layout::auto_streaming`].
    pub streaming: bool,
    /// The model's calls use intra-op threads well (the fused form): the
    /// automatic layout then takes sessions of two threads, see
    /// [`Layout::auto_threaded`]. The engine sets it for the form it runs.
    pub threaded_calls: bool,
    /// A session of its own for each worker, instead of one session whose
    /// `Run` they all call at once. Same audio; each session holds its own copy
    /// of the model (about 360 MiB at its peak on the int8 model).
    pub session_per_worker: bool,
}

impl Workers {
    /// The layout on this machine.
    pub fn layout(&self) -> Layout {
        self.layout_for(cores(), mem_available())
    }

    /// The layout on a GPU: calls in flight, each on a session (and so a CUDA
    /// stream) lent to it alone (the export is batch-1, so a GPU is kept busy
    /// by concurrency), one CPU thread each. [`GPU_CALLS_IN_FLIGHT`] unless
    /// `max_workers` says otherwise; not yet measured on a GPU.
    pub fn gpu_layout(&self) -> Layout {
        Layout {
            workers: self.max_workers.unwrap_or(GPU_CALLS_IN_FLIGHT).max(1),
            intra_threads: self.intra_threads.unwrap_or(1).max(1),
        }
    }

    /// The layout on `cores` cores with `mem_available` bytes free.
    pub fn layout_for(&self, cores: usize, mem_available: Option<u64>) -> Layout {
        match self.parallel {
            Some(false) => Layout::fitted(1, self.intra_threads.unwrap_or(cores), cores),
            Some(true) => {
                let workers = self.max_workers.unwrap_or(cores);
                Layout::fitted(
                    workers,
                    self.intra_threads
                        .unwrap_or(cores / workers.clamp(1, cores)),
                    cores,
                )
            }
            None => {
                let chunks = self.sentences.unwrap_or(usize::MAX);
                let auto = if self.streaming {
                    Layout::auto_streaming(chunks, cores, mem_available)
                } else if self.threaded_calls {
                    Layout::auto_threaded(chunks, cores, mem_available)
                } else {
                    Layout::auto(chunks, cores, mem_available)
                };
                let workers = self
                    .max_workers
                    .map_or(auto.workers, |m| auto.workers.min(m));
                Layout::fitted(
                    workers,
                    self.intra_threads.unwrap_or(cores / workers.max(1)),
                    cores,
                )
            }
        }
    }
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Memory available to new sessions, from /proc/meminfo where there is one.
pub fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(w: Workers, cores: usize) -> (usize, usize) {
        let l = w.layout_for(cores, None);
        (l.workers, l.intra_threads)
    }

    #[test]
    fn automatic_layouts() {
        assert_eq!(layout(Workers::default(), 2), (2, 1));
        assert_eq!(layout(Workers::default(), 16), (8, 2));
        let streaming = Workers {
            streaming: true,
            ..Workers::default()
        };
        assert_eq!(layout(streaming, 2), (1, 2));
        let one_sentence = Workers {
            sentences: Some(1),
            ..Workers::default()
        };
        assert_eq!(layout(one_sentence, 4), (1, 4));
        let threaded = Workers {
            threaded_calls: true,
            ..Workers::default()
        };
        assert_eq!(layout(threaded, 2), (1, 2));
        assert_eq!(layout(threaded, 4), (2, 2));
        assert_eq!(layout(threaded, 16), (8, 2));
    }

    #[test]
    fn forced_layouts_never_oversubscribe() {
        let seq = Workers {
            parallel: Some(false),
            ..Workers::default()
        };
        assert_eq!(layout(seq, 2), (1, 2));
        let par = Workers {
            parallel: Some(true),
            max_workers: Some(8),
            intra_threads: Some(4),
            ..Workers::default()
        };
        assert_eq!(layout(par, 2), (2, 1));
        let capped = Workers {
            max_workers: Some(1),
            ..Workers::default()
        };
        assert_eq!(layout(capped, 2), (1, 2));
    }
}
