//! `/system/functions`, `/system/function/{name}`, `/system/scale-function/{name}`.
//!
//! Deploy order: validate, check the provider can run it, commit to the store, then start it. faas-cli sends
//! PUT first and POST only when PUT answers 404, so PUT on an unknown function must be a 404.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use sedge_core::api::{DeleteFunctionRequest, FunctionDeployment, FunctionStatus, FunctionUsage, ScaleServiceRequest};
use sedge_core::model::MODEL_SHA256_ANNOTATION;
use sedge_core::{FunctionSpec, QualifiedName};
use sedge_runtime::ReplicaState;
use sedge_store::FunctionRecord;
use serde::Deserialize;

use super::json_body;
use crate::Gateway;
use crate::error::ApiError;

/// `?namespace=`.
#[derive(Debug, Deserialize)]
pub struct NamespaceQuery {
    /// Namespace filter.
    pub namespace: Option<String>,
}

/// `GET /system/functions`.
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    Query(q): Query<NamespaceQuery>,
) -> Result<Json<Vec<FunctionStatus>>, ApiError> {
    let namespace = q.namespace.filter(|n| !n.is_empty());
    if let Some(ns) = &namespace {
        sedge_core::name::validate_label(ns, "namespace")?;
    }
    let records = gw.store.list_functions(namespace.as_deref()).await?;
    Ok(Json(records.iter().map(|r| status_of(&gw, r)).collect()))
}

/// `GET /system/function/{name}`.
pub async fn get_one(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
) -> Result<Json<FunctionStatus>, ApiError> {
    let name = QualifiedName::parse(&name, q.namespace.as_deref())?;
    let record = gw.store.get_function(&name).await?.ok_or_else(|| not_found(&name))?;
    Ok(Json(status_of(&gw, &record)))
}

/// `POST /system/functions`: deploy a new function (202).
pub async fn create(State(gw): State<Arc<Gateway>>, body: Bytes) -> Result<StatusCode, ApiError> {
    let spec = parse_spec(&body)?;
    if gw.store.get_function(&spec.name).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "function {} already exists: update it with PUT /system/functions",
            spec.name
        )));
    }
    deploy(&gw, spec, None).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `PUT /system/functions`: update an existing function (200); 404 if unknown, so faas-cli falls back to POST.
pub async fn update(State(gw): State<Arc<Gateway>>, body: Bytes) -> Result<(StatusCode, &'static str), ApiError> {
    let spec = parse_spec(&body)?;
    let existing = gw.store.get_function(&spec.name).await?.ok_or_else(|| not_found(&spec.name))?;
    deploy(&gw, spec, Some(existing)).await?;
    Ok((StatusCode::OK, "Accepted"))
}

/// `DELETE /system/functions`.
pub async fn delete(State(gw): State<Arc<Gateway>>, body: Bytes) -> Result<StatusCode, ApiError> {
    let request: DeleteFunctionRequest = json_body(&body)?;
    let name = QualifiedName::parse(&request.function_name, request.namespace.as_deref())
        .map_err(|e| e.within("functionName"))?;
    if !gw.store.delete_function(&name).await? {
        return Err(not_found(&name));
    }
    gw.counts.forget(&name);
    gw.metrics.forget(&name.to_string());
    match gw.provider.remove(&name).await {
        Ok(()) | Err(sedge_runtime::ProviderError::NotFound(_)) => Ok(StatusCode::OK),
        Err(e) => Err(e.into()),
    }
}

/// `POST /system/scale-function/{name}` (202). Replicas above `com.openfaas.scale.max` are capped to it.
pub async fn scale(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: ScaleServiceRequest = json_body(&body)?;
    let name = QualifiedName::parse(&name, request.namespace.as_deref())?;
    let record = gw.store.get_function(&name).await?.ok_or_else(|| not_found(&name))?;
    let spec = FunctionSpec::try_from(record.deployment)?;
    let cap = spec.max_replicas.unwrap_or(u32::MAX);
    let replicas = u32::try_from(request.replicas).unwrap_or(u32::MAX).min(cap);
    if !gw.store.set_replicas(&name, replicas).await? {
        return Err(not_found(&name));
    }
    gw.provider.scale(&name, replicas).await?;
    Ok(StatusCode::ACCEPTED)
}

fn parse_spec(body: &Bytes) -> Result<FunctionSpec, ApiError> {
    let deployment: FunctionDeployment = json_body(body)?;
    Ok(FunctionSpec::try_from(deployment)?)
}

fn not_found(name: &QualifiedName) -> ApiError {
    ApiError::NotFound(format!("function {name} not found"))
}

/// The deploy path shared by every API that deploys (`/system/functions`, Knative Services): check the provider
/// can run `spec`, commit it to the store, then start it. `existing` is the stored record on an update.
pub(crate) async fn deploy(gw: &Gateway, spec: FunctionSpec, existing: Option<FunctionRecord>) -> Result<(), ApiError> {
    gw.provider.check(&spec).await?;
    let secrets = secret_values(gw, &spec).await?;
    // An update keeps a hand-set replica count, but never below the new minimum.
    let replicas = existing.as_ref().map_or(spec.initial_replicas(), |r| r.replicas.max(spec.min_replicas));
    let record = FunctionRecord {
        deployment: spec.deployment.clone(),
        replicas,
        created_at_ms: existing.as_ref().map_or_else(now_ms, |r| r.created_at_ms),
        invocation_count: existing.map_or(0, |r| r.invocation_count),
    };
    gw.store.put_function(&record).await?;
    gw.provider.apply(spec, replicas, secrets).await?;
    Ok(())
}

/// The values of the secrets `spec` names; a missing one is the client's error.
pub async fn secret_values(gw: &Gateway, spec: &FunctionSpec) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let mut values = Vec::new();
    for name in spec.secrets() {
        match gw.store.get_secret(&spec.name.namespace, name).await? {
            Some(v) => values.push((name.clone(), v)),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "function {} names secret {name:?}, which does not exist in namespace {}: create it first (sedge secret create {name})",
                    spec.name, spec.name.namespace
                )));
            }
        }
    }
    Ok(values)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The OpenFaaS status of a stored function, with live replica counts and unflushed invocations.
pub fn status_of(gw: &Gateway, record: &FunctionRecord) -> FunctionStatus {
    let mut status = FunctionStatus::from_deployment(&record.deployment);
    let name = QualifiedName {
        name: record.deployment.service.clone(),
        namespace: record.deployment.namespace.clone().unwrap_or_default(),
    };
    let load = gw.provider.load(&name);
    let counts = load.as_ref().map(|l| &l.replicas);
    status.replicas = counts.map_or(u64::from(record.replicas), |c| u64::from(c.desired));
    status.available_replicas = counts.map_or(0, |c| u64::from(c.count(ReplicaState::Ready)));
    status.invocation_count = (record.invocation_count + gw.counts.get(&name)) as f64;
    let created = UNIX_EPOCH + Duration::from_millis(record.created_at_ms.max(0) as u64);
    status.created_at = Some(humantime::format_rfc3339_seconds(created).to_string());
    if let Some(load) = load {
        status.usage =
            load.usage.map(|u| FunctionUsage { cpu: u.cpu_millicores, total_memory_bytes: u.memory_bytes as f64 });
        // Cold starts, read back by `describe`: how many, the latest, and the median of the recent ones.
        let calls = load.calls;
        let annotations = status.annotations.get_or_insert_with(Default::default);
        annotations.insert("com.sedge.cold-starts".into(), calls.cold_starts.to_string());
        annotations.insert("com.sedge.oom-kills".into(), load.oom_kills.to_string());
        if let Some(bytes) = load.prebake_memory_bytes {
            // What keeping the fork server up costs, at zero replicas too.
            annotations.insert("com.sedge.prebake.memory-bytes".into(), bytes.to_string());
        }
        let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
        if let Some(last) = calls.last_cold_start {
            annotations.insert("com.sedge.cold-start.last-ms".into(), ms(last));
        }
        if let Some(median) = calls.median_cold_start {
            annotations.insert("com.sedge.cold-start.median-ms".into(), ms(median));
        }
    }
    if let Some(info) = gw.provider.model(&name).and_then(|m| m.info()) {
        // What was loaded, read back by `describe`: the file's hash, the engine, and how long loading took.
        let annotations = status.annotations.get_or_insert_with(Default::default);
        annotations.insert(MODEL_SHA256_ANNOTATION.into(), info.sha256);
        annotations.insert("com.sedge.model.engine".into(), info.engine.into());
        annotations.insert("com.sedge.model.load-ms".into(), format!("{:.3}", info.load_time.as_secs_f64() * 1e3));
    }
    status
}
