//! Tests of the KPA: annotations, formulas (proptest) and paused-clock scenarios.

use proptest::prelude::*;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn defaults_and_annotations() {
    let c = KpaConfig::default();
    assert_eq!((c.metric, c.total, c.stable_window), (Metric::Concurrency, 100.0, secs(60)));
    assert!((c.target() - 70.0).abs() < 1e-9);
    let a: BTreeMap<String, String> = [("target", "200"), ("min-scale", "1"), ("window", "6s")]
        .iter()
        .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
        .collect();
    let c = KpaConfig::from_annotations(&a, 50).expect("valid");
    assert_eq!((c.total, c.min, c.stable_window), (50.0, 1, secs(6)), "target is capped by containerConcurrency");
    for (key, value) in [("window", "2s"), ("metric", "cpu"), ("panic-threshold-percentage", "100")] {
        let a = BTreeMap::from([(format!("{PREFIX}{key}"), value.to_string())]);
        let err = KpaConfig::from_annotations(&a, 0).expect_err(key);
        assert_eq!(err.path, format!("annotations.{PREFIX}{key}"), "{err}");
    }
}

#[test]
fn a_step_load_settles_at_load_over_target() {
    let c = KpaConfig::default();
    let mut kpa = Kpa::default();
    let mut ready = 1;
    for t in 0..180 {
        kpa.observe(secs(t), 350.0);
        if t % 2 == 0 {
            ready = kpa.decide(&c, secs(t), ready);
        }
    }
    assert_eq!(ready, 5, "350 in flight / 70 per replica");
    assert!(!kpa.panicking(), "steady load ends panic mode");
}

#[test]
fn a_burst_panics_scales_fast_and_never_down_until_calm() {
    let c = KpaConfig::default();
    let mut kpa = Kpa::default();
    for t in 0..60 {
        kpa.observe(secs(t), 70.0);
    }
    assert_eq!(kpa.decide(&c, secs(59), 1), 1);
    for t in 60..66 {
        kpa.observe(secs(t), 700.0);
    }
    let burst = kpa.decide(&c, secs(65), 1);
    assert!(kpa.panicking());
    assert_eq!(burst, 10, "the panic window sees 700 / 70");
    for t in 66..100 {
        kpa.observe(secs(t), 70.0);
    }
    assert_eq!(kpa.decide(&c, secs(99), burst), 10, "panic mode does not scale down");
    for t in 100..200 {
        kpa.observe(secs(t), 70.0);
    }
    let calm = kpa.decide(&c, secs(199), 10);
    assert!(!kpa.panicking());
    assert_eq!(calm, 5, "after a calm stable window, scale down at most by half");
}

#[test]
fn idle_goes_to_zero_after_the_delay_and_min_holds() {
    let mut c = KpaConfig { scale_down_delay: secs(90), ..KpaConfig::default() };
    let mut kpa = Kpa::default();
    kpa.observe(secs(0), 140.0);
    assert_eq!(kpa.decide(&c, secs(0), 2), 1);
    assert_eq!(kpa.decide(&c, secs(61), 1), 1, "no load in the window, but scale-down-delay holds the 1");
    assert_eq!(kpa.decide(&c, secs(100), 1), 0, "the delay has passed: zero (min-scale 0)");
    c.min = 2;
    assert_eq!(kpa.decide(&c, secs(101), 0), 2, "min-scale bounds an idle revision");
}

/// A fake-clock loop: `load(t)` observed every second, a decision every 2 s (Knative's tick), ready
/// replicas following each decision at once. Returns (second, decision) per tick.
fn run(
    c: &KpaConfig,
    kpa: &mut Kpa,
    ready: &mut u32,
    span: std::ops::Range<u64>,
    load: impl Fn(u64) -> f64,
) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for t in span {
        kpa.observe(secs(t), load(t));
        if t % 2 == 0 {
            *ready = kpa.decide(c, secs(t), *ready);
            out.push((t, *ready));
        }
    }
    out
}

fn first_zero(ticks: &[(u64, u32)]) -> Option<u64> {
    ticks.iter().find(|(_, d)| *d == 0).map(|(t, _)| *t)
}

#[test]
fn scale_to_zero_settings_are_read() {
    let c = KpaConfig::default();
    assert_eq!((c.initial_scale, c.scale_to_zero_grace, c.scale_to_zero_retention), (1, secs(30), secs(0)));
    let a: BTreeMap<String, String> = [("initial-scale", "0"), ("scale-to-zero-pod-retention-period", "1m30s")]
        .iter()
        .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
        .collect();
    let c = KpaConfig::from_annotations(&a, 0).expect("valid");
    assert_eq!((c.initial_scale, c.scale_to_zero_retention), (0, secs(90)));
    for (key, value) in [("initial-scale", "-1"), ("scale-to-zero-pod-retention-period", "2h")] {
        let a = BTreeMap::from([(format!("{PREFIX}{key}"), value.to_string())]);
        let err = KpaConfig::from_annotations(&a, 0).expect_err(key);
        assert_eq!(err.path, format!("annotations.{PREFIX}{key}"), "{err}");
    }
}

#[test]
fn idle_goes_to_zero_after_the_stable_window_plus_grace() {
    let c = KpaConfig::default();
    let (mut kpa, mut ready) = (Kpa::default(), 1);
    // Load until t=29, then none: the stable window sees it until t=88, the grace period ends 30 s later.
    let ticks = run(&c, &mut kpa, &mut ready, 0..200, |t| if t < 30 { 35.0 } else { 0.0 });
    assert!(ticks.iter().filter(|(t, _)| *t < 118).all(|(_, d)| *d == 1), "{ticks:?}");
    assert_eq!(first_zero(&ticks), Some(118), "29 + 59 (stable window) + 30 (grace)");
    assert!(ticks.iter().filter(|(t, _)| *t >= 118).all(|(_, d)| *d == 0));
}

#[test]
fn a_new_idle_revision_goes_to_zero_too_and_min_scale_or_retention_hold_it() {
    let c = KpaConfig::default();
    let (mut kpa, mut ready) = (Kpa::default(), 1);
    let ticks = run(&c, &mut kpa, &mut ready, 0..120, |_| 0.0);
    assert_eq!(first_zero(&ticks), Some(60), "idle for the window and past the grace since the start");

    let held = KpaConfig { min: 1, ..KpaConfig::default() };
    let (mut kpa, mut ready) = (Kpa::default(), 1);
    assert_eq!(first_zero(&run(&held, &mut kpa, &mut ready, 0..400, |_| 0.0)), None, "min-scale 1");

    let kept = KpaConfig { scale_to_zero_retention: secs(150), ..KpaConfig::default() };
    let (mut kpa, mut ready) = (Kpa::default(), 1);
    let ticks = run(&kept, &mut kpa, &mut ready, 0..400, |t| if t < 30 { 35.0 } else { 0.0 });
    assert_eq!(first_zero(&ticks), Some(180), "29 + 150 of retention, on the next tick");
}

#[test]
fn a_step_load_wakes_scales_and_returns_to_zero() {
    let c = KpaConfig::default();
    let (mut kpa, mut ready) = (Kpa::default(), 0);
    // 350 in flight for 3 minutes from t=10, then idle.
    let ticks = run(&c, &mut kpa, &mut ready, 0..600, |t| if (10..190).contains(&t) { 350.0 } else { 0.0 });
    let at = |s: u64| ticks.iter().find(|(t, _)| *t == s).map(|(_, d)| *d).unwrap();
    assert_eq!(at(8), 1, "idle but inside the first window: held at one");
    assert!(at(12) >= 2, "the step panics and scales at once: {}", at(12));
    assert_eq!(at(188), 5, "350 / 70 once the window is full");
    assert!(!kpa.panicking());
    let zero = first_zero(&ticks[95..]).expect("goes to zero");
    assert!((189 + 59 + 30..=189 + 59 + 30 + 2).contains(&zero), "zero at {zero}");
}

#[test]
fn a_burst_enters_panic_mode_and_leaves_it() {
    let c = KpaConfig::default();
    let (mut kpa, mut ready) = (Kpa::default(), 1);
    // 70 in flight, a 10 s burst of 700 at t=100, then 70 again.
    let load = |t: u64| if (100..110).contains(&t) { 700.0 } else { 70.0 };
    let calm = run(&c, &mut kpa, &mut ready, 0..100, load);
    assert_eq!(calm.last().map(|(_, d)| *d), Some(1));
    let burst = run(&c, &mut kpa, &mut ready, 100..110, load);
    assert!(kpa.panicking());
    let peak = burst.iter().map(|(_, d)| *d).max().unwrap();
    assert_eq!(peak, 10, "the panic window sees 700 / 70");
    let after = run(&c, &mut kpa, &mut ready, 110..162, load);
    assert!(after.iter().all(|(_, d)| *d == peak), "no scale-down while panicking: {after:?}");
    let later = run(&c, &mut kpa, &mut ready, 162..400, load);
    assert!(!kpa.panicking());
    assert_eq!(later.last().map(|(_, d)| *d), Some(1), "back to 70 / 70");
}

proptest! {
    #[test]
    fn decisions_respect_bounds_and_rates(loads in proptest::collection::vec(0.0f64..5000.0, 1..120), ready in 1u32..50, min in 0u32..5, extra in 0u32..40) {
        let c = KpaConfig { min, max: min + extra + 1, ..KpaConfig::default() };
        let mut kpa = Kpa::default();
        for (t, load) in loads.iter().enumerate() {
            kpa.observe(secs(t as u64), *load);
        }
        let d = kpa.decide(&c, secs(loads.len() as u64), ready);
        prop_assert!(d >= min && d <= c.max);
    }
}
