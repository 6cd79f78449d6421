//! The [`Report`] of one plain `sedge bench` run, for `--html`: what ran, the end-of-test numbers as tables and
//! the run second by second as charts.
//!
//! Tables: `Summary` (metric | value | unit: requests, throughput, failures, latency percentiles, data, cold
//! starts), `Cold starts vs warm calls` (when any call was cold), `Responses by status` and `Thresholds` (when
//! any). Charts, each over time from the [`Point`]s of a [`crate::timeline::Timeline`] (drawn at each window's
//! middle): latency p50/p95/p99 (a window without requests is a gap), throughput, errors and cold starts per
//! second; and the ready replicas per function scraped from the server's `/metrics`, when there are samples.

use std::collections::BTreeMap;

use crate::out::text::{decimals, format_bytes, format_percent};
use crate::record::{Percentiles, Summary};
use crate::report::{Chart, ChartKind, Report, Series, Table};
use crate::threshold::Verdict;
use crate::timeline::Point;

/// What was run, as the user asked for it.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The target URL.
    pub url: String,
    /// The HTTP method.
    pub method: String,
    /// The load model in words, e.g. `closed: 4 VUs for 3s` or `open: 500/s for 1m`.
    pub model: String,
}

/// One scrape of a function's ready replicas: `(seconds from the test start, function, replicas)`.
pub type ReplicaSample = (f64, String, f64);

/// The report; see the module docs.
pub fn build(
    run: &RunInfo,
    s: &Summary,
    verdicts: &[Verdict],
    timeline: &[Point],
    replicas: &[ReplicaSample],
) -> Report {
    let mut tables = vec![summary_table(s)];
    if s.cold_count > 0 {
        let mut t = Table::new("Cold starts vs warm calls", &["calls", "p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)"]);
        for (name, p) in [("cold", &s.cold), ("warm", &s.warm)] {
            if let Some(p) = p {
                t.row(vec![name.into(), ms(p.p50_ms), ms(p.p95_ms), ms(p.p99_ms), ms(p.max_ms)]);
            }
        }
        tables.push(t);
    }
    let mut statuses = Table::new("Responses by status", &["status", "count", "share"]);
    for (status, n) in &s.statuses {
        let share = if s.requests == 0 { 0.0 } else { *n as f64 / s.requests as f64 };
        statuses.row(vec![status.clone(), n.to_string(), format_percent(share)]);
    }
    tables.push(statuses);
    if !verdicts.is_empty() {
        let mut t = Table::new("Thresholds", &["threshold", "observed", "result"]);
        for v in verdicts {
            t.row(vec![v.threshold.clone(), v.observed.clone(), if v.passed { "pass" } else { "FAIL" }.into()]);
        }
        tables.push(t);
    }
    Report {
        title: format!("sedge bench: {} {}", run.method, run.url),
        description: vec![format!(
            "{} requests in {} s, {} failed. Latency runs from each request's intended send time to its complete \
             response; charts show one point per window of the run (one second, or more for long runs).",
            s.requests,
            decimals(s.duration_s, 2),
            s.failed
        )],
        facts: vec![
            ("URL".into(), run.url.clone()),
            ("method".into(), run.method.clone()),
            ("model".into(), run.model.clone()),
            ("duration".into(), format!("{} s", decimals(s.duration_s, 2))),
            ("requests".into(), s.requests.to_string()),
        ],
        comparison: Vec::new(),
        tables,
        charts: charts(timeline, replicas),
    }
}

fn summary_table(s: &Summary) -> Table {
    let mut t = Table::new("Summary", &["metric", "value", "unit"]);
    let mut row = |metric: &str, value: String, unit: &str| t.row(vec![metric.into(), value, unit.into()]);
    row("requests", s.requests.to_string(), "");
    row("throughput", decimals(s.rps, 2), "req/s");
    row("failed", s.failed.to_string(), "");
    row("error rate", decimals(s.error_rate * 100.0, 3), "%");
    row("duration", decimals(s.duration_s, 3), "s");
    let Percentiles { min_ms, mean_ms, p50_ms, p90_ms, p95_ms, p99_ms, max_ms, .. } = s.latency;
    for (name, v) in [("min", min_ms), ("mean", mean_ms), ("p50", p50_ms), ("p90", p90_ms)] {
        row(&format!("latency {name}"), ms(v), "ms");
    }
    for (name, v) in [("p95", p95_ms), ("p99", p99_ms), ("max", max_ms)] {
        row(&format!("latency {name}"), ms(v), "ms");
    }
    if s.cold_count > 0 {
        row("cold starts", s.cold_count.to_string(), "");
    }
    if s.dropped > 0 {
        row("dropped sends", s.dropped.to_string(), "");
    }
    row("data received", format_bytes(s.bytes_received as f64), "");
    row("data sent", format_bytes(s.bytes_sent as f64), "");
    t
}

fn ms(v: f64) -> String {
    decimals(v, 3)
}

fn charts(points: &[Point], replicas: &[ReplicaSample]) -> Vec<Chart> {
    let chart = |title: &str, y_label: &str, series: Vec<Series>| Chart {
        title: title.into(),
        x_label: "time (s)".into(),
        y_label: y_label.into(),
        kind: ChartKind::Line,
        series,
    };
    let over = |f: &dyn Fn(&Point) -> f64| points.iter().map(|p| (p.t + p.width_s / 2.0, f(p))).collect::<Vec<_>>();
    let latency = |q: fn(&Point) -> f64| over(&|p| if p.requests == 0 { f64::NAN } else { q(p) });
    let rate = |n: fn(&Point) -> u64| over(&|p| n(p) as f64 / p.width_s);
    let mut charts = vec![
        chart(
            "Latency over time",
            "latency (ms)",
            vec![
                Series::line("p50", latency(|p| p.p50_ms)),
                Series::line("p95", latency(|p| p.p95_ms)),
                Series::line("p99", latency(|p| p.p99_ms)),
            ],
        ),
        chart("Throughput over time", "requests per second", vec![Series::line("requests/s", rate(|p| p.requests))]),
        chart("Errors over time", "errors per second", vec![Series::line("errors/s", rate(|p| p.errors))]),
        chart("Cold starts over time", "cold starts per second", vec![Series::line("cold starts/s", rate(|p| p.cold))]),
    ];
    if !replicas.is_empty() {
        let mut by_function: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for (t, function, n) in replicas {
            by_function.entry(function).or_default().push((*t, *n));
        }
        let series = by_function.into_iter().map(|(f, points)| Series::line(f, points)).collect();
        charts.push(chart("Replicas over time", "ready replicas", series));
    }
    charts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::out::text::tests::example;

    fn point(t: f64, requests: u64, errors: u64, cold: u64, p50_ms: f64) -> Point {
        Point {
            t,
            width_s: 1.0,
            requests,
            errors,
            cold,
            bytes: 0,
            p50_ms,
            p95_ms: p50_ms * 2.0,
            p99_ms: p50_ms * 3.0,
            max_ms: p50_ms * 4.0,
        }
    }

    fn run() -> RunInfo {
        RunInfo {
            url: "http://127.0.0.1:8080/function/echo".into(),
            method: "POST".into(),
            model: "closed: 4 VUs for 10s".into(),
        }
    }

    #[test]
    fn tables_hold_the_summary_statuses_and_thresholds() {
        let (s, verdicts) = example();
        let r = build(&run(), &s, &verdicts, &[], &[]);
        assert_eq!(r.title, "sedge bench: POST http://127.0.0.1:8080/function/echo");
        assert!(r.facts.contains(&("requests".into(), "1000".into())));
        let titles: Vec<_> = r.tables.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles, ["Summary", "Cold starts vs warm calls", "Responses by status", "Thresholds"]);
        let summary = &r.tables[0];
        let value = |metric: &str| summary.rows.iter().find(|row| row[0] == metric).map(|row| row[1].as_str());
        assert_eq!(value("requests"), Some("1000"));
        assert_eq!(value("throughput"), Some("100"));
        assert_eq!(value("failed"), Some("2"));
        assert_eq!(value("latency p95"), Some("31.4"));
        assert_eq!(value("cold starts"), Some("3"));
        assert_eq!(value("dropped sends"), None);
        assert_eq!(r.tables[1].rows[0], ["cold", "990", "1204", "1204", "1204"]);
        assert_eq!(r.tables[2].rows, [["200", "998", "99.8%"], ["503", "1", "0.1%"], ["error", "1", "0.1%"]]);
        assert_eq!(r.tables[3].rows[1], ["errors==0", "0.2%", "FAIL"]);
        assert!(r.tables.iter().all(|t| t.rows.iter().all(|row| row.len() == t.columns.len())));

        let warm_only = Summary { cold: None, cold_count: 0, ..s };
        let titles: Vec<_> = build(&run(), &warm_only, &[], &[], &[]).tables.into_iter().map(|t| t.title).collect();
        assert_eq!(titles, ["Summary", "Responses by status"]);
    }

    #[test]
    fn charts_follow_the_timeline_and_the_replicas() {
        let (s, _) = example();
        let points = [point(0.0, 10, 0, 2, 5.0), point(1.0, 0, 0, 0, 0.0), point(2.0, 20, 4, 0, 7.0)];
        let replicas = [
            (0.0, "echo.openfaas-fn".to_string(), 1.0),
            (0.0, "other.openfaas-fn".to_string(), 0.0),
            (1.0, "echo.openfaas-fn".to_string(), 2.0),
        ];
        let r = build(&run(), &s, &[], &points, &replicas);
        let titles: Vec<_> = r.charts.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Latency over time",
                "Throughput over time",
                "Errors over time",
                "Cold starts over time",
                "Replicas over time"
            ]
        );
        let latency = &r.charts[0].series;
        assert_eq!(latency.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["p50", "p95", "p99"]);
        assert_eq!((latency[0].points[0], latency[2].points[2]), ((0.5, 5.0), (2.5, 21.0)));
        assert!(latency[0].points[1].1.is_nan(), "a window without requests is a gap");
        assert_eq!(r.charts[1].series[0].points, [(0.5, 10.0), (1.5, 0.0), (2.5, 20.0)]);
        assert_eq!(r.charts[2].series[0].points[2], (2.5, 4.0));
        assert_eq!(r.charts[3].series[0].points[0], (0.5, 2.0));
        let replicas = &r.charts[4].series;
        assert_eq!(replicas[0].name, "echo.openfaas-fn");
        assert_eq!(replicas[0].points, [(0.0, 1.0), (1.0, 2.0)]);
        assert_eq!(replicas[1].points, [(0.0, 0.0)]);

        let wide = [Point { width_s: 10.0, ..point(0.0, 100, 0, 0, 1.0) }];
        assert_eq!(build(&run(), &s, &[], &wide, &[]).charts[1].series[0].points, [(5.0, 10.0)], "per second");
        assert_eq!(build(&run(), &s, &[], &[], &[]).charts.len(), 4, "no replicas chart without samples");
    }
}
