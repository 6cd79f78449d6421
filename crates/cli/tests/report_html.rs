//! `sedge bench --html` against a running sedge, rendered by headless Chromium: the page the browser builds
//! holds the result table with the run's request count (as `--json` reports it), the charts with drawn series,
//! and a replicas chart scraped from the gateway's `/metrics` showing the function's replica.
//!
//! Needs Debian's `chromium` (`apt-get install chromium`; `.ci/run` installs it); without it the test fails.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const CHROMIUM: &str = "chromium";

/// The DOM Chromium builds from `page`, serialized (`--dump-dom`).
async fn rendered_dom(page: &Path, scratch: &Path) -> anyhow::Result<String> {
    let run = tokio::process::Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", scratch.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{CHROMIUM}` is not installed; this test renders the report in it: apt-get install chromium")
        }
        Ok(Err(e)) => anyhow::bail!("running {CHROMIUM}: {e}"),
        Err(_) => anyhow::bail!("{CHROMIUM} --dump-dom did not finish within 20 s"),
    };
    anyhow::ensure!(out.status.success(), "{CHROMIUM} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    Some(&text[from..from + text[from..].find(end)?])
}

#[tokio::test]
async fn the_html_report_renders_tables_and_charts_in_a_browser() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    assert_eq!(gw.deploy(json!({"service": "echo", "image": "cat", "envProcess": "cat"})).await?, StatusCode::ACCEPTED);
    gw.wait_available("echo", 1).await?;
    let dir = tempfile::tempdir()?;
    let (page, summary) = (dir.path().join("r.html"), dir.path().join("s.json"));
    let url = format!("{}/function/echo", gw.url);
    let out = tokio::process::Command::new(SEDGE)
        .args(["bench", &url, "-d", "hello", "--vus", "4", "--duration", "3s", "-q"])
        .arg("--html")
        .arg(&page)
        .arg("--json")
        .arg(&summary)
        .output()
        .await?;
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let requests = serde_json::from_slice::<Value>(&std::fs::read(&summary)?)?["summary"]["requests"]
        .as_u64()
        .expect("the JSON summary counts requests");
    assert!(requests > 0);

    let dom = rendered_dom(&page, &dir.path().join("chromium")).await?;
    let table = between(&dom, r#"<table class="result" id="table-summary">"#, "</table>")
        .unwrap_or_else(|| panic!("no summary table in the rendered page:\n{dom}"));
    assert!(
        table.contains(&format!(r#"<td>requests</td><td class="num">{requests}</td>"#)),
        "the summary table shows the {requests} requests of the JSON summary: {table}"
    );

    let charts = dom.matches(r#"<svg class="chart""#).count();
    assert!(charts >= 4, "latency, throughput, errors, cold starts and replicas charts; found {charts}");
    let paths: Vec<&str> = dom.split(r#"<path class="series""#).skip(1).collect();
    assert!(paths.len() >= charts, "every chart draws a series: {} paths in {charts} charts", paths.len());
    for path in &paths {
        let d = between(path, r#"d=""#, "\"").expect("a path has d");
        assert!(d.starts_with('M') && d.len() > 3, "a drawn line: d={d:?}");
    }

    let replicas = between(&dom, r#"<figure id="chart-replicas-over-time">"#, "</figure>")
        .unwrap_or_else(|| panic!("no replicas chart (scraped from {}/metrics)", gw.url));
    assert!(replicas.contains(r#"data-series="echo.openfaas-fn""#), "{replicas}");
    let counts: Vec<f64> = replicas
        .split("<title>echo.openfaas-fn: ")
        .skip(1)
        .filter_map(|marker| marker.split('<').next()?.split(", ").nth(1)?.parse().ok())
        .collect();
    assert!(!counts.is_empty(), "one marker per scrape: {replicas}");
    assert!(counts.iter().all(|n| *n >= 1.0), "the function kept its replica: {counts:?}");
    Ok(())
}
