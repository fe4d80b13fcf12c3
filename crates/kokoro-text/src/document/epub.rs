//! EPUB 2 and 3: chapters in spine order, titled from the table of contents
//! (EPUB 3 navigation document or EPUB 2 NCX), without the navigation document
//! and the cover. A content document the table of contents does not name
//! continues the chapter before it (books split into files by size).
//!
//! [`open`] also says which content documents make each chapter, and what
//! the package holds, for a writer that makes a new EPUB of the book (a
//! read-along book keeps its pages).

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{html, Chapter, Document, DocumentError, Metadata, ReadOptions, MAX_COVER};

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// Largest content document read (a bomb guard): 64 MiB.
pub const MAX_ENTRY: u64 = 64 << 20;
/// The most text all of a book's content documents may decompress to.
const MAX_TOTAL: u64 = 256 << 20;

/// An EPUB read: its chapters, its package, and the content documents
/// behind each chapter.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The chapters and what the book says of itself.
    pub document: Document,
    /// The package.
    pub package: Package,
    /// For each chapter of [`Opened::document`], in order, the content
    /// documents its text was read from.
    pub parts: Vec<Vec<Part>>,
}

/// A content document's share of a chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its path in the archive.
    pub path: String,
    /// Where its text lies in the chapter's text, in bytes.
    pub range: Range<usize>,
}

/// What the package file says.
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// The package file's path in the archive.
    pub path: String,
    /// Its `version` (`3.0`, `2.0`).
    pub version: String,
    /// The manifest, in order.
    pub items: Vec<Item>,
    /// The spine, in reading order.
    pub spine: Vec<SpineItem>,
    /// Path of the EPUB 3 navigation document.
    pub nav: Option<String>,
    /// Path of the EPUB 2 NCX.
    pub ncx: Option<String>,
    /// Path of the cover image.
    pub cover_image: Option<String>,
    /// Title, creators and language.
    pub metadata: Metadata,
}

/// One item of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its id.
    pub id: String,
    /// Its path in the archive.
    pub path: String,
    /// Its media type.
    pub media_type: String,
    /// Its properties (`nav`, `cover-image`...).
    pub properties: String,
}

/// One spine entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpineItem {
    /// The manifest item's id.
    pub id: String,
    /// Its path in the archive.
    pub path: String,
    /// The navigation document.
    pub nav: bool,
    /// A cover page.
    pub cover: bool,
    /// `linear="no"`: outside the reading order.
    pub linear: bool,
}

pub(crate) fn read(bytes: &[u8], opts: ReadOptions) -> Result<Document, DocumentError> {
    Ok(open(bytes, opts)?.document)
}

/// Reads an EPUB as [`super::read`] does, and says which content document
/// makes which part of each chapter.
pub fn open(bytes: &[u8], opts: ReadOptions) -> Result<Opened, DocumentError> {
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
    let package = Package::parse(&opf, &opf_path);
    if package.spine.is_empty() {
        return Err(DocumentError::Epub(
            "the package lists no content (empty spine)".into(),
        ));
    }
    let encrypted = encrypted_paths(&mut zip);
    let toc = package.toc(&mut zip);

    let mut doc = Document {
        metadata: package.metadata.clone(),
        ..Document::default()
    };
    if let Some(cover) = &package.cover_image {
        doc.metadata.cover = bounded_entry(&mut zip, cover, MAX_COVER).ok();
    }
    let mut parts: Vec<Vec<Part>> = Vec::new();
    let mut skipped_encrypted = 0;
    let mut total = 0u64;
    for item in package.spine.iter().filter(|i| i.linear) {
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
        let title = toc.get(&item.path);
        if let (None, Some(prev), Some(prev_parts)) =
            (title, doc.chapters.last_mut(), parts.last_mut())
        {
            if section.text.is_empty() {
                continue;
            }
            if !prev.text.is_empty() {
                prev.text.push_str("\n\n");
            }
            let start = prev.text.len();
            prev.text.push_str(&section.text);
            prev_parts.push(Part {
                path: item.path.clone(),
                range: start..prev.text.len(),
            });
            continue;
        }
        parts.push(vec![Part {
            path: item.path.clone(),
            range: 0..section.text.len(),
        }]);
        doc.chapters.push(Chapter {
            title: title.cloned().unwrap_or(section.title),
            text: section.text,
        });
    }
    if skipped_encrypted > 0 {
        if doc.chapters.iter().all(|c| c.text.trim().is_empty()) {
            return Err(DocumentError::Encrypted);
        }
        doc.warnings.push(format!(
            "{skipped_encrypted} encrypted (DRM) content document(s) skipped"
        ));
    }
    // Empty chapters are left out here, with their parts (the reader's
    // caller would leave them out too, and the two must stay in step).
    let before = doc.chapters.len();
    let kept: Vec<bool> = doc
        .chapters
        .iter()
        .map(|c| !c.text.trim().is_empty())
        .collect();
    let mut keep = kept.iter();
    parts.retain(|_| keep.next().copied().unwrap_or(false));
    doc.chapters.retain(|c| !c.text.trim().is_empty());
    if doc.chapters.len() < before {
        doc.warnings.push(format!(
            "{} empty chapter(s) skipped",
            before - doc.chapters.len()
        ));
    }
    Ok(Opened {
        document: doc,
        package,
        parts,
    })
}

impl Package {
    /// Reads the package file at `path` in the archive.
    pub fn parse(opf: &str, path: &str) -> Self {
        let base = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut items: Vec<Item> = Vec::new();
        let mut spine_ids: Vec<(String, bool)> = Vec::new();
        let mut toc_id = None;
        let mut cover_ids = HashSet::new();
        let mut cover_meta = None;
        let mut version = String::new();
        for (name, attrs) in elements(opf) {
            let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
            match name.as_str() {
                "package" => version = get("version"),
                "item" => items.push(Item {
                    id: get("id"),
                    path: resolve(base, &get("href")),
                    media_type: get("media-type"),
                    properties: get("properties"),
                }),
                "spine" => toc_id = attrs.get("toc").cloned(),
                "itemref" => spine_ids.push((get("idref"), get("linear") != "no")),
                "meta" if get("name") == "cover" => {
                    cover_meta = Some(get("content"));
                    cover_ids.insert(get("content"));
                }
                "reference" if get("type") == "cover" => {
                    cover_ids.insert(resolve(base, &get("href")));
                }
                _ => {}
            }
        }
        let by_id: HashMap<&str, &Item> = items.iter().map(|i| (i.id.as_str(), i)).collect();
        let has = |i: &Item, p: &str| i.properties.split_whitespace().any(|x| x == p);
        let nav = items.iter().find(|i| has(i, "nav")).map(|i| i.path.clone());
        let ncx = toc_id
            .and_then(|id| by_id.get(id.as_str()).copied())
            .or_else(|| {
                items
                    .iter()
                    .find(|i| i.media_type == "application/x-dtbncx+xml")
            })
            .map(|i| i.path.clone());
        let cover_image = items
            .iter()
            .find(|i| has(i, "cover-image"))
            .or_else(|| by_id.get(cover_meta.as_deref()?).copied())
            .filter(|i| i.media_type.starts_with("image/"))
            .map(|i| i.path.clone());
        let spine = spine_ids
            .into_iter()
            .filter_map(|(id, linear)| {
                let item = by_id.get(id.as_str())?;
                let lower = format!("{id} {}", item.path).to_lowercase();
                Some(SpineItem {
                    path: item.path.clone(),
                    nav: Some(&item.path) == nav.as_ref(),
                    cover: cover_ids.contains(&id)
                        || cover_ids.contains(&item.path)
                        || item.properties.contains("cover")
                        || lower.contains("cover"),
                    linear,
                    id,
                })
            })
            .collect();
        Package {
            path: path.to_string(),
            version,
            metadata: metadata(opf),
            items,
            spine,
            nav,
            ncx,
            cover_image,
        }
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

/// Title, creators and language from the package's `<metadata>`.
fn metadata(opf: &str) -> Metadata {
    let mut reader = Reader::from_str(opf);
    let (mut title, mut creators, mut language) = (None, Vec::new(), None);
    let mut field: Option<String> = None;
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let (name, _) = element(&e);
                if matches!(name.as_str(), "title" | "creator" | "language") {
                    field = Some(name);
                    text.clear();
                }
            }
            Ok(Event::Text(t)) if field.is_some() => {
                if let Ok(s) = t.decode() {
                    text.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) if field.is_some() => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Ok(name) = r.decode() {
                    if let Some(s) = quick_xml::escape::resolve_xml_entity(&name) {
                        text.push_str(s);
                    }
                }
            }
            Ok(Event::End(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if field.as_deref() == Some(name.as_str()) {
                    let value = super::collapse(&text);
                    if !value.is_empty() {
                        match name.as_str() {
                            "title" if title.is_none() => title = Some(value),
                            "creator" => creators.push(value),
                            "language" if language.is_none() => language = Some(value),
                            _ => {}
                        }
                    }
                    field = None;
                }
                if name == "metadata" {
                    break;
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    Metadata {
        title,
        author: (!creators.is_empty()).then(|| creators.join(", ")),
        language,
        cover: None,
    }
}

/// An entry's bytes, at most `max` of them.
fn bounded_entry(zip: &mut Archive<'_>, path: &str, max: u64) -> Result<Vec<u8>, String> {
    let file = zip.by_name(path).map_err(|e| e.to_string())?;
    if file.size() > max {
        return Err(format!("{path} is larger than {max} bytes"));
    }
    let mut bytes = Vec::with_capacity(file.size() as usize);
    file.take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A zip entry as text, bounded in size.
fn entry(zip: &mut Archive<'_>, path: &str) -> Result<String, String> {
    let size = zip.by_name(path).map_err(|e| e.to_string())?.size();
    if size > MAX_ENTRY {
        return Err(format!(
            "it decompresses to {size} bytes, over the bound of {MAX_ENTRY} bytes for one entry (a zip bomb?)"
        ));
    }
    let bytes = bounded_entry(zip, path, MAX_ENTRY)?;
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
pub fn ncx_points(xml: &str) -> Vec<(String, String)> {
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
pub fn resolve(base: &str, href: &str) -> String {
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
