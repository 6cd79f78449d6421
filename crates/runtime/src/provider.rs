//! [`Provider`]: the seam between "what should run" (the gateway, the store) and "where it runs".

use std::sync::Arc;

use async_trait::async_trait;
use sedge_core::autoscale::Scaling;
use sedge_core::{FunctionSpec, QualifiedName};

use prometheus_client::registry::Registry;

use crate::invoke::Invoke;
use crate::local::model::ModelFunction;
use crate::logs::LogHub;
use crate::stats::StatsSnapshot;

/// The lifecycle state of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplicaState {
    /// Process started, readiness not yet confirmed.
    Starting,
    /// Taking traffic.
    Ready,
    /// Finishing in-flight calls before it stops.
    Draining,
    /// Exited or never became ready; waiting to restart.
    Failed,
}

impl ReplicaState {
    /// All states, for metrics.
    pub const ALL: [ReplicaState; 4] = [Self::Starting, Self::Ready, Self::Draining, Self::Failed];

    /// Lower-case name, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Draining => "draining",
            Self::Failed => "failed",
        }
    }
}

/// Replica counts of one function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaCounts {
    /// Desired replicas.
    pub desired: u32,
    /// Replicas per state.
    pub by_state: Vec<(ReplicaState, u32)>,
}

impl ReplicaCounts {
    /// Replicas in `state`.
    pub fn count(&self, state: ReplicaState) -> u32 {
        self.by_state.iter().filter(|(s, _)| *s == state).map(|(_, n)| n).sum()
    }
}

/// Resources used by a function's replicas together, as last sampled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU in millicores (1000 = one core), over the last sampling interval.
    pub cpu_millicores: f64,
    /// Working-set memory in bytes.
    pub memory_bytes: u64,
}

/// One replica's latest resource reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaUsage {
    /// Instance name.
    pub id: String,
    /// CPU in millicores over the last sampling interval.
    pub cpu_millicores: f64,
    /// Working-set memory in bytes.
    pub memory_bytes: u64,
}

/// One function as the autoscaler sees it at one moment.
#[derive(Debug, Clone)]
pub struct FunctionLoad {
    /// Its scaling policy.
    pub scaling: Scaling,
    /// Call counters.
    pub calls: StatsSnapshot,
    /// Replica counts.
    pub replicas: ReplicaCounts,
    /// Resource usage of all replicas together, when sampled.
    pub usage: Option<Usage>,
    /// Per-replica readings.
    pub replica_usage: Vec<ReplicaUsage>,
    /// Replica processes killed for exceeding the memory limit.
    pub oom_kills: u64,
    /// Resident memory of the function's fork server (prebaked Python), kept while it is at zero too.
    pub prebake_memory_bytes: Option<u64>,
}

/// Why the provider refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The spec cannot run here (executable missing, bundle missing); the message says what was tried.
    #[error("{0}")]
    Invalid(String),
    /// No such function.
    #[error("function {0} not found")]
    NotFound(String),
    /// The machine failed (files, processes).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A model version fetched from the registry onto this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedModel {
    /// The local file holding its bytes.
    pub path: std::path::PathBuf,
    /// The registered version it is.
    pub version: u32,
    /// Its sha256, lowercase hex.
    pub sha256: String,
}

/// Where `registry:NAME[:VERSION|@STAGE]` model sources come from (the gateway's registry). The provider asks
/// at every deploy and restart, so a model function serves what the reference names now.
#[async_trait]
pub trait ModelResolver: Send + Sync {
    /// Fetches the version `reference` (what follows `registry:`) names now into a local file.
    /// [`ProviderError::Invalid`] names what is missing (no such model, version or stage).
    async fn fetch(&self, reference: &str) -> Result<FetchedModel, ProviderError>;
}

/// Runs functions somewhere: the local provider runs processes on this machine.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Checks that `spec` can run here, without starting anything.
    async fn check(&self, spec: &FunctionSpec) -> Result<(), ProviderError>;
    /// Creates or replaces a function with `replicas` replicas and the given secret values.
    async fn apply(
        &self,
        spec: FunctionSpec,
        replicas: u32,
        secrets: Vec<(String, Vec<u8>)>,
    ) -> Result<(), ProviderError>;
    /// Stops and forgets a function.
    async fn remove(&self, name: &QualifiedName) -> Result<(), ProviderError>;
    /// Sets the number of replicas.
    async fn scale(&self, name: &QualifiedName, replicas: u32) -> Result<(), ProviderError>;
    /// Writes (or with `None`, removes) a secret for every function in `namespace` that names it.
    async fn write_secret(&self, namespace: &str, name: &str, value: Option<&[u8]>) -> Result<(), ProviderError>;
    /// Replica counts of a function.
    fn replicas(&self, name: &QualifiedName) -> Option<ReplicaCounts>;
    /// The function's router, if it exists.
    fn target(&self, name: &QualifiedName) -> Option<Arc<dyn Invoke>>;
    /// Names of all functions.
    fn functions(&self) -> Vec<QualifiedName>;
    /// What the autoscaler and `describe` read about a function now: its scaling policy, call counters,
    /// replicas and resource usage.
    fn load(&self, name: &QualifiedName) -> Option<FunctionLoad>;
    /// The model function `name`, for the `/v2` routes; `None` when it is not one (or does not exist).
    fn model(&self, name: &QualifiedName) -> Option<Arc<ModelFunction>> {
        let _ = name;
        None
    }
    /// Registers the provider's own metric families (model batch sizes, load times, …) in `registry`.
    fn register_metrics(&self, registry: &mut Registry) {
        let _ = registry;
    }
    /// Captured logs.
    fn logs(&self) -> &LogHub;
    /// Stops every replica, letting in-flight calls finish first.
    async fn shutdown(&self);
}
