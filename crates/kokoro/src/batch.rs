//! Libraries of documents: a manifest of paths and globs, each document
//! into its own output in a tree that mirrors the inputs', split among
//! independent workers by a stable hash of each document's path, so that N
//! workers need no coordinator and never write the same file (what `kokoro
//! batch` does on a Slurm job array or a Kubernetes Indexed Job).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use kokoro_audio::Format;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

fn bad(message: impl std::fmt::Display) -> Error {
    Error::Book(message.to_string())
}

/// The largest manifest read: 16 MiB of paths is millions of documents.
const MAX_MANIFEST: u64 = 16 << 20;

/// One entry of a manifest: a path or glob, and what differs for it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// A file, or a glob (`books/*.epub`, `**/*.md`), relative to the manifest.
    pub path: String,
    /// Its voice or blend.
    pub voice: Option<String>,
    /// Its speed.
    pub speed: Option<f32>,
    /// Its language.
    pub lang: Option<String>,
    /// Its audio format.
    pub format: Option<String>,
    /// One file per chapter (a directory) instead of one file.
    pub split: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listed {
    document: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonManifest {
    List(Vec<Entry>),
    Listed(Listed),
}

/// Reads a manifest: TOML (`[[document]]` tables) or JSON (a list of
/// entries, or `{"document": [...]}`) by its extension, else a list of paths
/// and globs, one a line, `#` starting a comment.
pub fn read_manifest(path: &Path) -> Result<Vec<Entry>> {
    let name = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| bad(format!("cannot read manifest {name}: {e}")))?
        .len();
    if size > MAX_MANIFEST {
        return Err(bad(format!(
            "manifest {name} is {size} bytes, more than the {} MiB a manifest may hold",
            MAX_MANIFEST >> 20
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read manifest {name}: {e}")))?;
    parse_manifest(&text, path.extension().and_then(|e| e.to_str()))
        .map_err(|e| bad(format!("manifest {name}: {e}")))
}

/// A manifest's text, read as its extension says.
pub fn parse_manifest(text: &str, extension: Option<&str>) -> Result<Vec<Entry>> {
    let entries = match extension.map(str::to_ascii_lowercase).as_deref() {
        Some("toml") => toml::from_str::<Listed>(text).map_err(bad)?.document,
        Some("json") => match serde_json::from_str(text).map_err(bad)? {
            JsonManifest::List(l) => l,
            JsonManifest::Listed(l) => l.document,
        },
        _ => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| Entry {
                path: l.to_string(),
                ..Entry::default()
            })
            .collect(),
    };
    for (i, e) in entries.iter().enumerate() {
        if e.path.trim().is_empty() {
            return Err(bad(format!("document {} has an empty path", i + 1)));
        }
    }
    Ok(entries)
}

/// One document of the library: where it is, its path below the root (the
/// same on every worker), and how it is spoken.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it is.
    pub path: PathBuf,
    /// Below the root, with `/` between components: names the output, and
    /// chooses the shard.
    pub rel: String,
    /// The manifest's entry that named it.
    pub entry: Entry,
}

/// The manifest's entries as documents: globs expanded (in sorted order),
/// each path below `root`, each document once (the first entry naming it
/// wins). A glob that matches nothing, or a path outside the root, is an error.
pub fn documents(entries: &[Entry], base: &Path, root: &Path) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    let mut seen = HashMap::new();
    for entry in entries {
        let pattern = base.join(&entry.path);
        let paths: Vec<PathBuf> = if entry.path.contains(['*', '?', '[']) {
            let pattern = pattern.to_string_lossy().into_owned();
            let mut found: Vec<PathBuf> = glob::glob(&pattern)
                .map_err(|e| bad(format!("`{}` is not a valid glob: {e}", entry.path)))?
                .filter_map(|p| p.ok())
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(bad(format!("`{}` matches no file", entry.path)));
            }
            found
        } else {
            vec![pattern]
        };
        for path in paths {
            let rel = relative(&path, root).ok_or_else(|| {
                bad(format!(
                    "{} is outside {}, the tree the output mirrors (give --root)",
                    path.display(),
                    root.display()
                ))
            })?;
            if seen.insert(rel.clone(), ()).is_none() {
                docs.push(Document {
                    path,
                    rel,
                    entry: entry.clone(),
                });
            }
        }
    }
    Ok(docs)
}

/// `path` below `root`, lexically (`.` and `..` resolved), with `/` between
/// components; `None` outside it.
fn relative(path: &Path, root: &Path) -> Option<String> {
    let (path, root) = (lexical(path), lexical(root));
    let rel = path.strip_prefix(&root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn lexical(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Which of `n` shards a document belongs to: the first 8 bytes of the
/// SHA-256 of its path below the root, modulo `n`. Stable across machines,
/// runs and manifest order.
pub fn shard_of(rel: &str, n: usize) -> usize {
    let digest = Sha256::digest(rel.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % n.max(1) as u64) as usize
}

/// This worker's share: index and count, 0 <= index < count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This worker's index.
    pub index: usize,
    /// The number of workers.
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard from `--shard I/N`, else from a job array's environment: Slurm's
/// `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) of
/// `SLURM_ARRAY_TASK_COUNT` (or `--shards`), or Kubernetes'
/// `JOB_COMPLETION_INDEX` of `--shards`. `None`: the whole library.
pub fn shard(
    flag: Option<&str>,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Shard>> {
    let number = |name: &str, v: &str| -> Result<usize> {
        v.trim()
            .parse()
            .map_err(|_| bad(format!("{name}: `{v}` is not a whole number")))
    };
    let (index, count) = if let Some(spec) = flag {
        let (i, n) = spec
            .split_once('/')
            .ok_or_else(|| bad(format!("--shard: `{spec}` is not I/N (like 0/4)")))?;
        if shards.is_some_and(|s| s != number("--shard", n).unwrap_or(0)) {
            return Err(bad(format!("--shard {spec} and --shards disagree")));
        }
        (number("--shard", i)?, number("--shard", n)?)
    } else if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
        let min = match env("SLURM_ARRAY_TASK_MIN") {
            Some(m) => number("SLURM_ARRAY_TASK_MIN", &m)?,
            None => 0,
        };
        let count = match (shards, env("SLURM_ARRAY_TASK_COUNT")) {
            (Some(n), _) => n,
            (None, Some(n)) => number("SLURM_ARRAY_TASK_COUNT", &n)?,
            (None, None) => {
                return Err(bad(
                    "SLURM_ARRAY_TASK_ID is set but not the shard count: give --shards N",
                ))
            }
        };
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let index = id.checked_sub(min).ok_or_else(|| {
            bad(format!(
                "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
            ))
        })?;
        (index, count)
    } else if let Some(i) = env("JOB_COMPLETION_INDEX") {
        let Some(count) = shards else {
            return Err(bad("JOB_COMPLETION_INDEX is set but not the shard count: give --shards N (the Job's completions)"));
        };
        (number("JOB_COMPLETION_INDEX", &i)?, count)
    } else if let Some(n) = shards {
        return Err(bad(format!("--shards {n} without an index: give --shard I/{n}, or run in a Slurm job array or a Kubernetes Indexed Job")));
    } else {
        return Ok(None);
    };
    if count == 0 || index >= count {
        return Err(bad(format!("shard {index}/{count}: the index must be below the count (0 <= I < N); a job array must be contiguous")));
    }
    Ok(Some(Shard { index, count }))
}

/// A document's output: the file, or the directory of chapter files.
pub fn output_of(doc: &Document, out: &Path, format: Format, split: bool) -> PathBuf {
    let below = out.join(&doc.rel);
    if split {
        below.with_extension("")
    } else {
        below.with_extension(format.extension())
    }
}

/// The record beside a one-file output: `.NAME.kokoro-done`, holding the
/// fingerprint of what made it.
pub fn record_of(file: &Path) -> PathBuf {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    file.with_file_name(format!(".{name}.kokoro-done"))
}

/// Whether the one-file output `file` is complete and was made from what
/// `fingerprint` names (its record says so).
pub fn is_done(file: &Path, fingerprint: &str) -> bool {
    file.is_file()
        && std::fs::read_to_string(record_of(file)).is_ok_and(|r| r.trim() == fingerprint)
}

/// Removes what a killed run of the one-file output `file` left: its
/// temporary files and its record's (only this worker writes this file).
pub fn clear_stale(file: &Path) {
    for stale in kokoro_audio::Dest::temporaries_of(file)
        .into_iter()
        .chain(kokoro_audio::Dest::temporaries_of(&record_of(file)))
    {
        let _ = std::fs::remove_file(stale);
    }
}

/// Records `file` as complete and made from `fingerprint`.
pub fn mark_done(file: &Path, fingerprint: &str) -> Result<()> {
    crate::book::write_whole(&record_of(file), fingerprint.as_bytes())
}

/// What a one-file output depends on: the document's bytes, and `parts`
/// (the voice, speed, language, pauses, format, lexicon and model, in words).
pub fn fingerprint(document: &Path, parts: &[&str]) -> Result<String> {
    let bytes = std::fs::read(document).map_err(crate::error::io_err(document))?;
    let content: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut all = vec![content.as_str()];
    all.extend_from_slice(parts);
    Ok(crate::book::fingerprint(&all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    proptest::proptest! {
        /// Any manifest text, as any kind: entries or an error, never a panic.
        #[test]
        fn any_manifest_is_entries_or_an_error(
            text in "(\\PC|[\\[\\]{}\"=,:\n]|path|document|voice|speed){0,80}",
            kind in proptest::sample::select(vec![None, Some("toml"), Some("json"), Some("txt")]),
        ) {
            let _ = parse_manifest(&text, kind);
        }
    }

    #[test]
    fn every_document_is_in_exactly_one_shard_for_one_to_eight_workers() {
        let rels: Vec<String> = (0..500)
            .map(|i| format!("shelf-{}/book {i}.epub", i % 7))
            .collect();
        for n in 1..=8 {
            let mut counts = vec![0usize; n];
            for rel in &rels {
                let s = shard_of(rel, n);
                assert!(s < n);
                counts[s] += 1;
                // The same answer every time: no state, no randomness.
                assert_eq!(shard_of(rel, n), s);
            }
            assert_eq!(counts.iter().sum::<usize>(), rels.len());
            // Roughly even: no shard more than twice its share.
            assert!(
                counts.iter().all(|&c| c <= 2 * rels.len() / n),
                "{counts:?}"
            );
        }
    }

    #[test]
    fn the_shard_comes_from_the_flag_or_a_job_arrays_environment() {
        let none = env(&[]);
        assert_eq!(shard(None, None, &none).unwrap(), None);
        assert_eq!(
            shard(Some("2/5"), None, &none).unwrap(),
            Some(Shard { index: 2, count: 5 })
        );
        for bad in ["5/5", "1/0", "x/2", "3"] {
            assert!(shard(Some(bad), None, &none).is_err(), "{bad}");
        }
        // Slurm: --array=1-3 numbers its tasks from 1.
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            shard(None, None, &slurm).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        // The flag wins over the environment.
        assert_eq!(
            shard(Some("0/2"), None, &slurm).unwrap(),
            Some(Shard { index: 0, count: 2 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "4")]);
        assert_eq!(
            shard(None, Some(6), &k8s).unwrap(),
            Some(Shard { index: 4, count: 6 })
        );
        let e = shard(None, None, &k8s).unwrap_err().to_string();
        assert!(e.contains("--shards"), "{e}");
        assert!(shard(None, Some(3), &none).is_err());
        assert!(shard(None, Some(4), &env(&[("JOB_COMPLETION_INDEX", "4")])).is_err());
    }

    #[test]
    fn manifests_are_lines_toml_or_json() {
        let lines = parse_manifest("# my library\nbooks/*.epub\n\n  notes/a.md  \n", None).unwrap();
        assert_eq!(
            lines.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["books/*.epub", "notes/a.md"]
        );
        let toml = "[[document]]\npath = \"a.md\"\nvoice = \"bf_emma\"\nsplit = true\n\n[[document]]\npath = \"b.txt\"\nformat = \"mp3\"\nspeed = 1.2\n";
        let t = parse_manifest(toml, Some("toml")).unwrap();
        assert_eq!(t[0].voice.as_deref(), Some("bf_emma"));
        assert_eq!(t[0].split, Some(true));
        assert_eq!(t[1].format.as_deref(), Some("mp3"));
        let json = r#"[{"path": "a.md", "voice": "bf_emma", "split": true}, {"path": "b.txt", "format": "mp3", "speed": 1.2}]"#;
        assert_eq!(parse_manifest(json, Some("json")).unwrap(), t);
        let listed = format!("{{\"document\": {json}}}");
        assert_eq!(parse_manifest(&listed, Some("json")).unwrap(), t);
        // Unknown keys are mistakes, not silence.
        let e = parse_manifest("[[document]]\npath = \"a\"\nvoise = \"x\"\n", Some("toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("voise"), "{e}");
        assert!(parse_manifest("[{\"path\": \"\"}]", Some("json")).is_err());
    }

    #[test]
    fn documents_mirror_the_root_once_each_and_globs_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("shelf")).unwrap();
        for f in ["shelf/b.md", "shelf/a.md", "top.txt"] {
            std::fs::write(root.join(f), "Hello.").unwrap();
        }
        let entries = parse_manifest("shelf/*.md\ntop.txt\nshelf/a.md\n", None).unwrap();
        let docs = documents(&entries, root, root).unwrap();
        assert_eq!(
            docs.iter().map(|d| d.rel.as_str()).collect::<Vec<_>>(),
            ["shelf/a.md", "shelf/b.md", "top.txt"]
        );
        let out = Path::new("/out");
        assert_eq!(
            output_of(&docs[0], out, Format::Mp3, false),
            Path::new("/out/shelf/a.mp3")
        );
        assert_eq!(
            output_of(&docs[0], out, Format::Mp3, true),
            Path::new("/out/shelf/a")
        );
        let e = documents(&parse_manifest("*.epub\n", None).unwrap(), root, root)
            .unwrap_err()
            .to_string();
        assert!(e.contains("matches no file"), "{e}");
        let e = documents(&parse_manifest("../x.txt\n", None).unwrap(), root, root)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside"), "{e}");
    }
}
