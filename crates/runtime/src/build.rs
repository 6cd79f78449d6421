//! Building bundles from handler folders and templates (`sedge build`).
//!
//! [`build_bundle`] stages a bundle in `<bundles>/.tmp-<key>-<pid>`: the template's files, the user's handler
//! folder under `function/`, a `venv/` with the handler's requirements when it lists any, and `bundle.json`.
//! Only a complete bundle replaces the old one: the old folder is renamed away, the new one renamed in, and the
//! old one deleted, so a running replica never sees a half-written bundle and a failed build leaves the previous
//! bundle in place. This is blocking code (file copies, `pip`): async callers run it in `spawn_blocking`.
//! See `sedge_core::bundle` for the layout the runtime reads.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use sedge_core::bundle::{BundleManifest, MANIFEST_FILE, image_key};

use crate::bundle::bundles_dir;
use crate::templates::{self, Template};

/// Folder and file names the copy of a handler folder leaves out.
const SKIPPED: &[&str] = &["__pycache__", ".git"];

/// Why a bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `lang` names no template sedge ships.
    #[error("unknown lang {lang:?}: sedge ships these templates: {known}")]
    UnknownLang {
        /// The `lang` asked for.
        lang: String,
        /// The template names, comma-separated.
        known: String,
    },
    /// The handler folder does not exist or is not a folder.
    #[error("handler folder {} not found: check `handler:` in the stack file, or create it with `sedge new`", .0.display())]
    MissingHandler(PathBuf),
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "could not copy".
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `python3 -m venv` or `pip install` could not start or failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status or the reason it could not start.
        detail: String,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BuildError + 'a {
    move |source| BuildError::Io { what, path: path.to_path_buf(), source }
}

/// Builds the bundle for `image` from `handler_dir` with the template `lang`, replacing any bundle built
/// before, and returns its manifest. `progress` receives one line per step and each line `pip` writes.
pub fn build_bundle(
    state_dir: &Path,
    image: &str,
    lang: &str,
    handler_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<BundleManifest, BuildError> {
    let template = templates::find(lang)
        .ok_or_else(|| BuildError::UnknownLang { lang: lang.to_string(), known: templates::names() })?;
    if !handler_dir.is_dir() {
        return Err(BuildError::MissingHandler(handler_dir.to_path_buf()));
    }
    let bundles = bundles_dir(state_dir);
    fs::create_dir_all(&bundles).map_err(io_err("could not create", &bundles))?;
    let bundles = std::path::absolute(&bundles).map_err(io_err("could not resolve", &bundles))?;
    let key = image_key(image);
    let final_dir = bundles.join(&key);
    let staging = Staging::create(bundles.join(format!(".tmp-{key}-{}", std::process::id())))?;

    progress(&format!("Building {image} from {} with template {lang}", handler_dir.display()));
    let manifest = stage(&staging.0, &final_dir, image, template, handler_dir, progress)?;
    swap_in(staging, &final_dir, &bundles.join(format!(".old-{key}-{}", std::process::id())))?;
    progress(&format!("Bundle written to {}", final_dir.display()));
    Ok(manifest)
}

/// Fills the staging folder and writes the manifest for a bundle that will live at `final_dir`.
fn stage(
    dir: &Path,
    final_dir: &Path,
    image: &str,
    template: &Template,
    handler_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<BundleManifest, BuildError> {
    for (rel, content) in template.files {
        write_file(&dir.join(rel), content)?;
    }
    let function = dir.join("function");
    copy_tree(handler_dir, &function, progress)?;
    let init = function.join("__init__.py");
    if !init.exists() {
        write_file(&init, "")?;
    }

    let requirements = function.join("requirements.txt");
    let venv_python = if has_requirements(&requirements)? {
        progress("Installing requirements.txt into a virtual environment");
        run(Command::new("python3").args(["-m", "venv", "venv"]).current_dir(dir), progress)?;
        // `python -m pip` rather than `venv/bin/pip`: the pip script's shebang breaks on long paths.
        let mut pip = Command::new(dir.join("venv/bin/python3"));
        pip.args(["-m", "pip", "install", "--disable-pip-version-check", "-r", "function/requirements.txt"]);
        run(pip.current_dir(dir), progress)?;
        Some(final_dir.join("venv").join("bin").join("python3"))
    } else {
        None
    };

    let manifest = BundleManifest {
        image: image.to_string(),
        lang: template.name.to_string(),
        fprocess: template.fprocess_for(venv_python.as_deref()),
        mode: template.mode.to_string(),
        ready_path: template.ready_path.map(str::to_string),
        env: template.env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| BuildError::Io {
        what: "could not encode",
        path: dir.join(MANIFEST_FILE),
        source: e.into(),
    })?;
    write_file(&dir.join(MANIFEST_FILE), &json)?;
    Ok(manifest)
}

/// True when `requirements.txt` exists and has a line that is neither blank nor a comment.
fn has_requirements(path: &Path) -> Result<bool, BuildError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::trim).any(|l| !l.is_empty() && !l.starts_with('#'))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("could not read", path)(e)),
    }
}

fn write_file(path: &Path, content: &str) -> Result<(), BuildError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err("could not create", parent))?;
    }
    fs::write(path, content).map_err(io_err("could not write", path))
}

/// Copies `from` into `to` recursively, leaving out [`SKIPPED`] names. Symbolic links to files are copied as
/// files; links to folders are left out (they could loop), with a note.
fn copy_tree(from: &Path, to: &Path, progress: &mut dyn FnMut(&str)) -> Result<(), BuildError> {
    fs::create_dir_all(to).map_err(io_err("could not create", to))?;
    for entry in fs::read_dir(from).map_err(io_err("could not read", from))? {
        let entry = entry.map_err(io_err("could not read", from))?;
        let name = entry.file_name();
        if SKIPPED.iter().any(|s| name == *s) {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        let link = entry.file_type().map_err(io_err("could not read", &src))?.is_symlink();
        let meta = fs::metadata(&src).map_err(io_err("could not read", &src))?;
        if meta.is_dir() && link {
            progress(&format!("Skipping {}: a link to a folder", src.display()));
        } else if meta.is_dir() {
            copy_tree(&src, &dst, progress)?;
        } else if meta.is_file() {
            fs::copy(&src, &dst).map_err(io_err("could not copy", &src))?;
        }
    }
    Ok(())
}

/// Runs a command to completion, passing each line of its stdout and stderr to `progress` as it comes.
fn run(command: &mut Command, progress: &mut dyn FnMut(&str)) -> Result<(), BuildError> {
    let line = format!("{command:?}").replace('"', "");
    let fail = |detail: String| BuildError::Command { command: line.clone(), detail };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("could not start it ({e}); is python3 installed and on PATH?")))?;
    let (tx, rx) = mpsc::channel::<String>();
    let forward = |pipe: Box<dyn Read + Send>| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    };
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(forward(Box::new(out)));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(forward(Box::new(err)));
    }
    drop(tx);
    for line in rx {
        progress(&line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if status.success() { Ok(()) } else { Err(fail(status.to_string())) }
}

/// The staging folder; removed on drop unless it was renamed into place.
struct Staging(PathBuf);

impl Staging {
    fn create(path: PathBuf) -> Result<Self, BuildError> {
        if path.exists() {
            fs::remove_dir_all(&path).map_err(io_err("could not remove", &path))?;
        }
        fs::create_dir_all(&path).map_err(io_err("could not create", &path))?;
        Ok(Self(path))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Moves the staged bundle to `final_dir`: the old bundle (if any) is renamed to `old`, the new one renamed
/// in, then the old one deleted. If the second rename fails the old bundle is put back.
fn swap_in(staging: Staging, final_dir: &Path, old: &Path) -> Result<(), BuildError> {
    if old.exists() {
        fs::remove_dir_all(old).map_err(io_err("could not remove", old))?;
    }
    let had_old = final_dir.exists();
    if had_old {
        fs::rename(final_dir, old).map_err(io_err("could not move the old bundle", final_dir))?;
    }
    if let Err(e) = fs::rename(&staging.0, final_dir) {
        if had_old {
            let _ = fs::rename(old, final_dir);
        }
        return Err(io_err("could not move the new bundle into", final_dir)(e));
    }
    if had_old {
        // The new bundle is in place; a leftover old folder only wastes space.
        let _ = fs::remove_dir_all(old);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle;

    fn handler(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, content) in files {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        dir
    }

    fn build(state: &Path, image: &str, lang: &str, handler: &Path) -> Result<BundleManifest, BuildError> {
        let mut lines = Vec::new();
        let result = build_bundle(state, image, lang, handler, &mut |l| lines.push(l.to_string()));
        assert!(result.is_err() || lines.len() >= 2, "progress reports the start and the end: {lines:?}");
        result
    }

    fn leftovers(state: &Path) -> Vec<String> {
        fs::read_dir(bundles_dir(state))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    }

    #[test]
    fn builds_a_python3_bundle_that_load_finds() {
        let state = tempfile::tempdir().unwrap();
        let src = handler(&[
            ("handler.py", "def handle(req):\n    return req\n"),
            ("requirements.txt", "# nothing yet\n\n"),
            ("lib/util.py", "X = 1\n"),
            ("__pycache__/handler.cpython-311.pyc", "junk"),
            (".git/HEAD", "ref"),
        ]);
        let manifest = build(state.path(), "ghcr.io/me/echo:latest", "python3", src.path()).unwrap();
        let (dir, loaded) = bundle::load(state.path(), "ghcr.io/me/echo:latest").unwrap().unwrap();
        assert_eq!(loaded, manifest);
        assert_eq!(
            (loaded.image.as_str(), loaded.lang.as_str(), loaded.mode.as_str()),
            ("ghcr.io/me/echo:latest", "python3", "fork")
        );
        assert_eq!(loaded.fprocess, "python3 index.py");
        assert_eq!(loaded.ready_path, None);
        for present in ["index.py", "function/handler.py", "function/__init__.py", "function/lib/util.py"] {
            assert!(dir.join(present).is_file(), "{present} missing");
        }
        for absent in ["function/__pycache__", "function/.git", "venv"] {
            assert!(!dir.join(absent).exists(), "{absent} should not be there");
        }
        assert!(leftovers(state.path()).is_empty());
    }

    #[test]
    fn http_template_sets_mode_and_ready_path() {
        let state = tempfile::tempdir().unwrap();
        let src = handler(&[("handler.py", "def handle(event, context):\n    return 'x'\n")]);
        let m = build(state.path(), "web", "python3-http", src.path()).unwrap();
        assert_eq!((m.mode.as_str(), m.ready_path.as_deref()), ("http", Some("/_/health")));
        assert_eq!(m.env.get("PYTHONUNBUFFERED").map(String::as_str), Some("1"));
    }

    #[test]
    fn unknown_lang_lists_the_known_ones() {
        let state = tempfile::tempdir().unwrap();
        let src = handler(&[("handler.py", "")]);
        let e = build(state.path(), "x", "node18", src.path()).err().unwrap();
        assert!(matches!(e, BuildError::UnknownLang { .. }));
        assert_eq!(e.to_string(), "unknown lang \"node18\": sedge ships these templates: python3, python3-http");
    }

    #[test]
    fn missing_handler_names_the_path() {
        let state = tempfile::tempdir().unwrap();
        let missing = state.path().join("nope");
        let e = build(state.path(), "x", "python3", &missing).err().unwrap();
        assert!(matches!(e, BuildError::MissingHandler(_)));
        assert!(e.to_string().contains(&missing.display().to_string()), "{e}");
        assert!(bundle::load(state.path(), "x").unwrap().is_none());
    }

    #[test]
    fn rebuilding_replaces_the_old_bundle() {
        let state = tempfile::tempdir().unwrap();
        let first = handler(&[("handler.py", "# v1\n"), ("old.txt", "old")]);
        build(state.path(), "fn", "python3", first.path()).unwrap();
        let second = handler(&[("handler.py", "# v2\n")]);
        build(state.path(), "fn", "python3-http", second.path()).unwrap();
        let (dir, manifest) = bundle::load(state.path(), "fn").unwrap().unwrap();
        assert_eq!(manifest.lang, "python3-http");
        assert_eq!(fs::read_to_string(dir.join("function/handler.py")).unwrap(), "# v2\n");
        assert!(!dir.join("function/old.txt").exists());
        assert!(leftovers(state.path()).is_empty(), "{:?}", leftovers(state.path()));
    }

    #[test]
    fn requirements_detection_ignores_comments_and_blanks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requirements.txt");
        assert!(!has_requirements(&path).unwrap());
        fs::write(&path, "\n  # pinned later\n\n").unwrap();
        assert!(!has_requirements(&path).unwrap());
        fs::write(&path, "# models\nnumpy==2.0\n").unwrap();
        assert!(has_requirements(&path).unwrap());
    }
}
