//! `cargo xtask soak [--seconds 60] [--exe PATH]`: `kokoro serve` under a mix
//! of good and bad clients over loopback for a bounded time, then judged:
//!
//! - good: two clients asking for speech of three sentences in turn; every
//!   reply must be 200 and equal, byte for byte, to the first reply for its
//!   sentence (complete audio, not a prefix);
//! - bad: one client, a request every 20 ms: malformed JSON, bodies past the limit, an unknown voice, an input
//!   past the character limit, hostile documents to `/v1/text/extract` (HTML
//!   nested past the bound, a broken EPUB): each must get a 4xx;
//! - slow: connections that send half a header and wait, twenty at a time:
//!   each must be closed by the server;
//! - vanishing: a client every 2 s that asks for a paragraph and leaves after
//!   its first bytes.
//!
//! It passes when no reply was a 5xx, no good reply differed, the server is
//! alive and healthy at the end, and its memory once the clients are gone is
//! within 64 MiB of its memory after a warm-up. It stops by itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::bench::{flag, rss_mib_of};
use crate::serve_bench::{paragraphs, start_serve};

const SENTENCES: [&str; 3] = [
    "The soak goes on for a minute, and this request is one of many.",
    "Good clients must get whole audio, whatever the others do.",
    "Bad ones get clear errors, and the server keeps going.",
];

/// What the clients saw.
#[derive(Default)]
struct Counts {
    good: AtomicUsize,
    refused: AtomicUsize,
    differed: AtomicUsize,
    rejected: AtomicUsize,
    unexpected: Mutex<Vec<String>>,
    server_errors: AtomicUsize,
    slow_closed: AtomicUsize,
    slow_open: AtomicUsize,
    vanished: AtomicUsize,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// POSTs `body`; the status and the whole reply, or `None` on a transport error.
fn post(agent: &ureq::Agent, url: &str, kind: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut res = agent
        .post(url)
        .header("Content-Type", kind)
        .send(body)
        .ok()?;
    let status = res.status().as_u16();
    let mut bytes = Vec::new();
    res.body_mut()
        .with_config()
        .limit(64 << 20)
        .reader()
        .read_to_end(&mut bytes)
        .ok()?;
    Some((status, bytes))
}

fn speech(text: &str, voice: &str) -> String {
    format!(
        r#"{{"input":"{}","voice":"{voice}","response_format":"wav"}}"#,
        text.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// Sends a 2 MiB speech request, whole, as a client that ignores the limit
/// would (the server may stop reading past its 1 MiB, so write errors are
/// expected), and reads the status it answers with.
fn oversized(addr: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = vec![b' '; 2 << 20];
    let header = format!(
        "POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(header.as_bytes()).ok()?;
    let _ = s.write_all(&body);
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = String::from_utf8_lossy(&buf[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn run(args: &[String]) -> Result<()> {
    let seconds: u64 = flag(args, "--seconds").map_or(Ok(60), str::parse)?;
    crate::fetch::run()?;
    let exe = crate::bench::kokoro_exe(args)?;
    let (mut server, base, layout) = start_serve(&exe, &["--queue", "8"])?;
    let pid = server.id().to_string();
    let speech_url = format!("{base}/v1/audio/speech");
    let paragraph = paragraphs()?.into_iter().next().context("no paragraph")?;

    // Warm-up: each sentence once (the reference replies) and one paragraph.
    let a = agent();
    let mut reference = Vec::new();
    for s in SENTENCES {
        let (status, bytes) = post(
            &a,
            &speech_url,
            "application/json",
            speech(s, "af_heart").as_bytes(),
        )
        .context("the warm-up request failed")?;
        ensure!(status == 200 && bytes.len() > 44, "warm-up: {status}");
        reference.push(bytes);
    }
    post(
        &a,
        &speech_url,
        "application/json",
        speech(&paragraph, "af_heart").as_bytes(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let before = rss_mib_of(&pid, "VmRSS:");
    eprintln!(
        "xtask: soak of {base} ({layout}) for {seconds} s; RSS after warm-up {before:.0} MiB"
    );

    let counts = Arc::new(Counts::default());
    let reference = Arc::new(reference);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let addr = base.trim_start_matches("http://").to_string();
    let mut threads = Vec::new();

    for k in 0..2 {
        let (c, r, url) = (counts.clone(), reference.clone(), speech_url.clone());
        threads.push(std::thread::spawn(move || {
            let a = agent();
            let mut i = k;
            while Instant::now() < deadline {
                let s = i % SENTENCES.len();
                i += 1;
                match post(
                    &a,
                    &url,
                    "application/json",
                    speech(SENTENCES[s], "af_heart").as_bytes(),
                ) {
                    Some((200, bytes)) if bytes == r[s] => c.good.fetch_add(1, Ordering::Relaxed),
                    Some((200, _)) => c.differed.fetch_add(1, Ordering::Relaxed),
                    Some((429, _)) => {
                        std::thread::sleep(Duration::from_millis(200));
                        c.refused.fetch_add(1, Ordering::Relaxed)
                    }
                    Some((code, _)) if code >= 500 => {
                        c.server_errors.fetch_add(1, Ordering::Relaxed)
                    }
                    other => {
                        let what = format!("good request: {:?}", other.map(|o| o.0));
                        c.unexpected.lock().unwrap().push(what);
                        0
                    }
                };
            }
        }));
    }

    {
        let (c, base, addr) = (counts.clone(), base.clone(), addr.clone());
        threads.push(std::thread::spawn(move || {
            let a = agent();
            let speech_url = format!("{base}/v1/audio/speech");
            let extract_url = format!("{base}/v1/text/extract");
            let deep = "<html><body>".to_string() + &"<div>".repeat(100_000) + "x";
            let mut broken_epub = b"PK\x03\x04".to_vec();
            broken_epub.extend(std::iter::repeat_n(0x41u8, 100_000));
            let cases: Vec<(&str, &str, Vec<u8>)> = vec![
                (
                    "malformed JSON",
                    "application/json",
                    b"{\"input\": \"Hello".to_vec(),
                ),
                (
                    "an unknown voice",
                    "application/json",
                    speech("Hello.", "af_nobody").into_bytes(),
                ),
                (
                    "an input past the limit",
                    "application/json",
                    speech(&"a ".repeat(60_000), "af_heart").into_bytes(),
                ),
                ("HTML nested too deep", "text/html", deep.into_bytes()),
                ("a broken EPUB", "application/epub+zip", broken_epub),
            ];
            let mut i = 0;
            while Instant::now() < deadline {
                if i % (cases.len() + 1) == cases.len() {
                    // A body past the limit, sent whole: 413.
                    i += 1;
                    match oversized(&addr) {
                        Some(413) => c.rejected.fetch_add(1, Ordering::Relaxed),
                        Some(code) if code >= 500 => {
                            c.server_errors.fetch_add(1, Ordering::Relaxed)
                        }
                        other => {
                            c.unexpected
                                .lock()
                                .unwrap()
                                .push(format!("a body past the limit: {other:?}"));
                            0
                        }
                    };
                    continue;
                }
                let (what, kind, body) = &cases[i % cases.len()];
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
                let url = if kind.starts_with("application/json") {
                    &speech_url
                } else {
                    &extract_url
                };
                match post(&a, url, kind, body) {
                    Some((code, _)) if (400..500).contains(&code) && code != 429 => {
                        c.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    Some((429, _)) => std::thread::sleep(Duration::from_millis(100)),
                    Some((code, _)) if code >= 500 => {
                        c.server_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    other => c
                        .unexpected
                        .lock()
                        .unwrap()
                        .push(format!("{what}: {:?}", other.map(|o| o.0))),
                }
            }
        }));
    }

    {
        let (c, addr) = (counts.clone(), addr.clone());
        threads.push(std::thread::spawn(move || {
            while Instant::now() < deadline {
                let mut open = Vec::new();
                for _ in 0..20 {
                    if let Ok(mut s) = TcpStream::connect(&addr) {
                        let _ =
                            s.write_all(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n");
                        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                        open.push(s);
                    }
                }
                for mut s in open {
                    // Closed by the server: end of stream (or a 408 first).
                    let mut buf = [0u8; 512];
                    let mut closed = false;
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => {
                                closed = true;
                                break;
                            }
                            Ok(_) => continue,
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                                closed = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let counter = if closed { &c.slow_closed } else { &c.slow_open };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    {
        let (c, addr) = (counts.clone(), addr.clone());
        let body = speech(&paragraph, "af_heart");
        threads.push(std::thread::spawn(move || {
            while Instant::now() < deadline {
                if let Ok(mut s) = TcpStream::connect(&addr) {
                    let request = format!(
                        "POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(request.as_bytes());
                    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                    c.vanished.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }));
    }

    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a soak client panicked"))?;
    }
    std::thread::sleep(Duration::from_secs(5));
    let alive = server.try_wait()?.is_none();
    let healthy = agent()
        .get(format!("{base}/health"))
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200);
    let after = rss_mib_of(&pid, "VmRSS:");
    let peak = crate::bench::peak_rss_mib_of(&pid);
    let _ = server.kill();
    let _ = server.wait();

    let n = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    let unexpected = counts.unexpected.lock().unwrap().clone();
    let table = format!(
        "| seconds | good replies | differed | refused (429) | bad requests rejected (4xx) | 5xx | slow connections closed | left open | vanished clients | alive, healthy | RSS after warm-up MiB | after the soak MiB | peak MiB |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n\
         | {seconds} | {} | {} | {} | {} | {} | {} | {} | {} | {alive}, {healthy} | {before:.0} | {after:.0} | {peak:.0} |\n",
        n(&counts.good),
        n(&counts.differed),
        n(&counts.refused),
        n(&counts.rejected),
        n(&counts.server_errors),
        n(&counts.slow_closed),
        n(&counts.slow_open),
        n(&counts.vanished),
    );
    println!(
        "### Soak of `kokoro serve` ({})\n\n{table}",
        crate::bench::machine()
    );
    for u in &unexpected {
        eprintln!("xtask: unexpected: {u}");
    }
    ensure!(alive && healthy, "the server did not survive the soak");
    ensure!(
        n(&counts.server_errors) == 0,
        "{} replies were 5xx",
        n(&counts.server_errors)
    );
    ensure!(
        n(&counts.differed) == 0,
        "{} good replies were not whole",
        n(&counts.differed)
    );
    ensure!(n(&counts.good) > 0, "no good request was served");
    ensure!(
        n(&counts.slow_open) == 0,
        "{} slow connections were never closed",
        n(&counts.slow_open)
    );
    ensure!(
        unexpected.is_empty(),
        "{} unexpected replies",
        unexpected.len()
    );
    ensure!(
        after - before <= 64.0,
        "memory did not come back: {before:.0} MiB after the warm-up, {after:.0} MiB after the soak"
    );
    Ok(())
}
