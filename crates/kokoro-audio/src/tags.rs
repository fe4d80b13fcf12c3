//! What a file says about itself: title, author, narrator, cover and
//! chapters, for the formats that carry them (M4B and M4A, MP3, WAV).

/// A cover image, as the file will hold it.
#[derive(Clone, PartialEq, Eq)]
pub struct Cover {
    /// The image file's bytes.
    pub bytes: Vec<u8>,
    /// What they are.
    pub kind: ImageKind,
}

impl std::fmt::Debug for Cover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cover")
            .field("kind", &self.kind)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The image formats a cover may have (the two that every player shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
}

impl ImageKind {
    /// The MIME type.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
        }
    }
}

impl Cover {
    /// The image, if its bytes are a JPEG or a PNG (by their magic numbers:
    /// a file's name or a package's word for it is not trusted).
    pub fn sniff(bytes: Vec<u8>) -> Option<Cover> {
        let kind = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            ImageKind::Jpeg
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            ImageKind::Png
        } else {
            return None;
        };
        Some(Cover { bytes, kind })
    }
}

/// What a file says about itself. Formats keep what they can: M4B and M4A
/// all of it, MP3 all of it in its ID3 tag, WAV the chapters as cue points,
/// the others nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    /// The work's title.
    pub title: Option<String>,
    /// Its author.
    pub author: Option<String>,
    /// Who reads it (the voice).
    pub narrator: Option<String>,
    /// The cover.
    pub cover: Option<Cover>,
    /// The chapters' titles, in order, when the audio has chapters: each
    /// starts where [`crate::Encoder::begin_chapter`] is called. Known when the
    /// file is opened, as MP3's tag comes before its audio.
    pub chapters: Vec<String>,
}

impl Tags {
    /// Whether there is anything to say.
    pub fn is_empty(&self) -> bool {
        *self == Tags::default()
    }
}
