//! The server's web page (the studio) in a real headless browser (Debian's
//! chromium, driven through chromedriver's WebDriver API), on the real model:
//! a sentence spoken and read along; a voice chosen from the list and heard;
//! a preview played twice, the second from the cache; a blend carried by the
//! request; a two-speaker script spoken by both voices; an EPUB's chapters
//! chosen, spoken with progress and downloaded, one by one and as one M4B;
//! captions parsed; the history
//! after a reload; axe-core (from npm) finding no WCAG A or AA violation;
//! screenshots at desktop and phone width, light and dark, written to
//! `CARGO_TARGET_TMPDIR/screenshots`.
//!
//! Needs `chromium` and `chromium-driver` (or `KOKORO_CHROMIUM` and
//! `KOKORO_CHROMEDRIVER` naming a browser and its driver); `.ci/run` installs them and sets
//! `KOKORO_BROWSER_TEST=1`, which makes their absence a failure. Elsewhere the
//! test says it is skipped.

use std::path::{Path, PathBuf};
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

/// A browser session on a running server, closed when dropped.
struct Browser {
    session: String,
    _driver: Killed,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let a = agent();
        let _ = a.delete(&self.session).call();
    }
}

impl Browser {
    /// The browser and its driver, or `None` (a skip that says why) where
    /// they are missing and `KOKORO_BROWSER_TEST` is not set.
    fn open() -> Option<Browser> {
        // Debian's packages by default; elsewhere (a CI runner with Chrome) the
        // paths come from KOKORO_CHROMIUM and KOKORO_CHROMEDRIVER.
        let path = |var: &str, default: &str| {
            std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        let chromium = path("KOKORO_CHROMIUM", "/usr/bin/chromium");
        let driver = path("KOKORO_CHROMEDRIVER", "/usr/bin/chromedriver");
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
            return None;
        }
        let port = free_port();
        let driver = Killed(
            Command::new(&driver)
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
        let b = Browser {
            session: format!("{wd}/session/{id}"),
            _driver: driver,
            _profile: profile,
        };
        b.post("timeouts", json!({"script": 240_000}));
        Some(b)
    }

    fn post(&self, what: &str, body: Value) -> Value {
        webdriver("POST", &format!("{}/{what}", self.session), Some(body))
    }

    fn go(&self, url: &str) {
        self.post("url", json!({ "url": url }));
    }

    /// Runs `script` (its last argument is the callback to call with the result).
    fn run(&self, script: &str) -> Value {
        self.post("execute/async", json!({"args": [], "script": script}))
    }

    fn size(&self, width: u32, height: u32) {
        self.post("window/rect", json!({"width": width, "height": height}));
    }

    fn screenshot(&self, path: &Path) {
        let shot = webdriver("GET", &format!("{}/screenshot", self.session), None);
        let png = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            shot.as_str().unwrap(),
        )
        .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(path, png).unwrap();
    }

    /// Gives the file at `path` to the file input `css`.
    fn upload(&self, css: &str, path: &Path) {
        let el = self.post("element", json!({"using": "css selector", "value": css}));
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string();
        self.post(
            &format!("element/{id}/value"),
            json!({ "text": path.display().to_string() }),
        );
    }
}

/// Waits (in the page) until `cond` is true, then calls back with `report`.
const WAIT: &str = r#"
  const done = arguments[arguments.length - 1];
  const $ = (id) => document.getElementById(id);
  const until = (cond, then, ms = 200000) => { const t0 = Date.now(); (function w() {
    let ok = false; try { ok = cond(); } catch (_) {}
    if (ok) then(); else if (Date.now() - t0 > ms) done({ timeout: true, state: document.body.dataset.state, status: $("status").textContent,
      errors: ["text-error", "script-error", "doc-error", "voices-error"].map((i) => $(i).textContent).join("|") });
    else setTimeout(w, 100); })(); };
"#;

#[test]
fn the_page_speaks_in_a_headless_browser() {
    let Some(browser) = Browser::open() else {
        return;
    };
    let server = crate::Server::start(kokoro_server::ServerOptions::default());
    browser.go(&server.url("/"));
    let result = browser.run(&format!(
        "{WAIT}{}",
        r##"
        until(() => window.kokoroVoices().length === 54, () => {
          $("text").value = "Hello from a headless browser. The audio should play while it is made.";
          $("format").value = "mp3";
          $("speak").click();
          const audio = $("audio");
          until(() => document.body.dataset.state === "done" && audio.readyState >= 1 && isFinite(audio.duration), () => {
            const r = { state: "done", voices: window.kokoroVoices().length, duration: audio.duration,
                        error: audio.error ? audio.error.code : null, download: !$("downloads").hidden };
            const words = window.kokoroWords();
            r.words = words.length;
            r.shown = $("reading").textContent;
            r.ordered = words.every((w, i) => w.start <= w.end && (i === 0 || words[i - 1].start <= w.start));
            if (words.length < 5) { done(r); return; }
            audio.pause();
            const k = 4;
            audio.addEventListener("seeked", () => setTimeout(() => {
              const now = document.querySelectorAll("#reading .now");
              r.expected = words[k].text;
              r.highlighted = now.length === 1 ? now[0].textContent : now.length + " highlighted";
              r.index = document.body.dataset.word;
              done(r);
            }, 100), { once: true });
            audio.currentTime = (words[k].start + Math.min(words[k].end, words[k + 1] ? words[k + 1].start : words[k].end)) / 2;
          });
        });
        "##
    ));
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

/// axe-core, from npm, installed once under the target directory.
fn axe_source() -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("axe");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.is_file() {
        let ok = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("axe-core@4.14.1")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot install axe-core with npm");
    }
    std::fs::read_to_string(file).unwrap()
}

#[test]
fn the_studio_does_what_its_page_says() {
    let Some(browser) = Browser::open() else {
        return;
    };
    let server = crate::Server::start(kokoro_server::ServerOptions::default());
    browser.size(1280, 1000);
    browser.go(&server.url("/"));

    // Every request the page makes is recorded, for what it carried.
    let setup = r#"
      window.sent = [];
      const original = window.fetch;
      window.fetch = (url, opts) => { window.sent.push({ url: String(url), body: opts && typeof opts.body === "string" ? opts.body : null }); return original(url, opts); };
    "#;

    // A voice chosen from the list (found by search) is heard: the audio grows.
    let chosen = browser.run(&format!(
        "{WAIT}{setup}{}",
        r##"
        until(() => window.kokoroVoices().length === 54, () => {
          const groups = document.querySelectorAll("#voice-list details").length;
          $("voice-search").value = "emma"; $("voice-search").dispatchEvent(new Event("input"));
          const shown = [...document.querySelectorAll(".voice")].map((v) => v.dataset.voice);
          document.querySelector('input[name=voice][value="bf_emma"]').click();
          $("voice-search").value = ""; $("voice-search").dispatchEvent(new Event("input"));
          $("text").value = "The chosen voice reads this sentence aloud, and then another one after it.";
          $("format").value = "mp3";
          const durations = [];
          const audio = $("audio");
          audio.addEventListener("durationchange", () => { if (isFinite(audio.duration)) durations.push(audio.duration); });
          $("speak").click();
          until(() => document.body.dataset.state === "done" && isFinite(audio.duration), () => {
            const body = JSON.parse(window.sent.find((r) => r.url.includes("/timed")).body);
            done({ groups, shown, voice: body.voice, durations, duration: audio.duration, chosen: $("chosen").textContent });
          });
        });
        "##
    ));
    assert!(chosen["groups"].as_u64().unwrap() >= 9, "{chosen}");
    assert_eq!(chosen["shown"], json!(["bf_emma"]), "{chosen}");
    assert_eq!(chosen["voice"], "bf_emma", "{chosen}");
    assert_eq!(chosen["chosen"], "bf_emma", "{chosen}");
    assert!(chosen["duration"].as_f64().unwrap() > 2.0, "{chosen}");

    // A preview, twice: the second from the cache (the page's; the server's
    // too, asked directly).
    let previewed = browser.run(&format!(
        "{WAIT}{}",
        r##"
        const button = document.querySelector('[aria-label="Preview am_adam"]') ||
          (() => { $("voice-search").value = "am_adam"; $("voice-search").dispatchEvent(new Event("input")); return document.querySelector('[aria-label="Preview am_adam"]'); })();
        window.kokoroPreviewCache = null;
        button.click();
        until(() => window.kokoroPreviewCache === "miss", async () => {
          const first = window.kokoroPreviewCache;
          window.kokoroPreviewCache = null;
          document.querySelector('[aria-label="Preview am_adam"]').click();
          until(() => window.kokoroPreviewCache !== null, async () => {
            const again = await fetch("/v1/audio/voices/am_adam/preview", { cache: "no-store" });
            const bytes = (await again.arrayBuffer()).byteLength;
            done({ first, second: window.kokoroPreviewCache, server: again.headers.get("X-Kokoro-Cache"), bytes });
          });
        });
        "##
    ));
    assert_eq!(previewed["first"], "miss", "{previewed}");
    assert_eq!(previewed["second"], "page", "{previewed}");
    assert_eq!(previewed["server"], "hit", "{previewed}");
    assert!(previewed["bytes"].as_u64().unwrap() > 5_000, "{previewed}");

    // A blend: two voices with weights; the request carries its string.
    let blended = browser.run(&format!(
        "{WAIT}{}",
        r##"
        $("voice-search").value = ""; $("voice-search").dispatchEvent(new Event("input"));
        for (const v of ["af_sarah", "am_adam"]) { $("blend-add").value = v; $("blend-add-button").click(); }
        const sliders = document.querySelectorAll("#blend input[type=range]");
        sliders[0].value = 70; sliders[0].dispatchEvent(new Event("input"));
        sliders[1].value = 30; sliders[1].dispatchEvent(new Event("input"));
        const string = $("blend-string").value;
        $("blend-name").value = "warm"; $("blend-save").click();
        $("blend-use").click();
        $("text").value = "A blended voice speaks here.";
        window.sent = [];
        $("speak").click();
        until(() => document.body.dataset.state === "done", () => {
          const body = JSON.parse(window.sent.find((r) => r.url.includes("/timed")).body);
          done({ string, voice: body.voice, saved: JSON.parse(localStorage.getItem("kokoro-blends")) });
        });
        "##
    ));
    assert_eq!(blended["string"], "af_sarah:70,am_adam:30", "{blended}");
    assert_eq!(blended["voice"], "af_sarah:70,am_adam:30", "{blended}");
    assert_eq!(
        blended["saved"]["warm"], "af_sarah:70,am_adam:30",
        "{blended}"
    );

    // A script for two speakers: both voices speak, each its own line.
    let script = browser.run(&format!(
        "{WAIT}{}",
        r##"
        document.getElementById("tab-script").click();
        window.kokoroImportSsml('<speak><voice name="af_heart">Good morning, who is calling?</voice><voice name="am_michael">It is only me, the second speaker.</voice></speak>');
        const ssml = window.kokoroScriptSsml();
        $("script-speak").click();
        until(() => document.body.dataset.state === "done", () => {
          const c = window.kokoroCaptions;
          done({ ssml, spoke: window.kokoroLastSpoke, srt: c.srt, vtt: c.vtt });
        });
        "##
    ));
    let spoke = script["spoke"].as_array().unwrap();
    let voice_of = |word: &str| {
        spoke
            .iter()
            .find(|c| c["words"].as_array().unwrap().iter().any(|w| w == word))
            .map(|c| c["voice"].as_str().unwrap().to_string())
    };
    assert_eq!(voice_of("morning").as_deref(), Some("af_heart"), "{script}");
    assert_eq!(
        voice_of("speaker").as_deref(),
        Some("am_michael"),
        "{script}"
    );
    assert!(
        script["ssml"]
            .as_str()
            .unwrap()
            .contains(r#"<break time="400ms"/>"#),
        "{script}"
    );
    // Captions of the whole script parse: SRT cues with comma milliseconds,
    // WebVTT with its header, the words in order.
    let srt = script["srt"].as_str().unwrap();
    let cues: Vec<&str> = srt.split("\n\n").filter(|c| !c.trim().is_empty()).collect();
    assert!(!cues.is_empty(), "{srt}");
    for (n, cue) in cues.iter().enumerate() {
        let lines: Vec<&str> = cue.lines().collect();
        assert_eq!(lines[0], (n + 1).to_string(), "{srt}");
        let (a, b) = lines[1].split_once(" --> ").unwrap();
        assert!(a.len() == 12 && b.len() == 12 && &a[8..9] == ",", "{srt}");
    }
    let vtt = script["vtt"].as_str().unwrap();
    assert!(
        vtt.starts_with("WEBVTT\n\n") && vtt.matches(" --> ").count() == cues.len(),
        "{vtt}"
    );
    let said: String = cues
        .iter()
        .flat_map(|c| c.lines().skip(2))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        said, "Good morning, who is calling? It is only me, the second speaker.",
        "{srt}"
    );

    // A document: an EPUB's chapters listed with words and time, two
    // chosen, progress to the end, a download for each and one merged.
    let dir = tempfile::tempdir().unwrap();
    let epub = dir.path().join("book.epub");
    std::fs::write(&epub, kokoro_dev::books::epub3()).unwrap();
    browser.run(&format!(
        "{WAIT}{}",
        r##"document.getElementById("tab-doc").click(); done(true);"##
    ));
    browser.upload("#doc-file", &epub);
    let doc = browser.run(&format!(
        "{WAIT}{}",
        r##"
        until(() => window.kokoroChapters().length >= 3, () => {
          const listed = window.kokoroChapters();
          const info = [...document.querySelectorAll("#chapters .muted")].map((e) => e.textContent);
          const boxes = [...document.querySelectorAll("#chapters input[type=checkbox]")];
          boxes.forEach((b, i) => (b.checked = i < 2));
          const seen = [];
          const bar = $("doc-progress");
          const watch = setInterval(() => seen.push(bar.value), 50);
          $("doc-speak").click();
          until(() => document.body.dataset.state === "done" && window.kokoroProgress === 1, async () => {
            clearInterval(watch);
            const links = [...document.querySelectorAll("#doc-downloads a")];
            const sizes = [];
            for (const a of links) sizes.push((await (await fetch(a.href)).arrayBuffer()).byteLength);
            done({ listed, info, seen, text: $("doc-progress-text").textContent, links: links.map((a) => a.download), sizes });
          });
        });
        "##
    ));
    assert!(doc["timeout"].is_null(), "{doc}");
    let info = doc["info"].as_array().unwrap();
    assert!(
        info.iter()
            .all(|i| i.as_str().unwrap().contains(" words, about ")),
        "{doc}"
    );
    let seen: Vec<f64> = doc["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{doc}");
    assert!(
        seen.iter().any(|&v| v > 0.0 && v < 1.0),
        "progress between the ends: {doc}"
    );
    assert!(doc["text"].as_str().unwrap().starts_with("100 %"), "{doc}");
    let links = doc["links"].as_array().unwrap();
    assert_eq!(links.len(), 3, "two chapters and the merged file: {doc}");
    assert!(
        doc["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_u64().unwrap() > 4_000),
        "{doc}"
    );

    // The same chapters as one M4B audiobook, from the server's book pipeline.
    let m4b = browser.run(&format!(
        "{WAIT}{}",
        r##"
        const boxes = [...document.querySelectorAll("#chapters input[type=checkbox]")];
        boxes.forEach((b, i) => (b.checked = i < 2));
        const titles = window.kokoroChapters().slice(0, 2).map((c) => c.title);
        $("doc-book").checked = true;
        document.body.dataset.state = "idle";
        window.kokoroProgress = 0;
        const seen = [];
        const watch = setInterval(() => seen.push($("doc-progress").value), 50);
        $("doc-speak").click();
        const link = () => [...document.querySelectorAll("#doc-downloads a")].find((a) => a.download.endsWith(".m4b"));
        until(() => document.body.dataset.state === "done" && link(), async () => {
          clearInterval(watch);
          const bytes = new Uint8Array(await (await fetch(link().href)).arrayBuffer());
          const text = new TextDecoder("latin1").decode(bytes);
          done({ size: bytes.length, ftyp: text.slice(4, 12), chpl: text.includes("chpl"), titles: titles.filter((t) => text.includes(t)).length,
                 seen, progress: window.kokoroProgress });
        });
        "##
    ));
    assert!(m4b["timeout"].is_null(), "{m4b}");
    assert_eq!(m4b["ftyp"], "ftypM4B ", "{m4b}");
    assert_eq!(m4b["chpl"], true, "{m4b}");
    assert_eq!(m4b["titles"], 2, "both chapters are marked: {m4b}");
    assert_eq!(m4b["progress"], 1.0, "{m4b}");
    assert!(m4b["size"].as_u64().unwrap() > 8_000, "{m4b}");

    // A reload: the history is still there.
    browser.go(&server.url("/"));
    let history = browser.run(&format!(
        "{WAIT}{}",
        r##"until(() => window.kokoroHistory >= 5, () => done({ entries: window.kokoroHistory,
              items: document.querySelectorAll("#history li").length }), 20000);"##
    ));
    assert!(history["entries"].as_u64().unwrap_or(0) >= 5, "{history}");

    // axe-core at WCAG A and AA, and screenshots: desktop and phone, light and dark.
    let axe = axe_source();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (width, height, name) in [(1280, 1000, "desktop"), (390, 844, "phone")] {
        browser.size(width, height);
        for theme in ["light", "dark"] {
            let checked = browser.run(&format!(
                "{WAIT}{axe}\n{}",
                format_args!(
                    r##"
                    $("theme").value = "{theme}"; $("theme").dispatchEvent(new Event("change"));
                    document.getElementById("tab-text").click();
                    until(() => window.kokoroVoices().length === 54, () => {{
                      axe.run(document, {{ runOnly: {{ type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }} }}).then((r) =>
                        done({{ violations: r.violations.map((v) => ({{ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }})),
                                passes: r.passes.length }}));
                    }});
                    "##
                )
            ));
            assert_eq!(
                checked["violations"],
                json!([]),
                "axe-core, {name} {theme}: {checked}"
            );
            assert!(checked["passes"].as_u64().unwrap() > 10, "{checked}");
            browser.screenshot(&shots.join(format!("studio-{name}-{theme}.png")));
        }
    }
}
