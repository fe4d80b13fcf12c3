//! The fuzz targets: every reader and parser that takes untrusted input, each
//! as a function of arbitrary bytes that must return (an error is fine) and
//! never panic. The same functions are driven three ways: by libFuzzer through
//! `fuzz/` (`cargo xtask fuzz`), by proptest with arbitrary bytes, and by the
//! tests that replay every input kept in `fuzz/regressions/TARGET/`.

use std::sync::{Arc, OnceLock};

use kokoro_text::document::{read, InputFormat, ReadOptions};
use kokoro_text::{ChunkOptions, Frontend, G2p, Lang, Lexicon, SpellingFallback};

/// A fuzz target: reads arbitrary bytes, and returns.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("html", html),
    ("markdown", markdown),
    ("epub", epub),
    ("pdf", pdf),
    ("ssml", ssml),
    ("text", text),
    ("lexicon", lexicon),
    ("voice", voice),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn document(data: &[u8], format: InputFormat) {
    for code_blocks in [false, true] {
        if let Ok(doc) = read(data, format, ReadOptions { code_blocks }) {
            // What a reader returns is text the front end takes.
            for chapter in doc.chapters.iter().take(2) {
                let _ = kokoro_text::split_sentences(&chapter.text);
            }
        }
    }
}

/// HTML pages.
pub fn html(data: &[u8]) {
    document(data, InputFormat::Html);
}

/// Markdown.
pub fn markdown(data: &[u8]) {
    document(data, InputFormat::Markdown);
}

/// EPUB archives (zip, its XML and XHTML).
pub fn epub(data: &[u8]) {
    document(data, InputFormat::Epub);
}

/// PDF files.
pub fn pdf(data: &[u8]) {
    document(data, InputFormat::Pdf);
}

/// SSML.
pub fn ssml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(ssml) = kokoro_text::ssml::Ssml::parse(text) {
            let _ = ssml.text();
        }
    }
}

fn english() -> &'static Frontend {
    static F: OnceLock<Frontend> = OnceLock::new();
    F.get_or_init(|| {
        Frontend::new(
            G2p::new(Lang::EnUs, Arc::new(SpellingFallback)).expect("English needs no backend"),
        )
    })
}

/// The English front end: splitting, normalising, pause markup, inline
/// pronunciations, G2P and chunking, in whole and streaming chunk sizes.
pub fn text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for opts in [ChunkOptions::default(), ChunkOptions::streaming()] {
        for chunk in english().chunks(&text, opts) {
            assert!(
                chunk.ids.len() <= kokoro_text::MAX_TOKENS,
                "a chunk of {} ids",
                chunk.ids.len()
            );
        }
    }
}

/// A user's lexicon file.
pub fn lexicon(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Lexicon::parse(text);
    }
}

/// A voice, or a blend of voices with weights.
pub fn voice(data: &[u8]) {
    if let Ok(spec) = std::str::from_utf8(data) {
        let _ = kokoro_infer::VoiceSpec::parse(spec);
    }
}
