//! Speech as it is made: a stream of chunks (an iterator in Python), and a
//! feed that takes text as it arrives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kokoro::{Next, Segment, SpeechStream, TextFeed};
use numpy::PyArray1;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

use crate::errors::{self, to_py};
use crate::wait::{self, SLICE};

/// A chunk as Python gets it: its samples, `(text, start, end, phonemes)`,
/// and its words `(word, start, end, span_start, span_end)`.
type Item<'py> = (
    Bound<'py, PyArray1<f32>>,
    (String, f64, f64, String),
    Vec<(String, f64, f64, usize, usize)>,
);

/// Chunks of speech in order, as they are made. Dropping it (or `close`)
/// stops the synthesis before its next chunk.
#[pyclass(module = "kokoro_rs._native")]
pub struct Stream {
    chunks: Mutex<Option<SpeechStream>>,
    /// The text the chunks' spans point into (a feed's grows).
    text: Arc<Mutex<String>>,
    cancel: Arc<AtomicBool>,
}

impl Stream {
    /// A stream over `chunks` of `text`, stopped by `cancel`.
    pub fn new(chunks: SpeechStream, text: String, cancel: Arc<AtomicBool>) -> Self {
        Self::shared(chunks, Arc::new(Mutex::new(text)), cancel)
    }

    fn shared(chunks: SpeechStream, text: Arc<Mutex<String>>, cancel: Arc<AtomicBool>) -> Self {
        Self {
            chunks: Mutex::new(Some(chunks)),
            text,
            cancel,
        }
    }

    /// The next chunk, waiting in slices (the GIL released) so that a
    /// signal reaches the caller; `None` at the end.
    fn next_chunk<'py>(&self, py: Python<'py>) -> PyResult<Option<Item<'py>>> {
        let mut slot = self.chunks.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut chunks) = slot.take() else {
            return Ok(None);
        };
        loop {
            let (next, back) = py.detach(move || (chunks.next_within(SLICE), chunks));
            chunks = back;
            match next {
                Next::Chunk(Ok(chunk)) => {
                    let text = self.text.lock().unwrap_or_else(|p| p.into_inner());
                    let item = (
                        PyArray1::from_vec(py, chunk.samples),
                        segment(&text, &chunk.segment),
                        words(&text, &chunk.segment, false),
                    );
                    *slot = Some(chunks);
                    return Ok(Some(item));
                }
                Next::Chunk(Err(e)) => return Err(to_py(e)),
                Next::End => return Ok(None),
                Next::Waiting => wait::interrupted(py, &self.cancel)?,
            }
        }
    }
}

#[pymethods]
impl Stream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Item<'py>> {
        self.next_chunk(py)?
            .ok_or_else(|| PyStopIteration::new_err(()))
    }

    /// The next chunk, or `None` at the end (for a caller on another thread,
    /// an event loop's executor).
    #[pyo3(name = "next_chunk")]
    fn next_chunk_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Item<'py>>> {
        self.next_chunk(py)
    }

    /// Stops the synthesis: no new chunk starts; the stream ends.
    fn close(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.chunks.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Text pushed as it arrives, spoken sentence by sentence: iterate over it
/// for the chunks.
#[pyclass(module = "kokoro_rs._native")]
pub struct Feed {
    feed: Mutex<Option<TextFeed>>,
    stream: Stream,
}

impl Feed {
    /// A feed whose chunks come out of `stream`.
    pub fn new(feed: TextFeed, stream: SpeechStream, cancel: Arc<AtomicBool>) -> Self {
        Self {
            feed: Mutex::new(Some(feed)),
            stream: Stream::shared(stream, Arc::default(), cancel),
        }
    }

    fn with_feed(&self, f: impl FnOnce(&mut TextFeed)) -> PyResult<()> {
        let mut slot = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            Some(feed) => {
                f(feed);
                Ok(())
            }
            None => Err(errors::raise(
                "InputError",
                "this feed is finished: no more text can be pushed".into(),
            )),
        }
    }
}

#[pymethods]
impl Feed {
    /// Adds text; each sentence it completes is spoken at once.
    fn push(&self, text: &str) -> PyResult<()> {
        self.stream
            .text
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(text);
        self.with_feed(|f| f.push(text))
    }

    /// Speaks what was pushed, complete sentence or not.
    fn flush(&self) -> PyResult<()> {
        self.with_feed(TextFeed::flush)
    }

    /// No more text: what is left is spoken, then the chunks end.
    fn finish(&self) {
        if let Some(feed) = self.feed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            feed.finish();
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Item<'py>> {
        self.stream
            .next_chunk(py)?
            .ok_or_else(|| PyStopIteration::new_err(()))
    }

    /// The next chunk, or `None` at the end.
    fn next_chunk<'py>(&self, py: Python<'py>) -> PyResult<Option<Item<'py>>> {
        self.stream.next_chunk(py)
    }

    /// Stops: nothing more is spoken.
    fn close(&self) {
        self.finish();
        self.stream.close();
    }
}

/// A segment as `(text, start, end, phonemes)`.
pub fn segment(text: &str, s: &Segment) -> (String, f64, f64, String) {
    (
        text.get(s.span.clone()).unwrap_or_default().to_string(),
        kokoro::captions::seconds(s.samples.start),
        kokoro::captions::seconds(s.samples.end),
        s.phonemes.clone(),
    )
}

/// A segment's words as `(word, start, end, span_start, span_end)`.
pub fn words(
    text: &str,
    s: &Segment,
    phoneme_words: bool,
) -> Vec<(String, f64, f64, usize, usize)> {
    let source = if phoneme_words { &s.phonemes } else { text };
    s.words
        .iter()
        .map(|w| {
            (
                w.text(source).to_string(),
                w.start(),
                w.end(),
                w.span.start,
                w.span.end,
            )
        })
        .collect()
}
