//! The worker layout and its automatic choice.

use kokoro_infer::{SessionOptions, Synthesize};

use crate::{Error, Parallel, Scheduler, Sequential, IDS_PER_SESSION};

/// Sessions and threads: `workers` sessions, each with `intra_threads` threads.
/// `workers == 1` is the sequential strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of sessions working at once.
    pub workers: usize,
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: usize,
}

/// Resident memory one more session adds at its peak, measured on the int8 model
/// with chunks of at most 200 ids and arena shrinkage: 2 x 1 against 1 x 1 on
/// long.txt, 879 - 526 = 353 MiB (docs/BENCHMARKS.md).
pub const SESSION_BYTES: u64 = 360 << 20;

impl Layout {
    /// One session using every core.
    pub fn sequential(cores: usize) -> Self {
        Self {
            workers: 1,
            intra_threads: cores.max(1),
        }
    }

    /// A layout fitted to `cores`: never more threads in all than cores.
    pub fn fitted(workers: usize, intra_threads: usize, cores: usize) -> Self {
        let cores = cores.max(1);
        let workers = workers.clamp(1, cores);
        Self {
            workers,
            intra_threads: intra_threads.clamp(1, (cores / workers).max(1)),
        }
    }

    /// The layout chosen from the number of chunks, the cores and the memory
    /// available (bytes; `None` when unknown).
    ///
    /// Measured on the int8 model (docs/BENCHMARKS.md): independent chunks scale
    /// almost perfectly across sessions while ONNX Runtime's intra-op threads on
    /// this model scale poorly, so below 8 cores every core gets a single-thread
    /// session (2 cores: 2 x 1, 99 % efficiency on medium.txt). From 8 cores on,
    /// sessions of 2 threads win (16 cores: 8 x 2 took 17.4 s where 16 x 1 took
    /// 19.8 s, with half the memory), as the last chunks of a text otherwise leave
    /// most cores idle. Workers never outnumber the chunks, nor what memory holds.
    pub fn auto(chunks: usize, cores: usize, mem_available: Option<u64>) -> Self {
        Self::sized(if cores >= 8 { 2 } else { 1 }, chunks, cores, mem_available)
    }

    /// [`Layout::auto`] for a model whose calls use intra-op threads well
    /// (the fused form, `kokoro_infer::fused`, whose convolutions divide
    /// their tiles among the threads): sessions of two threads at any core
    /// count, which on long.txt and 2 cores ran 0.89 times as fast as two
    /// single-thread sessions at 0.57 of the peak memory (464 against 818
    /// MiB), since each call in flight holds its activations.
    pub fn auto_threaded(chunks: usize, cores: usize, mem_available: Option<u64>) -> Self {
        Self::sized(2, chunks, cores, mem_available)
    }

    /// The layout for streaming to a listener: latency before throughput. The
    /// first chunk runs on one session alone, so two-thread sessions halve the
    /// wait for it (2 cores: 0.86 s to first audio with 1 x 2, 1.35 s with 2 x 1,
    /// and no stalls once playing); a stream needs only to stay ahead of playback,
    /// and on 2 cores 1 x 2 is 1.9 times faster than real time.
    pub fn auto_streaming(chunks: usize, cores: usize, mem_available: Option<u64>) -> Self {
        Self::sized(2, chunks, cores, mem_available)
    }

    /// Sessions of about `per_session` threads: as many as the cores allow, but
    /// never more than the chunks or than memory holds; leftover cores become
    /// intra-op threads.
    fn sized(per_session: usize, chunks: usize, cores: usize, mem_available: Option<u64>) -> Self {
        let cores = cores.max(1);
        let by_memory = mem_available.map_or(usize::MAX, |m| (m / SESSION_BYTES).max(1) as usize);
        let workers = (cores / per_session)
            .min(chunks.max(1))
            .min(by_memory)
            .max(1);
        Self::fitted(workers, cores / workers, cores)
    }

    /// Total threads used.
    pub fn threads(&self) -> usize {
        self.workers * self.intra_threads
    }

    /// Builds the scheduler, opening sessions with `open`; a parallel one runs
    /// at most [`IDS_PER_SESSION`] phoneme ids per session at once.
    pub fn build<S, F>(self, open: F) -> Result<Box<dyn Scheduler>, Error>
    where
        S: Synthesize + 'static,
        F: FnMut(SessionOptions) -> kokoro_infer::Result<S>,
    {
        self.build_with_budget(IDS_PER_SESSION, open)
    }

    /// As [`Layout::build`], with `ids_per_session` phoneme ids per session in
    /// flight at most (`usize::MAX`: no limit); for chunk targets other than the
    /// default, pass the target.
    pub fn build_with_budget<S, F>(
        self,
        ids_per_session: usize,
        mut open: F,
    ) -> Result<Box<dyn Scheduler>, Error>
    where
        S: Synthesize + 'static,
        F: FnMut(SessionOptions) -> kokoro_infer::Result<S>,
    {
        let options = SessionOptions {
            intra_threads: self.intra_threads,
            ..SessionOptions::default()
        };
        if self.workers <= 1 {
            return Ok(Box::new(Sequential::new(
                open(options)?,
                self.intra_threads,
            )));
        }
        let sessions = (0..self.workers)
            .map(|_| open(options))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(
            Parallel::new(sessions, self.intra_threads)?
                .with_budget(ids_per_session.saturating_mul(self.workers)),
        ))
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.workers == 1 {
            write!(f, "sequential (1 session x {} threads)", self.intra_threads)
        } else {
            write!(
                f,
                "parallel ({} workers x {} threads)",
                self.workers, self.intra_threads
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_is_the_default_chunk_target() {
        // IDS_PER_SESSION is documented as the default target: keep the two together.
        assert_eq!(
            IDS_PER_SESSION,
            kokoro_text::ChunkOptions::default().target_tokens
        );
    }

    #[test]
    fn auto_never_oversubscribes_and_follows_chunks_and_memory() {
        for cores in 1..=32 {
            for chunks in [0, 1, 2, 5, 100] {
                for mem in [None, Some(0), Some(SESSION_BYTES * 3)] {
                    let l = Layout::auto(chunks, cores, mem);
                    assert!(l.threads() <= cores, "{l:?} on {cores} cores");
                    assert!(l.workers <= chunks.max(1));
                    if let Some(m) = mem {
                        assert!(l.workers as u64 <= (m / SESSION_BYTES).max(1));
                    }
                }
            }
        }
        assert_eq!(
            Layout::auto(1, 2, None),
            Layout {
                workers: 1,
                intra_threads: 2
            }
        );
        assert_eq!(
            Layout::auto(10, 2, None),
            Layout {
                workers: 2,
                intra_threads: 1
            }
        );
        assert_eq!(
            Layout::fitted(8, 4, 2),
            Layout {
                workers: 2,
                intra_threads: 1
            }
        );
    }
}
