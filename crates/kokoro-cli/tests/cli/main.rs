//! The `kokoro` binary end to end on the real model: files, streams, formats,
//! books, errors and exit codes, and `kokoro serve`. Assets come from the cache
//! (`KOKORO_CACHE_DIR` or the per-user default), fetched there by `cargo xtask
//! test`. Built with the `model-tests` feature, which that command turns on.

#[cfg(not(feature = "model-tests"))]
#[test]
fn real_model_tests_are_off_without_the_model_tests_feature() {
    eprintln!(
        "skipped: the binary's end-to-end tests need `--features model-tests` and the assets; \
         `cargo xtask test` runs them"
    );
}

mod batch;
#[cfg(feature = "model-tests")]
mod books;
#[cfg(all(feature = "model-tests", feature = "server"))]
mod container;
mod deploy;
#[cfg(feature = "model-tests")]
mod formats;
mod guide;
#[cfg(feature = "model-tests")]
mod run;
#[cfg(all(feature = "model-tests", feature = "server"))]
mod serve;
#[cfg(feature = "model-tests")]
mod signals;

/// The offline ear (Whisper), or `None` with a note where it cannot be had
/// (a failure under `KOKORO_TOOLS_TEST`).
#[cfg(feature = "model-tests")]
fn ear() -> Option<kokoro_dev::ear::Ear> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    match kokoro_dev::ear::Ear::new(dir) {
        Ok(ear) => Some(ear),
        Err(e) => {
            assert!(
                std::env::var_os("KOKORO_TOOLS_TEST").is_none(),
                "KOKORO_TOOLS_TEST is set but the ear is missing: {e}"
            );
            eprintln!("skipped: no ear ({e})");
            None
        }
    }
}
