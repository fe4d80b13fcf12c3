//! PDF, best effort: the text layer of each page (pdf-extract), without the
//! running headers, footers and page numbers; words broken at line ends joined
//! again, and words the extractor glued together separated again; chapters
//! from the outline where there is one.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use super::{text_chapters, Chapter, Document, DocumentError};

/// The most objects a PDF may hold, counted before it is parsed (the
/// headers of its indirect objects) and after (with those inside object
/// streams). The parser keeps about 2 KiB per object: a 100 MiB file of a
/// million empty page-tree nodes took 2.1 GiB. A book of a thousand pages
/// has some tens of thousands.
pub(crate) const MAX_PDF_OBJECTS: usize = 250_000;

/// The most bytes a PDF's Flate streams may inflate to, all together (as an
/// EPUB's entries): a 1 MB file of one compressed page held 2.1 GiB.
pub(crate) const MAX_PDF_INFLATED: u64 = 256 << 20;

pub(crate) fn read(bytes: &[u8]) -> Result<Document, DocumentError> {
    let too_many = |at: usize| DocumentError::Bound {
        format: "pdf",
        bound: format!("more than {MAX_PDF_OBJECTS} objects"),
        at,
    };
    let mut headers = 0usize;
    for (at, w) in bytes.windows(4).enumerate() {
        if w == b" obj" {
            headers += 1;
            if headers > MAX_PDF_OBJECTS {
                return Err(too_many(at));
            }
        }
    }
    // Object streams are inflated by the parser as it loads: each is checked
    // first, against the same bound as the other streams. (The parser calls
    // the filter on this thread: lopdf's `rayon` feature is off here and in
    // pdf-extract; `an_object_stream_bomb_is_refused` would fail with it.)
    OBJECT_STREAMS_LEFT.set(MAX_PDF_INFLATED);
    OBJECT_STREAMS_OVER.set(false);
    let options = lopdf::LoadOptions {
        filter: Some(bound_object_streams),
        ..Default::default()
    };
    // The parser and the extractor panic on some malformed files (the fuzzer
    // finds them): a panic is a bad file here, or a part of one not read.
    let mut pdf =
        std::panic::catch_unwind(|| lopdf::Document::load_mem_with_options(bytes, options))
            .map_err(|_| DocumentError::Pdf("it cannot be parsed".into()))?
            .map_err(|e| DocumentError::Pdf(e.to_string()))?;
    if OBJECT_STREAMS_OVER.get() {
        return Err(DocumentError::Bound {
            format: "pdf",
            bound: format!("object streams that inflate to more than {MAX_PDF_INFLATED} bytes"),
            at: bytes.len(),
        });
    }
    if pdf.objects.len() > MAX_PDF_OBJECTS {
        return Err(too_many(bytes.len()));
    }
    if pdf.is_encrypted() && pdf.decrypt("").is_err() {
        return Err(DocumentError::Pdf(
            "it is encrypted, and cannot be read without its password".into(),
        ));
    }
    check_inflated(&pdf, bytes.len())?;
    check_parents(&pdf, bytes.len())?;
    // Unwind safe: the document is only read, and on a panic it is dropped
    // unused.
    let pages = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| text_by_pages(&pdf)))
        .map_err(|_| DocumentError::Pdf("its text cannot be extracted".into()))?
        .map_err(|e| DocumentError::Pdf(e.to_string()))?;
    if pages.iter().all(|p| p.trim().is_empty()) {
        return Err(DocumentError::NoTextLayer);
    }
    let mut warnings = Vec::new();
    let blank = pages.iter().filter(|p| p.trim().is_empty()).count();
    if blank > 0 {
        warnings.push(format!(
            "{blank} of {} pages have no text layer (scanned?); skipped",
            pages.len()
        ));
    }
    let pages = drop_running_lines(&pages);
    // Unwind safe as the extraction above.
    let outline =
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| outline(&pdf, pages.len())))
        {
            Ok(outline) => outline,
            Err(_) => {
                warnings.push("its outline cannot be read; chapters are found in the text".into());
                Vec::new()
            }
        };
    let chapters = if outline.len() >= 2 {
        let mut chapters = Vec::new();
        if outline[0].1 > 0 {
            chapters.push(Chapter {
                title: String::new(),
                text: clean(&pages[..outline[0].1].join("\n")),
            });
        }
        for (k, (title, start)) in outline.iter().enumerate() {
            let end = outline.get(k + 1).map_or(pages.len(), |n| n.1);
            chapters.push(Chapter {
                title: title.clone(),
                text: clean(&pages[*start..end.max(*start)].join("\n")),
            });
        }
        chapters
    } else {
        text_chapters(&clean(&pages.join("\n")))
    };
    Ok(Document { chapters, warnings })
}

thread_local! {
    /// What the object streams of the PDF being loaded on this thread may
    /// still inflate to (the parser's filter is a plain function).
    static OBJECT_STREAMS_LEFT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether one of them went past it.
    static OBJECT_STREAMS_OVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The parser's filter: an object stream past what is left of the bound is
/// dropped (and noted) before the parser inflates it.
fn bound_object_streams(
    id: (u32, u16),
    object: &mut lopdf::Object,
) -> Option<((u32, u16), lopdf::Object)> {
    if let Ok(stream) = object.as_stream() {
        if stream.dict.has_type(b"ObjStm") {
            let left = OBJECT_STREAMS_LEFT.get();
            let n = inflated_len(stream, left);
            if n > left {
                OBJECT_STREAMS_OVER.set(true);
                *object = lopdf::Object::Null;
            } else {
                OBJECT_STREAMS_LEFT.set(left - n);
            }
        }
    }
    // The parser keeps `object` itself; what is returned only says "keep".
    Some((id, lopdf::Object::Null))
}

/// How many bytes a stream inflates to, counting no further than `limit + 1`
/// (0 when it is not a Flate stream, or does not inflate).
fn inflated_len(stream: &lopdf::Stream, limit: u64) -> u64 {
    use std::io::Read;
    let flate = match stream.dict.get(b"Filter") {
        Ok(lopdf::Object::Name(n)) => n == b"FlateDecode",
        Ok(lopdf::Object::Array(a)) => a
            .iter()
            .any(|f| matches!(f, lopdf::Object::Name(n) if n == b"FlateDecode")),
        _ => false,
    };
    if !flate {
        return 0;
    }
    let mut inflated = flate2::read::ZlibDecoder::new(&stream.content[..]).take(limit + 1);
    // A stream that does not inflate is the extractor's to report.
    std::io::copy(&mut inflated, &mut std::io::sink()).unwrap_or(0)
}

/// Inflates every Flate stream into nothing, up to [`MAX_PDF_INFLATED`] in
/// all, before the extractor inflates them for real.
fn check_inflated(pdf: &lopdf::Document, at: usize) -> Result<(), DocumentError> {
    let mut total = 0u64;
    for object in pdf.objects.values() {
        let Ok(stream) = object.as_stream() else {
            continue;
        };
        total += inflated_len(stream, MAX_PDF_INFLATED - total);
        if total > MAX_PDF_INFLATED {
            return Err(DocumentError::Bound {
                format: "pdf",
                bound: format!("streams that inflate to more than {MAX_PDF_INFLATED} bytes"),
                at,
            });
        }
    }
    Ok(())
}

/// Refuses a page whose chain of `/Parent`s loops: the extractor climbs it
/// for inherited resources without end (a PDF of five objects held it
/// forever). Each node is climbed from once: linear in the tree.
fn check_parents(pdf: &lopdf::Document, at: usize) -> Result<(), DocumentError> {
    let mut rooted: std::collections::HashSet<lopdf::ObjectId> = Default::default();
    for page in pdf.get_pages().into_values() {
        let mut path = std::collections::HashSet::new();
        let mut node = Some(page);
        while let Some(id) = node {
            if rooted.contains(&id) {
                break;
            }
            if !path.insert(id) {
                return Err(DocumentError::Bound {
                    format: "pdf",
                    bound: format!("a page tree that loops (object {} {})", id.0, id.1),
                    at,
                });
            }
            node = pdf
                .get_dictionary(id)
                .ok()
                .and_then(|d| d.get(b"Parent").ok())
                .and_then(|p| p.as_reference().ok());
        }
        rooted.extend(path);
    }
    Ok(())
}

/// The text of each page, in one pass over the page tree. (pdf-extract's own
/// page-by-page reading walks the whole tree again for every page: a PDF of
/// 20,000 pages took minutes.)
fn text_by_pages(pdf: &lopdf::Document) -> Result<Vec<String>, pdf_extract::OutputError> {
    let mut pages = ByPage::default();
    pdf_extract::output_doc(pdf, &mut pages)?;
    Ok(pages.done)
}

/// An output device that writes each page as plain text of its own, as
/// pdf-extract does when asked for one page.
#[derive(Default)]
struct ByPage {
    page: Option<pdf_extract::PlainTextOutput<PageText>>,
    text: std::rc::Rc<std::cell::RefCell<String>>,
    done: Vec<String>,
}

/// Where the page being read is written.
struct PageText(std::rc::Rc<std::cell::RefCell<String>>);

impl pdf_extract::ConvertToFmt for PageText {
    type Writer = Self;
    fn convert(self) -> Self {
        self
    }
}

impl std::fmt::Write for PageText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.borrow_mut().push_str(s);
        Ok(())
    }
}

impl ByPage {
    fn page(&mut self) -> &mut pdf_extract::PlainTextOutput<PageText> {
        self.page
            .get_or_insert_with(|| pdf_extract::PlainTextOutput::new(PageText(self.text.clone())))
    }
}

impl pdf_extract::OutputDev for ByPage {
    fn begin_page(
        &mut self,
        page_num: u32,
        media_box: &pdf_extract::MediaBox,
        art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), pdf_extract::OutputError> {
        self.page = None;
        self.text.borrow_mut().clear();
        self.page().begin_page(page_num, media_box, art_box)
    }
    fn end_page(&mut self) -> Result<(), pdf_extract::OutputError> {
        self.page().end_page()?;
        self.page = None;
        self.done.push(std::mem::take(&mut *self.text.borrow_mut()));
        Ok(())
    }
    fn output_character(
        &mut self,
        trm: &pdf_extract::Transform,
        width: f64,
        spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), pdf_extract::OutputError> {
        self.page()
            .output_character(trm, width, spacing, font_size, char)
    }
    fn begin_word(&mut self) -> Result<(), pdf_extract::OutputError> {
        self.page().begin_word()
    }
    fn end_word(&mut self) -> Result<(), pdf_extract::OutputError> {
        self.page().end_word()
    }
    fn end_line(&mut self) -> Result<(), pdf_extract::OutputError> {
        self.page().end_line()
    }
}

/// Top-level outline entries as `(title, first page index)`, in page order,
/// at most one per page.
fn outline(pdf: &lopdf::Document, pages: usize) -> Vec<(String, usize)> {
    let Ok(toc) = pdf.get_toc() else {
        return Vec::new();
    };
    let Some(top) = toc.toc.iter().map(|t| t.level).min() else {
        return Vec::new();
    };
    let mut out: Vec<(String, usize)> = toc
        .toc
        .iter()
        .filter(|t| t.level == top && t.page >= 1 && t.page <= pages)
        .map(|t| (super::collapse(&t.title), t.page - 1))
        .collect();
    out.sort_by_key(|o| o.1);
    out.dedup_by_key(|o| o.1);
    out
}

/// Removes lines that repeat at the top or bottom of pages (running headers and
/// footers, with their page numbers) and lines that are only a page number.
fn drop_running_lines(pages: &[String]) -> Vec<String> {
    let key = |line: &str| -> String {
        line.trim()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    };
    let edges = |page: &str| -> Vec<String> {
        let lines: Vec<&str> = page.lines().filter(|l| !l.trim().is_empty()).collect();
        lines
            .first()
            .into_iter()
            .chain(lines.last())
            .map(|l| key(l))
            .collect()
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for page in pages {
        let mut seen = edges(page);
        seen.sort();
        seen.dedup();
        for k in seen {
            *counts.entry(k).or_default() += 1;
        }
    }
    let texty = pages.iter().filter(|p| !p.trim().is_empty()).count();
    let running = |k: &str| texty >= 3 && counts.get(k).copied().unwrap_or(0) * 5 >= texty * 2;
    let kept: Vec<String> = pages
        .iter()
        .map(|page| {
            let lines: Vec<&str> = page.lines().collect();
            let texty_idx: Vec<usize> = (0..lines.len())
                .filter(|&i| !lines[i].trim().is_empty())
                .collect();
            let n = texty_idx.len();
            // A running line is the first or last of the page; a page number
            // may sit next to one.
            let mut keep = vec![true; lines.len()];
            for (pos, &i) in texty_idx.iter().enumerate() {
                let first_or_last = pos == 0 || pos + 1 == n;
                let near_edge = pos < 2 || pos + 2 >= n;
                if (first_or_last && running(&key(lines[i])))
                    || (near_edge && is_page_number(lines[i]))
                {
                    keep[i] = false;
                }
            }
            lines
                .iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(l, _)| *l)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    // Lines on every page and nothing else are the text itself (a document of
    // one repeated line), not its furniture.
    if kept.iter().all(|p| p.trim().is_empty()) {
        return pages.to_vec();
    }
    kept
}

/// "12", "- 12 -", "Page 12", "12 of 300", "xii".
fn is_page_number(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)^[-–—\s]*(page\s*)?([0-9]{1,4}|[ivxlc]{1,7})(\s*(of|/)\s*[0-9]{1,4})?[-–—\s]*$",
        )
        // tidy: infallible (a constant pattern, compiled by tests of is_page_number)
        .expect("valid regex")
    })
    .is_match(line.trim())
}

/// Lines of text to paragraphs: words hyphenated at line ends joined, glued
/// words separated. Extractors mark paragraphs unreliably, so a paragraph ends
/// at a short line that ends a sentence, and a short line with no final mark
/// (a heading) stands alone.
fn clean(text: &str) -> String {
    static GLUE: OnceLock<Regex> = OnceLock::new();
    // "end.Next" and "word,next": a mark directly followed by a word.
    let glue = GLUE.get_or_init(|| {
        // tidy: infallible (a constant pattern, compiled by tests of clean)
        Regex::new(r"(\p{Ll}{2})([.,;:!?])(\p{Lu}\p{Ll}|\p{Ll}{2})").expect("valid regex")
    });
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut lengths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
    lengths.sort_unstable();
    let median = lengths.get(lengths.len() / 2).copied().unwrap_or(0);
    let mut out = String::with_capacity(text.len());
    for (k, line) in lines.iter().enumerate() {
        let next = lines.get(k + 1).copied().unwrap_or("");
        let short = line.chars().count() * 10 < median * 7;
        let ends_sentence = line.ends_with(['.', '!', '?', '"', '”', '’', ':']);
        let hyphenated = line.ends_with('-')
            && line[..line.len() - 1].ends_with(char::is_lowercase)
            && next.starts_with(char::is_lowercase);
        if hyphenated {
            out.push_str(&line[..line.len() - 1]);
            continue;
        }
        out.push_str(line);
        let heading = short && !ends_sentence && line.starts_with(char::is_uppercase);
        out.push_str(if (short && ends_sentence) || heading {
            "\n\n"
        } else {
            "\n"
        });
    }
    let text = glue.replace_all(&out, "$1$2 $3");
    text.split("\n\n")
        .map(|p| {
            p.split_whitespace()
                .map(unglue)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The English lexicon, to tell glued words from real ones.
fn lexicon() -> &'static misaki_rs::Lexicon {
    static LEX: OnceLock<misaki_rs::Lexicon> = OnceLock::new();
    LEX.get_or_init(|| misaki_rs::Lexicon::new(misaki_rs::Language::EnglishUS))
}

/// A token of letters that is not a word but is two to four words run
/// together ("thequick" is "the quick") comes back separated; anything else
/// comes back as it was.
fn unglue(token: &str) -> String {
    let start = token.find(|c: char| c.is_alphabetic());
    let end = token.rfind(|c: char| c.is_alphabetic());
    let (Some(start), Some(end)) = (start, end) else {
        return token.to_string();
    };
    let end = end + token[end..].chars().next().map_or(1, char::len_utf8);
    let word = &token[start..end];
    let lower = word.to_lowercase();
    if word.chars().count() < 7
        || !word.chars().all(|c| c.is_ascii_alphabetic())
        || word.chars().skip(1).any(|c| c.is_ascii_uppercase())
        || known(&lower)
    {
        return token.to_string();
    }
    match segment(&lower) {
        Some(parts) => {
            // Keep the original capitalisation of the first letter.
            let mut joined = parts.join(" ");
            if word.starts_with(|c: char| c.is_ascii_uppercase()) {
                joined.replace_range(0..1, &joined[0..1].to_ascii_uppercase());
            }
            format!("{}{joined}{}", &token[..start], &token[end..])
        }
        None => token.to_string(),
    }
}

fn known(word: &str) -> bool {
    lexicon().in_gold(word)
}

/// The commonest English words: the only words of one or two letters a glued
/// word may contain (others would split names into syllables), and cheaper
/// than the rest when choosing between splits.
const COMMON: &[&str] = &[
    "a", "i", "an", "as", "at", "be", "by", "do", "go", "he", "if", "in", "is", "it", "me", "my",
    "no", "of", "on", "or", "so", "to", "up", "us", "we", "the", "and", "was", "for", "that",
    "with", "his", "her", "she", "had", "you", "not", "but", "are", "this", "they", "from", "have",
    "one", "all", "were", "which", "when", "there", "their", "what", "said", "would", "been",
    "will", "into", "who", "more", "him", "has", "out", "then", "them", "than", "can", "our",
    "some", "time", "only", "its", "over", "new", "very", "about", "after", "could", "other",
    "these", "two", "may", "first", "any", "now", "man", "like", "made", "well", "upon", "such",
    "great", "before", "must", "through", "back", "years", "where", "much", "your", "way", "down",
    "should", "because", "each", "just", "those", "how", "too", "little", "good", "also", "here",
    "day", "most", "come", "did", "never", "own", "under", "last", "might", "while", "old", "see",
    "same", "long", "get", "make", "again", "still", "even",
];

/// The longest word [`segment`] looks for, in letters: longer than all but a
/// handful of the lexicon's words. It bounds the work on one token: at most
/// this many lookups per letter, and a token past four such words is no glued
/// word at all.
const MAX_PART: usize = 30;

/// The split of `word` into known words (2 to 4, each of three letters or
/// more, or a common short word) that is cheapest, if there is one.
fn segment(word: &str) -> Option<Vec<&str>> {
    let n = word.len();
    if n > 4 * MAX_PART {
        return None;
    }
    // best[i]: the cheapest cover of word[..i], and where its last word starts.
    let mut best: Vec<Option<(usize, usize)>> = vec![None; n + 1];
    best[0] = Some((0, 0));
    for i in 1..=n {
        for j in (i.saturating_sub(MAX_PART)..i).rev() {
            let Some((cost, _)) = best[j] else { continue };
            let part = &word[j..i];
            if (part.len() >= 3 || COMMON.contains(&part)) && known(part) {
                // Common words cost less: "itwasthe" is "it was the", not "it wast he".
                let cost = cost + if COMMON.contains(&part) { 2 } else { 3 };
                if best[i].is_none_or(|(c, _)| cost < c) {
                    best[i] = Some((cost, j));
                }
            }
        }
    }
    best[n]?;
    let mut parts = Vec::new();
    let mut i = n;
    while i > 0 {
        let (_, j) = best[i]?;
        parts.push(&word[j..i]);
        i = j;
    }
    parts.reverse();
    (2..=4).contains(&parts.len()).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glued_words_are_separated_and_real_words_kept() {
        assert_eq!(unglue("thequick"), "the quick");
        assert_eq!(unglue("Onceupon"), "Once upon");
        assert_eq!(unglue("(brownfox),"), "(brown fox),");
        assert_eq!(unglue("understanding"), "understanding");
        assert_eq!(unglue("Kokoro"), "Kokoro");
        assert_eq!(
            clean("It ended.Then we left,quickly. A long exam-\nple here."),
            "It ended. Then we left, quickly. A long example here."
        );
    }

    #[test]
    fn page_furniture_is_dropped() {
        let pages: Vec<String> = (1..=4)
            .map(|n| {
                format!("The Book Title\n\nBody text of page {n} goes on.\nMore of it.\n\n{n}")
            })
            .collect();
        let kept = drop_running_lines(&pages);
        for (n, page) in kept.iter().enumerate() {
            assert!(!page.contains("Book Title"), "{page}");
            assert!(page.contains(&format!("page {}", n + 1)), "{page}");
            assert!(
                !page.trim_end().ends_with(&format!("\n{}", n + 1)),
                "{page}"
            );
        }
        assert!(
            is_page_number("- 12 -") && is_page_number("Page 3 of 10") && is_page_number("xii")
        );
        assert!(!is_page_number("12 angry men"));
    }

    #[test]
    fn too_many_objects_are_refused_before_parsing() {
        let mut pdf = String::from("%PDF-1.4\n");
        for k in 1..=MAX_PDF_OBJECTS + 1 {
            pdf.push_str(&format!("{k} 0 obj\nnull\nendobj\n"));
        }
        let err = read(pdf.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, DocumentError::Bound { format: "pdf", .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("more than 250000 objects"),
            "{err}"
        );
    }

    /// `head`, a MiB of spaces more than [`MAX_PDF_INFLATED`], then `tail`,
    /// deflated: a small stream that inflates past the bound.
    fn deflated_past_the_bound(head: &[u8], tail: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(head).unwrap();
        for _ in 0..(MAX_PDF_INFLATED >> 20) + 1 {
            z.write_all(&[b' '; 1 << 20]).unwrap();
        }
        z.write_all(tail).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn a_compressed_bomb_is_refused_naming_the_bound() {
        use lopdf::dictionary;
        let content = deflated_past_the_bound(b"BT /F1 12 Tf 72 720 Td (Hi) Tj ET\n", b"");
        let mut doc = lopdf::Document::with_version("1.5");
        let id = doc.add_object(lopdf::Stream::new(
            dictionary! { "Filter" => "FlateDecode" },
            content,
        ));
        let page = doc.add_object(dictionary! { "Type" => "Page", "Contents" => id });
        let pages = doc.add_object(dictionary! {
            "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
        });
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("inflate to more than"), "{err}");
    }

    #[test]
    fn an_object_stream_bomb_is_refused() {
        let content = deflated_past_the_bound(b"6 0 ", b"<< /Type /Catalog >>");
        let mut pdf = b"%PDF-1.5\n".to_vec();
        let offset = pdf.len();
        pdf.extend_from_slice(
            format!(
                "5 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
                content.len()
            )
            .as_bytes(),
        );
        pdf.extend_from_slice(&content);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
        let xref = pdf.len();
        pdf.extend_from_slice(
            format!(
                "xref\n0 6\n0000000000 65535 f \n0000000000 65535 f \n0000000000 65535 f \n\
                 0000000000 65535 f \n0000000000 65535 f \n{offset:010} 00000 n \n\
                 trailer\n<< /Size 6 /Root 6 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            )
            .as_bytes(),
        );
        let err = read(&pdf).unwrap_err();
        assert!(
            err.to_string()
                .contains("object streams that inflate to more than"),
            "{err}"
        );
    }

    #[test]
    fn a_page_tree_that_loops_is_refused() {
        // The page tree's root names the page as its parent: before, the
        // extractor climbed the loop for ever.
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 3 0 R >>",
            "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
            "<< /Length 35 >>\nstream\nBT /F1 12 Tf 72 720 Td (Hi) Tj ET\nendstream",
        ];
        let mut pdf = String::from("%PDF-1.4\n");
        let mut offsets = Vec::new();
        for (k, body) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.push_str(&format!("{} 0 obj\n{body}\nendobj\n", k + 1));
        }
        let xref = pdf.len();
        pdf.push_str("xref\n0 5\n0000000000 65535 f \n");
        for o in offsets {
            pdf.push_str(&format!("{o:010} 00000 n \n"));
        }
        pdf.push_str(&format!(
            "trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        ));
        let err = read(pdf.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("a page tree that loops"), "{err}");
    }

    #[test]
    fn a_line_on_every_page_and_nothing_else_is_kept() {
        let pages = vec!["Hello there, a page.".to_string(); 5];
        assert_eq!(drop_running_lines(&pages), pages);
    }

    #[test]
    fn a_glued_token_costs_work_bounded_per_letter() {
        // Past four of the longest words, a token is left as it is; before
        // the bound, 16,000 letters took minutes (each prefix tried against
        // each end, each a lookup of up to the whole token).
        let long = "thequickbrownfox".repeat(1_000);
        assert_eq!(unglue(&long), long);
        assert_eq!(unglue("thequickbrownfox"), "the quick brown fox");
        assert_eq!(segment(&"ab".repeat(61)), None);
    }
}
