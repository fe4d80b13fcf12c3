//! Fuzz target `ssml`: [`kokoro_dev::fuzz::ssml`] on libFuzzer's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kokoro_dev::fuzz::ssml(data));
