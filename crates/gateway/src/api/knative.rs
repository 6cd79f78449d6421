//! Knative Services over a Kubernetes-style API, `/apis/serving.knative.dev/v1/namespaces/{namespace}/services`:
//! POST creates (201; 409 if the function exists), PUT `…/{name}` replaces (200; 404 if unknown), GET echoes
//! the stored deployment as a minimal Service, DELETE removes it. Bodies are YAML or JSON, converted by
//! `sedge_core::knative_service` into the same deployment `/system/functions` takes and deployed along the
//! same path (validate, provider check, store, apply). Ignored fields come back as Kubernetes-style
//! `Warning: 299 - "…"` headers and in the body's `warnings` list.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use sedge_core::knative_service::{self, KnativeService, Warning};
use sedge_core::{FunctionSpec, QualifiedName};
use serde_json::{Value, json};

use super::functions::deploy;
use crate::Gateway;
use crate::error::ApiError;

/// `POST …/namespaces/{namespace}/services`: a new service (201).
pub async fn create(
    State(gw): State<Arc<Gateway>>,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (service, spec) = read(&body, &namespace, None)?;
    if gw.store.get_function(&spec.name).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "service {} already exists: replace it with PUT …/services/{}",
            spec.name, spec.name.name
        )));
    }
    deploy(&gw, spec, None).await?;
    Ok(answer(StatusCode::CREATED, &service))
}

/// `PUT …/namespaces/{namespace}/services/{name}`: replace a service (200); 404 if unknown.
pub async fn replace(
    State(gw): State<Arc<Gateway>>,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (service, spec) = read(&body, &namespace, Some(&name))?;
    let existing = gw.store.get_function(&spec.name).await?.ok_or_else(|| not_found(&spec.name))?;
    deploy(&gw, spec, Some(existing)).await?;
    Ok(answer(StatusCode::OK, &service))
}

/// `GET …/namespaces/{namespace}/services/{name}`: the stored function as a minimal Knative Service.
pub async fn get_one(
    State(gw): State<Arc<Gateway>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let name = QualifiedName::new(&name, Some(&namespace))?;
    let record = gw.store.get_function(&name).await?.ok_or_else(|| not_found(&name))?;
    Ok(Json(knative_service::to_service(&record.deployment)))
}

/// `DELETE …/namespaces/{namespace}/services/{name}` (200 with a Kubernetes `Status`).
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let name = QualifiedName::new(&name, Some(&namespace))?;
    if !gw.store.delete_function(&name).await? {
        return Err(not_found(&name));
    }
    gw.counts.forget(&name);
    gw.metrics.forget(&name.to_string());
    match gw.provider.remove(&name).await {
        Ok(()) | Err(sedge_runtime::ProviderError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Json(json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "details": {"name": name.name}})))
}

/// Parses and validates a body for `namespace` (and, on PUT, the `name` of the URL, which must match).
fn read(body: &Bytes, namespace: &str, name: Option<&str>) -> Result<(KnativeService, FunctionSpec), ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest("request body is empty: send a Knative Service (YAML or JSON)".into()));
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("request body is not UTF-8".into()))?;
    let mut service = knative_service::parse_one(text)?;
    let d = &mut service.deployment;
    match d.namespace.as_deref() {
        Some(ns) if ns != namespace => {
            return Err(ApiError::BadRequest(format!(
                "metadata.namespace: {ns:?} does not match the namespace in the URL ({namespace:?})"
            )));
        }
        _ => d.namespace = Some(namespace.to_string()),
    }
    if let Some(name) = name.filter(|n| *n != d.service) {
        return Err(ApiError::BadRequest(format!(
            "metadata.name: {:?} does not match the name in the URL ({name:?})",
            d.service
        )));
    }
    let spec = FunctionSpec::try_from(d.clone())?;
    Ok((service, spec))
}

/// The stored service echoed with its warnings, as headers and in the body.
fn answer(status: StatusCode, service: &KnativeService) -> Response {
    let mut headers = HeaderMap::new();
    for w in &service.warnings {
        if let Ok(value) = HeaderValue::from_str(&warning_header(w)) {
            headers.append(http::header::WARNING, value);
        }
    }
    let mut body = knative_service::to_service(&service.deployment);
    body["warnings"] =
        service.warnings.iter().map(|w| json!({"path": w.path, "message": w.message})).collect::<Vec<_>>().into();
    (status, headers, Json(body)).into_response()
}

/// `299 - "path: message"`, with quotes and backslashes escaped and anything but printable ASCII replaced.
fn warning_header(w: &Warning) -> String {
    let text: String = w
        .to_string()
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            ' '..='~' => vec![c],
            _ => vec!['?'],
        })
        .collect();
    format!("299 - \"{text}\"")
}

fn not_found(name: &QualifiedName) -> ApiError {
    ApiError::NotFound(format!("service {name} not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_kubernetes_style_and_header_safe() {
        let w = Warning { path: "a.b".into(), message: "say \"hi\" — ok".into() };
        assert_eq!(warning_header(&w), r#"299 - "a.b: say \"hi\" ? ok""#);
        assert!(HeaderValue::from_str(&warning_header(&w)).is_ok());
    }
}
