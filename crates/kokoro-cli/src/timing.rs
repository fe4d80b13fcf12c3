//! `--captions` and `--timestamps`: the words of a run, timed, written beside
//! its audio once the audio is complete (each file complete or absent).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kokoro::audio::Dest;
use kokoro::captions::{cues, CaptionFormat, CaptionOptions, Cue};
use kokoro::{Word, SAMPLE_RATE};
use serde::Serialize;

/// The timing files asked for, and what goes into them.
#[derive(Debug, Default)]
pub struct Timing {
    /// `--captions`: format and file.
    pub captions: Option<(CaptionFormat, PathBuf)>,
    /// `--timestamps`: the JSON file.
    pub timestamps: Option<PathBuf>,
    cues: Vec<Cue>,
    words: Vec<Entry>,
}

/// One word of `--timestamps`.
#[derive(Debug, Serialize)]
struct Entry {
    /// The word as written.
    word: String,
    /// Seconds from the start of the audio.
    start: f64,
    end: f64,
    /// Byte range in the input text (for a document, in its chapter's text).
    span: [usize; 2],
    /// The chapter's index, from 0, when the input has chapters.
    #[serde(skip_serializing_if = "Option::is_none")]
    chapter: Option<usize>,
}

/// The file `--timestamps` writes.
#[derive(Debug, Serialize)]
struct Timestamps<'a> {
    sample_rate: u32,
    words: &'a [Entry],
}

impl Timing {
    /// The files asked for.
    pub fn new(captions: Option<(CaptionFormat, PathBuf)>, timestamps: Option<PathBuf>) -> Self {
        Self {
            captions,
            timestamps,
            ..Self::default()
        }
    }

    /// Whether any timing file is asked for.
    pub fn wanted(&self) -> bool {
        self.captions.is_some() || self.timestamps.is_some()
    }

    /// Adds the words of one text: `text` is the chapter's, its bytes start at
    /// `base` in the input; the words' samples are the output's.
    pub fn add(&mut self, text: &str, base: usize, chapter: Option<usize>, words: &[Word]) {
        let seconds = |s: usize| (s as f64 / f64::from(SAMPLE_RATE) * 1000.0).round() / 1000.0;
        self.words.extend(words.iter().map(|w| Entry {
            word: w.text(text).to_string(),
            start: seconds(w.samples.start),
            end: seconds(w.samples.end),
            span: [base + w.span.start, base + w.span.end],
            chapter,
        }));
        let mut new = cues(text, words, &CaptionOptions::default());
        if let Some(last) = self.cues.last() {
            // Chapters do not overlap; keep it so at their seam too.
            if let Some(first) = new.first_mut() {
                first.start = first.start.max(last.end);
                first.end = first.end.max(first.start);
            }
        }
        self.cues.append(&mut new);
    }

    /// Writes the files at the paths asked for.
    pub fn write(&self) -> Result<()> {
        if let Some((format, path)) = &self.captions {
            write_file(path, format.write(&self.cues).as_bytes())?;
        }
        if let Some(path) = &self.timestamps {
            write_file(path, &self.timestamps_json()?)?;
        }
        Ok(())
    }

    /// Writes the files of one chapter beside its audio file `audio` (same
    /// name, the captions' and `.json` extensions), and clears them.
    pub fn write_beside(&mut self, audio: &Path) -> Result<()> {
        if let Some((format, _)) = &self.captions {
            write_file(
                &audio.with_extension(format.extension()),
                format.write(&self.cues).as_bytes(),
            )?;
        }
        if self.timestamps.is_some() {
            write_file(&audio.with_extension("json"), &self.timestamps_json()?)?;
        }
        self.cues.clear();
        self.words.clear();
        Ok(())
    }

    /// Whether the files beside `audio` that [`Timing::write_beside`] makes are there.
    pub fn present_beside(&self, audio: &Path) -> bool {
        let captions = self
            .captions
            .as_ref()
            .is_none_or(|(f, _)| audio.with_extension(f.extension()).is_file());
        let timestamps = self.timestamps.is_none() || audio.with_extension("json").is_file();
        captions && timestamps
    }

    fn timestamps_json(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(&Timestamps {
            sample_rate: SAMPLE_RATE,
            words: &self.words,
        })?;
        out.push(b'\n');
        Ok(out)
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut dest = Dest::file(path, false)?;
    dest.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    dest.commit()?;
    Ok(())
}
