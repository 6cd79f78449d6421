//! The autoscaler: a thin loop around the pure deciders of [`sedge_core::autoscale`]. Each tick it reads every
//! function's [`FunctionLoad`] from the provider, turns the samples into the load its policy scales on
//! ([`measure`]), asks the function's decider for a replica count and applies a change through
//! [`Provider::scale`]. Time comes from an injected [`Clock`], so tests drive ticks with any `now`.
//!
//! Decisions are not written to the store: the store keeps what the user asked for (deploy, `scale`), the
//! autoscaler moves replicas around it, and a restart begins again from the stored count. A function with
//! calls in flight or held is never taken below one replica, whatever its decider says.

pub mod measure;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sedge_core::QualifiedName;
use sedge_core::autoscale::Scaling;
use sedge_core::autoscale::hpa::Hpa;
use sedge_core::autoscale::knative::{Kpa, Metric};
use sedge_core::autoscale::openfaas::{Decider, ScaleType};
use tokio_util::sync::CancellationToken;

use crate::provider::{FunctionLoad, Provider, ReplicaState};
use measure::Samples;

/// Knative's tick interval (`config-autoscaler` `tick-interval`), used by `sedge up` by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Monotonic time for the loop.
pub trait Clock: Send + Sync {
    /// Time since some fixed start.
    fn now(&self) -> Duration;
}

/// tokio's clock (which tests can pause and advance).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock(tokio::time::Instant);

impl Default for TokioClock {
    fn default() -> Self {
        Self(tokio::time::Instant::now())
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// One scaling decision that changed a function's replica count.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The function.
    pub function: QualifiedName,
    /// Replicas before.
    pub from: u32,
    /// Replicas asked for.
    pub to: u32,
    /// The load that drove it, in the policy's unit.
    pub load: f64,
}

/// A function's decider state, rebuilt when its policy changes.
enum State {
    OpenFaas(Decider),
    Knative(Kpa),
    Hpa(Hpa),
}

struct Tracked {
    scaling: Scaling,
    state: State,
    samples: Samples,
}

impl Tracked {
    fn new(scaling: Scaling) -> Option<Self> {
        let state = match &scaling {
            Scaling::Static => return None,
            Scaling::OpenFaas(_) => State::OpenFaas(Decider::default()),
            Scaling::Knative(_) => State::Knative(Kpa::default()),
            Scaling::Hpa(_) => State::Hpa(Hpa::default()),
        };
        Some(Self { scaling, state, samples: Samples::default() })
    }

    /// Desired replicas and the load it was computed from.
    fn decide(&mut self, now: Duration, load: &FunctionLoad) -> (u32, f64) {
        let ready = load.replicas.count(ReplicaState::Ready);
        let cpu = load.usage.map_or(0.0, |u| u.cpu_millicores);
        let concurrency = load.calls.in_flight + load.calls.waiting;
        self.samples.record(now, load.calls.completed, concurrency);
        self.samples.record_area(now, load.calls.concurrency_seconds);
        match (&self.scaling, &mut self.state) {
            (Scaling::OpenFaas(policy), State::OpenFaas(decider)) => {
                let observed = match policy.kind {
                    ScaleType::Rps => self.samples.rps(),
                    ScaleType::Capacity => f64::from(self.samples.peak_concurrency()),
                    ScaleType::Cpu => cpu,
                };
                // A call held at zero counts as load, so the idler never undoes a wake-up.
                let idle = if concurrency > 0 { Some(Duration::ZERO) } else { load.calls.idle };
                (decider.decide(policy, now, observed, idle), observed)
            }
            (Scaling::Knative(config), State::Knative(kpa)) => {
                let observed = match config.metric {
                    // Average concurrency since the last tick, as queue-proxy reports it (the instant count on
                    // the first tick), and never less than the calls held right now: a burst that arrived just
                    // before the tick must not be averaged away.
                    Metric::Concurrency => self
                        .samples
                        .average_concurrency()
                        .unwrap_or(f64::from(concurrency))
                        .max(f64::from(load.calls.waiting)),
                    Metric::Rps => self.samples.rps(),
                };
                kpa.observe(now, observed);
                (kpa.decide(config, now, ready), observed)
            }
            (Scaling::Hpa(policy), State::Hpa(hpa)) => (hpa.decide(policy, now, ready, cpu), cpu),
            _ => (load.replicas.desired, 0.0),
        }
    }
}

/// The loop's memory: one decider per autoscaled function.
pub struct Autoscaler {
    provider: Arc<dyn Provider>,
    tracked: HashMap<QualifiedName, Tracked>,
}

impl Autoscaler {
    /// An autoscaler for `provider`'s functions.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Self { provider, tracked: HashMap::new() }
    }

    /// One pass over every function at `now`; starts the scale changes it decides (without waiting for drains)
    /// and returns them.
    pub fn tick(&mut self, now: Duration) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let names = self.provider.functions();
        self.tracked.retain(|name, _| names.contains(name));
        for name in names {
            let Some(load) = self.provider.load(&name) else { continue };
            let tracked = match self.tracked.get_mut(&name) {
                Some(t) if t.scaling == load.scaling => t,
                _ => match Tracked::new(load.scaling.clone()) {
                    Some(t) => self.tracked.entry(name.clone()).insert_entry(t).into_mut(),
                    None => {
                        self.tracked.remove(&name);
                        continue;
                    }
                },
            };
            let (mut desired, observed) = tracked.decide(now, &load);
            if load.calls.in_flight + load.calls.waiting > 0 {
                desired = desired.max(1);
            }
            let from = load.replicas.desired;
            if desired == from {
                continue;
            }
            self.provider.logs().write(
                &name,
                "autoscaler",
                &format!("scaling {from} -> {desired} replicas (load {observed:.1})"),
            );
            let provider = self.provider.clone();
            let function = name.clone();
            tokio::spawn(async move {
                if let Err(e) = provider.scale(&function, desired).await {
                    tracing::warn!(%function, "autoscaler could not scale to {desired}: {e}");
                }
            });
            decisions.push(Decision { function: name, from, to: desired, load: observed });
        }
        decisions
    }

    /// Ticks every `interval` until `stop`.
    pub async fn run(mut self, clock: Arc<dyn Clock>, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            self.tick(clock.now());
        }
    }
}
