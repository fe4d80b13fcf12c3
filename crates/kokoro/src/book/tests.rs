//! The chapter logic on a voice that needs no model: each word a tenth of a
//! second of tone, timed where it lies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::*;

/// Samples per word.
const WORD: usize = 2400;

struct Tone {
    timed: bool,
}

impl Voice for Tone {
    fn speak_into(
        &self,
        text: &str,
        options: &SpeakOptions,
        sink: &mut Sink<'_>,
    ) -> Result<SpeechSummary> {
        let mut words = Vec::new();
        let mut at = 0;
        for w in text.split_whitespace() {
            let start = text[at..].find(w).map_or(at, |i| at + i);
            at = start + w.len();
            let n = words.len();
            words.push(Word {
                span: start..at,
                samples: n * WORD..(n + 1) * WORD,
            });
        }
        if words.is_empty() {
            return Ok(SpeechSummary::default());
        }
        if options
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
        {
            return Err(Error::Cancelled);
        }
        let samples: Vec<f32> = (0..words.len() * WORD)
            .map(|i| 0.1 * (i as f32 * 0.07).sin())
            .collect();
        let segment = Segment {
            index: 0,
            span: 0..text.len(),
            samples: 0..samples.len(),
            words: if self.timed { words } else { Vec::new() },
            phonemes: String::new(),
        };
        sink(&segment, &samples).map_err(Error::Sink)?;
        Ok(SpeechSummary {
            chunks: 1,
            samples: samples.len(),
            ..SpeechSummary::default()
        })
    }

    fn speak_ssml_into(
        &self,
        ssml: &Ssml,
        options: &SpeakOptions,
        sink: &mut Sink<'_>,
    ) -> Result<SpeechSummary> {
        self.speak_into(&ssml.text(), options, sink)
    }

    fn timed(&self) -> bool {
        self.timed
    }
}

const TIMED: Tone = Tone { timed: true };

fn book() -> Book {
    Book::from_chapters([
        ("One", "Three words here."),
        ("", "Two more."),
        ("Three", "And four words more."),
    ])
}

#[test]
fn one_file_marks_each_chapter_where_it_starts_after_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.wav");
    let options = BookOptions::new(Format::Wav);
    let done = speak_book(&TIMED, &book(), &options, Output::file(&path)).unwrap();
    assert_eq!(done.chunks, 3);
    assert!((done.audio_seconds - 0.9).abs() < 1e-6);
    let bytes = std::fs::read(&path).unwrap();
    // The cue points: chapter 2 after 3 words and the gap, 3 after 2 more.
    let gap = samples_in(CHAPTER_GAP_MS);
    let cue = bytes.windows(4).position(|w| w == b"cue ").unwrap();
    let start = |k: usize| {
        let at = cue + 12 + k * 24 + 20;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
    };
    assert_eq!(
        [start(0), start(1), start(2)],
        [0, 3 * WORD + gap, 5 * WORD + 2 * gap]
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("Chapter 2"),
        "an untitled chapter is numbered"
    );
}

#[test]
fn words_and_captions_lie_on_the_whole_files_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = BookOptions::new(Format::Wav);
    options.timing = Timing {
        captions: Some((CaptionFormat::Vtt, dir.path().join("b.vtt"))),
        timestamps: Some(dir.path().join("b.json")),
    };
    let mut book = book();
    book.chapters[1].offset = 100;
    speak_book(
        &TIMED,
        &book,
        &options,
        Output::file(dir.path().join("b.wav")),
    )
    .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("b.json")).unwrap()).unwrap();
    let words = json["words"].as_array().unwrap();
    assert_eq!(words.len(), 9);
    let gap = CHAPTER_GAP_MS as f64 / 1000.0;
    // "Two": the fourth word, after the first chapter and a gap.
    assert_eq!(words[3]["word"], "Two");
    assert!((words[3]["start"].as_f64().unwrap() - (0.3 + gap)).abs() < 1e-9);
    assert_eq!(words[3]["chapter"], 1);
    assert_eq!(
        words[3]["span"][0], 100,
        "spans count from the chapter's offset"
    );
    let vtt = std::fs::read_to_string(dir.path().join("b.vtt")).unwrap();
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    assert!(
        vtt.contains("00:00:01.800 --> "),
        "the second chapter's cue: {vtt}"
    );
}

#[test]
fn a_file_per_chapter_resumes_and_redoes_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("book");
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut options = BookOptions::new(Format::Flac);
    options.on_event = Some(Arc::new(move |e: &Event| {
        if let Event::Skipped { .. } | Event::Spoken { .. } = e {
            seen.lock().unwrap().push(e.clone());
        }
    }));
    let first = speak_book(&TIMED, &book(), &options, Output::Split(out.clone())).unwrap();
    assert_eq!(first.skipped, 0);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".kokoro-done.toml",
            "001-one.flac",
            "002.flac",
            "003-three.flac"
        ]
    );
    let again = speak_book(&TIMED, &book(), &options, Output::Split(out.clone())).unwrap();
    assert!(again.all_done_already());
    let mut changed = book();
    changed.chapters[1].text = "Two other words.".into();
    let third = speak_book(&TIMED, &changed, &options, Output::Split(out.clone())).unwrap();
    assert_eq!(third.skipped, 2, "only the changed chapter is redone");
    let spoken = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::Spoken { .. }))
        .count();
    assert_eq!(spoken, 3 + 1);
    // Another voice is another book.
    options.speak.voice = "bf_emma".into();
    let fourth = speak_book(&TIMED, &changed, &options, Output::Split(out)).unwrap();
    assert_eq!(fourth.skipped, 0);
}

#[test]
fn a_stopped_or_failed_book_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.m4b");
    let mut options = BookOptions::new(Format::M4b);
    let stop = Arc::new(AtomicBool::new(true));
    options.speak.cancel = Some(stop);
    let e = speak_book(&TIMED, &book(), &options, Output::file(&path)).unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // Nothing to say is an error, and writes nothing.
    let empty = Book::from_chapters([("A", "  "), ("B", "")]);
    let e = speak_book(
        &TIMED,
        &empty,
        &BookOptions::new(Format::Wav),
        Output::file(&path),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NothingToSay), "{e}");
    assert!(!path.exists());
}

#[test]
fn timing_files_need_a_timed_voice() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = BookOptions::new(Format::Wav);
    options.timing.timestamps = Some(dir.path().join("w.json"));
    let untimed = Tone { timed: false };
    let e = speak_book(
        &untimed,
        &book(),
        &options,
        Output::file(dir.path().join("a.wav")),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Untimed), "{e}");
}

#[test]
fn labels_name_each_chapter_and_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let labels = Arc::new(Mutex::new(Vec::new()));
    let seen = labels.clone();
    let mut options = BookOptions::new(Format::Wav);
    options.on_event = Some(Arc::new(move |e: &Event| {
        if let Event::Chapter { label, .. } = e {
            seen.lock().unwrap().push(label.clone());
        }
    }));
    speak_book(
        &TIMED,
        &book(),
        &options,
        Output::file(dir.path().join("a.wav")),
    )
    .unwrap();
    assert_eq!(
        *labels.lock().unwrap(),
        [
            "chapter 1 (One), 1/3",
            "chapter 2, 2/3",
            "chapter 3 (Three), 3/3"
        ]
    );
}

/// Read-along books made with the tone voice: checked by epubcheck, and
/// their overlays read back.
#[cfg(feature = "documents")]
mod read_along {
    use super::*;
    use kokoro_text::document::{read, InputFormat, ReadOptions};

    fn from_epub(bytes: Vec<u8>) -> Book {
        let doc = read(&bytes, InputFormat::Epub, ReadOptions::default()).unwrap();
        Book {
            epub: Some(bytes.into()),
            ..Book::from_document(&doc, InputFormat::Epub, None)
        }
    }

    /// The entries of a zip, in order.
    fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
                (f.name().to_string(), bytes)
            })
            .collect()
    }

    fn check(path: &Path) {
        if let Some(Err(report)) = kokoro_dev::tools::epubcheck(path) {
            panic!("epubcheck: {}: {report}", path.display());
        }
        let entries = entries(path);
        assert_eq!(entries[0].0, "mimetype");
        assert_eq!(entries[0].1, b"application/epub+zip");
        // Every overlay's clips: in order, contiguous, inside the audio.
        let clock = |v: &str| {
            let p: Vec<f64> = v.split(':').map(|x| x.parse().unwrap()).collect();
            p[0] * 3600.0 + p[1] * 60.0 + p[2]
        };
        let mut overlays = 0;
        for (name, bytes) in &entries {
            if !name.ends_with(".smil") {
                continue;
            }
            overlays += 1;
            let text = String::from_utf8(bytes.clone()).unwrap();
            let clips: Vec<(f64, f64)> = text
                .split("clipBegin=\"")
                .skip(1)
                .map(|s| {
                    let begin = clock(&s[..s.find('"').unwrap()]);
                    let e = &s[s.find("clipEnd=\"").unwrap() + 9..];
                    (begin, clock(&e[..e.find('"').unwrap()]))
                })
                .collect();
            assert!(!clips.is_empty(), "{name}");
            for w in clips.windows(2) {
                assert!(w[0].0 < w[0].1, "{name}: {w:?}");
                assert!(
                    (w[0].1 - w[1].0).abs() < 1e-9,
                    "{name}: not contiguous: {w:?}"
                );
            }
        }
        assert!(overlays > 0);
    }

    #[test]
    fn an_epub3_keeps_its_pages_and_gains_overlays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-along.epub");
        let book = from_epub(kokoro_dev::books::epub3());
        assert_eq!(book.title.as_deref(), Some(kokoro_dev::books::TITLE));
        assert!(book.cover.is_some());
        let mut options = BookOptions::new(Format::M4a);
        options.narrator = Some("Kokoro (af_heart)".into());
        speak_book(&TIMED, &book, &options, Output::ReadAlong(path.clone())).unwrap();
        check(&path);
        let entries = entries(&path);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        for kept in [
            "OEBPS/style.css",
            "OEBPS/images/cover.png",
            "OEBPS/nav.xhtml",
            "OEBPS/text/ch2b.xhtml",
        ] {
            assert!(names.contains(&kept), "{kept}: {names:?}");
        }
        let page = |name: &str| {
            String::from_utf8(entries.iter().find(|(n, _)| n == name).unwrap().1.clone()).unwrap()
        };
        let ch1 = page("OEBPS/text/ch1.xhtml");
        assert!(ch1.contains("<span id=\"kr1\">The Storm</span>"), "{ch1}");
        assert!(ch1.contains("<em>grey</em>"), "{ch1}");
        // The chapter continued in a file of its own has its own overlay.
        assert!(page("OEBPS/text/ch2b.xhtml").contains("<span id=\"kr1\">She signalled"));
        let opf = page("OEBPS/content.opf");
        assert!(opf.contains("media-overlay=\"kokoro-mo-1\""), "{opf}");
        assert!(
            opf.contains("<meta property=\"media:narrator\">Kokoro (af_heart)</meta>"),
            "{opf}"
        );
        assert!(
            !dir.path().join(".kokoro-read-along.epub.parts").exists(),
            "the parts are gone"
        );
    }

    #[test]
    fn an_epub2_is_brought_to_epub3_with_word_overlays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.epub");
        let book = from_epub(kokoro_dev::books::epub2());
        assert_eq!(book.author.as_deref(), Some(kokoro_dev::books::AUTHOR));
        let mut options = BookOptions::new(Format::Mp3);
        options.word_overlays = true;
        speak_book(&TIMED, &book, &options, Output::ReadAlong(path.clone())).unwrap();
        check(&path);
        let names: Vec<String> = entries(&path).into_iter().map(|(n, _)| n).collect();
        assert!(
            names.contains(&"OEBPS/text/ch1.xhtml".to_string()),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.ends_with(".mp3")), "{names:?}");
    }

    #[test]
    fn text_becomes_a_new_book_and_a_stopped_one_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.epub");
        let mut book = book();
        book.title = Some("Notes".into());
        book.cover = kokoro_audio::Cover::sniff(kokoro_dev::books::COVER_PNG.to_vec());
        // Stopped in the second chapter: the first is kept for the rerun.
        let stop = Arc::new(AtomicBool::new(false));
        let raise = stop.clone();
        let mut options = BookOptions::new(Format::M4a);
        options.speak.cancel = Some(stop.clone());
        options.on_event = Some(Arc::new(move |e: &Event| {
            if matches!(e, Event::Spoken { .. }) {
                raise.store(true, Ordering::SeqCst);
            }
        }));
        let e = speak_book(&TIMED, &book, &options, Output::ReadAlong(path.clone())).unwrap_err();
        assert!(matches!(e, Error::Cancelled), "{e}");
        assert!(!path.exists());
        stop.store(false, Ordering::SeqCst);
        options.on_event = None;
        let done = speak_book(&TIMED, &book, &options, Output::ReadAlong(path.clone())).unwrap();
        assert_eq!(done.skipped, 1, "the first chapter was done already");
        check(&path);
    }
}
