//! Tests for [`super`]: percentiles against known inputs, the cold/warm split, merging and counting.

use super::*;

fn outcome(latency_ms: u64) -> Outcome {
    Outcome {
        intended: Duration::ZERO,
        started: Duration::ZERO,
        finished: Duration::from_millis(latency_ms),
        status: Some(200),
        error: None,
        cold: None,
        bytes_sent: 100,
        bytes_received: 1000,
        vu: 0,
    }
}

/// Within HDR's 3 significant digits, and never below the true value (highest equivalent).
fn close(observed: f64, expected: f64) {
    assert!(observed >= expected && observed <= expected * 1.001, "{observed} vs {expected}");
}

#[test]
fn outcome_times_and_ok() {
    let o = Outcome {
        intended: Duration::from_millis(10),
        started: Duration::from_millis(15),
        finished: Duration::from_millis(40),
        ..outcome(0)
    };
    assert_eq!(o.latency(), Duration::from_millis(30));
    assert_eq!(o.service_time(), Duration::from_millis(25));
    assert!(o.ok());
    assert!(Outcome { status: Some(302), ..o.clone() }.ok());
    assert!(!Outcome { status: Some(404), ..o.clone() }.ok());
    assert!(!Outcome { status: Some(199), ..o.clone() }.ok());
    assert!(!Outcome { status: None, ..o.clone() }.ok());
    assert!(!Outcome { error: Some("check failed: body".into()), ..o }.ok());
}

#[test]
fn percentiles_of_one_to_a_thousand_ms() {
    let mut r = Recorder::new();
    for ms in 1..=1000 {
        r.record(&outcome(ms));
    }
    let s = r.summary(Duration::from_secs(10));
    assert_eq!(s.requests, 1000);
    assert_eq!(s.rps, 100.0);
    let p = &s.latency;
    assert_eq!(p.min_ms, 1.0);
    assert_eq!(p.max_ms, 1000.0);
    assert!((p.mean_ms - 500.5).abs() < 1e-9);
    close(p.p50_ms, 500.0);
    close(p.p90_ms, 900.0);
    close(p.p95_ms, 950.0);
    close(p.p99_ms, 990.0);
    close(p.p999_ms, 999.0);
    close(s.latency_at(0.5), 500.0);
    close(s.latency_at(0.75), 750.0);
    close(s.latency_at(0.123), 123.0);
    close(s.latency_at(0.9995), 1000.0);
    assert_eq!(s.latency_at(0.0), 1.0);
    assert_eq!(s.latency_at(1.0), 1000.0);
    assert_eq!(s.latency_at(0.95), p.p95_ms);
    assert_eq!(s.service_time, s.latency);
}

#[test]
fn percentiles_clamp_to_exact_extremes() {
    let mut r = Recorder::new();
    r.record(&outcome(500));
    let p = r.summary(Duration::from_secs(1)).latency;
    assert_eq!((p.min_ms, p.p50_ms, p.p999_ms, p.max_ms), (500.0, 500.0, 500.0, 500.0));
}

#[test]
fn latency_counts_from_intended_and_service_time_from_started() {
    let mut r = Recorder::new();
    r.record(&Outcome {
        intended: Duration::from_millis(100),
        started: Duration::from_millis(300),
        finished: Duration::from_millis(310),
        ..outcome(0)
    });
    let s = r.summary(Duration::from_secs(1));
    assert_eq!(s.latency.max_ms, 210.0);
    assert_eq!(s.service_time.max_ms, 10.0);
}

#[test]
fn splits_cold_and_warm() {
    let mut r = Recorder::new();
    for ms in 1..=90 {
        r.record(&Outcome { cold: Some(false), ..outcome(ms) });
    }
    for ms in [800, 900, 1000] {
        r.record(&Outcome { cold: Some(true), ..outcome(ms) });
    }
    r.record(&outcome(5)); // no header: in neither split
    let s = r.summary(Duration::from_secs(1));
    assert_eq!((s.requests, s.cold_count), (94, 3));
    let cold = s.cold.expect("cold starts were recorded");
    assert_eq!((cold.min_ms, cold.max_ms), (800.0, 1000.0));
    close(cold.p50_ms, 900.0);
    let warm = s.warm.expect("warm calls were recorded");
    assert_eq!((warm.min_ms, warm.max_ms), (1.0, 90.0));
    assert_eq!(s.latency.max_ms, 1000.0);

    let mut only_warm = Recorder::new();
    only_warm.record(&Outcome { cold: Some(false), ..outcome(1) });
    let s = only_warm.summary(Duration::from_secs(1));
    assert_eq!((s.cold, s.cold_count), (None, 0));
    assert!(s.warm.is_some());
}

#[test]
fn counts_failures_statuses_bytes_and_drops() {
    let mut r = Recorder::new();
    r.record(&outcome(1));
    r.record(&Outcome { status: Some(503), ..outcome(1) });
    r.record(&Outcome { status: None, error: Some("connection refused".into()), ..outcome(1) });
    r.record(&Outcome { error: Some("check failed".into()), ..outcome(1) });
    r.dropped(7);
    let s = r.summary(Duration::from_secs(2));
    assert_eq!((s.requests, s.failed, s.error_rate), (4, 3, 0.75));
    assert_eq!(s.statuses, BTreeMap::from([("200".into(), 2), ("503".into(), 1), ("error".into(), 1)]));
    assert_eq!((s.dropped, s.bytes_sent, s.bytes_received), (7, 400, 4000));
    assert_eq!((s.rps, s.duration_s), (2.0, 2.0));
}

#[test]
fn merge_equals_recording_everything_in_one() {
    let (mut a, mut b, mut both) = (Recorder::new(), Recorder::new(), Recorder::new());
    for ms in 1..=500 {
        let o = Outcome { cold: Some(ms % 100 == 0), status: Some(if ms % 7 == 0 { 500 } else { 200 }), ..outcome(ms) };
        if ms % 2 == 0 {
            a.record(&o)
        } else {
            b.record(&o)
        }
        both.record(&o);
    }
    a.dropped(2);
    b.dropped(3);
    both.dropped(5);
    a.merge(&b);
    assert_eq!(a.count(), 500);
    assert_eq!(a.summary(Duration::from_secs(5)), both.summary(Duration::from_secs(5)));
    assert_eq!(a.timeline().points(), both.timeline().points());
}

#[test]
fn keeps_a_timeline_of_what_it_records() {
    let mut r = Recorder::new();
    r.record(&Outcome { finished: Duration::from_millis(300), ..outcome(0) });
    r.record(&Outcome { finished: Duration::from_millis(2100), status: Some(500), cold: Some(true), ..outcome(0) });
    let points = r.timeline().points();
    assert_eq!(
        points.iter().map(|p| (p.requests, p.errors, p.cold)).collect::<Vec<_>>(),
        [(1, 0, 0), (0, 0, 0), (1, 1, 1)]
    );
    assert_eq!(points[2].bytes, 1100);
    assert_eq!(Recorder::new().timeline().seconds(), 0);
}

#[test]
fn empty_recorder_summarises_to_zeros() {
    let s = Recorder::default().summary(Duration::ZERO);
    assert_eq!((s.requests, s.error_rate, s.rps), (0, 0.0, 0.0));
    assert_eq!(s.latency, Percentiles::default());
    assert_eq!((&s.cold, &s.warm), (&None, &None));
    assert_eq!(s.latency_at(0.99), 0.0);
}

#[test]
fn extreme_latencies_are_clamped_not_lost() {
    let mut r = Recorder::new();
    r.record(&Outcome { finished: Duration::from_nanos(10), ..outcome(0) });
    r.record(&Outcome { finished: Duration::from_secs(7200), ..outcome(0) });
    let s = r.summary(Duration::from_secs(1));
    assert_eq!(s.requests, 2);
    assert_eq!(s.latency.max_ms, 7_200_000.0);
    assert_eq!(s.latency.min_ms, 0.00001);
}

#[test]
fn percentiles_at_interpolates_between_known_points() {
    let p = Percentiles {
        min_ms: 1.0,
        mean_ms: 5.0,
        p50_ms: 5.0,
        p90_ms: 9.0,
        p95_ms: 10.0,
        p99_ms: 20.0,
        p999_ms: 30.0,
        max_ms: 40.0,
    };
    assert_eq!((p.at(0.0), p.at(0.5), p.at(0.95), p.at(1.0)), (1.0, 5.0, 10.0, 40.0));
    assert!((p.at(0.7) - 7.0).abs() < 1e-9);
    let s = Summary { quantiles: vec![], ..Recorder::new().summary(Duration::ZERO) };
    assert_eq!(Summary { latency: p, ..s }.latency_at(0.99), 20.0);
}
