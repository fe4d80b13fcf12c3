//! `kokoro_rs._native`: the engine for Python, under the `kokoro_rs`
//! package's own Python modules (the kokoro-onnx drop-in, the `Tts` class,
//! stubs and docstrings live there).
//!
//! Every request goes through the facade as every other door does: settings
//! through [`kokoro::settings::load`], a voice, speed and language through
//! [`kokoro::Tts::prepare`]. The GIL is released while the model runs; a
//! call waits in slices so that Ctrl-C reaches it (the `wait` module); samples are
//! handed to numpy without a copy.

mod engine;
mod errors;
mod stream;
mod wait;

use pyo3::prelude::*;

/// The phonemes of `text` in `lang` (Kokoro's symbols), with the front end
/// a `Tts` of these settings would use; `given` are settings as
/// `(name, key, value)` (see [`kokoro::settings::Given`]).
#[pyfunction]
#[pyo3(signature = (text, lang, given, config=None))]
fn phonemize(
    py: Python<'_>,
    text: String,
    lang: &str,
    given: Vec<(String, String, String)>,
    config: Option<std::path::PathBuf>,
) -> PyResult<(String, Vec<String>)> {
    let settings = engine::settings(config.as_deref(), &given)?;
    let lang: kokoro::Lang = lang
        .parse()
        .map_err(|e: kokoro::text::UnknownLang| errors::to_py(kokoro::Error::from(e)))?;
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    wait::run(py, &cancel, move || {
        let frontends = settings.frontends(None)?;
        let (phonemes, diagnostics) = frontends.get(lang)?.phonemize(&text);
        Ok((
            phonemes,
            diagnostics.iter().map(ToString::to_string).collect(),
        ))
    })
}

/// Kokoro's phoneme vocabulary: symbol to id.
#[pyfunction]
fn vocabulary() -> Vec<(String, i64)> {
    kokoro::text::vocab::symbols()
        .map(|(c, id)| (c.to_string(), id))
        .collect()
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::Spoken>()?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<stream::Feed>()?;
    m.add_function(wrap_pyfunction!(phonemize, m)?)?;
    m.add_function(wrap_pyfunction!(vocabulary, m)?)?;
    m.add("SAMPLE_RATE", kokoro::SAMPLE_RATE)?;
    m.add("MAX_PHONEME_LENGTH", kokoro::text::MAX_TOKENS)?;
    m.add(
        "SPEED_RANGE",
        (*kokoro::SPEED_RANGE.start(), *kokoro::SPEED_RANGE.end()),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
