//! `/system/secrets`: names are listed, values are never returned. Create answers 201 (409 if it exists),
//! update 200, delete 200 (faas-cli reports a 204 as an error).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use http::StatusCode;
use sedge_core::DEFAULT_NAMESPACE;
use sedge_core::api::Secret;
use sedge_core::name::{validate_label, validate_secret_name};
use sedge_store::SecretWrite;

use super::functions::NamespaceQuery;
use super::json_body;
use crate::Gateway;
use crate::error::ApiError;

/// `GET /system/secrets`.
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    Query(q): Query<NamespaceQuery>,
) -> Result<Json<Vec<Secret>>, ApiError> {
    let namespace = namespace_of(q.namespace.as_deref())?;
    let names = gw.store.list_secrets(&namespace).await?;
    Ok(Json(
        names
            .into_iter()
            .map(|name| Secret { name, namespace: Some(namespace.clone()), ..Default::default() })
            .collect(),
    ))
}

/// `POST /system/secrets` (201).
pub async fn create(State(gw): State<Arc<Gateway>>, body: Bytes) -> Result<StatusCode, ApiError> {
    write(&gw, &body, SecretWrite::Create).await?;
    Ok(StatusCode::CREATED)
}

/// `PUT /system/secrets` (200).
pub async fn update(State(gw): State<Arc<Gateway>>, body: Bytes) -> Result<StatusCode, ApiError> {
    write(&gw, &body, SecretWrite::Update).await?;
    Ok(StatusCode::OK)
}

/// `DELETE /system/secrets` (200).
pub async fn delete(State(gw): State<Arc<Gateway>>, body: Bytes) -> Result<StatusCode, ApiError> {
    let secret: Secret = json_body(&body)?;
    validate_secret_name(&secret.name)?;
    let namespace = namespace_of(secret.namespace.as_deref())?;
    if !gw.store.delete_secret(&namespace, &secret.name).await? {
        return Err(ApiError::NotFound(format!("secret {} not found in namespace {namespace}", secret.name)));
    }
    gw.provider.write_secret(&namespace, &secret.name, None).await?;
    Ok(StatusCode::OK)
}

async fn write(gw: &Gateway, body: &Bytes, how: SecretWrite) -> Result<(), ApiError> {
    let secret: Secret = json_body(body)?;
    validate_secret_name(&secret.name)?;
    let namespace = namespace_of(secret.namespace.as_deref())?;
    let value = match (secret.raw_value, secret.value) {
        (Some(raw), _) => raw,
        (None, Some(text)) => text.into_bytes(),
        (None, None) => return Err(ApiError::BadRequest("secret has no value: set \"value\" or \"rawValue\"".into())),
    };
    gw.store.put_secret(&namespace, &secret.name, &value, how).await?;
    gw.provider.write_secret(&namespace, &secret.name, Some(&value)).await?;
    Ok(())
}

fn namespace_of(namespace: Option<&str>) -> Result<String, ApiError> {
    let ns = namespace.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_NAMESPACE);
    validate_label(ns, "namespace").map_err(|e| e.within("namespace"))?;
    Ok(ns.to_string())
}
