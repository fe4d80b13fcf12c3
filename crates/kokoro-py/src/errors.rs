//! The library's errors as Python exceptions: the classes are defined in
//! `kokoro_rs.errors` (so that they can subclass the builtins kokoro-onnx's
//! users catch: `ValueError` for a bad speed or voice, `RuntimeError` for an
//! unknown language, `KeyError` for a missing voice style); the message is
//! the library's own.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The class in `kokoro_rs.errors` for `e`.
fn class_of(e: &kokoro::Error) -> &'static str {
    use kokoro::infer::Error as Infer;
    use kokoro::Error as E;
    match e {
        E::BadSpeed(_) | E::Infer(Infer::BadSpeed(_)) => "BadSpeed",
        E::Infer(Infer::UnknownVoice { .. } | Infer::BadBlend { .. }) => "UnknownVoice",
        E::Infer(Infer::BadVoice { .. }) => "BadVoice",
        E::UnknownLang(_) | E::Lang(_) => "UnknownLanguage",
        E::NothingToSay => "NothingToSay",
        E::Cancelled => "Cancelled",
        E::NotFound { .. } | E::Infer(Infer::NotFound { .. } | Infer::RuntimeMissing { .. }) => {
            "MissingFile"
        }
        E::Fetch { .. } | E::Checksum { .. } | E::NoCacheDir => "AssetError",
        E::Settings(_) | E::Form(_) | E::NoCuda(_) => "SettingsError",
        E::Input(_) | E::Book(_) | E::Untimed | E::Lexicon(_) => "InputError",
        _ => "KokoroError",
    }
}

/// `e` as the Python exception of its class, with its message.
pub fn to_py(e: kokoro::Error) -> PyErr {
    let message = e.to_string();
    raise(class_of(&e), message)
}

/// An exception of `kokoro_rs.errors.<class>` with `message`.
pub fn raise(class: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let made = py
            .import("kokoro_rs.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.call1((message.clone(),)));
        match made {
            Ok(value) => PyErr::from_value(value),
            // The package's Python half is missing (the native module
            // imported on its own): the message still reaches the user.
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}
