//! EPUB 3 read-along books: each chapter's audio in the package, a Media
//! Overlay per page (a `par` per sentence, or per word), so that any EPUB 3
//! reader plays the book with the text highlighted as it is spoken.
//!
//! The clips come from the model's own word durations, placed on the
//! chapter's audio as the joiner placed the samples (as captions are), so
//! they do not drift however long the book. A clip runs from its sentence's
//! first word to the next sentence's: the clips of a page are in order,
//! contiguous, and inside their audio.
//!
//! From an EPUB, the book keeps its pages, styles, images and table of
//! contents: each page changes only by the spans and ids its overlay points
//! to and a link to the highlight's style (an EPUB 2 is brought to EPUB 3 on
//! the way: its doctype, named entities, `.html` names, package attributes
//! and a navigation document). From any other input the pages are made from
//! the chapters' text.
//!
//! Like a directory of chapter files, the book is resumable: each chapter's
//! audio and clips are kept, once complete, beside the output in a hidden
//! directory (`.kokoro-NAME.epub.parts`) until the book is written whole.

mod convert;
mod package;
mod pages;

use std::path::{Path, PathBuf};

use kokoro_audio::{encoder_with, Dest, Format, Tags};
use serde::{Deserialize, Serialize};

use super::timing::write_whole;
use super::{file_name, fingerprint, Event, Record, Speaker, Summary};
use crate::{Error, Result, Word, SAMPLE_RATE};

/// A stretch of a chapter's text and where it is heard in the chapter's audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Clip {
    /// Byte range in the chapter's text.
    pub range: [usize; 2],
    /// Milliseconds from the start of the chapter's audio.
    pub begin: u64,
    pub end: u64,
    /// Its words' clips (asked for word overlays), covering it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Clip>,
}

/// What a chapter came to: its audio file (in the parts directory) and clips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Spoken {
    pub audio: String,
    pub duration_ms: u64,
    pub clips: Vec<Clip>,
}

/// Samples to whole milliseconds, rounded.
fn ms(samples: usize) -> u64 {
    (samples as u64 * 1000 + u64::from(SAMPLE_RATE) / 2) / u64::from(SAMPLE_RATE)
}

/// The clips of a chapter: a sentence each (with its words' when `words`),
/// from its first word's start to the next one's, the last to the end of
/// the audio (`total` samples). A sentence with no word heard (a pause, a
/// row of asterisks) has no clip; sentences that start at the same
/// millisecond share one.
pub(crate) fn clips(text: &str, words: &[Word], total: usize, with_words: bool) -> Vec<Clip> {
    let mut out: Vec<Clip> = Vec::new();
    let mut next = 0;
    for sentence in kokoro_text::split_sentences(text) {
        let span = sentence.span;
        while next < words.len() && words[next].span.start < span.start {
            next += 1;
        }
        let mut heard: Vec<&Word> = Vec::new();
        while next < words.len() && words[next].span.start < span.end {
            if !words[next].samples.is_empty() {
                heard.push(&words[next]);
            }
            next += 1;
        }
        let Some(first) = heard.first() else {
            continue;
        };
        let begin = ms(first.samples.start);
        let word_clips = heard.iter().map(|w| Clip {
            range: [w.span.start, w.span.end],
            begin: ms(w.samples.start),
            end: 0,
            words: Vec::new(),
        });
        match out.last_mut() {
            Some(prev) if begin <= prev.begin => {
                prev.range[1] = span.end;
                if with_words {
                    prev.words.extend(word_clips);
                }
            }
            _ => out.push(Clip {
                range: [span.start, span.end],
                begin,
                end: 0,
                words: if with_words {
                    word_clips.collect()
                } else {
                    Vec::new()
                },
            }),
        }
    }
    let end = ms(total);
    for k in 0..out.len() {
        let until = out
            .get(k + 1)
            .map_or(end.max(out[k].begin + 1), |n| n.begin);
        out[k].end = until;
        let clip = &mut out[k];
        // Words: in order, each until the next, the first from the clip's start.
        let mut kept: Vec<Clip> = Vec::new();
        for w in std::mem::take(&mut clip.words) {
            match kept.last_mut() {
                Some(prev) if w.begin <= prev.begin => prev.range[1] = w.range[1],
                _ => kept.push(w),
            }
        }
        if let Some(first) = kept.first_mut() {
            first.begin = clip.begin;
        }
        for i in 0..kept.len() {
            kept[i].end = kept.get(i + 1).map_or(clip.end, |n| n.begin);
        }
        kept.retain(|w| w.begin < w.end);
        clip.words = kept;
    }
    out
}

/// The hidden directory beside `path` where finished chapters wait.
fn parts_dir(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".kokoro-{name}.parts"))
}

/// Speaks the book into an EPUB 3 with Media Overlays at `path`.
pub(crate) fn write(speaker: &mut Speaker<'_>, path: &Path) -> Result<Summary> {
    let (book, options) = (speaker.book, speaker.options);
    let format = match options.format {
        Format::M4a | Format::M4b => Format::M4a,
        Format::Mp3 => Format::Mp3,
        other => {
            return Err(Error::Book(format!(
                "a read-along book's audio is M4A or MP3 (EPUB 3 allows no other), not {}",
                other.extension()
            )))
        }
    };
    if !speaker.voice.timed() {
        return Err(Error::Untimed);
    }
    if path.is_dir() {
        return Err(Error::Book(format!("{} is a directory", path.display())));
    }
    // Fail now, not after hours of speech, if the book cannot be written there.
    drop(Dest::file(path, false)?);
    let parts = parts_dir(path);
    let mut record = Record::open(&parts)?;
    let settings = speaker.audio_settings();
    let level = if options.word_overlays {
        "words"
    } else {
        "sentences"
    };
    let mut spoken = Vec::with_capacity(book.chapters.len());
    for k in 0..book.chapters.len() {
        let chapter = &book.chapters[k];
        let audio = file_name(chapter.number, &chapter.title, format);
        let clips_file = parts.join(Path::new(&audio).with_extension("json"));
        let print = fingerprint(&[&chapter.text, &settings, format.extension(), level]);
        let done = record
            .is_done(&audio, &print)
            .then(|| std::fs::read(&clips_file).ok())
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<Spoken>(&bytes).ok());
        if let Some(done) = done {
            speaker.skip(k, parts.join(&audio));
            spoken.push(done);
            continue;
        }
        let tags = Tags {
            title: Some(chapter.marker_title()),
            chapters: Vec::new(),
            ..book.tags(options.narrator.as_deref())
        };
        let mut out = encoder_with(format, Dest::file(&parts.join(&audio), false)?, tags)?;
        let (samples, words) = speaker.speak(k, out.as_mut(), 0, true)?;
        out.finish()?.commit()?;
        let chapter = &book.chapters[k];
        let s = Spoken {
            clips: clips(
                &chapter.text,
                &words.unwrap_or_default(),
                samples as usize,
                options.word_overlays,
            ),
            audio: audio.clone(),
            duration_ms: ms(samples as usize),
        };
        let json = serde_json::to_vec(&s).map_err(|e| Error::Book(e.to_string()))?;
        write_whole(&clips_file, &json)?;
        record.mark_done(&audio, &print)?;
        options.emit(Event::Spoken {
            path: None,
            audio_seconds: samples as f64 / f64::from(SAMPLE_RATE),
            label: speaker.label(k),
        });
        spoken.push(s);
    }
    if spoken.iter().all(|s| s.clips.is_empty()) {
        return Err(Error::NothingToSay);
    }
    package::write(book, options, format, &parts, &spoken, path)?;
    // The book is whole: its parts are no longer needed.
    let _ = std::fs::remove_dir_all(&parts);
    Ok(std::mem::take(&mut speaker.summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(span: std::ops::Range<usize>, ms_from: u64, ms_to: u64) -> Word {
        let s = |ms: u64| (ms * 24) as usize;
        Word {
            span,
            samples: s(ms_from)..s(ms_to),
        }
    }

    #[test]
    fn clips_are_in_order_contiguous_and_inside_the_audio() {
        let text = "Hello there. *** How are you?";
        let words = vec![
            word(0..5, 100, 400),
            word(6..11, 400, 800),
            // "***" is not heard.
            word(13..16, 900, 900),
            word(17..20, 1200, 1400),
            word(21..24, 1400, 1600),
            word(25..28, 1600, 2000),
        ];
        let c = clips(text, &words, 24 * 2500, true);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!((c[0].begin, c[0].end), (100, 1200));
        assert_eq!((c[1].begin, c[1].end), (1200, 2500));
        assert_eq!(c[0].range, [0, 12]);
        assert_eq!(
            c[1].range,
            [13, 29],
            "the row of asterisks opens the next sentence"
        );
        let w: Vec<(u64, u64)> = c[1].words.iter().map(|w| (w.begin, w.end)).collect();
        assert_eq!(w, [(1200, 1400), (1400, 1600), (1600, 2500)]);
        assert_eq!(c[0].words[0].begin, 100);
        assert_eq!(c[0].words[1].end, 1200);
    }
}
