//! Checkers from outside the project that tests hand their files to:
//! epubcheck (Debian's package) and ffprobe. Where one is missing, a test
//! says so and is skipped, unless `KOKORO_TOOLS_TEST` is set (as CI sets it),
//! which makes the absence a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's epubcheck keeps its jar.
const EPUBCHECK_JAR: &str = "/usr/share/java/epubcheck.jar";

/// Whether `tool` can be used; if not, says why and either fails (under
/// `KOKORO_TOOLS_TEST`) or tells the caller to skip.
pub fn have(tool: &str, found: bool, install: &str) -> bool {
    if found {
        return true;
    }
    assert!(
        std::env::var_os("KOKORO_TOOLS_TEST").is_none(),
        "KOKORO_TOOLS_TEST is set but {tool} is missing ({install})"
    );
    eprintln!("skipped: no {tool} ({install})");
    false
}

/// The epubcheck jar, if it and Java are there.
pub fn epubcheck_jar() -> Option<PathBuf> {
    let jar = std::env::var_os("KOKORO_EPUBCHECK_JAR")
        .map_or_else(|| PathBuf::from(EPUBCHECK_JAR), PathBuf::from);
    let java = Command::new("java").arg("-version").output().is_ok();
    (java && jar.is_file()).then_some(jar)
}

/// Runs epubcheck on `epub`: `Ok` with its report when it finds no fatal
/// error, no error and no warning; `Err` with the report otherwise. `None`
/// when epubcheck is missing (and the test should skip, see [`have`]).
pub fn epubcheck(epub: &Path) -> Option<Result<String, String>> {
    let jar = epubcheck_jar();
    if !have("epubcheck", jar.is_some(), "apt install epubcheck") {
        return None;
    }
    let jar = jar?;
    let out = Command::new("java")
        .args(["-XX:TieredStopAtLevel=1", "-jar"])
        .arg(jar)
        .arg("--failonwarnings")
        .arg(epub)
        .output()
        .ok()?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        if out.status.success() && report.contains("0 fatals / 0 errors / 0 warnings") {
            Ok(report)
        } else {
            Err(report)
        },
    )
}

/// Whether ffprobe and ffmpeg are there (see [`have`]).
pub fn ffmpeg() -> bool {
    let found = ["ffprobe", "ffmpeg"].iter().all(|t| {
        Command::new(t)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    have("ffprobe and ffmpeg", found, "apt install ffmpeg")
}

/// ffprobe's JSON about `file`, with these `-show_*` arguments.
pub fn ffprobe(file: &Path, show: &[&str]) -> Result<serde_json::Value, String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(show)
        .arg(file)
        .output()
        .map_err(|e| format!("ffprobe: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("ffprobe's JSON: {e}"))
}
