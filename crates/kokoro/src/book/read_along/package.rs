//! The EPUB package of a read-along book: the container, the package
//! document, the navigation document, the overlays, the audio and the pages,
//! zipped as EPUB wants (`mimetype` first and stored) and written whole.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

use kokoro_audio::{Dest, Format};
use kokoro_text::document::epub::{self, Opened};
use kokoro_text::document::marks::{mark, Mark};
use kokoro_text::document::ReadOptions;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::convert::{
    bad, relative, rewrite_refs, to_xhtml5, url_encode, without_doctype, OpfPatch,
};
use super::pages::{escape, page, Ids, ACTIVE_CLASS, STYLESHEET};
use super::{Clip, Spoken};
use crate::book::{Book, BookOptions};
use crate::{Error, Result};

/// Writes the book to `path`, whole or not at all.
pub(super) fn write(
    book: &Book,
    options: &BookOptions,
    format: Format,
    parts: &Path,
    spoken: &[Spoken],
    path: &Path,
) -> Result<()> {
    let mut zip = Zip::new()?;
    let lang = book
        .language
        .clone()
        .or_else(|| options.speak.lang.map(|l| l.code().to_string()))
        .unwrap_or_else(|| "en".into());
    let narrator = options.narrator.clone();
    let mut package = Package {
        lang,
        narrator,
        overlays: Vec::new(),
    };
    match &book.epub {
        Some(bytes) => package.with_epub(&mut zip, book, format, parts, spoken, bytes)?,
        None => package.fresh(&mut zip, book, format, parts, spoken)?,
    }
    zip.finish_into(path)
}

/// A top-level `par` of an overlay: the text's id, the clip, and its words'.
struct Par {
    id: String,
    begin: u64,
    end: u64,
    words: Vec<(String, u64, u64)>,
}

/// The pars for `clips` given the ids their spans got: clips without a span
/// give their time to the one before (so that pars stay contiguous); words
/// without one to the word before.
fn pars(clips: &[Clip], ids: &Ids) -> Vec<Par> {
    let mut out: Vec<Par> = Vec::new();
    for (clip, id) in clips.iter().zip(ids) {
        let Some((id, word_ids)) = id else {
            if let Some(prev) = out.last_mut() {
                prev.end = clip.end;
                if let Some(w) = prev.words.last_mut() {
                    w.2 = clip.end;
                }
            }
            continue;
        };
        match out.last_mut() {
            // Joined with the one before (one span for both).
            Some(prev) if prev.id == *id => {
                prev.end = clip.end;
                if let Some(w) = prev.words.last_mut() {
                    w.2 = clip.end;
                }
                continue;
            }
            _ => {}
        }
        let mut words: Vec<(String, u64, u64)> = Vec::new();
        for (w, wid) in clip.words.iter().zip(word_ids) {
            match wid {
                Some(wid) => words.push((wid.clone(), w.begin, w.end)),
                None => {
                    if let Some(prev) = words.last_mut() {
                        prev.2 = w.end;
                    }
                }
            }
        }
        if let Some(first) = words.first_mut() {
            first.1 = clip.begin;
        }
        if let Some(last) = words.last_mut() {
            last.2 = clip.end;
        }
        out.push(Par {
            id: id.clone(),
            begin: clip.begin,
            end: clip.end,
            words,
        });
    }
    out.retain(|p| p.begin < p.end);
    for p in &mut out {
        p.words.retain(|w| w.1 < w.2);
    }
    out
}

/// `H:MM:SS.mmm`, the clock value EPUB checkers take everywhere.
fn clock(ms: u64) -> String {
    format!(
        "{}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A Media Overlay document for the page at `page` (relative to it), its
/// body `body`, the audio at `audio`.
fn smil(page: &str, body: &str, audio: &str, pars: &[Par]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<smil xmlns=\"http://www.w3.org/ns/SMIL\" xmlns:epub=\"http://www.idpf.org/2007/ops\" version=\"3.0\">\n<body>\n");
    out.push_str(&format!(
        "<seq id=\"seq\" epub:textref=\"{page}#{body}\" epub:type=\"bodymatter chapter\">\n"
    ));
    let par = |out: &mut String, id: &str, text: &str, begin: u64, end: u64| {
        out.push_str(&format!(
            "<par id=\"p-{id}\"><text src=\"{page}#{text}\"/><audio src=\"{audio}\" clipBegin=\"{}\" clipEnd=\"{}\"/></par>\n",
            clock(begin),
            clock(end)
        ));
    };
    for p in pars {
        if p.words.is_empty() {
            par(&mut out, &p.id, &p.id, p.begin, p.end);
        } else {
            out.push_str(&format!(
                "<seq id=\"q-{}\" epub:textref=\"{page}#{}\">\n",
                p.id, p.id
            ));
            for (w, b, e) in &p.words {
                par(&mut out, w, w, *b, *e);
            }
            out.push_str("</seq>\n");
        }
    }
    out.push_str("</seq>\n</body>\n</smil>\n");
    out
}

/// The time now, as `dcterms:modified` wants it: `2026-12-04T12:00:00Z`.
fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// A UUID made from `seed` (so that the same book keeps its identifier).
fn uuid(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0F) | 0x50;
    b[8] = (b[8] & 0x3F) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The directory of an archive path (`OEBPS/text` of `OEBPS/text/a.xhtml`).
fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The zip being written, in an unnamed temporary file.
struct Zip {
    w: zip::ZipWriter<std::fs::File>,
    names: HashSet<String>,
}

impl Zip {
    fn new() -> Result<Self> {
        let file = tempfile::tempfile().map_err(crate::error::io_err("a temporary file"))?;
        let mut zip = Zip {
            w: zip::ZipWriter::new(file),
            names: HashSet::new(),
        };
        // First, stored, nothing else in its header: how readers know an EPUB.
        zip.add("mimetype", b"application/epub+zip", false)?;
        Ok(zip)
    }

    fn options(deflate: bool) -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(if deflate {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        })
    }

    fn add(&mut self, name: &str, bytes: &[u8], deflate: bool) -> Result<()> {
        if !self.names.insert(name.to_string()) {
            return Ok(());
        }
        self.w
            .start_file(name, Self::options(deflate))
            .map_err(|e| bad(name)(&e))?;
        self.w.write_all(bytes).map_err(|e| bad(name)(&e))
    }

    /// A file from the disk, stored (audio is compressed already).
    fn add_file(&mut self, name: &str, path: &Path) -> Result<()> {
        if !self.names.insert(name.to_string()) {
            return Ok(());
        }
        let mut file = std::fs::File::open(path).map_err(crate::error::io_err(path))?;
        self.w
            .start_file(name, Self::options(false))
            .map_err(|e| bad(name)(&e))?;
        std::io::copy(&mut file, &mut self.w).map_err(|e| bad(name)(&e))?;
        Ok(())
    }

    fn finish_into(self, path: &Path) -> Result<()> {
        let mut file = self.w.finish().map_err(|e| bad("the EPUB")(&e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(crate::error::io_err(path))?;
        let mut dest = Dest::file(path, false)?;
        std::io::copy(&mut file, &mut dest).map_err(crate::error::io_err(path))?;
        dest.commit()?;
        Ok(())
    }
}

/// The package being made: the overlays written so far.
struct Package {
    lang: String,
    narrator: Option<String>,
    /// Each overlay's manifest id and length in milliseconds.
    overlays: Vec<(String, u64)>,
}

/// `<item>` of a manifest.
struct Item {
    id: String,
    href: String,
    media_type: &'static str,
    properties: Option<&'static str>,
    overlay: Option<String>,
}

impl Item {
    fn xml(&self) -> String {
        let mut s = format!(
            "<item id=\"{}\" href=\"{}\" media-type=\"{}\"",
            self.id,
            escape(&self.href),
            self.media_type
        );
        if let Some(p) = self.properties {
            s.push_str(&format!(" properties=\"{p}\""));
        }
        if let Some(o) = &self.overlay {
            s.push_str(&format!(" media-overlay=\"{o}\""));
        }
        s.push_str("/>\n");
        s
    }
}

fn audio_type(format: Format) -> &'static str {
    match format {
        Format::Mp3 => "audio/mpeg",
        _ => "audio/mp4",
    }
}

impl Package {
    /// The overlays' metadata: each one's length, the whole, the narrator
    /// and the highlight's class.
    fn media_metas(&self) -> String {
        let mut s = String::new();
        let mut total = 0;
        for (id, ms) in &self.overlays {
            s.push_str(&format!(
                "<meta property=\"media:duration\" refines=\"#{id}\">{}</meta>\n",
                clock(*ms)
            ));
            total += ms;
        }
        s.push_str(&format!(
            "<meta property=\"media:duration\">{}</meta>\n",
            clock(total)
        ));
        if let Some(n) = &self.narrator {
            s.push_str(&format!(
                "<meta property=\"media:narrator\">{}</meta>\n",
                escape(n)
            ));
        }
        s.push_str(&format!(
            "<meta property=\"media:active-class\">{ACTIVE_CLASS}</meta>\n"
        ));
        s
    }

    /// An overlay for a page: written into the zip, its manifest item
    /// returned; `None` when it has no par.
    #[allow(clippy::too_many_arguments)]
    fn overlay(
        &mut self,
        zip: &mut Zip,
        id: String,
        path: &str,
        page: &str,
        body: &str,
        audio: &str,
        pars: &[Par],
        href_from_opf: String,
    ) -> Result<Option<Item>> {
        if pars.is_empty() {
            return Ok(None);
        }
        let dir = dir_of(path);
        let text = smil(&relative(dir, page), body, &relative(dir, audio), pars);
        zip.add(path, text.as_bytes(), true)?;
        let length = pars.iter().map(|p| p.end - p.begin).sum();
        self.overlays.push((id.clone(), length));
        Ok(Some(Item {
            id,
            href: href_from_opf,
            media_type: "application/smil+xml",
            properties: None,
            overlay: None,
        }))
    }

    /// A new EPUB made from the chapters' text.
    fn fresh(
        &mut self,
        zip: &mut Zip,
        book: &Book,
        format: Format,
        parts: &Path,
        spoken: &[Spoken],
    ) -> Result<()> {
        let lang = self.lang.clone();
        let mut items = vec![
            Item {
                id: "nav".into(),
                href: "nav.xhtml".into(),
                media_type: "application/xhtml+xml",
                properties: Some("nav"),
                overlay: None,
            },
            Item {
                id: "css".into(),
                href: "css/read-along.css".into(),
                media_type: "text/css",
                properties: None,
                overlay: None,
            },
        ];
        zip.add("OEBPS/css/read-along.css", STYLESHEET.as_bytes(), true)?;
        let mut spine = Vec::new();
        let mut toc = String::new();
        for (k, (chapter, s)) in book.chapters.iter().zip(spoken).enumerate() {
            let n = k + 1;
            let title = chapter.marker_title();
            let page_path = format!("OEBPS/text/ch{n:03}.xhtml");
            let audio_path = format!("OEBPS/audio/ch{n:03}.{}", format.extension());
            let (xhtml, ids) = page(
                &title,
                &lang,
                &chapter.text,
                &s.clips,
                "../css/read-along.css",
            );
            zip.add(&page_path, xhtml.as_bytes(), true)?;
            zip.add_file(&audio_path, &parts.join(&s.audio))?;
            let smil_id = format!("mo-ch{n:03}");
            let overlay = self.overlay(
                zip,
                smil_id.clone(),
                &format!("OEBPS/smil/ch{n:03}.smil"),
                &page_path,
                "body",
                &audio_path,
                &pars(&s.clips, &ids),
                format!("smil/ch{n:03}.smil"),
            )?;
            items.push(Item {
                id: format!("ch{n:03}"),
                href: format!("text/ch{n:03}.xhtml"),
                media_type: "application/xhtml+xml",
                properties: None,
                overlay: overlay.as_ref().map(|_| smil_id),
            });
            items.extend(overlay);
            items.push(Item {
                id: format!("audio-ch{n:03}"),
                href: format!("audio/ch{n:03}.{}", format.extension()),
                media_type: audio_type(format),
                properties: None,
                overlay: None,
            });
            spine.push(format!("<itemref idref=\"ch{n:03}\"/>\n"));
            toc.push_str(&format!(
                "<li><a href=\"text/ch{n:03}.xhtml\">{}</a></li>\n",
                escape(&title)
            ));
        }
        if let Some(cover) = &book.cover {
            let href = format!("images/cover.{}", cover.kind.extension());
            zip.add(&format!("OEBPS/{href}"), &cover.bytes, false)?;
            items.push(Item {
                id: "cover-image".into(),
                href,
                media_type: cover.kind.mime_type(),
                properties: Some("cover-image"),
                overlay: None,
            });
        }
        zip.add("OEBPS/nav.xhtml", nav(&lang, &toc).as_bytes(), true)?;
        let title = book
            .title
            .clone()
            .or_else(|| book.chapters.first().map(|c| c.marker_title()))
            .unwrap_or_else(|| "Untitled".into());
        let seed: String = book.chapters.iter().map(|c| c.text.as_str()).collect();
        let creator = book
            .author
            .as_ref()
            .map(|a| format!("<dc:creator>{}</dc:creator>\n", escape(a)))
            .unwrap_or_default();
        let opf = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" unique-identifier=\"pub-id\" xml:lang=\"{lang}\">\n<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<dc:identifier id=\"pub-id\">urn:uuid:{}</dc:identifier>\n<dc:title>{}</dc:title>\n<dc:language>{lang}</dc:language>\n{creator}<meta property=\"dcterms:modified\">{}</meta>\n{}</metadata>\n<manifest>\n{}</manifest>\n<spine>\n{}</spine>\n</package>\n",
            uuid(&format!("{title}\n{seed}")),
            escape(&title),
            now(),
            self.media_metas(),
            items.iter().map(Item::xml).collect::<String>(),
            spine.concat(),
        );
        zip.add("OEBPS/content.opf", opf.as_bytes(), true)?;
        zip.add(
            "META-INF/container.xml",
            container("OEBPS/content.opf").as_bytes(),
            true,
        )
    }

    /// The source EPUB with overlays: its pages marked, everything else kept
    /// (an EPUB 2 brought to EPUB 3).
    fn with_epub(
        &mut self,
        zip: &mut Zip,
        book: &Book,
        format: Format,
        parts: &Path,
        spoken: &[Spoken],
        bytes: &[u8],
    ) -> Result<()> {
        let (opened, opts) = open_as_read(bytes, book)?;
        let pkg = &opened.package;
        let epub2 = !pkg.version.trim().starts_with('3');
        let opf_dir = dir_of(&pkg.path).to_string();
        let under_opf = |name: &str| {
            if opf_dir.is_empty() {
                name.to_string()
            } else {
                format!("{opf_dir}/{name}")
            }
        };
        let mut archive =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad("the source EPUB")(&e))?;
        let read = |archive: &mut zip::ZipArchive<Cursor<&[u8]>>, path: &str| -> Result<Vec<u8>> {
            let file = archive.by_name(path).map_err(|e| bad(path)(&e))?;
            let mut out = Vec::new();
            file.take(epub::MAX_ENTRY)
                .read_to_end(&mut out)
                .map_err(|e| bad(path)(&e))?;
            Ok(out)
        };
        let xhtml_items: HashSet<&str> = pkg
            .items
            .iter()
            .filter(|i| i.media_type == "application/xhtml+xml")
            .map(|i| i.path.as_str())
            .collect();
        // EPUB 3 wants content documents named .xhtml.
        let renamed: HashMap<String, String> = if epub2 {
            pkg.items
                .iter()
                .filter(|i| i.media_type == "application/xhtml+xml")
                .filter_map(|i| {
                    let lower = i.path.to_ascii_lowercase();
                    let stem = lower
                        .strip_suffix(".html")
                        .or_else(|| lower.strip_suffix(".htm"))?;
                    Some((i.path.clone(), format!("{}.xhtml", &i.path[..stem.len()])))
                })
                .collect()
        } else {
            HashMap::new()
        };
        let new_name = |path: &str| {
            renamed
                .get(path)
                .cloned()
                .unwrap_or_else(|| path.to_string())
        };
        let taken: HashSet<&str> = pkg.items.iter().map(|i| i.id.as_str()).collect();
        let id = |name: &str| {
            let mut id = format!("kokoro-{name}");
            while taken.contains(id.as_str()) {
                id.push('-');
            }
            id
        };
        let css_path = under_opf("kokoro/read-along.css");
        zip.add(&css_path, STYLESHEET.as_bytes(), true)?;
        let mut new_items = vec![Item {
            id: id("css"),
            href: "kokoro/read-along.css".into(),
            media_type: "text/css",
            properties: None,
            overlay: None,
        }];
        let mut pages: HashMap<String, String> = HashMap::new();
        let mut overlays: HashMap<String, String> = HashMap::new();
        let mut page_count = 0;
        for (chapter, s) in book.chapters.iter().zip(spoken) {
            let Some(chapter_parts) = opened.parts.get(chapter.number) else {
                continue;
            };
            let audio_name = format!("kokoro/{}", s.audio);
            let audio_path = under_opf(&audio_name);
            zip.add_file(&audio_path, &parts.join(&s.audio))?;
            new_items.push(Item {
                id: id(&format!("audio-{}", chapter.number + 1)),
                href: audio_name
                    .split('/')
                    .map(url_encode)
                    .collect::<Vec<_>>()
                    .join("/"),
                media_type: audio_type(format),
                properties: None,
                overlay: None,
            });
            for part in chapter_parts {
                let clips: Vec<&Clip> = s
                    .clips
                    .iter()
                    .filter(|c| c.range[0] >= part.range.start && c.range[1] <= part.range.end)
                    .collect();
                if clips.is_empty() {
                    continue;
                }
                let local = |r: [usize; 2]| r[0] - part.range.start..r[1] - part.range.start;
                let marks: Vec<Mark> = clips
                    .iter()
                    .map(|c| Mark {
                        range: local(c.range),
                        words: c.words.iter().map(|w| local(w.range)).collect(),
                    })
                    .collect();
                let source = String::from_utf8_lossy(&read(&mut archive, &part.path)?).into_owned();
                let source = if epub2 { to_xhtml5(&source) } else { source };
                let path = new_name(&part.path);
                let css = relative(dir_of(&path), &css_path);
                let text = &chapter.text[part.range.clone()];
                let marked = mark(&source, text, &marks, "kr", Some(&css), opts)
                    .map_err(|e| bad(&part.path)(&e))?;
                let ids: Ids = marked
                    .ids
                    .iter()
                    .zip(&marked.word_ids)
                    .map(|(id, words)| id.clone().map(|id| (id, words.clone())))
                    .collect();
                let owned: Vec<Clip> = clips.into_iter().cloned().collect();
                // The words' ids line up with the clip's words.
                let ids: Vec<_> = ids
                    .into_iter()
                    .zip(&owned)
                    .map(|(id, c)| {
                        id.map(|(id, mut w)| {
                            w.resize(c.words.len(), None);
                            (id, w)
                        })
                    })
                    .collect();
                page_count += 1;
                let smil_name = format!("kokoro/page{page_count:03}.smil");
                let smil_id = id(&format!("mo-{page_count}"));
                let overlay = self.overlay(
                    zip,
                    smil_id.clone(),
                    &under_opf(&smil_name),
                    &path,
                    &marked.body_id,
                    &audio_path,
                    &pars(&owned, &ids),
                    smil_name,
                )?;
                if let Some(item) = overlay {
                    new_items.push(item);
                    if let Some(src) = pkg.items.iter().find(|i| i.path == part.path) {
                        overlays.insert(src.id.clone(), smil_id);
                    }
                    pages.insert(part.path.clone(), marked.xhtml);
                }
            }
        }
        // EPUB 3 wants a navigation document: an EPUB 2's made from its NCX.
        if pkg.nav.is_none() {
            let nav_path = under_opf("kokoro/nav.xhtml");
            let mut toc = String::new();
            if let Some(ncx) = &pkg.ncx {
                if let Ok(xml) = read(&mut archive, ncx) {
                    let xml = String::from_utf8_lossy(&xml);
                    for (src, label) in epub::ncx_points(&xml) {
                        let (file, fragment) = src
                            .split_once('#')
                            .map_or((src.as_str(), None), |(f, x)| (f, Some(x)));
                        let target = new_name(&epub::resolve(dir_of(ncx), file));
                        let mut href = relative(dir_of(&nav_path), &target);
                        if let Some(f) = fragment {
                            href.push('#');
                            href.push_str(f);
                        }
                        toc.push_str(&format!(
                            "<li><a href=\"{}\">{}</a></li>\n",
                            escape(&href),
                            escape(if label.is_empty() { "Untitled" } else { &label })
                        ));
                    }
                }
            }
            if toc.is_empty() {
                for c in &book.chapters {
                    if let Some(first) = opened.parts.get(c.number).and_then(|p| p.first()) {
                        toc.push_str(&format!(
                            "<li><a href=\"{}\">{}</a></li>\n",
                            escape(&relative(dir_of(&nav_path), &new_name(&first.path))),
                            escape(&c.marker_title())
                        ));
                    }
                }
            }
            zip.add(&nav_path, nav(&self.lang, &toc).as_bytes(), true)?;
            new_items.push(Item {
                id: id("nav"),
                href: "kokoro/nav.xhtml".into(),
                media_type: "application/xhtml+xml",
                properties: Some("nav"),
                overlay: None,
            });
        }
        // The package document, patched.
        let opf = String::from_utf8_lossy(&read(&mut archive, &pkg.path)?).into_owned();
        let patch = OpfPatch {
            epub2,
            opf_dir: &opf_dir,
            renamed: &renamed,
            overlays: &overlays,
            cover: pkg.cover_image.as_deref(),
            metas: format!(
                "<meta property=\"dcterms:modified\">{}</meta>\n{}",
                now(),
                self.media_metas()
            ),
            items: new_items.iter().map(Item::xml).collect(),
        };
        let opf = patch.apply(&opf)?;
        // Everything else, as it was (an EPUB 2's pages and NCX brought to EPUB 3).
        for k in 0..archive.len() {
            let (name, is_dir) = {
                let f = archive
                    .by_index(k)
                    .map_err(|e| bad("the source EPUB")(&e))?;
                (f.name().to_string(), f.is_dir())
            };
            if is_dir || name == "mimetype" || zip.names.contains(&name) {
                continue;
            }
            if name == pkg.path {
                zip.add(&name, opf.as_bytes(), true)?;
                continue;
            }
            let out_name = new_name(&name);
            let is_page = xhtml_items.contains(name.as_str());
            let is_ncx = pkg.ncx.as_deref() == Some(name.as_str());
            let bytes = match pages.remove(&name) {
                Some(page) => page.into_bytes(),
                None => read(&mut archive, &name)?,
            };
            let bytes = if epub2 && (is_page || is_ncx) {
                let text = String::from_utf8_lossy(&bytes);
                let text = if is_ncx {
                    without_doctype(&text)
                } else {
                    to_xhtml5(&text)
                };
                rewrite_refs(&text, dir_of(&name), &renamed).into_bytes()
            } else {
                bytes
            };
            let deflate = !matches!(
                Path::new(&name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("jpg" | "jpeg" | "png" | "gif" | "mp3" | "m4a" | "mp4" | "woff" | "woff2")
            );
            zip.add(&out_name, &bytes, deflate)?;
        }
        Ok(())
    }
}

/// The source EPUB opened as the book's text was read (with or without
/// code blocks): its chapters must be the book's.
fn open_as_read(bytes: &[u8], book: &Book) -> Result<(Opened, ReadOptions)> {
    for code_blocks in [false, true] {
        let opts = ReadOptions { code_blocks };
        let opened = epub::open(bytes, opts).map_err(|e| bad("the source EPUB")(&e))?;
        let same = book.chapters.iter().all(|c| {
            opened
                .document
                .chapters
                .get(c.number)
                .is_some_and(|d| d.text == c.text)
        });
        if same {
            return Ok((opened, opts));
        }
    }
    Err(Error::Book(
        "the source EPUB does not read as the book's chapters".into(),
    ))
}

fn container(opf: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n<rootfiles>\n<rootfile full-path=\"{opf}\" media-type=\"application/oebps-package+xml\"/>\n</rootfiles>\n</container>\n")
}

fn nav(lang: &str, items: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\" xml:lang=\"{lang}\" lang=\"{lang}\">\n<head>\n<meta charset=\"UTF-8\"/>\n<title>Contents</title>\n</head>\n<body>\n<nav epub:type=\"toc\" id=\"toc\">\n<h1>Contents</h1>\n<ol>\n{items}</ol>\n</nav>\n</body>\n</html>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_paths_and_ids() {
        assert_eq!(clock(3_723_004), "1:02:03.004");
        assert_eq!(
            relative("OEBPS/kokoro", "OEBPS/text/a b.xhtml"),
            "../text/a%20b.xhtml"
        );
        assert_eq!(relative("", "OEBPS/x.css"), "OEBPS/x.css");
        assert_eq!(relative("OEBPS", "OEBPS/x.css"), "x.css");
        let u = uuid("x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
        let n = now();
        assert_eq!(n.len(), 20);
        assert!(n.ends_with('Z') && n.starts_with("20"), "{n}");
    }

    #[test]
    fn pars_stay_contiguous_when_a_clip_has_no_span() {
        let clip = |b, e| Clip {
            range: [0, 1],
            begin: b,
            end: e,
            words: Vec::new(),
        };
        let clips = [clip(100, 900), clip(900, 1500), clip(1500, 2000)];
        let ids = vec![
            Some(("a".to_string(), vec![])),
            None,
            Some(("b".to_string(), vec![])),
        ];
        let p = pars(&clips, &ids);
        assert_eq!(
            p.iter()
                .map(|p| (p.id.as_str(), p.begin, p.end))
                .collect::<Vec<_>>(),
            [("a", 100, 1500), ("b", 1500, 2000)]
        );
    }
}
