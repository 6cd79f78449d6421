//! Knative's KPA (REFERENCE.md §4.3) as a pure decider: the caller records observed load per second
//! ([`Kpa::observe`]) and asks for a decision each tick ([`Kpa::decide`]); time is whatever monotonic `now`
//! the caller passes, so scenario tests run without a clock.
//!
//! Per tick: `stable` and `panic` are the averages of the load over the stable window (60 s) and the panic
//! window (10 % of it); `desired = ceil(avg / target)` clamped by the rates (`ceil(max_up × ready)`,
//! `floor(ready / max_down)`); panic mode starts when `ceil(panic / target) / ready ≥ threshold` and ends after
//! a stable window without that, never lowering the count meanwhile; `scale-down-delay` holds the highest
//! recent decision; the result is bounded by `[min, max]` and lifted to `activation-scale` when non-zero.
//!
//! Scale to zero (kpa/scaler.go `handleScaleToZero`): a decision of 0 (min-scale 0, no load in the stable
//! window) is held at 1 until the load has been zero for the stable window, `scale-to-zero-grace-period`
//! (30 s) has passed since the last non-zero decision, and `scale-to-zero-pod-retention-period` since the last
//! non-zero load. Before the first observation the decider counts from its first decision, so an idle new
//! revision goes to zero after the stable window plus the grace period. `initial-scale` is read here for the
//! deploy ([`crate::FunctionSpec::initial_replicas`]); the decider does not use it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::spec::parse_number;
use crate::{SpecError, duration};

/// The prefix of Knative's autoscaling annotations.
pub const PREFIX: &str = "autoscaling.knative.dev/";

/// The value of `autoscaling.knative.dev/{key}` (or its legacy camelCase alias, e.g. `minScale`), trimmed, with
/// the path to name in errors (`annotations.autoscaling.knative.dev/{key}`).
pub(crate) fn annotation<'a>(annotations: &'a BTreeMap<String, String>, key: &str) -> Option<(String, &'a str)> {
    let legacy = match key {
        "min-scale" => "minScale",
        "max-scale" => "maxScale",
        "initial-scale" => "initialScale",
        "scale-down-delay" => "scaleDownDelay",
        "scale-to-zero-pod-retention-period" => "scaleToZeroPodRetentionPeriod",
        "target-utilization-percentage" => "targetUtilizationPercentage",
        "panic-window-percentage" => "panicWindowPercentage",
        "panic-threshold-percentage" => "panicThresholdPercentage",
        "target-burst-capacity" => "targetBurstCapacity",
        _ => key,
    };
    [key, legacy]
        .into_iter()
        .find_map(|k| annotations.get(&format!("{PREFIX}{k}")).map(|v| (format!("annotations.{PREFIX}{k}"), v.trim())))
}

/// The load metric KPA scales on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Requests in flight.
    Concurrency,
    /// Requests per second.
    Rps,
}

/// A revision's KPA settings, validated (defaults from `config-autoscaler`).
#[derive(Debug, Clone, PartialEq)]
pub struct KpaConfig {
    /// The metric.
    pub metric: Metric,
    /// Target per replica before utilisation: `containerConcurrency`, the `target` annotation, or 100 / 200.
    pub total: f64,
    /// Target utilisation (0.70).
    pub utilization: f64,
    /// Stable window (60 s).
    pub stable_window: Duration,
    /// Panic window as a fraction of the stable window (0.10).
    pub panic_fraction: f64,
    /// Panic threshold as a ratio (2.0).
    pub panic_threshold: f64,
    /// Maximum scale-up rate (1000).
    pub max_scale_up_rate: f64,
    /// Maximum scale-down rate (2).
    pub max_scale_down_rate: f64,
    /// Lower bound (0).
    pub min: u32,
    /// Upper bound, 0 for none.
    pub max: u32,
    /// Smallest non-zero count when waking (1 = off).
    pub activation_scale: u32,
    /// Hold the highest decision this long before scaling down (0).
    pub scale_down_delay: Duration,
    /// Replicas when the revision is created (`initial-scale`, default 1; 0 allowed).
    pub initial_scale: u32,
    /// How long after the last non-zero decision before going to zero (`config-autoscaler`'s
    /// `scale-to-zero-grace-period`, 30 s; not an annotation).
    pub scale_to_zero_grace: Duration,
    /// How long after the last non-zero load before going to zero (`scale-to-zero-pod-retention-period`,
    /// default 0, at most 1h).
    pub scale_to_zero_retention: Duration,
}

impl KpaConfig {
    /// Reads `autoscaling.knative.dev/*` annotations; `container_concurrency` is the revision's (0 = unlimited).
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
        container_concurrency: u32,
    ) -> Result<Self, SpecError> {
        let get = |key: &str| annotation(annotations, key);
        let number = |key: &str, lo: f64, hi: f64| -> Result<Option<f64>, SpecError> {
            let Some((path, v)) = get(key) else { return Ok(None) };
            match v.parse::<f64>() {
                Ok(n) if n >= lo && n <= hi => Ok(Some(n)),
                _ if hi == f64::MAX => Err(SpecError::new(path, format!("{v:?} is not a number ≥ {lo}"))),
                _ => Err(SpecError::new(path, format!("{v:?} is not a number in [{lo}, {hi}]"))),
            }
        };
        let metric = match get("metric") {
            None | Some((_, "concurrency")) => Metric::Concurrency,
            Some((_, "rps")) => Metric::Rps,
            Some((path, v)) => {
                return Err(SpecError::new(
                    path,
                    format!(
                        "{v:?} is not a KPA metric: use concurrency or rps (cpu needs the class hpa.autoscaling.knative.dev)"
                    ),
                ));
            }
        };
        let default_total = match metric {
            Metric::Concurrency if container_concurrency > 0 => f64::from(container_concurrency),
            Metric::Concurrency => 100.0,
            Metric::Rps => 200.0,
        };
        let total = match number("target", 0.01, f64::MAX)? {
            Some(t) if metric == Metric::Concurrency && container_concurrency > 0 => {
                t.min(f64::from(container_concurrency))
            }
            Some(t) => t,
            None => default_total,
        };
        let window = |key: &str, default: Duration, lo: Duration, hi: Duration| -> Result<Duration, SpecError> {
            let Some((path, v)) = get(key) else { return Ok(default) };
            let d = duration::parse(v).map_err(|e| e.within(&path))?;
            if d < lo || d > hi {
                return Err(SpecError::new(
                    path,
                    format!("{v} is outside [{}, {}]", duration::format(lo), duration::format(hi)),
                ));
            }
            Ok(d)
        };
        let count = |key: &str| -> Result<Option<u32>, SpecError> {
            get(key).map(|(path, v)| parse_number(v, &path)).transpose()
        };
        let config = Self {
            metric,
            total,
            utilization: number("target-utilization-percentage", 1.0, 100.0)?.unwrap_or(70.0) / 100.0,
            stable_window: window(
                "window",
                Duration::from_secs(60),
                Duration::from_secs(6),
                Duration::from_secs(3600),
            )?,
            panic_fraction: number("panic-window-percentage", 1.0, 100.0)?.unwrap_or(10.0) / 100.0,
            panic_threshold: number("panic-threshold-percentage", 110.0, 1000.0)?.unwrap_or(200.0) / 100.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            min: count("min-scale")?.unwrap_or(0),
            max: count("max-scale")?.unwrap_or(0),
            activation_scale: count("activation-scale")?.unwrap_or(1).max(1),
            scale_down_delay: window("scale-down-delay", Duration::ZERO, Duration::ZERO, Duration::from_secs(3600))?,
            initial_scale: count("initial-scale")?.unwrap_or(1),
            scale_to_zero_grace: Duration::from_secs(30),
            scale_to_zero_retention: window(
                "scale-to-zero-pod-retention-period",
                Duration::ZERO,
                Duration::ZERO,
                Duration::from_secs(3600),
            )?,
        };
        if config.max != 0 && config.max < config.min {
            return Err(SpecError::new(
                format!("annotations.{PREFIX}max-scale"),
                format!("{} is below min-scale ({})", config.max, config.min),
            ));
        }
        Ok(config)
    }

    /// The per-replica target: `max(0.01, total × utilisation)`.
    pub fn target(&self) -> f64 {
        (self.total * self.utilization).max(0.01)
    }
}

impl Default for KpaConfig {
    fn default() -> Self {
        Self::from_annotations(&BTreeMap::new(), 0).unwrap_or_else(|_| unreachable!("defaults are valid"))
    }
}

/// A revision's KPA state: load per whole second, panic mode, recent decisions.
#[derive(Debug, Clone, Default)]
pub struct Kpa {
    /// (second, summed load, samples) for the last stable window.
    buckets: VecDeque<(u64, f64, u32)>,
    panic_since: Option<Duration>,
    max_panic_pods: u32,
    recent: VecDeque<(Duration, u32)>,
    /// The first decision's time: idleness counts from here until a load is seen.
    started: Option<Duration>,
    /// The last sample with a non-zero load.
    last_load: Option<Duration>,
    /// The last non-zero decision (before bounds and the hold at 1).
    last_nonzero: Option<Duration>,
}

impl Kpa {
    /// Records one sample of revision-wide load (concurrency or rps) taken at `now`.
    pub fn observe(&mut self, now: Duration, load: f64) {
        if load > 0.0 && self.last_load.is_none_or(|at| at < now) {
            self.last_load = Some(now);
        }
        let second = now.as_secs();
        match self.buckets.back_mut() {
            Some((s, sum, n)) if *s == second => {
                *sum += load;
                *n += 1;
            }
            _ => self.buckets.push_back((second, load, 1)),
        }
    }

    /// Average load over the `window` ending at `now` (seconds with no sample count as zero).
    fn average(&self, now: Duration, window: Duration) -> f64 {
        let seconds = window.as_secs().max(1);
        let from = now.as_secs().saturating_sub(seconds - 1);
        let sum: f64 = self.buckets.iter().filter(|(s, _, _)| *s >= from).map(|(_, sum, n)| sum / f64::from(*n)).sum();
        sum / seconds as f64
    }

    /// The desired replica count at `now` with `ready` replicas taking traffic.
    pub fn decide(&mut self, config: &KpaConfig, now: Duration, ready: u32) -> u32 {
        let started = *self.started.get_or_insert(now);
        let oldest = now.as_secs().saturating_sub(config.stable_window.as_secs());
        while self.buckets.front().is_some_and(|(s, _, _)| *s < oldest) {
            self.buckets.pop_front();
        }
        let target = config.target();
        let stable = self.average(now, config.stable_window);
        let panic = self.average(now, config.stable_window.mul_f64(config.panic_fraction));
        let ready_f = f64::from(ready.max(1));
        let max_up = (config.max_scale_up_rate * ready_f).ceil();
        let max_down = (ready_f / config.max_scale_down_rate).floor();
        let clamp = |d: f64| d.max(max_down).min(max_up);
        let dspc = (stable / target).ceil();
        let dppc = (panic / target).ceil();
        let (desired_stable, desired_panic) = (clamp(dspc), clamp(dppc));
        if dppc / ready_f >= config.panic_threshold {
            self.panic_since = Some(now);
        } else if self.panic_since.is_some_and(|since| since + config.stable_window <= now) {
            self.panic_since = None;
            self.max_panic_pods = 0;
        }
        let mut desired = if self.panic_since.is_some() {
            let d = desired_stable.max(desired_panic) as u32;
            self.max_panic_pods = self.max_panic_pods.max(d).max(ready);
            self.max_panic_pods
        } else {
            desired_stable as u32
        };
        if desired > 0 && config.activation_scale > 1 {
            desired = desired.max(config.activation_scale);
        }
        if !config.scale_down_delay.is_zero() {
            self.recent.push_back((now, desired));
            while self.recent.front().is_some_and(|&(at, _)| now.saturating_sub(at) > config.scale_down_delay) {
                self.recent.pop_front();
            }
            desired = self.recent.iter().map(|&(_, d)| d).max().unwrap_or(desired);
        }
        if desired > 0 {
            self.last_nonzero = Some(now);
        } else if config.min == 0 && !self.may_go_to_zero(config, now, started) {
            desired = 1;
        }
        let desired = desired.max(config.min);
        if config.max > 0 { desired.min(config.max) } else { desired }
    }

    /// Whether a revision whose decision is 0 may go to zero now: no load for the stable window and the
    /// retention period, and the grace period past since the last non-zero decision.
    fn may_go_to_zero(&self, config: &KpaConfig, now: Duration, started: Duration) -> bool {
        let idle = now.saturating_sub(self.last_load.unwrap_or(started));
        let since_nonzero = now.saturating_sub(self.last_nonzero.unwrap_or(started));
        idle >= config.stable_window
            && idle >= config.scale_to_zero_retention
            && since_nonzero >= config.scale_to_zero_grace
    }

    /// Whether panic mode is on.
    pub fn panicking(&self) -> bool {
        self.panic_since.is_some()
    }
}

#[cfg(test)]
mod tests;
