//! Chunking: sentences packed into model calls of at most [`MAX_TOKENS`] ids.
//!
//! Sentences are packed whole while they fit the target size. A sentence larger
//! than the target is split at clause punctuation (`;:`), then at commas and dashes,
//! and, only past the model's hard limit, at word boundaries; it is never truncated.
//! Every chunk keeps the byte span of the source text it speaks.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::align::{assign, collapse_whitespace, words_in, Sound, Word};
use crate::g2p::G2p;
use crate::split::{link_len, split_sentences, Sentence};
use crate::vocab::{count_ids, to_ids, MAX_TOKENS};
use crate::Diagnostic;

/// How text is cut into model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Preferred largest chunk, in phoneme ids (default 150). Cost per second of
    /// audio and the runtime's memory both grow with chunk length, so this is well
    /// under the limit: on the int8 model, 120-180 ids measured 5-8 % faster and
    /// 200 MiB leaner per two sessions than 250 (docs/BENCHMARKS.md).
    pub target_tokens: usize,
    /// Hard limit on a chunk, in phoneme ids (default 200; never below the
    /// target, never above [`MAX_TOKENS`]). A sentence between the target and this
    /// limit is cut only at a balanced clause or comma; one past it is cut at a
    /// clause, a comma or, failing those, a word. The runtime's memory per session
    /// follows the longest chunk, so this bounds it on any text.
    pub max_tokens: usize,
    /// Largest first chunk, for a quick first audio when streaming; each later
    /// chunk may be twice as long as the one before, up to the target, so that
    /// synthesis stays ahead of playback. `None` treats every chunk alike.
    pub first_chunk_tokens: Option<usize>,
    /// End a chunk at every sentence end (for chosen pauses between sentences,
    /// which can only go between model calls).
    pub sentence_per_chunk: bool,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            target_tokens: 150,
            max_tokens: 200,
            first_chunk_tokens: None,
            sentence_per_chunk: false,
        }
    }
}

impl ChunkOptions {
    /// Options for streaming: a first chunk of a few words, so that audio starts
    /// within a second, then chunks doubling in size up to the target.
    pub fn streaming() -> Self {
        Self {
            first_chunk_tokens: Some(10),
            ..Self::default()
        }
    }

    /// The hard limit in force: `max_tokens`, raised to the target if below it,
    /// at most [`MAX_TOKENS`]. No chunk is longer.
    pub fn hard_limit(&self) -> usize {
        self.max_tokens.clamp(self.target(), MAX_TOKENS)
    }

    /// The target in force, 1 to [`MAX_TOKENS`].
    fn target(&self) -> usize {
        self.target_tokens.clamp(1, MAX_TOKENS)
    }

    fn clamp(self) -> Self {
        let target = self.target();
        Self {
            target_tokens: target,
            max_tokens: self.hard_limit(),
            first_chunk_tokens: self.first_chunk_tokens.map(|f| f.clamp(1, target)),
            ..self
        }
    }

    /// The size limit of chunk `index`, and whether it is a ramp chunk (smaller
    /// than the target, so that it may be cut at word boundaries).
    fn limit(&self, index: usize) -> (usize, bool) {
        match self.first_chunk_tokens {
            Some(first) => {
                let ramp = first.saturating_mul(
                    1usize
                        .checked_shl(index.min(30) as u32)
                        .unwrap_or(usize::MAX),
                );
                if ramp < self.target_tokens {
                    (ramp, true)
                } else {
                    (self.target_tokens, false)
                }
            }
            None => (self.target_tokens, false),
        }
    }
}

/// One model call's worth of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the output, from 0.
    pub index: usize,
    /// Byte range of the source text this chunk speaks.
    pub span: Range<usize>,
    /// The phonemes sent to the model.
    pub phonemes: String,
    /// Phoneme ids, at most [`MAX_TOKENS`], without the pads.
    pub ids: Vec<i64>,
    /// The words of the span, in order, each with the ids that speak it.
    pub words: Vec<Word>,
    /// True when the chunk ends a paragraph (a longer pause may follow).
    pub ends_paragraph: bool,
    /// True when the chunk ends a sentence (false when a long sentence or a
    /// streaming ramp cut it at a clause, comma or word).
    pub ends_sentence: bool,
    /// Silence asked for by pause markup before this chunk, in milliseconds
    /// (only the first chunk of a text that starts with `[pause:..]` has one).
    pub pause_before_ms: u32,
    /// Silence asked for by pause markup after this chunk, in milliseconds, in
    /// place of the usual gap; `None` for the usual gap.
    pub pause_after_ms: Option<u32>,
    /// What the front end noticed in this chunk's text.
    pub diagnostics: Vec<Diagnostic>,
}

/// A piece of a sentence small enough for one call.
#[derive(Debug)]
struct Piece {
    span: Range<usize>,
    phonemes: String,
    /// Each word's source span and phoneme byte range.
    words: Vec<(Range<usize>, Range<usize>)>,
    tokens: usize,
    paragraph_start: bool,
    ends_sentence: bool,
    /// Pause markup: silence, nothing to say.
    pause_ms: Option<u32>,
    diagnostics: Vec<Diagnostic>,
}

/// Chunks of a text, made as they are pulled: sentences are split up front (cheap),
/// phonemized only when the chunk that holds them is asked for, so the first chunk
/// of a book is ready in milliseconds.
pub struct Chunks<'a> {
    g2p: &'a G2p,
    text: &'a str,
    opts: ChunkOptions,
    sentences: std::vec::IntoIter<Sentence>,
    pieces: VecDeque<Piece>,
    next_index: usize,
    /// Raised to stop: no more chunks are made.
    cancel: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for Chunks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunks")
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl<'a> Chunks<'a> {
    pub(crate) fn new(g2p: &'a G2p, text: &'a str, opts: ChunkOptions) -> Self {
        Self {
            g2p,
            text,
            opts: opts.clamp(),
            sentences: split_sentences(text).into_iter(),
            pieces: VecDeque::new(),
            next_index: 0,
            cancel: None,
        }
    }

    /// Stops making chunks once `cancel` is raised: it is looked at before
    /// each sentence, each call of the G2P, and each word the out-of-lexicon
    /// fallback reads, so no step between two looks takes long on any text
    /// (giant tokens are never read out, see [`crate::giant`]). The
    /// iterator then ends; its caller, who raised the flag, knows why.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Phonemizes the next sentence into pieces that fit `limit`. False at the
    /// end, or once cancelled.
    fn pull_sentence(&mut self, limit: usize, words: bool) -> bool {
        if self.cancelled() {
            return false;
        }
        let Some(sentence) = self.sentences.next() else {
            return false;
        };
        let first = self.pieces.len();
        if sentence.pause_ms.is_some() {
            self.pieces.push_back(Piece {
                span: sentence.span,
                phonemes: String::new(),
                words: Vec::new(),
                tokens: 0,
                paragraph_start: sentence.paragraph_start,
                ends_sentence: true,
                pause_ms: sentence.pause_ms,
                diagnostics: Vec::new(),
            });
            return true;
        }
        let cut = Cut {
            limit,
            max: self.opts.max_tokens,
            words,
        };
        let _watch = crate::g2p::watch(self.cancel.clone());
        let mut at = sentence.span.start;
        for giant in crate::giant::find(self.text, sentence.span.clone()) {
            self.split_words(at..giant.start, cut);
            self.pieces
                .push_back(giant_piece(self.g2p, self.text, giant.clone()));
            at = giant.end;
        }
        self.split_words(at..sentence.span.end, cut);
        if let Some(p) = self.pieces.get_mut(first) {
            p.paragraph_start = sentence.paragraph_start;
        }
        if let Some(p) = self.pieces.back_mut() {
            p.ends_sentence = true;
        }
        true
    }

    /// The pieces of a stretch of words (none where it is only whitespace).
    fn split_words(&mut self, span: Range<usize>, cut: Cut) {
        let s = &self.text[span.clone()];
        let start = span.start + (s.len() - s.trim_start().len());
        let end = span.start + s.trim_end().len();
        if start < end && !self.cancelled() {
            split_piece(self.g2p, self.text, start..end, cut, &mut self.pieces);
        }
    }

    fn next_piece(&mut self, limit: usize, words: bool) -> Option<Piece> {
        loop {
            if let Some(p) = self.pieces.pop_front() {
                return Some(p);
            }
            if !self.pull_sentence(limit, words) {
                return None;
            }
        }
    }
}

/// A chunk being packed.
struct Building {
    span: Range<usize>,
    phonemes: String,
    words: Vec<(Range<usize>, Range<usize>)>,
    tokens: usize,
    ends_sentence: bool,
    pause_after_ms: Option<u32>,
    diagnostics: Vec<Diagnostic>,
}

impl Building {
    /// Takes in a piece with nothing to say (symbols, pause markup).
    fn absorb_silent(&mut self, mut piece: Piece) {
        self.span.end = piece.span.end;
        self.diagnostics.append(&mut piece.diagnostics);
        // Its words, if any, have no sound: they sit at the chunk's end.
        let end = self.phonemes.len();
        self.words
            .extend(piece.words.drain(..).map(|(w, _)| (w, end..end)));
        if let Some(ms) = piece.pause_ms {
            self.pause_after_ms = Some(self.pause_after_ms.unwrap_or(0).saturating_add(ms));
        }
    }
}

impl Iterator for Chunks<'_> {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        let (limit, words) = self.opts.limit(self.next_index);
        let mut cur: Option<Building> = None;
        let mut silent: Option<(Range<usize>, Vec<Diagnostic>)> = None;
        // Words of silent pieces before the chunk's first sound.
        let mut silent_words: Vec<(Range<usize>, Range<usize>)> = Vec::new();
        let mut ends_paragraph = true;
        let mut paused = false;
        let mut pause_before_ms = 0u32;
        while let Some(mut piece) = self.next_piece(limit, words) {
            if piece.tokens == 0 {
                // Nothing to say (symbols only, or pause markup): keep its text
                // inside this chunk's span. A pause ends the chunk.
                let pause = piece.pause_ms;
                match cur.as_mut() {
                    Some(c) => c.absorb_silent(piece),
                    None => {
                        let (span, mut d) =
                            silent.take().unwrap_or((piece.span.clone(), Vec::new()));
                        d.append(&mut piece.diagnostics);
                        silent_words.extend(piece.words.drain(..).map(|(w, _)| (w, 0..0)));
                        silent = Some((span.start..piece.span.end, d));
                        pause_before_ms = pause_before_ms.saturating_add(pause.unwrap_or(0));
                    }
                }
                if pause.is_some() && cur.is_some() {
                    paused = true;
                    break;
                }
                continue;
            }
            let closed = cur
                .as_ref()
                .is_some_and(|c| c.ends_sentence && self.opts.sentence_per_chunk);
            match cur.as_mut() {
                Some(c)
                    if !closed
                        && !piece.paragraph_start
                        && c.tokens + 1 + piece.tokens <= limit =>
                {
                    c.span.end = piece.span.end;
                    c.phonemes.push(' ');
                    let base = c.phonemes.len();
                    c.phonemes.push_str(&piece.phonemes);
                    c.words.extend(
                        piece
                            .words
                            .drain(..)
                            .map(|(w, p)| (w, base + p.start..base + p.end)),
                    );
                    c.tokens += 1 + piece.tokens;
                    c.ends_sentence = piece.ends_sentence;
                    c.diagnostics.append(&mut piece.diagnostics);
                }
                Some(_) => {
                    ends_paragraph = piece.paragraph_start;
                    self.pieces.push_front(piece);
                    break;
                }
                None => {
                    let (start, mut diagnostics) = match silent.take() {
                        Some((span, d)) => (span.start, d),
                        None => (piece.span.start, Vec::new()),
                    };
                    diagnostics.append(&mut piece.diagnostics);
                    silent_words.append(&mut piece.words);
                    cur = Some(Building {
                        span: start..piece.span.end,
                        phonemes: piece.phonemes,
                        words: std::mem::take(&mut silent_words),
                        tokens: piece.tokens,
                        ends_sentence: piece.ends_sentence,
                        pause_after_ms: None,
                        diagnostics,
                    });
                }
            }
        }
        let mut c = cur?;
        // Symbols-only text right after this chunk belongs to it (looking one
        // sentence ahead, with the next chunk's limit).
        let (next_limit, next_words) = self.opts.limit(self.next_index + 1);
        loop {
            if self.pieces.is_empty() && !self.pull_sentence(next_limit, next_words) {
                break;
            }
            match self.pieces.front() {
                Some(p) if p.tokens == 0 => {
                    let p = self.pieces.pop_front()?;
                    paused |= p.pause_ms.is_some();
                    c.absorb_silent(p);
                }
                _ => break,
            }
        }
        if paused {
            // The chunk ended at a pause: what follows says whether a paragraph ended.
            ends_paragraph = self.pieces.front().is_none_or(|p| p.paragraph_start);
        }
        let ids = to_ids(&c.phonemes, &mut c.diagnostics);
        let words = word_ids(&c.phonemes, c.words);
        let index = self.next_index;
        self.next_index += 1;
        Some(Chunk {
            index,
            span: c.span,
            phonemes: c.phonemes,
            ids,
            words,
            ends_paragraph,
            ends_sentence: c.ends_sentence || ends_paragraph,
            pause_before_ms,
            pause_after_ms: c.pause_after_ms,
            diagnostics: c.diagnostics,
        })
    }
}

/// A giant token's piece: what is said in its place ([`crate::giant::said`]),
/// one word over the whole token, and a diagnostic naming it.
fn giant_piece(g2p: &G2p, text: &str, span: Range<usize>) -> Piece {
    let token = &text[span.clone()];
    let said = crate::giant::said(token, g2p.lang().is_english());
    let mut diagnostics = vec![Diagnostic::GiantToken {
        span: span.clone(),
        chars: token.chars().count(),
        said: said.clone(),
    }];
    let phonemes = if said.is_empty() {
        String::new()
    } else {
        let read = crate::normalize::for_lang(&said, g2p.lang());
        let mut d = Vec::new();
        let ps = g2p.phonemize(&read, &mut d);
        diagnostics.extend(d);
        ps
    };
    let tokens = count_ids(&phonemes);
    Piece {
        words: vec![(span.clone(), 0..phonemes.len())],
        span,
        phonemes,
        tokens,
        paragraph_start: false,
        ends_sentence: false,
        pause_ms: None,
        diagnostics,
    }
}

/// How [`split_piece`] may cut.
#[derive(Debug, Clone, Copy)]
struct Cut {
    /// Pieces past this are cut at balanced clauses and commas.
    limit: usize,
    /// Pieces past this are cut wherever they must be (words, at worst).
    max: usize,
    /// Cut at words past `limit` too (ramp chunks).
    words: bool,
}

/// The longest text given to the G2P in one call, in bytes: four times what
/// the longest chunk holds, so that cuts for this bound fall only in sentences
/// that would be cut anyway.
const MAX_G2P_BYTES: usize = 2048;

/// Phonemizes `span`, splitting it until every piece fits `cut.limit`: at clauses
/// and commas, and at words when `cut.words` is set or the piece is past `cut.max`.
fn split_piece(g2p: &G2p, text: &str, span: Range<usize>, cut: Cut, out: &mut VecDeque<Piece>) {
    if crate::g2p::watched() {
        return;
    }
    // A span far longer than any chunk is halved before the G2P sees it: the
    // G2P's time on one call can grow faster than its length (its tokenizer's
    // backtracking on runs of brackets), and halving after phonemizing would
    // phonemize each word once per level.
    if span.len() > MAX_G2P_BYTES {
        if let Some(at) = split_point(&text[span.clone()], true) {
            split_at(g2p, text, span, at, cut, out);
            return;
        }
    }
    let mut diagnostics = Vec::new();
    let read =
        crate::normalize::for_lang_mapped(collapse_whitespace(&text[span.clone()]), g2p.lang());
    let (phonemes, sounds) = g2p.phonemize_mapped(&read.text, &mut diagnostics);
    // The sounds' stretches, from the G2P's input back to the source.
    let sounds: Vec<Sound> = sounds
        .into_iter()
        .map(|s| Sound {
            text: span.start + read.source_start(s.text.start)
                ..span.start + read.source_end(s.text.end),
            phonemes: s.phonemes,
        })
        .collect();
    let whole = Phonemized {
        span,
        phonemes,
        sounds,
        diagnostics,
    };
    cut_phonemized(g2p, text, whole, cut, out);
}

/// A span and what the G2P made of it, with each sound's source stretch.
#[derive(Debug)]
struct Phonemized {
    span: Range<usize>,
    phonemes: String,
    sounds: Vec<Sound>,
    diagnostics: Vec<Diagnostic>,
}

/// Cuts a phonemized span until every piece fits `cut.limit`. The G2P read the
/// whole span, so a word beside a cut keeps its context ("the operation" is
/// still "ði"): the phonemes are divided where the text is. Only where one
/// sound straddles the cut (a number read across it, say) are the two sides
/// phonemized again on their own.
fn cut_phonemized(g2p: &G2p, text: &str, whole: Phonemized, cut: Cut, out: &mut VecDeque<Piece>) {
    let tokens = count_ids(&whole.phonemes);
    if tokens > cut.limit {
        let hard = cut.words || tokens > cut.max;
        if let Some(at) = split_point(&text[whole.span.clone()], hard) {
            match divide(text, &whole, whole.span.start + at) {
                Some((a, b)) => {
                    cut_phonemized(g2p, text, a, cut, out);
                    cut_phonemized(g2p, text, b, cut, out);
                }
                None => split_at(g2p, text, whole.span, at, cut, out),
            }
            return;
        }
    }
    let Phonemized {
        span,
        phonemes,
        sounds,
        diagnostics,
    } = whole;
    let words = words_in(text, span.clone());
    let ranges = assign(&words, &sounds, &phonemes);
    out.push_back(Piece {
        span,
        phonemes,
        words: words.into_iter().zip(ranges).collect(),
        tokens,
        paragraph_start: false,
        ends_sentence: false,
        pause_ms: None,
        diagnostics,
    });
}

/// Divides a phonemized span at source byte `at`: the sounds before it and
/// their phonemes, and those after. `None` when a sound straddles `at`, when
/// the sounds on the two sides interleave in the phonemes, or when a side
/// would be empty.
fn divide(text: &str, whole: &Phonemized, at: usize) -> Option<(Phonemized, Phonemized)> {
    let left_span = trim_span(text, whole.span.start..at)?;
    let right_span = trim_span(text, at..whole.span.end)?;
    if whole
        .sounds
        .iter()
        .any(|s| s.text.start < at && s.text.end > at)
    {
        return None;
    }
    let is_left = |s: &Sound| s.text.start < at;
    let left_end = whole
        .sounds
        .iter()
        .filter(|s| is_left(s))
        .map(|s| s.phonemes.end)
        .max()
        .unwrap_or(0);
    let right_start = whole
        .sounds
        .iter()
        .filter(|s| !is_left(s))
        .map(|s| s.phonemes.start)
        .min()
        .unwrap_or(whole.phonemes.len());
    if left_end > right_start {
        return None;
    }
    // Between the two: spaces, or symbols no sound claims (they stay left).
    let gap = whole.phonemes.get(left_end..right_start)?;
    let cut_at = left_end + gap.find(char::is_whitespace).unwrap_or(gap.len());
    let left_ph = whole.phonemes[..cut_at].trim_end();
    let right_raw = &whole.phonemes[cut_at..];
    let right_ph = right_raw.trim_start();
    let shift = cut_at + (right_raw.len() - right_ph.len());
    let left_sounds = whole
        .sounds
        .iter()
        .filter(|s| is_left(s))
        .map(|s| Sound {
            text: s.text.clone(),
            phonemes: s.phonemes.start.min(left_ph.len())..s.phonemes.end.min(left_ph.len()),
        })
        .collect();
    let right_sounds = whole
        .sounds
        .iter()
        .filter(|s| !is_left(s))
        .map(|s| Sound {
            text: s.text.clone(),
            phonemes: s.phonemes.start.saturating_sub(shift).min(right_ph.len())
                ..s.phonemes.end.saturating_sub(shift).min(right_ph.len()),
        })
        .collect();
    // Each diagnostic goes with the side that holds what it names.
    let (mut left_d, mut right_d) = (Vec::new(), Vec::new());
    let (left_text, right_text) = (&text[left_span.clone()], &text[right_span.clone()]);
    for d in &whole.diagnostics {
        let right = match d {
            Diagnostic::OutOfLexicon { word, .. } | Diagnostic::Unpronounceable { word } => {
                !left_text.contains(word.as_str()) && right_text.contains(word.as_str())
            }
            Diagnostic::G2pFailed { text, .. } => {
                !left_text.contains(text.as_str()) && right_text.contains(text.as_str())
            }
            Diagnostic::UnknownSymbol { symbol } => {
                !left_ph.contains(*symbol) && right_ph.contains(*symbol)
            }
            Diagnostic::NothingToSay { span } | Diagnostic::GiantToken { span, .. } => {
                span.start >= at
            }
        };
        if right { &mut right_d } else { &mut left_d }.push(d.clone());
    }
    Some((
        Phonemized {
            span: left_span,
            phonemes: left_ph.to_string(),
            sounds: left_sounds,
            diagnostics: left_d,
        },
        Phonemized {
            span: right_span,
            phonemes: right_ph.to_string(),
            sounds: right_sounds,
            diagnostics: right_d,
        },
    ))
}

/// [`split_piece`] on each side of `at` (bytes into `span`), trimmed.
fn split_at(
    g2p: &G2p,
    text: &str,
    span: Range<usize>,
    at: usize,
    cut: Cut,
    out: &mut VecDeque<Piece>,
) {
    let (a, b) = (span.start..span.start + at, span.start + at..span.end);
    for part in [a, b] {
        if let Some(part) = trim_span(text, part) {
            split_piece(g2p, text, part, cut, out);
        }
    }
}

/// Each word's id range, from its phoneme byte range: ids are the phonemes'
/// characters that are in the vocabulary.
fn word_ids(phonemes: &str, words: Vec<(Range<usize>, Range<usize>)>) -> Vec<Word> {
    let ids_before = |at: usize| count_ids(phonemes.get(..at).unwrap_or(phonemes));
    words
        .into_iter()
        .map(|(span, p)| Word {
            span,
            ids: ids_before(p.start)..ids_before(p.end),
        })
        .collect()
}

/// Collapses runs of whitespace (line breaks of hard-wrapped text included).
pub fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn trim_span(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let s = &text[span.clone()];
    let start = span.start + (s.len() - s.trim_start().len());
    let end = start + s.trim().len();
    (end > start).then_some(start..end)
}

/// Where to cut a too-long piece: the candidate nearest the middle at the best
/// level (clause, then comma/dash, then, if `hard`, a space, then any character).
fn split_point(s: &str, hard: bool) -> Option<usize> {
    let mid = s.len() / 2;
    let in_link = link_ranges(s);
    // Clause and comma points count only before a space ("10:30" and "1,000" stay whole).
    // A hyphen is a dash only when typed as one: "program--to", "four - five".
    let before_space = |i: usize| s[i..].chars().nth(1).is_none_or(char::is_whitespace);
    let dash = |i: usize| {
        let typed_pair = s[..i].ends_with('-') && !s[i + 1..].starts_with('-');
        let spaced = s[..i].ends_with(char::is_whitespace) && before_space(i);
        typed_pair || spaced
    };
    let candidates = |pred: &dyn Fn(char) -> bool| {
        s.char_indices()
            .filter(|&(i, c)| {
                pred(c)
                    && !inside(&in_link, i)
                    && if c == '-' {
                        dash(i)
                    } else {
                        c.is_whitespace() || !c.is_ascii() || before_space(i)
                    }
            })
            .map(|(i, c)| i + c.len_utf8())
            .filter(|&end| end > 0 && end < s.trim_end().len())
            // Unless the cut is forced, a clause or comma point must leave a fifth
            // of the text on each side: "By contrast," alone is no chunk.
            .filter(|&end| {
                hard || pred(' ') || (end >= s.len() / 5 && end <= s.len() - s.len() / 5)
            })
            .min_by_key(|&end| end.abs_diff(mid))
    };
    candidates(&|c| matches!(c, ';' | ':'))
        .or_else(|| candidates(&|c| matches!(c, ',' | '-' | '—' | '–' | '、' | '，' | '；')))
        .or_else(|| {
            if hard {
                candidates(&char::is_whitespace)
            } else {
                None
            }
        })
        .or_else(|| {
            if !hard {
                return None;
            }
            // One enormous "word": cut at the character nearest the middle.
            s.char_indices()
                .map(|(i, _)| i)
                .filter(|&i| i > 0)
                .min_by_key(|&i| i.abs_diff(mid))
        })
}

/// Whether `i` lies in one of `ranges` (sorted, disjoint).
fn inside(ranges: &[Range<usize>], i: usize) -> bool {
    let after = ranges.partition_point(|r| r.start <= i);
    after > 0 && ranges[after - 1].contains(&i)
}

/// Byte ranges of inline overrides `[..](..)`, which are never cut.
fn link_ranges(s: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find('[') {
        let start = from + open;
        match link_len(&s[start..]) {
            Some(len) => {
                out.push(start..start + len);
                from = start + len;
            }
            None => from = start + 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_prefers_clauses_then_commas() {
        let s = "one two; three four, five six";
        assert_eq!(&s[..split_point(s, false).unwrap()], "one two;");
        let s = "one two, three four five six";
        assert_eq!(&s[..split_point(s, false).unwrap()], "one two,");
        assert_eq!(split_point("one two three", false), None);
        // Too lopsided to be worth it, unless forced.
        let s = "By contrast, the license is intended to guarantee your freedom to share";
        assert_eq!(split_point(s, false), None);
        assert_eq!(&s[..split_point(s, true).unwrap()], "By contrast,");
        assert_eq!(
            &"one two three"[..split_point("one two three", true).unwrap()],
            "one "
        );
    }

    #[test]
    fn a_typed_double_dash_is_a_dash() {
        let s = "to guarantee your freedom to change a program--to make sure it remains free";
        assert_eq!(
            &s[..split_point(s, false).unwrap()],
            "to guarantee your freedom to change a program--"
        );
        let s = "one two three four - five six seven eight";
        assert_eq!(&s[..split_point(s, false).unwrap()], "one two three four -");
        // A hyphen inside a word, or at the end of a line, is no split point.
        assert_eq!(
            split_point("a well-known and long-lived and self-made thing", false),
            None
        );
        assert_eq!(
            split_point("a long and hard co-\noperation between the two", false),
            None
        );
    }

    #[test]
    fn overrides_are_never_cut() {
        let s = "[a, b, c](/ˈA/) d";
        assert!(split_point(s, false).is_none());
    }
}
