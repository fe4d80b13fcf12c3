//! `kokoro serve` as glue: the command's settings reach the server, which
//! speaks over loopback (the API itself is tested in kokoro-server).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

/// The binary serving on a free port, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kokoro GLOBAL... serve --port 0 EXTRA...`.
fn serve(global: &[&str], extra: &[&str]) -> Served {
    let mut child = super::run::kokoro()
        .args(global)
        .args(["serve", "--port", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server said where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("kokoro: listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining stderr so that the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Served { child, base }
}

#[test]
fn kokoro_serve_speaks_with_the_commands_settings() {
    let server = serve(&["--voice", "bf_emma"], &["--api-key", "sesame"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let health = agent
        .get(&format!("{}/health", server.base))
        .call()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let mut res = agent
        .post(&format!("{}/v1/audio/speech", server.base))
        .header("Authorization", "Bearer sesame")
        .header("Content-Type", "application/json")
        .send(r#"{"input":"Hello from the command.","response_format":"wav"}"#)
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let wav = res.body_mut().read_to_vec().unwrap();
    assert!(
        wav.starts_with(b"RIFF") && wav.len() > 24_000,
        "{} bytes",
        wav.len()
    );
    let denied = agent
        .get(&format!("{}/v1/audio/voices", server.base))
        .call()
        .unwrap();
    assert_eq!(denied.status().as_u16(), 401, "the key from the command");
}

#[test]
fn bad_serve_options_are_errors() {
    let o = super::run::kokoro()
        .args(["serve", "--queue", "0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--queue: 0"));
    let o = super::run::kokoro()
        .args(["serve", "--host", "nowhere"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an IP address"));
    // The command's voice is the server's default, checked before it listens.
    let o = super::run::kokoro()
        .args(["--voice", "af_nobody", "serve", "--port", "0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown voice `af_nobody`"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
