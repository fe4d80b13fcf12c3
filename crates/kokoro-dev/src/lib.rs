//! Development helpers shared by the workspace's tests, `xtask` and fuzz
//! targets, never by its libraries: the real Python clients and checkers that
//! tests and benchmarks drive (`openai`, `wyoming`, `wyoming-bench`,
//! `kubernetes-validate`), each pinned, in a virtual environment of its own;
//! and the fuzz targets ([`fuzz`]).

pub mod books;
pub mod ear;
pub mod fuzz;
pub mod logmel;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python interpreter with `package` (pinned, `name==version`) installed, in
/// a virtual environment `NAME-venv` under `dir`, made on first use with
/// `python3 -m venv` and pip and reused after (a `PACKAGE.ready` file marks it
/// complete, so an interrupted install is made again).
///
/// # Errors
/// What could not be done, in words: no `python3 -m venv`, or pip failing.
pub fn python_with(dir: &Path, package: &str) -> Result<PathBuf, String> {
    let name = package.split("==").next().unwrap_or(package);
    python_with_all(dir, name, &[package])
}

/// [`python_with`] for several packages, in a virtual environment
/// `NAME-venv`.
///
/// # Errors
/// What could not be done, in words.
pub fn python_with_all(dir: &Path, name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let package = packages.join(" ");
    let venv = dir.join(format!("{name}-venv"));
    let python = venv.join("bin/python");
    let ready = venv.join(format!("{}.ready", packages.join("+")));
    if ready.is_file() {
        return Ok(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return Err(format!(
            "cannot make a virtual environment (python3 -m venv) for {package} in {}",
            venv.display()
        ));
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet"])
        .args(packages)
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        return Err(format!("cannot install {package} with pip"));
    }
    std::fs::write(&ready, "").map_err(|e| format!("{}: {e}", ready.display()))?;
    Ok(python)
}
