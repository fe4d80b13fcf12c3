//! Fuzz target `pdf`: [`kokoro_dev::fuzz::pdf`] on libFuzzer's bytes.
//!
//! The PDF reader catches the panics of the extractor it uses (a bad file is an
//! error, not a crash), so libFuzzer's hook, which aborts on any panic, caught
//! or not, is replaced with a quiet one; a panic that escapes the reader still
//! aborts the run (libfuzzer-sys catches it and aborts).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| kokoro_dev::fuzz::pdf(data)
);
