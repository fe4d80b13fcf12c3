//! EPUB 2 and 3: chapters in spine order, titled from the table of contents
//! (EPUB 3 navigation document or EPUB 2 NCX), without the navigation document
//! and the cover. A content document the table of contents does not name
//! continues the chapter before it (books split into files by size).

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{html, Chapter, Document, DocumentError, ReadOptions};

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// Largest content document read (a bomb guard): 64 MiB.
const MAX_ENTRY: u64 = 64 << 20;
/// The most text all of a book's content documents may decompress to.
const MAX_TOTAL: u64 = 256 << 20;

pub(crate) fn read(bytes: &[u8], opts: ReadOptions) -> Result<Document, DocumentError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| DocumentError::Epub(format!("not a zip archive ({e})")))?;
    let container = entry(&mut zip, "META-INF/container.xml").map_err(|_| {
        DocumentError::Epub("a zip archive, but not an EPUB: no META-INF/container.xml".into())
    })?;
    let opf_path = elements(&container)
        .into_iter()
        .find(|(name, _)| name == "rootfile")
        .and_then(|(_, attrs)| attrs.get("full-path").cloned())
        .ok_or_else(|| DocumentError::Epub("container.xml names no package file".into()))?;
    let opf = entry(&mut zip, &opf_path)
        .map_err(|e| DocumentError::Epub(format!("cannot read {opf_path}: {e}")))?;
    let base = opf_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let package = Package::parse(&opf, base);
    if package.spine.is_empty() {
        return Err(DocumentError::Epub(
            "the package lists no content (empty spine)".into(),
        ));
    }
    let encrypted = encrypted_paths(&mut zip);
    let toc = package.toc(&mut zip);

    let mut doc = Document::default();
    let mut skipped_encrypted = 0;
    let mut total = 0u64;
    for item in &package.spine {
        if item.nav || encrypted.contains(&item.path) {
            skipped_encrypted += usize::from(!item.nav);
            continue;
        }
        let xhtml = match entry(&mut zip, &item.path) {
            Ok(x) if total + x.len() as u64 > MAX_TOTAL => {
                doc.warnings.push(format!(
                    "{} and the rest of the book are not read: the content decompresses to more than the bound of {MAX_TOTAL} bytes",
                    item.path
                ));
                break;
            }
            Ok(x) => {
                total += x.len() as u64;
                x
            }
            Err(e) => {
                doc.warnings
                    .push(format!("{}: cannot be read ({e}); skipped", item.path));
                continue;
            }
        };
        let section = match html::read_section(&xhtml, opts) {
            Ok((s, warnings)) => {
                doc.warnings
                    .extend(warnings.into_iter().map(|w| format!("{}: {w}", item.path)));
                s
            }
            Err(e) => {
                doc.warnings
                    .push(format!("{}: cannot be read ({e}); skipped", item.path));
                continue;
            }
        };
        let words = section.text.split_whitespace().count();
        if item.cover && words < 30 {
            continue;
        }
        match toc.get(&item.path) {
            Some(title) => doc.chapters.push(Chapter {
                title: title.clone(),
                text: section.text,
            }),
            None => match doc.chapters.last_mut() {
                Some(prev) if !section.text.is_empty() => {
                    if !prev.text.is_empty() {
                        prev.text.push_str("\n\n");
                    }
                    prev.text.push_str(&section.text);
                }
                Some(_) => {}
                None => doc.chapters.push(section),
            },
        }
    }
    if skipped_encrypted > 0 {
        if doc.chapters.iter().all(|c| c.text.trim().is_empty()) {
            return Err(DocumentError::Encrypted);
        }
        doc.warnings.push(format!(
            "{skipped_encrypted} encrypted (DRM) content document(s) skipped"
        ));
    }
    Ok(doc)
}

/// One spine entry.
#[derive(Debug)]
struct SpineItem {
    path: String,
    nav: bool,
    cover: bool,
}

/// What the package file says.
#[derive(Debug, Default)]
struct Package {
    spine: Vec<SpineItem>,
    /// Path of the EPUB 3 navigation document.
    nav: Option<String>,
    /// Path of the EPUB 2 NCX.
    ncx: Option<String>,
}

impl Package {
    fn parse(opf: &str, base: &str) -> Self {
        let mut manifest: HashMap<String, (String, String, String)> = HashMap::new();
        let mut spine_ids = Vec::new();
        let mut toc_id = None;
        let mut cover_ids = HashSet::new();
        for (name, attrs) in elements(opf) {
            let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
            match name.as_str() {
                "item" => {
                    manifest.insert(
                        get("id"),
                        (
                            resolve(base, &get("href")),
                            get("media-type"),
                            get("properties"),
                        ),
                    );
                }
                "spine" => toc_id = attrs.get("toc").cloned(),
                "itemref" if get("linear") != "no" => spine_ids.push(get("idref")),
                "meta" if get("name") == "cover" => {
                    cover_ids.insert(get("content"));
                }
                "reference" if get("type") == "cover" => {
                    cover_ids.insert(resolve(base, &get("href")));
                }
                _ => {}
            }
        }
        let nav = manifest
            .values()
            .find(|(_, _, props)| props.split_whitespace().any(|p| p == "nav"))
            .map(|(path, _, _)| path.clone());
        let ncx = toc_id
            .and_then(|id| manifest.get(&id))
            .or_else(|| {
                manifest
                    .values()
                    .find(|(_, media, _)| media == "application/x-dtbncx+xml")
            })
            .map(|(path, _, _)| path.clone());
        let spine = spine_ids
            .into_iter()
            .filter_map(|id| {
                let (path, _, props) = manifest.get(&id)?;
                let lower = format!("{id} {path}").to_lowercase();
                Some(SpineItem {
                    path: path.clone(),
                    nav: Some(path) == nav.as_ref(),
                    cover: cover_ids.contains(&id)
                        || cover_ids.contains(path)
                        || props.contains("cover")
                        || lower.contains("cover"),
                })
            })
            .collect();
        Package { spine, nav, ncx }
    }

    /// Titles by content document, the first entry naming each document.
    fn toc(&self, zip: &mut Archive<'_>) -> HashMap<String, String> {
        let mut toc = HashMap::new();
        if let Some(nav) = self.nav.as_ref() {
            if let Ok(xhtml) = entry(zip, nav) {
                let base = nav.rsplit_once('/').map_or("", |(d, _)| d);
                for (href, title) in nav_links(&xhtml) {
                    toc.entry(resolve(base, &href)).or_insert(title);
                }
            }
        }
        if toc.is_empty() {
            if let Some(ncx) = self.ncx.as_ref() {
                if let Ok(xml) = entry(zip, ncx) {
                    let base = ncx.rsplit_once('/').map_or("", |(d, _)| d);
                    for (href, title) in ncx_points(&xml) {
                        toc.entry(resolve(base, &href)).or_insert(title);
                    }
                }
            }
        }
        toc
    }
}

/// A zip entry as text, bounded in size.
fn entry(zip: &mut Archive<'_>, path: &str) -> Result<String, String> {
    let file = zip.by_name(path).map_err(|e| e.to_string())?;
    if file.size() > MAX_ENTRY {
        return Err(format!(
            "it decompresses to {} bytes, over the bound of {MAX_ENTRY} bytes for one entry (a zip bomb?)",
            file.size()
        ));
    }
    let mut bytes = Vec::with_capacity(file.size() as usize);
    file.take(MAX_ENTRY)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Content files that META-INF/encryption.xml lists (fonts obfuscated by the
/// IDPF algorithm are not content, and do not count).
fn encrypted_paths(zip: &mut Archive<'_>) -> HashSet<String> {
    let Ok(xml) = entry(zip, "META-INF/encryption.xml") else {
        return HashSet::new();
    };
    elements(&xml)
        .into_iter()
        .filter(|(name, _)| name == "CipherReference")
        .filter_map(|(_, attrs)| attrs.get("URI").map(|u| resolve("", u)))
        .filter(|p| {
            let lower = p.to_lowercase();
            !(lower.ends_with(".ttf") || lower.ends_with(".otf") || lower.ends_with(".woff"))
        })
        .collect()
}

/// `(local name, attributes by local name)` of every element, in order.
fn elements(xml: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => out.push(element(&e)),
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

fn element(e: &BytesStart<'_>) -> (String, HashMap<String, String>) {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let attrs = e
        .attributes()
        .flatten()
        .map(|a| {
            let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            let value = a
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
            (key, value)
        })
        .collect();
    (name, attrs)
}

/// Links of an EPUB 3 navigation document's table of contents.
fn nav_links(xhtml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xhtml);
    let mut out = Vec::new();
    let mut in_toc = false;
    let mut depth = 0usize;
    let mut link: Option<(String, String)> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let (name, attrs) = element(&e);
                if name == "nav" {
                    in_toc = attrs.get("type").is_none_or(|t| t.contains("toc"));
                    depth = 0;
                }
                depth += 1;
                if in_toc && name == "a" {
                    link = attrs.get("href").map(|h| (h.clone(), String::new()));
                }
            }
            Ok(Event::Text(t)) => {
                if let Some((_, title)) = link.as_mut() {
                    if let Ok(s) = t.decode() {
                        title.push_str(&s);
                    }
                }
            }
            Ok(Event::End(e)) => {
                depth = depth.saturating_sub(1);
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "a" {
                    if let Some((href, title)) = link.take() {
                        out.push((href, super::collapse(&title)));
                    }
                }
                if name == "nav" {
                    in_toc = false;
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

/// `(src, label)` of an EPUB 2 NCX's navigation points, in document order.
fn ncx_points(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut label = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let (name, _) = element(&e);
                if name == "navPoint" {
                    label.clear();
                }
                in_text = name == "text";
            }
            Ok(Event::Text(t)) if in_text => {
                if let Ok(s) = t.decode() {
                    label.push_str(&s);
                }
            }
            Ok(Event::End(_)) => in_text = false,
            Ok(Event::Empty(e)) => {
                let (name, attrs) = element(&e);
                if name == "content" {
                    if let Some(src) = attrs.get("src") {
                        out.push((src.clone(), super::collapse(&label)));
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

/// `href` (percent-encoded, maybe with a fragment) relative to the directory
/// `base` of the archive, as an archive path.
fn resolve(base: &str, href: &str) -> String {
    let href = href.split('#').next().unwrap_or("");
    let decoded = percent_decode(href);
    let mut parts: Vec<&str> = if decoded.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_resolve_against_the_package_directory() {
        assert_eq!(
            resolve("OEBPS", "text/ch%201.xhtml#p3"),
            "OEBPS/text/ch 1.xhtml"
        );
        assert_eq!(
            resolve("OEBPS/text", "../images/a.png"),
            "OEBPS/images/a.png"
        );
        assert_eq!(resolve("", "ch1.xhtml"), "ch1.xhtml");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
