//! kokoro-text's integration tests, one binary: the front end on real texts
//! (snapshots, properties), every language, and documents. `documents` needs
//! the `documents` feature and `languages` needs `espeak`, `ja` and `zh`;
//! `cargo xtask test` enables them all, and a build without them says what it
//! left out.

mod common;
mod documents;
mod frontend;
mod languages;
mod ssml;

#[test]
fn feature_gated_tests_say_when_they_are_left_out() {
    let gated = [
        ("documents", cfg!(feature = "documents"), "documents"),
        (
            "languages",
            cfg!(all(feature = "espeak", feature = "ja", feature = "zh")),
            "espeak,ja,zh",
        ),
    ];
    for (module, on, features) in gated {
        if !on {
            eprintln!("skipped: the `{module}` tests need `--features {features}` (cargo xtask test enables them)");
        }
    }
}
