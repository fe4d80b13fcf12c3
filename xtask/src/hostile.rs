//! `cargo xtask bench-hostile`: inputs shaped as an attacker would shape them,
//! each at n, 2n and 4n units, through the real `kokoro` binary (documents
//! read with `--list-chapters`, text through the front end with
//! `--phonemes-only`, no model): the time each takes, and how it grows when the
//! input doubles. Linear work doubles (ratio 2); quadratic work quadruples.
//! `--only WORD` runs the shapes whose name holds it.

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
        name: "PDF: n pages of a paragraph",
        ext: "pdf",
        action: "--list-chapters",
        make: |n| {
            // Pages that differ in words, not only in digits (a line on every
            // page alike is a running header).
            let pages: Vec<String> = (0..n)
                .map(|k| format!("Hello there, this is page {} of a document.", letters(k)))
                .collect();
            pdf(&pages.iter().map(String::as_str).collect::<Vec<_>>(), 0)
        },
        base: 5_000,
    },
    Shape {
        name: "PDF: pages in a tree n deep",
        ext: "pdf",
        action: "--list-chapters",
        make: |n| pdf(&["Hello there."], n),
        base: 10_000,
    },
    Shape {
        name: "PDF: one glued word of n letters",
        ext: "pdf",
        action: "--list-chapters",
        make: |n| pdf(&["thequickbrownfox".repeat(n / 16).as_str()], 0),
        base: 16_000,
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
        name: "text: one token of n random letters",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| format!("A blob: {} ends here.", random_run(n, LETTERS)),
        base: 750_000,
    },
    Shape {
        name: "Markdown: a base64 image of n characters",
        ext: "md",
        action: "--phonemes-only",
        make: |n| {
            format!(
                "An image: ![pixel](data:image/png;base64,{}) and text.",
                random_run(n, BASE64)
            )
        },
        base: 750_000,
    },
    Shape {
        name: "Markdown: n characters of base64 as text",
        ext: "md",
        action: "--phonemes-only",
        make: |n| format!("Pasted: {} and text.", random_run(n, BASE64)),
        base: 750_000,
    },
    Shape {
        name: "text: words of 39 random letters, n of them",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| {
            (0..n)
                .map(|k| random_run(39, &LETTERS[k % 13..]))
                .collect::<Vec<_>>()
                .join(" ")
        },
        base: 100,
    },
    Shape {
        name: "text: `=` rule, n long",
        ext: "txt",
        action: "--phonemes-only",
        make: |n| "=".repeat(n) + " end.",
        base: 20_000,
    },
];

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const BASE64: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";

/// `n` characters drawn from `alphabet` (the same for the same `n`).
fn random_run(n: usize, alphabet: &[u8]) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ n as u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            alphabet[(state % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

/// `k` in letters: a, b, ..., z, ba, bb, ...
fn letters(mut k: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (k % 26) as u8);
        k /= 26;
        if k == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// A PDF of one page per text (one line each, Helvetica), with the pages
/// under a chain of `depth` intermediate page-tree nodes.
fn pdf(pages: &[&str], depth: usize) -> String {
    let mut objects: Vec<String> = Vec::new();
    // 1: catalog; 2: the root of the page tree; 3: the font.
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objects.push(String::new());
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    // The chain of nodes below the root: node k is object 4 + k.
    let mut parent = 2;
    for k in 0..depth {
        let id = 4 + k;
        objects.push(format!(
            "<< /Type /Pages /Parent {parent} 0 R /Kids [{} 0 R] /Count {} >>",
            id + 1,
            pages.len()
        ));
        parent = id;
    }
    // The last node holds the pages: a node when depth > 0, else the root.
    let holder_id = 4 + depth;
    let first_page = holder_id + 1;
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", first_page + 2 * i))
        .collect();
    let holder = format!(
        "<< /Type /Pages{} /Kids [{}] /Count {} >>",
        if depth > 0 {
            format!(" /Parent {parent} 0 R")
        } else {
            String::new()
        },
        kids.join(" "),
        pages.len()
    );
    if depth > 0 {
        objects.push(holder);
    } else {
        objects.push("null".into());
        objects[1] = holder;
    }
    let holder_ref = if depth > 0 { holder_id } else { 2 };
    if depth > 0 {
        objects[1] = format!("<< /Type /Pages /Kids [4 0 R] /Count {} >>", pages.len());
    }
    for (i, text) in pages.iter().enumerate() {
        let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
        objects.push(format!(
            "<< /Type /Page /Parent {holder_ref} 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            first_page + 2 * i + 1
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (k, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{body}\nendobj\n", k + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out
}

pub fn run(args: &[String]) -> Result<()> {
    let exe = crate::bench::kokoro_exe(args)?;
    let dir = tempfile::tempdir()?;
    let mut table = format!(
        "### Hostile inputs, doubled ({})\n\n\
         | input | n | bytes | s at n | s at 2n | s at 4n | 2n / n | 4n / 2n | outcome |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
        crate::bench::machine()
    );
    // `--only WORD`: the shapes whose name holds it ("PDF", "text").
    let only = crate::bench::flag(args, "--only");
    for shape in SHAPES
        .iter()
        .filter(|s| only.is_none_or(|w| s.name.contains(w)))
    {
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
