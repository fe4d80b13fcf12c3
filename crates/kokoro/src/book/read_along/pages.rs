//! The pages of a read-along book: made from a chapter's text, or a source
//! EPUB's pages with their sentences marked.

use super::Clip;

/// For each clip of a page, the id of its span and its words' (`None`
/// where there is none).
pub(super) type Ids = Vec<Option<(String, Vec<Option<String>>)>>;

/// The highlight's class, as the package declares it.
pub(super) const ACTIVE_CLASS: &str = "-epub-media-overlay-active";

/// The stylesheet that shows the highlight.
pub(super) const STYLESHEET: &str =
    ".-epub-media-overlay-active {\n  background-color: #ffe98a;\n  color: #000;\n}\n";

/// `s` with `&`, `<`, `>` and `"` escaped, and characters XML cannot hold
/// (most control characters) written as spaces.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A page made from a chapter's `text`: a paragraph per block (the first a
/// heading when it is the title), each clip a `<span>`, each of its words
/// too when it has them. Returns the page and, for each clip, its id and
/// its words' ids (`None` for a clip that crosses paragraphs, and for a
/// word inside another).
pub(super) fn page(
    title: &str,
    lang: &str,
    text: &str,
    clips: &[Clip],
    stylesheet: &str,
) -> (String, Ids) {
    let mut ids = vec![None; clips.len()];
    let mut body = String::new();
    let mut at = 0;
    let mut first = true;
    let mut next_clip = 0;
    for block in text.split("\n\n") {
        let start = at;
        at += block.len() + 2;
        let (lead, trimmed) = (block.len() - block.trim_start().len(), block.trim());
        if trimmed.is_empty() {
            continue;
        }
        let (from, to) = (start + lead, start + lead + trimmed.len());
        let heading = first
            && !title.is_empty()
            && trimmed.trim_end_matches(['.', ':']) == title.trim_end_matches(['.', ':']);
        first = false;
        let tag = if heading { "h1" } else { "p" };
        body.push_str(&format!("<{tag}>"));
        let mut pos = from;
        while next_clip < clips.len() && clips[next_clip].range[0] < to {
            let clip = &clips[next_clip];
            let (cs, ce) = (clip.range[0].max(pos), clip.range[1]);
            if clip.range[0] < from || ce > to {
                // Across blocks (sentences that start together): unmarked.
                next_clip += 1;
                continue;
            }
            body.push_str(&escape(&text[pos..cs]));
            let id = format!("s{}", next_clip + 1);
            body.push_str(&format!("<span id=\"{id}\">"));
            let mut words = Vec::new();
            let mut wpos = cs;
            for (n, w) in clip.words.iter().enumerate() {
                let (ws, we) = (w.range[0].max(wpos), w.range[1].min(ce));
                if ws >= we {
                    words.push(None);
                    continue;
                }
                let wid = format!("{id}w{}", n + 1);
                body.push_str(&escape(&text[wpos..ws]));
                body.push_str(&format!(
                    "<span id=\"{wid}\">{}</span>",
                    escape(&text[ws..we])
                ));
                words.push(Some(wid));
                wpos = we;
            }
            body.push_str(&escape(&text[wpos..ce]));
            body.push_str("</span>");
            ids[next_clip] = Some((id, words));
            pos = ce;
            next_clip += 1;
        }
        body.push_str(&escape(&text[pos.min(to)..to]));
        body.push_str(&format!("</{tag}>\n"));
    }
    let xhtml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\" xml:lang=\"{lang}\" lang=\"{lang}\">\n<head>\n<meta charset=\"UTF-8\"/>\n<title>{}</title>\n<link rel=\"stylesheet\" type=\"text/css\" href=\"{stylesheet}\"/>\n</head>\n<body id=\"body\">\n<section epub:type=\"chapter\">\n{body}</section>\n</body>\n</html>\n",
        escape(if title.is_empty() { "Untitled" } else { title }),
    );
    (xhtml, ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_holds_the_text_its_clips_and_words() {
        let text = "The Start\n\nIt began. <Then> & more.";
        let clips = vec![
            Clip {
                range: [0, 9],
                begin: 0,
                end: 1,
                words: Vec::new(),
            },
            Clip {
                range: [11, 20],
                begin: 1,
                end: 2,
                words: vec![
                    Clip {
                        range: [11, 13],
                        begin: 1,
                        end: 2,
                        words: Vec::new(),
                    },
                    Clip {
                        range: [14, 20],
                        begin: 2,
                        end: 3,
                        words: Vec::new(),
                    },
                ],
            },
            Clip {
                range: [21, 35],
                begin: 3,
                end: 4,
                words: Vec::new(),
            },
        ];
        let (x, ids) = page("The Start", "en", text, &clips, "s.css");
        assert!(
            x.contains("<h1><span id=\"s1\">The Start</span></h1>"),
            "{x}"
        );
        assert!(
            x.contains("<p><span id=\"s2\"><span id=\"s2w1\">It</span> <span id=\"s2w2\">began.</span></span> <span id=\"s3\">&lt;Then&gt; &amp; more.</span></p>"),
            "{x}"
        );
        assert_eq!(
            ids[1].as_ref().unwrap().1,
            [Some("s2w1".to_string()), Some("s2w2".to_string())]
        );
        assert_eq!(escape("a\u{1}b"), "a b");
    }
}
