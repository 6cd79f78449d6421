//! The CLI's subcommands, one module each (function-management calls share [`functions`]), and the options
//! they share: where the gateway is, where the state folder is, which stack file to read.
//!
//! # Layout
//! - [`new`]: `sedge new` — a handler folder from a template, appended to the stack file.
//! - [`build`]: `sedge build` — bundles for every function with a `lang`.
//! - [`deploy`]: `sedge deploy` — builds missing bundles and deploys through the gateway as faas-cli does.
//! - [`invoke`]: `sedge invoke` — calls a function, stdin to stdout.
//! - [`calls`]: `sedge calls` — asynchronous calls: list, show, result, cancel.
//! - [`functions`]: `list`, `describe`, `remove`, `scale`.
//! - [`models`]: `sedge models` — the model registry: push, list, show, pull, rm, promote.
//! - [`logs`], [`secret`], [`version`].
//! - [`bench`]: `sedge bench` — a load generator for any HTTP server, k6-style thresholds and reports.
//! - [`train`]: `sedge train gbdt|cnn|mlp|job` — trainers without Python, written as ONNX, `--register`ed.
//! - [`experiment`]: `sedge experiment` — the seeds' experiments, reports with the seed's figures beside sedge's.

pub mod bench;
pub mod build;
pub mod calls;
pub mod deploy;
pub mod experiment;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod models;
pub mod new;
pub mod secret;
pub mod train;
pub mod version;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::client::{Client, Credentials};

/// The gateway's URL in the environment of the functions sedge runs.
pub const FUNCTION_GATEWAY_ENV: &str = "SEDGE_GATEWAY_URL";
/// The bearer token the functions sedge runs may push models with.
pub const FUNCTION_TOKEN_ENV: &str = "SEDGE_API_TOKEN";

/// The gateway URL when neither `--gateway`, `SEDGE_GATEWAY`, `OPENFAAS_URL` nor the stack file gives one.
pub const DEFAULT_GATEWAY: &str = "http://127.0.0.1:8080";

/// The state folder option (`--state`, `SEDGE_STATE`).
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// State directory: bundles, secrets (the gateway's password is read from secrets/basic-auth-password).
    #[arg(long, env = "SEDGE_STATE", default_value = ".sedge")]
    pub state: PathBuf,
}

/// Where the gateway is and how to log in to it.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Gateway URL [env: SEDGE_GATEWAY, then OPENFAAS_URL; default: http://127.0.0.1:8080].
    #[arg(long, short = 'g', env = "SEDGE_GATEWAY", hide_env = true)]
    pub gateway: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

impl GatewayArgs {
    /// The gateway URL: the flag or `SEDGE_GATEWAY`, then `OPENFAAS_URL`, then `from_stack`, then
    /// `SEDGE_GATEWAY_URL` (what sedge gives the functions it runs), then the default.
    pub fn url(&self, from_stack: Option<&str>) -> String {
        let env = |name: &str| std::env::var(name).ok().filter(|u| !u.is_empty());
        self.gateway
            .clone()
            .or_else(|| env("OPENFAAS_URL"))
            .or_else(|| from_stack.filter(|u| !u.is_empty()).map(str::to_string))
            .or_else(|| env(FUNCTION_GATEWAY_ENV))
            .unwrap_or_else(|| DEFAULT_GATEWAY.to_string())
    }

    /// A client for [`Self::url`], logged in when a password is known; inside a function sedge runs, with the
    /// function's API token (`SEDGE_API_TOKEN`, accepted by the model registry) when no password is.
    pub fn client(&self, from_stack: Option<&str>) -> Result<Client> {
        let client = Client::new(&self.url(from_stack), credentials(&self.state.state)?)?;
        Ok(match std::env::var(FUNCTION_TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
            Some(token) if !client.has_credentials() => client.with_token(token),
            _ => client,
        })
    }
}

/// `admin` with the password from `SEDGE_PASSWORD`, else from `<state>/secrets/basic-auth-password`; `None` when
/// neither exists (a gateway without auth).
pub fn credentials(state: &Path) -> Result<Option<Credentials>> {
    credentials_from(std::env::var("SEDGE_PASSWORD").ok(), state)
}

/// [`credentials`] with the environment's password passed in.
fn credentials_from(env_password: Option<String>, state: &Path) -> Result<Option<Credentials>> {
    let user = "admin".to_string();
    if let Some(password) = env_password {
        return Ok(Some(Credentials { user, password }));
    }
    let path = state.join("secrets").join("basic-auth-password");
    match std::fs::read_to_string(&path) {
        Ok(password) => Ok(Some(Credentials { user, password: password.trim().to_string() })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("could not read the gateway password from {}", path.display())),
    }
}

/// The stack file option (`-f`).
#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// Stack file [default: ./stack.yml, else ./stack.yaml].
    #[arg(short = 'f', long = "yaml", visible_alias = "file")]
    pub file: Option<PathBuf>,
}

impl StackArgs {
    /// The stack file to use: the one given, else `stack.yml` or `stack.yaml` if present, else `stack.yml`.
    pub fn path(&self) -> PathBuf {
        if let Some(file) = &self.file {
            return file.clone();
        }
        let yml = PathBuf::from("stack.yml");
        let yaml = PathBuf::from("stack.yaml");
        if !yml.exists() && yaml.exists() { yaml } else { yml }
    }

    /// Reads the stack file, with a hint when it does not exist.
    pub fn read(&self) -> Result<(PathBuf, String)> {
        let path = self.path();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "no stack file {}: pass -f FILE, or create one with `sedge new NAME --lang python3`",
                    path.display()
                )
            }
            Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
        }
    }
}

/// The folder relative paths in a stack file are resolved against.
pub fn stack_dir(stack_file: &Path) -> PathBuf {
    match stack_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` from a stack file, resolved against the stack file's folder `dir` (left as is when relative to `.`).
pub fn resolve(dir: &Path, path: &str) -> PathBuf {
    if dir == Path::new(".") { PathBuf::from(path) } else { dir.join(path) }
}

/// `--filter`: whether `name` is selected (no filter selects all).
pub fn selected(filter: Option<&str>, name: &str) -> bool {
    filter.is_none_or(|f| f == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_dir_of_a_bare_file_is_the_current_folder() {
        assert_eq!(stack_dir(Path::new("stack.yml")), PathBuf::from("."));
        assert_eq!(stack_dir(Path::new("fns/stack.yml")), PathBuf::from("fns"));
    }

    #[test]
    fn paths_resolve_against_the_stack_folder() {
        assert_eq!(resolve(Path::new("."), "./echo"), PathBuf::from("./echo"));
        assert_eq!(resolve(Path::new("fns"), "./echo"), PathBuf::from("fns/./echo"));
        assert_eq!(resolve(Path::new("fns"), "/abs/echo"), PathBuf::from("/abs/echo"));
    }

    #[test]
    fn filter_selects_by_name() {
        assert!(selected(None, "a"));
        assert!(selected(Some("a"), "a"));
        assert!(!selected(Some("a"), "b"));
    }

    #[test]
    fn password_from_env_then_file() {
        let state = tempfile::tempdir().unwrap();
        assert!(credentials_from(None, state.path()).unwrap().is_none());
        std::fs::create_dir_all(state.path().join("secrets")).unwrap();
        std::fs::write(state.path().join("secrets/basic-auth-password"), "s3cret\n").unwrap();
        let c = credentials_from(None, state.path()).unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("admin", "s3cret"));
        let c = credentials_from(Some("env".to_string()), state.path()).unwrap().unwrap();
        assert_eq!(c.password, "env");
    }
}
