//! A model function on the local provider: the model runs in this process. Each replica is one loaded engine
//! instance with its own batcher ([`ServedModel`]); calls go to the instance with the fewest in flight.
//!
//! **Files.** The model file named at deploy is read, hashed (sha256) and kept as a copy under
//! `<state>/models/<namespace>/<name>.onnx`, so a restart serves what was deployed even if the original file
//! changed or disappeared. **Hot swap**: redeploying loads the new version first (a failure leaves the old one
//! serving), swaps it in under a write lock, then lets the old instances finish every call they had taken
//! before closing their batchers — no call is dropped. **At zero** no instance is loaded; the first call
//! loads one (a cold start of a few milliseconds for small models) while it and the calls after it wait.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use http::{HeaderValue, Response};
use sedge_core::FunctionSpec;
use sedge_core::model::{ModelSource, ModelSpec};
use sedge_models::batch::BatchObserver;
use sedge_models::oip::{InferRequest, InferResponse, ModelMetadata};
use sedge_models::prep::parse_labels;
use sedge_models::serve::metrics::ModelMetrics;
use sedge_models::serve::{ModelInfo, ServeError, ServedModel};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::invoke::{Call, ColdStart, Invoke, InvokeError, ResponseBody, full_body};
use crate::provider::{ModelResolver, ProviderError, ReplicaCounts, ReplicaState};
use crate::stats::CallStats;

/// A model file read and hashed, with its labels, ready to load instances from.
#[derive(Clone)]
pub struct ModelFile {
    bytes: Arc<Vec<u8>>,
    sha256: String,
    labels: Option<Vec<String>>,
    /// Read from the state copy (a restart): nothing to keep again.
    from_copy: bool,
}

impl ModelFile {
    /// Reads the model of `model` (preferring the state copy when `prefer_copy`) and its labels file.
    ///
    /// A `registry:` source is fetched through `registry` every time (so a restart serves what the reference
    /// names now); when that fails at a restart, the kept copy serves and the failure is logged.
    pub async fn read(
        spec: &FunctionSpec,
        model: &ModelSpec,
        state: &Path,
        prefer_copy: bool,
        registry: Option<&dyn ModelResolver>,
    ) -> Result<Self, ProviderError> {
        let copy = copy_path(state, spec);
        let path = match &model.source {
            ModelSource::Registry(reference) => match registry.map(|r| r.fetch(reference)) {
                Some(fetch) => match fetch.await {
                    Ok(fetched) => fetched.path,
                    Err(e) if prefer_copy && copy.exists() => {
                        tracing::warn!(function = %spec.name, error = %e, "registry unavailable; serving the kept copy");
                        copy.clone()
                    }
                    Err(e) => return Err(e),
                },
                None if prefer_copy && copy.exists() => copy.clone(),
                None => {
                    return Err(ProviderError::Invalid(format!(
                        "model registry:{reference}: this gateway has no model registry; give a file path"
                    )));
                }
            },
            ModelSource::File(_) if prefer_copy && copy.exists() => copy.clone(),
            ModelSource::File(path) => PathBuf::from(path),
        };
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            ProviderError::Invalid(format!("cannot read model file {} (on the gateway's machine): {e}", path.display()))
        })?;
        let labels = match model.config.output.as_ref().and_then(|o| o.labels.as_deref()) {
            None => None,
            Some(file) => Some(parse_labels(
                &tokio::fs::read_to_string(file)
                    .await
                    .map_err(|e| ProviderError::Invalid(format!("cannot read labels file {file}: {e}")))?,
            )),
        };
        let bytes = Arc::new(bytes);
        let hashed = bytes.clone();
        // Hashing a large model takes tens of milliseconds: keep it off the async workers.
        let sha256 = tokio::task::spawn_blocking(move || hex(&Sha256::digest(hashed.as_slice())))
            .await
            .map_err(|e| ProviderError::Io(std::io::Error::other(e)))?;
        Ok(Self { bytes, sha256, labels, from_copy: path == copy })
    }

    /// Keeps the deployed bytes under the state folder (write to a temporary, then rename: never half a file);
    /// nothing to do when they were read from there.
    pub async fn keep(&self, state: &Path, spec: &FunctionSpec) -> Result<(), ProviderError> {
        if self.from_copy {
            return Ok(());
        }
        let path = copy_path(state, spec);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = path.with_extension("onnx.tmp");
        let file = self.bytes.clone();
        let tmp_for_write = tmp.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp_for_write)?;
            f.write_all(&file)?;
            f.sync_all()
        })
        .await
        .map_err(|e| ProviderError::Io(std::io::Error::other(e)))??;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }
}

/// Where a function's deployed model is kept.
pub fn copy_path(state: &Path, spec: &FunctionSpec) -> PathBuf {
    state.join("models").join(&spec.name.namespace).join(format!("{}.onnx", spec.name.name))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One loaded instance and the calls it has taken.
struct Instance {
    model: ServedModel,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Instance {
    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Decrements an instance's in-flight count when a call ends, however it ends.
struct Taken(Arc<Instance>);

impl Drop for Taken {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What is being served: the spec, the file and its instances. Replaced as a whole on hot swap.
struct Current {
    spec: FunctionSpec,
    file: ModelFile,
    instances: Vec<Arc<Instance>>,
}

/// A deployed model function.
pub struct ModelFunction {
    me: Weak<ModelFunction>,
    label: String,
    current: RwLock<Current>,
    desired: AtomicU32,
    /// Woken whenever instances are added.
    loaded: Notify,
    activation_timeout: Duration,
    stats: CallStats,
    metrics: ModelMetrics,
    shutdown: CancellationToken,
}

impl ModelFunction {
    /// A function serving `file` per `spec` with `first` as its first instance (from the deploy check) and up to
    /// `replicas` instances in all; a call at zero waits at most `activation_timeout` for an instance.
    pub async fn start(
        spec: FunctionSpec,
        file: ModelFile,
        first: Option<ServedModel>,
        replicas: u32,
        activation_timeout: Duration,
        metrics: ModelMetrics,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, ProviderError> {
        let function = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            label: spec.name.to_string(),
            current: RwLock::new(Current { spec, file, instances: Vec::new() }),
            desired: AtomicU32::new(0),
            loaded: Notify::new(),
            activation_timeout,
            stats: CallStats::default(),
            metrics,
            shutdown,
        });
        function.replace_instances(first, replicas).await?;
        Ok(function)
    }

    /// Loads one instance of `file` per `spec`, recording its load time.
    pub async fn load_instance(
        spec: &FunctionSpec,
        file: &ModelFile,
        metrics: &ModelMetrics,
        shutdown: &CancellationToken,
    ) -> Result<ServedModel, ProviderError> {
        let model = spec.model.as_ref().ok_or_else(|| ProviderError::Invalid("not a model function".into()))?;
        let label = spec.name.to_string();
        let observer: BatchObserver = metrics.observer(&label);
        let served = ServedModel::load(
            label.clone(),
            file.bytes.clone(),
            file.sha256.clone(),
            &model.config,
            file.labels.clone(),
            Some(observer),
            shutdown,
        )
        .await
        .map_err(|e| ProviderError::Invalid(format!("model {}: {e}", model.source)))?;
        metrics.loaded(&label, served.info().engine, served.info().load_time.as_secs_f64());
        Ok(served)
    }

    /// The spec being served.
    pub fn spec(&self) -> FunctionSpec {
        self.read().spec.clone()
    }

    /// Facts about the loaded model (from the first instance), if any instance is up.
    pub fn info(&self) -> Option<ModelInfo> {
        self.read().instances.first().map(|i| i.model.info().clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replica counts: every loaded instance is ready.
    pub fn counts(&self) -> ReplicaCounts {
        let ready = self.read().instances.len() as u32;
        ReplicaCounts { desired: self.desired.load(Ordering::Acquire), by_state: vec![(ReplicaState::Ready, ready)] }
    }

    /// Hot swap: serves `spec`/`file` from now on with `replicas` instances (`first` already loaded); the old
    /// instances finish the calls they took, then close.
    pub async fn swap(
        &self,
        spec: FunctionSpec,
        file: ModelFile,
        first: Option<ServedModel>,
        replicas: u32,
    ) -> Result<(), ProviderError> {
        let fresh = self.load_instances(&spec, &file, first, replicas as usize).await?;
        self.desired.store(replicas, Ordering::Release);
        let old = {
            let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
            let old = std::mem::replace(&mut current.instances, fresh);
            current.spec = spec;
            current.file = file;
            old
        };
        self.loaded.notify_waiters();
        retire(old).await;
        Ok(())
    }

    /// `n` instances of `file`, the first being `first` when given (already loaded by the deploy check).
    async fn load_instances(
        &self,
        spec: &FunctionSpec,
        file: &ModelFile,
        mut first: Option<ServedModel>,
        n: usize,
    ) -> Result<Vec<Arc<Instance>>, ProviderError> {
        let mut instances = Vec::with_capacity(n);
        for _ in 0..n {
            let model = match first.take() {
                Some(model) => model,
                None => Self::load_instance(spec, file, &self.metrics, &self.shutdown).await?,
            };
            instances.push(Arc::new(Instance { model, in_flight: AtomicUsize::new(0), idle: Notify::new() }));
        }
        Ok(instances)
    }

    /// Sets the number of loaded instances: new ones load from the kept file, surplus ones drain and close.
    pub async fn scale(&self, replicas: u32) -> Result<(), ProviderError> {
        self.replace_instances(None, replicas).await
    }

    async fn replace_instances(&self, first: Option<ServedModel>, replicas: u32) -> Result<(), ProviderError> {
        self.desired.store(replicas, Ordering::Release);
        let (spec, file, have) = {
            let current = self.read();
            (current.spec.clone(), current.file.clone(), current.instances.len())
        };
        let added = self.load_instances(&spec, &file, first, (replicas as usize).saturating_sub(have)).await?;
        let removed = {
            let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
            current.instances.extend(added);
            let keep = replicas as usize;
            if current.instances.len() > keep { current.instances.split_off(keep) } else { Vec::new() }
        };
        self.loaded.notify_waiters();
        retire(removed).await;
        Ok(())
    }

    /// Stops every instance after its calls finish.
    pub async fn stop(&self) {
        let all = std::mem::take(&mut self.current.write().unwrap_or_else(|p| p.into_inner()).instances);
        retire(all).await;
        self.metrics.forget(&self.label);
    }

    /// Its scaling policy.
    pub fn scaling(&self) -> sedge_core::autoscale::Scaling {
        self.read().spec.scaling.clone()
    }

    /// Its call counters.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Takes the least-busy instance, counting the call in under the read lock so that a swap that follows
    /// waits for it.
    fn try_take(&self) -> Option<Taken> {
        let current = self.read();
        let instance =
            current.instances.iter().min_by_key(|i| i.in_flight.load(Ordering::Relaxed) + i.model.queued())?;
        instance.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(Taken(instance.clone()))
    }

    /// An instance for one call; at zero, wakes the function (one load, however many calls wait) and waits for
    /// it until `deadline` or the activation timeout. Returns how long it waited when it did (a cold start).
    async fn take(&self, deadline: Instant) -> Result<(Taken, Option<Duration>), InvokeError> {
        let arrived = Instant::now();
        let activation = arrived + self.activation_timeout;
        let mut cold = false;
        loop {
            let loaded = self.loaded.notified();
            tokio::pin!(loaded);
            loaded.as_mut().enable();
            if let Some(taken) = self.try_take() {
                let waited = cold.then(|| arrived.elapsed());
                if let Some(waited) = waited {
                    self.stats.cold_start(waited);
                }
                return Ok((taken, waited));
            }
            cold = true;
            self.wake();
            if tokio::time::timeout_at(deadline.min(activation), loaded).await.is_err() {
                return Err(if activation <= deadline {
                    InvokeError::ActivationTimeout { function: self.label.clone(), after: self.activation_timeout }
                } else {
                    InvokeError::NoReplicas { function: self.label.clone() }
                });
            }
        }
    }

    /// The activator's wake-up: loads one instance in the background unless one is already loading.
    fn wake(&self) {
        if self.desired.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            if let Err(e) = me.replace_instances(None, 1).await {
                tracing::error!(function = %me.label, "waking from zero failed: {e}");
                me.desired.store(0, Ordering::Release);
            }
        });
    }

    /// Model metadata for `/v2`, if an instance is up.
    pub fn metadata(&self) -> Option<ModelMetadata> {
        self.read().instances.first().map(|i| i.model.metadata().clone())
    }

    /// Runs an OIP v2 request on the least-busy instance, waking the function if it is at zero.
    pub async fn infer(&self, request: InferRequest) -> Result<InferResponse, ModelCallError> {
        let mut arrival = self.stats.arrive();
        let deadline = Instant::now() + self.read().spec.timeouts.write;
        let (taken, _) = self.take(deadline).await.map_err(ModelCallError::Unavailable)?;
        arrival.running();
        taken.0.model.infer(request).await.map_err(ModelCallError::Serve)
    }
}

/// Why a `/v2` call to a model function failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelCallError {
    /// No instance is loaded (scaled to zero).
    #[error(transparent)]
    Unavailable(InvokeError),
    /// The model refused or failed the request.
    #[error(transparent)]
    Serve(ServeError),
}

impl ModelCallError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unavailable(_) => 503,
            Self::Serve(e) => e.status(),
        }
    }
}

/// Waits for each instance's taken calls to finish, then closes its batcher and waits for it to stop.
async fn retire(instances: Vec<Arc<Instance>>) {
    futures_util::future::join_all(instances.iter().map(|i| async move {
        i.wait_idle().await;
        i.model.close();
        i.model.drained().await;
    }))
    .await;
}

#[async_trait]
impl Invoke for ModelFunction {
    fn timeouts(&self) -> sedge_core::Timeouts {
        self.read().spec.timeouts
    }

    async fn invoke(&self, call: Call) -> Result<Response<ResponseBody>, InvokeError> {
        let mut arrival = self.stats.arrive();
        let (taken, cold) = self.take(call.deadlines.first().0).await?;
        arrival.running();
        let header = |name: &str| call.headers.get(name).and_then(|v| v.to_str().ok());
        let header_len = header("inference-header-content-length").and_then(|v| v.trim().parse().ok());
        let accept = header("accept");
        let respond = tokio::time::sleep_until(call.deadlines.respond);
        let result = tokio::select! {
            result = taken.0.model.handle(&call.body, header_len, accept) => result,
            () = respond => {
                return Err(InvokeError::NoResponse { function: self.label.clone(), after: call.deadlines.respond_after });
            }
        };
        let (status, content_type, header_len, body) = match result {
            Ok(reply) => (200, reply.content_type, reply.header_len, reply.body),
            Err(e) => {
                let body = serde_json::to_vec(&serde_json::json!({ "error": e.to_string() })).unwrap_or_default();
                (e.status(), "application/json", None, body)
            }
        };
        let mut response = Response::builder().status(status).header(http::header::CONTENT_TYPE, content_type);
        if let Some(len) = header_len {
            response = response.header("inference-header-content-length", HeaderValue::from(len));
        }
        let mut response = response
            .body(full_body(body))
            .map_err(|e| InvokeError::Spawn { function: self.label.clone(), reason: e.to_string() })?;
        response.extensions_mut().insert(ColdStart(cold));
        Ok(response)
    }
}
