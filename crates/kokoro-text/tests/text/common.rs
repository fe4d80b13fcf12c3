//! What the front-end tests share.

use kokoro_text::Diagnostic;

/// Every non-whitespace character of `text` lies in a chunk's span, or in a
/// span reported as having nothing to say: no text is lost.
pub fn assert_covered(text: &str, out: &kokoro_text::Processed) {
    let mut covered = vec![false; text.len()];
    let silent = out.diagnostics.iter().filter_map(|d| match d {
        Diagnostic::NothingToSay { span } => Some(span.clone()),
        _ => None,
    });
    for span in out.chunks.iter().map(|c| c.span.clone()).chain(silent) {
        covered[span].iter_mut().for_each(|c| *c = true);
    }
    for (i, ch) in text.char_indices() {
        assert!(
            ch.is_whitespace() || covered[i],
            "character {ch:?} at byte {i} is in no chunk"
        );
    }
}
