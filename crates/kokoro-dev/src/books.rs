//! Small, valid EPUB books for tests: an EPUB 3 and an EPUB 2 of the same
//! three chapters, each passing epubcheck with no error and no warning as
//! made, with a cover, a stylesheet, inline markup, a footnote marker and a
//! chapter split over two files.

use std::io::Write;

/// A 16 x 16 PNG, the books' cover.
pub const COVER_PNG: [u8; 133] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 16, 0, 0, 0, 16, 8, 2,
    0, 0, 0, 144, 145, 104, 54, 0, 0, 0, 76, 73, 68, 65, 84, 120, 218, 149, 194, 33, 22, 64, 0, 0,
    68, 193, 61, 206, 63, 142, 40, 138, 162, 40, 138, 162, 40, 138, 162, 40, 138, 255, 88, 206,
    176, 243, 38, 14, 84, 227, 72, 53, 78, 84, 227, 76, 53, 46, 84, 227, 74, 53, 110, 84, 227, 78,
    53, 30, 84, 227, 73, 53, 94, 84, 227, 77, 53, 62, 84, 227, 75, 53, 126, 84, 163, 84, 127, 25,
    74, 124, 16, 187, 181, 251, 251, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// The books' title and author.
pub const TITLE: &str = "The Lighthouse Keeper";
/// The books' author.
pub const AUTHOR: &str = "Ada Marlowe";

/// The chapters: a title, and paragraphs of XHTML (inline markup allowed).
/// The second chapter's last paragraph is in a file of its own that the
/// table of contents does not name.
pub const CHAPTERS: [(&str, &[&str]); 3] = [
    (
        "The Storm",
        &[
            "The wind rose over the <em>grey</em> water before dawn.",
            "Martha climbed the stairs and lit the great lamp.<sup>1</sup> Its beam swept across the waves.",
        ],
    ),
    (
        "The Ship",
        &[
            "A small ship fought the storm near the rocks.",
            "She signalled with her lantern, and the sailors turned toward the harbour.",
        ],
    ),
    (
        "The Morning",
        &[
            "By morning the sea was calm and bright.",
            "The captain walked up the hill to thank her, carrying fresh bread.",
        ],
    ),
];

struct Zip {
    w: zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
}

impl Zip {
    fn new() -> Self {
        let mut z = Zip {
            w: zip::ZipWriter::new(std::io::Cursor::new(Vec::new())),
        };
        z.add("mimetype", b"application/epub+zip", false);
        z.add(
            "META-INF/container.xml",
            br#"<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles>
<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
</rootfiles>
</container>
"#,
            true,
        );
        z
    }

    fn add(&mut self, name: &str, bytes: &[u8], deflate: bool) {
        let options = zip::write::SimpleFileOptions::default().compression_method(if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        });
        self.w.start_file(name, options).expect("zip in memory");
        self.w.write_all(bytes).expect("zip in memory");
    }

    fn finish(self) -> Vec<u8> {
        self.w.finish().expect("zip in memory").into_inner()
    }
}

const CSS: &str = "body { font-family: serif; }\nh1 { text-align: center; }\n";

/// A page: `(title, paragraphs)` in the doctype given.
fn page(doctype: &str, title: Option<&str>, paragraphs: &[&str], epub3: bool) -> String {
    let heading = title.map_or(String::new(), |t| format!("<h1>{t}</h1>\n"));
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    let ns = if epub3 {
        " xmlns:epub=\"http://www.idpf.org/2007/ops\""
    } else {
        ""
    };
    let charset = if epub3 {
        "<meta charset=\"UTF-8\"/>\n"
    } else {
        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"/>\n"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{doctype}\n<html xmlns=\"http://www.w3.org/1999/xhtml\"{ns} xml:lang=\"en\">\n<head>\n{charset}<title>{}</title>\n<link rel=\"stylesheet\" type=\"text/css\" href=\"../style.css\"/>\n</head>\n<body>\n{heading}{body}</body>\n</html>\n",
        title.unwrap_or(TITLE)
    )
}

/// The EPUB 3 book.
pub fn epub3() -> Vec<u8> {
    let mut z = Zip::new();
    let mut manifest = String::new();
    let mut spine = String::new();
    let mut toc = String::new();
    for (k, (title, paragraphs)) in CHAPTERS.iter().enumerate() {
        let n = k + 1;
        let (here, rest) = if k == 1 {
            (&paragraphs[..1], &paragraphs[1..])
        } else {
            (&paragraphs[..], &[][..])
        };
        z.add(
            &format!("OEBPS/text/ch{n}.xhtml"),
            page("<!DOCTYPE html>", Some(title), here, true).as_bytes(),
            true,
        );
        manifest += &format!(
            "<item id=\"ch{n}\" href=\"text/ch{n}.xhtml\" media-type=\"application/xhtml+xml\"/>\n"
        );
        spine += &format!("<itemref idref=\"ch{n}\"/>\n");
        toc += &format!("<li><a href=\"text/ch{n}.xhtml\">{title}</a></li>\n");
        if !rest.is_empty() {
            z.add(
                &format!("OEBPS/text/ch{n}b.xhtml"),
                page("<!DOCTYPE html>", None, rest, true).as_bytes(),
                true,
            );
            manifest += &format!(
                "<item id=\"ch{n}b\" href=\"text/ch{n}b.xhtml\" media-type=\"application/xhtml+xml\"/>\n"
            );
            spine += &format!("<itemref idref=\"ch{n}b\"/>\n");
        }
    }
    z.add("OEBPS/style.css", CSS.as_bytes(), true);
    z.add("OEBPS/images/cover.png", &COVER_PNG, false);
    z.add(
        "OEBPS/nav.xhtml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\" xml:lang=\"en\">\n<head>\n<meta charset=\"UTF-8\"/>\n<title>Contents</title>\n</head>\n<body>\n<nav epub:type=\"toc\" id=\"toc\">\n<h1>Contents</h1>\n<ol>\n{toc}</ol>\n</nav>\n</body>\n</html>\n"
        )
        .as_bytes(),
        true,
    );
    z.add(
        "OEBPS/content.opf",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" unique-identifier=\"pub-id\" xml:lang=\"en\">\n<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<dc:identifier id=\"pub-id\">urn:uuid:6f1d2a4e-3b7c-4e58-9a0d-2c1b8e7f5a31</dc:identifier>\n<dc:title>{TITLE}</dc:title>\n<dc:creator>{AUTHOR}</dc:creator>\n<dc:language>en</dc:language>\n<meta property=\"dcterms:modified\">2026-01-01T00:00:00Z</meta>\n</metadata>\n<manifest>\n<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"/>\n<item id=\"css\" href=\"style.css\" media-type=\"text/css\"/>\n<item id=\"cover\" href=\"images/cover.png\" media-type=\"image/png\" properties=\"cover-image\"/>\n{manifest}</manifest>\n<spine>\n{spine}</spine>\n</package>\n"
        )
        .as_bytes(),
        true,
    );
    z.finish()
}

/// The EPUB 2 book: `.html` pages with the XHTML 1.1 doctype and named
/// entities, an NCX, `opf:` attributes, the cover named by `<meta>`.
pub fn epub2() -> Vec<u8> {
    let doctype = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.1//EN\" \"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\">";
    let mut z = Zip::new();
    let mut manifest = String::new();
    let mut spine = String::new();
    let mut points = String::new();
    for (k, (title, paragraphs)) in CHAPTERS.iter().enumerate() {
        let n = k + 1;
        // Named entities, as EPUB 2 books have them.
        let paragraphs: Vec<String> = paragraphs
            .iter()
            .map(|p| p.replacen(", and", ",&nbsp;and", 1))
            .collect();
        let paragraphs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
        z.add(
            &format!("OEBPS/text/ch{n}.html"),
            page(doctype, Some(title), &paragraphs, false).as_bytes(),
            true,
        );
        manifest += &format!(
            "<item id=\"ch{n}\" href=\"text/ch{n}.html\" media-type=\"application/xhtml+xml\"/>\n"
        );
        spine += &format!("<itemref idref=\"ch{n}\"/>\n");
        points += &format!(
            "<navPoint id=\"np{n}\" playOrder=\"{n}\"><navLabel><text>{title}</text></navLabel><content src=\"text/ch{n}.html\"/></navPoint>\n"
        );
    }
    z.add("OEBPS/style.css", CSS.as_bytes(), true);
    z.add("OEBPS/images/cover.png", &COVER_PNG, false);
    z.add(
        "OEBPS/toc.ncx",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE ncx PUBLIC \"-//NISO//DTD ncx 2005-1//EN\" \"http://www.daisy.org/z3986/2005/ncx-2005-1.dtd\">\n<ncx xmlns=\"http://www.daisy.org/z3986/2005/ncx/\" version=\"2005-1\">\n<head>\n<meta name=\"dtb:uid\" content=\"urn:uuid:0b6d9c2e-8f4a-4d17-b5e3-9a7c1f2e4d60\"/>\n<meta name=\"dtb:depth\" content=\"1\"/>\n<meta name=\"dtb:totalPageCount\" content=\"0\"/>\n<meta name=\"dtb:maxPageNumber\" content=\"0\"/>\n</head>\n<docTitle><text>{TITLE}</text></docTitle>\n<navMap>\n{points}</navMap>\n</ncx>\n"
        )
        .as_bytes(),
        true,
    );
    z.add(
        "OEBPS/content.opf",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"2.0\" unique-identifier=\"BookId\">\n<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:opf=\"http://www.idpf.org/2007/opf\">\n<dc:identifier id=\"BookId\" opf:scheme=\"UUID\">urn:uuid:0b6d9c2e-8f4a-4d17-b5e3-9a7c1f2e4d60</dc:identifier>\n<dc:title>{TITLE}</dc:title>\n<dc:creator opf:role=\"aut\" opf:file-as=\"Marlowe, Ada\">{AUTHOR}</dc:creator>\n<dc:language>en</dc:language>\n<dc:date opf:event=\"publication\">2020-05-01</dc:date>\n<meta name=\"cover\" content=\"cover\"/>\n</metadata>\n<manifest>\n<item id=\"ncx\" href=\"toc.ncx\" media-type=\"application/x-dtbncx+xml\"/>\n<item id=\"css\" href=\"style.css\" media-type=\"text/css\"/>\n<item id=\"cover\" href=\"images/cover.png\" media-type=\"image/png\"/>\n{manifest}</manifest>\n<spine toc=\"ncx\">\n{spine}</spine>\n<guide>\n<reference type=\"text\" title=\"Start\" href=\"text/ch1.html\"/>\n</guide>\n</package>\n"
        )
        .as_bytes(),
        true,
    );
    z.finish()
}
