//! OpenFaaS Pro's autoscaling policy (REFERENCE.md §3.1), read from a function's labels:
//!
//! `desired = ceil(ready × mean_load_per_replica / (target × target_proportion))`, which is
//! `ceil(total_load / (target × target_proportion))`, clamped to `[min, max]`. Load is completed requests per
//! second (`rps`), requests in flight (`capacity`) or millicores (`cpu`), summed over the function's replicas.
//! With `com.openfaas.scale.down.window`, a scale-down goes only as low as the highest recommendation within
//! the window (scale-up is immediate). With `com.openfaas.scale.zero=true`, a function that saw no request for
//! `zero-duration` goes to 0.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::spec::{parse_bool, parse_number};
use crate::{SpecError, duration};

/// What load means for a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleType {
    /// Completed requests per second.
    Rps,
    /// Requests in flight.
    Capacity,
    /// CPU in millicores.
    Cpu,
}

/// A function's OpenFaaS scaling policy, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The load metric.
    pub kind: ScaleType,
    /// Target load per replica (`com.openfaas.scale.target`, default 50).
    pub target: f64,
    /// Fraction of the target at which to scale (`com.openfaas.scale.target-proportion`, default 0.90).
    pub proportion: f64,
    /// Fewest replicas while the function is in use (`com.openfaas.scale.min`, default 1).
    pub min: u32,
    /// Most replicas (`com.openfaas.scale.max`, default 20).
    pub max: u32,
    /// Whether an idle function goes to zero (`com.openfaas.scale.zero`, default false).
    pub zero: bool,
    /// How long without requests before zero (`com.openfaas.scale.zero-duration`, default 15m).
    pub zero_duration: Duration,
    /// Scale down only to the highest recommendation of this window (`com.openfaas.scale.down.window`, ≤ 5m).
    pub down_window: Option<Duration>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            kind: ScaleType::Rps,
            target: 50.0,
            proportion: 0.9,
            min: 1,
            max: 20,
            zero: false,
            zero_duration: Duration::from_secs(15 * 60),
            down_window: None,
        }
    }
}

const PREFIX: &str = "com.openfaas.scale.";

impl Policy {
    /// Reads the policy from labels; absent labels take OpenFaaS Pro's defaults, a bad value is an error naming
    /// its label.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, SpecError> {
        let mut p = Self::default();
        let get =
            |key: &str| labels.get(&format!("{PREFIX}{key}")).map(|v| (format!("labels.{PREFIX}{key}"), v.trim()));
        if let Some((path, v)) = get("type") {
            p.kind = match v {
                "rps" => ScaleType::Rps,
                "capacity" => ScaleType::Capacity,
                "cpu" => ScaleType::Cpu,
                other => {
                    return Err(SpecError::new(
                        path,
                        format!("{other:?} is not a scale type: use rps, capacity or cpu"),
                    ));
                }
            };
        }
        let number = |path: &str, v: &str| -> Result<f64, SpecError> {
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| SpecError::new(path, format!("{v:?} is not a positive number (allowed: > 0)")))
        };
        if let Some((path, v)) = get("target") {
            p.target = number(&path, v)?;
        }
        if let Some((path, v)) = get("target-proportion") {
            p.proportion = number(&path, v)?;
        }
        if let Some((path, v)) = get("min") {
            p.min = parse_number(v, &path)?;
        }
        if let Some((path, v)) = get("max") {
            p.max = parse_number(v, &path)?;
        }
        if p.max < p.min.max(1) {
            return Err(SpecError::new(
                format!("labels.{PREFIX}max"),
                format!("{} is below min ({})", p.max, p.min.max(1)),
            ));
        }
        if let Some((path, v)) = get("zero") {
            p.zero = parse_bool(v, &path)?;
        }
        if let Some((path, v)) = get("zero-duration") {
            p.zero_duration = duration::parse(v).map_err(|e| e.within(&path))?;
        }
        if let Some((path, v)) = get("down.window") {
            let window = duration::parse(v).map_err(|e| e.within(&path))?;
            if window > Duration::from_secs(300) {
                return Err(SpecError::new(path, format!("{v} is longer than the 5m OpenFaaS allows")));
            }
            p.down_window = Some(window).filter(|w| !w.is_zero());
        }
        Ok(p)
    }

    /// The formula alone: replicas for `load` (summed over replicas), clamped to `[max(min, 1), max]`.
    pub fn recommend(&self, load: f64) -> u32 {
        let per_replica = self.target * self.proportion;
        let raw = if load.is_finite() && load > 0.0 { (load / per_replica).ceil() } else { 0.0 };
        let floor = self.min.max(1);
        if raw >= f64::from(self.max) { self.max } else { (raw as u32).clamp(floor, self.max) }
    }
}

/// The decider's memory: recent recommendations (for the scale-down window).
#[derive(Debug, Clone, Default)]
pub struct Decider {
    recent: VecDeque<(Duration, u32)>,
}

impl Decider {
    /// Desired replicas at `now` (any monotonic time) for `load`, given how long ago the last request arrived
    /// (`idle`; `None` if never).
    pub fn decide(&mut self, policy: &Policy, now: Duration, load: f64, idle: Option<Duration>) -> u32 {
        let busy = load.is_finite() && load > 0.0;
        if policy.zero && !busy && idle.is_none_or(|idle| idle >= policy.zero_duration) {
            self.recent.clear();
            return 0;
        }
        let recommended = policy.recommend(load);
        let Some(window) = policy.down_window else { return recommended };
        self.recent.push_back((now, recommended));
        while self.recent.front().is_some_and(|&(at, _)| now.saturating_sub(at) > window) {
            self.recent.pop_front();
        }
        self.recent.iter().map(|&(_, r)| r).max().unwrap_or(recommended)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_openfaas_pros() {
        let p = Policy::from_labels(&BTreeMap::new()).expect("valid");
        assert_eq!(p, Policy::default());
        // 50 × 0.9 = 45 rps per replica.
        assert_eq!([0.0, 1.0, 45.0, 46.0, 90.0, 91.0, 10_000.0].map(|l| p.recommend(l)), [1, 1, 1, 2, 2, 3, 20]);
    }

    #[test]
    fn labels_are_read_and_bad_ones_named() {
        let p = Policy::from_labels(&labels(&[
            ("type", "capacity"),
            ("target", "10"),
            ("target-proportion", "0.5"),
            ("min", "2"),
            ("max", "8"),
            ("zero", "true"),
            ("zero-duration", "5m"),
            ("down.window", "30s"),
        ]))
        .expect("valid");
        assert_eq!((p.kind, p.min, p.max, p.zero), (ScaleType::Capacity, 2, 8, true));
        assert_eq!(p.recommend(12.0), 3, "ceil(12 / 5)");
        assert_eq!(p.recommend(0.0), 2, "never below min while in use");
        for (pairs, field) in [
            (vec![("type", "memory")], "type"),
            (vec![("target", "-1")], "target"),
            (vec![("min", "3"), ("max", "2")], "max"),
            (vec![("down.window", "10m")], "down.window"),
            (vec![("zero", "yes")], "zero"),
        ] {
            let err = Policy::from_labels(&labels(&pairs)).expect_err(field);
            assert_eq!(err.path, format!("labels.{PREFIX}{field}"), "{err}");
        }
    }

    #[test]
    fn the_down_window_holds_the_highest_recent_recommendation() {
        let policy = Policy { down_window: Some(Duration::from_secs(30)), ..Policy::default() };
        let mut d = Decider::default();
        let at = Duration::from_secs;
        assert_eq!(d.decide(&policy, at(0), 400.0, Some(at(0))), 9);
        assert_eq!(d.decide(&policy, at(10), 50.0, Some(at(0))), 9, "down is held within the window");
        assert_eq!(d.decide(&policy, at(31), 50.0, Some(at(0))), 2, "the high point left the window");
        assert_eq!(d.decide(&policy, at(32), 900.0, Some(at(0))), 20, "up is immediate");
    }

    #[test]
    fn idle_functions_go_to_zero_only_when_opted_in() {
        let at = Duration::from_secs;
        let opted = Policy { zero: true, zero_duration: at(60), ..Policy::default() };
        let mut d = Decider::default();
        assert_eq!(d.decide(&opted, at(100), 0.0, Some(at(59))), 1);
        assert_eq!(d.decide(&opted, at(101), 0.0, Some(at(60))), 0);
        assert_eq!(d.decide(&opted, at(102), 0.0, None), 0, "never called");
        assert_eq!(d.decide(&Policy::default(), at(103), 0.0, None), 1, "not opted in");
    }

    proptest! {
        #[test]
        fn recommendations_are_clamped_and_monotone(load in 0.0f64..1e6, more in 0.0f64..1e6, min in 0u32..10, span in 0u32..50) {
            let p = Policy { min, max: min.max(1) + span, ..Policy::default() };
            let (a, b) = (p.recommend(load), p.recommend(load + more));
            prop_assert!(a >= min.max(1) && a <= p.max);
            prop_assert!(b >= a);
        }
    }
}
