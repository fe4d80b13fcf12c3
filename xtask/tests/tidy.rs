//! Repository rules as ordinary tests, after rust-analyzer's `xtask/src/tidy.rs`:
//! dependency arrows point down the layers, every source file opens with a module
//! doc, only kokoro-infer names the ONNX Runtime binding, library code does not
//! unwrap, and no line ends in whitespace. Each failure lists every offender.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: xtask's parent directory.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
}

/// This file, relative to the root: its own needles would otherwise find themselves.
const THIS_FILE: &str = "xtask/tests/tidy.rs";

/// Directories no rule walks into.
const NEVER_WALKED: &[&str] = &["target", ".git"];

/// Every file under `dir` (relative to the root) whose file name passes `keep`,
/// not entering directories named in `NEVER_WALKED` or `skip_dirs`; sorted, relative
/// to the root. A `dir` that does not exist holds no files.
fn files(dir: &str, skip_dirs: &[&str], keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let start = if dir == "." {
        root().to_path_buf()
    } else {
        root().join(dir)
    };
    let mut out = Vec::new();
    if !start.is_dir() {
        return out;
    }
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry
                .file_type()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if kind.is_dir() {
                if !NEVER_WALKED.contains(&name.as_str()) && !skip_dirs.contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if kind.is_file() && keep(&name) {
                let rel = path.strip_prefix(root()).expect("walked from the root");
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// A root-relative path as the failure messages show it, with `/` separators.
fn show(rel: &Path) -> String {
    rel.to_string_lossy().replace('\\', "/")
}

fn read(rel: &Path) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{}: {e}", show(rel)))
}

fn is_rs(name: &str) -> bool {
    name.ends_with(".rs")
}

/// Fails with every offender, one a line, if there are any.
#[track_caller]
fn assert_no_offenders(rule: &str, offenders: &[String]) {
    if !offenders.is_empty() {
        panic!(
            "\n{rule}: {} offender(s)\n  {}\n",
            offenders.len(),
            offenders.join("\n  ")
        );
    }
}

// ---------------------------------------------------------------------------
// 1. Dependency layering

/// Where a workspace package sits.
struct Layer {
    name: &'static str,
    /// Libraries depend only on lower ranks; `None` for tools, which may depend on anything.
    rank: Option<u32>,
    /// The workspace packages it may depend on (normal dependencies).
    may_use: &'static [&'static str],
}

/// Every workspace package, placed. A new crate must be added here.
const LAYERS: &[Layer] = &[
    Layer {
        name: "kokoro-text",
        rank: Some(0),
        may_use: &[],
    },
    Layer {
        name: "kokoro-infer",
        rank: Some(0),
        may_use: &[],
    },
    Layer {
        name: "kokoro-audio",
        rank: Some(0),
        may_use: &[],
    },
    Layer {
        name: "kokoro-sched",
        rank: Some(1),
        may_use: &["kokoro-text", "kokoro-infer"],
    },
    Layer {
        name: "kokoro",
        rank: Some(2),
        may_use: &[
            "kokoro-text",
            "kokoro-infer",
            "kokoro-audio",
            "kokoro-sched",
        ],
    },
    Layer {
        name: "kokoro-server",
        rank: Some(3),
        may_use: &["kokoro", "kokoro-audio", "kokoro-text"],
    },
    Layer {
        // The Python module: a door, as the server is.
        name: "kokoro-py",
        rank: Some(3),
        may_use: &["kokoro"],
    },
    Layer {
        name: "kokoro-cli",
        rank: Some(4),
        may_use: &["kokoro", "kokoro-server", "kokoro-audio", "kokoro-text"],
    },
    Layer {
        name: "xtask",
        rank: None,
        may_use: &[],
    },
    Layer {
        // Dev helpers for tests and xtask (a tool: libraries only dev-depend on it).
        name: "kokoro-dev",
        rank: None,
        may_use: &[],
    },
    Layer {
        name: "kokoro-benches",
        rank: None,
        may_use: &[],
    },
];

fn layer(name: &str) -> Option<&'static Layer> {
    LAYERS.iter().find(|l| l.name == name)
}

/// Each workspace package's manifest (relative to the root where it can be) and
/// its normal (not dev, not build)
/// dependencies on other workspace packages, from `cargo metadata`.
fn workspace_graph() -> BTreeMap<String, (PathBuf, BTreeSet<String>)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .filter_map(|id| id.as_str())
        .collect();
    let packages: Vec<&serde_json::Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .collect();
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("package name").to_string();
            let manifest = Path::new(p["manifest_path"].as_str().expect("manifest_path"));
            let manifest = manifest
                .strip_prefix(root())
                .unwrap_or(manifest)
                .to_path_buf();
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                // `kind` is null for normal dependencies, "dev" or "build" otherwise;
                // `name` is the package's own name even when renamed.
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(d))
                .map(str::to_string)
                .collect();
            (name, (manifest, deps))
        })
        .collect()
}

/// The 1-based line of a Cargo.toml that first names `key` (`key = ...`,
/// `key.workspace = ...`, `[dependencies.key]`, `package = "key"`), or 1.
fn key_line(manifest: &str, key: &str) -> usize {
    manifest
        .lines()
        .position(|line| {
            let compact: String = line.split_whitespace().collect();
            compact.starts_with(&format!("{key}="))
                || compact.starts_with(&format!("{key}."))
                || compact.starts_with(&format!("\"{key}\""))
                || compact.ends_with(&format!(".{key}]"))
                || compact.contains(&format!("package=\"{key}\""))
        })
        .map_or(1, |i| i + 1)
}

#[test]
fn dependency_arrows_point_down() {
    let mut offenders = Vec::new();
    for (name, (manifest, deps)) in workspace_graph() {
        let manifest_text = read(&manifest);
        let manifest = show(&manifest);
        let Some(from) = layer(&name) else {
            let line = key_line(&manifest_text, "name");
            offenders.push(format!(
                "{manifest}:{line}: package `{name}` is not in the layering table: \
                 place it in LAYERS in {THIS_FILE}"
            ));
            continue;
        };
        let Some(from_rank) = from.rank else {
            continue; // a tool
        };
        for dep in deps {
            let line = key_line(&manifest_text, &dep);
            let edge = format!("{manifest}:{line}: `{name}` -> `{dep}`");
            match layer(&dep).map(|l| l.rank) {
                None => offenders.push(format!("{edge}: `{dep}` is not in the layering table")),
                Some(None) => offenders.push(format!("{edge}: a library depends on a tool")),
                Some(Some(to_rank)) if to_rank >= from_rank => offenders.push(format!(
                    "{edge}: points up or sideways (rank {from_rank} -> rank {to_rank}); \
                     a library depends only on lower ranks"
                )),
                Some(Some(_)) if !from.may_use.contains(&dep.as_str()) => offenders.push(format!(
                    "{edge}: not an allowed edge (`{name}` may use: {})",
                    if from.may_use.is_empty() {
                        "no workspace crate".to_string()
                    } else {
                        from.may_use.join(", ")
                    }
                )),
                Some(Some(_)) => {}
            }
        }
    }
    assert_no_offenders("workspace dependencies outside the layering", &offenders);
}

// ---------------------------------------------------------------------------
// 2. Module docs

#[test]
fn every_source_file_opens_with_a_doc_comment() {
    let mut offenders = Vec::new();
    for dir in ["crates", "xtask", "benches"] {
        for rel in files(dir, &[], is_rs) {
            let text = read(&rel);
            if !text.lines().next().is_some_and(|l| l.starts_with("//!")) {
                offenders.push(format!("{}:1: does not open with a `//!` line", show(&rel)));
            }
        }
    }
    assert_no_offenders("source files without a module doc", &offenders);
}

// ---------------------------------------------------------------------------
// 3. The ONNX Runtime binding stays inside kokoro-infer

const ORT_HOME: &str = "crates/kokoro-infer/";

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a line of Rust names the `ort` crate: `ort::...`, `use ort`,
/// `extern crate ort`.
fn rust_names_ort(line: &str) -> bool {
    line.match_indices("ort").any(|(i, _)| {
        let before = &line[..i];
        let after = &line[i + 3..];
        if before.ends_with(is_ident_char) || after.starts_with(is_ident_char) {
            return false; // part of a longer word: `sort`, `ports`
        }
        if after.trim_start().starts_with("::") {
            return true;
        }
        let before = before.trim_end();
        let before = before.strip_suffix("::").unwrap_or(before).trim_end();
        ["use", "crate"].iter().any(|kw| {
            before
                .strip_suffix(kw)
                .is_some_and(|rest| !rest.ends_with(is_ident_char))
        })
    })
}

/// Whether a line of a Cargo.toml names the `ort` package: a dependency key
/// (`ort = ...`, `ort.workspace = true`), a `[dependencies.ort]` table, a renamed
/// `package = "ort"`, or a feature of it (`"dep:ort"`, `"ort/..."`).
fn toml_names_ort(line: &str) -> bool {
    let line = line.trim();
    if line.starts_with('#') {
        return false;
    }
    let compact: String = line.split_whitespace().collect();
    if compact.starts_with('[') {
        // `[dependencies.ort]`, `[target.'cfg(unix)'.dependencies.ort]`
        return compact.trim_end_matches(']').ends_with(".ort");
    }
    let key = compact.split('=').next().unwrap_or("").trim_matches('"');
    key == "ort"
        || key.starts_with("ort.")
        || compact.contains("package=\"ort\"")
        || compact.contains("\"dep:ort\"")
        || compact.contains("\"ort/")
        || compact.contains("\"ort?/")
}

#[test]
fn only_kokoro_infer_names_ort() {
    let mut offenders = Vec::new();
    for rel in files(".", &[], is_rs) {
        let shown = show(&rel);
        if shown.starts_with(ORT_HOME) || shown == THIS_FILE {
            continue;
        }
        for (i, line) in read(&rel).lines().enumerate() {
            if rust_names_ort(line) {
                offenders.push(format!("{shown}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    for rel in files(".", &[], |n| n == "Cargo.toml") {
        let shown = show(&rel);
        if shown.starts_with(ORT_HOME) {
            continue;
        }
        let mut section = String::new();
        for (i, line) in read(&rel).lines().enumerate() {
            let compact: String = line.split_whitespace().collect();
            let is_header = compact.starts_with('[');
            let hit = toml_names_ort(line);
            if is_header {
                section = compact;
            }
            let workspace_entry = shown == "Cargo.toml"
                && (section == "[workspace.dependencies]"
                    || section == "[workspace.dependencies.ort]");
            if hit && !workspace_entry {
                offenders.push(format!("{shown}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert_no_offenders(
        "`ort` named outside crates/kokoro-infer \
         (only kokoro-infer may use ONNX Runtime's binding)",
        &offenders,
    );
}

// ---------------------------------------------------------------------------
// 4. No unwrap in library code

/// The library crates whose `src/` must not unwrap; some may not exist yet.
const LIBRARY_CRATES: &[&str] = &[
    "kokoro-text",
    "kokoro-infer",
    "kokoro-audio",
    "kokoro-sched",
    "kokoro",
    "kokoro-server",
];

/// Whether `line` carries `// tidy: infallible (<reason>)` with a reason.
fn opts_out(line: &str) -> bool {
    const MARK: &str = "// tidy: infallible (";
    line.find(MARK).is_some_and(|i| {
        line[i + MARK.len()..]
            .trim_end()
            .strip_suffix(')')
            .is_some_and(|reason| !reason.trim().is_empty())
    })
}

#[test]
fn no_unwrap_on_input_paths_in_library_crates() {
    let dirs: Vec<String> = LIBRARY_CRATES
        .iter()
        .map(|c| format!("crates/{c}/src"))
        .filter(|d| root().join(d).is_dir())
        .collect();
    assert!(
        !dirs.is_empty(),
        "none of the library crates' src/ exists ({LIBRARY_CRATES:?}): \
         the rule would pass vacuously"
    );
    let mut offenders = Vec::new();
    for dir in &dirs {
        for rel in files(dir, &[], is_rs) {
            let text = read(&rel);
            // A module's tests in a file of their own (`#[cfg(test)] mod tests;`).
            let parent_mod = rel.with_file_name("mod.rs");
            if rel.file_name().is_some_and(|n| n == "tests.rs")
                && std::fs::read_to_string(root().join(&parent_mod))
                    .is_ok_and(|m| m.contains("#[cfg(test)]\nmod tests;"))
            {
                continue;
            }
            let mut previous = "";
            for (i, line) in text.lines().enumerate() {
                if line.trim_end() == "#[cfg(test)]" {
                    break; // the rest of the file is test code
                }
                let code = !line.trim_start().starts_with("//");
                let previous_opts_out =
                    previous.trim_start().starts_with("//") && opts_out(previous);
                if code
                    && (line.contains(".unwrap()") || line.contains(".expect("))
                    && !opts_out(line)
                    && !previous_opts_out
                {
                    offenders.push(format!("{}:{}: {}", show(&rel), i + 1, line.trim()));
                }
                previous = line;
            }
        }
    }
    assert_no_offenders(
        "`.unwrap()` / `.expect(` in library code (return an error, or mark a value that \
         cannot fail with `// tidy: infallible (<reason>)` on the line or the line above)",
        &offenders,
    );
}

// ---------------------------------------------------------------------------
// 5. Trailing whitespace

#[test]
fn no_trailing_whitespace() {
    let mut offenders = Vec::new();
    let keep = |n: &str| n.ends_with(".rs") || n.ends_with(".md") || n.ends_with(".toml");
    for rel in files(".", &["test_data"], keep) {
        for (i, line) in read(&rel).lines().enumerate() {
            if line.ends_with(char::is_whitespace) {
                offenders.push(format!("{}:{}", show(&rel), i + 1));
            }
        }
    }
    assert_no_offenders("trailing whitespace", &offenders);
}
