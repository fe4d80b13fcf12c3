//! Fuzz target `markdown`: [`kokoro_dev::fuzz::markdown`] on libFuzzer's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kokoro_dev::fuzz::markdown(data));
