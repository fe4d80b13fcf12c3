//! Everything the engine needs before it can open a session, in order: where
//! the model runs, the assets (fetched and verified), the GPU runtime on
//! CUDA, ONNX Runtime loaded, and the model file to load (timed, and in the
//! form chosen for this machine).

use std::path::PathBuf;

use kokoro_infer::init_runtime;

use super::forms::{Form, FormChoice};
use super::{AssetOptions, Want};
use crate::error::{Error, Result};
use crate::{Device, Event};

/// What [`provision`] gives [`crate::Tts::open`].
#[derive(Debug, Clone)]
pub(crate) struct Provisioned {
    /// The voices (a directory or an archive).
    pub voices: PathBuf,
    /// The model file the sessions load.
    pub model: PathBuf,
    /// Whether it gives each id's duration.
    pub timed: bool,
    /// Whether it runs on CUDA.
    pub cuda: bool,
    /// Where ONNX Runtime's optimized graph of it is kept (CPU, with a cache).
    pub optimized: Option<PathBuf>,
    /// The form of the fetched model it is (none for a model given by path
    /// or on CUDA).
    pub form: Option<Form>,
}

/// What provisioning is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    pub assets: &'a AssetOptions,
    pub device: Device,
    pub form: FormChoice,
    pub skip_timing: bool,
}

/// Chooses the device, fetches and verifies what is missing, loads ONNX
/// Runtime, and derives and chooses the model to load, telling `emit`.
pub(crate) fn provision(asked: Asked<'_>, emit: &dyn Fn(Event)) -> Result<Provisioned> {
    let assets = asked.assets;
    let (cuda, said) =
        crate::device::choose(asked.device, kokoro_infer::cuda_usable).map_err(Error::NoCuda)?;
    emit(Event::Device(said));
    // On CUDA the runtime is the GPU build, from the cache unless given.
    let want = Want {
        runtime: !cuda,
        ..Want::ALL
    };
    let mut paths = assets.resolve(want, &mut |e| emit(Event::Fetch(e)))?;
    if cuda && assets.runtime.is_none() {
        let gpu = assets.cache()?.ensure_gpu(&mut |e| emit(Event::Fetch(e)))?;
        kokoro_infer::preload_libraries(&gpu.preload)?;
        paths.runtime = gpu.runtime;
    }
    init_runtime(&paths.runtime)?;
    // A model given by path is used as it is, unless it is the pinned export
    // itself, whose forms then apply.
    let given = assets.model.is_some() && !assets.cache().is_ok_and(|c| c.is_export(&paths.model));
    if given && asked.form != FormChoice::Auto {
        return Err(Error::Form(format!(
            "the model form {} applies to the fetched model; a model given by path ({}) is used as it is",
            asked.form,
            paths.model.display()
        )));
    }
    // On CUDA the fetched int8 model is made float (once, into the cache):
    // the CUDA provider has no kernel for its integer convolutions, which
    // would run on the CPU between copies. A model given by path is used as
    // it is.
    let mut model = paths.model.clone();
    if cuda && !given {
        model = assets.cache()?.ensure_float(&model)?;
        emit(Event::Device(format!(
            "cuda: the float model {}",
            model.display()
        )));
    }
    let timed = if asked.skip_timing {
        false
    } else {
        match assets.cache().and_then(|cache| cache.ensure_timed(&model)) {
            Ok(path) => {
                model = path;
                true
            }
            Err(e) => {
                emit(Event::Warning(format!(
                    "word timings are unavailable: {e}; the audio is the same"
                )));
                false
            }
        }
    };
    let mut form = None;
    if !cuda && !given {
        let cache = assets.cache()?;
        let chosen = cache.choose_form(&model, &paths.voices, asked.form, &|s| {
            emit(Event::Progress(s))
        })?;
        emit(Event::Form(format!(
            "model form: {} ({}), {}",
            chosen.form,
            chosen.why,
            chosen.model.display()
        )));
        model = chosen.model;
        form = Some(chosen.form);
    }
    let optimized = match assets.cache() {
        Ok(cache) if !cuda => Some(cache.optimized_model(&model)),
        _ => None,
    };
    Ok(Provisioned {
        voices: paths.voices,
        model,
        timed,
        cuda,
        optimized,
        form,
    })
}
