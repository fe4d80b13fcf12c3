//! Shaping audio between chunks: trimming the silence the model puts around
//! each chunk, and inserting pauses of chosen lengths between sentences and
//! paragraphs. Deterministic, so sequential and parallel runs stay identical.

use std::ops::Range;

use crate::SAMPLE_RATE;

/// Pauses between chunks, in seconds, and whether to trim silence at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pauses {
    /// After a chunk that ends a sentence.
    pub sentence: f32,
    /// After a chunk that ends a paragraph.
    pub paragraph: f32,
    /// After a chunk cut inside a sentence (at a clause, comma or word).
    pub clause: f32,
}

impl Default for Pauses {
    /// kokoro-onnx's choices: 0.25 s between sentences, 0.1 s at clauses, and
    /// 0.6 s between paragraphs.
    fn default() -> Self {
        Self {
            sentence: 0.25,
            paragraph: 0.6,
            clause: 0.1,
        }
    }
}

/// How a chunk ended, and the silence pause markup asked for around it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Boundary {
    /// The chunk ends a sentence.
    pub ends_sentence: bool,
    /// The chunk ends a paragraph.
    pub ends_paragraph: bool,
    /// Milliseconds of silence before the chunk (markup at the start of a text).
    pub pause_before_ms: u32,
    /// Milliseconds of silence after the chunk, in place of the usual pause.
    pub pause_after_ms: Option<u32>,
}

/// Where [`Joiner::push`] put a chunk: its samples `kept` are in the output
/// from `at` on. What lies outside `kept` (trimmed silence) is not in the output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placed {
    /// Index in the output of the chunk's sample `kept.start`.
    pub at: usize,
    /// The chunk's samples that were kept (empty when none were).
    pub kept: Range<usize>,
}

impl Placed {
    /// Where sample `i` of the chunk lies in the output; a trimmed sample
    /// lies at the nearest kept one's place.
    pub fn place(&self, i: usize) -> usize {
        self.at + i.clamp(self.kept.start, self.kept.end) - self.kept.start
    }

    /// Where the chunk's samples `range` lie in the output.
    pub fn place_range(&self, range: Range<usize>) -> Range<usize> {
        self.place(range.start)..self.place(range.end)
    }
}

/// Samples in `ms` milliseconds.
pub fn samples_in(ms: u32) -> usize {
    (u64::from(ms) * u64::from(SAMPLE_RATE) / 1000) as usize
}

/// Frames of 10 ms whose RMS is under this (-50 dBFS) count as silence.
const SILENCE_RMS: f32 = 0.003;
const FRAME: usize = SAMPLE_RATE as usize / 100;
/// Kept before the first and after the last loud frame, so that onsets and
/// decaying tails are never cut.
const LEAD_MARGIN: usize = SAMPLE_RATE as usize * 30 / 1000;
const TAIL_MARGIN: usize = SAMPLE_RATE as usize * 80 / 1000;

/// The part of `samples` that holds speech, with margins; `None` if all silent.
pub fn speech_bounds(samples: &[f32]) -> Option<Range<usize>> {
    let loud = |frame: &[f32]| {
        (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt() >= SILENCE_RMS
    };
    let frames: Vec<&[f32]> = samples.chunks(FRAME).collect();
    let first = frames.iter().position(|f| loud(f))?;
    let last = frames.iter().rposition(|f| loud(f))?;
    let start = (first * FRAME).saturating_sub(LEAD_MARGIN);
    let end = ((last + 1) * FRAME + TAIL_MARGIN).min(samples.len());
    Some(start..end)
}

/// Joins chunks' audio: each chunk trimmed to its speech, with a pause before it
/// that depends on how the previous chunk ended; or, [`Joiner::raw`], each chunk
/// as the model made it. Either way, a pause asked for by markup is exactly that
/// long: the chunk edges beside it are trimmed. Nothing is added after the last
/// chunk but a marked-up pause.
#[derive(Debug, Clone)]
pub struct Joiner {
    /// `None`: untrimmed audio, no pauses added.
    pauses: Option<Pauses>,
    pending_gap: f32,
    /// The previous chunk ended with a marked-up pause.
    after_markup: bool,
}

impl Joiner {
    /// A joiner that trims each chunk and puts these pauses between them.
    pub fn new(pauses: Pauses) -> Self {
        Self {
            pauses: Some(pauses),
            pending_gap: 0.0,
            after_markup: false,
        }
    }

    /// A joiner that keeps the model's audio as it is, but for pause markup.
    pub fn raw() -> Self {
        Self {
            pauses: None,
            pending_gap: 0.0,
            after_markup: false,
        }
    }

    /// Appends one chunk's audio to `out`, and says where it went. A pause
    /// asked for by markup replaces the usual one, and is kept even after the
    /// last chunk.
    pub fn push(&mut self, samples: &[f32], boundary: Boundary, out: &mut Vec<f32>) -> Placed {
        let gap = std::mem::take(&mut self.pending_gap) + boundary.pause_before_ms as f32 / 1000.0;
        let trim = self.pauses.is_some();
        let bounds = speech_bounds(samples);
        let Some(bounds) = bounds.filter(|_| {
            trim || self.after_markup || boundary.pause_after_ms.is_some() || gap > 0.0
        }) else {
            let placed = Placed {
                at: out.len(),
                kept: if trim { 0..0 } else { 0..samples.len() },
            };
            if !trim {
                out.extend_from_slice(samples);
            }
            self.pending_gap = gap;
            return placed;
        };
        out.resize(
            out.len() + (gap.max(0.0) * SAMPLE_RATE as f32).round() as usize,
            0.0,
        );
        let start = if trim || self.after_markup || gap > 0.0 {
            bounds.start
        } else {
            0
        };
        let end = if trim || boundary.pause_after_ms.is_some() {
            bounds.end
        } else {
            samples.len()
        };
        let placed = Placed {
            at: out.len(),
            kept: start..end,
        };
        out.extend_from_slice(&samples[start..end]);
        self.after_markup = boundary.pause_after_ms.is_some();
        self.pending_gap = match (boundary.pause_after_ms, self.pauses) {
            (Some(ms), _) => {
                // Written now, so that a pause at the very end is not lost.
                out.resize(out.len() + samples_in(ms), 0.0);
                0.0
            }
            (None, None) => 0.0,
            (None, Some(p)) if boundary.ends_paragraph => p.paragraph,
            (None, Some(p)) if boundary.ends_sentence => p.sentence,
            (None, Some(p)) => p.clause,
        };
        placed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<f32> {
        (0..n).map(|i| 0.3 * (i as f32 * 0.1).sin()).collect()
    }

    #[test]
    fn silence_is_trimmed_with_margins() {
        let mut s = vec![0.0; 24_000];
        s.extend(tone(12_000));
        s.extend(vec![0.0; 24_000]);
        let b = speech_bounds(&s).unwrap();
        assert!(b.start <= 24_000 && b.start >= 24_000 - LEAD_MARGIN - FRAME);
        assert!(b.end >= 36_000 + TAIL_MARGIN - FRAME && b.end <= 36_000 + TAIL_MARGIN + FRAME);
        assert_eq!(speech_bounds(&[0.0; 1000]), None);
    }

    #[test]
    fn pauses_follow_how_the_chunk_ended() {
        let mut j = Joiner::new(Pauses {
            sentence: 0.5,
            paragraph: 1.0,
            clause: 0.1,
        });
        let mut out = Vec::new();
        let chunk = tone(2400);
        let sentence = Boundary {
            ends_sentence: true,
            ..Boundary::default()
        };
        let paragraph = Boundary {
            ends_paragraph: true,
            ..Boundary::default()
        };
        j.push(&chunk, sentence, &mut out);
        let one = out.len();
        j.push(&chunk, paragraph, &mut out);
        assert_eq!(
            out.len(),
            2 * one + 12_000,
            "a sentence pause before the second chunk"
        );
        j.push(
            &chunk,
            Boundary {
                pause_after_ms: Some(2000),
                ..sentence
            },
            &mut out,
        );
        assert_eq!(
            out.len(),
            3 * one + 12_000 + 24_000 + 48_000,
            "a paragraph pause before the third, and the marked-up pause after it"
        );
        j.push(&chunk, sentence, &mut out);
        assert_eq!(
            out.len(),
            4 * one + 12_000 + 24_000 + 48_000,
            "the marked-up pause replaces the sentence pause"
        );
    }

    #[test]
    fn each_chunk_is_placed_where_its_samples_went() {
        // A chunk: 0.2 s of silence, 0.1 s of sound, 0.2 s of silence.
        let mut chunk = vec![0.0; 4800];
        chunk.extend(tone(2400));
        chunk.extend(vec![0.0; 4800]);
        let bounds = speech_bounds(&chunk).unwrap();
        let mut j = Joiner::new(Pauses {
            sentence: 0.5,
            paragraph: 1.0,
            clause: 0.1,
        });
        let mut out = Vec::new();
        let sentence = Boundary {
            ends_sentence: true,
            ..Boundary::default()
        };
        let first = j.push(&chunk, sentence, &mut out);
        assert_eq!(first.kept, bounds.clone());
        assert_eq!(first.at, 0);
        let second = j.push(&chunk, sentence, &mut out);
        assert_eq!(
            second.at,
            bounds.len() + 12_000,
            "after the first and a 0.5 s pause"
        );
        // Every kept sample is where the placement says.
        for i in [bounds.start, 4800, 6000, bounds.end - 1] {
            assert_eq!(out[second.place(i)], chunk[i]);
        }
        // Trimmed samples lie at the edges of what was kept.
        assert_eq!(second.place(0), second.at);
        assert_eq!(second.place(chunk.len()), second.at + bounds.len());
        assert_eq!(out.len(), second.place(chunk.len()));
        // Raw: all kept, one after another.
        let mut raw = Joiner::raw();
        let mut out = Vec::new();
        raw.push(&chunk, sentence, &mut out);
        let placed = raw.push(&chunk, sentence, &mut out);
        assert_eq!((placed.at, placed.kept), (chunk.len(), 0..chunk.len()));
    }

    #[test]
    fn raw_audio_is_untouched_but_for_marked_up_pauses() {
        let mut chunk = vec![0.0; 4800];
        chunk.extend(tone(2400));
        chunk.extend(vec![0.0; 4800]);
        let bounds = speech_bounds(&chunk).unwrap();
        let mut j = Joiner::raw();
        let mut out = Vec::new();
        j.push(&chunk, Boundary::default(), &mut out);
        j.push(&chunk, Boundary::default(), &mut out);
        assert_eq!(out.len(), 2 * chunk.len(), "no pause, no trimming");
        out.clear();
        let paused = Boundary {
            pause_after_ms: Some(1000),
            ..Boundary::default()
        };
        j.push(&chunk, paused, &mut out);
        j.push(&chunk, Boundary::default(), &mut out);
        assert_eq!(
            out.len(),
            bounds.end + 24_000 + (chunk.len() - bounds.start),
            "the edges beside the pause are trimmed, the others kept"
        );
    }
}
