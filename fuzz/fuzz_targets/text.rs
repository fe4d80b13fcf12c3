//! Fuzz target `text`: [`kokoro_dev::fuzz::text`] on libFuzzer's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kokoro_dev::fuzz::text(data));
