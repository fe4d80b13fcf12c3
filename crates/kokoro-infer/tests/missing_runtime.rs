//! A missing ONNX Runtime library is a clear error naming the path, not a panic.
//! (Its own test binary: a process loads ONNX Runtime at most once.)

use std::path::Path;

use kokoro_infer::{init_runtime, Error, KokoroSession, SessionOptions};

#[test]
fn a_missing_runtime_library_is_named() {
    let e = init_runtime(Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
    assert!(matches!(e, Error::RuntimeMissing { .. }));
    assert!(
        e.to_string().contains("/nonexistent/libonnxruntime.so"),
        "{e}"
    );
    // Without a runtime, opening a session is an error too, not a panic.
    let e = KokoroSession::open(Path::new("model.onnx"), SessionOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not initialised"), "{e}");
}
