//! `sedge bench --html`: the self-contained HTML report of a run, and the `/metrics` scraper that feeds its
//! replicas chart.
//!
//! While the test runs, [`HtmlOutput`] GETs the server's Prometheus page once a second and keeps
//! `gateway_service_count` (sedge's ready replicas per function) for the target's function, or for every
//! function when the target names none. The page's URL is `--metrics URL`, or by default the target's
//! `http://host:port/metrics` when the target is a sedge function (`/function/…` or `/v2/…`); `--metrics off`
//! turns it off. A scrape that fails or does not answer within a second is skipped without a word, so the
//! report works against any HTTP server. The page itself is `sedge_bench`'s [`run_report`] rendered by
//! [`html::render`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use http::Uri;
use sedge_bench::out::html;
use sedge_bench::record::{Recorder, Summary};
use sedge_bench::run_report::{self, ReplicaSample, RunInfo};
use sedge_bench::scrape;
use sedge_bench::threshold::Verdict;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::BenchArgs;

/// The metric scraped: ready replicas per function.
const REPLICAS: &str = "gateway_service_count";
/// Charts get at most this many points (longer runs use wider windows).
const MAX_POINTS: usize = 600;

/// The `/metrics` URL to scrape, from `--metrics` (`off`, or an `http://` URL) and the target; see the module.
pub fn metrics_url(flag: Option<&str>, target: &Uri) -> Result<Option<String>> {
    match flag {
        Some("off") => Ok(None),
        Some(url) => match url.parse::<Uri>() {
            Ok(u) if u.scheme_str() == Some("http") && u.host().is_some() => Ok(Some(url.to_owned())),
            _ => bail!("--metrics {url:?}: use an http://host:port/metrics URL or off"),
        },
        None => {
            let sedge = target.path().starts_with("/function/") || target.path().starts_with("/v2/");
            Ok(target.authority().filter(|_| sedge).map(|a| format!("http://{a}/metrics")))
        }
    }
}

/// The function a sedge URL calls: `NAME` of `/function/NAME[/…]` or of `/v2/models/NAME[/…]`.
fn target_function(target: &Uri) -> Option<&str> {
    let path = target.path();
    let rest = path.strip_prefix("/function/").or_else(|| path.strip_prefix("/v2/models/"))?;
    rest.split('/').next().filter(|name| !name.is_empty())
}

/// Whether the metric's `function_name` label (`NAME.NAMESPACE`) is the target's function.
fn same_function(label: &str, function: &str) -> bool {
    label == function || (label.starts_with(function) && label[function.len()..].starts_with('.'))
}

/// The `--html` output of one run: where to write, what to scrape, and the scraper while the test runs.
pub struct HtmlOutput {
    path: PathBuf,
    metrics: Option<String>,
    function: Option<String>,
    scraper: Option<JoinHandle<Vec<ReplicaSample>>>,
}

impl HtmlOutput {
    /// `None` without `--html`; an error for a bad `--metrics`.
    pub fn new(args: &BenchArgs, target: &Uri) -> Result<Option<Self>> {
        let Some(path) = &args.html else { return Ok(None) };
        Ok(Some(Self {
            path: path.clone(),
            metrics: metrics_url(args.metrics.as_deref(), target)?,
            function: target_function(target).map(str::to_owned),
            scraper: None,
        }))
    }

    /// Starts scraping replicas, until `stop` fires; sample times count from this call, the test's start.
    pub fn start(&mut self, stop: CancellationToken) {
        if let Some(url) = &self.metrics {
            self.scraper = Some(tokio::spawn(scrape(url.clone(), self.function.clone(), stop)));
        }
    }

    /// Once `stop` has fired: collects the samples, renders the report and writes it.
    pub async fn finish(
        self,
        args: &BenchArgs,
        method: &str,
        summary: &Summary,
        verdicts: &[Verdict],
        recorder: &Recorder,
    ) -> Result<()> {
        let replicas = match self.scraper {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        };
        let run = RunInfo { url: args.url.clone(), method: method.to_owned(), model: model(args) };
        let run_time = Duration::try_from_secs_f64(summary.duration_s).unwrap_or_default();
        let points = recorder.timeline().points_over(run_time, MAX_POINTS);
        let mut report = run_report::build(&run, summary, verdicts, &points, &replicas);
        report.facts.push(("replicas from".into(), self.metrics.unwrap_or_else(|| "off".into())));
        report.facts.push(("sedge".into(), env!("CARGO_PKG_VERSION").to_owned()));
        let path = &self.path;
        std::fs::write(path, html::render(&report)).with_context(|| format!("writing {}", path.display()))
    }
}

async fn scrape(url: String, function: Option<String>, stop: CancellationToken) -> Vec<ReplicaSample> {
    let Ok(client) = reqwest::Client::builder().timeout(Duration::from_secs(1)).build() else { return Vec::new() };
    let start = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut samples = Vec::new();
    loop {
        let at = tokio::select! {
            at = ticks.tick() => at,
            () = stop.cancelled() => return samples,
        };
        let page = tokio::select! {
            page = fetch(&client, &url) => page,
            () = stop.cancelled() => return samples,
        };
        let t = at.saturating_duration_since(start).as_secs_f64();
        for (name, replicas) in scrape::by_label(&page.unwrap_or_default(), REPLICAS, "function_name") {
            if function.as_deref().is_none_or(|f| same_function(&name, f)) {
                samples.push((t, name, replicas));
            }
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Option<String> {
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

/// The load model in words, as the arguments gave it.
fn model(args: &BenchArgs) -> String {
    let mut text = match (&args.rate, &args.rate_stages, &args.stages) {
        (Some(rate), _, _) => format!("open: {rate} for {}, at most {} in flight", args.duration, args.max_inflight),
        (None, Some(stages), _) => format!("open: rate stages {stages}, at most {} in flight", args.max_inflight),
        (None, None, Some(stages)) => format!("closed: VU stages {stages}"),
        (None, None, None) => format!("closed: {} VUs for {}", args.vus, args.duration),
    };
    if args.rate.is_none() && args.rate_stages.is_none() {
        if args.think != "0s" {
            text.push_str(&format!(", think {}", args.think));
        }
        if let Some(n) = args.iterations {
            text.push_str(&format!(", at most {n} requests"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    #[test]
    fn metrics_default_to_sedge_targets_only() {
        let url = |flag, target| metrics_url(flag, &uri(target)).unwrap();
        let f = "http://127.0.0.1:8080/function/echo";
        assert_eq!(url(None, f).as_deref(), Some("http://127.0.0.1:8080/metrics"));
        assert_eq!(url(None, "http://h:9/v2/models/m/infer").as_deref(), Some("http://h:9/metrics"));
        assert_eq!(url(None, "http://h:9/api/thing"), None);
        assert_eq!(url(Some("off"), f), None);
        assert_eq!(url(Some("http://m:9090/metrics"), "http://h/x").as_deref(), Some("http://m:9090/metrics"));
        let err = metrics_url(Some("prometheus"), &uri(f)).unwrap_err().to_string();
        assert!(err.contains("\"prometheus\"") && err.contains("off"), "{err}");
    }

    #[test]
    fn picks_the_targets_function() {
        assert_eq!(target_function(&uri("http://h/function/echo")), Some("echo"));
        assert_eq!(target_function(&uri("http://h/function/echo.prod/a/b?x=1")), Some("echo.prod"));
        assert_eq!(target_function(&uri("http://h/v2/models/mnist/infer")), Some("mnist"));
        assert_eq!(target_function(&uri("http://h/function/")), None);
        assert_eq!(target_function(&uri("http://h/other")), None);
        assert!(same_function("echo.openfaas-fn", "echo"));
        assert!(same_function("echo.prod", "echo.prod"));
        assert!(!same_function("echo2.openfaas-fn", "echo"));
        assert!(!same_function("echo.openfaas-fn", "echo.prod"));
    }
}
