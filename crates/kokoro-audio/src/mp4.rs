//! AAC-LC in an MP4 container: M4B audiobooks (chapters, title, author,
//! narrator, cover) and M4A files, written as audio arrives in constant
//! memory.
//!
//! While audio arrives, access units go to an unnamed spool file and their
//! sizes to another (4 bytes each); nothing grows in memory with the length.
//! At the end the file is written whole, the index first so that players
//! start at once ("fast start"):
//!
//! ```text
//! ftyp  'M4B ' (or 'M4A ')
//! moov  mvhd
//!       trak  audio: tkhd, edts/elst (the encoder's priming skipped),
//!             tref/chap -> the chapter track, mdia (mp4a/esds, stts, stsc,
//!             stsz streamed from the sizes spool, stco or co64 computed from it,
//!             the roll group)
//!       trak  chapters (disabled): a QuickTime text track, a sample per
//!             chapter (Apple Books, iTunes, QuickTime, ffmpeg read this)
//!       udta  meta/ilst (title, author, narrator, cover, `stik` audiobook),
//!             chpl (the Nero chapter list: VLC and many Android players)
//! mdat  the access units, then the chapter titles
//! ```
//!
//! Boxes switch to their 64-bit forms (co64, mdat's large size, version 1
//! durations) when a book outgrows the 32-bit ones (4 GiB, or 49 hours of
//! 24 kHz samples).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
#[cfg(test)]
use std::ops::Range;

use crate::aac::{Frames, BIT_RATE, FRAME};
use crate::tags::{ImageKind, Tags};
use crate::{Dest, Encoder, Error, Result, SAMPLE_RATE};

/// Access units per chunk (about 2.7 s): one `stco` entry each.
const CHUNK: u64 = 64;

/// Which kind of MP4 audio file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Brand {
    /// An audiobook (`M4B `, media kind "Audiobook").
    M4b,
    /// An audio file (`M4A `).
    M4a,
}

/// The MP4 writer behind [`crate::Format::M4b`] and [`crate::Format::M4a`].
pub(crate) struct Mp4Encoder {
    dest: Dest,
    brand: Brand,
    frames: Frames,
    spool: BufWriter<File>,
    sizes: BufWriter<File>,
    /// Access units, their bytes in all, and the largest.
    units: u64,
    payload: u64,
    max_unit: u32,
    /// Source samples written.
    samples: u64,
    tags: Tags,
    /// Where each chapter begun so far starts, in source samples.
    starts: Vec<u64>,
}

impl Mp4Encoder {
    pub(crate) fn new(dest: Dest, brand: Brand, tags: Tags) -> Result<Self> {
        let spool = |what: &str| {
            tempfile::tempfile().map_err(|e| Error::Codec {
                codec: "mp4",
                reason: format!("cannot make a temporary file for the {what}: {e}"),
            })
        };
        Ok(Self {
            dest,
            brand,
            frames: Frames::new(false)?,
            spool: BufWriter::with_capacity(1 << 16, spool("audio")?),
            sizes: BufWriter::new(spool("index")?),
            units: 0,
            payload: 0,
            max_unit: 0,
            samples: 0,
            tags,
            starts: Vec::new(),
        })
    }
}

impl Encoder for Mp4Encoder {
    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        let (spool, sizes) = (&mut self.spool, &mut self.sizes);
        let (units, payload, max_unit) = (&mut self.units, &mut self.payload, &mut self.max_unit);
        self.frames.write(samples, |au| {
            spool.write_all(au)?;
            let len = au.len() as u32;
            sizes.write_all(&len.to_be_bytes())?;
            *units += 1;
            *payload += u64::from(len);
            *max_unit = (*max_unit).max(len);
            Ok(())
        })?;
        self.samples += samples.len() as u64;
        Ok(())
    }

    fn begin_chapter(&mut self) {
        if self.starts.len() < self.tags.chapters.len() {
            self.starts.push(self.samples);
        }
    }

    fn finish(mut self: Box<Self>) -> Result<Dest> {
        let (spool, sizes) = (&mut self.spool, &mut self.sizes);
        let (units, payload, max_unit) = (&mut self.units, &mut self.payload, &mut self.max_unit);
        let finished = self.frames.finish(|au| {
            spool.write_all(au)?;
            let len = au.len() as u32;
            sizes.write_all(&len.to_be_bytes())?;
            *units += 1;
            *payload += u64::from(len);
            *max_unit = (*max_unit).max(len);
            Ok(())
        })?;
        let mut spool = into_file(std::mem::replace(
            &mut self.spool,
            BufWriter::new(tempfile::tempfile()?),
        ))?;
        let mut sizes = into_file(std::mem::replace(
            &mut self.sizes,
            BufWriter::new(tempfile::tempfile()?),
        ))?;

        let book = Layout::of(&mut self, finished.priming, finished.samples);
        let ftyp = ftyp(self.brand);
        // The index's length does not depend on the offsets in it, only on
        // whether they need 64 bits: measure it with 32, and see.
        let mut wide = false;
        let mut moov = book.moov(0, wide);
        let mdat_payload = self.payload + book.titles_len();
        let total = ftyp.len() as u64 + moov.len + 8 + mdat_payload;
        if total > u64::from(u32::MAX) {
            wide = true;
            moov = book.moov(0, wide);
        }
        let mdat_header = if 8 + mdat_payload > u64::from(u32::MAX) {
            let mut h = Vec::with_capacity(16);
            h.extend_from_slice(&1u32.to_be_bytes());
            h.extend_from_slice(b"mdat");
            h.extend_from_slice(&(16 + mdat_payload).to_be_bytes());
            h
        } else {
            let mut h = Vec::with_capacity(8);
            h.extend_from_slice(&((8 + mdat_payload) as u32).to_be_bytes());
            h.extend_from_slice(b"mdat");
            h
        };
        let base = ftyp.len() as u64 + moov.len + mdat_header.len() as u64;
        let moov = book.moov(base, wide);

        let dest = &mut self.dest;
        dest.write_all(&ftyp)?;
        moov.write(dest, &mut sizes)?;
        dest.write_all(&mdat_header)?;
        spool.seek(SeekFrom::Start(0))?;
        std::io::copy(&mut BufReader::with_capacity(1 << 16, &mut spool), dest)?;
        for title in &book.titles {
            dest.write_all(&chapter_sample(title))?;
        }
        Ok(self.dest)
    }
}

fn into_file(w: BufWriter<File>) -> std::io::Result<File> {
    w.into_inner().map_err(|e| e.into_error())
}

/// Everything the index says, known at the end.
struct Layout {
    brand: Brand,
    tags: Tags,
    asc: Vec<u8>,
    units: u64,
    payload: u64,
    max_unit: u32,
    priming: u64,
    /// Source samples.
    samples: u64,
    /// The chapters begun: title and start in source samples.
    titles: Vec<String>,
    starts: Vec<u64>,
}

impl Layout {
    fn of(e: &mut Mp4Encoder, priming: u64, samples: u64) -> Self {
        let mut starts = std::mem::take(&mut e.starts);
        // The chapter track's samples lie end to end from 0.
        if let Some(first) = starts.first_mut() {
            *first = 0;
        }
        Layout {
            brand: e.brand,
            asc: e.frames.asc(),
            units: e.units,
            payload: e.payload,
            max_unit: e.max_unit,
            priming,
            samples,
            titles: e.tags.chapters[..starts.len()].to_vec(),
            starts,
            tags: std::mem::take(&mut e.tags),
        }
    }

    /// Presented length in milliseconds (the movie's time scale).
    fn ms(&self, samples: u64) -> u64 {
        samples * 1000 / u64::from(SAMPLE_RATE)
    }

    fn titles_len(&self) -> u64 {
        self.titles
            .iter()
            .map(|t| chapter_sample(t).len() as u64)
            .sum()
    }

    /// `moov`, with the audio at `base` in the file and the chapter titles after it.
    fn moov(&self, base: u64, wide: bool) -> Node {
        let chapters = !self.titles.is_empty();
        let presented = self.ms(self.samples);
        let mut children = vec![
            mvhd(presented, if chapters { 3 } else { 2 }),
            self.audio_trak(base, wide, presented, chapters),
        ];
        if chapters {
            children.push(self.chapter_trak(base + self.payload, wide, presented));
        }
        children.push(self.udta());
        Node::boxed(b"moov", children)
    }

    fn audio_trak(&self, base: u64, wide: bool, presented: u64, chapters: bool) -> Node {
        let coded = self.units * FRAME;
        let seconds = coded as f64 / f64::from(SAMPLE_RATE);
        let average = if seconds > 0.0 {
            (self.payload as f64 * 8.0 / seconds) as u32
        } else {
            BIT_RATE
        };
        let peak = (u64::from(self.max_unit) * 8 * u64::from(SAMPLE_RATE) / FRAME) as u32;
        let mp4a = Node::boxed(
            b"mp4a",
            vec![
                Node::bytes(
                    Bytes::new()
                        .zeros(6)
                        .u16(1) // data reference index
                        .zeros(8) // version, revision, vendor
                        .u16(1) // channels
                        .u16(16) // sample size
                        .u16(0)
                        .u16(0)
                        .u32(SAMPLE_RATE << 16)
                        .0,
                ),
                esds(&self.asc, self.max_unit, peak, average),
            ],
        );
        let full = self.units / CHUNK;
        let rest = self.units % CHUNK;
        let mut stsc = Bytes::new();
        let entries = u32::from(full > 0) + u32::from(rest > 0);
        stsc = stsc.u32(entries);
        if full > 0 {
            stsc = stsc.u32(1).u32(CHUNK as u32).u32(1);
        }
        if rest > 0 {
            stsc = stsc.u32(full as u32 + 1).u32(rest as u32).u32(1);
        }
        let chunks = full + u64::from(rest > 0);
        let stbl = Node::boxed(
            b"stbl",
            vec![
                Node::full(
                    b"stsd",
                    0,
                    0,
                    vec![Node::bytes(Bytes::new().u32(1).0), mp4a],
                ),
                Node::full(
                    b"stts",
                    0,
                    0,
                    vec![Node::bytes(
                        Bytes::new()
                            .u32(1)
                            .u32(self.units as u32)
                            .u32(FRAME as u32)
                            .0,
                    )],
                ),
                Node::full(b"stsc", 0, 0, vec![Node::bytes(stsc.0)]),
                Node::full(
                    b"stsz",
                    0,
                    0,
                    vec![
                        Node::bytes(Bytes::new().u32(0).u32(self.units as u32).0),
                        Node::part(Part::Sizes, 4 * self.units),
                    ],
                ),
                Node::full(
                    if wide { b"co64" } else { b"stco" },
                    0,
                    0,
                    vec![
                        Node::bytes(Bytes::new().u32(chunks as u32).0),
                        Node::part(
                            Part::Offsets { base, wide },
                            chunks * if wide { 8 } else { 4 },
                        ),
                    ],
                ),
                // AAC's roll distance: a frame needs the one before it.
                Node::full(
                    b"sgpd",
                    1,
                    0,
                    vec![Node::bytes(
                        Bytes::new().raw(b"roll").u32(2).u32(1).u16(0xFFFF).0,
                    )],
                ),
                Node::full(
                    b"sbgp",
                    0,
                    0,
                    vec![Node::bytes(
                        Bytes::new()
                            .raw(b"roll")
                            .u32(1)
                            .u32(self.units as u32)
                            .u32(1)
                            .0,
                    )],
                ),
            ],
        );
        let mut children = vec![tkhd(1, presented, true), edts(presented, self.priming)];
        if chapters {
            children.push(Node::boxed(
                b"tref",
                vec![Node::boxed(
                    b"chap",
                    vec![Node::bytes(Bytes::new().u32(2).0)],
                )],
            ));
        }
        children.push(Node::boxed(
            b"mdia",
            vec![
                mdhd(SAMPLE_RATE, coded),
                hdlr(b"soun", "SoundHandler"),
                Node::boxed(
                    b"minf",
                    vec![
                        Node::full(b"smhd", 0, 0, vec![Node::bytes(vec![0; 4])]),
                        dinf(),
                        stbl,
                    ],
                ),
            ],
        ));
        Node::boxed(b"trak", children)
    }

    /// The QuickTime chapter track: a text sample per chapter, each lasting
    /// until the next (the last until the end), its titles at `at` in the file.
    fn chapter_trak(&self, at: u64, wide: bool, presented: u64) -> Node {
        let starts: Vec<u64> = self.starts.iter().map(|&s| self.ms(s)).collect();
        let mut stts = Bytes::new().u32(starts.len() as u32);
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(presented).max(start);
            stts = stts.u32(1).u32((end - start) as u32);
        }
        let mut stsz = Bytes::new().u32(0).u32(self.titles.len() as u32);
        let mut stco = Bytes::new().u32(self.titles.len() as u32);
        let mut offset = at;
        for title in &self.titles {
            let len = chapter_sample(title).len() as u64;
            stsz = stsz.u32(len as u32);
            stco = if wide {
                stco.u64(offset)
            } else {
                stco.u32(offset as u32)
            };
            offset += len;
        }
        // The text sample entry ffmpeg writes for chapters (display flags,
        // justification, colours, boxes, a style record and a font table).
        let text_entry = Bytes::new()
            .zeros(6)
            .u16(1)
            .u32(1)
            .zeros(2 + 4 + 8 + 4)
            .u16(1)
            .zeros(2 + 4)
            .u32(13)
            .raw(b"ftab")
            .u16(1)
            .u16(1)
            .zeros(1)
            .0;
        let gmhd = Node::boxed(
            b"gmhd",
            vec![
                Node::full(
                    b"gmin",
                    0,
                    0,
                    vec![Node::bytes(
                        Bytes::new()
                            .u16(0x40)
                            .u16(0x8000)
                            .u16(0x8000)
                            .u16(0x8000)
                            .u16(0)
                            .u16(0)
                            .0,
                    )],
                ),
                Node::boxed(
                    b"text",
                    vec![Node::bytes(
                        Bytes::new()
                            .u16(1)
                            .zeros(12)
                            .u32(1)
                            .zeros(12)
                            .u32(0x4000)
                            .u16(0)
                            .0,
                    )],
                ),
            ],
        );
        let stbl = Node::boxed(
            b"stbl",
            vec![
                Node::full(
                    b"stsd",
                    0,
                    0,
                    vec![
                        Node::bytes(Bytes::new().u32(1).0),
                        Node::boxed(b"text", vec![Node::bytes(text_entry)]),
                    ],
                ),
                Node::full(b"stts", 0, 0, vec![Node::bytes(stts.0)]),
                Node::full(
                    b"stsc",
                    0,
                    0,
                    vec![Node::bytes(Bytes::new().u32(1).u32(1).u32(1).u32(1).0)],
                ),
                Node::full(b"stsz", 0, 0, vec![Node::bytes(stsz.0)]),
                Node::full(
                    if wide { b"co64" } else { b"stco" },
                    0,
                    0,
                    vec![Node::bytes(stco.0)],
                ),
            ],
        );
        Node::boxed(
            b"trak",
            vec![
                tkhd(2, presented, false),
                edts(presented, 0),
                Node::boxed(
                    b"mdia",
                    vec![
                        mdhd(1000, presented),
                        hdlr(b"text", "ChapterHandler"),
                        Node::boxed(b"minf", vec![gmhd, dinf(), stbl]),
                    ],
                ),
            ],
        )
    }

    /// The iTunes tags and the Nero chapter list.
    fn udta(&self) -> Node {
        let text = |key: &[u8; 4], value: &str| Node::boxed(key, vec![data(1, value.as_bytes())]);
        let mut items = Vec::new();
        if let Some(title) = &self.tags.title {
            items.push(text(b"\xa9nam", title));
            items.push(text(b"\xa9alb", title));
        }
        if let Some(author) = &self.tags.author {
            items.push(text(b"\xa9ART", author));
            items.push(text(b"aART", author));
        }
        if let Some(narrator) = &self.tags.narrator {
            // Audiobook tools keep the narrator as the composer.
            items.push(text(b"\xa9wrt", narrator));
        }
        if self.brand == Brand::M4b {
            items.push(text(b"\xa9gen", "Audiobook"));
            items.push(Node::boxed(b"stik", vec![data(21, &[2])]));
        }
        items.push(text(
            b"\xa9too",
            concat!("kokoro ", env!("CARGO_PKG_VERSION")),
        ));
        if let Some(cover) = &self.tags.cover {
            let kind = match cover.kind {
                ImageKind::Jpeg => 13,
                ImageKind::Png => 14,
            };
            items.push(Node::boxed(b"covr", vec![data(kind, &cover.bytes)]));
        }
        let meta = Node::full(
            b"meta",
            0,
            0,
            vec![
                Node::full(
                    b"hdlr",
                    0,
                    0,
                    vec![Node::bytes(
                        Bytes::new().u32(0).raw(b"mdir").raw(b"appl").zeros(9).0,
                    )],
                ),
                Node::boxed(b"ilst", items),
            ],
        );
        let mut children = vec![meta];
        if !self.titles.is_empty() {
            // At most 255 entries of at most 255 bytes; the QuickTime track
            // holds them all.
            let count = self.titles.len().min(255);
            let mut chpl = Bytes::new().u32(0).u8(count as u8);
            for (title, &start) in self.titles.iter().zip(&self.starts).take(count) {
                let title = truncated(title, 255);
                chpl = chpl
                    .u64(start * 10_000_000 / u64::from(SAMPLE_RATE))
                    .u8(title.len() as u8)
                    .raw(title.as_bytes());
            }
            children.push(Node::full(b"chpl", 1, 0, vec![Node::bytes(chpl.0)]));
        }
        Node::boxed(b"udta", children)
    }
}

/// `title` cut to at most `max` bytes at a character boundary.
fn truncated(title: &str, max: usize) -> &str {
    let mut end = title.len().min(max);
    while !title.is_char_boundary(end) {
        end -= 1;
    }
    &title[..end]
}

/// A chapter track's sample: the title, and the UTF-8 encoding atom.
fn chapter_sample(title: &str) -> Vec<u8> {
    let title = truncated(title, u16::MAX as usize - 16);
    Bytes::new()
        .u16(title.len() as u16)
        .raw(title.as_bytes())
        .u32(12)
        .raw(b"encd")
        .u32(0x100)
        .0
}

fn ftyp(brand: Brand) -> Vec<u8> {
    let major: &[u8; 4] = match brand {
        Brand::M4b => b"M4B ",
        Brand::M4a => b"M4A ",
    };
    let mut out = Vec::new();
    Node::boxed(
        b"ftyp",
        vec![Node::bytes(
            Bytes::new()
                .raw(major)
                .u32(0x200)
                .raw(major)
                .raw(if brand == Brand::M4b {
                    b"M4A "
                } else {
                    b"mp41"
                })
                .raw(b"mp42")
                .raw(b"isom")
                .0,
        )],
    )
    .write_bytes(&mut out);
    out
}

const MATRIX: [u32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

fn matrix(mut b: Bytes) -> Bytes {
    for m in MATRIX {
        b = b.u32(m);
    }
    b
}

/// A version 0 or 1 time header: creation and modification (0), a time
/// scale when given, and a duration.
fn times(b: Bytes, scale: Option<u32>, duration: u64, long: bool) -> Bytes {
    let b = if long {
        b.u64(0).u64(0)
    } else {
        b.u32(0).u32(0)
    };
    let b = match scale {
        Some(s) => b.u32(s),
        None => b,
    };
    if long {
        b.u64(duration)
    } else {
        b.u32(duration as u32)
    }
}

fn mvhd(presented_ms: u64, next_track: u32) -> Node {
    let long = presented_ms > u64::from(u32::MAX);
    let b = times(Bytes::new(), Some(1000), presented_ms, long)
        .u32(0x10000)
        .u16(0x100)
        .zeros(10);
    let b = matrix(b).zeros(24).u32(next_track);
    Node::full(b"mvhd", u8::from(long), 0, vec![Node::bytes(b.0)])
}

fn tkhd(id: u32, presented_ms: u64, audio: bool) -> Node {
    let long = presented_ms > u64::from(u32::MAX);
    let b = if long {
        Bytes::new().u64(0).u64(0).u32(id).u32(0).u64(presented_ms)
    } else {
        Bytes::new()
            .u32(0)
            .u32(0)
            .u32(id)
            .u32(0)
            .u32(presented_ms as u32)
    };
    let b = b
        .zeros(8)
        .u16(0)
        .u16(u16::from(audio))
        .u16(if audio { 0x100 } else { 0 })
        .u16(0);
    let b = matrix(b).u32(0).u32(0);
    // Audio: enabled and in the movie; the chapter track only in the movie,
    // so that players do not show it as subtitles.
    Node::full(
        b"tkhd",
        u8::from(long),
        if audio { 3 } else { 2 },
        vec![Node::bytes(b.0)],
    )
}

fn edts(presented_ms: u64, media_start: u64) -> Node {
    let long = presented_ms > u64::from(u32::MAX);
    let b = Bytes::new().u32(1);
    let b = if long {
        b.u64(presented_ms).u64(media_start)
    } else {
        b.u32(presented_ms as u32).u32(media_start as u32)
    };
    Node::boxed(
        b"edts",
        vec![Node::full(
            b"elst",
            u8::from(long),
            0,
            vec![Node::bytes(b.u16(1).u16(0).0)],
        )],
    )
}

fn mdhd(scale: u32, duration: u64) -> Node {
    let long = duration > u64::from(u32::MAX);
    // Language `und`.
    let b = times(Bytes::new(), Some(scale), duration, long)
        .u16(0x55C4)
        .u16(0);
    Node::full(b"mdhd", u8::from(long), 0, vec![Node::bytes(b.0)])
}

fn hdlr(kind: &[u8; 4], name: &str) -> Node {
    Node::full(
        b"hdlr",
        0,
        0,
        vec![Node::bytes(
            Bytes::new()
                .u32(0)
                .raw(kind)
                .zeros(12)
                .raw(name.as_bytes())
                .u8(0)
                .0,
        )],
    )
}

fn dinf() -> Node {
    Node::boxed(
        b"dinf",
        vec![Node::full(
            b"dref",
            0,
            0,
            vec![
                Node::bytes(Bytes::new().u32(1).0),
                Node::full(b"url ", 0, 1, Vec::new()),
            ],
        )],
    )
}

/// An MPEG-4 descriptor, its length in the 4-byte form.
fn descriptor(tag: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut out = vec![
        tag,
        0x80 | ((n >> 21) & 0x7F) as u8,
        0x80 | ((n >> 14) & 0x7F) as u8,
        0x80 | ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ];
    out.extend_from_slice(payload);
    out
}

fn esds(asc: &[u8], max_unit: u32, peak: u32, average: u32) -> Node {
    let specific = descriptor(0x05, asc);
    let config = descriptor(
        0x04,
        &Bytes::new()
            .u8(0x40) // MPEG-4 audio
            .u8(0x15) // an audio stream
            .raw(&max_unit.to_be_bytes()[1..])
            .u32(peak)
            .u32(average)
            .raw(&specific)
            .0,
    );
    let sl = descriptor(0x06, &[0x02]);
    let es = descriptor(0x03, &Bytes::new().u16(1).u8(0).raw(&config).raw(&sl).0);
    Node::full(b"esds", 0, 0, vec![Node::bytes(es)])
}

/// An iTunes `data` atom: its type (1 text, 13 JPEG, 14 PNG, 21 integer).
fn data(kind: u32, payload: &[u8]) -> Node {
    Node::boxed(
        b"data",
        vec![Node::bytes(Bytes::new().u32(kind).u32(0).raw(payload).0)],
    )
}

/// Big-endian bytes, built up.
struct Bytes(Vec<u8>);

impl Bytes {
    fn new() -> Self {
        Bytes(Vec::new())
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

/// What a box holds that is not in memory: read from the sizes spool as it
/// is written.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// Every access unit's size (`stsz`).
    Sizes,
    /// Each chunk's offset (`stco`, `co64`), the audio starting at `base`.
    Offsets { base: u64, wide: bool },
}

/// A box or its contents, with its length known before it is written.
struct Node {
    parts: Vec<Piece>,
    len: u64,
}

enum Piece {
    Bytes(Vec<u8>),
    Spooled(Part),
}

impl Node {
    fn bytes(b: Vec<u8>) -> Node {
        Node {
            len: b.len() as u64,
            parts: vec![Piece::Bytes(b)],
        }
    }

    fn part(part: Part, len: u64) -> Node {
        Node {
            parts: vec![Piece::Spooled(part)],
            len,
        }
    }

    fn boxed(kind: &[u8; 4], children: Vec<Node>) -> Node {
        let len = 8 + children.iter().map(|c| c.len).sum::<u64>();
        let mut header = Vec::with_capacity(8);
        header.extend_from_slice(&(len as u32).to_be_bytes());
        header.extend_from_slice(kind);
        let mut parts = vec![Piece::Bytes(header)];
        for c in children {
            parts.extend(c.parts);
        }
        Node { parts, len }
    }

    fn full(kind: &[u8; 4], version: u8, flags: u32, children: Vec<Node>) -> Node {
        let mut all = vec![Node::bytes(
            Bytes::new().u8(version).raw(&flags.to_be_bytes()[1..]).0,
        )];
        all.extend(children);
        Node::boxed(kind, all)
    }

    /// Writes a node that holds only bytes.
    fn write_bytes(&self, out: &mut Vec<u8>) {
        for p in &self.parts {
            if let Piece::Bytes(b) = p {
                out.extend_from_slice(b);
            }
        }
    }

    /// Writes the node, reading spooled parts from `sizes`.
    fn write(&self, out: &mut dyn Write, sizes: &mut File) -> std::io::Result<()> {
        for p in &self.parts {
            match p {
                Piece::Bytes(b) => out.write_all(b)?,
                Piece::Spooled(part) => {
                    sizes.seek(SeekFrom::Start(0))?;
                    let mut reader = BufReader::new(&mut *sizes);
                    let mut buf = [0u8; 4];
                    let mut writer = BufWriter::new(&mut *out);
                    let (mut offset, mut in_chunk) = (0u64, 0u64);
                    loop {
                        match reader.read_exact(&mut buf) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                            Err(e) => return Err(e),
                        }
                        match *part {
                            Part::Sizes => writer.write_all(&buf)?,
                            Part::Offsets { base, wide } => {
                                if in_chunk == 0 {
                                    let at = base + offset;
                                    if wide {
                                        writer.write_all(&at.to_be_bytes())?;
                                    } else {
                                        writer.write_all(&(at as u32).to_be_bytes())?;
                                    }
                                }
                                offset += u64::from(u32::from_be_bytes(buf));
                                in_chunk = (in_chunk + 1) % CHUNK;
                            }
                        }
                    }
                    writer.flush()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encoder_with, Cover, Format};

    /// The boxes in `bytes`: (type, payload range).
    fn boxes(bytes: &[u8], within: Range<usize>) -> Vec<([u8; 4], Range<usize>)> {
        let mut out = Vec::new();
        let mut at = within.start;
        while at + 8 <= within.end {
            let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = bytes[at + 4..at + 8].try_into().unwrap();
            assert!(size >= 8 && at + size <= within.end, "box {kind:?} at {at}");
            out.push((kind, at + 8..at + size));
            at += size;
        }
        assert_eq!(at, within.end, "boxes fill their parent");
        out
    }

    fn child(bytes: &[u8], within: Range<usize>, path: &[&[u8; 4]]) -> Range<usize> {
        let mut range = within;
        for kind in path {
            range = boxes(bytes, range)
                .into_iter()
                .find(|(k, _)| k == *kind)
                .unwrap_or_else(|| panic!("no {:?}", String::from_utf8_lossy(*kind)))
                .1;
        }
        range
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_audiobook_holds_its_audio_chapters_tags_and_cover_where_its_index_says() {
        let out = Shared::default();
        let tags = Tags {
            title: Some("A Book".into()),
            author: Some("An Author".into()),
            narrator: None,
            cover: Cover::sniff(b"\x89PNG\r\n\x1a\nrest".to_vec()),
            chapters: vec!["One".into(), "Deux é".into()],
        };
        let mut e = encoder_with(Format::M4b, Dest::writer(out.clone()), tags).unwrap();
        let tone: Vec<f32> = (0..72_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        e.begin_chapter();
        e.write(&tone[..24_000]).unwrap();
        e.begin_chapter();
        // Out of range and NaN samples are brought into range, not refused.
        e.write(&[1.5, -7.0, f32::NAN]).unwrap();
        e.write(&tone[24_003..]).unwrap();
        e.finish().unwrap().commit().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        let top = boxes(&bytes, 0..bytes.len());
        let kinds: Vec<&[u8; 4]> = top.iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [b"ftyp", b"moov", b"mdat"], "the index first");
        assert_eq!(&bytes[8..12], b"M4B ");
        let moov = top[1].1.clone();
        let mdat = top[2].1.clone();
        // The audio track: as many sizes as units, laid end to end from the
        // start of mdat, the chapter titles after them.
        let stbl = child(&bytes, moov.clone(), &[b"trak", b"mdia", b"minf", b"stbl"]);
        let stsz = child(&bytes, stbl.clone(), &[b"stsz"]);
        let units = u32_at(&bytes, stsz.start + 8) as usize;
        assert!(units >= 72_000 / 1024, "{units}");
        let sizes: usize = (0..units)
            .map(|i| u32_at(&bytes, stsz.start + 12 + 4 * i) as usize)
            .sum();
        let stco = child(&bytes, stbl.clone(), &[b"stco"]);
        assert_eq!(u32_at(&bytes, stco.start + 8) as usize, mdat.start);
        let titles = chapter_sample("One").len() + chapter_sample("Deux é").len();
        assert_eq!(sizes + titles, mdat.len());
        // The edit list skips the priming and keeps the source's length: 3 s.
        let elst = child(&bytes, moov.clone(), &[b"trak", b"edts", b"elst"]);
        assert_eq!(u32_at(&bytes, elst.start + 8), 3000);
        assert_eq!(u32_at(&bytes, elst.start + 12), 1024);
        // The Nero list: two chapters, the second at 1 s (in 100 ns).
        let chpl = child(&bytes, moov.clone(), &[b"udta", b"chpl"]);
        assert_eq!(bytes[chpl.start + 8], 2);
        let second = chpl.start + 9 + 8 + 1 + 3;
        assert_eq!(
            u64::from_be_bytes(bytes[second..second + 8].try_into().unwrap()),
            10_000_000
        );
        // The QuickTime chapter track: 1 s, then 2 s.
        let traks: Vec<_> = boxes(&bytes, moov.clone())
            .into_iter()
            .filter(|(k, _)| k == b"trak")
            .collect();
        assert_eq!(traks.len(), 2);
        let stts = child(
            &bytes,
            traks[1].1.clone(),
            &[b"mdia", b"minf", b"stbl", b"stts"],
        );
        assert_eq!(u32_at(&bytes, stts.start + 4), 2);
        assert_eq!(u32_at(&bytes, stts.start + 12), 1000);
        assert_eq!(u32_at(&bytes, stts.start + 20), 2000);
        let ilst = child(&bytes, moov, &[b"udta", b"meta"]);
        // meta is a full box: its children start after 4 bytes.
        let items = boxes(&bytes, ilst.start + 4..ilst.end);
        let list = child(&bytes, items[1].1.clone(), &[b"covr", b"data"]);
        assert_eq!(u32_at(&bytes, list.start), 14, "a PNG cover");
    }

    #[test]
    fn descriptors_and_titles() {
        assert_eq!(descriptor(6, &[2]), vec![6, 0x80, 0x80, 0x80, 1, 2]);
        assert_eq!(truncated("ab€", 4), "ab");
        let s = chapter_sample("One");
        assert_eq!(&s[..5], &[0, 3, b'O', b'n', b'e']);
        assert_eq!(s.len(), 2 + 3 + 12);
    }
}
