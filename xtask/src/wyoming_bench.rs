//! `cargo xtask bench-wyoming`: `kokoro wyoming` measured by `wyoming-bench`,
//! the Wyoming community's benchmark (time to first audio and real-time
//! factor, whole and streaming synthesis).
//!
//! Builds the `kokoro` binary, starts `kokoro wyoming` on a free loopback
//! port, installs `wyoming-bench` (pinned) into a virtual environment under
//! the target directory on first use, and runs it over a short assistant
//! reply and a paragraph of long.txt. Flags: `--rounds 3`, `--exe PATH`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

const BENCH: &str = "wyoming-bench==2026.10.0";

const REPLY: &str =
    "The kitchen lights are on. It is twenty-one degrees inside, and rain is expected after six.";

fn venv_python() -> Result<PathBuf> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    kokoro_dev::python_with(&target, BENCH).map_err(anyhow::Error::msg)
}

pub fn run(args: &[String]) -> Result<()> {
    let flag = |name: &str| crate::bench::flag(args, name);
    let rounds = flag("--rounds").unwrap_or("3").to_string();
    crate::fetch::run()?;
    let exe = crate::bench::kokoro_exe(args)?;
    let python = venv_python()?;
    let paragraph = crate::serve_bench::paragraphs()?
        .into_iter()
        .next()
        .context("a paragraph")?;
    let texts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wyoming-bench-texts.txt");
    std::fs::write(&texts, format!("{REPLY}\n{paragraph}\n"))?;

    let mut server = Command::new(&exe)
        .args(["wyoming", "--uri", "tcp://127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start kokoro wyoming")?;
    let mut lines = BufReader::new(server.stderr.take().context("stderr")?).lines();
    let (addr, layout) = loop {
        let Some(line) = lines.next() else {
            bail!("the server stopped before listening");
        };
        if let Some(rest) = line?.strip_prefix("kokoro: Wyoming on tcp://") {
            let (addr, layout) = rest.split_once(' ').unwrap_or((rest, ""));
            break (addr.to_string(), layout.to_string());
        }
    };
    std::thread::spawn(move || for _ in lines {});
    eprintln!("xtask: wyoming-bench against {addr} {layout}");
    let bench = python.with_file_name("wyoming-bench");
    let output = Command::new(&bench)
        .args(["tts", &addr, "--rounds", &rounds])
        .arg("--texts-file")
        .arg(&texts)
        .output();
    let _ = server.kill();
    let _ = server.wait();
    let output = output.context("cannot run wyoming-bench")?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    anyhow::ensure!(
        output.status.success(),
        "wyoming-bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
