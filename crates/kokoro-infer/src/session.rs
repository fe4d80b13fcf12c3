//! ONNX Runtime sessions over the Kokoro model.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::TensorRef;

use crate::error::{Error, Result};
use crate::voice::STYLE_DIM;

/// Output sample rate of Kokoro, in Hz.
pub const SAMPLE_RATE: u32 = 24_000;

/// The largest number of phoneme ids one call takes, without the two pads.
const MAX_TOKENS: usize = 510;

static RUNTIME: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

/// Loads the ONNX Runtime shared library at `path`, once per process.
///
/// The path is checked first, so a missing library gives [`Error::RuntimeMissing`]
/// naming it rather than a panic inside `ort`; that check may be retried with
/// another path. Once a library was loaded (or failed to load), later calls
/// return that outcome.
pub fn init_runtime(path: &Path) -> Result<()> {
    if RUNTIME.get().is_none() && !path.is_file() {
        return Err(Error::RuntimeMissing {
            path: path.to_path_buf(),
        });
    }
    let outcome = RUNTIME.get_or_init(|| {
        ort::init_from(path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.with_name("kokoro")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| e.to_string())
            })
    });
    match outcome {
        Ok(_) => Ok(()),
        Err(reason) => Err(Error::RuntimeLoad {
            path: path.to_path_buf(),
            reason: reason.clone(),
        }),
    }
}

/// Makes the C allocator hand large freed blocks (1 MiB and up) straight back to
/// the system, for the whole process (glibc on Linux; elsewhere it does nothing).
///
/// ONNX Runtime's arenas grow in blocks allocated with `malloc`. glibc raises its
/// threshold for serving such blocks from its own heaps as they are freed, and
/// its heaps give memory back only from the top, so with arena shrinkage the
/// blocks freed after one call stayed resident. With the threshold fixed at
/// 1 MiB, a 60k-character run with two sessions peaked at 930 MiB instead of
/// 1,053 MiB, at the same speed (docs/BENCHMARKS.md). Call it once, early, from
/// a program's `main`; a library should leave it to the program.
pub fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; M_MMAP_THRESHOLD is
        // a valid option and 1 MiB is within its allowed range.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

/// Options of one inference session, always passed explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads ONNX Runtime uses inside one call.
    pub intra_threads: usize,
    /// Use ONNX Runtime's CPU memory arena (on by default). The arena keeps the
    /// peak of the longest input for the session's life, but turning it off was
    /// measured 1.6x slower and, oddly, four times hungrier on this model
    /// (docs/BENCHMARKS.md), so chunk length is what bounds memory.
    pub cpu_arena: bool,
    /// Hand the arena's free memory back at the end of every call (ONNX
    /// Runtime's arena shrinkage; on by default). Without it each session keeps
    /// the peak of the longest chunk it has ever seen, so with several sessions
    /// memory creeps up over a book until every session has met the longest
    /// chunks; with it a session holds little between calls (what is left of the
    /// rise is when long chunks on several sessions meet, which
    /// `kokoro_sched::Parallel` bounds; docs/BENCHMARKS.md). Same output, no
    /// measurable cost in speed.
    pub shrink_arena: bool,
    /// Where the model runs.
    pub device: Device,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_threads: 1,
            cpu_arena: true,
            shrink_arena: true,
            device: Device::Cpu,
        }
    }
}

/// Where a session runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA provider on this GPU; the runtime loaded must be
    /// ONNX Runtime's GPU build, with the CUDA libraries it needs loaded
    /// first ([`preload_libraries`]). A session that cannot use it fails to
    /// open: it never falls back to the CPU.
    Cuda {
        /// The GPU's index.
        device_id: i32,
    },
}

/// The oldest NVIDIA driver that runs CUDA 13, which ONNX Runtime 1.31.1's
/// GPU build is made for.
pub const MIN_CUDA_DRIVER: u32 = 580;

/// Whether this machine can run the CUDA provider: an NVIDIA GPU, its kernel
/// driver (at least [`MIN_CUDA_DRIVER`]) and the driver's user library
/// (`libcuda.so.1`). The error says which is missing, and what to install.
pub fn cuda_usable() -> std::result::Result<String, String> {
    let proc = Path::new("/proc/driver/nvidia");
    if !proc.is_dir() {
        return Err(
            "no NVIDIA driver is loaded (/proc/driver/nvidia is missing): \
                    install NVIDIA's driver, 580 or newer"
                .into(),
        );
    }
    let gpus = std::fs::read_dir(proc.join("gpus"))
        .map(|d| d.filter_map(|e| e.ok()).count())
        .unwrap_or(0);
    if gpus == 0 {
        return Err("the NVIDIA driver sees no GPU (/proc/driver/nvidia/gpus is empty)".into());
    }
    let version = std::fs::read_to_string(proc.join("version")).unwrap_or_default();
    let driver = version
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
        .unwrap_or("")
        .to_string();
    let major: u32 = driver
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < MIN_CUDA_DRIVER {
        return Err(format!(
            "the NVIDIA driver is {} but CUDA 13 needs {MIN_CUDA_DRIVER} or newer: update the driver",
            if driver.is_empty() { "of unknown version" } else { &driver }
        ));
    }
    ort::util::preload_dylib("libcuda.so.1").map_err(|e| {
        format!(
            "the NVIDIA driver's library libcuda.so.1 cannot be loaded ({e}): reinstall the driver"
        )
    })?;
    Ok(format!("{gpus} NVIDIA GPU(s), driver {driver}"))
}

/// Loads shared libraries by path, in order, before ONNX Runtime asks for
/// them by name (the CUDA libraries the GPU build of ONNX Runtime links):
/// a library already loaded is found by its name, so nothing needs to be on
/// the loader's search path. Libraries stay loaded for the process's life.
pub fn preload_libraries(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        if !path.is_file() {
            return Err(Error::RuntimeMissing { path: path.clone() });
        }
        ort::util::preload_dylib(path).map_err(|e| Error::RuntimeLoad {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Something that turns phoneme ids into audio: the real model, or a test fake.
pub trait Synthesize: Send {
    /// Audio at [`SAMPLE_RATE`] for `ids` (without pads, at most 510, the model's limit),
    /// with one style row of 256 floats and a speed factor.
    fn synthesize(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>>;

    /// As [`Synthesize::synthesize`], with each id's duration when the model
    /// gives them (a timed model: [`crate::timed`]). The audio is the same.
    fn synthesize_timed(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Synthesis> {
        Ok(Synthesis {
            audio: self.synthesize(ids, style, speed)?,
            durations: None,
        })
    }
}

/// One call's audio, and how long each id was spoken.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthesis {
    /// Samples at [`SAMPLE_RATE`].
    pub audio: Vec<f32>,
    /// Each id's duration, the two pads included (so `ids.len() + 2` values),
    /// in units of [`crate::timed::SAMPLES_PER_DURATION_UNIT`] samples; they
    /// add up to the audio's length. `None` when the model does not give them.
    pub durations: Option<Vec<i64>>,
}

/// One ONNX Runtime session over a Kokoro model file.
pub struct KokoroSession {
    session: Session,
    input_ids_name: String,
    run_options: RunOptions,
}

impl std::fmt::Debug for KokoroSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KokoroSession")
            .field("input", &self.input_ids_name)
            .finish_non_exhaustive()
    }
}

impl KokoroSession {
    /// Opens `model` with `options`. [`init_runtime`] must have succeeded first.
    pub fn open(model: &Path, options: SessionOptions) -> Result<Self> {
        Self::open_graph(model, options, Graph::Optimize)
    }

    /// Opens `model` with ONNX Runtime's profiler on: every call (and the
    /// session's load) is recorded, each operator's time with its input
    /// shapes, in a JSON file whose name starts with `prefix`, written by
    /// [`KokoroSession::end_profiling`].
    pub fn open_profiled(model: &Path, options: SessionOptions, prefix: &Path) -> Result<Self> {
        Self::open_graph(model, options, Graph::Profile(prefix))
    }

    fn open_graph(model: &Path, options: SessionOptions, graph: Graph<'_>) -> Result<Self> {
        let (session, input_ids_name) = build_graph(model, options, graph)?;
        let run_options = run_options(options, model)?;
        Ok(Self {
            session,
            input_ids_name,
            run_options,
        })
    }

    /// Ends the profile of a session opened with
    /// [`KokoroSession::open_profiled`], and gives the file it was written to.
    pub fn end_profiling(&mut self) -> Result<PathBuf> {
        self.session
            .end_profiling()
            .map(PathBuf::from)
            .map_err(|e| Error::Inference(e.to_string()))
    }
}

/// How a session gets its optimized graph.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Graph<'a> {
    /// Optimize the model while loading (ONNX Runtime's highest level).
    Optimize,
    /// Optimize while loading, and save the optimized graph to this file.
    OptimizeAndSave(&'a Path),
    /// The file is an optimized graph saved before: load it as it is.
    Optimized,
    /// Optimize while loading, and record ONNX Runtime's profile of every
    /// call in a file whose name starts with this prefix.
    Profile(&'a Path),
}

/// A session over `model` with `options`, and the name of its ids input.
pub(crate) fn build(model: &Path, options: SessionOptions) -> Result<(Session, String)> {
    build_graph(model, options, Graph::Optimize)
}

/// [`build`], with the optimized graph saved or loaded as `graph` says.
pub(crate) fn build_graph(
    model: &Path,
    options: SessionOptions,
    graph: Graph<'_>,
) -> Result<(Session, String)> {
    let Some(Ok(env)) = RUNTIME.get() else {
        return Err(Error::RuntimeLoad {
            path: PathBuf::new(),
            reason: "ONNX Runtime was not initialised".into(),
        });
    };
    if !model.is_file() {
        return Err(Error::NotFound {
            what: "model",
            path: model.to_path_buf(),
        });
    }
    let fail = |e: ort::Error| Error::ModelLoad {
        path: model.to_path_buf(),
        reason: e.to_string(),
    };
    let mut builder = Session::builder(env)
        .map_err(fail)?
        .with_optimization_level(match graph {
            Graph::Optimized => GraphOptimizationLevel::Disable,
            _ => GraphOptimizationLevel::Level3,
        })
        .map_err(|e| fail(e.into()))?
        .with_intra_threads(options.intra_threads.max(1))
        .map_err(|e| fail(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| fail(e.into()))?
        .with_memory_pattern(options.cpu_arena)
        .map_err(|e| fail(e.into()))?;
    // The fused convolution, for models that use it (crate::fused).
    crate::fused::op::register(ort::AsPointer::ptr_mut(&mut builder)).map_err(|e| {
        Error::ModelLoad {
            path: model.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    if let Device::Cuda { device_id } = options.device {
        builder = builder
            .with_execution_providers([ort::ep::CUDA::default()
                .with_device_id(device_id)
                .build()
                .error_on_failure()])
            .map_err(|e| fail(e.into()))?;
    } else if !options.cpu_arena {
        builder = builder
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(|e| fail(e.into()))?;
    }
    match graph {
        Graph::OptimizeAndSave(path) => {
            builder = builder
                .with_optimized_model_path(path)
                .map_err(|e| fail(e.into()))?;
        }
        Graph::Profile(prefix) => {
            builder = builder.with_profiling(prefix).map_err(|e| fail(e.into()))?;
        }
        Graph::Optimize | Graph::Optimized => {}
    }
    let session = builder.commit_from_file(model).map_err(fail)?;
    let input_ids_name = session
        .inputs()
        .iter()
        .map(|i| i.name().to_string())
        .find(|n| n == "tokens" || n == "input_ids")
        .ok_or_else(|| Error::ModelLoad {
            path: model.to_path_buf(),
            reason: "no `tokens` or `input_ids` input: not a Kokoro model".into(),
        })?;
    Ok((session, input_ids_name))
}

/// The options of one call: arena shrinkage at its end, when asked for.
pub(crate) fn run_options(options: SessionOptions, model: &Path) -> Result<RunOptions> {
    let fail = |e: ort::Error| Error::ModelLoad {
        path: model.to_path_buf(),
        reason: e.to_string(),
    };
    let mut run_options = RunOptions::new().map_err(fail)?;
    if options.shrink_arena && options.cpu_arena {
        run_options
            .set("memory.enable_memory_arena_shrinkage", "cpu:0")
            .map_err(fail)?;
    }
    Ok(run_options)
}

/// `ids` between the two pads, once they and `style` are checked.
pub(crate) fn padded_ids(ids: &[i64], style: &[f32]) -> Result<Vec<i64>> {
    if ids.is_empty() || ids.len() > MAX_TOKENS {
        return Err(Error::BadInput(format!(
            "{} phoneme ids (1 to {MAX_TOKENS} allowed)",
            ids.len()
        )));
    }
    if style.len() != STYLE_DIM {
        return Err(Error::BadInput(format!(
            "style has {} values, expected {STYLE_DIM}",
            style.len()
        )));
    }
    let mut padded = Vec::with_capacity(ids.len() + 2);
    padded.push(0);
    padded.extend_from_slice(ids);
    padded.push(0);
    Ok(padded)
}

impl Synthesize for KokoroSession {
    fn synthesize(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Vec<f32>> {
        Ok(self.synthesize_timed(ids, style, speed)?.audio)
    }

    fn synthesize_timed(&mut self, ids: &[i64], style: &[f32], speed: f32) -> Result<Synthesis> {
        let padded = padded_ids(ids, style)?;
        let err = |e: ort::Error| Error::Inference(e.to_string());
        let tokens =
            TensorRef::from_array_view(([1usize, padded.len()], &padded[..])).map_err(err)?;
        let style = TensorRef::from_array_view(([1usize, STYLE_DIM], style)).map_err(err)?;
        let speed_arr = [speed];
        let speed = TensorRef::from_array_view(([1usize], &speed_arr[..])).map_err(err)?;
        let outputs = self
            .session
            .run_with_options(
                ort::inputs![self.input_ids_name.as_str() => tokens, "style" => style, "speed" => speed],
                &self.run_options,
            )
            .map_err(err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        let durations = if outputs.len() > 1 {
            let (_, d) = outputs[1].try_extract_tensor::<i64>().map_err(err)?;
            Some(d.to_vec())
        } else {
            None
        };
        Ok(Synthesis {
            audio: audio.to_vec(),
            durations,
        })
    }
}
