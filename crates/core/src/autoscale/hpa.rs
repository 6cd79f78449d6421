//! Kubernetes HPA semantics for the `cpu` metric, as a pure decider, configured the way Knative configures its
//! HPA class (`autoscaling.knative.dev/class: hpa.autoscaling.knative.dev`, `metric: cpu`, `target: <percent>`).
//!
//! Per decision: `utilization = usage / (ready × request)` (both in millicores); `ratio = utilization /
//! target`; within the tolerance (`0.9 ≤ ratio ≤ 1.1`) the count stays `ready`, else `ceil(ready × ratio)`.
//! Scale-up is limited per 15 s period to `max(start + 4, 2 × start)` (HPA's default behaviour: 4 pods or
//! 100 %, whichever is more), where `start` is the count at the beginning of the period; scale-down goes only
//! as low as the highest recommendation of the stabilization window (300 s); the result is clamped to
//! `[max(min, 1), max]`. Time is the `now` the caller passes.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::knative::{PREFIX, annotation};
use crate::SpecError;
use crate::spec::parse_number;

/// HPA's tolerance around the target: no change while `|ratio − 1| ≤ 0.1`.
pub const TOLERANCE: f64 = 0.1;
/// The scale-up rate period (HPA default: 15 s).
pub const SCALE_UP_PERIOD: Duration = Duration::from_secs(15);
/// Pods that may be added per period (HPA default policy `Pods: 4`).
pub const SCALE_UP_PODS: u32 = 4;

/// A function's HPA (cpu) policy, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaPolicy {
    /// Target CPU utilisation in percent of the request (`autoscaling.knative.dev/target`, default 80).
    pub target_percent: f64,
    /// Fewest replicas, at least 1 (`autoscaling.knative.dev/min-scale`; HPA never scales to zero).
    pub min: u32,
    /// Most replicas (`autoscaling.knative.dev/max-scale`; `u32::MAX` when unset or 0).
    pub max: u32,
    /// The CPU each replica requests, in millicores (`requests.cpu`, else `limits.cpu`).
    pub request_millicores: f64,
    /// Scale-down stabilization window (HPA default 300 s).
    pub stabilization_window: Duration,
}

impl HpaPolicy {
    /// Reads the policy from Knative annotations, for a function whose replicas each request
    /// `request_millicores` of CPU (`None`: neither `requests.cpu` nor `limits.cpu` is set, which is an error:
    /// utilisation is measured against the request).
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
        request_millicores: Option<u64>,
    ) -> Result<Self, SpecError> {
        let get = |key: &str| annotation(annotations, key);
        match get("metric") {
            None | Some((_, "cpu")) => {}
            Some((path, v)) => {
                return Err(SpecError::new(
                    path,
                    format!("{v:?} is not supported for the hpa class: only cpu is supported"),
                ));
            }
        }
        let target_percent = match get("target") {
            None => 80.0,
            Some((path, v)) => v.parse::<f64>().ok().filter(|t| (1.0..=1000.0).contains(t)).ok_or_else(|| {
                SpecError::new(path, format!("{v:?} is not a number in [1, 1000] (CPU percent of the request)"))
            })?,
        };
        let count = |key: &str| -> Result<Option<u32>, SpecError> {
            get(key).map(|(path, v)| parse_number(v, &path)).transpose()
        };
        let min = count("min-scale")?.unwrap_or(0).max(1);
        let max = count("max-scale")?.filter(|m| *m > 0).unwrap_or(u32::MAX);
        if max < min {
            return Err(SpecError::new(
                format!("annotations.{PREFIX}max-scale"),
                format!("{max} is below min-scale ({min})"),
            ));
        }
        let request = request_millicores.filter(|r| *r > 0).ok_or_else(|| {
            SpecError::new(
                "requests.cpu",
                "HPA on CPU needs a CPU request: set requests.cpu (or limits.cpu), e.g. \"100m\"",
            )
        })?;
        Ok(Self {
            target_percent,
            min,
            max,
            request_millicores: request as f64,
            stabilization_window: Duration::from_secs(300),
        })
    }

    /// The raw recommendation for `ready` replicas using `usage_millicores` in total, before stabilization,
    /// rate limits and bounds: `ready` within the tolerance, else `ceil(ready × ratio)`.
    pub fn recommend(&self, ready: u32, usage_millicores: f64) -> u32 {
        let usage = if usage_millicores.is_finite() && usage_millicores > 0.0 { usage_millicores } else { 0.0 };
        let utilization = 100.0 * usage / (f64::from(ready.max(1)) * self.request_millicores);
        let ratio = utilization / self.target_percent;
        if (ratio - 1.0).abs() <= TOLERANCE {
            return ready;
        }
        // `as` saturates: an absurd ratio gives u32::MAX, which the bounds then cap.
        (f64::from(ready) * ratio).ceil() as u32
    }

    /// `d` clamped to `[max(min, 1), max]`.
    pub fn bound(&self, d: u32) -> u32 {
        let floor = self.min.max(1);
        d.clamp(floor, self.max.max(floor))
    }
}

/// The decider's memory: recommendations within the stabilization window and scale-ups within the rate period.
#[derive(Debug, Clone, Default)]
pub struct Hpa {
    recent: VecDeque<(Duration, u32)>,
    scale_ups: VecDeque<(Duration, u32)>,
}

impl Hpa {
    /// Desired replicas at `now` (any monotonic time) with `ready` replicas using `usage_millicores` of CPU in
    /// total.
    pub fn decide(&mut self, policy: &HpaPolicy, now: Duration, ready: u32, usage_millicores: f64) -> u32 {
        if ready == 0 {
            // Nothing to measure against: start the minimum.
            return policy.bound(0);
        }
        let recommended = policy.recommend(ready, usage_millicores);
        self.recent.push_back((now, recommended));
        while self.recent.front().is_some_and(|&(at, _)| now.saturating_sub(at) > policy.stabilization_window) {
            self.recent.pop_front();
        }
        // HPA's stabilization: up at once, down only to the window's highest recommendation.
        let stabilized = if recommended >= ready {
            recommended
        } else {
            let highest = self.recent.iter().map(|&(_, r)| r).max().unwrap_or(recommended);
            ready.min(highest)
        };
        while self.scale_ups.front().is_some_and(|&(at, _)| now.saturating_sub(at) >= SCALE_UP_PERIOD) {
            self.scale_ups.pop_front();
        }
        let added = self.scale_ups.iter().fold(0u32, |sum, &(_, n)| sum.saturating_add(n));
        let start = ready.saturating_sub(added);
        let limit = start.saturating_add(SCALE_UP_PODS).max(start.saturating_mul(2)).max(ready);
        let desired = policy.bound(stabilized.min(limit));
        if desired > ready {
            self.scale_ups.push_back((now, desired - ready));
        }
        desired
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn policy() -> HpaPolicy {
        HpaPolicy { target_percent: 80.0, min: 1, max: 100, request_millicores: 100.0, stabilization_window: secs(300) }
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string())).collect()
    }

    #[test]
    fn annotations_are_read_and_bad_ones_named() {
        let p = HpaPolicy::from_annotations(&BTreeMap::new(), Some(250)).expect("valid");
        assert_eq!((p.target_percent, p.min, p.max, p.request_millicores), (80.0, 1, u32::MAX, 250.0));
        assert_eq!(p.stabilization_window, secs(300));
        let p = HpaPolicy::from_annotations(
            &annotations(&[("metric", "cpu"), ("target", "50"), ("min-scale", "2"), ("max-scale", "6")]),
            Some(100),
        )
        .expect("valid");
        assert_eq!((p.target_percent, p.min, p.max), (50.0, 2, 6));
        for (pairs, key) in [
            (vec![("metric", "memory")], "metric"),
            (vec![("target", "-3")], "target"),
            (vec![("min-scale", "4"), ("max-scale", "2")], "max-scale"),
            (vec![("min-scale", "x")], "min-scale"),
        ] {
            let err = HpaPolicy::from_annotations(&annotations(&pairs), Some(100)).expect_err(key);
            assert_eq!(err.path, format!("annotations.{PREFIX}{key}"), "{err}");
        }
        let err = HpaPolicy::from_annotations(&annotations(&[("metric", "memory")]), Some(100)).unwrap_err();
        assert!(err.message.contains("only cpu is supported"), "{err}");
        let err = HpaPolicy::from_annotations(&BTreeMap::new(), None).unwrap_err();
        assert_eq!(err.path, "requests.cpu");
        assert!(err.message.contains("needs a CPU request"), "{err}");
    }

    #[test]
    fn the_formula_and_its_tolerance() {
        let p = policy();
        // 2 replicas × 100m requested, 80 % target → 160m is on target.
        assert_eq!(p.recommend(2, 160.0), 2);
        assert_eq!(p.recommend(2, 175.0), 2, "ratio 1.09: within tolerance");
        assert_eq!(p.recommend(2, 145.0), 2, "ratio 0.906: within tolerance");
        assert_eq!(p.recommend(2, 180.0), 3, "ratio 1.125: ceil(2.25)");
        assert_eq!(p.recommend(2, 400.0), 5, "ratio 2.5");
        assert_eq!(p.recommend(4, 100.0), 2, "ratio 0.3125: ceil(1.25)");
        assert_eq!(p.recommend(3, 0.0), 0);
    }

    #[test]
    fn scale_up_is_limited_to_four_pods_or_double_per_period() {
        let p = policy();
        let mut hpa = Hpa::default();
        assert_eq!(hpa.decide(&p, secs(0), 1, 8000.0), 5, "wants 100, gets 1 + 4");
        assert_eq!(hpa.decide(&p, secs(5), 5, 8000.0), 5, "still in the same period (started at 1)");
        assert_eq!(hpa.decide(&p, secs(15), 5, 8000.0), 10, "a new period: double 5");
        assert_eq!(hpa.decide(&p, secs(30), 10, 8000.0), 20);
        assert_eq!(hpa.decide(&p, secs(45), 20, 8000.0), 40);
        assert_eq!(hpa.decide(&p, secs(60), 40, 8000.0), 80);
        assert_eq!(hpa.decide(&p, secs(75), 80, 8000.0), 100, "max bounds it");
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let p = policy();
        let mut hpa = Hpa::default();
        assert_eq!(hpa.decide(&p, secs(0), 4, 320.0), 4, "on target");
        assert_eq!(hpa.decide(&p, secs(30), 4, 80.0), 4, "ratio 0.25, but the window remembers 4");
        assert_eq!(hpa.decide(&p, secs(300), 4, 80.0), 4, "the 4 at t=0 is still within 300 s");
        assert_eq!(hpa.decide(&p, secs(301), 4, 80.0), 1, "t=0 left the window; the later 1s are all that is left");
        assert_eq!(hpa.decide(&p, secs(302), 1, 0.0), 1, "never below min 1");
    }

    proptest! {
        #[test]
        fn bounds_always_hold(steps in proptest::collection::vec((0u32..60, 0.0f64..1e5), 1..60), min in 0u32..5, span in 0u32..30) {
            let p = HpaPolicy { min, max: min.max(1) + span, ..policy() };
            let mut hpa = Hpa::default();
            for (i, (ready, usage)) in steps.iter().enumerate() {
                let d = hpa.decide(&p, secs(i as u64 * 15), *ready, *usage);
                prop_assert!(d >= min.max(1) && d <= p.max, "{d}");
            }
        }

        #[test]
        fn within_tolerance_never_changes(history in proptest::collection::vec((1u32..40, 0.0f64..1e4), 0..20), ready in 1u32..40, ratio in 0.905f64..1.095) {
            let p = HpaPolicy { max: 40, ..policy() };
            let mut hpa = Hpa::default();
            for (i, (r, usage)) in history.iter().enumerate() {
                hpa.decide(&p, secs(i as u64 * 10), *r, *usage);
            }
            let usage = ratio * 0.8 * p.request_millicores * f64::from(ready);
            prop_assert_eq!(hpa.decide(&p, secs(1000), ready, usage), ready);
        }

        #[test]
        fn scale_down_never_below_the_windows_max(steps in proptest::collection::vec((1u32..40, 0.0f64..1e4, 1u64..120), 1..30)) {
            let p = HpaPolicy { max: 1000, ..policy() };
            let mut hpa = Hpa::default();
            let mut seen: Vec<(Duration, u32)> = Vec::new();
            let mut now = Duration::ZERO;
            for (ready, usage, gap) in steps {
                now += secs(gap);
                seen.push((now, p.recommend(ready, usage)));
                let d = hpa.decide(&p, now, ready, usage);
                if d < ready {
                    let highest = seen.iter().filter(|(at, _)| now - *at <= p.stabilization_window).map(|(_, r)| *r).max().unwrap_or(0);
                    prop_assert!(d >= p.bound(highest.min(ready)), "{d} < window max {highest}");
                }
            }
        }
    }
}
