//! Resolving what to run for a function: its `fprocess` (or its bundle's), working folder, environment and
//! mode, with the executable checked before anything is deployed, and whether it can be prebaked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sedge_core::{FunctionSpec, Mode};

use super::prebake::ForkServer;
use crate::bundle;
use crate::provider::ProviderError;

/// Variables of sedge's own environment that functions see; everything else (credentials included) is not
/// passed on.
const PASSED_THROUGH: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"];

/// Environment variable holding the folder with the function's secrets (one file per secret, mode 0600).
pub const SECRETS_DIR_ENV: &str = "SEDGE_SECRETS_DIR";

/// Environment variable that turns prebaking off for a function when `false` (or `0`, `no`, `off`).
pub const PREBAKE_ENV: &str = "SEDGE_PREBAKE";

/// The function's own `name.namespace`, set for every process (what `sedge.register_model` records as creator).
pub const FUNCTION_NAME_ENV: &str = "SEDGE_FUNCTION_NAME";
/// Annotation with the same effect as [`PREBAKE_ENV`].
pub const PREBAKE_ANNOTATION: &str = "com.sedge.prebake";
/// Bundle templates whose `index.py` a fork server can import.
const PREBAKE_LANGS: &[&str] = &["python3", "python3-http"];

/// Whether a function's processes start from a fork server (see [`super::prebake`]).
#[derive(Debug, Clone, Default)]
pub enum Prebake {
    /// Every process starts the plain way.
    #[default]
    Off,
    /// A python3 / python3-http bundle run by its own interpreter, not opted out: a server may be started.
    Possible,
    /// A running fork server.
    Running(Arc<ForkServer>),
}

/// A function's command, resolved and checked.
#[derive(Debug, Clone)]
pub struct Command {
    /// Program (absolute path) and arguments.
    pub argv: Vec<String>,
    /// Working folder: the bundle, or the function's run folder.
    pub cwd: PathBuf,
    /// Environment for every process of this function (CGI variables are added per call).
    pub env: Vec<(String, String)>,
    /// Fork or http.
    pub mode: Mode,
    /// Http mode: readiness path.
    pub ready_path: Option<String>,
    /// Folder with the secret files.
    pub secrets_dir: PathBuf,
    /// Fork server use: [`resolve`] sets `Off` or `Possible`, the provider turns `Possible` into `Running`.
    pub prebake: Prebake,
}

impl Command {
    /// The running fork server, if this function has one.
    pub fn fork_server(&self) -> Option<&Arc<ForkServer>> {
        match &self.prebake {
            Prebake::Running(server) => Some(server),
            Prebake::Off | Prebake::Possible => None,
        }
    }
}

/// The run folder of a function: `<state>/run/<namespace>/<name>`.
pub fn run_dir(state_dir: &Path, spec: &FunctionSpec) -> PathBuf {
    state_dir.join("run").join(&spec.name.namespace).join(&spec.name.name)
}

/// Resolves `spec` against the bundles in `state_dir` and this machine's `PATH`. `platform` variables (the
/// gateway's URL and API token) come last, with [`FUNCTION_NAME_ENV`], so a function's own cannot mask them.
pub fn resolve(spec: &FunctionSpec, state_dir: &Path, platform: &[(String, String)]) -> Result<Command, ProviderError> {
    let image = &spec.deployment.image;
    let found = bundle::load(state_dir, image)
        .map_err(|e| ProviderError::Invalid(format!("bundle for image {image:?} is unreadable: {e}")))?;
    let run_dir = run_dir(state_dir, spec);
    let lang = found.as_ref().map(|(_, manifest)| manifest.lang.clone());
    let (argv, cwd, bundle_env, bundle_mode, bundle_ready) = match (&spec.process, found) {
        (Some(argv), bundle) => {
            let cwd = bundle.as_ref().map(|(dir, _)| dir.clone()).unwrap_or_else(|| run_dir.clone());
            (argv.clone(), cwd, BTreeMap::new(), None, None)
        }
        (None, Some((dir, manifest))) => {
            let mode = match manifest.mode.as_str() {
                "http" => Mode::Http,
                _ => Mode::Fork,
            };
            (sedge_core::spec::split_process(&manifest.fprocess), dir, manifest.env, Some(mode), manifest.ready_path)
        }
        (None, None) => {
            return Err(ProviderError::Invalid(format!(
                "function {}: no fprocess given and no bundle built for image {image:?}: run `sedge build` for it, or set fprocess to an executable",
                spec.name
            )));
        }
    };
    let Some(program) = argv.first() else {
        return Err(ProviderError::Invalid(format!("function {}: fprocess is empty", spec.name)));
    };
    let program = find_executable(program, &cwd).map_err(|tried| {
        ProviderError::Invalid(format!("function {}: executable {program:?} not found (tried {tried})", spec.name))
    })?;
    let argv: Vec<String> =
        std::iter::once(program.to_string_lossy().into_owned()).chain(argv[1..].iter().cloned()).collect();
    let prebake =
        if prebakeable(lang.as_deref(), &argv) && !opted_out(spec) { Prebake::Possible } else { Prebake::Off };

    let secrets_dir = run_dir.join("secrets");
    let mut env: BTreeMap<String, String> =
        PASSED_THROUGH.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))).collect();
    env.extend(bundle_env);
    env.extend(spec.env().clone());
    env.insert(SECRETS_DIR_ENV.to_string(), secrets_dir.to_string_lossy().into_owned());
    env.extend(platform.iter().cloned());
    env.insert(FUNCTION_NAME_ENV.to_string(), spec.name.to_string());
    Ok(Command {
        argv,
        cwd,
        env: env.into_iter().collect(),
        mode: spec.mode.or(bundle_mode).unwrap_or(Mode::Fork),
        ready_path: spec.ready_path.clone().or(bundle_ready),
        secrets_dir,
        prebake,
    })
}

/// A python3 / python3-http bundle run as the template runs it: `<python> index.py`.
fn prebakeable(lang: Option<&str>, argv: &[String]) -> bool {
    let python = argv.first().and_then(|p| Path::new(p).file_name()).and_then(|n| n.to_str());
    lang.is_some_and(|l| PREBAKE_LANGS.contains(&l))
        && argv.len() == 2
        && argv[1] == "index.py"
        && python.is_some_and(|n| n.starts_with("python"))
}

/// `SEDGE_PREBAKE=false` in the env or `com.sedge.prebake: "false"` as an annotation.
fn opted_out(spec: &FunctionSpec) -> bool {
    let off = |v: &String| matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no" | "off");
    spec.env().get(PREBAKE_ENV).is_some_and(off)
        || spec.deployment.annotations.as_ref().and_then(|a| a.get(PREBAKE_ANNOTATION)).is_some_and(off)
}

/// Finds `program` as a shell would (a name with `/` relative to `cwd`, otherwise on `PATH`); on failure
/// returns the places tried.
fn find_executable(program: &str, cwd: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let is_executable =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = cwd.join(program);
        return if is_executable(&path) { Ok(path) } else { Err(path.display().to_string()) };
    }
    let search = std::env::var("PATH").unwrap_or_default();
    search
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("PATH={search}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sedge_core::api::FunctionDeployment;

    fn spec(fprocess: Option<&str>, image: &str) -> FunctionSpec {
        FunctionSpec::try_from(FunctionDeployment {
            service: "f".into(),
            image: image.into(),
            env_process: fprocess.map(str::to_string),
            env_vars: Some([("SECRET_TOKEN".to_string(), "x".to_string())].into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn finds_programs_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = resolve(&spec(Some("cat -n"), "anything"), dir.path(), &[]).unwrap();
        assert!(cmd.argv[0].ends_with("/cat"), "{:?}", cmd.argv);
        assert_eq!(cmd.argv[1], "-n");
        assert_eq!(cmd.mode, Mode::Fork);
        assert!(cmd.env.iter().any(|(k, v)| k == "SECRET_TOKEN" && v == "x"));
        assert!(cmd.env.iter().any(|(k, _)| k == SECRETS_DIR_ENV));
    }

    #[test]
    fn missing_executables_name_the_path_tried() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve(&spec(Some("./nope.sh"), "x"), dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("executable \"./nope.sh\" not found (tried /"), "{e}");
        let e = resolve(&spec(Some("no-such-program-xyz"), "x"), dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("PATH="), "{e}");
        let e = resolve(&spec(None, "ghost:latest"), dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("no bundle built for image \"ghost:latest\""), "{e}");
    }

    #[test]
    fn bundles_provide_command_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let bdir = bundle::bundle_dir(dir.path(), "web:1");
        std::fs::create_dir_all(&bdir).unwrap();
        let manifest = sedge_core::bundle::BundleManifest {
            image: "web:1".into(),
            lang: "python3-http".into(),
            fprocess: "python3 index.py".into(),
            mode: "http".into(),
            ready_path: Some("/_/health".into()),
            env: Default::default(),
        };
        std::fs::write(bdir.join("bundle.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
        let cmd = resolve(&spec(None, "web:1"), dir.path(), &[]).unwrap();
        assert_eq!(cmd.mode, Mode::Http);
        assert_eq!(cmd.cwd, bdir);
        assert_eq!(cmd.ready_path.as_deref(), Some("/_/health"));
        assert_eq!(cmd.argv[1], "index.py");
        assert!(matches!(cmd.prebake, Prebake::Possible), "python3-http bundles can be prebaked");

        let mut opted = spec(None, "web:1");
        opted.deployment.env_vars = Some([(PREBAKE_ENV.to_string(), "false".to_string())].into());
        assert!(matches!(resolve(&opted, dir.path(), &[]).unwrap().prebake, Prebake::Off));
        let mut annotated = spec(None, "web:1");
        annotated.deployment.annotations = Some([(PREBAKE_ANNOTATION.to_string(), "False".to_string())].into());
        assert!(matches!(resolve(&annotated, dir.path(), &[]).unwrap().prebake, Prebake::Off));
        let custom = spec(Some("python3 -u index.py"), "web:1");
        assert!(matches!(resolve(&custom, dir.path(), &[]).unwrap().prebake, Prebake::Off), "own fprocess: plain");
        assert!(matches!(resolve(&spec(Some("cat"), "x"), dir.path(), &[]).unwrap().prebake, Prebake::Off));
    }
}
