//! Fuzz target `epub`: [`kokoro_dev::fuzz::epub`] on libFuzzer's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kokoro_dev::fuzz::epub(data));
