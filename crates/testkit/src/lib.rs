//! Test support: start the real `sedge` binary on port 0 in a temporary state directory and talk to it over
//! real HTTP, as a user would.
//!
//! ```text
//! let gw = TestGateway::start(env!("CARGO_BIN_EXE_sedge")).await?;
//! gw.deploy(json!({"service": "echo", "image": "x", "envProcess": "cat"})).await?;
//! let r = gw.invoke("echo", "hi").await?;
//! ```

pub mod databases;
pub mod python;
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `sedge up`; dereferences to a [`Client`] for it.
pub struct TestGateway {
    binary: PathBuf,
    args: Vec<String>,
    state: tempfile::TempDir,
    child: Option<Child>,
    client: Client,
}

/// An HTTP client for one gateway, cheap to clone into tasks.
#[derive(Clone)]
pub struct Client {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The admin password.
    pub password: String,
    /// A plain HTTP client.
    pub http: reqwest::Client,
}

impl std::ops::Deref for TestGateway {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl TestGateway {
    /// Starts `binary up` in a fresh state directory.
    pub async fn start(binary: impl AsRef<Path>) -> anyhow::Result<Self> {
        let state = tempfile::tempdir()?;
        let mut gw = Self {
            binary: binary.as_ref().to_path_buf(),
            args: Vec::new(),
            state,
            child: None,
            client: Client {
                url: String::new(),
                password: String::new(),
                http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
            },
        };
        gw.launch().await?;
        Ok(gw)
    }

    /// Starts with extra `sedge up` arguments (kept for [`restart`](Self::restart)).
    pub async fn start_with(binary: impl AsRef<Path>, args: &[&str]) -> anyhow::Result<Self> {
        let mut gw = Self::start(binary).await?;
        gw.stop().await?;
        gw.args = args.iter().map(|a| a.to_string()).collect();
        gw.launch().await?;
        Ok(gw)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Runs the binary's client command `args` in `dir` against this gateway, as a user would (gateway URL and
    /// state folder from the environment, the admin password read from there); returns (stdout, stderr),
    /// failing on a non-zero exit.
    pub async fn cli(&self, dir: &Path, args: &[&str]) -> anyhow::Result<(String, String)> {
        let out = Command::new(&self.binary)
            .args(args)
            .current_dir(dir)
            .env("SEDGE_GATEWAY", &self.client.url)
            .env("SEDGE_STATE", self.state_dir())
            .env_remove("SEDGE_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .await?;
        let (stdout, stderr) = (String::from_utf8(out.stdout)?, String::from_utf8(out.stderr)?);
        anyhow::ensure!(out.status.success(), "sedge {args:?} failed: {stdout}\n{stderr}");
        Ok((stdout, stderr))
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let mut child = Command::new(&self.binary)
            .args(["up", "--listen", "127.0.0.1:0", "--state"])
            .arg(self.state.path())
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()) // the same lines are in <state>/logs/sedge.log
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    return Ok(rest.split_whitespace().next().unwrap_or_default().to_string());
                }
            }
            bail!("sedge exited before listening")
        })
        .await
        .context("sedge did not start within 30 s")??;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.client.url = url;
        self.client.password =
            std::fs::read_to_string(self.state.path().join("secrets/basic-auth-password"))?.trim().to_string();
        self.child = Some(child);
        Ok(())
    }

    /// Sends SIGTERM and waits for exit; returns the exit code.
    pub async fn stop(&mut self) -> anyhow::Result<Option<i32>> {
        let Some(mut child) = self.child.take() else { return Ok(None) };
        if let Some(pid) = child.id() {
            Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
        }
        let status =
            tokio::time::timeout(Duration::from_secs(90), child.wait()).await.context("sedge did not stop")??;
        Ok(status.code())
    }

    /// Kills the process with SIGKILL (no chance to flush anything).
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts again on the same state directory (after [`stop`](Self::stop) or [`kill9`](Self::kill9)).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.launch().await
    }

    /// A client for this gateway, to move into tasks.
    pub fn client(&self) -> Client {
        self.client.clone()
    }
}

impl Client {
    /// A request to `path` with admin credentials.
    pub fn system(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url)).basic_auth("admin", Some(&self.password))
    }

    /// A request to `path` without credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    /// Deploys as faas-cli does (PUT, then POST on 404); returns the final status.
    pub async fn deploy(&self, deployment: serde_json::Value) -> anyhow::Result<reqwest::StatusCode> {
        let put = self.system(reqwest::Method::PUT, "/system/functions").json(&deployment).send().await?;
        if put.status() != reqwest::StatusCode::NOT_FOUND {
            return Ok(put.status());
        }
        Ok(self.system(reqwest::Method::POST, "/system/functions").json(&deployment).send().await?.status())
    }

    /// POSTs `body` to `/function/{name}`.
    pub async fn invoke(&self, name: &str, body: impl Into<reqwest::Body>) -> anyhow::Result<reqwest::Response> {
        Ok(self.request(reqwest::Method::POST, &format!("/function/{name}")).body(body).send().await?)
    }

    /// `GET /system/function/{name}` as JSON, or `None` on 404.
    pub async fn describe(&self, name: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let r = self.system(reqwest::Method::GET, &format!("/system/function/{name}")).send().await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(r.error_for_status()?.json().await?))
    }

    /// Polls `describe` until `availableReplicas` equals `n` (bounded: 15 s).
    pub async fn wait_available(&self, name: &str, n: u64) -> anyhow::Result<()> {
        for _ in 0..300 {
            let available = self.describe(name).await?.and_then(|d| d["availableReplicas"].as_u64());
            if available == Some(n) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("{name} did not reach {n} available replicas within 15 s")
    }
}
