//! `kokoro batch`: shards that cover a library exactly once, a run killed at
//! random points that reruns to the same bytes, failures that stop nothing,
//! and a real Slurm cluster running a job array of shards.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn kokoro() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kokoro"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `kokoro batch --list` for shard `i` of `n`: the documents it would speak.
fn listed(manifest: &Path, i: usize, n: usize) -> Vec<String> {
    let o = kokoro()
        .args([
            "batch",
            manifest.to_str().unwrap(),
            "--out",
            "out",
            "--list",
        ])
        .args(["--shard", &format!("{i}/{n}")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn shards_cover_every_document_exactly_once_for_one_to_eight_workers() {
    let dir = tempfile::tempdir().unwrap();
    for shelf in ["fiction", "poetry/old", "poetry/new"] {
        std::fs::create_dir_all(dir.path().join(shelf)).unwrap();
        for k in 0..9 {
            std::fs::write(dir.path().join(format!("{shelf}/book {k}.md")), "Hi.").unwrap();
        }
    }
    let manifest = dir.path().join("library.txt");
    std::fs::write(&manifest, "fiction/*.md\npoetry/**/*.md\n").unwrap();
    let all = listed(&manifest, 0, 1);
    assert_eq!(all.len(), 27, "{all:?}");
    for n in 1..=8 {
        let mut seen = BTreeMap::new();
        for i in 0..n {
            for doc in listed(&manifest, i, n) {
                assert!(
                    seen.insert(doc.clone(), i).is_none(),
                    "{doc} twice for n = {n}"
                );
            }
        }
        assert_eq!(seen.len(), all.len(), "n = {n}");
    }
    // The assignment is a function of the path, not of the order listed.
    let reordered = dir.path().join("reordered.txt");
    std::fs::write(&reordered, "poetry/**/*.md\nfiction/*.md\n").unwrap();
    let mut a = listed(&manifest, 1, 3);
    let mut b = listed(&reordered, 1, 3);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn bad_manifests_and_shards_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "Hi.").unwrap();
    std::fs::write(dir.path().join("a.md"), "Hi.").unwrap();
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("m.txt", "*.epub\n", &[], "matches no file"),
        ("m.txt", "a.txt\na.md\n", &[], "would both be written to"),
        (
            "m.toml",
            "[[document]]\npath = \"a.txt\"\nspeed = 9.0\n",
            &[],
            "out of range",
        ),
        (
            "m.toml",
            "[[documents]]\npath = \"a.txt\"\n",
            &[],
            "unknown field",
        ),
        ("m.txt", "a.txt\n", &["--shard", "3/3"], "below the count"),
        ("m.txt", "a.txt\n", &["--shards", "3"], "without an index"),
        ("m.txt", "a.txt\n", &["--split-output", "x"], "--split"),
        ("m.txt", "../../x.txt\n", &[], "outside"),
    ];
    for (name, text, extra, expect) in cases {
        let manifest = dir.path().join(name);
        std::fs::write(&manifest, text).unwrap();
        let o = kokoro()
            .args(["batch", manifest.to_str().unwrap(), "--out"])
            .arg(dir.path().join("out"))
            .args(*extra)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(!o.status.success(), "{text:?} {extra:?} succeeded");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(expect), "{text:?} {extra:?}: {err}");
    }
    assert!(!dir.path().join("out").exists());
}

#[cfg(feature = "model-tests")]
mod model {
    use std::path::PathBuf;
    use std::process::Stdio;

    use super::*;

    /// A small library: two plain texts on a shelf, a Markdown book of two
    /// chapters split into chapter files, and a text in another voice as FLAC.
    pub fn library(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir.join("shelf")).unwrap();
        let files = [
            ("shelf/a.txt", "The first document is short."),
            ("shelf/b.txt", "The second one is a little longer, but not by much."),
            (
                "book.md",
                "# One\n\nThe book begins on a quiet morning.\n\n# Two\n\nIt ends the same evening.\n",
            ),
            ("other.txt", "A third voice reads this one."),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let manifest = dir.join("library.toml");
        std::fs::write(
            &manifest,
            "[[document]]\npath = \"shelf/*.txt\"\n\n\
             [[document]]\npath = \"book.md\"\nsplit = true\n\n\
             [[document]]\npath = \"other.txt\"\nvoice = \"am_adam\"\nformat = \"flac\"\n",
        )
        .unwrap();
        manifest
    }

    /// Every file below `dir` (temporaries included), by path, with its bytes.
    pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(dir).unwrap().display().to_string();
                    files.insert(rel, std::fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    fn batch(manifest: &Path, out: &Path, extra: &[&str]) -> Command {
        let mut c = kokoro();
        c.args(["batch", manifest.to_str().unwrap(), "--out"])
            .arg(out)
            .args(extra)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .stdin(Stdio::null());
        c
    }

    fn summary(o: &Output) -> serde_json::Value {
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
    }

    #[test]
    fn a_batch_killed_at_random_points_reruns_to_the_same_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = library(dir.path());
        let whole = dir.path().join("whole");
        let started = std::time::Instant::now();
        let o = batch(&manifest, &whole, &["--json"]).output().unwrap();
        let full = started.elapsed();
        assert!(o.status.success(), "{}", stderr(&o));
        let s = summary(&o);
        assert_eq!(
            (s["done"].as_u64(), s["failed"].as_u64()),
            (Some(4), Some(0)),
            "{s}"
        );
        assert!(s["audio_hours"].as_f64().unwrap() > 0.0);
        let expected = tree(&whole);
        let names: Vec<&str> = expected.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                ".other.flac.kokoro-done",
                "book/.kokoro-done.toml",
                "book/001-one.wav",
                "book/002-two.wav",
                "other.flac",
                "shelf/.a.wav.kokoro-done",
                "shelf/.b.wav.kokoro-done",
                "shelf/a.wav",
                "shelf/b.wav",
            ]
        );

        // Killed three times, each after 10% to 50% of the whole run's time,
        // drawn from the clock (printed, so that a failure can be retraced),
        // then run to the end.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        eprintln!("kill points drawn from seed {seed}");
        let mut state = seed | 1;
        let killed = dir.path().join("killed");
        for _ in 0..3 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = full.mul_f64(0.1 + 0.4 * ((state >> 33) as f64 / (1u64 << 31) as f64));
            let mut child = batch(&manifest, &killed, &[])
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(at);
            let _ = child.kill();
            child.wait().unwrap();
            eprintln!(
                "killed after {at:?}: {:?}",
                tree(&killed).keys().collect::<Vec<_>>()
            );
        }
        let o = batch(&manifest, &killed, &["--json"]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let s = summary(&o);
        assert_eq!(
            s["done"].as_u64().unwrap() + s["skipped"].as_u64().unwrap(),
            4,
            "{s}"
        );
        let got = tree(&killed);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "the rerun's files (no temporaries left)"
        );
        for (name, bytes) in &expected {
            assert!(
                got[name] == *bytes,
                "{name} differs from the uninterrupted run's"
            );
        }

        // A third run finds everything done and opens no engine.
        let o = batch(&manifest, &killed, &["--json"]).output().unwrap();
        let s = summary(&o);
        assert_eq!(s["skipped"].as_u64(), Some(4), "{s}");
        assert_eq!(tree(&killed), expected);
    }

    #[test]
    fn a_failed_document_stops_nothing_and_sets_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.txt"), "This one is fine.").unwrap();
        std::fs::write(dir.path().join("binary.txt"), b"\xff\xfe\x00 not text").unwrap();
        std::fs::write(dir.path().join("voice.txt"), "Spoken by nobody.").unwrap();
        let manifest = dir.path().join("library.json");
        std::fs::write(
            &manifest,
            r#"[{"path": "binary.txt"}, {"path": "voice.txt", "voice": "af_nobody"},
                {"path": "missing.txt"}, {"path": "good.txt"}]"#,
        )
        .unwrap();
        let out = dir.path().join("out");
        let o = batch(&manifest, &out, &["--json"]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("3 of 4 document(s) failed"), "{err}");
        let s = summary(&o);
        assert_eq!(
            (s["done"].as_u64(), s["failed"].as_u64()),
            (Some(1), Some(3)),
            "{s}"
        );
        let errors: Vec<(&str, &str)> = s["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| Some((o["path"].as_str()?, o["error"].as_str()?)))
            .collect();
        assert_eq!(errors.len(), 3);
        for (path, e) in errors {
            let expect = match path {
                "binary.txt" => "not valid UTF-8",
                "voice.txt" => "af_nobody",
                "missing.txt" => "missing.txt",
                other => panic!("{other} failed"),
            };
            assert!(e.contains(expect), "{path}: {e}");
        }
        let names: Vec<String> = tree(&out).into_keys().collect();
        assert_eq!(names, [".good.wav.kokoro-done", "good.wav"]);
    }

    /// A single-node Slurm cluster in a temporary directory: munged,
    /// slurmctld and slurmd from Debian's `munge` and `slurm-wlm`, on free
    /// ports, stopped when dropped.
    struct Cluster {
        dir: tempfile::TempDir,
        daemons: Vec<std::process::Child>,
    }

    impl Cluster {
        /// `Err(reason)` where a cluster cannot start here.
        fn start() -> Result<Cluster, String> {
            for tool in ["munged", "mungekey", "slurmctld", "slurmd", "sbatch"] {
                let found = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
                    .iter()
                    .any(|d| Path::new(d).join(tool).exists());
                if !found {
                    return Err(format!(
                        "{tool} is not installed (Debian's munge and slurm-wlm; .ci/run installs them)"
                    ));
                }
            }
            let uid = Command::new("id")
                .arg("-u")
                .output()
                .map_err(|e| e.to_string())?;
            if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
                return Err("slurmd must run as root, and this test is not root".into());
            }
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let d = dir.path().to_str().unwrap().to_string();
            for sub in ["state", "spool"] {
                std::fs::create_dir(dir.path().join(sub)).unwrap();
            }
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
            let host = host.trim().split('.').next().unwrap().to_string();
            let port = || {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            };
            let (ctld_port, d_port) = (port(), port());
            let conf = format!(
                "ClusterName=kokorotest\nSlurmctldHost={host}(127.0.0.1)\n\
                 SlurmctldPort={ctld_port}\nSlurmdPort={d_port}\n\
                 AuthType=auth/munge\nAuthInfo=socket={d}/munge.socket\nCredType=cred/munge\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
                 SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
                 ReturnToService=2\nSlurmUser=root\nSlurmdUser=root\n\
                 StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
                 SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
                 JobCompType=jobcomp/none\nAccountingStorageType=accounting_storage/none\nMpiDefault=none\n\
                 NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN\n\
                 PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
            );
            std::fs::write(dir.path().join("slurm.conf"), conf).unwrap();
            let key = dir.path().join("munge.key");
            let made = Command::new("mungekey")
                .arg("--create")
                .arg(format!("--keyfile={}", key.display()))
                .status()
                .map_err(|e| e.to_string())?;
            if !made.success() {
                return Err("mungekey could not make a key".into());
            }
            let mut cluster = Cluster {
                dir,
                daemons: Vec::new(),
            };
            let spawn = |c: &mut Command| c.stdout(Stdio::null()).stderr(Stdio::null()).spawn();
            let munged = spawn(Command::new("munged").args([
                "--foreground",
                "--force",
                &format!("--key-file={d}/munge.key"),
                &format!("--socket={d}/munge.socket"),
                &format!("--pid-file={d}/munged.pid"),
                &format!("--log-file={d}/munged.log"),
                &format!("--seed-file={d}/munge.seed"),
            ]))
            .map_err(|e| format!("munged: {e}"))?;
            cluster.daemons.push(munged);
            cluster.wait_for(&format!("{d}/munge.socket"))?;
            for daemon in ["slurmctld", "slurmd"] {
                let child = spawn(
                    Command::new(daemon)
                        .args(["-D", "-f", &format!("{d}/slurm.conf")])
                        .env("SLURM_CONF", format!("{d}/slurm.conf")),
                )
                .map_err(|e| format!("{daemon}: {e}"))?;
                cluster.daemons.push(child);
            }
            // Up when the node is idle.
            let started = std::time::Instant::now();
            loop {
                let o = cluster.command("sinfo").args(["-h", "-o", "%t"]).output();
                if o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle") {
                    return Ok(cluster);
                }
                if started.elapsed().as_secs() > 60 {
                    return Err(format!(
                        "the cluster did not come up in 60 s: {}",
                        std::fs::read_to_string(format!("{d}/slurmd.log")).unwrap_or_default()
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        }

        fn wait_for(&self, path: &str) -> Result<(), String> {
            for _ in 0..100 {
                if Path::new(path).exists() {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(format!("{path} did not appear"))
        }

        /// A Slurm client command against this cluster.
        fn command(&self, name: &str) -> Command {
            let mut c = Command::new(name);
            c.env("SLURM_CONF", self.dir.path().join("slurm.conf"));
            c
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            let _ = self.command("scancel").arg("--user=root").status();
            // SIGTERM first: slurmctld then stops the helper it forked.
            for d in self.daemons.iter_mut().rev() {
                let _ = Command::new("kill")
                    .args(["-TERM", &d.id().to_string()])
                    .status();
                let started = std::time::Instant::now();
                while d.try_wait().ok().flatten().is_none() && started.elapsed().as_secs() < 15 {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                let _ = d.kill();
                let _ = d.wait();
            }
        }
    }

    #[test]
    fn a_slurm_job_array_of_three_shards_speaks_the_library() {
        let cluster = match Cluster::start() {
            Ok(c) => c,
            Err(reason) => {
                eprintln!("skipped: no Slurm cluster can start here: {reason}");
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let manifest = library(dir.path());
        let out = dir.path().join("out");
        let script = dir.path().join("speak.sh");
        // Each task finds its shard in SLURM_ARRAY_TASK_ID and _COUNT.
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec {} batch {} --out {} --threads 1 --max-workers 1 --json\n",
                env!("CARGO_BIN_EXE_kokoro"),
                manifest.display(),
                out.display()
            ),
        )
        .unwrap();
        let logs = dir.path().join("task-%a.json");
        let o = cluster
            .command("sbatch")
            .args(["--wait", "--array=0-2", "--cpus-per-task=1"])
            .arg(format!("--output={}", logs.display()))
            .arg("--error=/dev/null")
            .arg(format!("--chdir={}", dir.path().display()))
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "sbatch: {}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
        let mut seen = BTreeMap::new();
        for task in 0..3 {
            let path = dir.path().join(format!("task-{task}.json"));
            let text = std::fs::read_to_string(&path).unwrap();
            let s: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                s["shard"].as_str(),
                Some(format!("{task}/3").as_str()),
                "{s}"
            );
            assert_eq!(s["failed"].as_u64(), Some(0), "{s}");
            for o in s["outcomes"].as_array().unwrap() {
                let doc = o["path"].as_str().unwrap().to_string();
                assert!(seen.insert(doc, task).is_none(), "a document in two shards");
            }
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        let names: Vec<String> = tree(&out).into_keys().collect();
        for expect in [
            "shelf/a.wav",
            "shelf/b.wav",
            "book/001-one.wav",
            "book/002-two.wav",
            "other.flac",
        ] {
            assert!(
                names.iter().any(|n| n == expect),
                "{expect} missing: {names:?}"
            );
        }
        drop(cluster);
    }
}
