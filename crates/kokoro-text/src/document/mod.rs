//! Documents in (feature `documents`): EPUB, PDF, Markdown, HTML and plain text,
//! out as chapters of plain text, ready for the front end.
//!
//! Everything is read from bytes the caller supplies; nothing here touches the
//! file system. Markup never reaches speech: only readable text does, with
//! headings and blocks as paragraph breaks. A book's chapters come from its
//! structure (EPUB spine and table of contents, PDF outline, Markdown and HTML
//! headings, "Chapter N" lines in plain text).

pub mod epub;
mod html;
mod markdown;
pub mod marks;
mod nesting;
mod pdf;

use std::path::Path;
use std::str::FromStr;

/// The kinds of input the tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Plain UTF-8 text.
    Text,
    /// CommonMark Markdown.
    Markdown,
    /// HTML (or XHTML).
    Html,
    /// EPUB 2 or 3 (without DRM).
    Epub,
    /// PDF with a text layer.
    Pdf,
    /// SSML (`<speak>`): see [`crate::ssml`]. Read as a document, it is one
    /// chapter of its text; its voices and rates need [`crate::ssml::Ssml`].
    Ssml,
}

impl InputFormat {
    /// The format a file name says, by its extension.
    pub fn from_path(path: &Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" => InputFormat::Text,
            "md" | "markdown" | "mdown" | "mkd" => InputFormat::Markdown,
            "html" | "htm" | "xhtml" => InputFormat::Html,
            "epub" => InputFormat::Epub,
            "pdf" => InputFormat::Pdf,
            "ssml" => InputFormat::Ssml,
            _ => return None,
        })
    }

    /// The format the bytes look like: PDF and zip (EPUB) by their magic
    /// numbers, HTML by its opening tag, anything else text.
    pub fn sniff(bytes: &[u8]) -> InputFormat {
        if bytes.starts_with(b"%PDF-") {
            return InputFormat::Pdf;
        }
        if bytes.starts_with(b"PK\x03\x04") {
            return InputFormat::Epub;
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
        if crate::ssml::looks_like_ssml(&head) {
            return InputFormat::Ssml;
        }
        let head = head.trim_start_matches('\u{feff}').trim_start();
        if head.starts_with("<!doctype html")
            || head.starts_with("<html")
            || (head.starts_with("<?xml") && head.contains("<html"))
        {
            return InputFormat::Html;
        }
        InputFormat::Text
    }

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Text => "text",
            InputFormat::Markdown => "markdown",
            InputFormat::Html => "html",
            InputFormat::Epub => "epub",
            InputFormat::Pdf => "pdf",
            InputFormat::Ssml => "ssml",
        }
    }
}

impl FromStr for InputFormat {
    type Err = DocumentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "text" | "txt" | "plain" => InputFormat::Text,
            "markdown" | "md" => InputFormat::Markdown,
            "html" | "htm" | "xhtml" => InputFormat::Html,
            "epub" => InputFormat::Epub,
            "pdf" => InputFormat::Pdf,
            "ssml" => InputFormat::Ssml,
            _ => return Err(DocumentError::UnknownFormat(s.to_string())),
        })
    }
}

/// One chapter: a title (possibly empty) and its readable text, paragraphs
/// separated by blank lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chapter {
    /// The chapter's title, from the table of contents, outline or heading.
    pub title: String,
    /// Readable text.
    pub text: String,
}

impl Chapter {
    /// Words in the chapter (whitespace-separated; each CJK character counts as one).
    pub fn words(&self) -> usize {
        let cjk = self
            .text
            .chars()
            .filter(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
            .count();
        self.text.split_whitespace().count() + cjk
    }
}

/// A document read into chapters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// The chapters with something to say, in reading order.
    pub chapters: Vec<Chapter>,
    /// What was skipped or guessed, for the user to see.
    pub warnings: Vec<String>,
    /// What the document says about itself.
    pub metadata: Metadata,
}

/// What a document says about itself (an EPUB's package metadata, an HTML
/// page's `<title>` and author): what an audiobook's tags and a read-along
/// book's package carry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The title.
    pub title: Option<String>,
    /// The author (several joined by `, `).
    pub author: Option<String>,
    /// The language the document declares (`en`, `fr-CA`).
    pub language: Option<String>,
    /// The cover image's bytes, as the document holds them (an EPUB's cover
    /// image, at most [`MAX_COVER`] bytes).
    pub cover: Option<Vec<u8>>,
}

/// The largest cover image kept: 16 MiB.
pub const MAX_COVER: u64 = 16 << 20;

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("title", &self.title)
            .field("author", &self.author)
            .field("language", &self.language)
            .field("cover", &self.cover.as_ref().map(Vec::len))
            .finish()
    }
}

/// How to read a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read code blocks aloud too (Markdown fences, HTML `<pre>`); off by default.
    pub code_blocks: bool,
}

/// Why a document could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// An `--input-format` value that is not a format.
    #[error("unknown input format `{0}` (text, markdown, html, epub, pdf, ssml)")]
    UnknownFormat(String),
    /// Text that is not UTF-8.
    #[error("not valid UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// A zip archive that is not an EPUB, or a broken one.
    #[error("not a readable EPUB: {0}")]
    Epub(String),
    /// An EPUB whose content is encrypted (DRM).
    #[error("the EPUB is encrypted (DRM): none of its chapters can be read")]
    Encrypted,
    /// A PDF that cannot be parsed, or is encrypted.
    #[error("not a readable PDF: {0}")]
    Pdf(String),
    /// A PDF whose pages hold no text (a scan).
    #[error("the PDF has no text layer (a scanned document?): run OCR on it first")]
    NoTextLayer,
    /// SSML that cannot be read (malformed XML, a root other than `<speak>`...).
    #[error(transparent)]
    Ssml(#[from] crate::ssml::SsmlError),
    /// Nothing readable, for the reasons given (a part too large, damaged...).
    #[error("nothing to read in this {format} document: {why}")]
    Unreadable {
        /// The format's name.
        format: &'static str,
        /// What kept each part from being read.
        why: String,
    },
    /// Nothing readable at all.
    #[error("nothing to read in this {0} document")]
    Empty(&'static str),
    /// A document past one of the bounds that keep reading it linear in its
    /// size (nesting depth, attributes on one element...).
    #[error("the {format} document has {bound} (at byte {at}), past the bounds this reader keeps")]
    Bound {
        /// The format's name.
        format: &'static str,
        /// The bound passed, in words.
        bound: String,
        /// Where it was passed, in bytes from the start.
        at: usize,
    },
}

/// Reads `bytes` as `format` into chapters. Chapters with no readable text are
/// left out, with a warning; an error only when nothing at all can be read.
pub fn read(
    bytes: &[u8],
    format: InputFormat,
    opts: ReadOptions,
) -> Result<Document, DocumentError> {
    let utf8 = || {
        let s = std::str::from_utf8(bytes).map_err(|e| DocumentError::NotUtf8(e.valid_up_to()))?;
        Ok::<_, DocumentError>(s.strip_prefix('\u{feff}').unwrap_or(s))
    };
    let mut doc = match format {
        InputFormat::Text => Document {
            chapters: text_chapters(utf8()?),
            ..Document::default()
        },
        InputFormat::Markdown => markdown::read(utf8()?, opts),
        InputFormat::Html => html::read_page(&String::from_utf8_lossy(bytes), opts)?,
        InputFormat::Epub => epub::read(bytes, opts)?,
        InputFormat::Pdf => pdf::read(bytes)?,
        InputFormat::Ssml => {
            let ssml = crate::ssml::Ssml::parse(utf8()?)?;
            Document {
                chapters: vec![Chapter {
                    title: String::new(),
                    text: ssml.text(),
                }],
                warnings: ssml.warnings,
                metadata: Metadata::default(),
            }
        }
    };
    let before = doc.chapters.len();
    doc.chapters.retain(|c| !c.text.trim().is_empty());
    if doc.chapters.len() < before {
        doc.warnings.push(format!(
            "{} empty chapter(s) skipped",
            before - doc.chapters.len()
        ));
    }
    if doc.chapters.is_empty() {
        if !doc.warnings.is_empty() {
            return Err(DocumentError::Unreadable {
                format: format.name(),
                why: doc.warnings.join("; "),
            });
        }
        return Err(DocumentError::Empty(format.name()));
    }
    Ok(doc)
}

/// Plain text: one chapter, or one per "Chapter N" heading line when the text
/// has at least two (as books from public-domain libraries do).
pub fn text_chapters(text: &str) -> Vec<Chapter> {
    let mut starts = Vec::new();
    let mut pos = 0;
    let mut prev_blank = true;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if prev_blank && is_chapter_heading(trimmed) {
            starts.push((pos, trimmed.to_string()));
        }
        prev_blank = trimmed.is_empty();
        pos += line.len();
    }
    if starts.len() < 2 {
        return vec![Chapter {
            title: String::new(),
            text: text.to_string(),
        }];
    }
    let mut out = Vec::new();
    if !text[..starts[0].0].trim().is_empty() {
        out.push(Chapter {
            title: String::new(),
            text: text[..starts[0].0].to_string(),
        });
    }
    for (k, (start, title)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(text.len(), |s| s.0);
        out.push(Chapter {
            title: title.clone(),
            text: text[*start..end].to_string(),
        });
    }
    out
}

/// "Chapter 12", "CHAPTER XII. The Return", "Chapter One": a short line that
/// names a chapter.
fn is_chapter_heading(line: &str) -> bool {
    let lower = line.to_lowercase();
    let Some(rest) = lower
        .strip_prefix("chapter ")
        .or_else(|| lower.strip_prefix("book "))
    else {
        return false;
    };
    let number = rest
        .split(|c: char| c.is_whitespace() || matches!(c, '.' | ':' | '—' | '-'))
        .next()
        .unwrap_or("");
    let numeral = !number.is_empty()
        && (number.chars().all(|c| c.is_ascii_digit())
            || number.chars().all(|c| "ivxlcdm".contains(c))
            || [
                "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "first", "second", "third", "last",
            ]
            .contains(&number));
    numeral && line.chars().count() <= 80
}

/// Gathers text into chapters as a document is walked: headings at the
/// chapter level start a chapter, other blocks end a paragraph.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    chapters: Vec<Chapter>,
    title: String,
    text: String,
    /// What was left out, in words (embedded objects).
    pub(crate) warnings: Vec<String>,
}

impl Builder {
    /// Starts a new chapter titled `title` (the previous one ends here); the
    /// title is its first paragraph, so that it is read.
    pub(crate) fn chapter(&mut self, title: &str) {
        self.flush();
        self.title = collapse(title);
        self.heading(title);
    }

    /// Appends inline text; an embedded object in it (a `data:` URI, say a
    /// base64 image pasted into the text) is left out, with a warning.
    pub(crate) fn text(&mut self, s: &str) {
        let mut rest = s;
        while let Some(at) = find_data_uri(rest) {
            self.text.push_str(&rest[..at]);
            let uri = &rest[at..];
            let end = uri
                .find(|c: char| c.is_whitespace() || "\"'<>)]".contains(c))
                .unwrap_or(uri.len());
            self.embedded(&uri[..end]);
            rest = &uri[end..];
        }
        self.text.push_str(rest);
    }

    /// Notes an embedded object left out (an image's or a text's `data:`
    /// URI): its media type and size, so nothing is dropped silently.
    pub(crate) fn embedded(&mut self, uri: &str) {
        let media = uri
            .get(5..)
            .unwrap_or_default()
            .split([';', ','])
            .next()
            .unwrap_or_default();
        let media = if media.is_empty() { "data" } else { media };
        self.warnings.push(format!(
            "an embedded {media} object ({} characters of a data: URI) is not read",
            uri.chars().count()
        ));
    }

    /// Ends a block: a paragraph break.
    pub(crate) fn block(&mut self) {
        let trimmed = self.text.trim_end_matches([' ', '\t']).len();
        self.text.truncate(trimmed);
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push_str(if self.text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            });
        }
    }

    /// A heading inside a chapter: its own paragraph, ending like a sentence.
    pub(crate) fn heading(&mut self, s: &str) {
        let s = collapse(s);
        if s.is_empty() {
            return;
        }
        self.block();
        self.text.push_str(&s);
        if !s.ends_with(['.', '!', '?', ':', '…', '。', '！', '？']) {
            self.text.push('.');
        }
        self.block();
    }

    fn flush(&mut self) {
        let text = tidy(&std::mem::take(&mut self.text));
        let title = std::mem::take(&mut self.title);
        if !text.is_empty() || !title.is_empty() {
            self.chapters.push(Chapter { title, text });
        }
    }

    pub(crate) fn finish(mut self) -> Vec<Chapter> {
        self.flush();
        self.chapters
    }
}

/// Where a `data:` URI starts in `s` (at a word's start), if one does.
fn find_data_uri(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(['d', 'D']).map(|i| from + i) {
        let starts_word = s[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if starts_word
            && s.get(i..i + 5)
                .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
            && s[i + 5..].contains([',', ';'])
        {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Collapses runs of whitespace to one space.
pub(crate) fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Paragraphs with their inner whitespace collapsed, separated by blank lines.
pub(crate) fn tidy(s: &str) -> String {
    s.split("\n\n")
        .map(collapse)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names_and_content() {
        assert_eq!(
            InputFormat::from_path(Path::new("a.EPUB")),
            Some(InputFormat::Epub)
        );
        assert_eq!(
            InputFormat::from_path(Path::new("a.md")),
            Some(InputFormat::Markdown)
        );
        assert_eq!(InputFormat::from_path(Path::new("a")), None);
        assert_eq!(InputFormat::sniff(b"%PDF-1.7\n"), InputFormat::Pdf);
        assert_eq!(InputFormat::sniff(b"PK\x03\x04rest"), InputFormat::Epub);
        assert_eq!(
            InputFormat::sniff(b"  <!DOCTYPE html><html>"),
            InputFormat::Html
        );
        assert_eq!(InputFormat::sniff(b"Hello <b>"), InputFormat::Text);
        assert!("docx".parse::<InputFormat>().is_err());
    }

    #[test]
    fn plain_text_splits_at_chapter_lines() {
        let text = "Preface here.\n\nChapter 1\n\nIt began.\n\nCHAPTER II. The End\n\nIt ended.\n";
        let ch = text_chapters(text);
        let titles: Vec<&str> = ch.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(titles, ["", "Chapter 1", "CHAPTER II. The End"]);
        assert_eq!(ch.iter().map(|c| c.text.as_str()).collect::<String>(), text);
        assert_eq!(text_chapters("Just one.\n\nChapter 1 only.").len(), 1);
        assert!(!is_chapter_heading(
            "Chapter and verse were quoted at length"
        ));
    }
}
