//! The main job: text and documents in, audio files and streams out, errors.

use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn kokoro() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kokoro"))
}

fn run(args: &[&str]) -> Output {
    kokoro().args(args).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_fails(o: &Output, expect: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for part in expect {
        assert!(err.contains(part), "stderr lacks `{part}`: {err}");
    }
}

/// Samples of a WAV, checked to be 24 kHz mono.
fn read_wav(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!((spec.sample_rate, spec.channels), (24_000, 1));
    match spec.sample_format {
        hound::SampleFormat::Int => r
            .samples::<i16>()
            .map(|s| f32::from(s.unwrap()) / 32768.0)
            .collect(),
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
    }
}

fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

/// Speech of `words` words: 0.15 to 1.0 s per word, and not silent.
#[track_caller]
fn assert_plausible_speech(samples: &[f32], words: usize) {
    let secs = samples.len() as f32 / 24_000.0;
    assert!(
        secs > 0.15 * words as f32 && secs < 1.0 * words as f32 + 1.0,
        "{secs} s for {words} words"
    );
    assert!(rms(samples) > 0.01, "silent: rms {}", rms(samples));
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data/corpus")
        .join(name)
}

#[test]
fn speaks_a_file_to_a_wav() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("short.wav");
    let o = run(&[corpus("short.txt").to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_plausible_speech(&read_wav(&out), 17);
}

#[test]
fn reads_stdin_and_writes_stdout() {
    let mut child = kokoro()
        .args(["-", "-", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Hello from standard input.")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "--quiet printed: {}", stderr(&o));
    // A streamed WAV header carries no length; read the data after it.
    assert_eq!(&o.stdout[..4], b"RIFF");
    let samples: Vec<f32> = o.stdout[44..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert_plausible_speech(&samples, 4);
}

#[test]
fn text_flag_voice_blend_speed_and_float() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("n.wav");
    let fast = dir.path().join("f.wav");
    let text = "The quick brown fox jumps over the lazy dog.";
    let o = run(&[
        "--text",
        text,
        normal.to_str().unwrap(),
        "--voice",
        "af_sarah:60,am_adam:40",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "--text",
        text,
        fast.to_str().unwrap(),
        "--voice",
        "bf_emma",
        "--speed",
        "1.5",
        "--float",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (n, f) = (read_wav(&normal), read_wav(&fast));
    assert_plausible_speech(&n, 9);
    assert!(f.len() < n.len(), "speed 1.5 is shorter");
    assert_eq!(
        hound::WavReader::open(&fast).unwrap().spec().sample_format,
        hound::SampleFormat::Float
    );
}

#[test]
fn debug_shows_phonemes_chunks_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "--text",
        "Say [Kokoro](/kˈOkəɹO/) now.",
        dir.path().join("x.wav").to_str().unwrap(),
        "--debug",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("chunk 0") && err.contains("kˈOkəɹO") && err.contains("layout: sequential"),
        "{err}"
    );
}

#[test]
fn lists_voices_and_languages() {
    let o = run(&["--list-voices"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = String::from_utf8(o.stdout).unwrap();
    assert_eq!(list.lines().count(), 54);
    assert!(list.contains("af_heart\ten-us\tfemale"));
    let o = run(&["--list-languages"]);
    let langs = String::from_utf8(o.stdout).unwrap();
    for code in [
        "en-us", "en-gb", "es", "fr-fr", "hi", "it", "pt-br", "ja", "cmn",
    ] {
        assert!(
            langs.lines().any(|l| l.starts_with(code)),
            "{code}: {langs}"
        );
    }
}

/// Each language, read by one of its voices: speech of plausible length, and the
/// language chosen from the voice's prefix.
#[test]
fn speaks_every_language() {
    let cases = [
        ("af_heart", "The weather is lovely today.", 5, "en-us"),
        ("bf_emma", "The colour of the harbour was grey.", 7, "en-gb"),
        ("ef_dora", "¿Cómo estás? Tengo veinticinco años.", 5, "es"),
        (
            "ff_siwis",
            "Bonjour, je m'appelle Jean. Il fait beau.",
            7,
            "fr-fr",
        ),
        ("hf_alpha", "भारत एक महान देश है।", 5, "hi"),
        ("if_sara", "Ciao, grazie mille! La pizza è buona.", 7, "it"),
        ("pf_dora", "Olá, tudo bem? Eu moro no Rio.", 7, "pt-br"),
        (
            "jf_alpha",
            "こんにちは、世界！ちょっと待ってください。",
            6,
            "ja",
        ),
        ("zf_xiaobei", "你好，世界！我有三个苹果。", 7, "cmn"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (voice, text, words, code) in cases {
        let out = dir.path().join(format!("{voice}.wav"));
        let o = run(&[
            "--text",
            text,
            out.to_str().unwrap(),
            "--voice",
            voice,
            "--debug",
        ]);
        let err = stderr(&o);
        assert!(o.status.success(), "{voice}: {err}");
        assert!(
            err.contains(&format!("language: {code} ")),
            "{voice}: {err}"
        );
        assert!(!err.contains("warning"), "{voice}: {err}");
        assert_plausible_speech(&read_wav(&out), words);
    }
}

#[test]
fn a_voice_of_another_language_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.wav");
    let o = run(&[
        "--text",
        "Hola, amigo.",
        out.to_str().unwrap(),
        "--voice",
        "af_heart",
        "--lang",
        "es",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("expect an accent"), "{}", stderr(&o));
    assert_plausible_speech(&read_wav(&out), 2);
    let o = run(&[
        "--text",
        "Hola.",
        out.to_str().unwrap(),
        "--lang",
        "klingon",
    ]);
    assert_fails(&o, &["unknown language `klingon`"]);
}

#[test]
fn pause_markup_is_silence_of_the_length_asked() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.wav");
    let paused = dir.path().join("paused.wav");
    let o = run(&[
        "--text",
        "Hello there. General Kenobi.",
        plain.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "--text",
        "Hello there. [pause:2s] General Kenobi.",
        paused.to_str().unwrap(),
        "--debug",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("(pause 2000 ms after)"),
        "{}",
        stderr(&o)
    );
    let (a, b) = (read_wav(&plain), read_wav(&paused));
    // The pause ends a chunk, so the model's own edges add a little.
    let extra = (b.len() as f32 - a.len() as f32) / 24_000.0;
    assert!((1.9..2.8).contains(&extra), "{extra} s longer");
    // And the two seconds are silent.
    let quiet_run = b
        .chunks(240)
        .map(|f| rms(f) < 0.003)
        .collect::<Vec<_>>()
        .split(|&q| !q)
        .map(<[bool]>::len)
        .max()
        .unwrap_or(0);
    assert!(quiet_run >= 195, "longest silence {} ms", quiet_run * 10);

    let o = run(&["--text", "A. [pause:500ms] B.", "--phonemes-only"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("# pause 500 ms"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.wav");
    let out = out.to_str().unwrap();
    assert_fails(
        &run(&["/nonexistent/input.txt", out]),
        &["cannot read input file /nonexistent/input.txt"],
    );
    std::fs::write(d.join("empty.txt"), "  \n\t\n").unwrap();
    assert_fails(
        &run(&[d.join("empty.txt").to_str().unwrap(), out]),
        &["empty"],
    );
    std::fs::write(d.join("bad.txt"), b"caf\xe9 latte").unwrap();
    assert_fails(
        &run(&[d.join("bad.txt").to_str().unwrap(), out]),
        &["not valid UTF-8", "offset 3"],
    );
    assert_fails(
        &run(&["--text", "hi", out, "--voice", "af_hart"]),
        &["unknown voice `af_hart`", "af_heart"],
    );
    assert_fails(
        &run(&["--text", "hi", out, "--voice", "af_sarah:sixty,am_adam:40"]),
        &["malformed voice blend", "sixty"],
    );
    assert_fails(
        &run(&["--text", "hi", out, "--speed", "2.5"]),
        &["--speed", "out of range"],
    );
    assert_fails(
        &run(&["--text", "hi", "/nonexistent/dir/out.wav"]),
        &["cannot write /nonexistent/dir/out.wav"],
    );
    assert_fails(
        &run(&["--text", "hi", out, "--lang", "xx"]),
        &["unknown language `xx`"],
    );
    assert_fails(
        &run(&[
            "--text",
            "hi",
            out,
            "--ort-lib",
            "/nonexistent/libonnxruntime.so",
        ]),
        &["ONNX Runtime library not found at /nonexistent/libonnxruntime.so"],
    );
    assert_fails(&run(&[]), &["no input"]);
    assert!(!Path::new(out).exists(), "no output file after failures");
}

#[test]
fn a_failed_run_never_touches_an_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keep.wav");
    std::fs::write(&out, b"precious").unwrap();
    let bogus = dir.path().join("bogus.onnx");
    std::fs::write(&bogus, b"not a model").unwrap();
    assert_fails(
        &run(&[
            "--text",
            "hi",
            out.to_str().unwrap(),
            "--model",
            bogus.to_str().unwrap(),
        ]),
        &["cannot load the model", "bogus.onnx"],
    );
    assert_fails(
        &run(&["--text", "hi", out.to_str().unwrap(), "--voice", "nobody"]),
        &["unknown voice"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary files left"
    );
}

#[test]
fn a_corrupt_cached_model_names_the_file_and_the_fix() {
    // A cache whose model is corrupt; runtime and voices come from the real cache.
    let real = run(&["--list-voices"]);
    assert!(real.status.success());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kokoro-v1.0.int8.onnx"), b"corrupt").unwrap();
    let cache = std::env::var_os("KOKORO_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| kokoro::Cache::default_dir().unwrap());
    let paths = kokoro::Cache::new(cache).paths();
    let o = kokoro()
        .args(["--text", "hi", dir.path().join("o.wav").to_str().unwrap()])
        .args([
            "--ort-lib",
            paths.runtime.to_str().unwrap(),
            "--voices",
            paths.voices.to_str().unwrap(),
        ])
        .env("KOKORO_CACHE_DIR", dir.path())
        .output()
        .unwrap();
    assert_fails(
        &o,
        &[
            "kokoro-v1.0.int8.onnx is corrupt",
            "SHA-256",
            "delete it and run again",
        ],
    );
}

#[test]
fn config_errors_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kokoro.toml");
    std::fs::write(&cfg, "max_workers = 2\nintra_threads = \"abc\"\n").unwrap();
    assert_fails(
        &run(&["--text", "hi", "--config", cfg.to_str().unwrap()]),
        &["kokoro.toml line 2", "intra_threads"],
    );
    let o = kokoro()
        .args(["--text", "hi", "x.wav"])
        .env("KOKORO_MAX_WORKERS", "0")
        .output()
        .unwrap();
    assert_fails(&o, &["KOKORO_MAX_WORKERS", "out of range"]);
}

#[test]
fn ctrl_c_stops_promptly_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("long.wav");
    let mut child = kokoro()
        .args([
            corpus("long.txt").to_str().unwrap(),
            out.to_str().unwrap(),
            "--quiet",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(6));
    let started = std::time::Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed().as_secs() < 30,
        "stopped within the chunks in flight"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    use std::io::Read;
    let mut child = kokoro()
        .args([
            corpus("medium.txt").to_str().unwrap(),
            "-",
            "--sequential",
            "--threads",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_eq!(&head[..4], b"RIFF");
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(&o));
    assert!(!stderr(&o).contains("error"), "{}", stderr(&o));
}

#[test]
fn bad_format_and_pause_values_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.wav");
    assert_fails(
        &run(&["--text", "hi", out.to_str().unwrap(), "--format", "aiff"]),
        &["unknown format `aiff`"],
    );
    assert_fails(
        &run(&[
            "--text",
            "hi",
            out.to_str().unwrap(),
            "--pause-sentence",
            "20",
        ]),
        &["--pause-sentence", "out of range"],
    );
    assert!(!out.exists());
}

#[test]
fn phonemes_only_and_a_user_lexicon() {
    let dir = tempfile::tempdir().unwrap();
    let lex = dir.path().join("lexicon.txt");
    std::fs::write(&lex, "# mine\nzorblax zˈɔɹblæks\n").unwrap();
    let o = run(&[
        "--text",
        "The zorblax sang. Dr. Who listened.",
        "--phonemes-only",
        "--lexicon",
        lex.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("# chunk 0") && out.contains("zˈɔɹblæks") && out.contains("dˈɑktəɹ"),
        "{out}"
    );
    std::fs::write(&lex, "ok ˈO\nbroken\n").unwrap();
    assert_fails(
        &run(&[
            "--text",
            "hi",
            "--phonemes-only",
            "--lexicon",
            lex.to_str().unwrap(),
        ]),
        &["lexicon.txt", "line 2"],
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kokoro-text/test_data")
        .join(name)
}

#[test]
fn lists_the_chapters_of_an_epub_and_a_pdf() {
    let o = run(&[fixture("book.epub").to_str().unwrap(), "--list-chapters"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = String::from_utf8(o.stdout).unwrap();
    let titles: Vec<&str> = list.lines().filter_map(|l| l.split('\t').nth(1)).collect();
    assert_eq!(
        titles,
        ["The Beginning", "The Middle", "The End", "3 chapter(s)"],
        "{list}"
    );
    assert!(
        list.lines().next().unwrap().contains("words\t~0:00:"),
        "{list}"
    );
    let o = run(&[fixture("book.pdf").to_str().unwrap(), "--list-chapters"]);
    let list = String::from_utf8(o.stdout).unwrap();
    assert!(
        list.contains("1\tChapter One\t") && list.contains("2\tChapter Two\t"),
        "{list}"
    );
}

#[test]
fn a_merged_book_has_chapter_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mp3 = dir.path().join("book.mp3");
    let o = run(&[
        fixture("book.epub").to_str().unwrap(),
        mp3.to_str().unwrap(),
        "--merge",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tag = id3::Tag::read_from_path(&mp3).unwrap();
    let chapters: Vec<_> = tag.chapters().collect();
    assert_eq!(chapters.len(), 3);
    assert_eq!(chapters[0].start_time, 0);
    assert!(chapters[1].start_time > 3_000 && chapters[2].start_time > chapters[1].start_time);
    assert_eq!(chapters[1].end_time, chapters[2].start_time);
    // The tag is followed by playable audio as long as the chapters say.
    let mut d = rusty_mp3::Mp3Decoder::new();
    d.push(&std::fs::read(&mp3).unwrap());
    d.flush();
    let mut samples = 0;
    while let Ok(f) = d.next_frame() {
        samples += f.samples.len();
    }
    let secs = samples as f32 / 24_000.0;
    let end = chapters[2].end_time as f32 / 1000.0;
    assert!(
        (secs - end).abs() < 0.2,
        "{secs} s decoded, chapters end at {end} s"
    );

    let wav = dir.path().join("book.wav");
    let o = run(&[fixture("book.pdf").to_str().unwrap(), wav.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&wav).unwrap();
    let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff + 8, bytes.len());
    let cue = bytes
        .windows(4)
        .position(|w| w == b"cue ")
        .expect("a cue chunk");
    assert_eq!(
        u32::from_le_bytes(bytes[cue + 8..cue + 12].try_into().unwrap()),
        2
    );
    assert!(bytes.windows(11).any(|w| w == b"Chapter Two"));
    assert_plausible_speech(&read_wav(&wav), 30);
}

/// A Markdown book of `n` chapters, each long enough to take a moment.
fn markdown_book(dir: &Path, n: usize) -> PathBuf {
    let mut md = String::new();
    for c in 1..=n {
        md += &format!("# Part {c}\n\n");
        for s in 0..6 {
            md += &format!("This is sentence {s} of part {c}, and it goes on for a while. ");
        }
        md += "\n\n";
    }
    let path = dir.join("book.md");
    std::fs::write(&path, md).unwrap();
    path
}

#[test]
fn split_output_resumes_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let book = markdown_book(dir.path(), 4);
    let out = dir.path().join("parts");
    let args = [
        book.to_str().unwrap(),
        "--split-output",
        out.to_str().unwrap(),
        "--sequential",
    ];
    let mut child = kokoro().args(args).stderr(Stdio::null()).spawn().unwrap();
    let first = out.join("001-part-1.wav");
    let record = out.join(".kokoro-done.toml");
    let recorded = || std::fs::read_to_string(&record).is_ok_and(|r| r.contains("001-part-1.wav"));
    let start = std::time::Instant::now();
    // Killed once the first chapter is written and recorded.
    while !recorded() {
        assert!(start.elapsed().as_secs() < 120, "no chapter finished");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.join("004-part-4.wav").exists(),
        "the kill came too late to test resuming"
    );
    let before = std::fs::read(&first).unwrap();
    let modified = std::fs::metadata(&first).unwrap().modified().unwrap();

    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("001-part-1.wav is done already"), "{err}");
    assert!(!err.contains("004-part-4.wav is done already"), "{err}");
    assert_eq!(std::fs::read(&first).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&first).unwrap().modified().unwrap(),
        modified
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".kokoro-done.toml",
            "001-part-1.wav",
            "002-part-2.wav",
            "003-part-3.wav",
            "004-part-4.wav"
        ]
    );
    for name in &names[1..] {
        assert_plausible_speech(&read_wav(&out.join(name)), 60);
    }
    // A third run has nothing left to do; a changed voice redoes everything.
    let o = run(&args);
    assert!(
        stderr(&o).contains("all 4 chapter(s) were done already"),
        "{}",
        stderr(&o)
    );
    let mut changed = args.to_vec();
    changed.extend(["--chapters", "2", "--voice", "am_adam"]);
    let o = run(&changed);
    assert!(!stderr(&o).contains("done already"), "{}", stderr(&o));
}

#[test]
fn bad_books_are_clear_errors_and_good_chapters_still_speak() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);

    // A zip that is not an EPUB.
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path("x.epub")).unwrap());
    zip.start_file("a.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"hello").unwrap();
    zip.finish().unwrap();
    assert_fails(
        &run(&[path("x.epub").to_str().unwrap(), "--list-chapters"]),
        &["not an EPUB"],
    );

    // A damaged chapter: the others are still spoken, with a warning.
    let mut epub = std::fs::read(fixture("book.epub")).unwrap();
    let at = epub.windows(8).position(|w| w == b"Everyone").unwrap();
    epub[at] = b'N';
    std::fs::write(path("damaged.epub"), &epub).unwrap();
    let o = run(&[
        path("damaged.epub").to_str().unwrap(),
        path("d.wav").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be read"), "{}", stderr(&o));
    assert_plausible_speech(&read_wav(&path("d.wav")), 20);

    assert_fails(
        &run(&[fixture("book.epub").to_str().unwrap(), "--chapters", "7"]),
        &["has 3 chapter(s)"],
    );
    assert_fails(
        &run(&[
            fixture("book.epub").to_str().unwrap(),
            "--input-format",
            "docx",
        ]),
        &["unknown input format `docx`"],
    );
    std::fs::write(path("fake.pdf"), b"%PDF-1.4 not really").unwrap();
    assert_fails(
        &run(&[path("fake.pdf").to_str().unwrap()]),
        &["not a readable PDF"],
    );
    assert!(!path("fake.wav").exists());
}

/// Issue 13: the engine moved into the `kokoro` crate without changing a byte
/// of the binary's output: the WAV of `test_data/paragraph.txt` made before
/// the move, at one thread per session (two sessions give the same bytes), as
/// `test_data/paragraph.sha256` pins it for this processor's instruction set.
#[test]
fn a_paragraph_gives_the_same_bytes_as_before_the_engine_moved() {
    let table = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data/paragraph.sha256"),
    )
    .unwrap();
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has = |flag: &str| cpu.split_whitespace().any(|f| f == flag);
    let Some(expected) = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|r| r.len() == 3 && r[1] == "default" && has(r[0]))
        .map(|r| r[2].to_string())
    else {
        eprintln!(
            "skipped: test_data/paragraph.sha256 has no hash for this processor's instruction set"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.wav");
    let text = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data/paragraph.txt");
    let o = run(&[
        text.to_str().unwrap(),
        out.to_str().unwrap(),
        "--parallel",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        format!("{:x}", sha2::Sha256::digest(std::fs::read(&out).unwrap())),
        expected
    );
}

/// SubRip cues: (start, end, text), times in seconds.
fn srt_cues(srt: &str) -> Vec<(f64, f64, String)> {
    let time = |t: &str| {
        let (hms, ms) = t.trim().split_once(',').unwrap();
        let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600.0 + p[1] * 60.0 + p[2] + ms.parse::<f64>().unwrap() / 1000.0
    };
    srt.trim_end()
        .split("\n\n")
        .enumerate()
        .map(|(k, block)| {
            let mut lines = block.lines();
            assert_eq!(
                lines.next().unwrap(),
                (k + 1).to_string(),
                "numbered from 1"
            );
            let (a, b) = lines.next().unwrap().split_once(" --> ").unwrap();
            (time(a), time(b), lines.collect::<Vec<_>>().join("\n"))
        })
        .collect()
}

#[test]
fn captions_and_timestamps_are_written_beside_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let text = "It was a bright, cold day in April. The clocks were striking thirteen.\n\n\
                Winston Smith, his chin nuzzled into his breast, slipped quickly through the glass doors.";
    let input = dir.path().join("in.txt");
    std::fs::write(&input, text).unwrap();
    let (wav, srt, vtt, json) = (
        dir.path().join("out.wav"),
        dir.path().join("out.srt"),
        dir.path().join("out.vtt"),
        dir.path().join("words.json"),
    );
    let o = run(&[
        input.to_str().unwrap(),
        wav.to_str().unwrap(),
        "--trim",
        "--captions",
        srt.to_str().unwrap(),
        "--timestamps",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seconds = read_wav(&wav).len() as f64 / 24_000.0;
    let cues = srt_cues(&std::fs::read_to_string(&srt).unwrap());
    let shown: Vec<String> = cues.iter().map(|c| c.2.replace('\n', " ")).collect();
    assert_eq!(
        shown.join(" "),
        kokoro::text::normalize(text),
        "every word shown, in order"
    );
    for (k, c) in cues.iter().enumerate() {
        assert!(c.0 < c.1 && c.1 <= seconds + 0.001, "{c:?}");
        assert!(c.1 - c.0 >= 0.5 && c.1 - c.0 <= 7.0, "{c:?}");
        assert!(c.2.lines().all(|l| l.chars().count() <= 42), "{c:?}");
        if let Some(n) = cues.get(k + 1) {
            assert!(c.1 <= n.0, "cues overlap: {c:?} {n:?}");
        }
    }
    let words: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let words = words["words"].as_array().unwrap();
    assert_eq!(words.len(), 27);
    for w in words {
        let span = w["span"].as_array().unwrap();
        let (a, b) = (
            span[0].as_u64().unwrap() as usize,
            span[1].as_u64().unwrap() as usize,
        );
        assert_eq!(&text[a..b], w["word"].as_str().unwrap());
        assert!(w["start"].as_f64().unwrap() < w["end"].as_f64().unwrap());
    }
    // WebVTT by the name's extension; the same cues.
    let o = run(&[
        input.to_str().unwrap(),
        wav.to_str().unwrap(),
        "--trim",
        "--captions",
        vtt.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vtt = std::fs::read_to_string(&vtt).unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");
    assert_eq!(vtt.matches(" --> ").count(), cues.len());
    // An unknown caption format is an error before any work.
    let o = run(&[input.to_str().unwrap(), "--captions", "x.txt"]);
    assert_fails(&o, &["neither .srt nor .vtt"]);
}

#[test]
fn a_merged_book_is_timed_across_its_chapter_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let book = markdown_book(dir.path(), 2);
    let (wav, json) = (dir.path().join("book.wav"), dir.path().join("book.json"));
    let o = run(&[
        book.to_str().unwrap(),
        wav.to_str().unwrap(),
        "--timestamps",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seconds = read_wav(&wav).len() as f64 / 24_000.0;
    let words: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let words = words["words"].as_array().unwrap();
    let chapter = |w: &serde_json::Value| w["chapter"].as_u64().unwrap();
    let second = words.iter().position(|w| chapter(w) == 1).unwrap();
    let (last, first) = (&words[second - 1], &words[second]);
    let gap = first["start"].as_f64().unwrap() - last["end"].as_f64().unwrap();
    assert!(
        gap > 1.5,
        "the 1.5 s between chapters lies between their words: {gap}"
    );
    assert!(words
        .iter()
        .all(|w| w["end"].as_f64().unwrap() <= seconds + 0.001));
    assert!(words
        .windows(2)
        .all(|p| p[0]["start"].as_f64() <= p[1]["start"].as_f64()));
}

#[test]
fn split_output_writes_captions_per_chapter_and_resumes_them() {
    let dir = tempfile::tempdir().unwrap();
    let book = markdown_book(dir.path(), 2);
    let out = dir.path().join("parts");
    let args = [
        book.to_str().unwrap(),
        "--split-output",
        out.to_str().unwrap(),
        "--captions",
        "vtt",
        "--timestamps",
        "words.json",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    for part in ["001-part-1", "002-part-2"] {
        let vtt = std::fs::read_to_string(out.join(format!("{part}.vtt"))).unwrap();
        assert!(
            vtt.starts_with("WEBVTT") && vtt.contains("This is sentence 0"),
            "{vtt}"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(format!("{part}.json"))).unwrap())
                .unwrap();
        let words = json["words"].as_array().unwrap();
        assert!(
            words[0]["start"].as_f64().unwrap() < 1.0,
            "each chapter's own times"
        );
    }
    // Done chapters are skipped while their captions are there; a lost caption
    // file has its chapter spoken again.
    std::fs::remove_file(out.join("002-part-2.vtt")).unwrap();
    let o = run(&args);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("001-part-1.wav is done already"), "{err}");
    assert!(!err.contains("002-part-2.wav is done already"), "{err}");
    assert!(out.join("002-part-2.vtt").is_file());
}

/// Issue 18: standard input into a stream is spoken as it arrives: a writer
/// that emits a paragraph word by word, as a language model does, hears its
/// first sentence before it has finished writing.
#[test]
fn standard_input_is_spoken_as_it_arrives() {
    let text = "This is the first sentence, written one word at a time. \
                And here is the second one, which takes a while longer to arrive. \
                A third sentence ends the paragraph so that the writer keeps going for some seconds.";
    let mut child = kokoro()
        .args(["-", "-", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let start = std::time::Instant::now();
    let writer = std::thread::spawn(move || {
        for word in text.split_inclusive(' ') {
            stdin.write_all(word.as_bytes()).unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        start.elapsed()
    });
    // The time at which a tenth of a second of audio had come out.
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let mut first = None;
        loop {
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
            if first.is_none() && bytes.len() > 44 + 4800 {
                first = Some(start.elapsed());
            }
        }
        (first, bytes)
    });
    let written = writer.join().unwrap();
    let (first, bytes) = reader.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let first = first.expect("audio came out");
    assert!(
        first < written,
        "the first audio ({first:?}) came before the writer finished ({written:?})"
    );
    let samples: Vec<f32> = bytes[44..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert_plausible_speech(&samples, 40);
}

#[test]
fn ssml_files_and_standard_input_are_read_as_ssml_and_bad_ssml_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.ssml");
    std::fs::write(
        &src,
        "<?xml version=\"1.0\"?>\n<speak>\n  <p>Hello. <break time=\"2s\"/> <voice name=\"am_adam\">Goodbye.</voice></p>\n</speak>\n",
    )
    .unwrap();
    let (out, srt) = (dir.path().join("hello.wav"), dir.path().join("hello.srt"));
    let o = run(&[
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--captions",
        srt.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let samples = read_wav(&out);
    assert_plausible_speech(&samples, 5);
    let captions = std::fs::read_to_string(&srt).unwrap();
    assert!(
        captions.contains("Hello.") && captions.contains("Goodbye."),
        "{captions}"
    );
    assert!(
        !captions.contains("break") && !captions.contains("pause"),
        "{captions}"
    );
    // The same from standard input, found by its `<speak>`.
    let mut child = kokoro()
        .args(["-", "-", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&src).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let streamed = (o.stdout.len() - 44) as f64 / 48_000.0;
    assert!(streamed > 2.5, "{streamed} s: the break was not kept");
    // Malformed SSML: the line, a failure, and no file.
    let bad = dir.path().join("bad.ssml");
    std::fs::write(&bad, "<speak>\n<p>Hi</s>\n</speak>").unwrap();
    let out = dir.path().join("bad.wav");
    let o = run(&[bad.to_str().unwrap(), out.to_str().unwrap()]);
    assert_fails(&o, &["SSML, line 2", "bad.ssml"]);
    assert!(!out.exists());
}

/// `--device cuda` on a machine without a usable NVIDIA GPU: a clear error
/// naming what is missing, and nothing written, never the CPU instead;
/// `--device auto` there is the CPU, and `--debug` says why.
#[test]
fn cuda_without_a_gpu_is_a_clear_error_and_auto_chooses_the_cpu() {
    if Path::new("/proc/driver/nvidia/gpus").is_dir() {
        eprintln!("skipped: this machine has an NVIDIA driver; the GPU path is measured by the device script");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cuda.wav");
    let o = run(&[
        "--device",
        "cuda",
        "--text",
        "Hello.",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, &["cannot use CUDA", "NVIDIA driver"]);
    assert!(!out.exists());
    let o = run(&[
        "--device",
        "auto",
        "--debug",
        "--text",
        "Hello.",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("device: auto chose cpu: no NVIDIA driver"),
        "{}",
        stderr(&o)
    );
    assert_plausible_speech(&read_wav(&out), 1);
    let o = kokoro()
        .args(["--text", "Hello.", out.to_str().unwrap()])
        .env("KOKORO_DEVICE", "tpu")
        .output()
        .unwrap();
    assert_fails(
        &o,
        &["KOKORO_DEVICE", "unknown device `tpu` (cpu, cuda, auto)"],
    );
}

/// SIGTERM and SIGHUP stop a run as Ctrl-C does: between chunks, exit 130,
/// and no output left behind, whole file or one chapter file of a book.
#[test]
fn sigterm_and_sighup_stop_like_ctrl_c_and_leave_no_half_file() {
    let dir = tempfile::tempdir().unwrap();
    for (signal, split) in [("TERM", false), ("HUP", true)] {
        let out = dir.path().join(format!("{signal}.wav"));
        let book = dir.path().join(format!("{signal}-book"));
        let mut args = vec![
            corpus("long.txt").to_str().unwrap().to_string(),
            "--quiet".into(),
        ];
        if split {
            args.extend(["--split-output".into(), book.to_str().unwrap().to_string()]);
        } else {
            args.push(out.to_str().unwrap().to_string());
        }
        let child = kokoro().args(&args).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(4));
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "SIG{signal}: {}", stderr(&o));
        assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
        assert!(!out.exists(), "SIG{signal} left {}", out.display());
        if split {
            // No audio file of the book is half-written: only complete ones, if any.
            for entry in std::fs::read_dir(&book).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                assert!(!name.ends_with(".part"), "{name}");
            }
        }
    }
}

/// Every file in `dir`, by name.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_half_written() {
    // A file-size limit stands in for a full disk: past it a write fails
    // (EFBIG, as ENOSPC would), with SIGXFSZ ignored as the shell passes it on.
    let dir = tempfile::tempdir().unwrap();
    // A short chapter that fits under the limit, a long one that does not.
    let long = "This sentence is one of many in the long middle part of the book. ".repeat(8);
    let book = dir.path().join("book.md");
    std::fs::write(
        &book,
        format!("# Part 1\n\nA short start.\n\n# Part 2\n\n{long}\n\n# Part 3\n\nA short end.\n"),
    )
    .unwrap();
    let limited = |args: &[&str]| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "trap '' XFSZ; ulimit -f 1000; exec \"{}\" \"$@\"",
                env!("CARGO_BIN_EXE_kokoro")
            ))
            .arg("kokoro")
            .args(args)
            .stdin(Stdio::null());
        c.output().unwrap()
    };
    let expect_clear = |o: &Output, what: &str| {
        let err = stderr(o);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(err.contains("File too large"), "{what}: {err}");
    };
    let (b, out) = (book.to_str().unwrap(), dir.path().join("out"));
    std::fs::create_dir(&out).unwrap();

    // A plain run: no file, no temporary.
    let wav = out.join("book.wav");
    let o = limited(&[b, wav.to_str().unwrap()]);
    expect_clear(&o, "plain");
    assert!(stderr(&o).contains("book.wav"), "{}", stderr(&o));
    assert_eq!(names_in(&out), Vec::<String>::new());

    // --stream into a file: removed when the write fails.
    let o = limited(&[b, wav.to_str().unwrap(), "--stream"]);
    expect_clear(&o, "--stream");
    assert_eq!(names_in(&out), Vec::<String>::new());

    // --split-output: the chapters that fit are complete and recorded; the
    // one that did not is neither written nor recorded; a rerun with room
    // finishes the book.
    let parts = out.join("parts");
    let o = limited(&[
        b,
        "--split-output",
        parts.to_str().unwrap(),
        "--format",
        "pcm",
    ]);
    expect_clear(&o, "--split-output");
    assert_eq!(names_in(&parts), [".kokoro-done.toml", "001-part-1.pcm"]);
    let record = std::fs::read_to_string(parts.join(".kokoro-done.toml")).unwrap();
    assert!(
        record.contains("001-part-1.pcm") && !record.contains("002"),
        "{record}"
    );
    let o = kokoro()
        .args([
            b,
            "--split-output",
            parts.to_str().unwrap(),
            "--format",
            "pcm",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names_in(&parts),
        [
            ".kokoro-done.toml",
            "001-part-1.pcm",
            "002-part-2.pcm",
            "003-part-3.pcm"
        ]
    );
}
