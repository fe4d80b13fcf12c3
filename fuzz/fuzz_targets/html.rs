//! Fuzz target `html`: [`kokoro_dev::fuzz::html`] on libFuzzer's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kokoro_dev::fuzz::html(data));
