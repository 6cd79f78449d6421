//! `sedge bench URL`: a load generator (closed model with virtual users and stages, or open model at an arrival
//! rate), k6-style thresholds that set the exit code, and outputs: a text summary, `--json`, a JMeter-layout
//! `--jtl` CSV, InfluxDB 1.x line protocol (`--out influxdb=http://host:8086/db`) and a self-contained `--html`
//! report with charts over time (latency, throughput, errors, cold starts, and replicas scraped from sedge's
//! `/metrics`). Works against any HTTP server. Exit codes: 0 passed, 99 a threshold failed (as k6), 2 bad
//! arguments, 1 the target is unreachable. Ctrl-C stops the test and still writes every output for what ran.
//!
//! The decisions (plans, schedules, thresholds, recording, formats) are `sedge_bench`'s, pure; [`load`] is the
//! I/O around them: tasks, connections, clocks; [`html`] writes the report and scrapes `/metrics` for it.

pub mod html;
pub mod load;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use load::{Check, Model, Progress, Target, Test};
use sedge_bench::arrival::{self, Schedule};
use sedge_bench::out::{influx, json, jtl, text};
use sedge_bench::record::Outcome;
use sedge_bench::threshold::{self, Threshold};
use sedge_bench::{parse, plan};
use tokio_util::sync::CancellationToken;

/// Exit code when a threshold fails (k6's).
const THRESHOLDS_FAILED: i32 = 99;
/// Exit code for arguments that do not parse.
const BAD_ARGUMENTS: i32 = 2;

/// Arguments of `sedge bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The URL to load (any HTTP server), e.g. http://127.0.0.1:8080/function/hello.
    pub url: String,
    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET")]
    pub method: String,
    /// Extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body (implies POST unless -X is given).
    #[arg(short = 'd', long, conflicts_with_all = ["body_file", "body_dir"])]
    pub data: Option<String>,
    /// Request body from a file.
    #[arg(long, conflicts_with = "body_dir")]
    pub body_file: Option<PathBuf>,
    /// One request body per file of this folder, in name order, used in turn (e.g. video frames).
    #[arg(long, conflicts_with = "tensor")]
    pub body_dir: Option<PathBuf>,
    /// Generated OIP v2 infer requests, `NAME:DATATYPE:SHAPE` (e.g. input:FP32:1x1x28x28): 8 bodies of random
    /// values, used in turn, sent as JSON (for /v2/models/NAME/infer).
    #[arg(long, conflicts_with_all = ["data", "body_file"])]
    pub tensor: Option<String>,
    /// Closed model: virtual users for the whole --duration.
    #[arg(long, default_value_t = 10)]
    pub vus: u32,
    /// Closed model: test length (with --vus), or open model: length at --rate.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Closed model: stages `DURATION:VUS,…` (k6's ramping-vus), instead of --vus/--duration.
    #[arg(long, conflicts_with_all = ["rate", "rate_stages"])]
    pub stages: Option<String>,
    /// Closed model: pause after each response.
    #[arg(long, default_value = "0s")]
    pub think: String,
    /// Closed model: stop after this many requests in all.
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Open model: constant arrival rate, e.g. 5000/s, for --duration.
    #[arg(long, conflicts_with = "rate_stages")]
    pub rate: Option<String>,
    /// Open model: rate stages `DURATION:RATE,…` (k6's ramping-arrival-rate), starting from 0.
    #[arg(long)]
    pub rate_stages: Option<String>,
    /// Open model: most requests in flight; sends beyond are dropped and counted.
    #[arg(long, default_value_t = 1000)]
    pub max_inflight: u32,
    /// Per-request timeout.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// A response counts as failed unless its status is this.
    #[arg(long)]
    pub check_status: Option<u16>,
    /// A response counts as failed unless its body contains this text.
    #[arg(long)]
    pub check_body: Option<String>,
    /// Threshold, e.g. 'p95<50ms' or 'errors<0.1%' (repeatable); any failure exits with 99.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Write the summary as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one CSV line per request here, in JMeter's JTL layout.
    #[arg(long)]
    pub jtl: Option<PathBuf>,
    /// Push points to InfluxDB 1.x: influxdb=http://host:8086/DATABASE.
    #[arg(long)]
    pub out: Option<String>,
    /// Write a self-contained HTML report (tables, charts over time) here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// With --html: a Prometheus /metrics URL to scrape each second for ready replicas, or `off`. Default: the
    /// target's http://host:port/metrics when its path starts with /function/ or /v2/, else off.
    #[arg(long, value_name = "URL|off")]
    pub metrics: Option<String>,
    /// No progress lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Runs `sedge bench`, exiting with its code.
pub async fn run(args: BenchArgs) -> Result<()> {
    let planned = plan_test(&args).and_then(|p| Ok((html::HtmlOutput::new(&args, &p.0.target.url)?, p)));
    let (mut html_out, (test, thresholds, influx_url)) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(BAD_ARGUMENTS);
        }
    };
    reachable(&test.target.url).await?;
    let label = test.target.url.path().to_string();
    let (method, url) = (test.target.method.to_string(), test.target.url.to_string());

    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: writing what ran");
                stop.cancel();
            }
        }
    });
    let progress = Arc::new(Progress::default());
    let reporter = (!args.quiet).then(|| tokio::spawn(report_progress(progress.clone(), stop.clone())));

    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut jtl_out = match &args.jtl {
        Some(path) => {
            let mut w = std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
            );
            jtl::header(&mut w)?;
            Some(w)
        }
        None => None,
    };
    let influx = influx_url.map(Influx::new);
    let mut points = String::new();
    let threads = 1;
    let sink = |o: &Outcome| {
        if let Some(w) = jtl_out.as_mut() {
            let _ = jtl::row(w, epoch.as_millis() as u64, o, &label, &url, threads);
        }
        if let Some(influx) = &influx {
            points.push_str(&influx::outcome_lines(o, epoch.as_nanos(), &method, &url));
            if points.len() > 1 << 20 {
                influx.push(std::mem::take(&mut points));
            }
        }
    };
    if let Some(h) = html_out.as_mut() {
        h.start(stop.clone());
    }
    let (recorder, elapsed) = load::run(test, stop.clone(), progress, sink).await;
    stop.cancel();
    if let Some(r) = reporter {
        let _ = r.await;
    }
    if let Some(w) = jtl_out.as_mut() {
        w.flush()?;
    }
    if let Some(influx) = &influx {
        influx.push(points);
        influx.finish().await?;
    }

    let summary = recorder.summary(elapsed);
    let verdicts: Vec<_> = thresholds.iter().map(|t| t.check(&summary)).collect();
    print!("{}", text::render(&summary, &verdicts));
    if let Some(path) = &args.json {
        let value = json::summary(&summary, &verdicts);
        std::fs::write(path, serde_json::to_vec_pretty(&value)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(h) = html_out {
        h.finish(&args, &method, &summary, &verdicts, &recorder).await?;
    }
    if verdicts.iter().any(|v| !v.passed) {
        std::process::exit(THRESHOLDS_FAILED);
    }
    Ok(())
}

/// The test, its thresholds and the InfluxDB write URL, from the arguments; every error names the bad text.
fn plan_test(args: &BenchArgs) -> Result<(Test, Vec<Threshold>, Option<String>)> {
    let url: Uri = args.url.parse().with_context(|| format!("{:?} is not a URL", args.url))?;
    if url.scheme_str() != Some("http") || url.host().is_none() {
        bail!("{:?}: only http://host[:port]/path URLs are supported", args.url);
    }
    let bodies = bodies(args)?;
    let method = match (args.method.as_str(), bodies.is_empty()) {
        ("GET", false)
            if args.data.is_some() || args.body_file.is_some() || args.body_dir.is_some() || args.tensor.is_some() =>
        {
            Method::POST
        }
        (m, _) => Method::from_bytes(m.as_bytes()).with_context(|| format!("{m:?} is not an HTTP method"))?,
    };
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h.split_once(':').with_context(|| format!("header {h:?}: use 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).with_context(|| format!("header name in {h:?}"))?;
        let value = HeaderValue::from_str(value.trim()).with_context(|| format!("header value in {h:?}"))?;
        headers.append(name, value);
    }
    if args.tensor.is_some() && !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let duration = parse::duration(&args.duration)?;
    let model = match (&args.rate, &args.rate_stages) {
        (Some(rate), _) => Model::Open {
            schedule: Schedule::constant(arrival::parse_rate(rate)?, duration),
            max_inflight: args.max_inflight.max(1),
        },
        (None, Some(stages)) => Model::Open {
            schedule: Schedule::ramping(0.0, &arrival::parse_rate_stages(stages)?),
            max_inflight: args.max_inflight.max(1),
        },
        (None, None) => {
            let stages = match &args.stages {
                Some(s) => plan::parse_stages(s)?,
                None => vec![plan::Stage { duration, target: args.vus }],
            };
            let start_vus = if args.stages.is_some() { 0 } else { args.vus };
            Model::Closed { stages, start_vus, think: parse::duration(&args.think)?, iterations: args.iterations }
        }
    };
    let thresholds = args.thresholds.iter().map(|t| threshold::parse(t)).collect::<Result<Vec<_>, _>>()?;
    let influx = match &args.out {
        None => None,
        Some(out) => Some(influx_write_url(out)?),
    };
    let test = Test {
        target: Target { method, url, headers, bodies },
        model,
        timeout: parse::duration(&args.timeout)?,
        check: Check { status: args.check_status, body_contains: args.check_body.clone() },
    };
    Ok((test, thresholds, influx))
}

fn bodies(args: &BenchArgs) -> Result<Vec<Bytes>> {
    if let Some(tensor) = &args.tensor {
        let spec = sedge_bench::tensor::parse(tensor)?;
        return Ok((0..8).map(|seed| Bytes::from(spec.body(seed))).collect());
    }
    if let Some(data) = &args.data {
        return Ok(vec![Bytes::from(data.clone())]);
    }
    if let Some(path) = &args.body_file {
        return Ok(vec![Bytes::from(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)]);
    }
    let Some(dir) = &args.body_dir else { return Ok(Vec::new()) };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no files to send", dir.display());
    }
    files
        .iter()
        .map(|p| Ok(Bytes::from(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)))
        .collect()
}

/// `influxdb=http://host:8086/db` → `http://host:8086/write?db=db&precision=ns`.
fn influx_write_url(out: &str) -> Result<String> {
    let rest = out
        .strip_prefix("influxdb=")
        .with_context(|| format!("--out {out:?}: use influxdb=http://host:8086/DATABASE"))?;
    let (base, db) = rest
        .rsplit_once('/')
        .filter(|(b, db)| b.starts_with("http://") && !db.is_empty())
        .with_context(|| format!("--out {out:?}: use influxdb=http://host:8086/DATABASE"))?;
    Ok(format!("{base}/write?db={db}&precision=ns"))
}

/// Fails with one clear line when nothing listens at the URL's host and port.
async fn reachable(url: &Uri) -> Result<()> {
    let host = url.host().unwrap_or_default();
    let port = url.port_u16().unwrap_or(80);
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => bail!("cannot reach {url}: {e}"),
        Err(_) => bail!("cannot reach {url}: no answer to a connection within 5 s"),
    }
}

/// One progress line per second on stderr.
async fn report_progress(progress: Arc<Progress>, stop: CancellationToken) {
    let started = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        eprintln!(
            "running {:>4.0}s  requests {:>9}  failed {:>7}  active {:>5}",
            started.elapsed().as_secs_f64(),
            progress.done.load(Ordering::Relaxed),
            progress.failed.load(Ordering::Relaxed),
            progress.active.load(Ordering::Relaxed),
        );
    }
}

/// Pushes line-protocol batches to InfluxDB in the background; [`Influx::finish`] waits for them.
struct Influx {
    url: String,
    client: reqwest::Client,
    pending: std::sync::Mutex<Vec<tokio::task::JoinHandle<Result<()>>>>,
}

impl Influx {
    fn new(url: String) -> Self {
        Self { url, client: reqwest::Client::new(), pending: Default::default() }
    }

    fn push(&self, lines: String) {
        if lines.is_empty() {
            return;
        }
        let (client, url) = (self.client.clone(), self.url.clone());
        let task = tokio::spawn(async move {
            let r = client.post(&url).body(lines).send().await.with_context(|| format!("InfluxDB at {url}"))?;
            if !r.status().is_success() {
                bail!("InfluxDB at {url} answered {}: {}", r.status(), r.text().await.unwrap_or_default());
            }
            Ok(())
        });
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    async fn finish(&self) -> Result<()> {
        let tasks = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.await.context("InfluxDB push")??;
        }
        Ok(())
    }
}
