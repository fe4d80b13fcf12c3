//! The fuzz targets without a fuzzer: every input kept in
//! `fuzz/regressions/TARGET/` (what `cargo xtask fuzz` found, once fixed) and
//! the seeds in `fuzz/seeds/TARGET/` replayed, then proptest's arbitrary
//! bytes, markup soup and damaged seeds. No panic is the whole assertion; the
//! time and memory bounds are the readers' own (`cargo xtask bench-hostile`).

use std::path::{Path, PathBuf};

use kokoro_dev::fuzz::{self, TARGETS};
use proptest::prelude::*;

fn fuzz_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(sub)
}

/// The files in `fuzz/SUB/TARGET/`, sorted.
fn kept(sub: &str, target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fuzz_dir(sub).join(target))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_is_read_without_a_panic() {
    let mut replayed = 0;
    for (name, target) in TARGETS {
        let seeds = kept("seeds", name);
        assert!(!seeds.is_empty(), "fuzz/seeds/{name} is empty");
        for path in seeds.iter().chain(&kept("regressions", name)) {
            let data = std::fs::read(path).unwrap();
            eprintln!("{name}: {}", path.display());
            target(&data);
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len());
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let manifest = std::fs::read_to_string(fuzz_dir("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        assert!(
            fuzz_dir("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml names no {name}"
        );
    }
}

/// A seed with `edits` bytes overwritten and a cut at `cut` (fractions).
fn damaged(seed: &[u8], edits: &[(f64, u8)], cut: f64) -> Vec<u8> {
    let mut data = seed.to_vec();
    for &(at, byte) in edits {
        if !data.is_empty() {
            let i = ((data.len() - 1) as f64 * at) as usize;
            data[i] = byte;
        }
    }
    data.truncate(((data.len() as f64) * cut) as usize);
    data
}

/// Text made of markup's own characters, which reach the readers' corners.
const SOUP: &str = "[<>/a-zA-Z0-9 =\"'!&;#\\[\\]()*_`~|\\\\:.,?\n\t-]{0,1500}";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        // The front end is slower per byte: it has cases of its own below.
        for (_, target) in TARGETS.iter().filter(|(name, _)| *name != "text") {
            target(&data);
        }
    }

    #[test]
    fn markup_soup_never_panics(text in SOUP) {
        for name in ["html", "markdown", "ssml", "lexicon", "voice"] {
            fuzz::target(name).unwrap()(text.as_bytes());
        }
        let wrapped = format!("<speak>{text}</speak>");
        fuzz::ssml(wrapped.as_bytes());
    }

    #[test]
    fn damaged_books_never_panic(
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..24),
        cut in 0.5f64..=1.0,
    ) {
        for name in ["epub", "pdf"] {
            for seed in kept("seeds", name) {
                let data = damaged(&std::fs::read(seed).unwrap(), &edits, cut);
                fuzz::target(name).unwrap()(&data);
            }
        }
    }
}

proptest! {
    // The English front end is slow per word: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn text_soup_never_panics(text in SOUP) {
        fuzz::text(text.as_bytes());
    }

    /// Giant tokens (issue 29): long runs with no space, of letters,
    /// base64 or hex, inside prose, pasted as `data:` URIs, or in markup.
    #[test]
    fn giant_tokens_never_panic(
        run in "[a-zA-Z0-9+/=]{41,4000}",
        hex in "[0-9a-f]{41,200}",
        shape in 0usize..4,
    ) {
        let text = match shape {
            0 => format!("Before {run} after. And {hex}."),
            1 => format!("Pasted data:image/png;base64,{run} here."),
            2 => format!("![x](data:image/png;base64,{run}) and `{hex}` and {run}"),
            _ => format!("<p><img src=\"data:image/png;base64,{run}\"> {hex} {run}</p>"),
        };
        fuzz::text(text.as_bytes());
        fuzz::markdown(text.as_bytes());
        fuzz::html(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_through_the_front_end_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        fuzz::text(&data);
    }
}
