//! Stopping when asked: SIGTERM (how systemd, container engines and
//! Kubernetes stop a process) to `kokoro serve` and `kokoro wyoming`, idle
//! and busy; to the front end in the middle of a text that takes it long;
//! and to `kokoro batch`, which leaves only complete files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::run::kokoro;

/// Sends `signal` (`TERM`, `INT`, `HUP`) to `child`.
fn signal(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal}");
}

/// Waits for `child` to end within `limit`: its exit code and the time it took.
fn ends_within(child: &mut Child, limit: Duration) -> (Option<i32>, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server started with `args`, and the first line of stderr that starts
/// with `prefix` (where it listens); the rest of stderr is drained.
fn start(args: &[&str], prefix: &str) -> (Child, String) {
    let mut child = kokoro()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let at = loop {
        let line = lines
            .next()
            .expect("the server said where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix(prefix) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, at)
}

/// A paragraph that takes several seconds to speak on 2 cores.
fn paragraph() -> String {
    "The server keeps speaking while it is asked to stop, and then it must decide. ".repeat(6)
}

#[cfg(feature = "server")]
fn speech_request(base: &str, text: &str) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let body = format!(r#"{{"input":"{text}","response_format":"pcm"}}"#);
    write!(
        s,
        "POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s
}

#[cfg(feature = "server")]
#[test]
fn kokoro_serve_stops_on_sigterm_idle_and_when_busy() {
    // Idle: at once, exit 0.
    let (mut idle, _) = start(&["serve", "--port", "0"], "kokoro: listening on ");
    signal(&idle, "TERM");
    let (code, took) = ends_within(&mut idle, Duration::from_secs(5));
    assert_eq!(code, Some(0), "idle server: exit 0");
    assert!(took < Duration::from_secs(2), "idle server took {took:?}");

    // Busy, with the default grace: the request in progress completes (its
    // chunked stream ends properly), then the server exits 0.
    let (mut busy, base) = start(&["serve", "--port", "0"], "kokoro: listening on ");
    let mut stream = speech_request(&base, "Stop when asked, but finish this sentence first.");
    let mut first = [0u8; 1];
    stream.peek(&mut first).unwrap();
    signal(&busy, "TERM");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &reply[..reply.len().min(40)]
    );
    assert!(
        reply.ends_with(b"0\r\n\r\n"),
        "the chunked reply ended with its last chunk"
    );
    let (code, _) = ends_within(&mut busy, Duration::from_secs(12));
    assert_eq!(code, Some(0));
    // No new connection is accepted once stopping.
    assert!(TcpStream::connect(base.trim_start_matches("http://")).is_err());

    // Busy past a grace of 1 s: the stream is cut there, the server exits 0
    // within the grace.
    let (mut cut, base) = start(
        &["serve", "--port", "0", "--grace", "1"],
        "kokoro: listening on ",
    );
    let mut stream = speech_request(&base, &paragraph());
    stream.peek(&mut first).unwrap();
    signal(&cut, "TERM");
    let (code, took) = ends_within(&mut cut, Duration::from_secs(4));
    assert_eq!(code, Some(0), "cut server: exit 0");
    assert!(
        took < Duration::from_millis(2500),
        "took {took:?} with a grace of 1 s"
    );
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        !rest.ends_with(b"0\r\n\r\n"),
        "a cut stream does not pretend to be whole"
    );

    // A second signal stops at once.
    let (mut twice, base) = start(
        &["serve", "--port", "0", "--grace", "60"],
        "kokoro: listening on ",
    );
    let stream = speech_request(&base, &paragraph());
    stream.peek(&mut first).unwrap();
    signal(&twice, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    signal(&twice, "TERM");
    let (code, _) = ends_within(&mut twice, Duration::from_secs(3));
    assert_eq!(code, Some(130), "the second signal: at once");
}

/// A Wyoming event: header line with its data inline.
fn event(kind: &str, data: &str) -> Vec<u8> {
    format!("{{\"type\":\"{kind}\",\"data\":{data}}}\n").into_bytes()
}

/// Reads events' types from a Wyoming stream until it ends or `audio-stop`.
fn event_types(stream: TcpStream) -> Vec<String> {
    let mut reader = BufReader::new(stream);
    let mut types = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return types;
        }
        let header: serde_json::Value = serde_json::from_str(&line).unwrap();
        let skip = |key: &str| header[key].as_u64().unwrap_or(0) as usize;
        let mut body = vec![0u8; skip("data_length") + skip("payload_length")];
        if reader.read_exact(&mut body).is_err() {
            return types;
        }
        let kind = header["type"].as_str().unwrap_or_default().to_string();
        let stop = kind == "audio-stop";
        types.push(kind);
        if stop {
            return types;
        }
    }
}

#[cfg(feature = "wyoming")]
#[test]
fn kokoro_wyoming_stops_on_sigterm_idle_and_when_busy() {
    let args = |grace: &'static str| ["wyoming", "--uri", "tcp://127.0.0.1:0", "--grace", grace];
    let (mut idle, _) = start(&args("10"), "kokoro: Wyoming on ");
    signal(&idle, "TERM");
    let (code, took) = ends_within(&mut idle, Duration::from_secs(5));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2), "{took:?}");

    // A synthesis in progress finishes (audio-stop), then exit 0.
    let (mut busy, at) = start(&args("10"), "kokoro: Wyoming on ");
    let mut stream = TcpStream::connect(at.trim_start_matches("tcp://")).unwrap();
    stream
        .write_all(&event(
            "synthesize",
            r#"{"text":"Finish this sentence, then stop."}"#,
        ))
        .unwrap();
    let mut first = [0u8; 1];
    stream.peek(&mut first).unwrap();
    signal(&busy, "TERM");
    let types = event_types(stream);
    assert_eq!(
        types.first().map(String::as_str),
        Some("audio-start"),
        "{types:?}"
    );
    assert_eq!(
        types.last().map(String::as_str),
        Some("audio-stop"),
        "{types:?}"
    );
    let (code, _) = ends_within(&mut busy, Duration::from_secs(12));
    assert_eq!(code, Some(0));

    // Past a grace of 1 s: the connection is closed, no audio-stop; exit 0.
    let (mut cut, at) = start(&args("1"), "kokoro: Wyoming on ");
    let mut stream = TcpStream::connect(at.trim_start_matches("tcp://")).unwrap();
    let text = serde_json::to_string(&paragraph()).unwrap();
    stream
        .write_all(&event("synthesize", &format!(r#"{{"text":{text}}}"#)))
        .unwrap();
    stream.peek(&mut first).unwrap();
    signal(&cut, "TERM");
    let types = event_types(stream);
    assert!(!types.contains(&"audio-stop".to_string()), "{types:?}");
    let (code, took) = ends_within(&mut cut, Duration::from_secs(4));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

/// Words of 39 random letters: each under the giant-token length, so each
/// is read by the out-of-lexicon fallback, a few milliseconds a word.
fn slow_text(words: usize) -> String {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..words)
        .map(|_| {
            (0..39)
                .map(|_| (b'a' + (next() % 26) as u8) as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn sigterm_stops_the_front_end_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.txt");
    std::fs::write(&file, slow_text(20_000)).unwrap();
    let mut child = kokoro()
        .arg(&file)
        .arg("--phonemes-only")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let drained = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "still phonemizing");
    signal(&child, "TERM");
    let (code, took) = ends_within(&mut child, Duration::from_secs(5));
    assert_eq!(code, Some(130), "{}", drained.join().unwrap_or_default());
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn sigterm_stops_a_batch_leaving_only_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let text = "A library of books is spoken one document after another. ".repeat(30);
    for name in ["one.txt", "two.txt", "three.txt"] {
        std::fs::write(dir.path().join(name), &text).unwrap();
    }
    let manifest = dir.path().join("library.txt");
    std::fs::write(&manifest, "one.txt\ntwo.txt\nthree.txt\n").unwrap();
    let out = dir.path().join("out");
    let mut child = kokoro()
        .args([
            "batch",
            manifest.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--format", "wav", "--quiet"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    signal(&child, "TERM");
    let (code, took) = ends_within(&mut child, Duration::from_secs(20));
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(15), "{took:?}");
    for entry in std::fs::read_dir(&out).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".part"), "a temporary file is left: {name}");
        if name.ends_with(".wav") {
            let wav = hound::WavReader::open(entry.path()).unwrap();
            assert_eq!(
                wav.len() as u64 * 2 + 44,
                std::fs::metadata(entry.path()).unwrap().len(),
                "{name} is whole"
            );
        }
    }
}
