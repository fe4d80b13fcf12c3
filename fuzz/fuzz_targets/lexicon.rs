//! Fuzz target `lexicon`: [`kokoro_dev::fuzz::lexicon`] on libFuzzer's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kokoro_dev::fuzz::lexicon(data));
