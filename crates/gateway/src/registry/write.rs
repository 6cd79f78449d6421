//! Changing the registry: `POST /system/models/{name}/versions/{version}/stage` (`{"stage": "production"}`)
//! and `DELETE /system/models/{name}/versions/{version}`. Each change is committed, then the model functions
//! following the name are redeployed ([`follow`]) before the answer, so a call after a promotion is served by
//! the promoted version.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use sedge_store::{ModelRecord, Stage};
use serde::Deserialize;

use super::{follow, version_number};
use crate::Gateway;
use crate::error::ApiError;

/// Body of a promotion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// The stage to move to: none, staging, production or archived.
    pub stage: String,
}

/// `POST /system/models/{name}/versions/{version}/stage`: 404 when the version does not exist.
pub async fn promote(
    State(gw): State<Arc<Gateway>>,
    Path((name, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ModelRecord>, ApiError> {
    let version = version_number(&name, &version)?;
    let request: StageRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"stage\": \"production\"}}: {e}")))?;
    let stage = Stage::parse(&request.stage).map_err(ApiError::BadRequest)?;
    let record = gw.registry.set_stage(&name, version, stage).await?;
    tracing::info!(model = %name, version, %stage, "model stage changed");
    follow::redeploy(&gw, &name).await;
    Ok(Json(record))
}

/// `DELETE /system/models/{name}/versions/{version}`: answers the removed version.
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelRecord>, ApiError> {
    let version = version_number(&name, &version)?;
    let removed = gw.registry.delete(&name, version).await?;
    tracing::info!(model = %name, version, "model version deleted");
    follow::redeploy(&gw, &name).await;
    Ok(Json(removed))
}
