//! Documents to chapters: EPUB and PDF fixtures built here (and kept in
//! `test_data/` for the CLI's tests, which check them against these builders),
//! snapshots of the extracted text, and bad input.
#![cfg(feature = "documents")]

use std::io::Write;

use kokoro_text::document::{read, Document, DocumentError, InputFormat, ReadOptions};

/// Chapters of the test book: title and paragraphs.
const BOOK: [(&str, &[&str]); 4] = [
    (
        "The Beginning",
        &[
            "It was a bright cold day in April.",
            "The clocks were striking nine, and nobody minded.",
        ],
    ),
    (
        "The Middle",
        &[
            "Then the rain came.",
            "It rained for three days &amp; three nights.",
        ],
    ),
    ("An Empty Page", &[]),
    (
        "The End",
        &["At last the sun returned.", "Everyone went outside."],
    ),
];

fn xhtml(title: &str, paragraphs: &[&str]) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    let heading = if paragraphs.is_empty() {
        String::new()
    } else {
        format!("<h1>{title}</h1>\n")
    };
    let note = if paragraphs.is_empty() {
        ""
    } else {
        "<p>Note<a epub:type=\"noteref\" href=\"#n1\">1</a>.</p>\n"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\">\
<head><title>{title}</title><style>p {{ margin: 0 }}</style></head>\n<body>\n{heading}{body}{note}</body></html>\n"
    )
}

/// An EPUB 3 book: cover page, navigation document, the chapters of [`BOOK`]
/// (the second split over two files, as converters do), `encrypted` content
/// listed in META-INF/encryption.xml when asked.
pub fn epub(encrypted: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    let mut add = |name: &str, text: &str| {
        zip.start_file(name, stored).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    };
    add("mimetype", "application/epub+zip");
    add(
        "META-INF/container.xml",
        r#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#,
    );
    let mut manifest = String::from(
        r#"<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/><item id="cover" href="text/cover.xhtml" media-type="application/xhtml+xml"/>"#,
    );
    let mut spine = String::from(r#"<itemref idref="cover"/><itemref idref="nav" linear="no"/>"#);
    let mut nav = String::new();
    let mut encryption = String::new();
    for (k, (title, paras)) in BOOK.iter().enumerate() {
        let file = format!("text/ch {k}.xhtml");
        let href = format!("text/ch%20{k}.xhtml");
        manifest +=
            &format!(r#"<item id="c{k}" href="{href}" media-type="application/xhtml+xml"/>"#);
        spine += &format!(r#"<itemref idref="c{k}"/>"#);
        nav += &format!(r#"<li><a href="{href}#top">{title}</a></li>"#);
        if k == 1 {
            // The middle chapter continues in a file the table of contents does not name.
            add(&format!("OEBPS/{file}"), &xhtml(title, &paras[..1]));
            add("OEBPS/text/ch1b.xhtml", &xhtml("", &paras[1..]));
            manifest +=
                r#"<item id="c1b" href="text/ch1b.xhtml" media-type="application/xhtml+xml"/>"#;
            spine += r#"<itemref idref="c1b"/>"#;
            encryption += r#"<EncryptedData><CipherData><CipherReference URI="OEBPS/text/ch1b.xhtml"/></CipherData></EncryptedData>"#;
        } else {
            add(&format!("OEBPS/{file}"), &xhtml(title, paras));
        }
        encryption += &format!(
            r#"<EncryptedData><CipherData><CipherReference URI="OEBPS/{file}"/></CipherData></EncryptedData>"#
        );
    }
    add("OEBPS/text/cover.xhtml", &xhtml("Cover", &["A Test Book"]));
    add(
        "OEBPS/nav.xhtml",
        &format!(
            r#"<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="toc"><ol>{nav}</ol></nav></body></html>"#
        ),
    );
    add(
        "OEBPS/content.opf",
        &format!(
            r#"<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>A Test Book</dc:title></metadata><manifest>{manifest}</manifest><spine>{spine}</spine></package>"#
        ),
    );
    if encrypted {
        add(
            "META-INF/encryption.xml",
            &format!(
                r#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container">{encryption}</encryption>"#
            ),
        );
    }
    zip.finish().unwrap().into_inner()
}

/// [`pdf`], encrypted (RC4, 128 bits) with this password to open it.
fn encrypted_pdf(user_password: &str) -> Vec<u8> {
    use lopdf::encryption::{EncryptionState, EncryptionVersion, Permissions};
    let mut doc = lopdf::Document::load_mem(&pdf(false)).unwrap();
    let id = lopdf::Object::string_literal("0123456789abcdef");
    doc.trailer.set("ID", vec![id.clone(), id]);
    let state = EncryptionState::try_from(EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: Permissions::all(),
    })
    .unwrap();
    doc.encrypt(&state).unwrap();
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A four-page PDF with a running header, page numbers, a hyphenated and a glued
/// word, and an outline with two chapters (pages 1 and 3); or, `scanned`, pages
/// with no text at all.
pub fn pdf(scanned: bool) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};
    let pages_text: [&[&str]; 4] = [
        &[
            "Chapter One",
            "Itwasthe best of times, it was the worst",
            "of times. The age of wis-",
            "dom had come.",
        ],
        &[
            "The second page goes on with the story",
            "of the first chapter.",
        ],
        &["Chapter Two", "A new chapter begins here."],
        &["And here it ends."],
    ];
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(
        dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" },
    );
    let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
    let mut page_ids = Vec::new();
    for (n, lines) in pages_text.iter().enumerate() {
        let mut all: Vec<String> = vec!["A Tale of Testing".into()];
        all.extend(lines.iter().map(|l| l.to_string()));
        all.push(format!("{}", n + 1));
        let mut ops = Vec::new();
        if !scanned {
            for (k, line) in all.iter().enumerate() {
                ops.push(Operation::new("BT", vec![]));
                ops.push(Operation::new("Tf", vec!["F1".into(), 12.into()]));
                ops.push(Operation::new(
                    "Td",
                    vec![72.into(), (760 - 20 * k as i64).into()],
                ));
                ops.push(Operation::new(
                    "Tj",
                    vec![Object::string_literal(line.as_str())],
                ));
                ops.push(Operation::new("ET", vec![]));
            }
        } else {
            ops.push(Operation::new(
                "re",
                vec![72.into(), 72.into(), 400.into(), 600.into()],
            ));
            ops.push(Operation::new("f", vec![]));
        }
        let content = doc.add_object(Stream::new(
            dictionary! {},
            Content { operations: ops }.encode().unwrap(),
        ));
        page_ids.push(doc.add_object(
            dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content },
        ));
    }
    let kids: Vec<Object> = page_ids.iter().map(|&id| id.into()).collect();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => page_ids.len() as i64,
            "Resources" => resources, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let outlines = doc.new_object_id();
    let first = doc.new_object_id();
    let second = doc.new_object_id();
    doc.objects.insert(first, Object::Dictionary(dictionary! {
        "Title" => Object::string_literal("Chapter One"), "Parent" => outlines, "Next" => second,
        "Dest" => vec![page_ids[0].into(), "Fit".into()],
    }));
    doc.objects.insert(
        second,
        Object::Dictionary(dictionary! {
            "Title" => Object::string_literal("Chapter Two"), "Parent" => outlines, "Prev" => first,
            "Dest" => vec![page_ids[2].into(), "Fit".into()],
        }),
    );
    doc.objects.insert(
        outlines,
        Object::Dictionary(dictionary! {
            "Type" => "Outlines", "First" => first, "Last" => second, "Count" => 2,
        }),
    );
    let catalog = doc.add_object(
        dictionary! { "Type" => "Catalog", "Pages" => pages_id, "Outlines" => outlines },
    );
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn render(doc: &Document) -> String {
    let mut s = String::new();
    for (k, c) in doc.chapters.iter().enumerate() {
        s += &format!("## {} {:?}\n{}\n\n", k + 1, c.title, c.text);
    }
    for w in &doc.warnings {
        s += &format!("! {w}\n");
    }
    s
}

fn test_data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name)
}

#[test]
fn epub_chapters_in_reading_order_with_their_titles() {
    let doc = read(&epub(false), InputFormat::Epub, ReadOptions::default()).unwrap();
    insta::assert_snapshot!(render(&doc));
}

#[test]
fn pdf_text_without_page_furniture_in_outline_chapters() {
    let doc = read(&pdf(false), InputFormat::Pdf, ReadOptions::default()).unwrap();
    insta::assert_snapshot!(render(&doc));
}

#[test]
fn the_committed_fixtures_are_what_these_builders_make() {
    // The CLI's tests read these files; rebuild them with
    // `KOKORO_WRITE_FIXTURES=1 cargo test -p kokoro-text --features documents --test documents`.
    for (name, bytes) in [("book.epub", epub(false)), ("book.pdf", pdf(false))] {
        let path = test_data(name);
        if std::env::var_os("KOKORO_WRITE_FIXTURES").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap();
        let a = read(
            &committed,
            InputFormat::sniff(&committed),
            ReadOptions::default(),
        )
        .unwrap();
        let b = read(&bytes, InputFormat::sniff(&bytes), ReadOptions::default()).unwrap();
        assert_eq!(a, b, "{name} is out of date");
    }
}

#[test]
fn bad_documents_are_clear_errors() {
    let book = epub(false);
    let truncated = &book[..book.len() / 2];
    assert!(matches!(
        read(truncated, InputFormat::Epub, ReadOptions::default()),
        Err(DocumentError::Epub(_))
    ));

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("hello.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"hello").unwrap();
    let not_epub = zip.finish().unwrap().into_inner();
    let err = read(&not_epub, InputFormat::Epub, ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not an EPUB"), "{err}");

    assert!(matches!(
        read(&epub(true), InputFormat::Epub, ReadOptions::default()),
        Err(DocumentError::Encrypted)
    ));
    assert!(matches!(
        read(&pdf(true), InputFormat::Pdf, ReadOptions::default()),
        Err(DocumentError::NoTextLayer)
    ));
    // Encrypted: with a password to open it, a clear error; with none (only
    // an owner's password, as many PDFs have), read as usual.
    let err = read(
        &encrypted_pdf("secret"),
        InputFormat::Pdf,
        ReadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("encrypted"), "{err}");
    let open = read(&encrypted_pdf(""), InputFormat::Pdf, ReadOptions::default()).unwrap();
    assert!(open.chapters[0].text.contains("best of times"), "{open:?}");
    assert!(matches!(
        read(
            b"%PDF-1.5 garbage",
            InputFormat::Pdf,
            ReadOptions::default()
        ),
        Err(DocumentError::Pdf(_))
    ));
    assert!(matches!(
        read(
            b"<html><body><script>x</script></body></html>",
            InputFormat::Html,
            ReadOptions::default()
        ),
        Err(DocumentError::Empty(_))
    ));
    assert!(matches!(
        read(
            &[0xff, 0xfe, 0x00],
            InputFormat::Text,
            ReadOptions::default()
        ),
        Err(DocumentError::NotUtf8(0))
    ));
}

/// A zip bomb: one chapter of 80 MiB of blanks, deflated to a few hundred KB.
/// It is refused without being inflated, and the error says which bound it hit.
#[test]
fn a_zip_bomb_epub_is_refused_naming_the_bound() {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    zip.start_file("mimetype", deflated).unwrap();
    zip.write_all(b"application/epub+zip").unwrap();
    zip.start_file("META-INF/container.xml", deflated).unwrap();
    zip.write_all(br#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#).unwrap();
    zip.start_file("content.opf", deflated).unwrap();
    zip.write_all(br#"<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><manifest><item id="c" href="bomb.xhtml" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="c"/></spine></package>"#).unwrap();
    zip.start_file("bomb.xhtml", deflated).unwrap();
    let blanks = vec![b' '; 1 << 20];
    for _ in 0..80 {
        zip.write_all(&blanks).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
    let e = read(&bytes, InputFormat::Epub, ReadOptions::default()).unwrap_err();
    let said = e.to_string();
    assert!(matches!(e, DocumentError::Unreadable { .. }), "{said}");
    assert!(
        said.contains("bomb.xhtml") && said.contains("67108864 bytes") && said.contains("zip bomb"),
        "{said}"
    );
}
