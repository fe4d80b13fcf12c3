//! docs/PERFORMANCE.md against the code: its layout table is what
//! `Layout::auto` picks, each `kokoro` flag and `cargo xtask` task in its
//! commands exists, and every measured figure in its prose is one recorded in
//! docs/BENCHMARKS.md. (Its Rust examples run as doctests of the `kokoro` crate.)

use std::path::Path;
use std::process::Command;

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The guide's lines outside code blocks, and those inside `sh` blocks.
fn split(guide: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut prose, mut shell) = (Vec::new(), Vec::new());
    let mut block: Option<&str> = None;
    for line in guide.lines() {
        if let Some(fence) = line.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(fence),
            };
            continue;
        }
        match block {
            None => prose.push(line),
            Some("sh") => shell.push(line),
            Some(_) => {}
        }
    }
    (prose, shell)
}

#[test]
fn the_layout_table_is_what_layout_auto_picks() {
    let guide = doc("PERFORMANCE.md");
    let shown = |l: kokoro::Layout| format!("{} x {}", l.workers, l.intra_threads);
    let mut rows = 0;
    for line in guide.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 {
            continue;
        }
        if let Ok(cores) = cells[1].parse::<usize>() {
            assert_eq!(
                cells[2],
                shown(kokoro::Layout::auto_threaded(usize::MAX, cores, None)),
                "{line}"
            );
            assert_eq!(
                cells[3],
                shown(kokoro::Layout::auto(usize::MAX, cores, None)),
                "{line}"
            );
            assert_eq!(
                cells[4],
                shown(kokoro::Layout::auto_streaming(usize::MAX, cores, None)),
                "{line}"
            );
            rows += 1;
        } else if cells[1].starts_with("a GPU (") {
            let gpu = shown(kokoro::Workers::default().gpu_layout());
            assert!(
                cells[2].starts_with(&gpu),
                "{line}: the GPU layout is {gpu}"
            );
            rows += 1;
        }
    }
    assert_eq!(rows, 5, "the table lost rows");
}

#[test]
fn every_command_names_flags_and_tasks_that_exist() {
    let guide = doc("PERFORMANCE.md");
    let (_, shell) = split(&guide);
    let help = |sub: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kokoro"));
        if let Some(s) = sub {
            c.arg(s);
        }
        String::from_utf8_lossy(&c.arg("--help").output().unwrap().stdout).into_owned()
    };
    let xtask = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/src/main.rs"),
    )
    .unwrap();
    let mut commands = 0;
    for line in shell {
        let command = line.split(" #").next().unwrap_or("").trim();
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["kokoro", rest @ ..] => {
                let sub = rest
                    .first()
                    .filter(|w| matches!(**w, "serve" | "wyoming"))
                    .copied();
                let flags = help(sub);
                for flag in rest.iter().filter(|w| w.starts_with("--")) {
                    assert!(flags.contains(flag), "`{command}`: kokoro has no {flag}");
                }
            }
            ["cargo", "xtask", task, ..] => {
                assert!(
                    xtask.contains(&format!("Some(\"{task}\")")),
                    "`{command}`: no xtask {task}"
                );
            }
            [] => continue,
            _ => panic!("a command the guide's test does not know: `{command}`"),
        }
        commands += 1;
    }
    assert!(commands >= 10, "{commands} commands");
}

#[test]
fn every_figure_in_the_prose_is_recorded_in_the_benchmarks() {
    let guide = doc("PERFORMANCE.md");
    let benchmarks = doc("BENCHMARKS.md");
    let (prose, _) = split(&guide);
    let figure = regex_lite_figures(&prose.join("\n"));
    assert!(figure.len() >= 20, "{figure:?}");
    for f in figure {
        // A figure with its unit, or the bare number in a table of that unit.
        let bare = f.split(' ').next().unwrap_or(&f).replace(',', "");
        let found = benchmarks.contains(&f) || benchmarks.contains(&format!("| {bare} |"));
        assert!(found, "`{f}` is not in docs/BENCHMARKS.md");
    }
}

/// Decimal numbers, and whole numbers with a unit (`795 MiB`, `53 ms`, `68 %`).
pub fn regex_lite_figures(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == ',' || chars[j] == '.') {
            j += 1;
        }
        let number: String = chars[i..j].iter().collect();
        let number = number.trim_end_matches([',', '.']).to_string();
        let rest: String = chars[j..chars.len().min(j + 4)].iter().collect();
        let unit = [" MiB", " ms", " %"].iter().find(|u| rest.starts_with(**u));
        if number.contains('.') {
            out.push(number);
        } else if let Some(u) = unit {
            out.push(format!("{number}{u}"));
        }
        i = j.max(i + 1);
    }
    out
}
