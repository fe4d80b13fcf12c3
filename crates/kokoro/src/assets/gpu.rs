//! The GPU runtime: ONNX Runtime's GPU build and the CUDA libraries it
//! loads, each from its pinned wheel.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::fetch::{find_file, pip};
use super::pins::{GPU_WHEELS, ORT_LIB, ORT_VERSION};
use super::verify::{sha256_file, sha256_hex};
use super::{Cache, FetchEvent};
use crate::error::{io_err, Error, Result};

/// The GPU runtime in the cache: ONNX Runtime's GPU build, and the CUDA
/// libraries to load (in order) before it asks for them by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRuntime {
    /// `libonnxruntime.so.1.31.1`, the GPU build.
    pub runtime: PathBuf,
    /// The CUDA and cuDNN libraries, in the order they must be loaded.
    pub preload: Vec<PathBuf>,
}

impl Cache {
    /// Where the GPU runtime is kept.
    pub fn gpu_dir(&self) -> PathBuf {
        self.dir.join(format!("onnxruntime-gpu-{ORT_VERSION}"))
    }

    /// The GPU runtime, fetched on first use (about 1.5 GB of wheels through
    /// `pip download`, each checked against its pinned SHA-256) and checked
    /// against the record of what was fetched on later ones.
    pub fn ensure_gpu(&self, progress: &mut dyn FnMut(FetchEvent)) -> Result<GpuRuntime> {
        let dir = self.gpu_dir();
        let runtime = GpuRuntime {
            runtime: dir.join(ORT_LIB),
            preload: GPU_WHEELS
                .iter()
                .skip(1)
                .flat_map(|w| w.libraries.iter().map(|l| dir.join(l)))
                .collect(),
        };
        let record = dir.join(".verified");
        let recorded = std::fs::read_to_string(&record).unwrap_or_default();
        if recorded.is_empty() || !gpu_record_holds(&dir, &recorded) {
            self.fetch_gpu(&dir, progress)?;
        }
        progress(FetchEvent::Verified {
            what: "ONNX Runtime (GPU)",
            path: dir,
        });
        Ok(runtime)
    }

    fn fetch_gpu(&self, dir: &Path, progress: &mut dyn FnMut(FetchEvent)) -> Result<()> {
        const WHAT: &str = "ONNX Runtime (GPU) and CUDA";
        if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
            return Err(Error::Fetch {
                what: WHAT.into(),
                reason: "the GPU runtime is pinned for Linux x86_64 only".into(),
            });
        }
        let tmp = self.scratch()?;
        let staging = tmp.path().join("lib");
        std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
        let mut record = String::new();
        for wheel in GPU_WHEELS {
            let into = tmp.path().join(wheel.spec.replace("==", "-"));
            std::fs::create_dir_all(&into).map_err(io_err(&into))?;
            let args = [
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "manylinux_2_28_x86_64",
                "--platform",
                "manylinux_2_27_x86_64",
                "--platform",
                "manylinux_2_17_x86_64",
                "--platform",
                "manylinux_2_12_x86_64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                wheel.spec,
            ];
            pip(WHAT, &args, &into, progress)?;
            let file = find_file(&into, "", ".whl").ok_or_else(|| Error::Fetch {
                what: WHAT.into(),
                reason: format!("pip wrote no wheel for {}", wheel.spec),
            })?;
            let actual = sha256_file(&file)?;
            if actual != wheel.sha256 {
                return Err(Error::Checksum {
                    path: file,
                    actual,
                    expected: wheel.sha256.into(),
                });
            }
            for (name, bytes) in wheel_libraries(&file, wheel.libraries)? {
                let path = staging.join(&name);
                std::fs::write(&path, &bytes).map_err(io_err(&path))?;
                record.push_str(&format!("{name} {} {}\n", bytes.len(), sha256_hex(&bytes)));
            }
            // Each wheel's scratch copy goes as soon as its libraries are out.
            let _ = std::fs::remove_dir_all(&into);
        }
        std::fs::write(staging.join(".verified"), &record).map_err(io_err(&staging))?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
        }
        std::fs::rename(&staging, dir).map_err(io_err(dir))
    }
}

/// Whether the libraries in `dir` are those the record names, by size.
fn gpu_record_holds(dir: &Path, record: &str) -> bool {
    let wanted = GPU_WHEELS.iter().map(|w| w.libraries.len()).sum::<usize>();
    let lines: Vec<&str> = record.lines().collect();
    lines.len() == wanted
        && lines.iter().all(|line| {
            let mut parts = line.split(' ');
            match (
                parts.next(),
                parts.next().and_then(|n| n.parse::<u64>().ok()),
            ) {
                (Some(name), Some(size)) => {
                    std::fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.len() == size)
                }
                _ => false,
            }
        })
}

/// The libraries named in `names` out of a wheel, found by file name; one
/// that is not there is an error naming it.
pub(crate) fn wheel_libraries(wheel: &Path, names: &[&str]) -> Result<Vec<(String, Vec<u8>)>> {
    let file = File::open(wheel).map_err(io_err(wheel))?;
    let bad = |reason: String| Error::Fetch {
        what: wheel.display().to_string(),
        reason,
    };
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut found = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
        let base = entry
            .name()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if names.contains(&base.as_str()) && !found.iter().any(|(n, _)| *n == base) {
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes).map_err(io_err(wheel))?;
            found.push((base, bytes));
        }
    }
    if let Some(missing) = names.iter().find(|n| !found.iter().any(|(f, _)| f == *n)) {
        return Err(bad(format!("{missing} is not in the wheel")));
    }
    Ok(found)
}

/// The GPU runtime's fetch, where it needs no GPU (the real wheels; `model-tests`).
#[cfg(test)]
#[cfg(feature = "model-tests")]
mod tests {
    // The GPU runtime's fetch, where it needs no GPU: ONNX Runtime's GPU wheel
    // against its pinned SHA-256, and every CUDA library its CUDA provider links
    // (per `readelf -d`) or loads by name among the libraries fetched beside it;
    // and, when the whole GPU runtime is in the cache (`cargo xtask fetch --gpu`,
    // about 1.5 GB, not fetched by the tests), every library's own dependencies
    // among them, the driver and the system's.

    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::super::pins::GPU_WHEELS;
    use super::super::verify::sha256_file;
    use super::wheel_libraries;

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
        let dir = std::env::temp_dir().join("kokoro-test-onnxruntime-gpu-wheel");
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
        let cache = crate::AssetOptions {
            cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(Into::into),
            ..crate::AssetOptions::default()
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
}
