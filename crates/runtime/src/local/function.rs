//! A function on the local provider: its replicas, and the router that sends each call to the ready replica
//! with the fewest calls in flight, answering 429 when all are at `max_inflight`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ::http::{HeaderValue, Response};
use async_trait::async_trait;
use sedge_core::{FunctionSpec, Mode};
use tokio::sync::Notify;

use super::command::Command;
use super::fork::{self, ForkSettings};
use super::http::{self, HttpClient};
use super::replica::{self, Replica, Slot, Supervised};
use crate::invoke::{Call, Invoke, InvokeError, ResponseBody};
use crate::logs::LogHub;
use crate::provider::{ReplicaCounts, ReplicaState};

/// One deployed function and its replicas.
pub struct LocalFunction {
    spec: FunctionSpec,
    label: String,
    command: Arc<Command>,
    content_type: Option<HeaderValue>,
    replicas: RwLock<Vec<Arc<Replica>>>,
    desired: std::sync::atomic::AtomicU32,
    became_ready: Arc<Notify>,
    client: HttpClient,
    logs: Arc<LogHub>,
}

impl LocalFunction {
    /// A function with no replicas yet; call [`LocalFunction::scale`].
    pub fn new(spec: FunctionSpec, command: Command, client: HttpClient, logs: Arc<LogHub>) -> Arc<Self> {
        let content_type = spec.content_type.as_deref().and_then(|ct| HeaderValue::from_str(ct).ok());
        Arc::new(Self {
            label: spec.name.to_string(),
            spec,
            command: Arc::new(command),
            content_type,
            replicas: RwLock::default(),
            desired: Default::default(),
            became_ready: Arc::new(Notify::new()),
            client,
            logs,
        })
    }

    /// The spec it runs.
    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// Its resolved command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// Starts or drains replicas until there are `n`. Drained replicas finish their calls first.
    pub async fn scale(&self, n: u32) {
        self.desired.store(n, std::sync::atomic::Ordering::Release);
        let removed: Vec<Arc<Replica>> = {
            let mut replicas = self.replicas.write().unwrap_or_else(|p| p.into_inner());
            while replicas.len() < n as usize {
                replicas.push(self.start_replica());
            }
            let keep = n as usize;
            if replicas.len() > keep { replicas.split_off(keep) } else { Vec::new() }
        };
        let grace = self.spec.timeouts.write;
        futures_util::future::join_all(removed.iter().map(|r| r.drain(grace))).await;
    }

    fn start_replica(&self) -> Arc<Replica> {
        let id = format!("{}-{:08x}", self.spec.name.name, rand_suffix());
        let replica = Replica::new(id, self.command.mode);
        match self.command.mode {
            Mode::Fork => {
                tokio::spawn(replica::idle_until_stopped(replica.clone()));
            }
            Mode::Http => {
                tokio::spawn(replica::supervise(Supervised {
                    replica: replica.clone(),
                    function: self.spec.name.clone(),
                    command: self.command.clone(),
                    client: self.client.clone(),
                    logs: self.logs.clone(),
                    became_ready: self.became_ready.clone(),
                }));
            }
        }
        replica
    }

    /// Desired and per-state counts.
    pub fn counts(&self) -> ReplicaCounts {
        let replicas = self.replicas.read().unwrap_or_else(|p| p.into_inner());
        let by_state = ReplicaState::ALL
            .iter()
            .map(|&state| (state, replicas.iter().filter(|r| r.state() == state).count() as u32))
            .collect();
        ReplicaCounts { desired: self.desired.load(std::sync::atomic::Ordering::Acquire), by_state }
    }

    /// Picks the ready replica with the fewest calls in flight and takes a slot on it.
    fn pick(&self) -> Pick {
        let replicas = self.replicas.read().unwrap_or_else(|p| p.into_inner());
        let mut ready: Vec<&Arc<Replica>> = replicas.iter().filter(|r| r.state() == ReplicaState::Ready).collect();
        if ready.is_empty() {
            return if replicas.iter().any(|r| matches!(r.state(), ReplicaState::Starting | ReplicaState::Failed)) {
                Pick::Wait
            } else {
                Pick::None
            };
        }
        ready.sort_by_key(|r| r.inflight());
        match ready.iter().find_map(|r| r.try_acquire(self.spec.max_inflight)) {
            Some(slot) => Pick::Slot(slot),
            None => Pick::Full,
        }
    }

    /// Stops every replica, letting in-flight calls finish (at most `grace`).
    pub async fn stop(&self, grace: Duration) {
        let all: Vec<Arc<Replica>> = std::mem::take(&mut *self.replicas.write().unwrap_or_else(|p| p.into_inner()));
        futures_util::future::join_all(all.iter().map(|r| r.drain(grace))).await;
    }
}

enum Pick {
    Slot(Slot),
    Full,
    Wait,
    None,
}

#[async_trait]
impl Invoke for LocalFunction {
    fn timeouts(&self) -> sedge_core::Timeouts {
        self.spec.timeouts
    }

    async fn invoke(&self, call: Call) -> Result<Response<ResponseBody>, InvokeError> {
        let slot = loop {
            // Register for wake-ups before looking, so a replica that becomes ready in between is not missed.
            let became_ready = self.became_ready.notified();
            match self.pick() {
                Pick::Slot(slot) => break slot,
                Pick::Full => return Err(InvokeError::Overloaded { limit: self.spec.max_inflight.unwrap_or(0) }),
                Pick::None => return Err(InvokeError::NoReplicas { function: self.label.clone() }),
                Pick::Wait => {
                    let (deadline, _) = call.deadlines.first();
                    if tokio::time::timeout_at(deadline, became_ready).await.is_err() {
                        return Err(InvokeError::NoReplicas { function: self.label.clone() });
                    }
                }
            }
        };
        match self.command.mode {
            Mode::Http => http::forward(&self.client, &self.label, slot.replica().port(), call).await,
            Mode::Fork => {
                let settings = ForkSettings {
                    function: &self.label,
                    command: &self.command,
                    combine_output: self.spec.combine_output,
                    content_type: self.content_type.as_ref(),
                };
                let request_line = format!("{} {}", call.method, call.path);
                let started = tokio::time::Instant::now();
                let outcome = fork::run(&settings, call).await;
                let result = match &outcome.result {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(e) => e.to_string(),
                };
                let took = started.elapsed().as_secs_f64();
                self.logs.write(
                    &self.spec.name,
                    &slot.replica().id,
                    &format!("{request_line}: {result} in {took:.6}s"),
                );
                if !outcome.stderr.is_empty() {
                    for line in String::from_utf8_lossy(&outcome.stderr).lines() {
                        self.logs.write(&self.spec.name, &slot.replica().id, line);
                    }
                }
                outcome.result
            }
        }
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    // A per-process random seed plus a counter: unique enough for instance names, no RNG dependency.
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish() as u32
}
