//! Phonemes given by the caller (Kokoro's own symbols, as kokoro-onnx's
//! `is_phonemes` takes them), cut into chunks as text would be: at sentence
//! marks, within the chunk limits, each whitespace-separated token a word.

use crate::chunk::{Chunk, ChunkOptions};
use crate::vocab::{id_of, to_ids};
use crate::{Diagnostic, Word, MAX_TOKENS};

/// Marks that end a sentence of phonemes.
const SENTENCE_MARKS: &[char] = &['.', '!', '?', '…'];

/// `phonemes` in chunks of at most `opts.max_tokens` ids (a token longer than
/// that is cut in pieces), sentences kept whole where they fit, each its own
/// chunk with `opts.sentence_per_chunk`. Spans point into `phonemes`;
/// symbols the model does not know are dropped, each reported.
pub fn phoneme_chunks(phonemes: &str, opts: &ChunkOptions) -> Vec<Chunk> {
    let limit = opts.max_tokens.clamp(1, MAX_TOKENS);
    let target = opts.target_tokens.clamp(1, limit);
    let space = id_of(' ');
    // Tokens, each with its span and ids; a token too long for a chunk is cut.
    let mut tokens: Vec<(std::ops::Range<usize>, Vec<i64>, bool)> = Vec::new();
    let mut diagnostics = Vec::new();
    let mut at = 0;
    for piece in phonemes.split_whitespace() {
        let start = at + phonemes[at..].find(piece).unwrap_or(0);
        at = start + piece.len();
        let ends = piece.ends_with(SENTENCE_MARKS);
        let ids = to_ids(piece, &mut diagnostics);
        // A token of symbols the model does not know (each said) speaks
        // nothing: it makes no word, and no model call of its own.
        if ids.is_empty() {
            continue;
        }
        if ids.len() <= limit {
            tokens.push((start..at, ids, ends));
            continue;
        }
        // Cut by characters, each piece's span what its ids came from.
        let mut from = start;
        let mut part: Vec<i64> = Vec::new();
        for (i, c) in piece.char_indices() {
            if let Some(id) = id_of(c) {
                if part.len() == limit {
                    tokens.push((from..start + i, std::mem::take(&mut part), false));
                    from = start + i;
                }
                part.push(id);
            }
        }
        tokens.push((from..at, part, ends));
    }
    diagnostics.dedup();
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut size = 0;
    let close = |current: &mut Vec<usize>, chunks: &mut Vec<Chunk>| {
        if current.is_empty() {
            return;
        }
        let mut ids = Vec::new();
        let mut words = Vec::new();
        let mut text = String::new();
        for (n, &k) in current.iter().enumerate() {
            let (span, token_ids, _) = &tokens[k];
            if n > 0 {
                text.push(' ');
                ids.extend(space);
            }
            text.push_str(&phonemes[span.clone()]);
            words.push(Word {
                span: span.clone(),
                ids: ids.len()..ids.len() + token_ids.len(),
            });
            ids.extend_from_slice(token_ids);
        }
        let (first, last) = (&tokens[current[0]], &tokens[current[current.len() - 1]]);
        chunks.push(Chunk {
            index: chunks.len(),
            span: first.0.start..last.0.end,
            phonemes: text,
            ids,
            words,
            ends_paragraph: false,
            ends_sentence: last.2,
            pause_before_ms: 0,
            pause_after_ms: None,
            diagnostics: Vec::new(),
        });
        current.clear();
    };
    for (k, (_, ids, sentence_end)) in tokens.iter().enumerate() {
        let cost = ids.len() + usize::from(!current.is_empty());
        if !current.is_empty() && size + cost > limit {
            close(&mut current, &mut chunks);
            size = 0;
        }
        size += ids.len() + usize::from(!current.is_empty());
        current.push(k);
        if *sentence_end && (opts.sentence_per_chunk || size >= target) {
            close(&mut current, &mut chunks);
            size = 0;
        }
    }
    close(&mut current, &mut chunks);
    if let Some(first) = chunks.first_mut() {
        first.diagnostics = diagnostics
            .into_iter()
            .filter(|d| matches!(d, Diagnostic::UnknownSymbol { .. }))
            .collect();
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonemes_are_cut_at_sentences_within_the_limit() {
        let p = "həlˈoʊ wˈɜːld. hˌaʊ ɑːɹ juː?  fˈaɪn";
        let opts = ChunkOptions {
            sentence_per_chunk: true,
            ..ChunkOptions::default()
        };
        let chunks = phoneme_chunks(p, &opts);
        let texts: Vec<&str> = chunks.iter().map(|c| &p[c.span.clone()]).collect();
        assert_eq!(texts, ["həlˈoʊ wˈɜːld.", "hˌaʊ ɑːɹ juː?", "fˈaɪn"]);
        assert!(chunks[0].ends_sentence && !chunks[2].ends_sentence);
        assert_eq!(&p[chunks[1].words[1].span.clone()], "ɑːɹ");
        let word = &chunks[1].words[1];
        assert_eq!(
            &chunks[1].ids[word.ids.clone()],
            &to_ids("ɑːɹ", &mut Vec::new())[..]
        );
        // Together when they fit, and never past the limit.
        assert_eq!(phoneme_chunks(p, &ChunkOptions::default()).len(), 1);
        let long = "a".repeat(1200);
        let cut = phoneme_chunks(&long, &ChunkOptions::default());
        assert!(
            cut.iter().all(|c| c.ids.len() <= 200),
            "{:?}",
            cut.iter().map(|c| c.ids.len()).collect::<Vec<_>>()
        );
        assert_eq!(cut.iter().map(|c| c.ids.len()).sum::<usize>(), 1200);
        // Symbols the model does not know are dropped, and said.
        let odd = phoneme_chunks("hə§lˈoʊ", &ChunkOptions::default());
        assert_eq!(
            odd[0].diagnostics,
            [Diagnostic::UnknownSymbol { symbol: '§' }]
        );
        // A token with no symbol it knows is no word and no empty call.
        let unknown = phoneme_chunks("### həlˈoʊ", &ChunkOptions::default());
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].words.len(), 1);
        assert_eq!(unknown[0].ids, to_ids("həlˈoʊ", &mut Vec::new()));
        assert_eq!(
            unknown[0].diagnostics,
            [Diagnostic::UnknownSymbol { symbol: '#' }]
        );
        assert!(phoneme_chunks("###", &ChunkOptions::default()).is_empty());
    }
}
