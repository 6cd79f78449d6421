//! `sedge bench --out influxdb=…` against a real InfluxDB 1.x (`influxd` from Debian's `influxdb` package, which
//! `.ci/run` installs): every point the writer emits arrives, read back with InfluxQL over HTTP.
//!
//! The test starts `influxd` with a config of its own (every directory in a temp dir, loopback ports picked
//! free, reporting and logs off), creates a database, runs `sedge bench` against a fork function on a real
//! sedge, then counts each measurement (`http_reqs`, `http_req_duration`, `http_req_failed`, k6's names) and
//! checks it equals the summary's request count, with the tags the summary implies. A missing `influxd` fails
//! the test with the package to install: it is part of what CI provides, not optional.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const DATABASE: &str = "sedgebench";
/// The measurements `sedge_bench::out::influx::outcome_lines` writes, one point each per request.
const MEASUREMENTS: [&str; 3] = ["http_reqs", "http_req_duration", "http_req_failed"];

/// A running `influxd`, killed when dropped.
struct Influxd {
    _child: Child,
    url: String,
}

/// A loopback port nothing listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An `influxd` config that keeps everything under `dir` and says little.
fn config(dir: &Path, http_port: u16, rpc_port: u16) -> String {
    let d = dir.display();
    format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{d}/meta"
  logging-enabled = false

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false

[hinted-handoff]
  dir = "{d}/hh"

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[continuous_queries]
  log-enabled = false

[logging]
  level = "error"
  suppress-logo = true
"#
    )
}

impl Influxd {
    /// Starts `influxd` in `dir` and waits (at most 15 s) until `GET /ping` answers 204.
    async fn start(dir: &Path) -> anyhow::Result<Self> {
        let (http_port, rpc_port) = (free_port()?, free_port()?);
        let config_path = dir.join("influxdb.conf");
        std::fs::write(&config_path, config(dir, http_port, rpc_port))?;
        let log_path = dir.join("influxd.log");
        let child = match Command::new("influxd")
            .arg("-config")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("influxd is not installed: apt-get install influxdb (InfluxDB 1.x; .ci/run does this)")
            }
            Err(e) => return Err(e).context("starting influxd"),
        };
        let influxd = Self { _child: child, url: format!("http://127.0.0.1:{http_port}") };
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(r) = http.get(format!("{}/ping", influxd.url)).send().await
                && r.status() == StatusCode::NO_CONTENT
            {
                return Ok(influxd);
            }
            if tokio::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("influxd did not answer /ping with 204 within 15 s; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs one InfluxQL statement (`POST /query`) and returns its first result, failing on any error.
    async fn query(&self, q: &str) -> anyhow::Result<Value> {
        let r = reqwest::Client::new()
            .post(format!("{}/query", self.url))
            .query(&[("db", DATABASE), ("q", q)])
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.with_context(|| format!("{q}: not JSON"))?;
        let result = body["results"][0].clone();
        if !status.is_success() || result.get("error").is_some() || body.get("error").is_some() {
            bail!("{q}: {status} {body}");
        }
        Ok(result)
    }
}

/// `(tags, first value of the first row)` of each series in a query result.
fn series(result: &Value) -> Vec<(Value, Value)> {
    let Some(series) = result["series"].as_array() else { return Vec::new() };
    series.iter().map(|s| (s["tags"].clone(), s["values"][0][1].clone())).collect()
}

#[tokio::test]
async fn influxdb_receives_one_point_per_request_in_each_measurement() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let influx = Influxd::start(dir.path()).await?;
    influx.query(&format!("CREATE DATABASE {DATABASE}")).await?;

    let gw = TestGateway::start(SEDGE).await?;
    assert_eq!(gw.deploy(json!({"service": "echo", "image": "cat", "envProcess": "cat"})).await?, StatusCode::ACCEPTED);
    let url = format!("{}/function/echo", gw.url);
    let summary_path = dir.path().join("s.json");
    let out = Command::new(SEDGE)
        .args(["bench", &url, "-d", "hello", "--iterations", "200", "--vus", "4", "--duration", "60s"])
        .arg("--out")
        .arg(format!("influxdb={}/{DATABASE}", influx.url))
        .arg("--json")
        .arg(&summary_path)
        .arg("-q")
        .output()
        .await?;
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path)?)?;
    let requests = summary["summary"]["requests"].as_u64().context("summary.requests")?;
    assert_eq!(requests, 200);
    assert_eq!(summary["summary"]["failed"], 0);

    for measurement in MEASUREMENTS {
        let counts = series(
            &influx.query(&format!("SELECT count(value) FROM {measurement} GROUP BY status, method, url")).await?,
        );
        let total: u64 = counts.iter().filter_map(|(_, n)| n.as_u64()).sum();
        assert_eq!(total, requests, "{measurement}: one point per request: {counts:?}");
        // Every request answered 200: one series, tagged with the method, URL and status sedge bench used.
        assert_eq!(counts.len(), 1, "{measurement}: {counts:?}");
        let tags = &counts[0].0;
        assert_eq!(tags["status"], "200", "{measurement}: {tags}");
        assert_eq!(tags["method"], "POST", "{measurement}: {tags}");
        assert_eq!(tags["url"], url.as_str(), "{measurement}: {tags}");
    }
    let failed = series(&influx.query("SELECT sum(value) FROM http_req_failed").await?);
    assert_eq!(failed[0].1.as_f64(), Some(0.0), "no request failed: {failed:?}");
    let reqs = series(&influx.query("SELECT sum(value) FROM http_reqs").await?);
    assert_eq!(reqs[0].1.as_f64(), Some(requests as f64), "http_reqs carries 1 per request: {reqs:?}");
    let slowest = series(&influx.query("SELECT max(value) FROM http_req_duration").await?);
    let max_ms = summary["summary"]["latency"]["max_ms"].as_f64().context("summary.latency.max_ms")?;
    let stored = slowest[0].1.as_f64().context("max(http_req_duration)")?;
    assert!((stored - max_ms).abs() < 1e-3, "the slowest point is the summary's max: {stored} vs {max_ms} ms");
    Ok(())
}
