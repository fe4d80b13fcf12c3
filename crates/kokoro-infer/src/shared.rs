//! One session, many callers: ONNX Runtime's `Run` called from several threads
//! at once on one session, so that every worker shares one copy of the model's
//! weights, prepacked kernels and arena.
//!
//! # Safety argument
//!
//! ONNX Runtime guarantees that `InferenceSession::Run` may be called
//! concurrently from several threads on one session (microsoft/onnxruntime,
//! commit 674afbe: "InferenceSession::Run() is guaranteed to be thread-safe
//! meaning multiple threads can call this function concurrently"; its own
//! test `test_ort_one_session_multiple_threads.cc` does exactly that). The
//! guarantee is the CPU execution provider's. For another provider (CUDA
//! here) a `SharedSession` is opened with [`SharedSession::open_lent`]: it
//! then holds one ONNX Runtime session per call in flight and lends each to
//! one call at a time, so no session is ever run by two threads at once (on
//! CUDA this is also what lets calls overlap: a session has one compute
//! stream, and calls sharing it run one after the other).
//!
//! `ort` makes `Session::run` take `&mut self` out of caution, so this module
//! calls the C API's `Run` itself, with what ONNX Runtime asks of concurrent
//! callers:
//! - the session is only ever shared (`Arc`), never borrowed mutably, and is
//!   released after the last handle is dropped, so it outlives every call;
//! - each handle has its own `RunOptions`, never shared between threads;
//! - each call owns its input values (created and released on its thread) and
//!   its output values (released on its thread after they are copied);
//! - names are `CString`s owned by the call.
//!
//! Audio is bit-identical to a session per worker at the same intra-op thread
//! count (tested with many threads and random lengths in the real-model tests).

use std::ffi::{c_char, c_void, CString};
use std::path::Path;
use std::ptr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use ort::session::{RunOptions, Session};
use ort::value::Tensor;
use ort::AsPointer;

use crate::error::{Error, Result};
use crate::session::{
    build, build_graph, padded_ids, run_options, Graph, SessionOptions, Synthesis, Synthesize,
};
use crate::voice::STYLE_DIM;

/// One ONNX Runtime session shared by any number of [`SharedHandle`]s.
#[derive(Clone)]
pub struct SharedSession {
    inner: Arc<Inner>,
}

struct Inner {
    /// One session shared by every call, or (lent) one per call in flight.
    sessions: Vec<Session>,
    /// With several sessions: which are free, each lent to one call at a time.
    lent: Option<Lender>,
    /// Input names (ids, style, speed) and the audio output's name.
    inputs: [CString; 3],
    output: CString,
    /// The durations output's name, in a timed model.
    durations: Option<CString>,
    options: SessionOptions,
    model: std::path::PathBuf,
}

impl std::fmt::Debug for SharedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSession")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The free sessions of a lent [`SharedSession`], and a wait for one.
struct Lender {
    free: Mutex<Vec<usize>>,
    returned: Condvar,
}

impl Lender {
    /// A free session's index, waiting for one if none is.
    fn take(&self) -> Lent<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(i) = free.pop() {
                return Lent {
                    lender: self,
                    index: i,
                };
            }
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A session lent to one call, given back when dropped.
struct Lent<'a> {
    lender: &'a Lender,
    index: usize,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.lender
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.index);
        self.lender.returned.notify_one();
    }
}

impl SharedSession {
    /// Opens `model` with `options` (the intra-op threads are each call's).
    pub fn open(model: &Path, options: SessionOptions) -> Result<Self> {
        Self::from_built(build(model, options)?, model, options)
    }

    /// Opens `sessions` sessions of `model`, each lent to one call at a time:
    /// for a provider that does not promise concurrent runs on one session
    /// (CUDA), and on a GPU, where each session's own stream lets calls
    /// overlap. Audio is the same as from one session.
    pub fn open_lent(model: &Path, options: SessionOptions, sessions: usize) -> Result<Self> {
        let mut first = Self::open(model, options)?;
        let inner = Arc::get_mut(&mut first.inner).ok_or_else(|| Error::ModelLoad {
            path: model.to_path_buf(),
            reason: "a session just opened is shared".into(),
        })?;
        for _ in 1..sessions.max(1) {
            inner.sessions.push(build(model, options)?.0);
        }
        let n = inner.sessions.len();
        inner.lent = Some(Lender {
            free: Mutex::new((0..n).rev().collect()),
            returned: Condvar::new(),
        });
        Ok(first)
    }

    /// How many ONNX Runtime sessions this holds (one unless lent).
    pub fn sessions(&self) -> usize {
        self.inner.sessions.len()
    }

    fn from_built(
        (session, input_ids_name): (Session, String),
        model: &Path,
        options: SessionOptions,
    ) -> Result<Self> {
        let bad = |reason: &str| Error::ModelLoad {
            path: model.to_path_buf(),
            reason: reason.to_string(),
        };
        let output = session
            .outputs()
            .first()
            .map(|o| o.name().to_string())
            .ok_or_else(|| bad("the model has no output"))?;
        let cstring = |s: &str| CString::new(s).map_err(|_| bad("a name holds a NUL byte"));
        let durations = session
            .outputs()
            .iter()
            .any(|o| o.name() == crate::timed::DURATIONS_TENSOR)
            .then(|| cstring(crate::timed::DURATIONS_TENSOR))
            .transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                inputs: [
                    cstring(&input_ids_name)?,
                    cstring("style")?,
                    cstring("speed")?,
                ],
                output: cstring(&output)?,
                durations,
                sessions: vec![session],
                lent: None,
                options,
                model: model.to_path_buf(),
            }),
        })
    }

    /// Opens `model`, keeping ONNX Runtime's optimized form of it at
    /// `optimized`: loaded from there as it is when present (the graph
    /// optimizations, most of a session's load time, are skipped), and made
    /// there on the first open. A copy that does not load is removed and made
    /// again; one that cannot be made is only a slower start. The caller keys
    /// the path by everything the optimized graph depends on: the model file,
    /// the ONNX Runtime version and the processor.
    pub fn open_cached(model: &Path, options: SessionOptions, optimized: &Path) -> Result<Self> {
        if options.device != crate::session::Device::Cpu {
            // A graph optimized for a GPU provider is that provider's: not kept.
            return Self::open(model, options);
        }
        if optimized.is_file() {
            match build_graph(optimized, options, Graph::Optimized) {
                Ok(built) => return Self::from_built(built, model, options),
                Err(_) => {
                    let _ = std::fs::remove_file(optimized);
                }
            }
        }
        if let Some(dir) = optimized.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // Made under a name of its own, renamed once complete: a copy in place
        // is always whole.
        let part = optimized.with_extension(format!("part-{}", std::process::id()));
        let built = build_graph(model, options, Graph::OptimizeAndSave(&part));
        match built {
            Ok(built) => {
                if std::fs::rename(&part, optimized).is_err() {
                    let _ = std::fs::remove_file(&part);
                }
                Self::from_built(built, model, options)
            }
            Err(_) => {
                let _ = std::fs::remove_file(&part);
                Self::open(model, options)
            }
        }
    }

    /// A caller of the session, with run options of its own: one per worker.
    pub fn handle(&self) -> Result<SharedHandle> {
        Ok(SharedHandle {
            inner: self.inner.clone(),
            run_options: run_options(self.inner.options, &self.inner.model)?,
        })
    }
}

/// One worker's way into a [`SharedSession`]; calls from different handles run
/// at the same time.
pub struct SharedHandle {
    inner: Arc<Inner>,
    run_options: RunOptions,
}

impl std::fmt::Debug for SharedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedHandle").finish_non_exhaustive()
    }
}

impl Synthesize for SharedHandle {
    fn synthesize(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>> {
        Ok(self.synthesize_timed(ids, style, speed)?.audio)
    }

    fn synthesize_timed(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Synthesis> {
        let padded = padded_ids(ids, style)?;
        let err = |e: ort::Error| Error::Inference(e.to_string());
        let n = padded.len();
        let tokens = Tensor::from_array(([1usize, n], padded)).map_err(err)?;
        let style = Tensor::from_array(([1usize, STYLE_DIM], style.to_vec())).map_err(err)?;
        let speed = Tensor::from_array(([1usize], vec![speed])).map_err(err)?;
        let inputs = [tokens.ptr(), style.ptr(), speed.ptr()];
        let input_names: [*const c_char; 3] = [
            self.inner.inputs[0].as_ptr(),
            self.inner.inputs[1].as_ptr(),
            self.inner.inputs[2].as_ptr(),
        ];
        let mut output_names = vec![self.inner.output.as_ptr()];
        if let Some(d) = &self.inner.durations {
            output_names.push(d.as_ptr());
        }
        let mut outputs: [*mut ort::sys::OrtValue; 2] = [ptr::null_mut(); 2];
        // The one session, or a session lent to this call alone.
        let lent = self.inner.lent.as_ref().map(Lender::take);
        let session = &self.inner.sessions[lent.as_ref().map_or(0, |l| l.index)];
        let api = ort::api();
        // SAFETY: see the module's safety argument. Every pointer is valid for
        // the call: the session lives in `inner` (kept by this handle; when
        // lent, `lent` keeps it this call's alone until the end), the run
        // options are this handle's own, the inputs and names live until the
        // end of this function, and `outputs` has room for the values asked
        // for, which we then own.
        let status = unsafe {
            (api.Run)(
                session.ptr().cast_mut(),
                self.run_options.ptr(),
                input_names.as_ptr(),
                inputs.as_ptr(),
                inputs.len(),
                output_names.as_ptr(),
                output_names.len(),
                outputs.as_mut_ptr(),
            )
        };
        let [audio, durations] = outputs.map(Owned);
        check(status)?;
        // SAFETY: `audio` and `durations` are tensor values returned by `Run`
        // (or null, which the copies refuse), valid until `Owned` releases them.
        let audio = unsafe { copy_tensor::<f32>(audio.0, FLOAT, "audio") }?;
        let durations = match self.inner.durations {
            // SAFETY: as for the audio.
            Some(_) => Some(unsafe { copy_tensor::<i64>(durations.0, INT64, "durations") }?),
            None => None,
        };
        Ok(Synthesis { audio, durations })
    }
}

const FLOAT: ort::sys::ONNXTensorElementDataType =
    ort::sys::ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
const INT64: ort::sys::ONNXTensorElementDataType =
    ort::sys::ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;

/// An `OrtValue` released when dropped.
struct Owned(*mut ort::sys::OrtValue);

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the value came from `Run` and is released once.
            unsafe { (ort::api().ReleaseValue)(self.0) }
        }
    }
}

/// An error for a non-null status, which is released.
fn check(status: ort::sys::OrtStatusPtr) -> Result<()> {
    if status.0.is_null() {
        return Ok(());
    }
    let api = ort::api();
    // SAFETY: a non-null status from the C API holds a NUL-terminated message
    // until it is released, once, here.
    let message = unsafe {
        let text = std::ffi::CStr::from_ptr((api.GetErrorMessage)(status.0))
            .to_string_lossy()
            .into_owned();
        (api.ReleaseStatus)(status.0);
        text
    };
    Err(Error::Inference(message))
}

/// The values of a tensor of element type `kind` (`T` its Rust type).
///
/// # Safety
/// `value` must be null or a valid tensor `OrtValue`, and `T` the Rust type
/// of `kind`.
unsafe fn copy_tensor<T: Copy>(
    value: *mut ort::sys::OrtValue,
    kind: ort::sys::ONNXTensorElementDataType,
    what: &str,
) -> Result<Vec<T>> {
    if value.is_null() {
        return Err(Error::Inference(format!("the model returned no {what}")));
    }
    let api = ort::api();
    let mut info = ptr::null_mut();
    // SAFETY: `value` is valid (the caller's promise); `info` is released below.
    check(unsafe { (api.GetTensorTypeAndShape)(value, &mut info) })?;
    let mut count = 0usize;
    let mut got = ort::sys::ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    // SAFETY: `info` came from the call above and is released once.
    let (counted, typed) = unsafe {
        let counted = (api.GetTensorShapeElementCount)(info, &mut count);
        let typed = (api.GetTensorElementType)(info, &mut got);
        (api.ReleaseTensorTypeAndShapeInfo)(info);
        (counted, typed)
    };
    check(counted)?;
    check(typed)?;
    if got != kind {
        return Err(Error::Inference(format!(
            "the model's {what} are {got:?}, not {kind:?}"
        )));
    }
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: `value` is a valid tensor; its data pointer stays valid while it lives.
    check(unsafe { (api.GetTensorMutableData)(value, &mut data) })?;
    if count > 0 && data.is_null() {
        return Err(Error::Inference(format!("the model's {what} have no data")));
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the tensor holds `count` contiguous values of `kind` (so `T`) at
    // `data`, and is not written while we copy.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<T>(), count) }.to_vec())
}
