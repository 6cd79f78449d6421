//! The local provider: every replica is a process on this machine (fork mode: one per call; http mode: one
//! long-running server per replica), supervised by sedge itself, or for a model function an engine instance
//! inside this process. No Docker, no Kubernetes.
//!
//! # Layout
//! - [`accounting`]: one replica's confinement and resource readings.
//! - [`command`]: resolving what to run (fprocess or bundle), checked at deploy time.
//! - [`fork`]: one process per call, classic watchdog semantics.
//! - [`http`]: proxying to a replica's server, of-watchdog http semantics.
//! - [`prebake`]: a fork server per python3 / python3-http function that imports the handler once.
//! - [`resources`]: per-replica memory and CPU limits (cgroup v1, v2 or setrlimit) and usage readings.
//! - [`replica`]: replica state, in-flight slots, http-mode supervision with restarts.
//! - [`router`]: least-in-flight routing, the per-replica limit, and the FIFO line of held and queued calls.
//! - [`function`]: a function's replicas, its wake-up from zero, and how a call runs.
//! - [`model`]: a model function: engine instances in this process, hot swap, the kept model file.
//! - [`secrets`]: secret files, readable only by the function that names them.

pub mod accounting;
pub mod command;
pub mod fork;
pub mod function;
pub mod http;
pub mod model;
pub mod prebake;
pub mod replica;
pub mod resources;
pub mod router;
pub mod secrets;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::registry::Registry;
use sedge_core::{FunctionSpec, QualifiedName};
use sedge_models::serve::ServedModel;
use sedge_models::serve::metrics::ModelMetrics;
use tokio_util::sync::CancellationToken;

use crate::invoke::Invoke;
use crate::logs::LogHub;
use crate::provider::{FunctionLoad, ModelResolver, Provider, ProviderError, ReplicaCounts};
use function::LocalFunction;
use model::{ModelFile, ModelFunction};

/// A deployed function of either kind.
#[derive(Clone)]
enum Deployed {
    Process(Arc<LocalFunction>),
    Model(Arc<ModelFunction>),
}

impl Deployed {
    async fn stop(&self) {
        match self {
            Self::Process(f) => f.stop(f.spec().timeouts.write).await,
            Self::Model(m) => m.stop().await,
        }
    }
}

/// A model loaded by [`Provider::check`], handed to the [`Provider::apply`] that follows.
struct Prepared {
    file: ModelFile,
    model: ServedModel,
}

/// Runs functions as processes on this machine, and model functions inside this process.
pub struct LocalProvider {
    state_dir: PathBuf,
    functions: RwLock<HashMap<QualifiedName, Deployed>>,
    prepared: Mutex<HashMap<QualifiedName, Prepared>>,
    client: http::HttpClient,
    logs: Arc<LogHub>,
    model_metrics: ModelMetrics,
    activation_timeout: Duration,
    cgroups: Arc<resources::Cgroups>,
    shutdown: CancellationToken,
    registry: Option<Arc<dyn ModelResolver>>,
    platform_env: Vec<(String, String)>,
}

/// How long a call to a function at zero is held by default while it wakes (`--activation-timeout`).
pub const DEFAULT_ACTIVATION_TIMEOUT: Duration = Duration::from_secs(60);

impl LocalProvider {
    /// A provider keeping bundles, run folders, model copies and logs under `state_dir`, with the cgroups
    /// detected on this machine. Must be called inside a tokio runtime.
    pub fn new(state_dir: PathBuf) -> Self {
        Self::with_cgroups(state_dir, resources::Cgroups::detect())
    }

    /// As [`LocalProvider::new`], confining replicas with `cgroups` (e.g. [`resources::Cgroups::unavailable`]).
    pub fn with_cgroups(state_dir: PathBuf, cgroups: resources::Cgroups) -> Self {
        let logs = Arc::new(LogHub::new(state_dir.join("logs")));
        Self {
            state_dir,
            functions: RwLock::default(),
            prepared: Mutex::default(),
            client: http::client(),
            logs,
            model_metrics: ModelMetrics::default(),
            activation_timeout: DEFAULT_ACTIVATION_TIMEOUT,
            cgroups: Arc::new(cgroups),
            shutdown: CancellationToken::new(),
            registry: None,
            platform_env: Vec::new(),
        }
    }

    /// How replicas are confined here, for the startup log.
    pub fn resources(&self) -> String {
        self.cgroups.describe()
    }

    /// Sets how long a call to a function at zero is held while the function wakes.
    pub fn with_activation_timeout(mut self, timeout: Duration) -> Self {
        self.activation_timeout = timeout;
        self
    }

    /// Fetches `registry:` model sources through `registry`.
    pub fn with_model_registry(mut self, registry: Arc<dyn ModelResolver>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Variables every process function gets from the platform (the gateway's URL and API token), set after
    /// the function's own so a function cannot mask them.
    pub fn with_platform_env(mut self, env: Vec<(String, String)>) -> Self {
        self.platform_env = env;
        self
    }

    fn shared(&self) -> function::Shared {
        function::Shared {
            client: self.client.clone(),
            logs: self.logs.clone(),
            activation_timeout: self.activation_timeout,
            cgroups: self.cgroups.clone(),
        }
    }

    fn deployed(&self, name: &QualifiedName) -> Option<Deployed> {
        self.functions.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Starts or hot-swaps a model function.
    async fn apply_model(&self, spec: FunctionSpec, replicas: u32) -> Result<(), ProviderError> {
        let Some(model) = spec.model.clone() else { return Err(ProviderError::Invalid("not a model function".into())) };
        let prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner()).remove(&spec.name);
        let (file, first) = match prepared {
            Some(p) => (p.file, Some(p.model)),
            // A restart: serve the copy kept at deploy.
            None => (ModelFile::read(&spec, &model, &self.state_dir, true, self.registry.as_deref()).await?, None),
        };
        file.keep(&self.state_dir, &spec).await?;
        let name = spec.name.clone();
        if let Some(Deployed::Model(existing)) = self.deployed(&name) {
            return existing.swap(spec, file, first, replicas).await;
        }
        let function = ModelFunction::start(
            spec,
            file,
            first,
            replicas,
            self.activation_timeout,
            self.model_metrics.clone(),
            self.shutdown.child_token(),
        )
        .await?;
        let old = self.functions.write().unwrap_or_else(|p| p.into_inner()).insert(name, Deployed::Model(function));
        if let Some(old) = old {
            old.stop().await;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for LocalProvider {
    async fn check(&self, spec: &FunctionSpec) -> Result<(), ProviderError> {
        let Some(model) = &spec.model else {
            return command::resolve(spec, &self.state_dir, &self.platform_env).map(drop);
        };
        // Load now, so that a corrupt model or an unsupported operator is refused before anything is stored;
        // the loaded instance serves once `apply` follows.
        let file = ModelFile::read(spec, model, &self.state_dir, false, self.registry.as_deref()).await?;
        let served = ModelFunction::load_instance(spec, &file, &self.model_metrics, &self.shutdown).await?;
        let prepared = Prepared { file, model: served };
        self.prepared.lock().unwrap_or_else(|p| p.into_inner()).insert(spec.name.clone(), prepared);
        Ok(())
    }

    async fn apply(
        &self,
        spec: FunctionSpec,
        replicas: u32,
        secrets: Vec<(String, Vec<u8>)>,
    ) -> Result<(), ProviderError> {
        if spec.model.is_some() {
            return self.apply_model(spec, replicas).await;
        }
        let mut command = command::resolve(&spec, &self.state_dir, &self.platform_env)?;
        let dir = command::run_dir(&self.state_dir, &spec);
        tokio::fs::create_dir_all(&dir).await?;
        secrets::write_all(&command.secrets_dir, &secrets).await?;
        let name = spec.name.clone();
        if matches!(command.prebake, command::Prebake::Possible) {
            // The script lives in the run folder; a server that cannot start leaves the function un-prebaked.
            match prebake::ForkServer::start(&command, &dir, self.logs.clone(), name.clone()).await {
                Ok(server) => command.prebake = command::Prebake::Running(server),
                Err(e) => {
                    let line = format!("fork server did not start ({e}); processes start un-prebaked");
                    self.logs.write(&name, prebake::LOG_INSTANCE, &line);
                    command.prebake = command::Prebake::Off;
                }
            }
        }
        let function = LocalFunction::new(spec, command, self.shared());
        function.start_sampler();
        function.scale(replicas).await;
        let old = self.functions.write().unwrap_or_else(|p| p.into_inner()).insert(name, Deployed::Process(function));
        if let Some(old) = old {
            old.stop().await;
            stop_fork_server(&old);
        }
        Ok(())
    }

    async fn remove(&self, name: &QualifiedName) -> Result<(), ProviderError> {
        let removed = self.functions.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        let Some(deployed) = removed else { return Err(ProviderError::NotFound(name.to_string())) };
        deployed.stop().await;
        stop_fork_server(&deployed);
        self.logs.forget(name);
        match deployed {
            Deployed::Process(f) => {
                let _ = tokio::fs::remove_dir_all(command::run_dir(&self.state_dir, f.spec())).await;
            }
            Deployed::Model(m) => {
                let _ = tokio::fs::remove_file(model::copy_path(&self.state_dir, &m.spec())).await;
            }
        }
        Ok(())
    }

    async fn scale(&self, name: &QualifiedName, replicas: u32) -> Result<(), ProviderError> {
        match self.deployed(name).ok_or_else(|| ProviderError::NotFound(name.to_string()))? {
            Deployed::Process(f) => {
                f.scale(replicas).await;
                Ok(())
            }
            Deployed::Model(m) => m.scale(replicas).await,
        }
    }

    async fn write_secret(&self, namespace: &str, name: &str, value: Option<&[u8]>) -> Result<(), ProviderError> {
        let users: Vec<Arc<LocalFunction>> = self
            .functions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|d| match d {
                Deployed::Process(f) => Some(f),
                Deployed::Model(_) => None,
            })
            .filter(|f| f.spec().name.namespace == namespace && f.spec().secrets().iter().any(|s| s == name))
            .cloned()
            .collect();
        for f in users {
            secrets::write_one(&f.command().secrets_dir, name, value).await?;
        }
        Ok(())
    }

    fn replicas(&self, name: &QualifiedName) -> Option<ReplicaCounts> {
        match self.deployed(name)? {
            Deployed::Process(f) => Some(f.counts()),
            Deployed::Model(m) => Some(m.counts()),
        }
    }

    fn target(&self, name: &QualifiedName) -> Option<Arc<dyn Invoke>> {
        match self.deployed(name)? {
            Deployed::Process(f) => Some(f as Arc<dyn Invoke>),
            Deployed::Model(m) => Some(m as Arc<dyn Invoke>),
        }
    }

    fn load(&self, name: &QualifiedName) -> Option<FunctionLoad> {
        Some(match self.deployed(name)? {
            Deployed::Process(f) => {
                let (usage, replica_usage) = f.usage();
                FunctionLoad {
                    scaling: f.spec().scaling.clone(),
                    calls: f.stats().snapshot(),
                    replicas: f.counts(),
                    usage,
                    replica_usage,
                    oom_kills: f.oom_kills(),
                    prebake_memory_bytes: f.command().fork_server().map(|s| s.memory_bytes()),
                }
            }
            Deployed::Model(m) => FunctionLoad {
                scaling: m.scaling(),
                calls: m.stats().snapshot(),
                replicas: m.counts(),
                usage: None,
                replica_usage: Vec::new(),
                oom_kills: 0,
                prebake_memory_bytes: None,
            },
        })
    }

    fn model(&self, name: &QualifiedName) -> Option<Arc<ModelFunction>> {
        match self.deployed(name)? {
            Deployed::Model(m) => Some(m),
            Deployed::Process(_) => None,
        }
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.model_metrics.register(registry);
    }

    fn functions(&self) -> Vec<QualifiedName> {
        self.functions.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    fn logs(&self) -> &LogHub {
        &self.logs
    }

    async fn shutdown(&self) {
        let all: Vec<Deployed> =
            self.functions.write().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, f)| f).collect();
        futures_util::future::join_all(all.iter().map(Deployed::stop)).await;
        all.iter().for_each(stop_fork_server);
        self.shutdown.cancel();
    }
}

/// Stops a stopped function's fork server now rather than when the last reference to its command goes.
fn stop_fork_server(deployed: &Deployed) {
    if let Deployed::Process(f) = deployed
        && let Some(server) = f.command().fork_server()
    {
        server.stop();
    }
}
