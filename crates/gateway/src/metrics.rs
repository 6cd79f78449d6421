//! Prometheus metrics at `/metrics`, named as the OpenFaaS gateway names them, plus sedge's own.
//!
//! - `gateway_function_invocation_total{function_name,code}` (counter)
//! - `gateway_functions_seconds{function_name,code}` (histogram, Go's default buckets)
//! - `gateway_function_invocation_started{function_name}`: exposed with gauge type, because
//!   prometheus-client (OpenMetrics) appends `_total` to every counter and OpenFaaS's name has none;
//!   `rate()` reads it the same.
//! - `gateway_service_count{function_name}` and `sedge_replicas{function_name,state}`: read from the provider
//!   at scrape time.
//! - `sedge_log_lines_dropped`: log lines the file writer could not keep up with.
//! - `sedge_cold_starts_total{function_name}` (counter) and `sedge_cold_start_seconds{function_name}`
//!   (histogram): calls that waited for a replica to start, and how long.
//! - `sedge_replica_cpu_millicores{function_name,replica}`, `sedge_replica_memory_bytes{function_name,replica}`,
//!   `sedge_oom_kills{function_name}` (gauge: a count since the function started) and
//!   `sedge_prebake_memory_bytes{function_name}` (what a fork server costs): read from the provider at scrape
//!   time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sedge_runtime::{Provider, ReplicaState};

/// Labels of per-call metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `name.namespace`.
    pub function_name: String,
    /// HTTP status code.
    pub code: String,
}

/// Labels of per-function metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FunctionLabels {
    /// `name.namespace`.
    pub function_name: String,
}

/// Labels of `sedge_replicas`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaLabels {
    /// `name.namespace`.
    pub function_name: String,
    /// Replica state.
    pub state: String,
}

/// Labels of per-replica gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaIdLabels {
    /// `name.namespace`.
    pub function_name: String,
    /// Instance name.
    pub replica: String,
}

/// One function's per-call metric handles, resolved once so a call does one map lookup and no allocation.
#[derive(Clone, Default)]
struct CallHandles {
    started: Gauge,
    by_code: Vec<(u16, Counter, Histogram)>,
}

/// The gateway's metric families.
pub struct Metrics {
    handles: std::sync::RwLock<std::collections::HashMap<String, CallHandles>>,
    registry: Registry,
    invocations: Family<CallLabels, Counter>,
    seconds: Family<CallLabels, Histogram>,
    started: Family<FunctionLabels, Gauge>,
    service_count: Family<FunctionLabels, Gauge>,
    replicas: Family<ReplicaLabels, Gauge>,
    log_lines_dropped: Gauge,
    cold_starts: Family<FunctionLabels, Counter>,
    cold_start_seconds: Family<FunctionLabels, Histogram>,
    replica_cpu: Family<ReplicaIdLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    replica_memory: Family<ReplicaIdLabels, Gauge>,
    oom_kills: Family<FunctionLabels, Gauge>,
    prebake_memory: Family<FunctionLabels, Gauge>,
}

/// 1 ms to ~65 s: a fork-mode wake-up takes well under a millisecond, a Python interpreter start a second.
fn cold_start_buckets() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 17))
}

fn go_default_buckets() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

impl Metrics {
    /// The gateway's families, plus those `provider` registers (model batch sizes, load times, …).
    pub fn new(provider: &dyn Provider) -> Self {
        let mut registry = Registry::default();
        provider.register_metrics(&mut registry);
        let invocations = Family::<CallLabels, Counter>::default();
        let seconds = Family::<CallLabels, Histogram>::new_with_constructor(go_default_buckets as fn() -> Histogram);
        let started = Family::<FunctionLabels, Gauge>::default();
        let service_count = Family::<FunctionLabels, Gauge>::default();
        let replicas = Family::<ReplicaLabels, Gauge>::default();
        registry.register("gateway_function_invocation", "Function invocations by status code", invocations.clone());
        registry.register("gateway_functions_seconds", "Function call duration", seconds.clone());
        registry.register("gateway_function_invocation_started", "Function invocations started", started.clone());
        registry.register("gateway_service_count", "Ready replicas per function", service_count.clone());
        registry.register("sedge_replicas", "Replicas per function and state", replicas.clone());
        let log_lines_dropped = Gauge::default();
        registry.register(
            "sedge_log_lines_dropped",
            "Replica log lines not written to the log files because the writer fell behind",
            log_lines_dropped.clone(),
        );
        let cold_starts = Family::<FunctionLabels, Counter>::default();
        let cold_start_seconds =
            Family::<FunctionLabels, Histogram>::new_with_constructor(cold_start_buckets as fn() -> Histogram);
        registry.register("sedge_cold_starts", "Calls that waited for a replica to start", cold_starts.clone());
        registry.register(
            "sedge_cold_start_seconds",
            "How long calls waited for a replica to start",
            cold_start_seconds.clone(),
        );
        let replica_cpu = Family::<ReplicaIdLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let replica_memory = Family::<ReplicaIdLabels, Gauge>::default();
        let oom_kills = Family::<FunctionLabels, Gauge>::default();
        let prebake_memory = Family::<FunctionLabels, Gauge>::default();
        registry.register("sedge_replica_cpu_millicores", "CPU per replica (1000 = one core)", replica_cpu.clone());
        registry.register("sedge_replica_memory_bytes", "Working-set memory per replica", replica_memory.clone());
        registry.register(
            "sedge_oom_kills",
            "Replica processes killed for exceeding the memory limit",
            oom_kills.clone(),
        );
        registry.register(
            "sedge_prebake_memory_bytes",
            "Resident memory of a function's Python fork server",
            prebake_memory.clone(),
        );
        Self {
            replica_cpu,
            replica_memory,
            oom_kills,
            prebake_memory,
            cold_starts,
            cold_start_seconds,
            handles: Default::default(),
            registry,
            invocations,
            seconds,
            started,
            service_count,
            replicas,
            log_lines_dropped,
        }
    }

    /// Counts a call as started.
    pub fn call_started(&self, function: &str) {
        let cached = self.read_handles(function, |h| h.started.inc());
        if cached.is_none() {
            self.write_handles(function, |h| {
                h.started.inc();
            });
        }
    }

    /// Counts a finished call.
    pub fn call_finished(&self, function: &str, code: u16, seconds: f64) {
        let record = |h: &CallHandles| {
            let (_, count, hist) = h.by_code.iter().find(|(c, _, _)| *c == code)?;
            count.inc();
            hist.observe(seconds);
            Some(())
        };
        if self.read_handles(function, record).flatten().is_none() {
            self.write_handles(function, |h| {
                let labels = CallLabels { function_name: function.to_string(), code: code.to_string() };
                let count = self.invocations.get_or_create(&labels).clone();
                let hist = self.seconds.get_or_create(&labels).clone();
                count.inc();
                hist.observe(seconds);
                h.by_code.push((code, count, hist));
            });
        }
    }

    /// Counts a cold start that made a call wait `seconds`.
    pub fn cold_start(&self, function: &str, seconds: f64) {
        let labels = FunctionLabels { function_name: function.to_string() };
        self.cold_starts.get_or_create(&labels).inc();
        self.cold_start_seconds.get_or_create(&labels).observe(seconds);
    }

    /// Forgets a removed function's cached handles (its series stay until restart, as in Prometheus clients).
    pub fn forget(&self, function: &str) {
        self.handles.write().unwrap_or_else(|p| p.into_inner()).remove(function);
    }

    fn read_handles<T>(&self, function: &str, f: impl FnOnce(&CallHandles) -> T) -> Option<T> {
        self.handles.read().unwrap_or_else(|p| p.into_inner()).get(function).map(f)
    }

    fn write_handles(&self, function: &str, f: impl FnOnce(&mut CallHandles)) {
        let mut handles = self.handles.write().unwrap_or_else(|p| p.into_inner());
        let entry = handles.entry(function.to_string()).or_insert_with(|| CallHandles {
            started: self.started.get_or_create(&FunctionLabels { function_name: function.to_string() }).clone(),
            by_code: Vec::new(),
        });
        f(entry);
    }

    /// Renders the text exposition, refreshing replica gauges from `provider` first.
    pub fn render(&self, provider: &dyn Provider) -> String {
        self.service_count.clear();
        self.replicas.clear();
        self.replica_cpu.clear();
        self.replica_memory.clear();
        self.oom_kills.clear();
        self.prebake_memory.clear();
        for name in provider.functions() {
            let Some(load) = provider.load(&name) else { continue };
            let function_name = name.to_string();
            self.service_count
                .get_or_create(&FunctionLabels { function_name: function_name.clone() })
                .set(i64::from(load.replicas.count(ReplicaState::Ready)));
            for &(state, n) in &load.replicas.by_state {
                let labels = ReplicaLabels { function_name: function_name.clone(), state: state.as_str().to_string() };
                self.replicas.get_or_create(&labels).set(i64::from(n));
            }
            for r in &load.replica_usage {
                let labels = ReplicaIdLabels { function_name: function_name.clone(), replica: r.id.clone() };
                self.replica_cpu.get_or_create(&labels).set(r.cpu_millicores);
                self.replica_memory.get_or_create(&labels).set(i64::try_from(r.memory_bytes).unwrap_or(i64::MAX));
            }
            let labels = FunctionLabels { function_name: function_name.clone() };
            self.oom_kills.get_or_create(&labels).set(i64::try_from(load.oom_kills).unwrap_or(i64::MAX));
            if let Some(bytes) = load.prebake_memory_bytes {
                self.prebake_memory.get_or_create(&labels).set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        }
        self.log_lines_dropped.set(i64::try_from(provider.logs().dropped()).unwrap_or(i64::MAX));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}
