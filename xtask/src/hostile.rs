//! `cargo xtask bench-hostile`: inputs shaped as an attacker would shape them,
//! each at n, 2n and 4n units, through the real `kokoro` binary (documents
//! read with `--list-chapters`, text through the front end with
//! `--phonemes-only`, no model): the time each takes, and how it grows when the
//! input doubles. Linear work doubles (ratio 2); quadratic work quadruples.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{ensure, Result};

/// A hostile input: its name, file extension, what `kokoro` does with it, and
/// the text for n units.
struct Shape {
    name: &'static str,
    ext: &'static str,
    action: &'static str,
    make: fn(usize) -> String,
    /// Units at the smallest size (the front end's shapes are slower per byte).
    base: usize,
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "HTML: `<div>` 400 deep, repeated",
        ext: "html",
        action: "--list-chapters",
        make: |n| ("<div>".repeat(400) + "Hello there. " + &"</div>".repeat(400)).repeat(n),
        base: 200,
    },
    Shape {
        name: "HTML: `<p><b class=cK>` reopened (100 alike)",
        ext: "html",
        action: "--list-chapters",
        make: |n| {
            (0..n)
                .map(|k| format!("<p><b class=c{}>word ", k % 100))
                .collect()
        },
        base: 20_000,
    },
    Shape {
        name: "HTML: 250 attributes on each element",
        ext: "html",
        action: "--list-chapters",
        make: |n| {
            let attrs: Vec<String> = (0..250).map(|k| format!("a{k}=x")).collect();
            format!("<span {}>word</span> ", attrs.join(" ")).repeat(n)
        },
        base: 500,
    },
    Shape {
        name: "Markdown: `>` nested quotes",
        ext: "md",
        action: "--list-chapters",
        make: |n| "> ".repeat(n) + "Hello there.",
        base: 20_000,
    },
    Shape {
        name: "Markdown: `[x]` references, unresolved",
        ext: "md",
        action: "--list-chapters",
        make: |n| "[x] ".repeat(n),
        base: 20_000,
    },
    Shape {
        name: "text: one sentence of n words",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| vec!["word"; n].join(" ") + ".",
        base: 250,
    },
    Shape {
        name: "text: `(` n deep",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| "(".repeat(n) + "x" + &")".repeat(n),
        base: 250,
    },
    Shape {
        name: "text: `[a` unclosed, n times",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| "[a ".repeat(n),
        base: 100,
    },
    Shape {
        name: "text: inline overrides `[w](/wɜɹd/)`",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| "[w](/wɜɹd/) ".repeat(n),
        base: 250,
    },
    Shape {
        name: "text: `=` rule, n long",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| "=".repeat(n) + " end.",
        base: 20_000,
    },
];

pub fn run(args: &[String]) -> Result<()> {
    let exe = crate::bench::kokoro_exe(args)?;
    let dir = tempfile::tempdir()?;
    let mut table = format!(
        "### Hostile inputs, doubled ({})\n\n\
         | input | n | bytes | s at n | s at 2n | s at 4n | 2n / n | 4n / 2n | outcome |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
        crate::bench::machine()
    );
    for shape in SHAPES {
        let mut secs = Vec::new();
        let mut bytes = 0;
        let mut outcome = String::new();
        for k in [1, 2, 4] {
            let text = (shape.make)(shape.base * k);
            if k == 1 {
                bytes = text.len();
            }
            let path = dir.path().join(format!("input.{}", shape.ext));
            std::fs::write(&path, text)?;
            let started = Instant::now();
            let out = Command::new(&exe)
                .arg(&path)
                .arg(shape.action)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()?;
            secs.push(started.elapsed().as_secs_f64());
            let err = String::from_utf8_lossy(&out.stderr);
            ensure!(!err.contains("panicked"), "{}: a panic: {err}", shape.name);
            outcome = if out.status.success() {
                "read".into()
            } else {
                err.lines().last().unwrap_or_default().replace('|', "/")
            };
        }
        let row = format!(
            "| {} | {} | {bytes} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {outcome} |\n",
            shape.name,
            shape.base,
            secs[0],
            secs[1],
            secs[2],
            secs[1] / secs[0],
            secs[2] / secs[1],
        );
        eprint!("{row}");
        table.push_str(&row);
    }
    println!("{table}");
    Ok(())
}
