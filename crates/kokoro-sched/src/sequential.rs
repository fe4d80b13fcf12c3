//! One session, chunk after chunk.

use kokoro_infer::Synthesize;

use crate::{ChunkSource, Control, Delivery, Error, Request, Scheduler, Sink, Summary};

/// Synthesises chunks one after another on a single session, delivering each
/// as soon as it is done.
#[derive(Debug)]
pub struct Sequential<S> {
    session: S,
    threads: usize,
}

impl<S: Synthesize> Sequential<S> {
    /// A sequential scheduler over `session`, whose intra-op thread count is `threads`
    /// (for [`Scheduler::describe`]).
    pub fn new(session: S, threads: usize) -> Self {
        Self { session, threads }
    }
}

impl<S: Synthesize> Scheduler for Sequential<S> {
    fn describe(&self) -> String {
        format!("sequential (1 session x {} threads)", self.threads)
    }

    fn run(
        &mut self,
        request: &Request<'_>,
        chunks: &mut ChunkSource<'_>,
        sink: &mut dyn Sink,
        control: &Control,
    ) -> Result<Summary, Error> {
        let mut delivery = Delivery::new(request, control);
        for (index, chunk) in chunks.enumerate() {
            if control.cancelled() {
                return Err(Error::Cancelled);
            }
            let audio = request.run_chunk(&mut self.session, index, chunk)?;
            delivery.deliver(sink, audio)?;
        }
        if control.cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(delivery.finish())
    }
}
