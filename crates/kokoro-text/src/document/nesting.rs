//! A bound on HTML nesting, checked in one linear pass before the HTML parser
//! sees the page. The parser (html5ever) scans its stack of open elements for
//! most start tags, so its time grows with depth times size: `<div>` nested
//! 200,000 deep held it for more than a minute, and the tree it built
//! overflowed the stack of a recursive walk. Real pages and books nest a few
//! dozen elements deep; past [`MAX_DEPTH`] a page is refused, naming the bound.
//!
//! The pass follows the parser's stack closely enough to bound it: void
//! elements never open, an `<a>` closes the one before it, a `<p>`, `<li>`,
//! `<dt>`, `<dd>` or table cell closes its open sibling, a block closes an open
//! `<p>`, an end tag pops to its element or is ignored when none is open (as
//! the parser does), and raw text (`<script>`, `<style>`, comments) is skipped.
//! In XHTML (EPUB) a self-closing `<span/>` is empty, but an HTML parser would
//! leave it open around the rest of the section: [`prepare`] writes it as
//! `<span></span>`, so that the parser reads what the book means.

use std::borrow::Cow;
use std::collections::HashMap;

/// The deepest nesting of elements read, counting the formatting elements
/// the parser keeps to reopen (`<b>`, `<i>`, `<font>`... left open when a
/// paragraph closed).
pub const MAX_DEPTH: usize = 512;

/// The most attributes on one element: the parser compares each with those
/// before it.
pub const MAX_ATTRIBUTES: usize = 256;

/// Which bound a page passed, and where (bytes from its start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    /// [`MAX_DEPTH`].
    Depth(usize),
    /// [`MAX_ATTRIBUTES`].
    Attributes(usize),
}

impl Passed {
    /// The bound, in words.
    pub fn bound(self) -> String {
        match self {
            Passed::Depth(_) => format!("elements nested more than {MAX_DEPTH} deep"),
            Passed::Attributes(_) => {
                format!("more than {MAX_ATTRIBUTES} attributes on one element")
            }
        }
    }

    /// Where it was passed.
    pub fn at(self) -> usize {
        match self {
            Passed::Depth(at) | Passed::Attributes(at) => at,
        }
    }
}

/// Formatting elements: the parser keeps them in a list and reopens them
/// after a block closed them, until their end tag.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// Elements that put a marker in that list: what is opened inside them is
/// forgotten when they close.
const MARKERS: &[&str] = &[
    "td", "th", "caption", "applet", "marquee", "object", "template",
];

/// A marker in the list of formatting elements.
const MARKER: &str = "";

/// Elements that never hold anything.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "keygen", "frame", "basefont", "bgsound",
];

/// Elements whose content is raw text, up to their end tag.
const RAW: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "plaintext",
];

/// Start tags that close an open `<p>` first.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "ul",
    "li",
    "dd",
    "dt",
];

/// The page's deepest nesting is within [`MAX_DEPTH`]: the page, with XHTML's
/// self-closing elements written out when `xhtml`; else the byte offset where
/// the bound was passed.
pub fn prepare(html: &str, xhtml: bool) -> Result<Cow<'_, str>, Passed> {
    let bytes = html.as_bytes();
    let mut stack: Vec<String> = Vec::new();
    // The formatting list: (name, the whole tag), markers as MARKER.
    let mut formatting: Vec<(String, String)> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut rewritten: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(at) = find(bytes, i, b"<") {
        let mut j = at + 1;
        if bytes[j..].starts_with(b"!--") {
            i = find(bytes, j + 3, b"-->").map_or(bytes.len(), |e| e + 3);
            continue;
        }
        if matches!(bytes.get(j), Some(b'!' | b'?')) {
            i = find(bytes, j, b">").map_or(bytes.len(), |e| e + 1);
            continue;
        }
        let closing = bytes.get(j) == Some(&b'/');
        if closing {
            j += 1;
        }
        let name_start = j;
        while j < bytes.len()
            && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'-' | b':'))
        {
            j += 1;
        }
        if j == name_start || !bytes[name_start].is_ascii_alphabetic() {
            i = at + 1; // a `<` in text
            continue;
        }
        let name = html[name_start..j].to_ascii_lowercase();
        // The tag's end: the first `>` outside quotes.
        let mut quote = None;
        let (mut words, mut in_word) = (0, false);
        while j < bytes.len() {
            match (quote, bytes[j]) {
                (None, b'>') => break,
                (None, q @ (b'"' | b'\'')) => quote = Some(q),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_ascii_whitespace() => in_word = false,
                (None, _) if !in_word => {
                    in_word = true;
                    words += 1;
                    if words > MAX_ATTRIBUTES {
                        return Err(Passed::Attributes(at));
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let end = j.min(bytes.len());
        i = (end + 1).min(bytes.len());
        let self_closing = end > 0 && bytes[end - 1] == b'/' && !closing;
        if closing {
            if FORMATTING.contains(&name.as_str()) {
                forget(&mut formatting, &name);
            }
            pop_to(&mut stack, &mut open, &mut formatting, &name);
            continue;
        }
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if xhtml && self_closing {
            // `<span id="p12"/>` → `<span id="p12"></span>`.
            let out = rewritten.get_or_insert_with(|| String::with_capacity(html.len() + 64));
            out.push_str(&html[copied..end - 1]);
            out.push_str("></");
            out.push_str(&html[name_start..name_start + name.len()]);
            out.push('>');
            copied = i;
            continue;
        }
        if RAW.contains(&name.as_str()) {
            let lower_end = format!("</{name}");
            i = find_ascii_ci(bytes, i, lower_end.as_bytes()).unwrap_or(bytes.len());
            continue;
        }
        // What this start tag closes first.
        let closes: &[&str] = match name.as_str() {
            "a" => &["a"],
            "li" => &["li"],
            "dt" | "dd" => &["dt", "dd"],
            "td" | "th" => &["td", "th"],
            "tr" => &["tr", "td", "th"],
            "option" => &["option"],
            _ => &[],
        };
        for &c in closes
            .iter()
            .chain(CLOSES_P.contains(&name.as_str()).then_some(&"p"))
        {
            pop_to(&mut stack, &mut open, &mut formatting, c);
        }
        if name == "a" {
            forget(&mut formatting, "a");
        }
        if FORMATTING.contains(&name.as_str()) {
            // At most three alike after the last marker (the parser's rule).
            let tag = &html[name_start..end];
            let alike: Vec<usize> = formatting
                .iter()
                .enumerate()
                .rev()
                .take_while(|(_, (n, _))| n != MARKER)
                .filter(|(_, (_, t))| t == tag)
                .map(|(k, _)| k)
                .collect();
            if alike.len() >= 3 {
                formatting.remove(alike[alike.len() - 1]);
            }
            formatting.push((name.clone(), tag.to_string()));
        }
        if MARKERS.contains(&name.as_str()) {
            formatting.push((MARKER.to_string(), String::new()));
        }
        *open.entry(name.clone()).or_default() += 1;
        stack.push(name);
        if stack.len() + formatting.len() > MAX_DEPTH {
            return Err(Passed::Depth(at));
        }
    }
    Ok(match rewritten {
        Some(mut out) => {
            out.push_str(&html[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(html),
    })
}

/// Pops the stack down to the innermost open `name`, if one is open (an end
/// tag with nothing to close is ignored, as the parser ignores it); a marker
/// element popped takes the formatting opened inside it along.
fn pop_to(
    stack: &mut Vec<String>,
    open: &mut HashMap<String, usize>,
    formatting: &mut Vec<(String, String)>,
    name: &str,
) {
    if open.get(name).is_none_or(|&n| n == 0) {
        return;
    }
    while let Some(top) = stack.pop() {
        if let Some(n) = open.get_mut(&top) {
            *n = n.saturating_sub(1);
        }
        if MARKERS.contains(&top.as_str()) {
            if let Some(m) = formatting.iter().rposition(|(n, _)| n == MARKER) {
                formatting.truncate(m);
            }
        }
        if top == name {
            break;
        }
    }
}

/// The end of the latest `name` in the formatting list, after its last marker.
fn forget(formatting: &mut Vec<(String, String)>, name: &str) {
    let found = formatting
        .iter()
        .rposition(|(n, _)| n == name || n == MARKER)
        .filter(|&k| formatting[k].0 == name);
    if let Some(k) = found {
        formatting.remove(k);
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_ascii_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(html: &str) -> bool {
        prepare(html, false).is_ok()
    }

    #[test]
    fn deep_nesting_is_refused_where_it_passes_the_bound() {
        let deep = |n: usize| "<div>".repeat(n) + "Hi." + &"</div>".repeat(n);
        assert!(depth_ok(&deep(MAX_DEPTH)));
        assert_eq!(
            prepare(&deep(MAX_DEPTH + 1), false),
            Err(Passed::Depth(5 * MAX_DEPTH))
        );
        // Closed siblings do not add up, however many.
        assert!(depth_ok(&"<div><span>x</span></div>".repeat(10_000)));
        // An end tag with nothing open is ignored, as the parser ignores it.
        let sneaky = "<div></span>".repeat(MAX_DEPTH + 1);
        assert!(!depth_ok(&sneaky));
    }

    #[test]
    fn what_the_parser_closes_is_closed_here_too() {
        // Unclosed paragraphs, list items, cells and links: flat, as parsed.
        for sloppy in [
            "<p>para",
            "<li>item",
            "<td>cell",
            "<a href=x>link",
            "<dd>x<dt>y",
        ] {
            assert!(depth_ok(&sloppy.repeat(5_000)), "{sloppy}");
        }
        // A paragraph's unclosed inline elements go with it.
        assert!(depth_ok(&"<p><font face=x>old style".repeat(5_000)));
        // Void elements, comments, raw text and quoted `>` hold nothing open.
        let mixed =
            "<br><img src='a>b'><!-- <div> --><script>if (a<b) { '<div>' }</script>".repeat(5_000);
        assert!(depth_ok(&mixed));
        assert!(depth_ok(&"<SCRIPT>'<div>'</Script>".repeat(5_000)));
    }

    #[test]
    fn formatting_the_parser_reopens_counts_until_its_end_tag() {
        // Each paragraph closes its <b>, but the parser reopens every one of
        // them in the next: a tree as deep as the page is long.
        let reopened: String = (0..MAX_DEPTH)
            .map(|k| format!("<p><b class=c{k}>x"))
            .collect();
        assert!(matches!(prepare(&reopened, false), Err(Passed::Depth(_))));
        // Alike, it keeps three; closed, none; closed with their cell, none.
        assert!(depth_ok(&"<p><b>x".repeat(5_000)));
        assert!(depth_ok(
            &(0..5_000)
                .map(|k| format!("<p><b class=c{k}>x</b>"))
                .collect::<String>()
        ));
        assert!(depth_ok(
            &(0..5_000)
                .map(|k| format!("<table><tr><td><font color=c{k}>x</td></tr></table>"))
                .collect::<String>()
        ));
    }

    #[test]
    fn too_many_attributes_are_refused() {
        let attrs = |n: usize| {
            format!(
                "<div {}>x</div>",
                (0..n)
                    .map(|k| format!("a{k}=\"1 2\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        assert!(depth_ok(&attrs(MAX_ATTRIBUTES)));
        assert_eq!(
            prepare(&attrs(MAX_ATTRIBUTES + 1), false),
            Err(Passed::Attributes(0))
        );
    }

    #[test]
    fn xhtml_self_closing_elements_are_written_out_empty() {
        let x =
            r#"<p>One <span epub:type="pagebreak" id="p2" title="2"/>two <a id="x"/>three.</p>"#;
        assert_eq!(
            prepare(x, true).unwrap(),
            r#"<p>One <span epub:type="pagebreak" id="p2" title="2"></span>two <a id="x"></a>three.</p>"#
        );
        // Many of them nest nothing.
        assert!(prepare(&"<span id='p'/>text ".repeat(5_000), true).is_ok());
        // An HTML page's `<span/>` is open, as a browser reads it.
        assert!(prepare(&"<span/>text ".repeat(MAX_DEPTH + 1), false).is_err());
        assert!(matches!(
            prepare("<p>plain</p>", true),
            Ok(Cow::Borrowed(_))
        ));
    }
}
