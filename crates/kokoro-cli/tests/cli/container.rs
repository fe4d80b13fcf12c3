//! The image built and run with podman, as an operator would: the base made
//! from Debian's packages (`debootstrap --variant=minbase bookworm`, imported
//! with `podman import`: no registry is reachable), the binary built outside
//! and taken by the Dockerfile's `prebuilt` stage (the builder stage needs a
//! Rust image that cannot be pulled here), runc as the runtime with lowered
//! limits. In the running container: the unprivileged user, a read-only root
//! with a writable cache volume, the health check, speech from
//! `POST /v1/audio/speech` (heard by Whisper), and SIGTERM stopping it
//! within the grace period. Then the GPU target is built (not run: no GPU
//! here) with ONNX Runtime's GPU build and the CUDA libraries fetched beside
//! the binary (about 1.9 GB on first use). The images' sizes are written to
//! `CARGO_TARGET_TMPDIR/container/image-size*.txt`.
//!
//! Skipped, saying why, without podman, debootstrap or root, unless
//! `KOKORO_CONTAINER_TEST` is set (as CI sets it), which makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = "localhost/kokoro-base:bookworm";
const IMAGE: &str = "localhost/kokoro:test";
const GPU_IMAGE: &str = "localhost/kokoro:test-gpu";
const NAME: &str = "kokoro-container-test";
const VOLUME: &str = "kokoro-container-test-cache";
/// The runtime and limits that work on these machines (crun refuses the
/// kernel's hybrid cgroups; the default limits are above what is allowed).
const RUN_FLAGS: &[&str] = &[
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// The assets' cache: `KOKORO_CACHE_DIR`, or the per-user one.
fn cache_dir() -> PathBuf {
    std::env::var_os("KOKORO_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/kokoro"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the test can run here; if not, a failure under
/// `KOKORO_CONTAINER_TEST`, else a skip that says why.
fn can_run() -> bool {
    let found = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let why = if !found("podman") {
        "no podman (apt-get install podman runc)"
    } else if !Path::new("/usr/sbin/debootstrap").exists() {
        "no debootstrap (apt-get install debootstrap)"
    } else if !root {
        "not root (podman's rootful storage and debootstrap need it)"
    } else {
        return true;
    };
    assert!(
        std::env::var_os("KOKORO_CONTAINER_TEST").is_none(),
        "KOKORO_CONTAINER_TEST is set but the image cannot be built: {why}"
    );
    eprintln!("skipped: the container image test: {why}");
    false
}

#[track_caller]
fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[track_caller]
fn sh(command: &str) {
    let status = Command::new("sh").args(["-c", command]).status().unwrap();
    assert!(status.success(), "{command}");
}

/// The base image from Debian's packages, made once per machine.
fn base_image(work: &Path) {
    if Command::new("podman")
        .args(["image", "exists", BASE])
        .status()
        .unwrap()
        .success()
    {
        return;
    }
    let rootfs = work.join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    sh(&format!(
        "debootstrap --variant=minbase --include=ca-certificates,curl,passwd bookworm {} \
         http://deb.debian.org/debian >{}/debootstrap.log 2>&1",
        rootfs.display(),
        work.display()
    ));
    sh(&format!(
        "rm -rf {r}/var/cache/apt/archives/*.deb {r}/var/lib/apt/lists/* \
         && tar -C {r} -c . | podman import - {BASE} >/dev/null",
        r = rootfs.display()
    ));
    std::fs::remove_dir_all(&rootfs).unwrap();
}

/// The build context of the `prebuilt` stage: this build's binary, and the
/// assets the tests fetched (the forms are made in the image).
fn context(work: &Path) -> PathBuf {
    let ctx = work.join("context");
    let _ = std::fs::remove_dir_all(&ctx);
    let cache = cache_dir();
    let into = ctx.join("prebuilt/cache");
    std::fs::create_dir_all(&into).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_kokoro"), ctx.join("prebuilt/kokoro")).unwrap();
    for entry in std::fs::read_dir(&cache).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        // The CPU image's runtime (the GPU one goes only into the GPU image).
        let wanted = (name.starts_with("onnxruntime-") && !name.starts_with("onnxruntime-gpu"))
            || name.starts_with("kokoro-v1.0.int8.onnx")
            || name == "voices"
            || name == "espeak-ng-data";
        if wanted {
            sh(&format!(
                "cp -a {} {}",
                cache.join(&name).display(),
                into.display()
            ));
        }
    }
    ctx
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cleanup() {
    let _ = Command::new("podman")
        .args(["rm", "-f", "-t", "0", NAME])
        .output();
    let _ = Command::new("podman")
        .args(["volume", "rm", "-f", VOLUME])
        .output();
}

#[test]
fn the_image_is_built_and_serves_speech_as_an_unprivileged_read_only_service() {
    if !can_run() {
        return;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("container");
    std::fs::create_dir_all(&work).unwrap();
    base_image(&work);
    let ctx = context(&work);
    let log = build(&ctx, "cpu", IMAGE, &work.join("build.log"));
    // The stages that ran: the prebuilt one and the runtime, never the
    // builder (its Rust image cannot be pulled here).
    assert!(log.contains("prebuilt"), "{log}");
    assert!(
        !log.contains("cargo build"),
        "the builder stage ran:\n{log}"
    );
    record_size(IMAGE, &work.join("image-size.txt"));

    cleanup();
    let port = free_port();
    let mut run = vec!["run", "-d", "--name", NAME];
    run.extend(RUN_FLAGS);
    let volume = format!("{VOLUME}:/opt/kokoro/cache");
    // The image's own port (its health check asks it), published on loopback.
    let publish = format!("127.0.0.1:{port}:8880");
    run.extend(["--read-only", "-v", &volume, "-p", &publish, IMAGE]);
    podman(&run);
    let guard = Cleanup;

    // Up and healthy: the server's own endpoint, then the image's check.
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let started = Instant::now();
    while agent
        .get(&format!("{base}/health"))
        .call()
        .map_or(true, |r| r.status().as_u16() != 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not healthy in 90 s: {}",
            podman(&["logs", NAME])
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    podman(&["healthcheck", "run", NAME]);
    // The cache made at build time is the one used: nothing is derived,
    // verified anew or timed again when a container starts.
    let log = podman(&["logs", NAME]);
    assert!(
        !log.contains("timing "),
        "the container redid the build's work:\n{log}"
    );

    // The unprivileged user, the read-only root, the writable cache.
    assert_eq!(podman(&["exec", NAME, "id", "-u"]), "10001");
    let denied = Command::new("podman")
        .args(["exec", NAME, "touch", "/usr/local/bin/x"])
        .output()
        .unwrap();
    assert!(!denied.status.success(), "the root filesystem is writable");
    podman(&["exec", NAME, "touch", "/opt/kokoro/cache/written"]);

    // Speech, heard.
    let said = "The container speaks clearly from a read only system.";
    let mut res = agent
        .post(&format!("{base}/v1/audio/speech"))
        .header("Content-Type", "application/json")
        .send(format!(
            r#"{{"model":"kokoro","input":"{said}","voice":"af_heart","response_format":"wav"}}"#
        ))
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let wav = res.body_mut().read_to_vec().unwrap();
    assert!(wav.starts_with(b"RIFF") && wav.len() > 48_000);
    let file = work.join("speech.wav");
    std::fs::write(&file, &wav).unwrap();
    if let Some(ear) = crate::ear() {
        let heard = ear.hear(&[&file]).unwrap();
        let wer = kokoro_dev::ear::wer(said, &heard[0].text);
        assert!(wer <= 0.1, "Whisper heard {:?} (WER {wer})", heard[0].text);
    }

    // SIGTERM (podman stop sends the image's STOPSIGNAL) ends it cleanly
    // within the server's 10 s grace, well before podman's 30 s SIGKILL.
    let stopping = Instant::now();
    podman(&["stop", "-t", "30", NAME]);
    let took = stopping.elapsed();
    let code = podman(&["inspect", "--format", "{{.State.ExitCode}}", NAME]);
    assert_eq!(code, "0", "exit status after SIGTERM");
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    drop(guard);

    // The GPU target, built (not run: no GPU here) from the same binary with
    // ONNX Runtime's GPU build and the CUDA libraries fetched beside it.
    let gpu_dir = ctx.join("prebuilt-gpu");
    std::fs::create_dir_all(&gpu_dir).unwrap();
    let cache = cache_dir();
    let runtime = kokoro::AssetOptions {
        cache_dir: Some(cache.clone()),
        ..kokoro::AssetOptions::default()
    }
    .cache()
    .unwrap()
    .ensure_gpu(&mut |_| {})
    .unwrap();
    let runtime_dir = runtime.runtime.parent().unwrap();
    sh(&format!(
        "cp -a {} {}",
        runtime_dir.display(),
        gpu_dir.display()
    ));
    build(&ctx, "gpu", GPU_IMAGE, &work.join("build-gpu.log"));
    let env = podman(&["image", "inspect", "--format", "{{.Config.Env}}", GPU_IMAGE]);
    assert!(env.contains("KOKORO_DEVICE=cuda"), "{env}");
    let provider = format!(
        "/opt/kokoro/cache/{}/libonnxruntime_providers_cuda.so",
        runtime_dir.file_name().unwrap().to_string_lossy()
    );
    let listed = Command::new("podman")
        .args(["run", "--rm"])
        .args(RUN_FLAGS)
        .args(["--entrypoint", "sh", GPU_IMAGE, "-c"])
        .arg(format!("test -s {provider} && ls /opt/kokoro/cache/float"))
        .output()
        .unwrap();
    assert!(
        listed.status.success() && !listed.stdout.is_empty(),
        "{provider} and the float model in the GPU image: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    record_size(GPU_IMAGE, &work.join("image-size-gpu.txt"));
}

/// Builds the Dockerfile's `target` from `ctx` as `tag` (the base made
/// here, the binary built outside), its log kept in `log_file`; the log.
#[track_caller]
fn build(ctx: &Path, target: &str, tag: &str, log_file: &Path) -> String {
    // Docker's image format: OCI's has no HEALTHCHECK.
    let built = Command::new("podman")
        .args(["build", "--format", "docker", "--isolation", "chroot"])
        .args(["--network", "host", "--build-arg", &format!("BASE={BASE}")])
        .args([
            "--build-arg",
            "BUILT=prebuilt",
            "--target",
            target,
            "-t",
            tag,
        ])
        .arg("-f")
        .arg(root().join("Dockerfile"))
        .arg(ctx)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&built.stdout).into_owned()
        + &String::from_utf8_lossy(&built.stderr);
    std::fs::write(log_file, &log).unwrap();
    assert!(
        built.status.success(),
        "podman build --target {target} failed:\n{log}"
    );
    log
}

/// Writes the size of `image` to `file`, and says it.
fn record_size(image: &str, file: &Path) {
    let size: u64 = podman(&["image", "inspect", "--format", "{{.Size}}", image])
        .parse()
        .unwrap();
    let mib = size as f64 / 1048576.0;
    std::fs::write(file, format!("{size} bytes ({mib:.0} MiB)\n")).unwrap();
    eprintln!("image {image}: {mib:.0} MiB");
}

/// Removes the container and its volume however the test ends.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup();
    }
}
