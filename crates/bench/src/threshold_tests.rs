//! Tests for [`super`]: every metric form, operators, boundaries and refusals.

use std::time::Duration;

use super::*;
use crate::record::{Outcome, Recorder};

fn summary(latencies_ms: &[u64], failed: usize, seconds: u64) -> Summary {
    let mut r = Recorder::new();
    for (i, ms) in latencies_ms.iter().enumerate() {
        r.record(&Outcome {
            intended: Duration::ZERO,
            started: Duration::ZERO,
            finished: Duration::from_millis(*ms),
            status: Some(if i < failed { 500 } else { 200 }),
            error: None,
            cold: None,
            bytes_sent: 0,
            bytes_received: 0,
            vu: 0,
        });
    }
    r.summary(Duration::from_secs(seconds))
}

fn passes(threshold: &str, s: &Summary) -> bool {
    parse(threshold).unwrap_or_else(|e| panic!("{e}")).check(s).passed
}

#[test]
fn parses_every_form() {
    let cases = [
        ("p95<50ms", Metric::Quantile(0.95), Op::Lt, 50.0),
        ("p(99.9)<=1s", Metric::Quantile(0.999), Op::Le, 1000.0),
        ("p50<2ms", Metric::Quantile(0.5), Op::Lt, 2.0),
        ("p99.9 < 250", Metric::Quantile(0.999), Op::Lt, 250.0),
        ("avg<10ms", Metric::Avg, Op::Lt, 10.0),
        ("med<5ms", Metric::Quantile(0.5), Op::Lt, 5.0),
        ("min>0ms", Metric::Min, Op::Gt, 0.0),
        ("max<2s", Metric::Max, Op::Lt, 2000.0),
        ("errors<0.1%", Metric::Errors, Op::Lt, 0.001),
        ("errors==0", Metric::Errors, Op::Eq, 0.0),
        ("errors <= 0.05", Metric::Errors, Op::Le, 0.05),
        ("rate>=100/s", Metric::Rate, Op::Ge, 100.0),
        ("rate > 600/m", Metric::Rate, Op::Gt, 10.0),
        ("checks>99%", Metric::Checks, Op::Gt, 0.99),
        ("  P(90) != 1.5s ", Metric::Quantile(0.9), Op::Ne, 1500.0),
        ("errors===0", Metric::Errors, Op::Eq, 0.0),
    ];
    for (text, metric, op, value) in cases {
        let t = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.metric, t.op, t.value), (metric, op, value), "{text}");
        assert_eq!(t.text(), text.trim());
    }
}

#[test]
fn refuses_bad_thresholds_naming_the_text() {
    for (bad, why) in [
        ("", "no operator"),
        ("p95", "no operator"),
        ("p95 50ms", "no operator"),
        ("latency<50ms", "unknown metric \"latency\""),
        ("p(101)<1s", "unknown metric"),
        ("p0<1s", "unknown metric"),
        ("<50ms", "unknown metric \"\""),
        ("p95=<50ms", "\"=<50ms\" is not an operator"),
        ("p95<", "\"\""),
        ("p95<fast", "\"fast\""),
        ("errors<5", "not a fraction"),
        ("errors<150%", "not a fraction"),
        ("checks>-1%", "not a fraction"),
        ("rate>lots", "\"lots\""),
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!((e.what, e.text.as_str()), ("threshold", bad));
        assert!(e.why.contains(why), "{bad}: {e}");
        assert!(e.to_string().starts_with(&format!("threshold: {bad:?}: ")));
    }
}

#[test]
fn latency_forms_and_boundaries() {
    // 2 ms is below HDR's 2048 µs linear range, so percentiles are exact.
    let s = summary(&[2; 10], 0, 1);
    assert!(!passes("p50<2ms", &s));
    assert!(passes("p50<=2ms", &s));
    assert!(passes("med==2ms", &s));
    assert!(passes("p(99.9)>=2ms", &s));
    assert!(!passes("p(99.9)>2ms", &s));
    assert!(passes("avg==2ms", &s));
    assert!(passes("min>0ms", &s));
    assert!(passes("max<=2ms", &s));
    assert!(!passes("max!=2ms", &s));

    let s = summary(&(1..=100).collect::<Vec<_>>(), 0, 1);
    // Above 2048 µs HDR buckets widen: 95 ms lands in [94.976, 95.039] ms and reports its highest value.
    assert!(passes("p95<=95.039ms", &s) && !passes("p95<95.039ms", &s) && !passes("p95<=95ms", &s));
    assert!(passes("p(99.5)==100ms", &s));
    assert!(passes("avg<=50.5ms", &s) && !passes("avg<50.5ms", &s));
    assert!(passes("min==1ms", &s) && passes("max==100ms", &s));
    let v = parse("p95<50ms").unwrap().check(&s);
    assert_eq!(v, Verdict { threshold: "p95<50ms".into(), observed: "95.04ms".into(), passed: false });
}

#[test]
fn error_check_and_rate_forms() {
    let clean = summary(&[1; 1000], 0, 10);
    assert!(passes("errors==0", &clean));
    assert!(passes("checks==100%", &clean));
    assert!(passes("rate>=100/s", &clean) && !passes("rate>100/s", &clean));

    let one = summary(&[1; 1000], 1, 10);
    assert!(!passes("errors==0", &one));
    assert!(!passes("errors<0.1%", &one) && passes("errors<=0.1%", &one));
    assert!(passes("errors<=0.001", &one));
    assert!(passes("checks>99%", &one) && passes("checks>=99.9%", &one) && !passes("checks>99.9%", &one));
    let v = parse("errors<0.1%").unwrap().check(&one);
    assert_eq!(v, Verdict { threshold: "errors<0.1%".into(), observed: "0.1%".into(), passed: false });
    assert_eq!(parse("rate>=100/s").unwrap().check(&one).observed, "100/s");

    let ten = summary(&[1; 1000], 10, 10);
    assert!(passes("checks>=99%", &ten) && !passes("checks>99%", &ten));
    assert!(passes("errors==1%", &ten));

    let nothing = summary(&[], 0, 10);
    assert!(!passes("checks>99%", &nothing));
    assert!(!passes("rate>0/s", &nothing));
}
