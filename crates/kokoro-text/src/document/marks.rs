//! Marks in a content document: stretches of the text read from an XHTML
//! page (sentences, words) wrapped in `<span id>` where they stand in the
//! page, and nothing else changed, so that a read-along book can point at
//! them.
//!
//! The page is read as the HTML reader reads it (the same elements left
//! out), and the text's characters are found in it in order; a stretch that
//! starts or ends inside an inline element (`<i>`, `<a>`) is widened to the
//! whole element, so that the span nests; stretches widened into each other
//! are joined; a stretch that would have to hold a block (a paragraph, a
//! heading) is not marked.

use std::collections::HashSet;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::html::{heading_level, is_note_marker, BLOCKS, SKIPPED};
use super::{DocumentError, ReadOptions};

/// A stretch of the text to mark: a sentence, and within it (if asked) its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Byte range in the text.
    pub range: Range<usize>,
    /// Byte ranges of its words, in the text, in order, inside `range`.
    pub words: Vec<Range<usize>>,
}

/// A page with its marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// The page: the spans, the body's id when it had none, and the
    /// stylesheet link added; every other byte as it was.
    pub xhtml: String,
    /// The `<body>`'s id.
    pub body_id: String,
    /// For each mark, the id of the span holding it; `None` when it could
    /// not be marked. Marks that had to be joined share one span and id.
    pub ids: Vec<Option<String>>,
    /// For each mark, its words' ids (empty when its words were not marked).
    pub word_ids: Vec<Vec<Option<String>>>,
}

/// One element of the page.
#[derive(Debug, Clone)]
struct Element {
    name: String,
    parent: Option<usize>,
    /// Where its start tag begins and ends.
    open: Range<usize>,
    /// Where its end tag begins and ends (the start tag's end, for `<x/>`).
    close: Range<usize>,
    /// Left out of the text, as the reader leaves it out.
    skipped: bool,
    /// A block, or a heading: a span cannot hold it.
    block: bool,
    /// Its `id`.
    id: Option<String>,
}

/// One character of the page's text, and where it is.
#[derive(Debug, Clone)]
struct Char {
    c: char,
    at: Range<usize>,
    /// The innermost element holding it.
    element: Option<usize>,
}

/// The page, read.
struct Page {
    elements: Vec<Element>,
    chars: Vec<Char>,
    body: Option<usize>,
    head_end: Option<usize>,
    ids: HashSet<String>,
}

/// Wraps each of `marks` (stretches of `text`, the text [`super::read`]
/// made of this page, in order) in a `<span>` with an id starting with
/// `prefix`; gives the body an id if it has none; links `stylesheet` (a
/// path relative to the page) from its head.
pub fn mark(
    xhtml: &str,
    text: &str,
    marks: &[Mark],
    prefix: &str,
    stylesheet: Option<&str>,
    opts: ReadOptions,
) -> Result<Marked, DocumentError> {
    let page = Page::read(xhtml, opts)?;
    let found = align(text, &page.chars);
    let place = |range: &Range<usize>| -> Option<Range<usize>> {
        let mapped = |i: usize| found.get(i).copied().flatten();
        let first = (range.start..range.end).find_map(mapped)?;
        let last = (range.start..range.end).rev().find_map(mapped)?;
        page.lift(page.chars[first].at.start, page.chars[last].at.end)
    };
    let mut ids = IdMaker::new(prefix, &page.ids);
    let mut edits: Vec<(usize, u8, usize, String)> = Vec::new();
    let mut out_ids = vec![None; marks.len()];
    let mut out_words = vec![Vec::new(); marks.len()];
    let mut last: Option<(Range<usize>, String, Vec<usize>)> = None;
    let mut groups: Vec<(Range<usize>, String, Vec<usize>)> = Vec::new();
    for (k, m) in marks.iter().enumerate() {
        let Some(at) = place(&m.range) else {
            continue;
        };
        match &mut last {
            // Widened into the one before: one span for both.
            Some((prev, id, members)) if at.start < prev.end => {
                let joined = page.lift(prev.start, at.end.max(prev.end));
                if let Some(joined) = joined {
                    *prev = joined;
                    out_ids[k] = Some(id.clone());
                    members.push(k);
                }
            }
            _ => {
                if let Some(done) = last.take() {
                    groups.push(done);
                }
                let id = ids.next();
                out_ids[k] = Some(id.clone());
                last = Some((at, id, vec![k]));
            }
        }
    }
    groups.extend(last);
    for (range, id, members) in &groups {
        edits.push((range.start, 2, 0, format!("<span id=\"{id}\">")));
        edits.push((range.end, 0, 1, "</span>".into()));
        // Its words, each inside it and apart from the others.
        let words: Vec<(usize, usize, Range<usize>)> = members
            .iter()
            .flat_map(|&k| {
                marks[k]
                    .words
                    .iter()
                    .enumerate()
                    .map(move |(w, r)| (k, w, r.clone()))
            })
            .collect();
        let mut placed: Vec<(usize, usize, Range<usize>)> = Vec::new();
        for (k, w, r) in words {
            let Some(at) = place(&r) else { continue };
            if at.start < range.start || at.end > range.end {
                continue;
            }
            if placed.last().is_some_and(|(_, _, p)| at.start < p.end) {
                continue;
            }
            placed.push((k, w, at));
        }
        for (k, w, at) in placed {
            let id = ids.next();
            let words = &mut out_words[k];
            if words.len() < marks[k].words.len() {
                words.resize(marks[k].words.len(), None);
            }
            words[w] = Some(id.clone());
            edits.push((at.start, 3, 0, format!("<span id=\"{id}\">")));
            edits.push((at.end, 0, 0, "</span>".into()));
        }
    }
    let body = page
        .body
        .ok_or_else(|| DocumentError::Epub("a content document without <body>".into()))?;
    let body_id = match &page.elements[body].id {
        Some(id) => id.clone(),
        None => {
            let id = ids.named(&format!("{prefix}body"));
            let tag = &page.elements[body].open;
            let end = xhtml[..tag.end]
                .rfind('>')
                .map(|gt| {
                    if xhtml[..gt].ends_with('/') {
                        gt - 1
                    } else {
                        gt
                    }
                })
                .unwrap_or(tag.end);
            edits.push((end, 1, 0, format!(" id=\"{id}\"")));
            id
        }
    };
    if let (Some(href), Some(at)) = (stylesheet, page.head_end) {
        edits.push((
            at,
            1,
            0,
            format!("<link rel=\"stylesheet\" type=\"text/css\" href=\"{href}\"/>\n"),
        ));
    }
    // At one place: closing tags first (a word's before its sentence's),
    // then the rest, then opening tags (a sentence's before its words').
    edits.sort_by_key(|(at, order, inner, _)| (*at, *order, *inner));
    let mut out = String::with_capacity(xhtml.len() + edits.len() * 24);
    let mut from = 0;
    for (at, _, _, s) in &edits {
        out.push_str(&xhtml[from..*at]);
        out.push_str(s);
        from = *at;
    }
    out.push_str(&xhtml[from..]);
    Ok(Marked {
        xhtml: out,
        body_id,
        ids: out_ids,
        word_ids: out_words,
    })
}

/// New ids that clash with none in the page.
struct IdMaker<'a> {
    prefix: &'a str,
    taken: HashSet<String>,
    next: usize,
}

impl<'a> IdMaker<'a> {
    fn new(prefix: &'a str, taken: &HashSet<String>) -> Self {
        Self {
            prefix,
            taken: taken.clone(),
            next: 1,
        }
    }

    fn next(&mut self) -> String {
        loop {
            let id = format!("{}{}", self.prefix, self.next);
            self.next += 1;
            if self.taken.insert(id.clone()) {
                return id;
            }
        }
    }

    fn named(&mut self, name: &str) -> String {
        let mut id = name.to_string();
        let mut n = 1;
        while !self.taken.insert(id.clone()) {
            n += 1;
            id = format!("{name}{n}");
        }
        id
    }
}

impl Page {
    fn read(xhtml: &str, opts: ReadOptions) -> Result<Page, DocumentError> {
        let bad = |at: u64, e: &dyn std::fmt::Display| {
            DocumentError::Epub(format!(
                "a content document is not well-formed XML at byte {at}: {e}"
            ))
        };
        let mut reader = Reader::from_str(xhtml);
        reader.config_mut().trim_text(false);
        let mut page = Page {
            elements: Vec::new(),
            chars: Vec::new(),
            body: None,
            head_end: None,
            ids: HashSet::new(),
        };
        let mut stack: Vec<usize> = Vec::new();
        loop {
            let before = reader.buffer_position() as usize;
            let event = reader
                .read_event()
                .map_err(|e| bad(reader.error_position(), &e))?;
            let after = reader.buffer_position() as usize;
            match event {
                Event::Start(e) => {
                    let k = page.element(&e, stack.last().copied(), before..after, None);
                    stack.push(k);
                }
                Event::Empty(e) => {
                    page.element(&e, stack.last().copied(), before..after, Some(after));
                }
                Event::End(e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    if let Some(k) = stack.pop() {
                        page.elements[k].close = before..after;
                    }
                    if name == "head" && page.head_end.is_none() {
                        page.head_end = Some(before);
                    }
                }
                Event::Text(t) => {
                    let raw = t.decode().map_err(|e| bad(before as u64, &e))?;
                    let element = stack.last().copied();
                    for (i, c) in raw.char_indices() {
                        if !c.is_whitespace() {
                            let at = before + i;
                            page.chars.push(Char {
                                c,
                                at: at..at + c.len_utf8(),
                                element,
                            });
                        }
                    }
                }
                Event::CData(t) => {
                    let raw = String::from_utf8_lossy(&t).into_owned();
                    let element = stack.last().copied();
                    for (i, c) in raw.char_indices() {
                        if !c.is_whitespace() {
                            let at = before + "<![CDATA[".len() + i;
                            page.chars.push(Char {
                                c,
                                at: at..at + c.len_utf8(),
                                element,
                            });
                        }
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved: String = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            let name = r.decode().map_err(|e| bad(before as u64, &e))?;
                            quick_xml::escape::resolve_xml_entity(&name)
                                .unwrap_or_default()
                                .to_string()
                        }
                    };
                    let element = stack.last().copied();
                    for c in resolved.chars().filter(|c| !c.is_whitespace()) {
                        page.chars.push(Char {
                            c,
                            at: before..after,
                            element,
                        });
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        page.skip(opts);
        Ok(page)
    }

    /// Records an element; `empty_end` for `<x/>`.
    fn element(
        &mut self,
        e: &BytesStart<'_>,
        parent: Option<usize>,
        tag: Range<usize>,
        empty_end: Option<usize>,
    ) -> usize {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut id = None;
        let mut skipped = false;
        let mut noteref = false;
        let mut href_fragment = false;
        for a in e.attributes().flatten() {
            let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            let value = a
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_default();
            match key.as_str() {
                "id" => {
                    self.ids.insert(value.clone());
                    id = Some(value);
                }
                "hidden" => skipped = true,
                "type" if value.contains("pagebreak") => skipped = true,
                "type" if value == "noteref" => noteref = true,
                "href" if value.contains('#') => href_fragment = true,
                _ => {}
            }
        }
        if SKIPPED.contains(&name.as_str()) {
            skipped = true;
        }
        if name == "a" && noteref {
            skipped = true;
        }
        let k = self.elements.len();
        if name == "body" && self.body.is_none() {
            self.body = Some(k);
        }
        let block =
            BLOCKS.contains(&name.as_str()) || heading_level(&name).is_some() || name == "pre";
        self.elements.push(Element {
            // Note markers are decided once their text is known.
            name: if name == "a" && href_fragment && !noteref {
                "a#".into()
            } else {
                name
            },
            parent,
            close: empty_end.map_or(tag.end..tag.end, |end| end..end),
            open: tag,
            skipped,
            block,
            id,
        });
        k
    }

    /// Leaves out what the reader leaves out: skipped elements, note markers,
    /// code blocks unless asked for.
    fn skip(&mut self, opts: ReadOptions) {
        // Each element's text, to tell note markers.
        let mut texts = vec![String::new(); self.elements.len()];
        for ch in &self.chars {
            let mut e = ch.element;
            while let Some(k) = e {
                if matches!(self.elements[k].name.as_str(), "sup" | "a#") {
                    texts[k].push(ch.c);
                }
                e = self.elements[k].parent;
            }
        }
        for (element, text) in self.elements.iter_mut().zip(&texts) {
            let name = element.name.as_str();
            let note = matches!(name, "sup" | "a#") && is_note_marker(text);
            let code = name == "pre" && !opts.code_blocks;
            if note || code {
                element.skipped = true;
            }
        }
        let elements = &self.elements;
        let hidden = |mut e: Option<usize>| {
            while let Some(k) = e {
                if elements[k].skipped {
                    return true;
                }
                e = elements[k].parent;
            }
            false
        };
        let body = self.body;
        let in_body = |mut e: Option<usize>| {
            while let Some(k) = e {
                if Some(k) == body {
                    return true;
                }
                e = elements[k].parent;
            }
            false
        };
        self.chars
            .retain(|c| !hidden(c.element) && in_body(c.element));
    }

    /// The elements holding byte `at` (innermost first): those whose content
    /// it lies in.
    fn path(&self, at: usize) -> Vec<usize> {
        // The innermost element whose content holds `at`.
        let mut best: Option<usize> = None;
        for (k, e) in self.elements.iter().enumerate() {
            if e.open.end <= at && at <= e.close.start && e.open.end < e.close.end {
                best = match best {
                    Some(b) if self.elements[b].open.start >= e.open.start => Some(b),
                    _ => Some(k),
                };
            }
        }
        let mut path = Vec::new();
        let mut e = best;
        while let Some(k) = e {
            path.push(k);
            e = self.elements[k].parent;
        }
        path
    }

    /// `start..end` widened to whole children of the innermost element that
    /// holds both; `None` when that would hold a block or leave the body.
    fn lift(&self, start: usize, end: usize) -> Option<Range<usize>> {
        let (from, to) = (self.path(start), self.path(end));
        let common = from.iter().find(|k| to.contains(k)).copied()?;
        let body = self.body?;
        if common != body && !self.path(self.elements[common].open.end).contains(&body) {
            return None;
        }
        let child_of = |path: &[usize]| {
            path.iter()
                .position(|&k| k == common)
                .and_then(|i| i.checked_sub(1))
                .map(|i| path[i])
        };
        let start = child_of(&from).map_or(start, |c| self.elements[c].open.start);
        let end = child_of(&to).map_or(end, |c| self.elements[c].close.end);
        // A span holds phrasing content only.
        let holds_block = self.elements.iter().any(|e| {
            e.block && e.open.start >= start && e.close.end <= end && e.close.end > e.open.start
        });
        (!holds_block && start < end).then_some(start..end)
    }
}

/// Whether the characters after a candidate match go on matching: three of
/// the next four found in order just after it (one may be the reader's own,
/// such as a heading's full stop).
fn confirmed(rest: &[(usize, char)], chars: &[Char], j: usize) -> bool {
    let rest = &rest[..rest.len().min(4)];
    let mut k = j + 1;
    let mut score = 0;
    for &(_, c) in rest {
        if let Some(d) = (k..chars.len().min(k + 4)).find(|&d| chars[d].c == c) {
            score += 1;
            k = d + 1;
        }
    }
    score * 4 >= rest.len() * 3
}

/// For each byte of `text`, the page character it was read from (`None`
/// for whitespace, and for what the reader added, such as the full stop
/// after a heading). Characters are matched in order, each within a short
/// look-ahead; after a run of misses (text the reader left out that the
/// page still has, such as a `data:` URI), the next few characters are
/// looked for further on.
fn align(text: &str, chars: &[Char]) -> Vec<Option<usize>> {
    const AHEAD: usize = 64;
    const RESYNC: usize = 8;
    let mut found = vec![None; text.len()];
    let wanted: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .collect();
    let mut next = 0;
    let mut misses = 0;
    let mut i = 0;
    while i < wanted.len() {
        let (at, c) = wanted[i];
        let window = chars.len().min(next + AHEAD);
        if let Some(j) =
            (next..window).find(|&j| chars[j].c == c && confirmed(&wanted[i + 1..], chars, j))
        {
            found[at] = Some(j);
            next = j + 1;
            misses = 0;
        } else {
            misses += 1;
            if misses >= 2 && i + RESYNC <= wanted.len() {
                // Look further on for the next few characters together.
                let run: Vec<char> = wanted[i..i + RESYNC].iter().map(|w| w.1).collect();
                let hit = (next..chars.len().saturating_sub(RESYNC - 1))
                    .find(|&j| run.iter().enumerate().all(|(d, &c)| chars[j + d].c == c));
                if let Some(j) = hit {
                    next = j;
                    misses = 0;
                    continue;
                }
            }
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks_of(text: &str, sentences: &[&str]) -> Vec<Mark> {
        let mut from = 0;
        sentences
            .iter()
            .map(|s| {
                let start = text[from..].find(s).unwrap() + from;
                from = start + s.len();
                Mark {
                    range: start..from,
                    words: Vec::new(),
                }
            })
            .collect()
    }

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>T</title></head>
<body><h1>The Start</h1>
<p>It was <i>a cold</i> day.<sup>1</sup> The clocks &amp; bells were <b>striking. Thirteen</b> times.</p>
<p>Last <a href="x.xhtml">one</a>.</p></body></html>"#;

    #[test]
    fn sentences_are_wrapped_where_they_stand_and_nothing_else_changes() {
        let text = "The Start.\n\nIt was a cold day. The clocks & bells were striking. Thirteen times.\n\nLast one.";
        let marks = marks_of(
            text,
            &[
                "The Start.",
                "It was a cold day.",
                "The clocks & bells were striking.",
                "Thirteen times.",
                "Last one.",
            ],
        );
        let m = mark(
            PAGE,
            text,
            &marks,
            "s",
            Some("../k.css"),
            ReadOptions::default(),
        )
        .unwrap();
        let x = &m.xhtml;
        assert!(
            x.contains(r#"<h1><span id="s1">The Start</span></h1>"#),
            "{x}"
        );
        assert!(
            x.contains(r#"<span id="s2">It was <i>a cold</i> day.</span><sup>1</sup>"#),
            "{x}"
        );
        // Two sentences inside one <b>: widened to it, and joined.
        assert!(
            x.contains(r#"<span id="s3">The clocks &amp; bells were <b>striking. Thirteen</b> times.</span>"#),
            "{x}"
        );
        assert_eq!(m.ids[2], m.ids[3]);
        assert!(
            x.contains(r#"<span id="s4">Last <a href="x.xhtml">one</a>.</span>"#),
            "{x}"
        );
        assert!(x.contains(r#"<body id="sbody">"#), "{x}");
        assert!(x.contains(r#"<link rel="stylesheet" type="text/css" href="../k.css"/>"#));
        // Take the additions out: the page as it was.
        let mut back = x.clone();
        for s in [
            r#"<span id="s1">"#,
            r#"<span id="s2">"#,
            r#"<span id="s3">"#,
            r#"<span id="s4">"#,
            "</span>",
            r#" id="sbody""#,
            "<link rel=\"stylesheet\" type=\"text/css\" href=\"../k.css\"/>\n",
        ] {
            back = back.replace(s, "");
        }
        assert_eq!(back, PAGE);
        // Well-formed still.
        let mut r = Reader::from_str(x);
        while !matches!(r.read_event().unwrap(), Event::Eof) {}
    }

    #[test]
    fn words_nest_inside_their_sentence() {
        let page =
            r#"<html><head></head><body id="b"><p>Hello <em>big</em> world.</p></body></html>"#;
        let text = "Hello big world.";
        let marks = vec![Mark {
            range: 0..16,
            words: vec![0..5, 6..9, 10..15],
        }];
        let m = mark(page, text, &marks, "k", None, ReadOptions::default()).unwrap();
        assert_eq!(m.body_id, "b");
        assert_eq!(
            m.xhtml,
            r#"<html><head></head><body id="b"><p><span id="k1"><span id="k2">Hello</span> <em><span id="k3">big</span></em> <span id="k4">world</span>.</span></p></body></html>"#
        );
        assert_eq!(m.word_ids[0].len(), 3);
    }

    #[test]
    fn text_the_reader_left_out_is_skipped_over() {
        let blob = "A".repeat(500);
        let page = format!(
            r#"<html><head></head><body><p>See data:image/png;base64,{blob} here. Then more.</p></body></html>"#
        );
        let text = "See here. Then more.";
        let marks = marks_of(text, &["See here.", "Then more."]);
        let m = mark(&page, text, &marks, "s", None, ReadOptions::default()).unwrap();
        assert!(m.ids.iter().all(Option::is_some), "{:?}", m.ids);
        assert!(
            m.xhtml.contains(r#"<span id="s2">Then more.</span>"#),
            "{}",
            m.xhtml
        );
    }
}
