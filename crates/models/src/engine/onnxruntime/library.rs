//! Finding and loading the onnxruntime shared library, once per process.
//!
//! `ort` is built with `load-dynamic` only: nothing is downloaded or linked at build time, the library is
//! `dlopen`ed at run time. Both the loaded library and ort's environment are process-global, so the first
//! successful [`ort_library`] call wins: later calls return the same path, and asking for a different file is an
//! error (a process cannot hold two onnxruntime versions).
//!
//! Where the library is looked for, in order, stopping at the first that loads:
//! 1. the explicit path given by the caller ([`super::OrtOptions::library`]), and then nothing else;
//! 2. the file named by the `ORT_DYLIB_PATH` environment variable;
//! 3. the `onnxruntime` package of the `python3` on `PATH`: `capi/libonnxruntime.so*` in its directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock, PoisonError};

use ort::environment::Environment;

/// The loaded library and the environment sessions are created in; set once, never dropped.
struct Loaded {
    path: PathBuf,
    environment: Environment,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// Serialises load attempts, so that two threads never `dlopen` different candidates at once.
static LOADING: Mutex<()> = Mutex::new(());

/// Finds and loads the onnxruntime shared library (see the module docs for where it is looked for) and creates
/// ort's process-wide environment; returns the path of the loaded library.
///
/// With `explicit`, only that file is tried; if a library is already loaded from another file, that is an error.
/// Without it, an already loaded library is returned as is. The error lists every place tried and why each failed.
pub fn ort_library(explicit: Option<&Path>) -> Result<&'static Path, String> {
    loaded(explicit).map(|l| l.path.as_path())
}

/// The loaded library and the environment sessions are created in, loading the library as [`ort_library`] does.
pub(super) fn environment(explicit: Option<&Path>) -> Result<(&'static Path, &'static Environment), String> {
    loaded(explicit).map(|l| (l.path.as_path(), &l.environment))
}

/// [`ort_library`]'s work: the loaded library, loading it on first use.
fn loaded(explicit: Option<&Path>) -> Result<&'static Loaded, String> {
    if let Some(path) = explicit
        && !path.is_file()
    {
        return Err(format!("onnxruntime library {}: no such file", path.display()));
    }
    let _guard = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(loaded) = LOADED.get() {
        return match explicit {
            Some(path) if !same_file(path, &loaded.path) => Err(format!(
                "cannot load onnxruntime from {}: this process already loaded {}",
                path.display(),
                loaded.path.display()
            )),
            _ => Ok(loaded),
        };
    }
    let candidates = match explicit {
        Some(path) => vec![Ok(path.to_path_buf())],
        None => candidates(),
    };
    let mut tried = Vec::new();
    for candidate in candidates {
        match candidate.and_then(|path| load(&path).map_err(|e| format!("{}: {e}", path.display()))) {
            Ok(loaded) => return Ok(LOADED.get_or_init(|| loaded)),
            Err(why) => tried.push(why),
        }
    }
    Err(format!("onnxruntime library not found; tried: {}", tried.join("; ")))
}

/// The places to look without an explicit path: each a path to try, or why that place gave none.
fn candidates() -> Vec<Result<PathBuf, String>> {
    let from_env = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err("ORT_DYLIB_PATH: not set".to_owned()),
    };
    let from_python = python_library().map_err(|e| format!("python3's onnxruntime package: {e}"));
    vec![from_env, from_python]
}

/// The library inside the `onnxruntime` Python package of `python3` on `PATH`.
pub(super) fn python_library() -> Result<PathBuf, String> {
    let script = "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))";
    let output = Command::new("python3").args(["-c", script]).output().map_err(|e| format!("python3: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no output").trim();
        return Err(format!("cannot import onnxruntime ({last})"));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("capi");
    find_in(&dir)
}

/// The `libonnxruntime.so*` (or `.dylib`) file in `dir`; the shortest name when there are several.
pub(super) fn find_in(dir: &Path) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("libonnxruntime.so") || (name.starts_with("libonnxruntime") && name.ends_with(".dylib"))
        })
        .collect();
    found.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
    found.into_iter().next().ok_or_else(|| format!("no libonnxruntime.so* in {}", dir.display()))
}

/// `dlopen`s `path` (ort checks its API version) and creates the environment: no telemetry, no global thread pool
/// (each session sizes its own).
fn load(path: &Path) -> Result<Loaded, String> {
    if !path.is_file() {
        return Err("no such file".to_owned());
    }
    let builder = ort::init_from(path).map_err(|e| e.to_string())?;
    let environment = builder.with_name("sedge").with_telemetry(false).build().map_err(|e| e.to_string())?;
    Ok(Loaded { path: path.to_path_buf(), environment })
}

/// Whether `a` and `b` name the same file (after resolving links; by name when either cannot be resolved).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
