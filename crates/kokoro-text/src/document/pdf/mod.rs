//! PDF, best effort: the text layer of each page (pdf-extract), without the
//! running headers, footers and page numbers; words broken at line ends joined
//! again, and words the extractor glued together separated again; chapters
//! from the outline where there is one.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use super::{text_chapters, Chapter, Document, DocumentError};

mod bounds;
mod outline;

pub(crate) fn read(bytes: &[u8]) -> Result<Document, DocumentError> {
    let pdf = bounds::load(bytes)?;
    bounds::check(&pdf, bytes.len())?;
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
    let outline = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        outline::top_entries(&pdf, pages.len())
    })) {
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
    Ok(Document {
        chapters,
        warnings,
        metadata: Default::default(),
    })
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

/// The object a reference names (one step), or the object itself.
fn deref<'a>(
    pdf: &'a lopdf::Document,
    object: Option<&'a lopdf::Object>,
) -> Option<&'a lopdf::Object> {
    match object? {
        lopdf::Object::Reference(id) => pdf.get_object(*id).ok(),
        o => Some(o),
    }
}

/// The dictionary the entry `key` of `dict` holds, or names.
fn dict_in<'a>(
    pdf: &'a lopdf::Document,
    dict: &'a lopdf::Dictionary,
    key: &[u8],
) -> Option<&'a lopdf::Dictionary> {
    deref(pdf, dict.get(key).ok())?.as_dict().ok()
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

/// A PDF file of `objects` (object `k + 1` is `objects[k]`, the first the
/// catalog), with its cross-reference table: for tests that need a
/// structure no writer would make.
#[cfg(test)]
pub(super) fn pdf_of(objects: &[&str]) -> Vec<u8> {
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (k, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{body}\nendobj\n", k + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        pdf.push_str(&format!("{o:010} 00000 n \n"));
    }
    pdf.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.into_bytes()
}

/// A stream object of `ops`, its dictionary holding `dict` too.
#[cfg(test)]
pub(super) fn stream_of(dict: &str, ops: &str) -> String {
    format!(
        "<< {dict} /Length {} >>\nstream\n{ops}\nendstream",
        ops.len()
    )
}

/// A content stream object that writes `text` in Helvetica (resource `F1`).
#[cfg(test)]
pub(super) fn text_stream(text: &str) -> String {
    stream_of("", &format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET"))
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
