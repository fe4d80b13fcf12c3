//! Chapter markers in a merged file: an ID3v2 tag with `CHAP` and `CTOC` frames
//! for MP3 (read by podcast and audiobook players), `cue ` points with labels
//! for WAV.

use crate::{Error, Result, Tags};

/// Where each chapter starts in a merged file.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The chapter's title (or "Chapter N").
    pub title: String,
    /// First sample of the chapter.
    pub start: u64,
}

/// An ID3v2.4 tag with a CHAP frame per chapter and a table of contents, for
/// MP3. Times are in milliseconds; the tag's size does not depend on them, so a
/// placeholder can be written first and the real tag over it at the end.
pub fn id3_chapters(markers: &[Marker], end_sample: u64) -> Result<Vec<u8>> {
    id3_tag(&Tags::default(), markers, end_sample)
}

/// An ID3v2.4 tag saying what `tags` say (title, author, narrator as
/// composer, cover) and, for two or more markers, the chapters as
/// [`id3_chapters`] writes them. Its size does not depend on the markers'
/// times either.
pub fn id3_tag(tags: &Tags, markers: &[Marker], end_sample: u64) -> Result<Vec<u8>> {
    use id3::frame::{Chapter, Picture, PictureType, TableOfContents};
    use id3::{Frame, Tag, TagLike, Version};
    let ms = |s: u64| u32::try_from(s * 1000 / u64::from(crate::SAMPLE_RATE)).unwrap_or(u32::MAX);
    let mut tag = Tag::new();
    if let Some(title) = &tags.title {
        tag.set_title(title.clone());
        tag.set_album(title.clone());
    }
    if let Some(author) = &tags.author {
        tag.set_artist(author.clone());
    }
    if let Some(narrator) = &tags.narrator {
        tag.add_frame(Frame::text("TCOM", narrator.clone()));
    }
    if let Some(cover) = &tags.cover {
        tag.add_frame(Picture {
            mime_type: cover.kind.mime_type().to_string(),
            picture_type: PictureType::CoverFront,
            description: String::new(),
            data: cover.bytes.clone(),
        });
    }
    if markers.len() < 2 {
        let mut out = Vec::new();
        tag.write_to(&mut out, Version::Id3v24)
            .map_err(|e| Error::codec("id3", e))?;
        return Ok(out);
    }
    let mut ids = Vec::new();
    for (k, m) in markers.iter().enumerate() {
        let end = markers.get(k + 1).map_or(end_sample, |n| n.start);
        let id = format!("chp{k}");
        ids.push(id.clone());
        tag.add_frame(Chapter {
            element_id: id,
            start_time: ms(m.start),
            end_time: ms(end),
            start_offset: u32::MAX,
            end_offset: u32::MAX,
            frames: vec![Frame::text("TIT2", m.title.clone())],
        });
    }
    tag.add_frame(TableOfContents {
        element_id: "toc".into(),
        top_level: true,
        ordered: true,
        elements: ids,
        frames: Vec::new(),
    });
    let mut out = Vec::new();
    tag.write_to(&mut out, Version::Id3v24)
        .map_err(|e| Error::codec("id3", e))?;
    Ok(out)
}

/// WAV `cue ` and `LIST`/`adtl` chunks naming each chapter's first sample, to
/// append after the data chunk (players and editors show them as markers).
pub fn wav_cues(markers: &[Marker]) -> Vec<u8> {
    let mut cue = Vec::new();
    cue.extend_from_slice(&(markers.len() as u32).to_le_bytes());
    let mut labels = b"adtl".to_vec();
    for (k, m) in markers.iter().enumerate() {
        let id = k as u32 + 1;
        let start = u32::try_from(m.start).unwrap_or(u32::MAX);
        cue.extend_from_slice(&id.to_le_bytes());
        cue.extend_from_slice(&start.to_le_bytes());
        cue.extend_from_slice(b"data");
        cue.extend_from_slice(&0u32.to_le_bytes());
        cue.extend_from_slice(&0u32.to_le_bytes());
        cue.extend_from_slice(&start.to_le_bytes());
        let mut text = m.title.clone().into_bytes();
        text.push(0);
        labels.extend_from_slice(b"labl");
        labels.extend_from_slice(&(4 + text.len() as u32).to_le_bytes());
        labels.extend_from_slice(&id.to_le_bytes());
        labels.extend_from_slice(&text);
        if text.len() % 2 == 1 {
            labels.push(0);
        }
    }
    let mut out = Vec::new();
    for (id, body) in [(b"cue ", cue), (b"LIST", labels)] {
        out.extend_from_slice(id);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chapter_tag_has_one_size_whatever_the_times() {
        let mut m = vec![
            Marker {
                title: "One".into(),
                start: 0,
            },
            Marker {
                title: "Two".into(),
                start: 24_000,
            },
        ];
        let a = id3_chapters(&m, 48_000).unwrap();
        m[1].start = 2_400_000;
        let b = id3_chapters(&m, 9_999_999).unwrap();
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        let tag = id3::Tag::read_from2(std::io::Cursor::new(&b)).unwrap();
        let chapters: Vec<_> = tag.chapters().collect();
        assert_eq!(chapters.len(), 2);
        assert_eq!(chapters[1].start_time, 100_000);
    }
}
