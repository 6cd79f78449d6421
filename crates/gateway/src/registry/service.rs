//! [`Registry`]: model versions as metadata rows in the store and files in the artifact store, kept consistent.
//!
//! **Registration is atomic.** An upload streams into a temporary object while it is hashed (and checked
//! against the client's digest); the bytes are checked to be an ONNX model and its signature read; the
//! temporary becomes its content-addressed key (`models/<name>/<sha256>.onnx`); only then is the row committed,
//! in one transaction that also picks the version. A crash before the row leaves only an unreferenced object,
//! which [`Registry::collect_garbage`] removes at the next start; a crash after it leaves a complete model.
//! Deletion runs the other way: the row goes first, then the object if no other version shares it.
//!
//! The registry also resolves `registry:` model sources for the provider ([`ModelResolver`]): a version is
//! downloaded once into `<cache>/<sha256>.<format>` and served from there.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::BytesMut;
use futures_util::TryStreamExt as _;
use sedge_artifacts::{ArtifactError, ArtifactStore, ByteStream, TempArtifact};
use sedge_runtime::{FetchedModel, ModelResolver, ProviderError};
use sedge_store::{ModelRecord, ModelRef, ModelVersion, NewModel, Stage, Store};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// What a client says about a model it pushes (the `metadata` part); only `name` is required.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushMetadata {
    /// The registered name.
    pub name: String,
    /// `onnx` (the default and, for now, the only format sedge serves).
    #[serde(default)]
    pub format: Option<String>,
    /// The kind of model (`cnn`, `mlp`, `gbdt`, …).
    #[serde(default)]
    pub architecture: Option<String>,
    /// The training data's name.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Held-out accuracy.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Final loss.
    #[serde(default)]
    pub loss: Option<f64>,
    /// Any metrics (accuracy, loss, rmse, …).
    #[serde(default)]
    pub metrics: Map<String, Value>,
    /// Training hyper-parameters.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Who registers it (a function, a job, a user).
    #[serde(default)]
    pub created_by: Option<String>,
    /// The file's sha256 as the client computed it; a mismatch refuses the upload.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Model versions: rows in the store, files in the artifact store.
pub struct Registry {
    store: Arc<dyn Store>,
    artifacts: Arc<dyn ArtifactStore>,
    cache: PathBuf,
    max_bytes: u64,
    /// Serialises commits and deletions, so a deletion never removes an object a concurrent push just
    /// committed under the same (content-addressed) key before its row exists.
    objects: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("artifacts", &self.artifacts.describe()).field("cache", &self.cache).finish()
    }
}

impl Registry {
    /// A registry over `store` and `artifacts`, caching fetched versions in `cache`, refusing files larger
    /// than `max_bytes`.
    pub fn new(store: Arc<dyn Store>, artifacts: Arc<dyn ArtifactStore>, cache: PathBuf, max_bytes: u64) -> Self {
        Self { store, artifacts, cache, max_bytes, objects: tokio::sync::Mutex::new(()) }
    }

    /// The artifact store, for logs and pulls.
    pub fn artifacts(&self) -> &dyn ArtifactStore {
        self.artifacts.as_ref()
    }

    /// Registers `body` as the next version of `meta.name` (see the module docs for the order of writes).
    pub async fn push(&self, meta: PushMetadata, body: ByteStream) -> Result<ModelRecord, ApiError> {
        sedge_store::registry::validate_model_name(&meta.name).map_err(ApiError::BadRequest)?;
        let format = meta.format.clone().unwrap_or_else(|| "onnx".into());
        if format != "onnx" {
            return Err(ApiError::BadRequest(format!("format {format:?} is not supported: sedge registers onnx")));
        }
        let temp = self.artifacts.put_temp(body, self.max_bytes, meta.sha256.as_deref()).await.map_err(upload_error)?;
        let registered = self.register(meta, format, &temp).await;
        if registered.is_err() {
            let _ = self.artifacts.discard(&temp).await;
        }
        registered
    }

    async fn register(&self, meta: PushMetadata, format: String, temp: &TempArtifact) -> Result<ModelRecord, ApiError> {
        let signature = self.signature(temp).await?;
        let key = sedge_artifacts::model_key(&meta.name, &temp.sha256, &format);
        let _objects = self.objects.lock().await;
        self.artifacts.commit(temp, &key).await.map_err(backend_error)?;
        let mut metrics = meta.metrics;
        for (k, v) in [("accuracy", meta.accuracy), ("loss", meta.loss)] {
            if let Some(v) = v {
                metrics.entry(k).or_insert(Value::from(v));
            }
        }
        let metric = |k: &str| metrics.get(k).and_then(Value::as_f64);
        let model = NewModel {
            accuracy: meta.accuracy.or_else(|| metric("accuracy")),
            loss: meta.loss.or_else(|| metric("loss")),
            name: meta.name,
            format,
            sha256: temp.sha256.clone(),
            size_bytes: temp.size_bytes,
            model_path: key,
            architecture: meta.architecture,
            dataset: meta.dataset,
            metrics,
            params: meta.params,
            signature,
            created_by: meta.created_by,
            created_at_ms: now_ms(),
        };
        Ok(self.store.add_model(&model).await?)
    }

    /// Reads the uploaded file back and checks it is an ONNX model, returning its signature as JSON.
    async fn signature(&self, temp: &TempArtifact) -> Result<Value, ApiError> {
        let (_, stream) = self.artifacts.get(&temp.key).await.map_err(backend_error)?;
        let bytes = stream
            .try_fold(BytesMut::with_capacity(temp.size_bytes as usize), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
            .map_err(|e| backend_error(ArtifactError::Backend(format!("reading the upload back: {e}"))))?;
        let signature = tokio::task::spawn_blocking(move || sedge_models::engine::meta::signature(&bytes))
            .await
            .map_err(|e| ApiError::Internal(format!("signature reader failed: {e}")))?
            .map_err(|e| ApiError::BadRequest(format!("the file is not an ONNX model: {e}")))?;
        serde_json::to_value(signature).map_err(|e| ApiError::Internal(format!("encoding the signature: {e}")))
    }

    /// One version, or 404 naming what is missing.
    pub async fn get(&self, reference: &ModelRef) -> Result<ModelRecord, ApiError> {
        self.store
            .get_model(&reference.name, reference.version)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("model {reference} not found")))
    }

    /// Moves a version to `stage` (archiving the version that held an exclusive stage); 404 when missing.
    pub async fn set_stage(&self, name: &str, version: u32, stage: Stage) -> Result<ModelRecord, ApiError> {
        self.store
            .set_model_stage(name, version, stage)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("model {name}:{version} not found")))
    }

    /// Removes a version, then its file if no other version shares it; 404 when missing.
    pub async fn delete(&self, name: &str, version: u32) -> Result<ModelRecord, ApiError> {
        let _objects = self.objects.lock().await;
        let removed = self
            .store
            .delete_model(name, version)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("model {name}:{version} not found")))?;
        let still_used = self.store.model_paths().await?.contains(&removed.model.model_path);
        if !still_used && let Err(e) = self.artifacts.delete(&removed.model.model_path).await {
            // The row is gone; the object is collected at the next start.
            tracing::warn!(key = %removed.model.model_path, error = %e, "could not remove a deleted model's file");
        }
        Ok(removed)
    }

    /// Removes temporaries and unreferenced files left by a crash; returns how many. Call before serving.
    pub async fn collect_garbage(&self) -> Result<usize, ApiError> {
        let _objects = self.objects.lock().await;
        let keep: HashSet<String> = self.store.model_paths().await?.into_iter().collect();
        let removed = sedge_artifacts::collect_garbage(self.artifacts.as_ref(), &keep).await.map_err(backend_error)?;
        Ok(removed.len())
    }
}

#[async_trait]
impl ModelResolver for Registry {
    async fn fetch(&self, reference: &str) -> Result<FetchedModel, ProviderError> {
        let reference = ModelRef::parse(reference).map_err(|e| ProviderError::Invalid(format!("registry:{e}")))?;
        let record = self
            .store
            .get_model(&reference.name, reference.version)
            .await
            .map_err(|e| ProviderError::Io(std::io::Error::other(e)))?
            .ok_or_else(|| ProviderError::Invalid(missing(&reference)))?;
        let path = self.cache.join(format!("{}.{}", record.model.sha256, record.model.format));
        if !tokio::fs::try_exists(&path).await? {
            let sha256 =
                self.artifacts.download_to(&record.model.model_path, &path).await.map_err(|e| {
                    ProviderError::Io(std::io::Error::other(format!("fetching model {reference}: {e}")))
                })?;
            if sha256 != record.model.sha256 {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(ProviderError::Io(std::io::Error::other(format!(
                    "model {reference}: the stored file's sha256 is {sha256}, the registry recorded {}",
                    record.model.sha256
                ))));
            }
        }
        Ok(FetchedModel { path, version: record.version, sha256: record.model.sha256 })
    }
}

/// "no model …" for a reference that names nothing, saying what exists to look at.
fn missing(reference: &ModelRef) -> String {
    match reference.version {
        ModelVersion::Stage(stage) => format!(
            "model registry:{reference}: no version of {} is in stage {stage} (sedge models promote {} VERSION --stage {stage})",
            reference.name, reference.name
        ),
        _ => format!("model registry:{reference} not found (sedge models list)"),
    }
}

/// An upload's failure: the client's fault (400/413) or the store's (500, logged).
fn upload_error(e: ArtifactError) -> ApiError {
    match e {
        ArtifactError::TooLarge { limit } => ApiError::ModelTooLarge(limit),
        ArtifactError::DigestMismatch { expected, actual } => ApiError::BadRequest(format!(
            "the file's sha256 is {actual}, not the {expected} given in the metadata: nothing was registered"
        )),
        ArtifactError::Body(e) => ApiError::BadRequest(format!("reading the upload failed: {e}")),
        other => backend_error(other),
    }
}

/// The artifact store failed: logged, 500 without internals (a missing object is a 404).
pub(crate) fn backend_error(e: ArtifactError) -> ApiError {
    match e {
        ArtifactError::NotFound(key) => ApiError::NotFound(format!("model file {key} is missing from the store")),
        ArtifactError::InvalidKey(reason) => ApiError::BadRequest(format!("invalid model file key: {reason}")),
        other => {
            tracing::error!(error = %other, "artifact store failed");
            ApiError::Internal("the artifact store failed; see the server log".into())
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
