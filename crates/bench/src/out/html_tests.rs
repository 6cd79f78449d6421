//! Tests for [`super`]: the golden page, escaping, the test hooks, empty charts and self-containment.
//!
//! `SEDGE_BLESS=1 cargo test -p sedge-bench` rewrites `tests/golden/report.html` from [`example`]; review the
//! diff (and open the file in a browser) before committing it.

use super::*;
use crate::report::{Chart, ChartKind, Comparison, Series};

/// A report with every part: escaping-worthy text, a comparison, a table, a line chart with a gap, a bar
/// chart and an empty chart.
fn example() -> Report {
    let mut table = Table::new("Summary", &["metric", "value", "unit"]);
    table.row(vec!["requests".into(), "1200".into(), String::new()]);
    table.row(vec!["p95 latency".into(), "12.5".into(), "ms".into()]);
    table.row(vec!["<script>".into(), "n/a".into(), "\"quoted\" & 'single'".into()]);
    Report {
        title: "k6-predict: <1,800> VUs & \"more\"".into(),
        description: vec!["First paragraph.".into(), "Second, with <b>tags</b> shown as text.".into()],
        facts: vec![("URL".into(), "http://127.0.0.1:8080/function/echo?a=1&b=2".into()), ("VUs".into(), "4".into())],
        comparison: vec![Comparison {
            metric: "throughput (req/s)".into(),
            seed: "1,800".into(),
            sedge: "2412.5".into(),
            note: "seed: Table 3; 8 cores there, 2 here".into(),
        }],
        tables: vec![table],
        charts: vec![
            Chart {
                title: "Latency over time".into(),
                x_label: "time (s)".into(),
                y_label: "latency (ms)".into(),
                kind: ChartKind::Line,
                series: vec![
                    Series::line("p50", vec![(0.0, 1.5), (1.0, 2.0), (2.0, f64::NAN), (3.0, 2.5)]),
                    Series::line("p99", vec![(0.0, 9.0), (1.0, 12.0), (2.0, 30.0), (3.0, 11.0)]),
                ],
            },
            Chart {
                title: "Cold vs warm".into(),
                x_label: "call".into(),
                y_label: "latency (ms)".into(),
                kind: ChartKind::Bar,
                series: vec![
                    Series::bars("p50", &[("cold".into(), 850.0), ("warm".into(), 1.2), ("mixed".into(), 40.0)]),
                    Series::bars("p99", &[("cold".into(), 1200.0), ("warm".into(), 9.5), ("mixed".into(), 900.0)]),
                ],
            },
            Chart {
                title: "Latency over time".into(),
                x_label: "time (s)".into(),
                y_label: "replicas".into(),
                kind: ChartKind::Line,
                series: vec![],
            },
        ],
    }
}

#[test]
fn matches_the_golden_file() {
    let html = render(&example());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/report.html");
    if std::env::var_os("SEDGE_BLESS").is_some() {
        std::fs::write(path, &html).expect("writing the golden file");
    }
    let golden = std::fs::read_to_string(path).expect("tests/golden/report.html (SEDGE_BLESS=1 writes it)");
    assert!(html == golden, "the page differs from {path}; SEDGE_BLESS=1 rewrites it, then review the diff");
}

#[test]
fn escapes_text_and_attributes() {
    assert_eq!(
        escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
    );
    assert_eq!(escape("µs ✓ plain"), "µs ✓ plain");
    let html = render(&example());
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    assert!(!html.contains("<b>") && html.contains("&lt;b&gt;tags&lt;/b&gt;"));
    assert!(html.contains("<title>k6-predict: &lt;1,800&gt; VUs &amp; &quot;more&quot;</title>"));
    assert!(html.contains("?a=1&amp;b=2"));
}

#[test]
fn has_the_hooks_tests_and_readers_rely_on() {
    let html = render(&example());
    assert_eq!(html.matches("<table class=\"comparison\">").count(), 1);
    assert!(html.contains("<th>metric</th><th>seed figure</th><th>sedge figure</th><th>note</th>"));
    assert!(html.contains("<table class=\"result\" id=\"table-summary\">"));
    assert!(html.contains("<td class=\"num\">1200</td>") && html.contains("<td>n/a</td>"));
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
    assert_eq!(html.matches("<h2>").count(), 3, "one heading per chart");
    assert!(html.contains("id=\"chart-latency-over-time\"") && html.contains("id=\"chart-latency-over-time-2\""));
    assert_eq!(html.matches("<path class=\"series\"").count(), 2);
    assert_eq!(html.matches("<rect class=\"bar\"").count(), 6, "two series of three categories");
    assert!(html.contains("data-series=\"p50\" d=\"M"), "a path per line series");
    let p50 = html.split("data-series=\"p50\" d=\"").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(p50.matches('M').count(), 2, "the NaN breaks the line: {p50}");
    assert_eq!(p50.matches('L').count(), 1, "{p50}");
}

#[test]
fn empty_charts_draw_axes_and_say_so() {
    let html = render(&example());
    let empty = html.split("id=\"chart-latency-over-time-2\"").nth(1).unwrap();
    assert!(empty.contains("no data") && empty.contains("class=\"axis\""));
    assert_eq!(html.matches("no data").count(), 1);
    let bars_without_points = Chart {
        title: "x".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        kind: ChartKind::Bar,
        series: vec![Series::bars("none", &[])],
    };
    let svg = svg::chart(&bars_without_points);
    assert!(svg.contains("no data") && !svg.contains("class=\"bar\""));
    let page = render(&Report::default());
    assert!(page.contains("<h1></h1>") && !page.contains("<table") && !page.contains("<svg"));
}

#[test]
fn loads_nothing_from_outside() {
    let html = render(&example());
    for external in ["<script", "<link", "<img", "src=", "href=", "url(", "@import", "xmlns"] {
        assert!(!html.contains(external), "{external} in the page");
    }
}
