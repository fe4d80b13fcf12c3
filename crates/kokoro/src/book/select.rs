//! Which chapters to speak: `3`, `3-7`, `-4`, `10-`, or a list of those;
//! and a read document made into a [`Book`].

#[cfg(feature = "documents")]
use super::{Book, Chapter};
use crate::{Error, Result};

/// Parses a chapter selection (`3`, `3-7`, `-4`, `10-`, or a comma-separated
/// list of those) against `count` chapters: indices from 0, in order,
/// without repeats.
pub fn select(spec: &str, count: usize) -> Result<Vec<usize>> {
    let mut chosen = std::collections::BTreeSet::new();
    for part in spec.split(',').map(str::trim) {
        let bad = || {
            Error::Book(format!(
                "`{part}` is not a chapter or range (like 3, 3-7, 10-, or 1,4-6)"
            ))
        };
        let number = |s: &str, empty: usize| -> Result<usize> {
            let s = s.trim();
            if s.is_empty() {
                Ok(empty)
            } else {
                s.parse().map_err(|_| bad())
            }
        };
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (number(a, 1)?, number(b, count)?),
            None => {
                let n: usize = part.parse().map_err(|_| bad())?;
                (n, n)
            }
        };
        if from == 0 || from > to {
            return Err(bad());
        }
        if to > count {
            return Err(Error::Book(format!(
                "the document has {count} chapter(s), not {to}"
            )));
        }
        chosen.extend(from..=to);
    }
    Ok(chosen.into_iter().map(|n| n - 1).collect())
}

#[cfg(feature = "documents")]
impl Book {
    /// The chapters `chosen` (all for `None`) of a document read by
    /// [`kokoro_text::document::read`] as `format`, with what it says of
    /// itself. A plain text's chapters are the input cut in pieces, so their
    /// word spans count from the input's start; a document's from 0.
    pub fn from_document(
        doc: &kokoro_text::document::Document,
        format: kokoro_text::document::InputFormat,
        chosen: Option<&[usize]>,
    ) -> Book {
        let mut offsets = Vec::with_capacity(doc.chapters.len());
        let mut at = 0;
        for c in &doc.chapters {
            offsets.push(at);
            at += c.text.len();
        }
        let all: Vec<usize> = (0..doc.chapters.len()).collect();
        let chapters = chosen
            .unwrap_or(&all)
            .iter()
            .filter_map(|&i| {
                let c = doc.chapters.get(i)?;
                Some(Chapter {
                    number: i,
                    title: c.title.clone(),
                    text: c.text.clone(),
                    offset: match format {
                        kokoro_text::document::InputFormat::Text => offsets[i],
                        _ => 0,
                    },
                })
            })
            .collect();
        let meta = &doc.metadata;
        Book {
            chapters,
            numbered: doc.chapters.len() > 1,
            title: meta.title.clone(),
            author: meta.author.clone(),
            cover: meta
                .cover
                .as_ref()
                .and_then(|c| kokoro_audio::Cover::sniff(c.clone())),
            language: meta.language.clone(),
            ssml: None,
            epub: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any selection text: an error or chapters of the document, never
        /// a panic.
        #[test]
        fn any_chapter_list_is_chapters_or_an_error(spec in "(\\PC|[0-9,\\- ]){0,40}", count in 0usize..50) {
            if let Ok(chosen) = select(&spec, count) {
                proptest::prop_assert!(chosen.iter().all(|&c| c < count));
                proptest::prop_assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn chapter_selections() {
        assert_eq!(select("3-5", 10).unwrap(), vec![2, 3, 4]);
        assert_eq!(select("1,4-5,4", 10).unwrap(), vec![0, 3, 4]);
        assert_eq!(select("-2", 10).unwrap(), vec![0, 1]);
        assert_eq!(select("9-", 10).unwrap(), vec![8, 9]);
        for bad in ["0", "5-3", "x", "1-x", "", "11"] {
            assert!(select(bad, 10).is_err(), "{bad}");
        }
    }
}
