//! Markdown to readable text: markup, HTML, images and (unless asked) code
//! blocks left out; headings become chapters (at the top level used twice or
//! more) or paragraphs.

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

use super::{Builder, Document, ReadOptions};

pub(crate) fn read(text: &str, opts: ReadOptions) -> Document {
    let events: Vec<Event<'_>> = Parser::new(text).collect();
    let count = |l: HeadingLevel| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Start(Tag::Heading { level, .. }) if *level == l))
            .count()
    };
    let chapter_level = if count(HeadingLevel::H1) >= 2 {
        Some(HeadingLevel::H1)
    } else if count(HeadingLevel::H2) >= 2 {
        Some(HeadingLevel::H2)
    } else {
        None
    };
    let mut b = Builder::default();
    let mut heading: Option<(HeadingLevel, String)> = None;
    let mut skip = 0usize;
    for event in events {
        match event {
            Event::Start(Tag::CodeBlock(_)) if !opts.code_blocks => skip += 1,
            Event::End(TagEnd::CodeBlock) if !opts.code_blocks => {
                skip = skip.saturating_sub(1);
                b.block();
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                if dest_url
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
                {
                    b.embedded(&dest_url);
                }
                skip += 1;
            }
            Event::End(TagEnd::Image) => skip = skip.saturating_sub(1),
            _ if skip > 0 => {}
            Event::Start(Tag::Heading { level, .. }) => heading = Some((level, String::new())),
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = heading.take() {
                    if Some(level) == chapter_level {
                        b.chapter(&text);
                    } else {
                        b.heading(&text);
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => match heading.as_mut() {
                Some((_, h)) => h.push_str(&t),
                None => b.text(&t),
            },
            Event::SoftBreak => match heading.as_mut() {
                Some((_, h)) => h.push(' '),
                None => b.text(" "),
            },
            Event::HardBreak | Event::Rule => b.block(),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::BlockQuote(_)
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::CodeBlock,
            ) => b.block(),
            Event::End(TagEnd::TableCell) => b.text(" "),
            _ => {}
        }
    }
    let warnings = std::mem::take(&mut b.warnings);
    Document {
        chapters: b.finish(),
        warnings,
        metadata: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_objects_are_left_out_with_a_warning() {
        let blob = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
        let md = format!(
            "Before ![pixel](data:image/png;base64,{blob}) after.\n\nPasted data:text/plain;base64,{blob} here.\n"
        );
        let doc = read(&md, ReadOptions::default());
        assert_eq!(doc.chapters[0].text, "Before after.\n\nPasted here.");
        assert_eq!(doc.warnings.len(), 2, "{:?}", doc.warnings);
        assert!(doc.warnings[0].contains("image/png"), "{:?}", doc.warnings);
        assert!(doc.warnings[1].contains("text/plain"), "{:?}", doc.warnings);
    }

    #[test]
    fn markdown_reads_as_text_with_chapters() {
        let md = "# One\n\nSome *emphasis* and `code` and [a link](http://x).\n\n```rust\nfn main() {}\n```\n\n![alt](i.png)\n\n## Part\n\n- item one\n- item two\n\n# Two\n\nEnd<br> here.\n";
        let doc = read(md, ReadOptions::default());
        let got: Vec<(&str, &str)> = doc
            .chapters
            .iter()
            .map(|c| (c.title.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "One",
                    "One.\n\nSome emphasis and code and a link.\n\nPart.\n\nitem one\n\nitem two"
                ),
                ("Two", "Two.\n\nEnd here."),
            ]
        );
        let code = read(md, ReadOptions { code_blocks: true });
        assert!(code.chapters[0].text.contains("fn main() {}"));
    }
}
