//! Captions and word timestamps of a book's outputs: the words of each
//! output on its own timeline, written beside its audio once the audio is
//! complete (each file complete or absent).

use std::io::Write;
use std::path::{Path, PathBuf};

use kokoro_audio::Dest;

use crate::captions::{cues, words_json, CaptionFormat, CaptionOptions, Cue, WordTime};
use crate::{Result, Word};

/// The timing files asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// Captions: the format, and the file (with a file per chapter, only the
    /// format counts: each chapter's captions go beside its audio).
    pub captions: Option<(CaptionFormat, PathBuf)>,
    /// Word timestamps as JSON: the file (with a file per chapter, each
    /// chapter's beside its audio, `.json`).
    pub timestamps: Option<PathBuf>,
}

impl Timing {
    /// Whether any timing file is asked for.
    pub fn wanted(&self) -> bool {
        self.captions.is_some() || self.timestamps.is_some()
    }

    /// Whether the timing files of a chapter whose audio is `audio` are there
    /// (its captions and `.json` beside it).
    pub fn present_beside(&self, audio: &Path) -> bool {
        let captions = self
            .captions
            .as_ref()
            .is_none_or(|(f, _)| audio.with_extension(f.extension()).is_file());
        let timestamps = self.timestamps.is_none() || audio.with_extension("json").is_file();
        captions && timestamps
    }

    /// An empty collection of words and cues for these files.
    pub(crate) fn files(&self) -> Files<'_> {
        Files {
            timing: self,
            cues: Vec::new(),
            words: Vec::new(),
        }
    }
}

/// The words and cues of one output, gathered as its chapters are spoken.
pub(crate) struct Files<'a> {
    timing: &'a Timing,
    cues: Vec<Cue>,
    words: Vec<WordTime>,
}

impl Files<'_> {
    /// Adds the words of one chapter: `text` is the chapter's, its bytes
    /// start at `base` in the input; the words' samples are the output's.
    pub(crate) fn add(&mut self, text: &str, base: usize, chapter: Option<usize>, words: &[Word]) {
        if self.timing.timestamps.is_some() {
            self.words
                .extend(words.iter().map(|w| WordTime::of(w, text, base, chapter)));
        }
        if self.timing.captions.is_some() {
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
    }

    /// Writes the files at the paths asked for.
    pub(crate) fn write(&self) -> Result<()> {
        if let Some((format, path)) = &self.timing.captions {
            write_whole(path, format.write(&self.cues).as_bytes())?;
        }
        if let Some(path) = &self.timing.timestamps {
            write_whole(path, words_json(&self.words).as_bytes())?;
        }
        Ok(())
    }

    /// Writes the files beside the audio file `audio`: the same name with
    /// the captions' extension, and with `.json`.
    pub(crate) fn write_beside(&self, audio: &Path) -> Result<()> {
        if let Some((format, _)) = &self.timing.captions {
            write_whole(
                &audio.with_extension(format.extension()),
                format.write(&self.cues).as_bytes(),
            )?;
        }
        if self.timing.timestamps.is_some() {
            write_whole(
                &audio.with_extension("json"),
                words_json(&self.words).as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` whole or not at all (a temporary file, renamed).
pub(crate) fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut dest = Dest::file(path, false)?;
    dest.write_all(bytes).map_err(crate::error::io_err(path))?;
    dest.commit()?;
    Ok(())
}
