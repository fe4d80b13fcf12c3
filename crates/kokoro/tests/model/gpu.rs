//! The GPU runtime's fetch, where it needs no GPU: ONNX Runtime's GPU wheel
//! against its pinned SHA-256, and every CUDA library its CUDA provider links
//! (per `readelf -d`) or loads by name among the libraries fetched beside it;
//! and, when the whole GPU runtime is in the cache (`cargo xtask fetch --gpu`,
//! about 1.5 GB, not fetched by the tests), every library's own dependencies
//! among them, the driver and the system's.

use std::path::{Path, PathBuf};
use std::process::Command;

use kokoro::assets::{sha256_file, wheel_libraries, GPU_WHEELS};

/// Libraries every Linux system has, and the driver's, which comes with it.
const SYSTEM: [&str; 10] = [
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libdl.so.2",
    "libgcc_s.so.1",
    "libm.so.6",
    "libpthread.so.0",
    "librt.so.1",
    "libstdc++.so.6",
    "libz.so.1",
    "libcuda.so.1",
];

fn ours() -> Vec<&'static str> {
    GPU_WHEELS
        .iter()
        .flat_map(|w| w.libraries.iter().copied())
        .collect()
}

fn needed(lib: &Path) -> Vec<String> {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(lib)
        .output()
        .expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf -d {}", lib.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_string()))
        .collect()
}

/// The pinned ONNX Runtime GPU wheel (255 MB), kept under the target directory.
fn gpu_wheel() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("onnxruntime-gpu-wheel");
    let pinned = &GPU_WHEELS[0];
    let find = || {
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
    };
    if find().is_none() {
        let ok = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "--only-binary=:all:",
            ])
            .args([
                "--platform",
                "manylinux_2_28_x86_64",
                "--python-version",
                "3.11",
            ])
            .args(["--implementation", "cp", "-d"])
            .arg(&dir)
            .arg(pinned.spec)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip download {}", pinned.spec);
    }
    let wheel = find().expect("the wheel");
    assert_eq!(
        sha256_file(&wheel).unwrap(),
        pinned.sha256,
        "{}",
        wheel.display()
    );
    wheel
}

#[test]
fn every_cuda_library_the_provider_needs_is_fetched_beside_it() {
    let wheel = gpu_wheel();
    let libs = wheel_libraries(&wheel, GPU_WHEELS[0].libraries).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours = ours();
    for (name, bytes) in &libs {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for need in needed(&path) {
            assert!(
                ours.contains(&need.as_str()) || SYSTEM.contains(&need.as_str()),
                "{name} needs {need}, which is not fetched"
            );
        }
    }
    // What the CUDA provider loads by name at run time (cuDNN, cuFFT, NVRTC).
    let provider = &libs
        .iter()
        .find(|(n, _)| n == "libonnxruntime_providers_cuda.so")
        .unwrap()
        .1;
    let text = String::from_utf8_lossy(provider);
    for (mentioned, fetched) in [
        ("libcudnn", "libcudnn.so.9"),
        ("libcufft", "libcufft.so.12"),
        ("libnvrtc.so.13", "libnvrtc.so.13"),
        ("libcublasLt.so.13", "libcublasLt.so.13"),
    ] {
        assert!(
            text.contains(mentioned),
            "the provider no longer mentions {mentioned}"
        );
        assert!(ours.contains(&fetched), "{fetched}");
    }
}

#[test]
fn the_fetched_gpu_runtime_depends_only_on_itself_the_driver_and_the_system() {
    let cache = kokoro::AssetOptions {
        cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(Into::into),
        ..kokoro::AssetOptions::default()
    }
    .cache()
    .unwrap();
    let dir = cache.gpu_dir();
    if !dir.join(".verified").is_file() {
        eprintln!(
            "skipped: the GPU runtime is not in the cache ({}); `cargo xtask fetch --gpu` \
             fetches it (about 1.5 GB, more than the tests download)",
            dir.display()
        );
        return;
    }
    let ours = ours();
    for lib in &ours {
        for need in needed(&dir.join(lib)) {
            assert!(
                ours.contains(&need.as_str()) || SYSTEM.contains(&need.as_str()),
                "{lib} needs {need}"
            );
        }
    }
}
