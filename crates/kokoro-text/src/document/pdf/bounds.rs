//! Bounds on what a PDF may make the parser and the extractor do, each
//! checked before they do it, each refused with an error naming it.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::{dict_in, DocumentError};

/// The most objects a PDF may hold, counted before it is parsed (the
/// headers of its indirect objects) and after (with those inside object
/// streams). The parser keeps about 2 KiB per object: a 100 MiB file of a
/// million empty page-tree nodes took 2.1 GiB. A book of a thousand pages
/// has some tens of thousands.
pub(crate) const MAX_PDF_OBJECTS: usize = 250_000;

/// The most bytes a PDF's Flate streams may inflate to, all together (as an
/// EPUB's entries): a 1 MB file of one compressed page held 2.1 GiB. The
/// same bound holds for the content of forms read by the extractor, each
/// counted every time it is drawn.
pub(crate) const MAX_PDF_INFLATED: u64 = 256 << 20;

/// The most times a PDF's pages may draw forms and images (`Do`), a form's
/// own drawings counted each time the form is drawn. The extractor reads a
/// form again at each drawing: a form that draws another twice, twenty
/// deep, is a million readings from a file of a few kilobytes.
pub(crate) const MAX_PDF_DRAWS: usize = 100_000;

/// The deepest forms may be drawn inside forms: the extractor reads them by
/// recursion, so a form that draws itself overflowed its stack (the fuzzer
/// found it). Real documents nest a few deep.
pub(crate) const MAX_PDF_FORM_DEPTH: usize = 32;

/// A bound of this reader passed, in words, at byte `at`.
fn bound(what: String, at: usize) -> DocumentError {
    DocumentError::Bound {
        format: "pdf",
        bound: what,
        at,
    }
}

/// Parses `bytes`, refusing first a file of too many objects and object
/// streams that inflate past the bound; decrypts a file that needs no
/// password; empties its images.
pub(super) fn load(bytes: &[u8]) -> Result<Document, DocumentError> {
    let too_many = |at: usize| bound(format!("more than {MAX_PDF_OBJECTS} objects"), at);
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
    let mut pdf = std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, options))
        .map_err(|_| DocumentError::Pdf("it cannot be parsed".into()))?
        .map_err(|e| DocumentError::Pdf(e.to_string()))?;
    if OBJECT_STREAMS_OVER.get() {
        return Err(bound(
            format!("object streams that inflate to more than {MAX_PDF_INFLATED} bytes"),
            bytes.len(),
        ));
    }
    if pdf.objects.len() > MAX_PDF_OBJECTS {
        return Err(too_many(bytes.len()));
    }
    if pdf.is_encrypted() && pdf.decrypt("").is_err() {
        return Err(DocumentError::Pdf(
            "it is encrypted, and cannot be read without its password".into(),
        ));
    }
    empty_images(&mut pdf);
    Ok(pdf)
}

/// Checks, in order: what the streams inflate to, the page tree's parent
/// chains, and the forms the pages draw.
pub(super) fn check(pdf: &Document, at: usize) -> Result<(), DocumentError> {
    check_inflated(pdf, at)?;
    check_parents(pdf, at)?;
    check_draws(pdf, at)
}

/// Empties every image: the extractor has no use for their pixels, yet reads
/// an image drawn on a page as it reads a form (inflated again, and parsed
/// as drawing operators) at every drawing.
fn empty_images(pdf: &mut Document) {
    for object in pdf.objects.values_mut() {
        if let Object::Stream(stream) = object {
            let image = stream
                .dict
                .get(b"Subtype")
                .and_then(Object::as_name)
                .is_ok_and(|s| s == b"Image");
            if image {
                stream.dict.remove(b"Filter");
                stream.dict.remove(b"DecodeParms");
                stream.set_content(Vec::new());
            }
        }
    }
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
fn bound_object_streams(id: (u32, u16), object: &mut Object) -> Option<((u32, u16), Object)> {
    if let Ok(stream) = object.as_stream() {
        if stream.dict.has_type(b"ObjStm") {
            let left = OBJECT_STREAMS_LEFT.get();
            let n = inflated_len(stream, left);
            if n > left {
                OBJECT_STREAMS_OVER.set(true);
                *object = Object::Null;
            } else {
                OBJECT_STREAMS_LEFT.set(left - n);
            }
        }
    }
    // The parser keeps `object` itself; what is returned only says "keep".
    Some((id, Object::Null))
}

/// How many bytes a stream inflates to, counting no further than `limit + 1`
/// (0 when it is not a Flate stream, or does not inflate).
fn inflated_len(stream: &lopdf::Stream, limit: u64) -> u64 {
    use std::io::Read;
    let flate = match stream.dict.get(b"Filter") {
        Ok(Object::Name(n)) => n == b"FlateDecode",
        Ok(Object::Array(a)) => a
            .iter()
            .any(|f| matches!(f, Object::Name(n) if n == b"FlateDecode")),
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
fn check_inflated(pdf: &Document, at: usize) -> Result<(), DocumentError> {
    let mut total = 0u64;
    for object in pdf.objects.values() {
        let Ok(stream) = object.as_stream() else {
            continue;
        };
        total += inflated_len(stream, MAX_PDF_INFLATED - total);
        if total > MAX_PDF_INFLATED {
            return Err(bound(
                format!("streams that inflate to more than {MAX_PDF_INFLATED} bytes"),
                at,
            ));
        }
    }
    Ok(())
}

/// Refuses a page whose chain of `/Parent`s loops: the extractor climbs it
/// for inherited resources without end (a PDF of five objects held it
/// forever). Each node is climbed from once: linear in the tree.
fn check_parents(pdf: &Document, at: usize) -> Result<(), DocumentError> {
    let mut rooted: HashSet<ObjectId> = Default::default();
    for page in pdf.get_pages().into_values() {
        let mut path = HashSet::new();
        let mut node = Some(page);
        while let Some(id) = node {
            if rooted.contains(&id) {
                break;
            }
            if !path.insert(id) {
                return Err(bound(
                    format!("a page tree that loops (object {} {})", id.0, id.1),
                    at,
                ));
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

/// Follows every page's drawings of forms (and forms' drawings, as the
/// extractor does: a form without resources of its own uses its drawer's),
/// and refuses a form that draws itself, nesting past
/// [`MAX_PDF_FORM_DEPTH`], more than [`MAX_PDF_DRAWS`] drawings, or forms
/// read to more than [`MAX_PDF_INFLATED`] bytes. A page whose resources hold
/// no form is not read here.
fn check_draws(pdf: &Document, at: usize) -> Result<(), DocumentError> {
    let mut draws = Draws {
        pdf,
        at,
        read: HashMap::new(),
        count: 0,
        bytes: 0,
    };
    for page in pdf.get_pages().into_values() {
        let Ok(dict) = pdf.get_dictionary(page) else {
            continue;
        };
        let resources = inherited_resources(pdf, dict);
        if !draws.has_forms(resources) {
            continue;
        }
        let content = pdf.get_page_content(page).unwrap_or_default();
        draws.draw(&drawn_names(&content), resources, &mut Vec::new())?;
    }
    Ok(())
}

/// A stream drawn: its length as the extractor reads it, and the names it
/// draws in turn.
type Read = (u64, Rc<[Vec<u8>]>);

/// The walk of [`check_draws`].
struct Draws<'a> {
    pdf: &'a Document,
    at: usize,
    /// Each stream drawn, as read once.
    read: HashMap<ObjectId, Read>,
    count: usize,
    bytes: u64,
}

impl<'a> Draws<'a> {
    fn bound(&self, what: String) -> DocumentError {
        bound(what, self.at)
    }

    /// The XObject dictionary of `resources`.
    fn xobjects(&self, resources: Option<&'a Dictionary>) -> Option<&'a Dictionary> {
        dict_in(self.pdf, resources?, b"XObject")
    }

    fn has_forms(&self, resources: Option<&'a Dictionary>) -> bool {
        self.xobjects(resources).is_some_and(|x| {
            x.iter().any(|(_, o)| {
                o.as_reference()
                    .and_then(|id| self.pdf.get_object(id))
                    .and_then(Object::as_stream)
                    .is_ok_and(|s| !s.content.is_empty())
            })
        })
    }

    /// Draws `names` with `resources`; `path` holds the forms being drawn.
    fn draw(
        &mut self,
        names: &[Vec<u8>],
        resources: Option<&'a Dictionary>,
        path: &mut Vec<ObjectId>,
    ) -> Result<(), DocumentError> {
        let Some(xobjects) = self.xobjects(resources) else {
            return Ok(());
        };
        for name in names {
            let Ok(id) = xobjects.get(name).and_then(Object::as_reference) else {
                continue;
            };
            let Ok(stream) = self.pdf.get_object(id).and_then(Object::as_stream) else {
                continue;
            };
            self.count += 1;
            if self.count > MAX_PDF_DRAWS {
                return Err(self.bound(format!(
                    "more than {MAX_PDF_DRAWS} drawings of forms and images"
                )));
            }
            if path.contains(&id) {
                return Err(self.bound(format!(
                    "a form that draws itself (object {} {})",
                    id.0, id.1
                )));
            }
            if path.len() >= MAX_PDF_FORM_DEPTH {
                return Err(self.bound(format!(
                    "forms drawn inside forms more than {MAX_PDF_FORM_DEPTH} deep"
                )));
            }
            let (len, inner) = self
                .read
                .entry(id)
                .or_insert_with(|| {
                    // As the extractor reads it: inflated where it can be.
                    let content = stream
                        .decompressed_content()
                        .unwrap_or_else(|_| stream.content.clone());
                    (content.len() as u64, drawn_names(&content).into())
                })
                .clone();
            self.bytes += len;
            if self.bytes > MAX_PDF_INFLATED {
                return Err(self.bound(format!(
                    "forms that, read each time they are drawn, come to more than \
                     {MAX_PDF_INFLATED} bytes"
                )));
            }
            if inner.is_empty() {
                continue;
            }
            let own = dict_in(self.pdf, &stream.dict, b"Resources");
            path.push(id);
            self.draw(&inner, own.or(resources), path)?;
            path.pop();
        }
        Ok(())
    }
}

/// The resources a page uses: its own, or the nearest ancestor's. (Parent
/// chains that loop are refused before this runs.)
fn inherited_resources<'a>(pdf: &'a Document, page: &'a Dictionary) -> Option<&'a Dictionary> {
    let mut node = page;
    for _ in 0..=MAX_PDF_OBJECTS {
        if node.has(b"Resources") {
            return dict_in(pdf, node, b"Resources");
        }
        node = pdf
            .get_dictionary(node.get(b"Parent").ok()?.as_reference().ok()?)
            .ok()?;
    }
    None
}

/// The names a content stream draws (`/Name Do`); the stream is parsed only
/// when it holds the operator's letters.
fn drawn_names(content: &[u8]) -> Vec<Vec<u8>> {
    if !content.windows(2).any(|w| w == b"Do") {
        return Vec::new();
    }
    let Ok(content) = lopdf::content::Content::decode(content) else {
        return Vec::new();
    };
    content
        .operations
        .into_iter()
        .filter(|op| op.operator == "Do")
        .filter_map(|op| op.operands.first()?.as_name().ok().map(<[u8]>::to_vec))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{pdf_of, read, stream_of, text_stream};
    use super::*;

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
        let pdf = pdf_of(&[
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 3 0 R >>",
            "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
            &text_stream("Hi"),
        ]);
        let err = read(&pdf).unwrap_err();
        assert!(err.to_string().contains("a page tree that loops"), "{err}");
    }

    /// A one-page PDF whose page writes "Hi" and draws `X1`, object 6;
    /// `forms` are objects 6 on.
    fn page_drawing(forms: &[String]) -> Vec<u8> {
        let mut objects = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
            "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>"
                .into(),
            stream_of("", "BT /F1 12 Tf 72 720 Td (Hi) Tj ET /X1 Do"),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
        ];
        objects.extend(forms.iter().cloned());
        pdf_of(&objects.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A form drawing `ops`, with `resources` of its own where not empty.
    fn form(resources: &str, ops: &str) -> String {
        let own = if resources.is_empty() {
            String::new()
        } else {
            format!("/Resources << {resources} >>")
        };
        stream_of(
            &format!("/Type /XObject /Subtype /Form /BBox [0 0 612 792] {own}"),
            ops,
        )
    }

    #[test]
    fn a_form_that_draws_itself_is_refused() {
        // Before, the extractor drew it until its stack overflowed (the
        // fuzzer's crash): once through the page's resources, which a form
        // without its own uses, once through its own.
        for pdf in [
            page_drawing(&[form("", "/X1 Do")]),
            page_drawing(&[form("/XObject << /Me 6 0 R >>", "/Me Do")]),
            page_drawing(&[
                form("/XObject << /B 7 0 R >>", "/B Do"),
                form("/XObject << /A 6 0 R >>", "/A Do"),
            ]),
        ] {
            let err = read(&pdf).unwrap_err();
            assert!(
                err.to_string()
                    .contains("a form that draws itself (object 6 0)"),
                "{err}"
            );
        }
    }

    /// Forms 6 to `6 + n - 1`, each drawing the next `times` times; the
    /// last writes "Deep".
    fn chain(n: usize, times: usize) -> Vec<String> {
        (0..n)
            .map(|k| {
                if k + 1 == n {
                    form(
                        "/Font << /F1 5 0 R >>",
                        "BT /F1 12 Tf 72 700 Td (Deep) Tj ET",
                    )
                } else {
                    form(
                        &format!("/XObject << /N {} 0 R >>", 7 + k),
                        &"/N Do ".repeat(times),
                    )
                }
            })
            .collect()
    }

    #[test]
    fn forms_are_drawn_within_their_bounds() {
        // Within the bounds, a form's text is read where it is drawn.
        let doc = read(&page_drawing(&chain(MAX_PDF_FORM_DEPTH, 1))).unwrap();
        let text: String = doc.chapters.iter().map(|c| c.text.as_str()).collect();
        assert!(text.contains("Hi") && text.contains("Deep"), "{text}");
        // One deeper is refused.
        let err = read(&page_drawing(&chain(MAX_PDF_FORM_DEPTH + 1, 1))).unwrap_err();
        assert!(err.to_string().contains("more than 32 deep"), "{err}");
        // Twenty forms, each drawing the next twice: a million drawings from
        // a few kilobytes, refused at the bound on drawings.
        let err = read(&page_drawing(&chain(20, 2))).unwrap_err();
        assert!(
            err.to_string().contains("more than 100000 drawings"),
            "{err}"
        );
    }

    #[test]
    fn images_are_emptied_and_their_page_read() {
        // An image drawn on the page: its bytes (not even valid Flate here)
        // are dropped before the extractor would read them as drawing.
        let image = stream_of(
            "/Type /XObject /Subtype /Image /Width 2 /Height 2 /BitsPerComponent 8 \
             /ColorSpace /DeviceGray /Filter /FlateDecode",
            "not deflated at all, and not drawing operators either",
        );
        let doc = read(&page_drawing(&[image])).unwrap();
        assert_eq!(doc.chapters.len(), 1);
        assert_eq!(doc.chapters[0].text, "Hi");
    }
}
