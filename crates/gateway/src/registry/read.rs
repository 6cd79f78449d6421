//! Reading the registry: `GET /system/models` (filters `name`, `stage`, `dataset`, `limit`), one name's
//! versions, one version, a version's file (streamed, with its sha256), and the inference protocol's repository
//! index (`POST /v2/repository/index`, Triton's model repository extension as KServe documents it).

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use sedge_core::model::MODEL_ANNOTATION;
use sedge_store::{ModelQuery, ModelRecord, Stage};
use serde::{Deserialize, Serialize};

use super::{service, version_ref};
use crate::Gateway;
use crate::error::ApiError;

/// The most rows one list answers with unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 10_000;

/// Query of `GET /system/models`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this name.
    pub name: Option<String>,
    /// Only this stage.
    pub stage: Option<String>,
    /// Only this dataset.
    pub dataset: Option<String>,
    /// At most this many rows (default 10,000).
    pub limit: Option<u32>,
}

/// `GET /system/models`: a JSON array of versions, built by the store.
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("{e}: use name, stage, dataset and limit")))?;
    let stage = q.stage.as_deref().map(Stage::parse).transpose().map_err(ApiError::BadRequest)?;
    let query = ModelQuery { name: q.name, stage, dataset: q.dataset, limit: Some(q.limit.unwrap_or(DEFAULT_LIMIT)) };
    let json = gw.store.list_models_json(&query).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response())
}

/// `GET /system/models/{name}`: every version of a name, newest first; 404 when there is none.
pub async fn versions(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ModelRecord>>, ApiError> {
    sedge_store::registry::validate_model_name(&name).map_err(ApiError::BadRequest)?;
    let rows = gw.store.list_models(&ModelQuery { name: Some(name.clone()), ..ModelQuery::default() }).await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!("model {name} not found")));
    }
    Ok(Json(rows))
}

/// `GET /system/models/{name}/versions/{version}` (a number, `latest` or a stage).
pub async fn show(
    State(gw): State<Arc<Gateway>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelRecord>, ApiError> {
    Ok(Json(gw.registry.get(&version_ref(&name, &version)?).await?))
}

/// `GET /system/models/{name}/versions/{version}/file`: the bytes, streamed, with `X-Model-Sha256`,
/// `X-Model-Version` and a download file name.
pub async fn pull(
    State(gw): State<Arc<Gateway>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let record = gw.registry.get(&version_ref(&name, &version)?).await?;
    let (info, stream) = gw.registry.artifacts().get(&record.model.model_path).await.map_err(service::backend_error)?;
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).expect("names, digits and hex are valid header values");
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size_bytes));
    headers.insert("x-model-sha256", value(record.model.sha256.clone()));
    headers.insert("x-model-version", HeaderValue::from(record.version));
    let file = format!("attachment; filename=\"{}-{}.{}\"", record.model.name, record.version, record.model.format);
    headers.insert(header::CONTENT_DISPOSITION, value(file));
    Ok(response)
}

/// Body of `POST /v2/repository/index` (KServe's model repository extension).
#[derive(Debug, Default, Deserialize)]
pub struct IndexRequest {
    /// Only models that are ready to serve.
    #[serde(default)]
    pub ready: bool,
}

/// One entry of the repository index.
#[derive(Debug, PartialEq, Serialize)]
pub struct IndexEntry {
    /// The registered name.
    pub name: String,
    /// The version number, as a string (the protocol's type).
    pub version: String,
    /// `READY` when a deployed model function serves these bytes, else `UNAVAILABLE`.
    pub state: &'static str,
    /// The version's stage, as the reason a user reads.
    pub reason: String,
}

/// `POST /v2/repository/index`: every registered version, and whether a function serves it.
pub async fn repository_index(
    State(gw): State<Arc<Gateway>>,
    body: axum::body::Bytes,
) -> Result<Json<Vec<IndexEntry>>, ApiError> {
    let request: IndexRequest = if body.is_empty() {
        IndexRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("index request: {e}")))?
    };
    let served = served_digests(&gw).await?;
    let rows = gw.store.list_models(&ModelQuery::default()).await?;
    let entries = rows
        .into_iter()
        .map(|r| IndexEntry {
            state: if served.contains(&r.model.sha256) { "READY" } else { "UNAVAILABLE" },
            name: r.model.name,
            version: r.version.to_string(),
            reason: format!("stage {}", r.stage),
        })
        .filter(|e| !request.ready || e.state == "READY")
        .collect();
    Ok(Json(entries))
}

/// The sha256 of every model a deployed function serves now.
async fn served_digests(gw: &Gateway) -> Result<HashSet<String>, ApiError> {
    let records = gw.store.list_functions(None).await?;
    Ok(records
        .iter()
        .filter(|r| r.deployment.annotations.as_ref().is_some_and(|a| a.contains_key(MODEL_ANNOTATION)))
        .filter_map(|r| crate::api::functions::status_of(gw, r).annotations)
        .filter_map(|a| a.get(sedge_core::model::MODEL_SHA256_ANNOTATION).cloned())
        .collect())
}
