//! Tests for [`super`]: the golden summary, the cases it leaves out, and the number formats.

use std::collections::BTreeMap;

use super::*;
use crate::threshold;

fn p(v: [f64; 8]) -> Percentiles {
    let [min_ms, mean_ms, p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, max_ms] = v;
    Percentiles { min_ms, mean_ms, p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, max_ms }
}

/// A summary with every section present, and three verdicts (one failed); shared with the JSON golden test.
pub(crate) fn example() -> (Summary, Vec<Verdict>) {
    let s = Summary {
        requests: 1000,
        failed: 2,
        error_rate: 0.002,
        rps: 100.0,
        duration_s: 10.0,
        latency: p([0.85, 12.5, 10.2, 20.0, 31.4, 120.0, 950.0, 1204.0]),
        service_time: p([0.85, 11.0, 10.0, 19.5, 30.0, 110.0, 900.0, 1200.0]),
        cold: Some(p([850.0, 1000.0, 990.0, 1200.0, 1204.0, 1204.0, 1204.0, 1204.0])),
        warm: Some(p([0.85, 9.5, 10.1, 19.9, 30.2, 60.0, 90.0, 95.5])),
        cold_count: 3,
        statuses: BTreeMap::from([("200".into(), 998), ("503".into(), 1), ("error".into(), 1)]),
        dropped: 0,
        bytes_sent: 120_000,
        bytes_received: 1_234_567,
        quantiles: vec![],
    };
    let verdicts = ["p95<50ms", "errors==0", "rate>=100/s"].map(|t| threshold::parse(t).unwrap().check(&s)).to_vec();
    (s, verdicts)
}

#[test]
fn matches_the_golden_file() {
    let (s, verdicts) = example();
    assert_eq!(render(&s, &verdicts), include_str!("../../tests/golden/summary.txt"));
}

#[test]
fn leaves_out_what_did_not_happen() {
    let (s, _) = example();
    let s = Summary { cold: None, cold_count: 0, service_time: s.latency.clone(), ..s };
    let text = render(&s, &[]);
    for absent in ["cold", "service_time", "thresholds"] {
        assert!(!text.contains(absent), "{absent} in\n{text}");
    }
    assert!(text.contains("dropped_iterations"));
    assert_eq!(text.lines().count(), 7);
}

#[test]
fn formats_numbers_like_k6() {
    assert_eq!(decimals(2.5, 2), "2.5");
    assert_eq!(decimals(2.0, 2), "2");
    assert_eq!(decimals(100.0, 0), "100");
    assert_eq!(decimals(-0.001, 2), "0");
    assert_eq!(format_ms(0.0), "0s");
    assert_eq!(format_ms(0.8125), "812.5µs");
    assert_eq!(format_ms(12.345), "12.35ms");
    assert_eq!(format_ms(1500.0), "1.5s");
    assert_eq!(format_ms(123_400.0), "2m3.4s");
    assert_eq!(format_percent(0.00123), "0.12%");
    assert_eq!(format_percent(1.0), "100%");
    assert_eq!(format_bytes(512.0), "512 B");
    assert_eq!(format_bytes(1234.0), "1.2 kB");
    assert_eq!(format_bytes(3.45e6), "3.5 MB");
    assert_eq!(format_bytes(2e15), "2000 TB");
}
