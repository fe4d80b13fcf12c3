//! Audiobooks: M4B with chapters, title, author and cover, judged by ffprobe
//! and by ear against the WAV; EPUB 3 read-along books, judged by epubcheck
//! and by Whisper's time for each sentence's first word; a killed run leaves
//! nothing, a rerun resumes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kokoro_dev::{books, tools};

fn kokoro() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kokoro"))
}

fn run(args: &[&str]) -> Output {
    kokoro().args(args).stdin(Stdio::null()).output().unwrap()
}

#[track_caller]
fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The test books, written into `dir`.
fn book_files(dir: &Path) -> (PathBuf, PathBuf) {
    let (three, two) = (dir.join("three.epub"), dir.join("two.epub"));
    std::fs::write(&three, books::epub3()).unwrap();
    std::fs::write(&two, books::epub2()).unwrap();
    (three, two)
}

/// The whole text of the test books, as spoken.
fn book_text() -> String {
    books::CHAPTERS
        .iter()
        .flat_map(|(title, paras)| {
            std::iter::once(title.to_string()).chain(paras.iter().map(|p| strip(p)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text without its markup.
fn strip(xhtml: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in xhtml.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("1 Its", " Its")
}

fn seconds(v: &serde_json::Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or(v.as_f64())
        .unwrap()
}

fn ffprobe(file: &Path, show: &[&str]) -> serde_json::Value {
    tools::ffprobe(file, show).unwrap()
}

fn duration(file: &Path) -> f64 {
    seconds(&ffprobe(file, &["-show_entries", "format=duration"])["format"]["duration"])
}

/// `file` decoded by ffmpeg to a 24 kHz mono WAV beside it.
fn decoded(file: &Path) -> PathBuf {
    let wav = file.with_extension("decoded.wav");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(file)
        .args(["-ar", "24000", "-ac", "1"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wav
}

/// Loudness of a file: ffmpeg's mean volume in dB.
fn mean_volume(file: &Path) -> f64 {
    let o = Command::new("ffmpeg")
        .args(["-v", "info", "-i"])
        .arg(file)
        .args(["-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let at = err.find("mean_volume: ").unwrap() + "mean_volume: ".len();
    err[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn an_epub_becomes_an_m4b_with_its_chapters_where_the_audio_puts_them() {
    if !tools::ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (three, _) = book_files(dir.path());
    let m4b = dir.path().join("book.m4b");
    ok(&run(&[s(&three), s(&m4b)]));
    // Where the audio puts each chapter: the chapters spoken one by one,
    // 1.5 s apart.
    let parts = dir.path().join("parts");
    ok(&run(&[s(&three), "--split-output", s(&parts), "-f", "wav"]));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&parts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    files.sort();
    let mut expected = Vec::new();
    let mut at = 0.0;
    for f in &files {
        expected.push(at);
        at += duration(f) + 1.5;
    }
    let chapters = ffprobe(&m4b, &["-show_chapters"])["chapters"].clone();
    let chapters = chapters.as_array().unwrap();
    let titles: Vec<&str> = chapters
        .iter()
        .map(|c| c["tags"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["The Storm", "The Ship", "The Morning"]);
    for (c, want) in chapters.iter().zip(&expected) {
        let start = seconds(&c["start_time"]);
        assert!(
            (start - want).abs() < 0.05,
            "chapter at {start} s, its audio at {want} s"
        );
    }
    let format = ffprobe(&m4b, &["-show_entries", "format=duration:format_tags"]);
    let tags = &format["format"]["tags"];
    assert_eq!(tags["title"], books::TITLE);
    assert_eq!(tags["artist"], books::AUTHOR);
    assert_eq!(tags["genre"], "Audiobook");
    let total = seconds(&format["format"]["duration"]);
    assert!(
        (total - (at - 1.5)).abs() < 0.05,
        "{total} s against {} s",
        at - 1.5
    );
    // The EPUB's cover, as the attached picture players show.
    let video = ffprobe(&m4b, &["-show_streams", "-select_streams", "v"]);
    let cover = &video["streams"][0];
    assert_eq!(cover["codec_name"], "png");
    assert_eq!(cover["disposition"]["attached_pic"], 1);
    // Flags override the document's.
    let other = dir.path().join("other.m4b");
    let png = dir.path().join("c.png");
    std::fs::write(&png, books::COVER_PNG).unwrap();
    ok(&run(&[
        s(&three),
        s(&other),
        "--title",
        "Another",
        "--author",
        "Someone",
        "--chapters",
        "2",
        "--cover",
        s(&png),
    ]));
    let tags = ffprobe(&other, &["-show_entries", "format_tags"]);
    assert_eq!(tags["format"]["tags"]["title"], "Another");
    assert_eq!(tags["format"]["tags"]["artist"], "Someone");
    let o = run(&[
        s(&three),
        s(&dir.path().join("x.m4b")),
        "--cover",
        s(&three),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("neither a JPEG nor a PNG"));
}

#[test]
fn aac_is_heard_as_the_wav_is() {
    if !tools::ffmpeg() {
        return;
    }
    let Some(ear) = crate::ear() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (three, _) = book_files(dir.path());
    let (wav, m4b) = (dir.path().join("b.wav"), dir.path().join("b.m4b"));
    ok(&run(&[s(&three), s(&wav)]));
    ok(&run(&[s(&three), s(&m4b)]));
    let decoded = decoded(&m4b);
    let heard = ear.hear(&[&wav, &decoded]).unwrap();
    let text = book_text();
    let (w_wav, w_aac) = (
        kokoro_dev::ear::wer(&text, &heard[0].text),
        kokoro_dev::ear::wer(&text, &heard[1].text),
    );
    eprintln!("WER: wav {w_wav:.4}, aac {w_aac:.4}");
    assert!(
        (w_wav - w_aac).abs() <= 0.01,
        "WER: wav {w_wav}, aac {w_aac}\n{}\n{}",
        heard[0].text,
        heard[1].text
    );
    let (l_wav, l_aac) = (mean_volume(&wav), mean_volume(&decoded));
    assert!(
        (l_wav - l_aac).abs() < 0.5,
        "loudness: wav {l_wav} dB, aac {l_aac} dB"
    );
    let (d_wav, d_aac) = (duration(&wav), duration(&m4b));
    assert!(
        (d_wav - d_aac).abs() < 0.002,
        "duration: wav {d_wav} s, aac {d_aac} s"
    );
}

/// Starts `kokoro` on `args` and kills it (`signal`) once `ready` holds.
fn interrupt(args: &[&str], ready: impl Fn() -> bool, signal: &str) {
    let mut child = kokoro()
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "it finished before it could be stopped"
        );
        assert!(started.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

/// A book long enough to stop in the middle of.
fn long_book(dir: &Path) -> PathBuf {
    let path = dir.join("long.txt");
    let chapter = "The lamp burned all night long, and the keeper watched the sea. ".repeat(30);
    let text: String = (1..=3)
        .map(|n| format!("Chapter {n}\n\n{chapter}\n\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn a_killed_m4b_run_leaves_nothing_and_a_split_one_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let text = long_book(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let m4b = out.join("book.m4b");
    // Stopped: nothing at all. Killed: no book (a hidden temporary file the
    // next run of it removes).
    for signal in ["-TERM", "-KILL"] {
        let started = Instant::now();
        interrupt(
            &[s(&text), s(&m4b)],
            || started.elapsed() > Duration::from_secs(4),
            signal,
        );
        let left = names(&out);
        match signal {
            "-TERM" => assert!(left.is_empty(), "{left:?}"),
            _ => assert!(
                left.iter().all(|n| n.starts_with(".kokoro-book.m4b.")),
                "{left:?}"
            ),
        }
    }
    ok(&run(&[s(&text), s(&m4b)]));
    assert_eq!(names(&out), ["book.m4b"]);
    // A file per chapter, killed after the first: the rerun keeps it.
    let split = dir.path().join("split");
    let record = split.join(".kokoro-done.toml");
    let recorded = || std::fs::read_to_string(&record).is_ok_and(|r| r.contains("001-chapter-1"));
    interrupt(
        &[s(&text), "--split-output", s(&split), "-f", "m4b"],
        recorded,
        "-KILL",
    );
    let err = ok(&run(&[s(&text), "--split-output", s(&split), "-f", "m4b"]));
    assert!(err.contains("001-chapter-1.m4b is done already"), "{err}");
    assert!(!err.contains("002-chapter-2.m4b is done already"), "{err}");
    assert_eq!(
        names(&split),
        [
            ".kokoro-done.toml",
            "001-chapter-1.m4b",
            "002-chapter-2.m4b",
            "003-chapter-3.m4b"
        ]
    );
}

/// A par of an overlay: text id, clip begin and end, audio file.
type Par = (String, f64, f64, String);

/// The overlays of a read-along book: for each SMIL file, its pars in order.
fn overlays(epub: &Path) -> Vec<(String, Vec<Par>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(epub).unwrap()).unwrap();
    let names: Vec<String> = z.file_names().map(str::to_string).collect();
    let clock = |v: &str| {
        let p: Vec<f64> = v.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600.0 + p[1] * 60.0 + p[2]
    };
    let attr = |tag: &str, key: &str| {
        let at = tag.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
        tag[at..at + tag[at..].find('"').unwrap()].to_string()
    };
    let mut out = Vec::new();
    for name in names.iter().filter(|n| n.ends_with(".smil")) {
        let text = std::io::read_to_string(z.by_name(name).unwrap()).unwrap();
        let pars = text
            .split("<par ")
            .skip(1)
            .map(|p| {
                let src = attr(p, "src");
                let id = src.rsplit('#').next().unwrap().to_string();
                let audio = &p[p.find("<audio").unwrap()..];
                (
                    id,
                    clock(&attr(audio, "clipBegin")),
                    clock(&attr(audio, "clipEnd")),
                    attr(audio, "src"),
                )
            })
            .collect();
        out.push((name.clone(), pars));
    }
    out
}

#[test]
fn read_along_books_pass_epubcheck_and_their_clips_keep_time() {
    let dir = tempfile::tempdir().unwrap();
    let (three, two) = book_files(dir.path());
    let md = dir.path().join("notes.md");
    std::fs::write(
        &md,
        "# Notes\n\nThe first note is short. The second one too.\n\n# More\n\nA last thought.\n",
    )
    .unwrap();
    let cases = [
        (three.clone(), "ra3.epub", vec![]),
        (two, "ra2.epub", vec!["--highlight-words"]),
        (md, "notes.epub", vec!["-f", "mp3"]),
    ];
    for (input, name, extra) in &cases {
        let out = dir.path().join(name);
        let mut args = vec![s(input), s(&out)];
        args.extend(extra.iter().copied());
        ok(&run(&args));
        if let Some(report) = tools::epubcheck(&out) {
            report.unwrap_or_else(|r| panic!("{name}: {r}"));
        }
        // Clips in order, contiguous, inside their audio.
        let unpacked = dir.path().join(format!("{name}.d"));
        let mut z = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        z.extract(&unpacked).unwrap();
        let all = overlays(&out);
        assert!(!all.is_empty(), "{name}");
        for (smil, pars) in &all {
            assert!(!pars.is_empty(), "{name}: {smil}");
            for w in pars.windows(2) {
                assert!(w[0].1 < w[0].2, "{name}: {smil}: {w:?}");
                assert!(
                    (w[0].2 - w[1].1).abs() < 1e-9,
                    "{name}: {smil}: not contiguous: {w:?}"
                );
            }
            if tools::ffmpeg() {
                let audio = Path::new(smil).parent().unwrap().join(&pars[0].3);
                let length = duration(&unpacked.join(audio));
                let last = pars.last().unwrap().2;
                assert!(
                    last <= length + 0.001,
                    "{name}: {smil}: clip ends at {last} s, audio at {length} s"
                );
            }
        }
    }
}

#[test]
fn each_sentence_starts_where_whisper_hears_its_first_word() {
    if !tools::ffmpeg() {
        return;
    }
    let Some(ear) = crate::ear() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (three, _) = book_files(dir.path());
    let out = dir.path().join("ra.epub");
    ok(&run(&[s(&three), s(&out)]));
    let unpacked = dir.path().join("ra");
    zip::ZipArchive::new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .extract(&unpacked)
        .unwrap();
    let all = overlays(&out);
    // The first chapter: its page's sentences and their clips.
    let (smil, pars) = &all[0];
    let audio = unpacked.join(Path::new(smil).parent().unwrap().join(&pars[0].3));
    let page = std::fs::read_to_string(unpacked.join("OEBPS/text/ch1.xhtml")).unwrap();
    let heard = &ear.hear_times(&[&decoded(&audio)]).unwrap()[0];
    let mut from = 0;
    let mut checked = 0;
    for (id, begin, _, _) in pars {
        let at = page.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
        let first = strip(&page[at..])
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        let first = kokoro_dev::ear::normalize(&first).remove(0);
        let Some(k) = (from..heard.words.len())
            .find(|&k| kokoro_dev::ear::normalize(&heard.words[k].2).first() == Some(&first))
        else {
            panic!("Whisper did not hear `{first}`: {:?}", heard.words);
        };
        from = k + 1;
        let whisper = heard.words[k].0;
        eprintln!("{id}: `{first}` clip {begin:.3} s, Whisper {whisper:.3} s");
        assert!(
            (begin - whisper).abs() <= 0.1,
            "{id} (`{first}`): clip at {begin} s, Whisper hears it at {whisper} s"
        );
        checked += 1;
    }
    assert!(checked >= 3, "{checked} sentences judged");
}

#[test]
fn a_killed_read_along_book_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let text = long_book(dir.path());
    let out = dir.path().join("book.epub");
    let parts = dir.path().join(".kokoro-book.epub.parts");
    let record = parts.join(".kokoro-done.toml");
    let recorded = || std::fs::read_to_string(&record).is_ok_and(|r| r.contains("001-chapter-1"));
    interrupt(&[s(&text), s(&out)], recorded, "-KILL");
    assert!(!out.exists());
    let err = ok(&run(&[s(&text), s(&out)]));
    assert!(err.contains("001-chapter-1.m4a is done already"), "{err}");
    assert!(out.is_file() && !parts.exists());
    if let Some(report) = tools::epubcheck(&out) {
        report.unwrap();
    }
}
