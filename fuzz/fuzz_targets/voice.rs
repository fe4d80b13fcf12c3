//! Fuzz target `voice`: [`kokoro_dev::fuzz::voice`] on libFuzzer's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kokoro_dev::fuzz::voice(data));
