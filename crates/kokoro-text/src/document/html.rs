//! HTML (and EPUB's XHTML) to readable text: scripts, styles, navigation and,
//! unless asked, code blocks are left out; blocks become paragraphs; headings
//! become chapters or paragraphs; footnote markers are not read.

use ego_tree::NodeRef;
use scraper::{Html, Node};

use std::borrow::Cow;

use super::{collapse, nesting, Builder, Chapter, Document, DocumentError, ReadOptions};

/// A web page: chapters at its top heading level when it has two or more of
/// them, else one chapter titled by its first heading or `<title>`.
pub(crate) fn read_page(html: &str, opts: ReadOptions) -> Result<Document, DocumentError> {
    let html = bounded(html, false, "html")?;
    let dom = Html::parse_document(&html);
    let level = chapter_level(&dom);
    let mut b = Builder::default();
    walk(dom.tree.root(), &mut b, opts, level);
    let warnings = std::mem::take(&mut b.warnings);
    let mut chapters = b.finish();
    if level.is_none() {
        if let Some(first) = chapters.first_mut() {
            if first.title.is_empty() {
                first.title = title_of(&dom);
            }
        }
    }
    let metadata = super::Metadata {
        title: Some(title_of(&dom)).filter(|t| !t.is_empty()),
        author: dom
            .tree
            .nodes()
            .find_map(|n| match n.value() {
                Node::Element(e) if e.name() == "meta" && e.attr("name") == Some("author") => {
                    e.attr("content").map(collapse)
                }
                _ => None,
            })
            .filter(|a| !a.is_empty()),
        language: dom.tree.nodes().find_map(|n| match n.value() {
            Node::Element(e) if e.name() == "html" => e.attr("lang").map(str::to_string),
            _ => None,
        }),
        cover: None,
    };
    Ok(Document {
        chapters,
        warnings,
        metadata,
    })
}

/// The page, checked against the nesting bound (see [`nesting`]) and, for
/// XHTML, with its self-closing elements written out.
fn bounded<'h>(
    html: &'h str,
    xhtml: bool,
    format: &'static str,
) -> Result<Cow<'h, str>, DocumentError> {
    nesting::prepare(html, xhtml).map_err(|passed| DocumentError::Bound {
        format,
        bound: passed.bound(),
        at: passed.at(),
    })
}

/// One EPUB content document: its text as one chapter, titled by its first heading.
pub(crate) fn read_section(
    html: &str,
    opts: ReadOptions,
) -> Result<(Chapter, Vec<String>), DocumentError> {
    let html = bounded(html, true, "epub")?;
    let dom = Html::parse_document(&html);
    let mut b = Builder::default();
    walk(dom.tree.root(), &mut b, opts, None);
    let warnings = std::mem::take(&mut b.warnings);
    let text = b
        .finish()
        .into_iter()
        .map(|c| c.text)
        .collect::<Vec<_>>()
        .join("\n\n");
    let title = first_heading(&dom).unwrap_or_else(|| title_of(&dom));
    Ok((Chapter { title, text }, warnings))
}

/// `h1` when the page has two or more, else `h2` when it has two or more.
fn chapter_level(dom: &Html) -> Option<u8> {
    let count = |name: &str| {
        dom.tree
            .nodes()
            .filter(|n| matches!(n.value(), Node::Element(e) if e.name() == name))
            .count()
    };
    if count("h1") >= 2 {
        Some(1)
    } else if count("h2") >= 2 {
        Some(2)
    } else {
        None
    }
}

pub(crate) fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn title_of(dom: &Html) -> String {
    dom.tree
        .nodes()
        .find(|n| matches!(n.value(), Node::Element(e) if e.name() == "title"))
        .map(|n| collapse(&text_of(n)))
        .unwrap_or_default()
}

fn first_heading(dom: &Html) -> Option<String> {
    dom.tree
        .nodes()
        .find(|n| matches!(n.value(), Node::Element(e) if heading_level(e.name()).is_some()))
        .map(|n| collapse(&text_of(n)))
        .filter(|t| !t.is_empty())
}

/// All the text under a node.
fn text_of(node: NodeRef<'_, Node>) -> String {
    node.descendants()
        .filter_map(|n| match n.value() {
            Node::Text(t) => Some(&**t),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

/// Elements never read.
pub(crate) const SKIPPED: &[&str] = &[
    "head", "script", "style", "noscript", "template", "svg", "math", "nav", "iframe", "object",
    "button", "select", "textarea", "canvas", "audio", "video",
];

/// Elements that are blocks: a paragraph break before and after.
pub(crate) const BLOCKS: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "main",
    "figure",
    "figcaption",
    "table",
    "tr",
    "hr",
    "address",
    "body",
    "caption",
    "center",
];

fn walk(node: NodeRef<'_, Node>, b: &mut Builder, opts: ReadOptions, level: Option<u8>) {
    for child in node.children() {
        match child.value() {
            Node::Text(t) => b.text(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIPPED.contains(&name) || e.attr("hidden").is_some() {
                    continue;
                }
                // EPUB 3 marks its table of contents and page lists as nav;
                // footnote markers ("¹", "[2]") are not read.
                let note = match name {
                    "sup" => is_note_marker(&text_of(child)),
                    "a" => {
                        e.attr("epub:type") == Some("noteref")
                            || (e.attr("href").is_some_and(|h| h.contains('#'))
                                && is_note_marker(&text_of(child)))
                    }
                    _ => false,
                };
                if note || e.attr("epub:type").is_some_and(|t| t.contains("pagebreak")) {
                    continue;
                }
                if name == "pre" && !opts.code_blocks {
                    b.block();
                    continue;
                }
                if let Some(l) = heading_level(name) {
                    let text = text_of(child);
                    if Some(l) == level {
                        b.chapter(&text);
                    } else {
                        b.heading(&text);
                    }
                    continue;
                }
                match name {
                    "br" => b.block(),
                    "td" | "th" => {
                        walk(child, b, opts, level);
                        b.text(" ");
                    }
                    "img" => {
                        if let Some(src) = e
                            .attr("src")
                            .filter(|s| s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")))
                        {
                            b.embedded(src);
                        }
                    }
                    _ if BLOCKS.contains(&name) || name == "pre" => {
                        b.block();
                        walk(child, b, opts, level);
                        b.block();
                    }
                    _ => walk(child, b, opts, level),
                }
            }
            _ => {}
        }
    }
}

/// "1", "[12]", "*", "†": what a footnote reference shows.
pub(crate) fn is_note_marker(text: &str) -> bool {
    let t = text.trim().trim_matches(['[', ']', '(', ')']);
    !t.is_empty()
        && t.chars().count() <= 4
        && t.chars().all(|c| c.is_ascii_digit() || "*†‡§".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_as_text_without_markup() {
        let html = r#"<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head>
<body><nav>Home | About</nav><h1>First</h1><p>Hello <b>bold</b> world&amp;more.<sup>1</sup></p>
<script>alert(1)</script><pre>code()</pre><h2>Sub</h2><ul><li>One</li><li>Two</li></ul>
<h1>Second</h1><p>Line<br>break</p></body></html>"#;
        let doc = read_page(html, ReadOptions::default()).unwrap();
        let got: Vec<(&str, &str)> = doc
            .chapters
            .iter()
            .map(|c| (c.title.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "First",
                    "First.\n\nHello bold world&more.\n\nSub.\n\nOne\n\nTwo"
                ),
                ("Second", "Second.\n\nLine\n\nbreak"),
            ]
        );
        let deep = "<div>".repeat(600) + "Hi." + &"</div>".repeat(600);
        let e = read_page(&deep, ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("elements nested more than 512 deep (at byte 2560)"),
            "{e}"
        );
        let with_code = read_page(html, ReadOptions { code_blocks: true }).unwrap();
        assert!(with_code.chapters[0].text.contains("code()"));
    }

    #[test]
    fn an_epub_page_break_marker_hides_no_words() {
        // XHTML's `<span .../>` is empty; read as HTML it would hold the rest
        // of the paragraph, and the marker's words would be skipped with it.
        let x = r#"<html><body><p>One <span epub:type="pagebreak" id="p2" title="2"/>two three.</p></body></html>"#;
        assert_eq!(
            read_section(x, ReadOptions::default()).unwrap().0.text,
            "One two three."
        );
    }
}
