//! The server's web page in a real headless browser (Debian's chromium,
//! driven through chromedriver's WebDriver API): the page loads the voices,
//! speaks a sentence, and its audio element ends up with playable audio.
//!
//! Needs `chromium` and `chromium-driver` (or `KOKORO_CHROMIUM` and
//! `KOKORO_CHROMEDRIVER` naming a browser and its driver); `.ci/run` installs them and sets
//! `KOKORO_BROWSER_TEST=1`, which makes their absence a failure. Elsewhere the
//! test says it is skipped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// One WebDriver command; its `value`.
fn webdriver(method: &str, url: &str, body: Option<Value>) -> Value {
    let a = agent();
    let mut res = match (method, body) {
        ("POST", Some(b)) => a
            .post(url)
            .header("Content-Type", "application/json")
            .send(b.to_string())
            .unwrap(),
        ("DELETE", _) => a.delete(url).call().unwrap(),
        _ => a.get(url).call().unwrap(),
    };
    let v: Value = serde_json::from_slice(&res.body_mut().read_to_vec().unwrap()).unwrap();
    assert!(res.status().is_success(), "{method} {url}: {v}");
    v["value"].clone()
}

#[test]
fn the_page_speaks_in_a_headless_browser() {
    // Debian's packages by default; elsewhere (a CI runner with Chrome) the
    // paths come from KOKORO_CHROMIUM and KOKORO_CHROMEDRIVER.
    let path = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let chromium = path("KOKORO_CHROMIUM", "/usr/bin/chromium");
    let driver = path("KOKORO_CHROMEDRIVER", "/usr/bin/chromedriver");
    let (chromium, driver) = (chromium.as_path(), driver.as_path());
    if !chromium.exists() || !driver.exists() {
        assert!(
            std::env::var_os("KOKORO_BROWSER_TEST").is_none(),
            "KOKORO_BROWSER_TEST is set but {} or {} is missing",
            chromium.display(),
            driver.display()
        );
        eprintln!(
            "skipped: no {} and {} (apt install chromium chromium-driver)",
            chromium.display(),
            driver.display()
        );
        return;
    }

    let server = crate::Server::start(kokoro_server::ServerOptions::default());

    let port = free_port();
    let _driver = Killed(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let wd = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    while agent().get(&format!("{wd}/status")).call().is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let profile = tempfile::tempdir().unwrap();
    let session = webdriver(
        "POST",
        &format!("{wd}/session"),
        Some(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}})),
    );
    let id = session["sessionId"].as_str().unwrap().to_string();
    let s = format!("{wd}/session/{id}");
    webdriver(
        "POST",
        &format!("{s}/timeouts"),
        Some(json!({"script": 90_000})),
    );
    webdriver(
        "POST",
        &format!("{s}/url"),
        Some(json!({"url": server.url("/")})),
    );
    let result = webdriver(
        "POST",
        &format!("{s}/execute/async"),
        Some(json!({"args": [], "script": r##"
            const done = arguments[arguments.length - 1];
            const $ = (id) => document.getElementById(id);
            const t0 = Date.now();
            (function waitForVoices() {
              if ($("voices").options.length === 0 && Date.now() - t0 < 20000) { setTimeout(waitForVoices, 100); return; }
              $("text").value = "Hello from a headless browser. The audio should play while it is made.";
              $("format").value = "mp3";
              $("speak").click();
              const audio = $("audio");
              (function wait() {
                const state = document.body.dataset.state;
                const report = () => ({ state, voices: $("voices").options.length, duration: audio.duration,
                  ready: audio.readyState, error: audio.error ? audio.error.code : null,
                  download: !$("download").hidden, status: $("status").textContent });
                if (state === "done" && audio.readyState >= 1 && isFinite(audio.duration)) readAlong(report());
                else if (state === "error" || Date.now() - t0 > 80000) done(report());
                else setTimeout(wait, 100);
              })();
              // Read-along: seek into the fifth word; the page highlights it.
              function readAlong(r) {
                const words = window.kokoroWords();
                r.words = words.length;
                r.shown = $("reading").textContent;
                r.ordered = words.every((w, i) => w.start <= w.end && (i === 0 || words[i - 1].start <= w.start));
                if (words.length < 5) { done(r); return; }
                audio.pause();
                const k = 4;
                audio.addEventListener("seeked", () => {
                  setTimeout(() => {
                    const now = document.querySelectorAll("#reading .now");
                    r.expected = words[k].text;
                    r.highlighted = now.length === 1 ? now[0].textContent : now.length + " highlighted";
                    r.index = document.body.dataset.word;
                    done(r);
                  }, 100);
                }, { once: true });
                audio.currentTime = (words[k].start + Math.min(words[k].end, words[k + 1] ? words[k + 1].start : words[k].end)) / 2;
              }
            })();
        "##})),
    );
    let _ = webdriver("DELETE", &s, None);
    assert_eq!(result["state"], "done", "{result}");
    assert_eq!(result["voices"], 54, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(result["download"], true, "{result}");
    let secs = result["duration"].as_f64().unwrap();
    assert!((2.0..15.0).contains(&secs), "{secs} s of audio: {result}");
    // "Hello from a headless browser. The audio should play while it is made."
    assert_eq!(result["words"], 13, "{result}");
    assert_eq!(result["ordered"], true, "{result}");
    assert_eq!(
        result["shown"], "Hello from a headless browser. The audio should play while it is made.",
        "the whole text is shown for reading along: {result}"
    );
    assert_eq!(result["expected"], "browser", "{result}");
    assert_eq!(
        result["highlighted"], "browser",
        "the word being spoken is highlighted: {result}"
    );
    assert_eq!(result["index"], "4", "{result}");
}
