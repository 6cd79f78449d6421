//! The bench an experiment runs on: a sedge gateway (one the user names with `--gateway`, or a fresh
//! `sedge up` on a free loopback port in a temporary state directory, stopped when the lab is dropped), the
//! example functions deployed through the same code as `sedge deploy -f`, and load from `sedge bench`'s runner.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use sedge_bench::record::{Outcome, Recorder};
use sedge_core::api::FunctionStatus;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::super::bench::load::{self, Check, Model, Progress, Target, Test};
use super::super::deploy::{self, DeployArgs};
use super::super::{GatewayArgs, StackArgs, StateArgs};
use crate::client::Client;

/// Where the lab's sedge is and what it may read.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// A running gateway to use; `None` starts one.
    pub gateway: Option<String>,
    /// The state folder of that gateway (bundles are built there, the password is read from there).
    pub state: PathBuf,
    /// Folder with the reference models (`mnist_cnn.onnx`, `centerface_dynamic.onnx`).
    pub models: PathBuf,
    /// Folder with the reference data (`astronaut_512.png`, …).
    pub data: PathBuf,
}

/// A gateway with functions on it, and a place to write files.
pub struct Lab {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    state: PathBuf,
    client: Client,
    /// Reference models folder.
    pub models: PathBuf,
    /// Reference data folder.
    pub data: PathBuf,
    work: tempfile::TempDir,
    _server: Option<(Child, tempfile::TempDir)>,
}

impl Lab {
    /// Uses the configured gateway, or starts `sedge up` (this very binary) in a temporary state folder.
    pub async fn start(config: LabConfig) -> Result<Self> {
        for (what, dir) in [("models", &config.models), ("data", &config.data)] {
            if !dir.is_dir() {
                bail!(
                    "{what} folder {} not found: pass --{what} DIR (the repository's ../shared/{what})",
                    dir.display()
                );
            }
        }
        let work = tempfile::tempdir().context("creating a work folder")?;
        let (url, state, server) = match config.gateway {
            Some(url) => (url.trim_end_matches('/').to_string(), config.state, None),
            None => {
                let state = tempfile::tempdir().context("creating a state folder")?;
                let (child, url) = start_sedge(state.path()).await?;
                (url, state.path().to_path_buf(), Some((child, state)))
            }
        };
        let client = Client::new(&url, super::super::credentials(&state)?)?;
        client.info().await.with_context(|| format!("the gateway at {url} does not answer"))?;
        Ok(Self {
            url,
            state,
            client,
            models: absolute(&config.models)?,
            data: absolute(&config.data)?,
            work,
            _server: server,
        })
    }

    /// `{url}/function/{name}`.
    pub fn function_url(&self, name: &str) -> String {
        format!("{}/function/{name}", self.url)
    }

    /// Writes `files` (relative path → text) under a fresh folder `dir` of the work folder and deploys `file`
    /// from there, exactly as `sedge deploy -f` would (building python bundles first).
    pub async fn deploy(&self, dir: &str, file: &str, files: &[(&str, String)]) -> Result<()> {
        let root = self.work.path().join(dir);
        for (path, text) in files {
            let path = root.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        let args = DeployArgs {
            stack: StackArgs { file: Some(root.join(file)) },
            filter: None,
            gateway: GatewayArgs { gateway: Some(self.url.clone()), state: StateArgs { state: self.state.clone() } },
        };
        deploy::run(args).await.with_context(|| format!("deploying {dir}/{file}"))
    }

    /// Waits until `name` has `n` ready replicas (bounded: 60 s).
    pub async fn wait_ready(&self, name: &str, n: u64) -> Result<()> {
        for _ in 0..600 {
            if self.describe(name).await?.available_replicas == n {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{name} did not reach {n} ready replicas within 60 s")
    }

    /// `describe NAME`.
    pub async fn describe(&self, name: &str) -> Result<FunctionStatus> {
        self.client.get_function(name, None).await
    }

    /// Sets `name`'s replicas and waits for them to be ready (for 0: to be gone).
    pub async fn scale(&self, name: &str, replicas: u64) -> Result<()> {
        self.client.scale(name, replicas, None).await?;
        self.wait_ready(name, replicas).await
    }

    /// Runs `test` to its end (no progress lines) and returns what was recorded and how long it ran.
    pub async fn run(&self, test: Test) -> (Recorder, Duration) {
        self.run_with(test, |_| {}).await
    }

    /// [`Self::run`], handing every outcome to `sink` as well.
    pub async fn run_with(&self, test: Test, sink: impl FnMut(&Outcome) + Send) -> (Recorder, Duration) {
        load::run(test, CancellationToken::new(), Arc::new(Progress::default()), sink).await
    }
}

/// A closed-model test: `vus` users for `duration`, each pausing `think` after every answer.
pub fn closed(target: Target, vus: u32, duration: Duration, think: Duration) -> Test {
    Test {
        target,
        model: Model::Closed {
            stages: vec![sedge_bench::plan::Stage { duration, target: vus }],
            start_vus: vus,
            think,
            iterations: None,
        },
        timeout: Duration::from_secs(60),
        check: Check::default(),
    }
}

/// A closed-model test that stops after `iterations` requests in all, from `vus` users.
pub fn iterations(target: Target, vus: u32, iterations: u64) -> Test {
    Test {
        target,
        model: Model::Closed {
            stages: vec![sedge_bench::plan::Stage { duration: Duration::from_secs(3600), target: vus }],
            start_vus: vus,
            think: Duration::ZERO,
            iterations: Some(iterations),
        },
        timeout: Duration::from_secs(60),
        check: Check::default(),
    }
}

/// A request: `method url` with `bodies` used in turn and `headers` (`name`, `value`).
pub fn target(method: Method, url: &str, bodies: Vec<Bytes>, headers: &[(&str, &str)]) -> Result<Target> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
    }
    Ok(Target { method, url: url.parse().with_context(|| format!("{url:?} is not a URL"))?, headers: map, bodies })
}

/// `sedge up --listen 127.0.0.1:0 --state DIR` from this executable; returns it and its URL once it listens.
async fn start_sedge(state: &Path) -> Result<(Child, String)> {
    let exe = std::env::current_exe().context("finding the sedge binary")?;
    let mut child = Command::new(&exe)
        .args(["up", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null()) // the same lines are in <state>/logs/sedge.log
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} up", exe.display()))?;
    let stdout = child.stdout.take().context("sedge's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return Ok(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
        bail!("sedge up exited before listening; see {}/logs/sedge.log", state.display())
    })
    .await
    .context("sedge up did not start within 60 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}
