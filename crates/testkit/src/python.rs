//! Python virtual environments for tests that need a Python package (e.g. onnxruntime's shared library), created
//! on first use under `<workspace>/target/test-venvs/<name>` with `python3 -m venv` and `pip install` of pinned
//! packages, then reused.
//!
//! A lock file per venv (`<name>.lock`, an exclusive `flock`) serialises creation between the threads and
//! processes of parallel test binaries; a marker file written last (`.sedge-packages`, the package list) says a
//! venv is complete. A venv whose marker is missing or lists other packages is deleted and created again.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

/// The onnxruntime release whose shared library the engine tests load: the version `ort` 2.0.0-rc.15's API
/// targets (ONNX Runtime 1.31).
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

/// The file in a venv listing the packages it was completed with.
const MARKER: &str = ".sedge-packages";

/// Where test venvs live: `<workspace>/target/test-venvs`.
pub fn venvs_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().and_then(Path::parent).unwrap_or(manifest);
    workspace.join("target").join("test-venvs")
}

/// The venv `name` with `packages` (each pinned, `pkg==version`) installed, creating it once; returns its
/// directory (`bin/python` inside). Safe to call from parallel tests and test binaries.
pub fn venv(name: &str, packages: &[&str]) -> anyhow::Result<PathBuf> {
    check_request(name, packages)?;
    let root = venvs_dir();
    let dir = root.join(name);
    let wanted = packages.join("\n");
    if is_complete(&dir, &wanted) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let lock_path = root.join(format!("{name}.lock"));
    let lock = File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    if is_complete(&dir, &wanted) {
        return Ok(dir); // another process finished it while this one waited
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing the incomplete venv {}", dir.display()))?;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir), "python3 -m venv")?;
    let python = dir.join("bin").join("python");
    let pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"];
    run(Command::new(&python).args(pip).args(packages), &format!("pip install {}", packages.join(" ")))?;
    std::fs::write(dir.join(MARKER), &wanted).with_context(|| format!("completing {}", dir.display()))?;
    Ok(dir)
}

/// The path of the `libonnxruntime.so*` of onnxruntime [`ONNXRUNTIME_VERSION`] from PyPI, installed in the venv
/// `onnxruntime-<version>` on first use.
pub fn onnxruntime_dylib() -> anyhow::Result<PathBuf> {
    let pin = format!("onnxruntime=={ONNXRUNTIME_VERSION}");
    let dir = venv(&format!("onnxruntime-{ONNXRUNTIME_VERSION}"), &[&pin])?;
    let script = "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))";
    let output = Command::new(dir.join("bin").join("python")).args(["-c", script]).output()?;
    ensure!(output.status.success(), "importing onnxruntime failed: {}", String::from_utf8_lossy(&output.stderr));
    let capi = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("capi");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&capi)
        .with_context(|| format!("listing {}", capi.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
        .collect();
    found.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
    found.into_iter().next().with_context(|| format!("no libonnxruntime.so* in {}", capi.display()))
}

/// Rejects venv names that are not a plain directory name and packages that are not pinned to one version.
fn check_request(name: &str, packages: &[&str]) -> anyhow::Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ensure!(plain, "venv name {name:?} must be a plain directory name");
    ensure!(!packages.is_empty(), "venv {name}: no packages given");
    for package in packages {
        let pinned = package.split_once("==").is_some_and(|(p, v)| !p.trim().is_empty() && !v.trim().is_empty());
        ensure!(pinned, "package {package:?} is not pinned: write `name==version`");
    }
    Ok(())
}

/// Whether `dir` is a venv completed with exactly the packages `wanted`.
fn is_complete(dir: &Path, wanted: &str) -> bool {
    std::fs::read_to_string(dir.join(MARKER)).is_ok_and(|listed| listed == wanted)
}

/// Runs `command`, failing with its output when it does not succeed.
fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("starting {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpinned_packages_and_odd_names_are_refused() {
        for (name, packages) in [
            ("ok", &["numpy"][..]),
            ("ok", &["numpy>=1"][..]),
            ("ok", &["==1.0"][..]),
            ("ok", &[][..]),
            ("../escape", &["numpy==2.0.0"][..]),
            ("a/b", &["numpy==2.0.0"][..]),
            ("..", &["numpy==2.0.0"][..]),
            ("", &["numpy==2.0.0"][..]),
        ] {
            assert!(venv(name, packages).is_err(), "{name:?} {packages:?} accepted");
        }
        check_request("onnxruntime-1.31.1", &["onnxruntime==1.31.1"]).expect("a pinned package is accepted");
    }

    #[test]
    fn venvs_live_under_the_workspace_target_dir() {
        let dir = venvs_dir();
        assert!(dir.ends_with("target/test-venvs"), "{}", dir.display());
        assert!(dir.parent().and_then(Path::parent).is_some_and(|w| w.join("Cargo.toml").is_file()));
    }

    #[test]
    fn onnxruntime_dylib_is_installed_once_and_found() {
        let first = onnxruntime_dylib().expect("onnxruntime installs from PyPI");
        assert!(first.is_file(), "{}", first.display());
        assert!(first.starts_with(venvs_dir()), "{}", first.display());
        assert_eq!(onnxruntime_dylib().expect("found again"), first);
    }
}
