//! A function on the local provider: its replicas behind a [`Router`], waking from zero on the first call
//! (one shared start, however many calls arrive meanwhile), the fork and http ways of running a call, and a
//! sampler reading each replica's CPU and memory every second (and reporting OOM kills).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::http::{HeaderValue, Response};
use async_trait::async_trait;
use sedge_core::{FunctionSpec, Mode};
use tokio::time::Instant;

use super::accounting::Accounting;
use super::command::Command;
use super::fork::{self, ForkSettings};
use super::http::{self, HttpClient};
use super::replica::{self, Replica, Supervised};
use super::resources::{Cgroups, Limits};
use super::router::{Admission, HOLD_LIMIT, Router, Slot};
use crate::invoke::{Call, ColdStart, Invoke, InvokeError, ResponseBody};
use crate::logs::LogHub;
use crate::provider::{ReplicaCounts, ReplicaState, ReplicaUsage, Usage};
use crate::stats::CallStats;

/// What a function needs from its provider besides its spec and command.
#[derive(Clone)]
pub struct Shared {
    /// Client for http-mode replicas.
    pub client: HttpClient,
    /// Log sink.
    pub logs: Arc<LogHub>,
    /// Longest hold of a call while the function wakes from zero (`--activation-timeout`).
    pub activation_timeout: Duration,
    /// Where replicas get their cgroups.
    pub cgroups: Arc<Cgroups>,
}

/// How often replicas' CPU and memory are read: each reading is a few cgroup files per replica (about 90 µs),
/// so with 1,000 functions a 1 s period cost 9 % of a core; OpenFaaS's cpu mode uses a 1 m rate anyway.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// One deployed function and its replicas.
pub struct LocalFunction {
    me: Weak<LocalFunction>,
    spec: FunctionSpec,
    label: String,
    command: Arc<Command>,
    content_type: Option<HeaderValue>,
    router: Arc<Router>,
    desired: AtomicU32,
    stats: CallStats,
    /// OOM kills in replicas already removed.
    retired_oom_kills: AtomicU64,
    shared: Shared,
}

impl LocalFunction {
    /// A function with no replicas yet; call [`LocalFunction::scale`].
    pub fn new(spec: FunctionSpec, command: Command, shared: Shared) -> Arc<Self> {
        let content_type = spec.content_type.as_deref().and_then(|ct| HeaderValue::from_str(ct).ok());
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            label: spec.name.to_string(),
            router: Router::new(spec.max_inflight, spec.queue),
            spec,
            command: Arc::new(command),
            content_type,
            desired: AtomicU32::new(0),
            stats: CallStats::default(),
            retired_oom_kills: AtomicU64::new(0),
            shared,
        })
    }

    /// Starts the sampler: every [`SAMPLE_INTERVAL`] it reads each replica's usage, until the function is gone.
    pub fn start_sampler(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let start = Instant::now();
            let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(f) = me.upgrade() else { return };
                let replicas = f.router.replicas();
                let now = start.elapsed();
                // cgroup and /proc files are read on the blocking pool, not on an async worker.
                let Ok(samples) = tokio::task::spawn_blocking(move || {
                    replicas.into_iter().map(|r| (r.accounting.sample(now), r)).collect::<Vec<_>>()
                })
                .await
                else {
                    continue;
                };
                for (sample, r) in samples.iter().filter(|(s, _)| s.new_oom_kills > 0) {
                    f.oom(r, sample.new_oom_kills);
                }
            }
        });
    }

    /// Logs OOM kills in replica `r`.
    fn oom(&self, r: &Replica, kills: u64) {
        let limit = r.accounting.memory_limit().map_or_else(String::new, |b| format!(" of {b} bytes"));
        self.shared.logs.write(
            &self.spec.name,
            &r.id,
            &format!("OOM: {kills} process(es) killed for exceeding the memory limit{limit}"),
        );
    }

    /// OOM kills seen so far, in current replicas and removed ones.
    pub fn oom_kills(&self) -> u64 {
        let current: u64 = self.router.replicas().iter().map(|r| r.accounting.oom_seen()).sum();
        self.retired_oom_kills.load(Ordering::Acquire) + current
    }

    /// Drains removed replicas, keeps their OOM counts and removes their cgroups.
    async fn retire(&self, removed: Vec<Arc<Replica>>, grace: Duration) {
        futures_util::future::join_all(removed.iter().map(|r| async move {
            r.drain(grace).await;
            let kills = r.release_resources().await;
            self.retired_oom_kills.fetch_add(kills, Ordering::AcqRel);
        }))
        .await;
    }

    /// The latest usage reading of each measured replica, and their sum (`None` when none is measured).
    pub fn usage(&self) -> (Option<Usage>, Vec<ReplicaUsage>) {
        let per: Vec<ReplicaUsage> = self
            .router
            .replicas()
            .iter()
            .filter(|r| r.accounting.measured())
            .map(|r| {
                let s = r.accounting.latest();
                ReplicaUsage { id: r.id.clone(), cpu_millicores: s.cpu_millicores, memory_bytes: s.memory_bytes }
            })
            .collect();
        let total = (!per.is_empty()).then(|| Usage {
            cpu_millicores: per.iter().map(|r| r.cpu_millicores).sum(),
            memory_bytes: per.iter().map(|r| r.memory_bytes).sum(),
        });
        (total, per)
    }

    /// The spec it runs.
    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// Its resolved command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// Its call counters.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Starts or drains replicas until there are `n`. Drained replicas finish their calls first.
    pub async fn scale(&self, n: u32) {
        self.desired.store(n, Ordering::Release);
        let removed = self.resize(n);
        self.retire(removed, self.spec.timeouts.write).await;
    }

    /// Adds or removes replicas so there are `n`; returns the removed ones, still to drain.
    fn resize(&self, n: u32) -> Vec<Arc<Replica>> {
        self.router.with_replicas(|replicas| {
            while replicas.len() < n as usize {
                replicas.push(self.start_replica());
            }
            let keep = n as usize;
            if replicas.len() > keep { replicas.split_off(keep) } else { Vec::new() }
        })
    }

    /// The activator's wake-up: the first call to a function at zero starts one replica; calls arriving
    /// meanwhile find it starting and wait for the same one.
    fn wake(&self) {
        if self.desired.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.shared.logs.write(&self.spec.name, "activator", "waking from zero");
            let _ = self.resize(1);
        }
    }

    fn start_replica(&self) -> Arc<Replica> {
        let id = format!("{}-{:08x}", self.spec.name.name, rand_suffix());
        let me = self.me.clone();
        let on_ready = Box::new(move || {
            if let Some(f) = me.upgrade() {
                f.router.wake_waiters();
            }
        });
        let limits = Limits { memory_bytes: self.spec.memory_limit, cpu_millicores: self.spec.cpu_limit };
        let (accounting, problem) = Accounting::new(&self.shared.cgroups, &self.label, &id, self.command.mode, limits);
        if let Some(problem) = problem {
            self.shared.logs.write(&self.spec.name, &id, &problem);
        }
        let replica = Replica::new(id, self.command.mode, on_ready, accounting);
        match self.command.mode {
            Mode::Fork => {
                tokio::spawn(replica::idle_until_stopped(replica.clone()));
            }
            Mode::Http => {
                tokio::spawn(replica::supervise(Supervised {
                    replica: replica.clone(),
                    function: self.spec.name.clone(),
                    command: self.command.clone(),
                    client: self.shared.client.clone(),
                    logs: self.shared.logs.clone(),
                }));
            }
        }
        replica
    }

    /// Desired and per-state counts.
    pub fn counts(&self) -> ReplicaCounts {
        let replicas = self.router.replicas();
        let by_state = ReplicaState::ALL
            .iter()
            .map(|&state| (state, replicas.iter().filter(|r| r.state() == state).count() as u32))
            .collect();
        ReplicaCounts { desired: self.desired.load(Ordering::Acquire), by_state }
    }

    /// Stops every replica, letting in-flight calls finish (at most `grace`).
    pub async fn stop(&self, grace: Duration) {
        let all = self.router.with_replicas(std::mem::take);
        self.retire(all, grace).await;
    }

    /// A slot for `call`, waiting in line when needed, with how long it waited for a replica to start when it
    /// did (a cold start).
    async fn slot(&self, call: &Call) -> Result<(Slot, Option<Duration>), InvokeError> {
        let arrived = Instant::now();
        let (slot, cold, wake) = match self.router.admit() {
            Admission::Slot(slot) => return Ok((slot, None)),
            Admission::Full => {
                return Err(InvokeError::Overloaded { limit: self.spec.max_inflight.unwrap_or(0) });
            }
            Admission::HoldFull => {
                return Err(InvokeError::HoldFull { function: self.label.clone(), held: HOLD_LIMIT });
            }
            Admission::Wait { slot, cold, wake } => (slot, cold, wake),
        };
        if wake {
            self.wake();
        }
        let (deadline, _) = call.deadlines.first();
        let activation = arrived + self.shared.activation_timeout;
        let bound = if cold { deadline.min(activation) } else { deadline };
        match tokio::time::timeout_at(bound, slot).await {
            Ok(Ok(slot)) => Ok((slot, cold.then(|| arrived.elapsed()))),
            // The router drops a waiter only when the function is being removed.
            Ok(Err(_)) => Err(InvokeError::NoReplicas { function: self.label.clone() }),
            Err(_) if cold && activation <= deadline => Err(InvokeError::ActivationTimeout {
                function: self.label.clone(),
                after: self.shared.activation_timeout,
            }),
            Err(_) if cold => Err(InvokeError::NoReplicas { function: self.label.clone() }),
            Err(_) => {
                Err(InvokeError::NoResponse { function: self.label.clone(), after: call.deadlines.respond_after })
            }
        }
    }

    async fn run(&self, slot: Slot, call: Call) -> Result<Response<ResponseBody>, InvokeError> {
        match self.command.mode {
            Mode::Http => http::forward(&self.shared.client, &self.label, slot.replica().port(), call).await,
            Mode::Fork => {
                let settings = ForkSettings {
                    function: &self.label,
                    command: &self.command,
                    combine_output: self.spec.combine_output,
                    content_type: self.content_type.as_ref(),
                    accounting: &slot.replica().accounting,
                };
                let request_line = format!("{} {}", call.method, call.path);
                let started = Instant::now();
                let outcome = fork::run(&settings, call).await;
                let result = match &outcome.result {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(e) => e.to_string(),
                };
                let took = started.elapsed().as_secs_f64();
                let logs = &self.shared.logs;
                logs.write(&self.spec.name, &slot.replica().id, &format!("{request_line}: {result} in {took:.6}s"));
                if !outcome.stderr.is_empty() {
                    for line in String::from_utf8_lossy(&outcome.stderr).lines() {
                        logs.write(&self.spec.name, &slot.replica().id, line);
                    }
                }
                if let Err(InvokeError::ProcessFailed { .. }) = &outcome.result {
                    let kills = slot.replica().accounting.take_oom_kills();
                    if kills > 0 {
                        self.oom(slot.replica(), kills);
                    }
                }
                outcome.result
            }
        }
    }
}

#[async_trait]
impl Invoke for LocalFunction {
    fn timeouts(&self) -> sedge_core::Timeouts {
        self.spec.timeouts
    }

    async fn invoke(&self, call: Call) -> Result<Response<ResponseBody>, InvokeError> {
        let mut arrival = self.stats.arrive();
        let (slot, cold) = self.slot(&call).await?;
        arrival.running();
        if let Some(waited) = cold {
            self.stats.cold_start(waited);
        }
        let mut response = self.run(slot, call).await?;
        response.extensions_mut().insert(ColdStart(cold));
        Ok(response)
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    // A per-process random seed plus a counter: unique enough for instance names, no RNG dependency.
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() as u32
}
