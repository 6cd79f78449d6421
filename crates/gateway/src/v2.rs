//! The Open Inference Protocol v2 (REST) for model functions: server and model health, metadata, and `infer`
//! with JSON or the binary data extension. A model's name is its function's name (`name` or `name.namespace`);
//! its one version is the first 12 hex digits of the model file's sha256. Errors answer `{"error": "…"}` with
//! the protocol's statuses (400 bad request, 404 unknown model or version, 413 too large, 429/503 overloaded or
//! unavailable); health answers 200 for true and 400 for false, with an empty body, as KServe and Triton do.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sedge_core::QualifiedName;
use sedge_models::oip::{Limits, decode_request_with, encode_response};
use sedge_runtime::local::model::ModelFunction;
use serde_json::json;

use crate::Gateway;

const HEADER_LENGTH: &str = "inference-header-content-length";

/// An error answer in the protocol's form.
fn error(status: u16, message: impl std::fmt::Display) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// `GET /v2`: server metadata.
pub async fn server(State(gw): State<Arc<Gateway>>) -> Response {
    Json(json!({
        "name": "sedge",
        "version": gw.config.version.release,
        "extensions": ["binary_tensor_data", "model_repository"],
    }))
    .into_response()
}

/// `GET /v2/health/live`.
pub async fn live() -> StatusCode {
    StatusCode::OK
}

/// `GET /v2/health/ready`: ready once stored functions (and their models) have been restored.
pub async fn ready(State(gw): State<Arc<Gateway>>) -> StatusCode {
    if gw.restored.is_cancelled() { StatusCode::OK } else { StatusCode::BAD_REQUEST }
}

/// A status and a message, answered by [`error`].
type Failure = (u16, String);

/// The model function named `model`, and the version asked for if any.
fn find(gw: &Gateway, model: &str, version: Option<&str>) -> Result<(String, Arc<ModelFunction>), Failure> {
    let name = QualifiedName::parse(model, None).map_err(|e| (400, format!("model name {model:?}: {e}")))?;
    let function = gw.provider.model(&name).ok_or_else(|| (404, format!("model {model} not found")))?;
    if let (Some(wanted), Some(info)) = (version, function.info())
        && wanted != info.version
        && !info.sha256.starts_with(wanted)
    {
        return Err((404, format!("model {model} has no version {wanted}; it serves version {}", info.version)));
    }
    Ok((name.to_string(), function))
}

/// `GET /v2/models/{m}`.
pub async fn metadata(State(gw): State<Arc<Gateway>>, Path(model): Path<String>) -> Response {
    metadata_of(&gw, &model, None)
}

/// `GET /v2/models/{m}/versions/{v}`.
pub async fn metadata_version(State(gw): State<Arc<Gateway>>, Path((model, v)): Path<(String, String)>) -> Response {
    metadata_of(&gw, &model, Some(&v))
}

fn metadata_of(gw: &Gateway, model: &str, version: Option<&str>) -> Response {
    match find(gw, model, version) {
        Err((status, message)) => error(status, message),
        Ok((_, function)) => match function.metadata() {
            Some(mut meta) => {
                meta.name = model.to_string();
                Json(meta).into_response()
            }
            None => error(503, format!("model {model} has no loaded instance (scaled to zero)")),
        },
    }
}

/// `GET /v2/models/{m}/ready`.
pub async fn model_ready(State(gw): State<Arc<Gateway>>, Path(model): Path<String>) -> Response {
    ready_of(&gw, &model, None)
}

/// `GET /v2/models/{m}/versions/{v}/ready`.
pub async fn model_version_ready(State(gw): State<Arc<Gateway>>, Path((model, v)): Path<(String, String)>) -> Response {
    ready_of(&gw, &model, Some(&v))
}

fn ready_of(gw: &Gateway, model: &str, version: Option<&str>) -> Response {
    match find(gw, model, version) {
        Err((status, message)) => error(status, message),
        Ok((_, function)) => {
            let ready = function.metadata().is_some();
            let status = if ready { StatusCode::OK } else { StatusCode::BAD_REQUEST };
            (status, Json(json!({ "name": model, "ready": ready }))).into_response()
        }
    }
}

/// `POST /v2/models/{m}/infer`.
pub async fn infer(State(gw): State<Arc<Gateway>>, Path(model): Path<String>, request: Request) -> Response {
    infer_of(gw, model, None, request).await
}

/// `POST /v2/models/{m}/versions/{v}/infer`.
pub async fn infer_version(
    State(gw): State<Arc<Gateway>>,
    Path((model, v)): Path<(String, String)>,
    request: Request,
) -> Response {
    infer_of(gw, model, Some(v), request).await
}

async fn infer_of(gw: Arc<Gateway>, model: String, version: Option<String>, request: Request) -> Response {
    let started = Instant::now();
    let (name, function) = match find(&gw, &model, version.as_deref()) {
        Ok(found) => found,
        Err((status, message)) => return error(status, message),
    };
    gw.metrics.call_started(&name);
    let response = run(&gw, &model, &function, request).await;
    gw.metrics.call_finished(&name, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

async fn run(gw: &Gateway, model: &str, function: &ModelFunction, request: Request) -> Response {
    let header_len = match request.headers().get(HEADER_LENGTH).map(|v| v.to_str().map(|s| s.trim().parse::<usize>())) {
        None => None,
        Some(Ok(Ok(n))) => Some(n),
        Some(_) => return error(400, "Inference-Header-Content-Length is not a whole number"),
    };
    let body = match read(request.into_body(), gw.config.max_body).await {
        Ok(body) => body,
        Err((status, message)) => return error(status, message),
    };
    let limits = Limits { max_element_bytes: gw.config.max_body, max_tensor_bytes: gw.config.max_body };
    let req = match decode_request_with(&body, header_len, &limits) {
        Ok(req) => req,
        Err(e) => return error(e.status(), e),
    };
    let binary = req.without_inputs();
    match function.infer(req).await {
        Err(e) => error(e.status(), e),
        Ok(mut response) => {
            response.model_name = model.to_string();
            let (body, header_len) = encode_response(&response, |name| binary.wants_binary_output(name));
            let mut out = Response::new(Body::from(body));
            let content_type = if header_len.is_some() { "application/octet-stream" } else { "application/json" };
            out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(len) = header_len {
                out.headers_mut().insert(HEADER_LENGTH, HeaderValue::from(len));
            }
            out
        }
    }
}

async fn read(body: Body, max: usize) -> Result<Bytes, Failure> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => {
            Err((413, format!("request body is larger than the gateway's limit of {max} bytes (--max-body)")))
        }
        Err(e) => Err((400, format!("could not read request body: {e}"))),
    }
}
