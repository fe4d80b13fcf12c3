//! The container image and the Kubernetes manifests against the code and the
//! measurements: every `kokoro` flag they pass exists, the figures they are
//! sized by are the recorded ones, and the manifests pass Kubernetes' own
//! schemas (`kubernetes-validate`, strict). The image itself is built and
//! run by `container.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifests() -> Vec<(PathBuf, String)> {
    let dir = root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The words of every inline JSON list after `key` (`args: [...]`).
fn lists(text: &str, key: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|rest| serde_json::from_str::<Vec<String>>(rest.trim()).ok())
        .collect()
}

/// `kokoro [SUB] --help`.
fn help(sub: Option<&str>) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kokoro"));
    c.args(sub).arg("--help");
    String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
}

#[track_caller]
fn assert_flags_exist(words: &[String], whence: &str) {
    let sub = words
        .iter()
        .find(|w| matches!(w.as_str(), "serve" | "batch" | "wyoming"))
        .map(String::as_str);
    let known = help(sub);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(
            known.contains(flag.as_str()),
            "{whence}: kokoro {sub:?} has no {flag}"
        );
    }
}

#[test]
fn the_image_runs_the_server_as_a_user_with_a_health_check() {
    let dockerfile = read("Dockerfile");
    let entry = lists(&dockerfile, "ENTRYPOINT");
    assert_eq!(entry.len(), 1, "one ENTRYPOINT");
    assert_eq!(entry[0][..2], ["kokoro", "serve"]);
    assert_flags_exist(&entry[0], "Dockerfile ENTRYPOINT");
    // The port it exposes and checks is the server's default.
    assert!(help(Some("serve")).contains("[default: 8880]"));
    assert!(dockerfile.contains("EXPOSE 8880"));
    assert!(dockerfile.contains("http://127.0.0.1:8880/health"));
    // Not root: a numeric user, made in the image.
    assert!(dockerfile.contains("useradd --system --uid 10001"));
    assert!(dockerfile.contains("\nUSER 10001\n"));
    // The assets are fetched by the binary (and the GPU's by xtask), at build time.
    assert!(dockerfile.contains("RUN kokoro --quiet --text"));
    let xtask = read("xtask/src/fetch.rs");
    assert!(dockerfile.contains("cargo xtask fetch --gpu") && xtask.contains("\"--gpu\""));
    // Stages: the CPU image is the default (last) target, the GPU one is named.
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|l| l.split(" AS ").nth(1))
        .collect();
    assert_eq!(
        stages,
        [
            "build",
            "fetch-gpu-build",
            "prebuilt",
            "fetch-gpu-prebuilt",
            "built",
            "fetch-gpu",
            "runtime",
            "gpu",
            "cpu"
        ]
    );
    assert!(read(".dockerignore").lines().any(|l| l == "target"));
}

/// The stop: the image's stop signal is the one the server handles, and the
/// Deployment gives the pod longer than the server's grace period (issue 29).
#[test]
fn the_stop_signal_and_the_grace_periods_agree() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("\nSTOPSIGNAL SIGTERM\n"));
    let serve = help(Some("serve"));
    let default = serve
        .split("--grace")
        .nth(1)
        .and_then(|s| s.split("[default: ").nth(1))
        .and_then(|s| s.split(']').next())
        .and_then(|s| s.parse::<f64>().ok())
        .expect("--grace has a default");
    let deployment = read("deploy/kubernetes/deployment.yaml");
    let pod: f64 = deployment
        .lines()
        .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("the Deployment sets terminationGracePeriodSeconds");
    let args = lists(&deployment, "args:");
    let given = args
        .iter()
        .flat_map(|a| a.windows(2))
        .find(|w| w[0] == "--grace")
        .and_then(|w| w[1].parse::<f64>().ok())
        .unwrap_or(default);
    assert!(
        given < pod,
        "--grace {given} s must end before the pod's {pod} s"
    );
    assert!(
        pod < 30.0,
        "shorter than Kubernetes' default, which it replaces"
    );
}

#[test]
fn the_manifests_pass_flags_that_exist_and_figures_that_were_measured() {
    let benchmarks = read("docs/BENCHMARKS.md");
    let files = manifests();
    assert_eq!(files.len(), 4, "deployment, service, autoscaler, batch job");
    let mut commands = 0;
    for (path, text) in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (command, args) in lists(text, "command:").iter().zip(lists(text, "args:")) {
            let words: Vec<String> = command.iter().chain(&args).cloned().collect();
            assert_flags_exist(&words, &name);
            commands += 1;
        }
        // The server's args follow the image's entry point.
        if name == "deployment.yaml" {
            let mut words = vec!["serve".to_string()];
            words.extend(lists(text, "args:").concat());
            assert_flags_exist(&words, &name);
            commands += 1;
        }
        let comments: String = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('#'))
            .collect::<Vec<_>>()
            .join("\n");
        for figure in crate::guide::regex_lite_figures(&comments) {
            let bare = figure.split(' ').next().unwrap_or(&figure).replace(',', "");
            assert!(
                benchmarks.contains(&figure) || benchmarks.contains(&format!("| {bare} |")),
                "{name}: `{figure}` is not in docs/BENCHMARKS.md"
            );
        }
    }
    assert_eq!(commands, 2);
    // The Indexed Job's shard count is its completions.
    let job = &files
        .iter()
        .find(|(p, _)| p.ends_with("batch-job.yaml"))
        .unwrap()
        .1;
    let args = lists(job, "args:").concat();
    let shards = args.iter().skip_while(|a| *a != "--shards").nth(1).unwrap();
    assert!(
        job.contains(&format!("completions: {shards}\n")),
        "{shards}"
    );
    assert!(job.contains("completionMode: Indexed"));
}

#[cfg(feature = "model-tests")]
#[test]
fn the_manifests_pass_kubernetes_schemas_and_a_mistake_does_not() {
    let python = kokoro_dev::python_with(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        "kubernetes-validate==1.32.0",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let validate = |files: &[PathBuf]| {
        Command::new(&python)
            .args(["-m", "kubernetes_validate", "--strict", "-k", "1.32.0"])
            .args(files)
            .output()
            .unwrap()
    };
    let files: Vec<PathBuf> = manifests().into_iter().map(|(p, _)| p).collect();
    let o = validate(&files);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches("passed for resource").count(), 4, "{out}");
    // The check can fail: one misspelt field is refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let deployment = read("deploy/kubernetes/deployment.yaml");
    std::fs::write(&bad, deployment.replace("  replicas: 1", "  replica: 1")).unwrap();
    let o = validate(&[bad]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("'replica' was unexpected"));
}
