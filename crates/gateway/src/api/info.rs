//! `/system/info`, `/system/namespaces` and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::header;
use sedge_core::DEFAULT_NAMESPACE;
use sedge_core::api::{GatewayInfo, ProviderInfo};

use crate::Gateway;
use crate::error::ApiError;

/// `GET /system/info`.
pub async fn info(State(gw): State<Arc<Gateway>>) -> Json<GatewayInfo> {
    Json(GatewayInfo {
        provider: ProviderInfo {
            provider: "sedge".into(),
            version: gw.config.version.clone(),
            orchestration: "local".into(),
        },
        version: gw.config.version.clone(),
        arch: std::env::consts::ARCH.into(),
    })
}

/// `GET /system/namespaces`: the default namespace and every namespace in use.
pub async fn namespaces(State(gw): State<Arc<Gateway>>) -> Result<Json<Vec<String>>, ApiError> {
    let mut names = gw.store.namespaces().await?;
    if !names.iter().any(|n| n == DEFAULT_NAMESPACE) {
        names.push(DEFAULT_NAMESPACE.to_string());
        names.sort();
    }
    Ok(Json(names))
}

/// `GET /metrics`.
pub async fn metrics(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        gw.metrics.render(gw.provider.as_ref()),
    )
}
