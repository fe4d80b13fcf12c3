//! The API over loopback: speech, voices, errors, the key, the queue.

use std::io::Read;
use std::time::{Duration, Instant};

use kokoro_server::ServerOptions;

use crate::Server;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(server: &Server, body: &str) -> (u16, String, Vec<u8>) {
    post_to(server, "/v1/audio/speech", body)
}

fn post_to(server: &Server, path: &str, body: &str) -> (u16, String, Vec<u8>) {
    let mut res = agent()
        .post(&server.url(path))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = res
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    (status, kind, bytes)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[track_caller]
fn assert_error(server: &Server, body: &str, status: u16, says: &str) {
    let (got, kind, bytes) = post(server, body);
    assert_eq!(got, status, "{}", String::from_utf8_lossy(&bytes));
    assert!(kind.starts_with("application/json"), "{kind}");
    let message = json(&bytes)["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(says), "{message}");
}

#[test]
fn speaks_lists_voices_and_describes_itself() {
    let server = Server::start(ServerOptions::default());
    let a = agent();
    let mut health = a.get(&server.url("/health")).call().unwrap();
    assert_eq!(
        json(&health.body_mut().read_to_vec().unwrap())["status"],
        "ok"
    );
    let mut voices = a.get(&server.url("/v1/audio/voices")).call().unwrap();
    let voices = json(&voices.body_mut().read_to_vec().unwrap());
    let list = voices["voices"].as_array().unwrap();
    assert_eq!(list.len(), 54);
    assert!(list
        .iter()
        .any(|v| v["id"] == "ef_dora" && v["language"] == "es" && v["gender"] == "female"));
    let mut spec = a.get(&server.url("/openapi.json")).call().unwrap();
    let spec = json(&spec.body_mut().read_to_vec().unwrap());
    assert!(spec["paths"]["/v1/audio/speech"]["post"].is_object());
    let mut page = a.get(&server.url("/")).call().unwrap();
    assert!(page.body_mut().read_to_string().unwrap().contains("<audio"));

    let (status, kind, wav) = post(
        &server,
        r#"{"model":"tts-1","input":"Hello there. This is a test of the server.","voice":"af_heart","response_format":"wav"}"#,
    );
    assert_eq!((status, kind.as_str()), (200, "audio/wav"));
    assert_eq!(&wav[..4], b"RIFF");
    let secs = (wav.len() - 44) as f32 / 2.0 / 24_000.0;
    assert!((1.5..8.0).contains(&secs), "{secs} s");

    // A blend, in MP3 (the default format), in Spanish from the voice.
    let (status, kind, mp3) = post(
        &server,
        r#"{"input":"Hola, ¿qué tal?","voice":"ef_dora:70,em_alex:30"}"#,
    );
    assert_eq!((status, kind.as_str()), (200, "audio/mpeg"));
    assert!(mp3.len() > 4_000, "{} bytes", mp3.len());
}

#[test]
fn bad_requests_get_json_errors() {
    let server = Server::start(ServerOptions::default());
    assert_error(&server, "{not json", 400, "");
    assert_error(&server, r#"{"voice":"af_heart"}"#, 400, "input");
    assert_error(&server, r#"{"input":"   "}"#, 400, "empty");
    assert_error(
        &server,
        r#"{"input":"Hi.","voice":"af_hart"}"#,
        400,
        "af_heart",
    );
    assert_error(
        &server,
        r#"{"input":"Hi.","response_format":"m4b"}"#,
        400,
        "not supported",
    );
    assert_error(&server, r#"{"input":"Hi.","speed":9}"#, 400, "out of range");
    assert_error(
        &server,
        r#"{"input":"Hi.","lang":"xx"}"#,
        400,
        "unknown language",
    );
    let long = format!(r#"{{"input":"{}"}}"#, "a".repeat(100_001));
    assert_error(&server, &long, 413, "limit");
    let huge = format!(r#"{{"input":"{}"}}"#, "a ".repeat(600_000));
    assert_error(&server, &huge, 413, "");
    // A document may be larger than a request: the page sends whole books.
    let book = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kokoro-text/test_data/book.epub"),
    )
    .unwrap();
    let mut padded = book.clone();
    padded.resize(book.len() + (2 << 20), 0);
    let mut res = agent()
        .post(&server.url("/v1/text/extract"))
        .send(&book[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let doc = json(&res.body_mut().read_to_vec().unwrap());
    assert_eq!(doc["chapters"].as_array().unwrap().len(), 3, "{doc}");
    let mut res = agent()
        .post(&server.url("/v1/text/extract"))
        .send(&padded[..])
        .unwrap();
    assert_ne!(
        res.status().as_u16(),
        413,
        "{}",
        res.body_mut().read_to_string().unwrap()
    );
    let mut res = agent()
        .post(&server.url("/v1/text/extract"))
        .send(&b"PK\x03\x04junk"[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    assert!(json(&res.body_mut().read_to_vec().unwrap())["error"]["message"].is_string());
    let mut missing = agent().get(&server.url("/v2/nothing")).call().unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert!(json(&missing.body_mut().read_to_vec().unwrap())["error"]["message"].is_string());
}

#[test]
fn an_api_key_guards_all_but_health() {
    let server = Server::start(ServerOptions {
        api_key: Some("sesame".into()),
        ..ServerOptions::default()
    });
    let a = agent();
    assert_eq!(
        a.get(&server.url("/health"))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        a.get(&server.url("/v1/audio/voices"))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let ok = a
        .get(&server.url("/v1/audio/voices"))
        .header("Authorization", "Bearer sesame")
        .call()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_error(&server, r#"{"input":"Hi."}"#, 401, "API key");
}

/// A text that takes the server a while.
fn long_request() -> String {
    let text = "This sentence is here to keep the server busy for a while. ".repeat(60);
    format!(r#"{{"input":"{text}","response_format":"pcm"}}"#)
}

#[test]
fn a_full_queue_is_429_and_a_client_that_leaves_frees_the_server() {
    let server = Server::start(ServerOptions {
        queue: 1,
        ..ServerOptions::default()
    });
    // The first request is being spoken once its first bytes arrive.
    let mut first = agent()
        .post(&server.url("/v1/audio/speech"))
        .header("Content-Type", "application/json")
        .send(&long_request())
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let mut reader = first.body_mut().as_reader();
    let mut head = [0u8; 4096];
    reader.read_exact(&mut head).unwrap();
    // The second waits in the queue; the third finds it full.
    let url = server.url("/v1/audio/speech");
    let body = long_request();
    let second = std::thread::spawn(move || {
        let mut res = agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(&body)
            .unwrap();
        let status = res.status().as_u16();
        // Leave after the first bytes: the server must drop this work too.
        let mut some = [0u8; 1024];
        let _ = res.body_mut().as_reader().read_exact(&mut some);
        status
    });
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, bytes) = post(&server, r#"{"input":"Hi."}"#);
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&bytes));
    // Leaving: the long requests stop at their next chunk, and a short one is
    // served long before they would have finished.
    drop(reader);
    drop(first);
    assert_eq!(second.join().unwrap(), 200);
    let t = Instant::now();
    loop {
        let (status, _, _) = post(&server, r#"{"input":"Hi.","response_format":"wav"}"#);
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the abandoned work was not dropped"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

/// Issue 14: requests in progress share the workers chunk by chunk, so a
/// sentence sent while a long text is being spoken is answered before the long
/// text ends (spoken one at a time, it would wait for all of it), and
/// `/health` counts what is in progress.
#[test]
fn a_sentence_is_not_stuck_behind_a_long_text() {
    let server = Server::start(ServerOptions::default());
    let text = "Here is a sentence that keeps the server busy for a while, and then some more. "
        .repeat(24);
    let url = server.url("/v1/audio/speech");
    let (started_tx, started) = std::sync::mpsc::channel();
    let long = std::thread::spawn(move || {
        let mut res = agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(format!(r#"{{"input":"{text}","response_format":"pcm"}}"#))
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let mut reader = res.body_mut().as_reader();
        let mut head = [0u8; 4096];
        reader.read_exact(&mut head).unwrap();
        started_tx.send(()).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        (Instant::now(), rest.len())
    });
    started.recv().unwrap();
    let mut health = agent().get(&server.url("/health")).call().unwrap();
    let health = json(&health.body_mut().read_to_vec().unwrap());
    assert_eq!(health["requests"]["in_progress"], 1, "{health}");
    assert!(
        health["model_calls"]["running"].as_u64().unwrap() <= 2,
        "{health}"
    );

    let (status, _, wav) = post(
        &server,
        r#"{"input":"Just one sentence.","response_format":"wav"}"#,
    );
    let short_done = Instant::now();
    assert_eq!(status, 200);
    assert!(wav.len() > 24_000, "{} bytes", wav.len());
    let (long_done, rest) = long.join().unwrap();
    assert!(rest > 48_000 * 60, "the long text is long: {rest} bytes");
    assert!(
        short_done < long_done,
        "the sentence was answered only after the long text ended"
    );
}

/// Lines of JSON.
fn lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| json(l.as_bytes()))
        .collect()
}

fn base64(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

const TIMED_TEXT: &str = "Hello there. This is a test of word timings, in “quotes”.";
const TIMED_WORDS: [&str; 11] = [
    "Hello", "there", "This", "is", "a", "test", "of", "word", "timings", "in", "quotes",
];

#[test]
fn timed_speech_gives_each_word_its_time_and_span() {
    let server = Server::start(ServerOptions::default());
    let body =
        serde_json::json!({"input": TIMED_TEXT, "voice": "af_heart", "response_format": "wav"});
    let (status, kind, bytes) = post_to(&server, "/v1/audio/speech/timed", &body.to_string());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(kind, "application/x-ndjson");
    let lines = lines(&bytes);
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true, "{last}");
    let mut wav = Vec::new();
    let mut words = Vec::new();
    for l in &lines[..lines.len() - 1] {
        wav.extend(base64(&l["audio"]));
        words.extend(l["words"].as_array().unwrap().iter().cloned());
    }
    // A streamed WAV: its header says "unknown length"; 16-bit samples follow.
    assert_eq!(&wav[..4], b"RIFF");
    let seconds = (wav.len() - 44) as f64 / 2.0 / 24_000.0;
    assert!(
        (last["audio_seconds"].as_f64().unwrap() - seconds).abs() < 0.01,
        "{last} vs {seconds}"
    );
    let said: Vec<&str> = words.iter().map(|w| w["word"].as_str().unwrap()).collect();
    assert_eq!(said, TIMED_WORDS);
    assert!(lines[..lines.len() - 1]
        .iter()
        .all(|l| l["voice"] == "af_heart"));
    // Captions of the whole text come with the last line.
    let srt = last["srt"].as_str().unwrap();
    let vtt = last["vtt"].as_str().unwrap();
    assert!(
        srt.starts_with("1\n00:00:0") && srt.contains(" --> "),
        "{srt}"
    );
    assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");
    assert_eq!(srt.matches(" --> ").count(), vtt.matches(" --> ").count());
    let mut previous = 0.0;
    for w in &words {
        let (start, end) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(previous <= start && start < end && end <= seconds, "{w}");
        previous = start;
        let span = w["span"].as_array().unwrap();
        let (a, b) = (
            span[0].as_u64().unwrap() as usize,
            span[1].as_u64().unwrap() as usize,
        );
        assert_eq!(
            &TIMED_TEXT[a..b],
            w["word"].as_str().unwrap(),
            "spans are bytes of the input"
        );
    }
}

#[test]
fn captioned_speech_in_kokoro_fastapis_shape() {
    let server = Server::start(ServerOptions::default());
    // As Kokoro-FastAPI's own example client asks: the whole, in one object.
    let body = serde_json::json!({"model": "kokoro", "input": TIMED_TEXT, "voice": "af_heart",
        "speed": 1.0, "response_format": "mp3", "stream": false, "lang_code": "a"});
    let (status, kind, bytes) = post_to(&server, "/dev/captioned_speech", &body.to_string());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(kind, "application/json");
    let whole = json(&bytes);
    assert_eq!(whole["audio_format"], "audio/mpeg");
    let mp3 = base64(&whole["audio"]);
    assert!(mp3.len() > 5_000, "{} bytes of MP3", mp3.len());
    let stamps = whole["timestamps"].as_array().unwrap();
    let said: Vec<&str> = stamps.iter().map(|w| w["word"].as_str().unwrap()).collect();
    assert_eq!(said, TIMED_WORDS);
    assert!(stamps
        .windows(2)
        .all(|w| w[0]["start_time"].as_f64() <= w[1]["start_time"].as_f64()));
    // Streamed, line by line as its README reads it: the same audio, the same
    // words, with times from the start of the whole.
    let body =
        serde_json::json!({"input": TIMED_TEXT, "voice": "af_heart", "response_format": "mp3"});
    let (status, _, bytes) = post_to(&server, "/dev/captioned_speech", &body.to_string());
    assert_eq!(status, 200);
    let mut audio = Vec::new();
    let mut streamed = Vec::new();
    for l in lines(&bytes) {
        assert_eq!(l["audio_format"], "audio/mpeg");
        audio.extend(base64(&l["audio"]));
        streamed.extend(l["timestamps"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(audio, mp3, "streamed or whole, the same MP3");
    assert_eq!(&streamed, stamps);
    // Without timestamps, none.
    let body = serde_json::json!({"input": "Hi.", "stream": false, "return_timestamps": false});
    let (_, _, bytes) = post_to(&server, "/dev/captioned_speech", &body.to_string());
    assert!(json(&bytes)["timestamps"].is_null());
    // Bad requests are refused as on /v1/audio/speech.
    let (status, _, bytes) = post_to(
        &server,
        "/dev/captioned_speech",
        r#"{"input":"Hi.","speed":9}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(json(&bytes)["error"]["param"], "speed");
}

/// The status line of a raw request with this `Host`.
fn status_for_host(server: &Server, host: &str) -> String {
    use std::io::Write;
    let addr = server.url("").trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /v1/audio/voices HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_foreign_host_name_is_refused_against_dns_rebinding() {
    let server = Server::start(ServerOptions::default());
    assert!(status_for_host(&server, "evil.example").contains("421"));
    assert!(status_for_host(&server, "localhost:8880").contains("200"));
    let addr = server.url("").trim_start_matches("http://").to_string();
    assert!(status_for_host(&server, &addr).contains("200"));
    let server = Server::start(ServerOptions {
        allowed_hosts: vec!["tts.lan".into()],
        ..ServerOptions::default()
    });
    assert!(status_for_host(&server, "tts.lan").contains("200"));
    assert!(status_for_host(&server, "evil.example").contains("421"));
}

#[test]
fn ssml_input_is_spoken_with_its_voices_and_bad_ssml_names_its_line() {
    let server = Server::start(ServerOptions::default());
    let ssml = |pause: &str| {
        format!(
            r#"<speak>Hello. <break time="{pause}"/> <voice name="am_adam">Bye now.</voice></speak>"#
        )
    };
    let wav = |input: &str| {
        let body = serde_json::json!({ "input": input, "response_format": "wav" }).to_string();
        let (status, kind, bytes) = post(&server, &body);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(kind, "audio/wav");
        bytes.len() as f64 / 48_000.0
    };
    let (long, short) = (wav(&ssml("3s")), wav(&ssml("1s")));
    assert!(
        (long - short - 2.0).abs() < 0.05,
        "{long} s against {short} s"
    );
    // The timed answer says which voice spoke each chunk.
    let body = serde_json::json!({ "input": ssml("1s"), "voice": "bf_emma" }).to_string();
    let (status, _, bytes) = post_to(&server, "/v1/audio/speech/timed", &body);
    assert_eq!(status, 200);
    let spoke: Vec<(String, String)> = lines(&bytes)
        .iter()
        .filter(|l| l["done"].is_null())
        .flat_map(|l| {
            let voice = l["voice"].as_str().unwrap().to_string();
            l["words"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |w| (w["word"].as_str().unwrap().to_string(), voice.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let expected = [("Hello", "bf_emma"), ("Bye", "am_adam"), ("now", "am_adam")];
    assert_eq!(
        spoke,
        expected.map(|(w, v)| (w.to_string(), v.to_string())),
        "{spoke:?}"
    );
    assert_error(
        &server,
        &serde_json::json!({ "input": "<speak>\n<p>Hi</s></speak>" }).to_string(),
        400,
        "SSML, line 2",
    );
    assert_error(
        &server,
        &serde_json::json!({ "input": "<speak>Hi <voice name=\"zz_nobody\">x</voice></speak>" })
            .to_string(),
        400,
        "zz_nobody",
    );
}

/// What a raw connection gets back within a few seconds: the bytes, until the
/// server closes it (or the wait runs out).
fn raw_reply(stream: &mut std::net::TcpStream, within: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

#[test]
fn slow_and_idle_clients_are_dropped_and_connections_are_capped() {
    use std::io::Write;
    use std::net::TcpStream;
    let server = Server::start(ServerOptions {
        limits: kokoro_server::Limits {
            max_connections: 4,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
            ..kokoro_server::Limits::default()
        },
        body_timeout: Duration::from_secs(1),
        ..ServerOptions::default()
    });
    // Ten clients that send half a header: four are let in, six refused at once.
    let mut slow: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: localh")
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
            s
        })
        .collect();
    let started = Instant::now();
    let mut refused = 0;
    let mut closed = 0;
    for s in &mut slow {
        let (got, eof) = raw_reply(s, Duration::from_secs(5));
        if got.starts_with(b"HTTP/1.1 503") {
            refused += 1;
        } else if eof {
            closed += 1;
        }
    }
    assert_eq!(
        (refused, closed),
        (6, 4),
        "six refused, four closed for their slow header"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The slots are free again: a whole request is served.
    let (status, _, _) = post_to(&server, "/v1/models", "");
    assert_ne!(status, 503);
    assert_eq!(
        agent().get(&server.url("/health")).call().unwrap().status(),
        200
    );
    // A body that stops coming: 408, not a wait.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"input\":",
    )
    .unwrap();
    let (got, _) = raw_reply(&mut s, Duration::from_secs(5));
    assert!(
        got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // A connection kept alive and silent is closed after the idle time.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let since = Instant::now();
    let (got, eof) = raw_reply(&mut s, Duration::from_secs(6));
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(eof, "the idle connection was left open");
    assert!(
        since.elapsed() < Duration::from_secs(5),
        "{:?}",
        since.elapsed()
    );
}

#[test]
fn cors_only_for_the_origins_given() {
    let get_models = |server: &Server, origin: &str| {
        let res = agent()
            .get(&server.url("/v1/models"))
            .header("Origin", origin)
            .call()
            .unwrap();
        res.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let closed = Server::start(ServerOptions::default());
    assert_eq!(get_models(&closed, "https://app.example"), None);
    let open = Server::start(ServerOptions {
        cors: vec!["https://app.example".into()],
        api_key: Some("k".into()),
        ..ServerOptions::default()
    });
    // A preflight needs no key, and names what may be sent.
    let pre = agent()
        .options(&open.url("/v1/audio/speech"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .call()
        .unwrap();
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(
        get_models(&open, "https://app.example").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(get_models(&open, "https://evil.example"), None);
}

#[test]
fn documents_are_read_two_at_a_time_and_more_are_429() {
    use std::io::Write;
    use std::net::TcpStream;
    let server = Server::start(ServerOptions::default());
    let book = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kokoro-text/test_data/book.epub"),
    )
    .unwrap();
    let half = book.len() / 2;
    // Two documents on their way, half sent: each holds a slot from the
    // moment its body starts to arrive.
    let mut coming: Vec<TcpStream> = (0..kokoro_server::MAX_DOCUMENTS_AT_ONCE)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).unwrap();
            write!(
                s,
                "POST /v1/text/extract HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
                book.len()
            )
            .unwrap();
            s.write_all(&book[..half]).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut res = agent()
        .post(&server.url("/v1/text/extract"))
        .send(&book[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert_eq!(res.headers().get("retry-after").unwrap(), "1");
    let message = json(&res.body_mut().read_to_vec().unwrap())["error"]["message"].to_string();
    assert!(
        message.contains("as many documents as it may (2)"),
        "{message}"
    );
    // Speech is not held up by documents.
    let (status, _, _) = post(&server, r#"{"input":"Hi."}"#);
    assert_eq!(status, 200);
    // The two finish and are read; their slots are free again.
    for s in &mut coming {
        s.write_all(&book[half..]).unwrap();
        let mut got = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        while !String::from_utf8_lossy(&got).contains("\"chapters\"") {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
    let res = agent()
        .post(&server.url("/v1/text/extract"))
        .send(&book[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[test]
fn a_voice_preview_is_made_once_and_kept() {
    let server = Server::start(ServerOptions::default());
    let a = agent();
    let get = |voice: &str| {
        let mut res = a
            .get(&server.url(&format!("/v1/audio/voices/{voice}/preview")))
            .call()
            .unwrap();
        let cache = res
            .headers()
            .get("x-kokoro-cache")
            .map(|v| v.to_str().unwrap().to_string());
        let kind = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        (
            res.status().as_u16(),
            cache,
            kind,
            res.body_mut().read_to_vec().unwrap(),
        )
    };
    let (status, cache, kind, first) = get("ff_siwis");
    assert_eq!(status, 200);
    assert_eq!(cache.as_deref(), Some("miss"));
    assert_eq!(kind.as_deref(), Some("audio/mpeg"));
    assert!(first.len() > 5_000, "{} bytes", first.len());
    let (status, cache, _, second) = get("ff_siwis");
    assert_eq!((status, cache.as_deref()), (200, Some("hit")));
    assert_eq!(first, second);
    let (status, _, _, body) = get("zz_nobody");
    assert_eq!(status, 404);
    let error = json(&body);
    assert_eq!(error["error"]["param"], "voice", "{error}");
}

#[test]
fn chapters_become_one_m4b_with_progress() {
    let server = Server::start(ServerOptions::default());
    let body = serde_json::json!({
        "chapters": [
            {"title": "The First", "text": "This is the first chapter. It is short."},
            {"title": "The Second", "text": "And this, the second, is shorter."},
        ],
        "voice": "bf_emma",
        "title": "A Small Book",
        "author": "Someone",
    });
    let (status, kind, bytes) = post_to(&server, "/v1/audio/book", &body.to_string());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(kind, "application/x-ndjson");
    let lines = lines(&bytes);
    let progress: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["progress"].as_f64())
        .collect();
    assert!(!progress.is_empty() && progress.windows(2).all(|w| w[0] <= w[1]));
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true, "{last}");
    assert_eq!(last["chapters"], 2, "{last}");
    assert_eq!(last["format"], "m4b", "{last}");
    let file: Vec<u8> = lines
        .iter()
        .filter(|l| l["audio"].is_string())
        .flat_map(|l| base64(&l["audio"]))
        .collect();
    assert_eq!(&file[4..11], b"ftypM4B");
    let has = |s: &str| file.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(has("chpl") && has("The First") && has("The Second") && has("A Small Book"));

    assert_error_at(
        &server,
        "/v1/audio/book",
        r#"{"chapters":[{"text":"  "}]}"#,
        400,
        "nothing to speak",
    );
    assert_error_at(
        &server,
        "/v1/audio/book",
        r#"{"chapters":[{"text":"Hi."}],"voice":"zz_nobody"}"#,
        400,
        "zz_nobody",
    );
    assert_error_at(
        &server,
        "/v1/audio/book",
        r#"{"chapters":[{"text":"Hi."}],"response_format":"pcm"}"#,
        400,
        "not supported for books",
    );
}

#[track_caller]
fn assert_error_at(server: &Server, path: &str, body: &str, status: u16, says: &str) {
    let (got, _, bytes) = post_to(server, path, body);
    let error = json(&bytes);
    assert_eq!(got, status, "{error}");
    assert!(
        error["error"]["message"].as_str().unwrap().contains(says),
        "{error}"
    );
}
