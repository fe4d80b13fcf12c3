//! Chunking: sentences packed into model calls of at most [`MAX_TOKENS`] ids.
//!
//! Sentences are packed whole while they fit the target size. A sentence larger
//! than the target is split at clause punctuation (`;:`), then at commas and dashes,
//! and, only past the model's hard limit, at word boundaries; it is never truncated.
//! Every chunk keeps the byte span of the source text it speaks.

use std::ops::Range;

use crate::g2p::G2p;
use crate::split::split_sentences;
use crate::vocab::{count_ids, to_ids, MAX_TOKENS};
use crate::Diagnostic;

/// How text is cut into model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Preferred largest chunk, in phoneme ids. Cost per second of audio and the
    /// runtime's memory both grow with chunk length, so this is well under the limit.
    pub target_tokens: usize,
    /// Largest first chunk, for a quick first audio when streaming; `None` treats the
    /// first chunk like the others.
    pub first_chunk_tokens: Option<usize>,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self { target_tokens: 250, first_chunk_tokens: None }
    }
}

impl ChunkOptions {
    /// Options for streaming: a short first chunk so that audio starts quickly.
    pub fn streaming() -> Self {
        Self { first_chunk_tokens: Some(40), ..Self::default() }
    }

    fn clamp(self) -> Self {
        let target = self.target_tokens.clamp(1, MAX_TOKENS);
        Self { target_tokens: target, first_chunk_tokens: self.first_chunk_tokens.map(|f| f.clamp(1, target)) }
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
    /// True when the chunk ends a paragraph (a longer pause may follow).
    pub ends_paragraph: bool,
}

/// A piece of a sentence small enough for one call.
#[derive(Debug)]
struct Piece {
    span: Range<usize>,
    phonemes: String,
    tokens: usize,
    paragraph_start: bool,
}

/// Splits, phonemizes and packs `text` into chunks.
pub(crate) fn chunk_text(g2p: &G2p, text: &str, opts: ChunkOptions, diagnostics: &mut Vec<Diagnostic>) -> Vec<Chunk> {
    let opts = opts.clamp();
    let mut pieces = Vec::new();
    for (i, sentence) in split_sentences(text).into_iter().enumerate() {
        let limit = match (i, opts.first_chunk_tokens) {
            (0, Some(first)) => first,
            _ => opts.target_tokens,
        };
        let first_piece = pieces.len();
        split_piece(g2p, text, sentence.span, limit, diagnostics, &mut pieces);
        if let Some(p) = pieces.get_mut(first_piece) {
            p.paragraph_start = sentence.paragraph_start;
        }
    }
    pack(pieces, opts, diagnostics)
}

/// Phonemizes `span`, splitting it until every piece fits `limit` (or, failing
/// clause and comma points, at least [`MAX_TOKENS`]).
fn split_piece(g2p: &G2p, text: &str, span: Range<usize>, limit: usize, diagnostics: &mut Vec<Diagnostic>, out: &mut Vec<Piece>) {
    let mut local = Vec::new();
    let phonemes = g2p.phonemize(&normalize(&text[span.clone()]), &mut local);
    let tokens = count_ids(&phonemes);
    if tokens > limit {
        let hard = tokens > MAX_TOKENS;
        if let Some(cut) = split_point(&text[span.clone()], hard) {
            let (a, b) = (span.start..span.start + cut, span.start + cut..span.end);
            for part in [a, b] {
                if let Some(part) = trim_span(text, part) {
                    split_piece(g2p, text, part, limit, diagnostics, out);
                }
            }
            return;
        }
    }
    diagnostics.append(&mut local);
    out.push(Piece { span, phonemes, tokens, paragraph_start: false });
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
    let candidates = |pred: &dyn Fn(char) -> bool| {
        s.char_indices()
            .filter(|&(i, c)| pred(c) && !in_link.iter().any(|r| r.contains(&i)))
            .map(|(i, c)| i + c.len_utf8())
            .filter(|&end| end > 0 && end < s.trim_end().len())
            .min_by_key(|&end| end.abs_diff(mid))
    };
    candidates(&|c| matches!(c, ';' | ':'))
        .or_else(|| candidates(&|c| matches!(c, ',' | '—' | '–' | '、' | '，' | '；')))
        .or_else(|| if hard { candidates(&char::is_whitespace) } else { None })
        .or_else(|| {
            if !hard {
                return None;
            }
            // One enormous "word": cut at the character nearest the middle.
            s.char_indices().map(|(i, _)| i).filter(|&i| i > 0).min_by_key(|&i| i.abs_diff(mid))
        })
}

/// Byte ranges of inline overrides `[..](..)`, which are never cut.
fn link_ranges(s: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find('[') {
        let start = from + open;
        match s[start..].find("](").and_then(|c| s[start + c..].find(')').map(|p| start + c + p + 1)) {
            Some(end) => {
                out.push(start..end);
                from = end;
            }
            None => from = start + 1,
        }
    }
    out
}

/// Packs pieces greedily into chunks, never past the target (the first chunk
/// never past its own limit), never across a paragraph break when streaming.
fn pack(pieces: Vec<Piece>, opts: ChunkOptions, diagnostics: &mut Vec<Diagnostic>) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current: Option<(Range<usize>, String, usize)> = None;
    let mut silent: Option<Range<usize>> = None;
    let flush = |chunks: &mut Vec<Chunk>, cur: (Range<usize>, String, usize), ends_paragraph: bool, diagnostics: &mut Vec<Diagnostic>| {
        let (span, phonemes, _) = cur;
        let ids = to_ids(&phonemes, diagnostics);
        chunks.push(Chunk { index: chunks.len(), span, phonemes, ids, ends_paragraph });
    };
    for piece in pieces {
        if piece.tokens == 0 {
            // Nothing to say (symbols only): keep its text inside a neighbour's span.
            match current.as_mut() {
                Some(cur) => cur.0.end = piece.span.end,
                None => silent = Some(silent.map_or(piece.span.clone(), |s| s.start..piece.span.end)),
            }
            continue;
        }
        let limit = match (chunks.is_empty(), opts.first_chunk_tokens) {
            (true, Some(first)) => first,
            _ => opts.target_tokens,
        };
        if let Some(cur) = current.take() {
            if piece.paragraph_start || cur.2 + 1 + piece.tokens > limit.max(1) {
                flush(&mut chunks, cur, piece.paragraph_start, diagnostics);
            } else {
                let (span, mut phonemes, tokens) = cur;
                phonemes.push(' ');
                phonemes.push_str(&piece.phonemes);
                current = Some((span.start..piece.span.end, phonemes, tokens + 1 + piece.tokens));
                continue;
            }
        }
        let start = silent.take().map_or(piece.span.start, |s| s.start);
        current = Some((start..piece.span.end, piece.phonemes, piece.tokens));
    }
    if let Some(cur) = current {
        flush(&mut chunks, cur, true, diagnostics);
    } else if let Some(span) = silent {
        diagnostics.push(Diagnostic::NothingToSay { span });
    }
    chunks
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
        assert_eq!(&"one two three"[..split_point("one two three", true).unwrap()], "one ");
    }

    #[test]
    fn overrides_are_never_cut() {
        let s = "[a, b, c](/ˈA/) d";
        assert!(split_point(s, false).is_none());
    }
}
