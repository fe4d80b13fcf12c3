//! What an EPUB 2 needs to become an EPUB 3, and a source's package
//! document patched for its overlays: the HTML5 doctype, numeric character
//! references for named entities, references to pages renamed `.xhtml`, an
//! NCX without its DTD, `opf:` attributes and extra dates gone, one
//! `dcterms:modified`, the new items and `media-overlay` attributes.

use std::collections::HashMap;

use kokoro_text::document::epub;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

use crate::{Error, Result};

/// An XML document without its `<!DOCTYPE ...>` (an NCX's names a DTD,
/// which EPUB 3 refuses).
pub(super) fn without_doctype(xml: &str) -> String {
    match doctype(xml) {
        Some(r) => format!(
            "{}{}",
            &xml[..r.start],
            xml[r.end..].trim_start_matches(['\r', '\n'])
        ),
        None => xml.to_string(),
    }
}

fn doctype(xml: &str) -> Option<std::ops::Range<usize>> {
    let start = xml.find("<!DOCTYPE").or_else(|| xml.find("<!doctype"))?;
    let end = start + xml[start..].find('>')? + 1;
    Some(start..end)
}

/// An XHTML 1.1 page as EPUB 3 wants it: the HTML5 doctype, and named
/// entities (which only the old doctype defined) as numeric references.
pub(super) fn to_xhtml5(xhtml: &str) -> String {
    let with_doctype = match doctype(xhtml) {
        Some(r) => format!("{}<!DOCTYPE html>{}", &xhtml[..r.start], &xhtml[r.end..]),
        None => xhtml.to_string(),
    };
    let mut out = String::with_capacity(with_doctype.len());
    let mut rest = with_doctype.as_str();
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let name_len = tail
            .find(';')
            .filter(|&n| n > 0 && n <= 32 && tail[..n].chars().all(|c| c.is_ascii_alphanumeric()));
        match name_len {
            Some(n) if quick_xml::escape::resolve_xml_entity(&tail[..n]).is_none() => {
                match quick_xml::escape::resolve_html5_entity(&tail[..n]) {
                    Some(s) => {
                        for c in s.chars() {
                            out.push_str(&format!("&#{};", c as u32));
                        }
                    }
                    None => {
                        // Not an entity anyone defines: the ampersand, as text.
                        out.push_str("&amp;");
                        rest = tail;
                        continue;
                    }
                }
                rest = &tail[n + 1..];
                continue;
            }
            _ => out.push('&'),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// `href` and `src` values in a document at `dir` that point to a renamed
/// file, pointed at its new name.
pub(super) fn rewrite_refs(text: &str, dir: &str, renamed: &HashMap<String, String>) -> String {
    if renamed.is_empty() {
        return text.to_string();
    }
    let Ok(re) = regex::Regex::new(r##"(\b(?:href|src)=")([^"#]*)"##) else {
        return text.to_string();
    };
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let url = &c[2];
        let target = epub::resolve(dir, url);
        match renamed.get(&target) {
            Some(new) if !url.contains(':') => {
                let new_file = new.rsplit('/').next().unwrap_or(new);
                let old_file_at = url.rfind('/').map_or(0, |i| i + 1);
                format!("{}{}{}", &c[1], &url[..old_file_at], url_encode(new_file))
            }
            _ => c[0].to_string(),
        }
    })
    .into_owned()
}

/// What changes in the source's package document.
pub(super) struct OpfPatch<'a> {
    pub(super) epub2: bool,
    pub(super) opf_dir: &'a str,
    pub(super) renamed: &'a HashMap<String, String>,
    /// Manifest id of a page -> id of its overlay.
    pub(super) overlays: &'a HashMap<String, String>,
    /// The cover image's path, marked `cover-image` if it is not.
    pub(super) cover: Option<&'a str>,
    /// Metadata added (the old `dcterms:modified` goes).
    pub(super) metas: String,
    /// Items added.
    pub(super) items: String,
}

impl OpfPatch<'_> {
    pub(super) fn apply(&self, opf: &str) -> Result<String> {
        let fail = bad("the source EPUB's package document");
        let mut reader = Reader::from_str(opf);
        let mut writer = Writer::new(Vec::new());
        let mut skipping = 0usize;
        let mut in_metadata = false;
        let mut dates = 0;
        loop {
            let event = reader.read_event().map_err(|e| fail(&e))?;
            if skipping > 0 {
                match event {
                    Event::Start(_) => skipping += 1,
                    Event::End(_) => skipping -= 1,
                    Event::Eof => break,
                    _ => {}
                }
                continue;
            }
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let start = matches!(event, Event::Start(_));
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    let attr = |key: &str| {
                        e.attributes().flatten().find_map(|a| {
                            (a.key.as_ref() == key.as_bytes()).then(|| {
                                a.unescape_value()
                                    .map(|v| v.into_owned())
                                    .unwrap_or_default()
                            })
                        })
                    };
                    if name == "metadata" {
                        in_metadata = true;
                    }
                    let drop = in_metadata
                        && ((name == "meta"
                            && attr("property").as_deref() == Some("dcterms:modified"))
                            || (self.epub2 && name == "date" && {
                                dates += 1;
                                dates > 1
                            }));
                    if drop {
                        if start {
                            skipping = 1;
                        }
                        continue;
                    }
                    let changed = self.element(e, &name);
                    let out = if start {
                        Event::Start(changed)
                    } else {
                        Event::Empty(changed)
                    };
                    writer.write_event(out).map_err(|e| fail(&e))?;
                }
                Event::End(ref e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    if name == "metadata" {
                        in_metadata = false;
                        writer.get_mut().extend_from_slice(self.metas.as_bytes());
                    }
                    if name == "manifest" {
                        writer.get_mut().extend_from_slice(self.items.as_bytes());
                    }
                    writer.write_event(event.borrow()).map_err(|e| fail(&e))?;
                }
                Event::Eof => break,
                other => writer.write_event(other).map_err(|e| fail(&e))?,
            }
        }
        String::from_utf8(writer.into_inner()).map_err(|e| fail(&e))
    }

    /// An element of the package, as EPUB 3 wants it.
    fn element(&self, e: &BytesStart<'_>, name: &str) -> BytesStart<'static> {
        let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let mut attrs: Vec<(String, String)> = e
            .attributes()
            .flatten()
            .map(|a| {
                (
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    a.unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_default(),
                )
            })
            // EPUB 2's opf: attributes have no place in EPUB 3.
            .filter(|(k, _)| !(self.epub2 && k.starts_with("opf:")))
            .collect();
        let get = |attrs: &[(String, String)], key: &str| {
            attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        };
        let href = get(&attrs, "href");
        let path = href
            .as_deref()
            .map(|h| epub::resolve(self.opf_dir, h.split('#').next().unwrap_or(h)));
        for (key, value) in &mut attrs {
            match (name, key.as_str()) {
                ("package", "version") => *value = "3.0".into(),
                ("item" | "reference", "href") => {
                    if let Some(new) = path.as_ref().and_then(|p| self.renamed.get(p)) {
                        let mut v = relative(self.opf_dir, new);
                        if let Some((_, fragment)) = value.split_once('#') {
                            v.push('#');
                            v.push_str(fragment);
                        }
                        *value = v;
                    }
                }
                _ => {}
            }
        }
        if name == "item" {
            let is_cover = self.cover.is_some() && path.as_deref() == self.cover;
            match attrs.iter_mut().find(|(k, _)| k == "properties") {
                Some((_, v)) if is_cover && !v.split_whitespace().any(|p| p == "cover-image") => {
                    v.push_str(" cover-image")
                }
                None if is_cover => attrs.push(("properties".into(), "cover-image".into())),
                _ => {}
            }
            let overlay = get(&attrs, "id").and_then(|i| self.overlays.get(&i).cloned());
            if let Some(overlay) = overlay {
                attrs.push(("media-overlay".into(), overlay));
            }
        }
        let mut out = BytesStart::new(qname);
        for (k, v) in &attrs {
            out.push_attribute((k.as_str(), v.as_str()));
        }
        out
    }
}

pub(super) fn bad(what: &str) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Book(format!("{what}: {e}"))
}

/// `to` (an archive path) relative to the directory `from`, as a URL.
pub(super) fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count()
        .min(to_parts.len().saturating_sub(1));
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(to_parts[common..].iter().map(|p| url_encode(p)));
    parts.join("/")
}

pub(super) fn url_encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epub2_page_is_brought_to_epub3() {
        let page = "<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.1//EN\" \"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\">\n<html><body><p>A&nbsp;b &amp; c&mdash;d <a href=\"c2.html#x\">next</a> &bogus;</p></body></html>";
        let x = to_xhtml5(page);
        assert!(x.contains("<!DOCTYPE html>\n<html>"), "{x}");
        assert!(x.contains("A&#160;b &amp; c&#8212;d"), "{x}");
        assert!(x.contains("&amp;bogus;"), "{x}");
        let mut renamed = HashMap::new();
        renamed.insert("OPS/c2.html".to_string(), "OPS/c2.xhtml".to_string());
        let r = rewrite_refs(&x, "OPS", &renamed);
        assert!(r.contains("href=\"c2.xhtml#x\""), "{r}");
        assert_eq!(
            without_doctype("<?xml?>\n<!DOCTYPE ncx PUBLIC \"a\" \"b\">\n<ncx/>"),
            "<?xml?>\n<ncx/>"
        );
    }
}
