//! ONNX Runtime's GPU build, loaded the way `Device::Cuda` loads it (the CUDA
//! libraries by path first, nothing on the loader's search path), in a process
//! of its own (a process loads one runtime). Needs the GPU runtime in the
//! cache (`cargo xtask fetch --gpu`) and the model-tests feature. Without a
//! GPU a CUDA session must fail to open with ONNX Runtime's reason, never fall
//! back to the CPU; with one it must speak.

#[test]
fn the_gpu_build_loads_and_a_cuda_session_opens_or_says_why_not() {
    if cfg!(not(feature = "model-tests")) {
        eprintln!("skipped: needs `--features model-tests` (cargo xtask test)");
        return;
    }
    let options = kokoro::AssetOptions {
        cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(Into::into),
        ..kokoro::AssetOptions::default()
    };
    let cache = options.cache().unwrap();
    if !cache.gpu_dir().join(".verified").is_file() {
        eprintln!(
            "skipped: the GPU runtime is not in the cache ({}); `cargo xtask fetch --gpu` fetches it (about 1.5 GB)",
            cache.gpu_dir().display()
        );
        return;
    }
    let model = options
        .resolve(
            kokoro::Want {
                runtime: false,
                model: true,
                voices: false,
            },
            &mut |_| {},
        )
        .unwrap()
        .model;
    let gpu = cache.ensure_gpu(&mut |_| {}).unwrap();
    kokoro::infer::preload_libraries(&gpu.preload).expect("the CUDA libraries load by path");
    kokoro::infer::init_runtime(&gpu.runtime).expect("the GPU build of ONNX Runtime loads");
    let opened = kokoro::infer::KokoroSession::open(
        &model,
        kokoro::infer::SessionOptions {
            device: kokoro::infer::Device::Cuda { device_id: 0 },
            ..Default::default()
        },
    );
    match (kokoro::infer::cuda_usable(), opened) {
        (Err(why), Err(e)) => {
            let said = e.to_string();
            eprintln!("no GPU here ({why}); the CUDA session refused: {said}");
            assert!(said.to_ascii_lowercase().contains("cuda"), "{said}");
        }
        (Err(why), Ok(_)) => panic!("a CUDA session opened without a usable GPU ({why})"),
        (Ok(_), Err(e)) => panic!("a usable GPU, and the CUDA session failed: {e}"),
        (Ok(found), Ok(mut session)) => {
            use kokoro::infer::Synthesize;
            let audio = session
                .synthesize(&[50, 83, 54, 156, 57, 135], &[0.0; 256], 1.0)
                .unwrap();
            assert!(audio.len() > 2_400, "{found}: {} samples", audio.len());
        }
    }
}
