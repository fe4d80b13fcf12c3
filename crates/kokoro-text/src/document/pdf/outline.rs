//! The outline (bookmarks) of a PDF: its top-level entries and the pages they
//! go to, read without recursion and with every object visited once.
//!
//! lopdf's own reader follows `/First` by recursion and `/Next` without
//! remembering where it has been: an outline whose entry is its own child
//! overflowed the stack (the fuzzer found it), and one whose `/Next` loops
//! never ends.

use std::collections::{HashMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::{deref, dict_in};

/// The most outline entries read, and the deepest level: a book's outline
/// has some hundreds of entries a few levels deep.
pub(crate) const MAX_OUTLINE_ENTRIES: usize = 20_000;
pub(crate) const MAX_OUTLINE_DEPTH: usize = 32;
/// The most nodes of the named-destination tree visited.
const MAX_NAME_NODES: usize = 200_000;

/// Top-level outline entries as `(title, first page index)`, in page order,
/// at most one per page. "Top" is the shallowest level whose entries go to a
/// page of the document. Past a bound, the entries read so far are used.
pub(super) fn top_entries(pdf: &Document, pages: usize) -> Vec<(String, usize)> {
    let page_index: HashMap<ObjectId, usize> = pdf
        .get_pages()
        .into_iter()
        .map(|(n, id)| (id, n as usize - 1))
        .collect();
    let Ok(catalog) = pdf.catalog() else {
        return Vec::new();
    };
    let Some(root) = dict_in(pdf, catalog, b"Outlines") else {
        return Vec::new();
    };
    let mut names = NamedDestinations::new(pdf, catalog);
    let mut entries: Vec<(usize, String, usize)> = Vec::new();
    let mut visited: HashSet<ObjectId> = HashSet::new();
    let mut read = 0usize;
    // Each item is the first entry of a level's chain; its `/Next`s are
    // followed here, its children pushed.
    let mut chains: Vec<(&Object, usize)> = root
        .get(b"First")
        .ok()
        .map(|f| (f, 1))
        .into_iter()
        .collect();
    'chains: while let Some((first, level)) = chains.pop() {
        let mut node = Some(first);
        while let Some(object) = node {
            let Some(dict) = visit(pdf, object, &mut visited) else {
                break;
            };
            read += 1;
            if read > MAX_OUTLINE_ENTRIES {
                break 'chains;
            }
            if let Some(page) = destination(pdf, dict, &mut names)
                .and_then(|page| page_index.get(&page))
                .filter(|&&p| p < pages)
            {
                entries.push((level, title(pdf, dict), *page));
            }
            if level < MAX_OUTLINE_DEPTH {
                if let Ok(child) = dict.get(b"First") {
                    chains.push((child, level + 1));
                }
            }
            node = dict.get(b"Next").ok();
        }
    }
    let Some(top) = entries.iter().map(|e| e.0).min() else {
        return Vec::new();
    };
    // The top level's chain is read whole before any child (the chains are a
    // stack): its entries keep their order, and the sort is stable.
    let mut out: Vec<(String, usize)> = entries
        .into_iter()
        .filter(|e| e.0 == top)
        .map(|(_, title, page)| (super::super::collapse(&title), page))
        .collect();
    out.sort_by_key(|o| o.1);
    out.dedup_by_key(|o| o.1);
    out
}

/// The dictionary `object` is, or names the first time a reference to it is
/// followed; `None` after that, or when it is no dictionary.
fn visit<'a>(
    pdf: &'a Document,
    object: &'a Object,
    visited: &mut HashSet<ObjectId>,
) -> Option<&'a Dictionary> {
    match object {
        Object::Reference(id) => {
            if !visited.insert(*id) {
                return None;
            }
            pdf.get_dictionary(*id).ok()
        }
        Object::Dictionary(d) => Some(d),
        _ => None,
    }
}

/// An entry's title: a text string (UTF-16 or UTF-8 with a byte-order mark,
/// else PDFDocEncoding).
fn title(pdf: &Document, entry: &Dictionary) -> String {
    let Some(object) = deref(pdf, entry.get(b"Title").ok()) else {
        return String::new();
    };
    lopdf::decode_text_string(object).unwrap_or_else(|_| {
        object
            .as_str()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default()
    })
}

/// The page an entry goes to: its `/Dest`, or its `/A`ction's when that is a
/// go-to in this document.
fn destination(
    pdf: &Document,
    entry: &Dictionary,
    names: &mut NamedDestinations,
) -> Option<ObjectId> {
    let dest = match deref(pdf, entry.get(b"Dest").ok()) {
        Some(d) => d,
        None => {
            let action = dict_in(pdf, entry, b"A")?;
            if action.get(b"S").and_then(Object::as_name).ok()? != b"GoTo" {
                return None;
            }
            deref(pdf, action.get(b"D").ok())?
        }
    };
    match dest {
        Object::Array(a) => a.first()?.as_reference().ok(),
        Object::Name(key) | Object::String(key, _) => names.page(key),
        _ => None,
    }
}

/// The document's named destinations, read on first use: the catalog's
/// `/Dests` dictionary (PDF 1.1) and the `/Dests` name tree, each node once.
struct NamedDestinations<'a> {
    pdf: &'a Document,
    catalog: &'a Dictionary,
    pages: Option<HashMap<Vec<u8>, ObjectId>>,
}

impl<'a> NamedDestinations<'a> {
    fn new(pdf: &'a Document, catalog: &'a Dictionary) -> Self {
        Self {
            pdf,
            catalog,
            pages: None,
        }
    }

    fn page(&mut self, key: &[u8]) -> Option<ObjectId> {
        self.pages
            .get_or_insert_with(|| read_names(self.pdf, self.catalog))
            .get(key)
            .copied()
    }
}

/// Every named destination that goes to a page, by name.
fn read_names(pdf: &Document, catalog: &Dictionary) -> HashMap<Vec<u8>, ObjectId> {
    let page_of = |value: Option<&Object>| -> Option<ObjectId> {
        let value = deref(pdf, value)?;
        let array = match value {
            Object::Dictionary(d) => deref(pdf, d.get(b"D").ok())?,
            other => other,
        };
        array.as_array().ok()?.first()?.as_reference().ok()
    };
    let mut out = HashMap::new();
    if let Some(Object::Dictionary(dests)) = deref(pdf, catalog.get(b"Dests").ok()) {
        for (key, value) in dests.iter() {
            if let Some(page) = page_of(Some(value)) {
                out.insert(key.clone(), page);
            }
        }
    }
    let tree = dict_in(pdf, catalog, b"Names").and_then(|n| deref(pdf, n.get(b"Dests").ok()));
    let mut stack: Vec<&Object> = tree.into_iter().collect();
    let mut visited: HashSet<ObjectId> = HashSet::new();
    let mut nodes = 0usize;
    while let Some(node) = stack.pop() {
        nodes += 1;
        if nodes > MAX_NAME_NODES {
            break;
        }
        let Some(node) = visit(pdf, node, &mut visited) else {
            continue;
        };
        if let Some(kids) = deref(pdf, node.get(b"Kids").ok()).and_then(|k| k.as_array().ok()) {
            stack.extend(kids.iter());
        }
        if let Some(pairs) = deref(pdf, node.get(b"Names").ok()).and_then(|n| n.as_array().ok()) {
            for pair in pairs.chunks_exact(2) {
                if let (Ok(key), Some(page)) = (pair[0].as_str(), page_of(Some(&pair[1]))) {
                    out.entry(key.to_vec()).or_insert(page);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{pdf_of, read, text_stream};

    #[test]
    fn an_outline_that_loops_is_read_once() {
        // "One" is its own child, the top level's `/Next`s loop, and the
        // name tree holds itself: lopdf's reader overflowed its stack on the
        // first (the fuzzer's crash) and never ended on the second.
        let page = |contents: usize| {
            format!(
                "<< /Type /Page /Parent 2 0 R /Contents {contents} 0 R /MediaBox [0 0 612 792] \
                 /Resources << /Font << /F1 7 0 R >> >> >>"
            )
        };
        let pdf = pdf_of(&[
            "<< /Type /Catalog /Pages 2 0 R /Outlines 8 0 R /Names << /Dests 11 0 R >> >>",
            "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
            &page(5),
            &page(6),
            &text_stream("The first chapter."),
            &text_stream("The second chapter."),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            "<< /Type /Outlines /First 9 0 R >>",
            "<< /Title (One) /Dest [3 0 R /Fit] /First 9 0 R /Next 10 0 R >>",
            "<< /Title <FEFF00540077006F> /A << /S /GoTo /D (second) >> /Next 9 0 R >>",
            "<< /Kids [12 0 R 11 0 R] >>",
            "<< /Names [(second) [4 0 R /Fit]] >>",
        ]);
        let doc = read(&pdf).unwrap();
        let chapters: Vec<(&str, &str)> = doc
            .chapters
            .iter()
            .map(|c| (c.title.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            chapters,
            [
                ("One", "The first chapter."),
                ("Two", "The second chapter.")
            ]
        );
    }
}
