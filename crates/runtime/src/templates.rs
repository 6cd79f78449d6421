//! The function templates sedge ships (`sedge new --lang …`), embedded in the binary.
//!
//! A template has two parts, as in OpenFaaS's template store: the files that go at the root of a bundle
//! (`index.py`, which imports the handler and talks to the watchdog) and the starter handler folder that
//! `sedge new` writes for the user (`handler.py`, `requirements.txt`, `__init__.py`). `sedge build` copies the
//! user's handler folder to `function/` inside the bundle, beside the template's files, so that
//! `from function import handler` works.
//!
//! The sources live in `crates/runtime/templates/<name>/` (`index.py` and `function/*`).
//!
//! - `python3`: fork mode (classic watchdog), `handle(req: str)`; stdin in, stdout out.
//! - `python3-http`: http mode (of-watchdog), `handle(event, context)`; a standard-library HTTP server on
//!   `127.0.0.1:$PORT` with `GET /_/health`.

use std::path::Path;

/// A language template: its files, the handler it starts users with, and how its bundles run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The name given as `lang` (`python3`, `python3-http`).
    pub name: &'static str,
    /// One line saying what it is, for listings and errors.
    pub description: &'static str,
    /// Files at the bundle's root: (path relative to the bundle, content).
    pub files: &'static [(&'static str, &'static str)],
    /// The starter handler folder `sedge new` writes: (path relative to the handler folder, content).
    pub handler_files: &'static [(&'static str, &'static str)],
    /// Process mode for the bundle manifest: `fork` or `http`.
    pub mode: &'static str,
    /// The command that runs the template, relative to the bundle folder, e.g. `python3 index.py`.
    pub fprocess: &'static str,
    /// Http mode: the path that answers 200 once the server is ready.
    pub ready_path: Option<&'static str>,
    /// Environment variables the bundle's process gets (the function's own win).
    pub env: &'static [(&'static str, &'static str)],
}

impl Template {
    /// The `fprocess` for a bundle: the template's command, with `python3` replaced by the virtual
    /// environment's interpreter when the bundle has one (an absolute path, so that it needs no `PATH`).
    pub fn fprocess_for(&self, venv_python: Option<&Path>) -> String {
        match (venv_python, self.fprocess.split_once(' ')) {
            (Some(python), Some((_, args))) => format!("{} {args}", python.display()),
            (Some(python), None) => python.display().to_string(),
            (None, _) => self.fprocess.to_string(),
        }
    }
}

const HANDLER_REQUIREMENTS: &str = include_str!("../templates/python3/function/requirements.txt");
const HANDLER_INIT: &str = include_str!("../templates/python3/function/__init__.py");
/// The `sedge` helper module (`register_model`, `promote`) beside every Python template's `index.py`.
const SEDGE_PY: &str = include_str!("../templates/sedge.py");

static TEMPLATES: [Template; 2] = [
    Template {
        name: "python3",
        description: "Python 3, fork mode: handle(req) gets the request body as text, returns the response",
        files: &[("index.py", include_str!("../templates/python3/index.py")), ("sedge.py", SEDGE_PY)],
        handler_files: &[
            ("handler.py", include_str!("../templates/python3/function/handler.py")),
            ("requirements.txt", HANDLER_REQUIREMENTS),
            ("__init__.py", HANDLER_INIT),
        ],
        mode: "fork",
        fprocess: "python3 index.py",
        ready_path: None,
        env: &[],
    },
    Template {
        name: "python3-http",
        description: "Python 3, http mode: handle(event, context) returns {statusCode, body, headers}",
        files: &[("index.py", include_str!("../templates/python3-http/index.py")), ("sedge.py", SEDGE_PY)],
        handler_files: &[
            ("handler.py", include_str!("../templates/python3-http/function/handler.py")),
            ("requirements.txt", include_str!("../templates/python3-http/function/requirements.txt")),
            ("__init__.py", include_str!("../templates/python3-http/function/__init__.py")),
        ],
        mode: "http",
        fprocess: "python3 index.py",
        ready_path: Some("/_/health"),
        env: &[("PYTHONUNBUFFERED", "1")],
    },
];

/// Every template, in a stable order.
pub fn all() -> &'static [Template] {
    &TEMPLATES
}

/// The template named `lang`, if sedge ships one.
pub fn find(lang: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == lang)
}

/// The names of all templates, comma-separated, for error messages.
pub fn names() -> String {
    TEMPLATES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn finds_both_python_templates() {
        assert_eq!(names(), "python3, python3-http");
        assert!(find("node18").is_none());
        for t in all() {
            assert_eq!(find(t.name), Some(t));
            assert!(!t.description.is_empty());
        }
    }

    #[test]
    fn every_template_has_an_index_and_a_full_handler_folder() {
        for t in all() {
            let index = t.files.iter().find(|(p, _)| *p == "index.py").map(|(_, c)| *c).unwrap_or_default();
            assert!(index.contains("from function import handler"), "{}", t.name);
            let handler_paths: Vec<_> = t.handler_files.iter().map(|(p, _)| *p).collect();
            assert_eq!(handler_paths, ["handler.py", "requirements.txt", "__init__.py"], "{}", t.name);
            assert!(t.handler_files[0].1.contains("def handle("), "{}", t.name);
            assert!(t.handler_files[1].1.trim().is_empty(), "starter requirements must be empty: {}", t.name);
        }
    }

    #[test]
    fn manifest_fields() {
        let fork = find("python3").unwrap();
        assert_eq!((fork.mode, fork.fprocess, fork.ready_path), ("fork", "python3 index.py", None));
        assert!(fork.handler_files[0].1.contains("def handle(req):"));
        let http = find("python3-http").unwrap();
        assert_eq!((http.mode, http.fprocess, http.ready_path), ("http", "python3 index.py", Some("/_/health")));
        assert!(http.handler_files[0].1.contains("def handle(event, context):"));
        let stdlib = ["json", "os", "signal", "socket", "sys", "traceback", "urllib", "http", "function"];
        for t in all() {
            for line in t.files[0].1.lines().filter(|l| l.starts_with("import ") || l.starts_with("from ")) {
                let module = line.split([' ', '.']).nth(1).unwrap_or_default();
                assert!(stdlib.contains(&module), "{}: {line:?} is not the standard library", t.name);
            }
        }
    }

    #[test]
    fn fprocess_uses_the_venv_python() {
        let t = find("python3").unwrap();
        assert_eq!(t.fprocess_for(None), "python3 index.py");
        let python = PathBuf::from("/state/bundles/fn/venv/bin/python3");
        assert_eq!(t.fprocess_for(Some(&python)), "/state/bundles/fn/venv/bin/python3 index.py");
    }
}
