//! Where asynchronous calls are, behind basic auth:
//!
//! - `GET /system/async-calls?function=NAME[.NS]&namespace=NS&status=S&limit=N`: the most recent calls first
//!   (limit 100 by default, at most 1000), as a JSON list of [`CallView`] (no bodies, no result headers).
//! - `GET /system/async-calls/{id}`: one [`CallView`], with the last result's status, headers and body size.
//! - `GET /system/async-calls/{id}/result`: the last result's body as stored (up to 1 MiB), with its
//!   `Content-Type` and `X-Function-Status`; 409 while the call has no result yet.
//! - `DELETE /system/async-calls/{id}`: cancels a queued call (202); 404 unknown; 409 when running or over.
//!   OpenFaaS Pro's `DELETE /async-function/{call-id}` does the same (with the same basic auth).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use sedge_core::QualifiedName;
use sedge_store::{CallRecord, CallStatus};
use serde::{Deserialize, Serialize};

use crate::Gateway;
use crate::error::ApiError;

/// Calls listed when no `limit` is given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 1000;

/// An asynchronous call as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    /// The call id (`X-Call-Id`).
    pub id: String,
    /// `name.namespace`.
    pub function: String,
    /// Where the call is.
    pub status: CallStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// HTTP method.
    pub method: String,
    /// Path after the function's name.
    pub path: String,
    /// Query string, without `?`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Where the result is POSTed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Accepted at (RFC 3339).
    pub enqueued_at: String,
    /// When the next attempt may start (queued calls only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// When the last attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the call ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The last attempt's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultView>,
}

/// The last attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultView {
    /// The HTTP status the function (or sedge) answered.
    pub status_code: u16,
    /// How long the attempt took.
    pub duration_seconds: f64,
    /// Response headers (repeated ones joined with `, `); only in `GET /system/async-calls/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Size of the stored body; only in `GET /system/async-calls/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<usize>,
}

impl CallView {
    /// The view of `record`; `detail` adds the result's headers and body size.
    pub fn of(record: &CallRecord, detail: bool) -> Self {
        let call = &record.call;
        let result = record.result.as_ref().map(|r| ResultView {
            status_code: r.status_code,
            duration_seconds: Duration::from_millis(r.duration_ms).as_secs_f64(),
            headers: detail.then(|| {
                let mut map = BTreeMap::<String, String>::new();
                for (k, v) in &r.headers {
                    map.entry(k.to_ascii_lowercase())
                        .and_modify(|old| *old = format!("{old}, {v}"))
                        .or_insert(v.clone());
                }
                map
            }),
            body_bytes: detail.then_some(r.body.len()),
        });
        Self {
            id: call.id.clone(),
            function: call.function.to_string(),
            status: record.status,
            attempts: record.attempts,
            max_attempts: call.max_attempts,
            method: call.method.clone(),
            path: call.path.clone(),
            query: call.query.clone(),
            callback_url: call.callback_url.clone(),
            enqueued_at: rfc3339(call.enqueued_at_ms),
            next_attempt_at: (record.status == CallStatus::Queued).then(|| rfc3339(record.next_attempt_at_ms)),
            started_at: record.started_at_ms.map(rfc3339),
            finished_at: record.finished_at_ms.map(rfc3339),
            result,
        }
    }
}

fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// `GET /system/async-calls` query parameters, as text so that a bad value gets a message naming it.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// `name` or `name.namespace`.
    pub function: Option<String>,
    /// Namespace of `function`, when not in it.
    pub namespace: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// How many, 1 to 1000.
    pub limit: Option<String>,
}

/// `GET /system/async-calls`.
pub async fn list(State(gw): State<Arc<Gateway>>, Query(q): Query<ListQuery>) -> Result<Json<Vec<CallView>>, ApiError> {
    let function = match q.function.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => Some(QualifiedName::parse(f, q.namespace.as_deref().filter(|n| !n.is_empty()))?),
        None => None,
    };
    let status = q.status.as_deref().filter(|s| !s.is_empty()).map(CallStatus::parse).transpose();
    let status = status.map_err(ApiError::BadRequest)?;
    let limit = match q.limit.as_deref().filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(ApiError::BadRequest(format!("limit {text:?} is not a number from 1 to {MAX_LIMIT}"))),
        },
    };
    let records = gw.store.list_calls(function.as_ref(), status, limit).await?;
    Ok(Json(records.iter().map(|r| CallView::of(r, false)).collect()))
}

/// `GET /system/async-calls/{id}`.
pub async fn get_one(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Result<Json<CallView>, ApiError> {
    Ok(Json(CallView::of(&find(&gw, &id).await?, true)))
}

/// `GET /system/async-calls/{id}/result`: the stored body of the last result.
pub async fn result(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let record = find(&gw, &id).await?;
    let Some(result) = record.result else {
        return Err(ApiError::Conflict(format!("call {id} is {} and has no result yet", record.status)));
    };
    let content_type = result
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, v)| HeaderValue::from_str(v).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = result.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert("x-function-status", HeaderValue::from(result.status_code));
    headers.insert("x-call-status", HeaderValue::from_static(record.status.as_str()));
    Ok(response)
}

/// `DELETE /system/async-calls/{id}`.
pub async fn cancel(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    cancel_call(&gw, &id).await
}

/// OpenFaaS Pro's `DELETE /async-function/{call-id}`: [`cancel`] on the public route, with basic auth checked
/// here.
pub async fn cancel_openfaas(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let authorized =
        request.headers().get(header::AUTHORIZATION).is_some_and(|v| gw.config.credentials.accepts(v.as_bytes()));
    if !authorized {
        return Err(ApiError::Unauthorized);
    }
    cancel_call(&gw, &id).await
}

async fn cancel_call(gw: &Gateway, id: &str) -> Result<StatusCode, ApiError> {
    let record = find(gw, id).await?;
    if record.status == CallStatus::Queued && gw.store.cancel_call(id).await? {
        tracing::info!(call_id = id, function = %record.call.function, "async call cancelled");
        return Ok(StatusCode::ACCEPTED);
    }
    // Not queued, or claimed between the read and the cancel: read again for the message.
    let now = gw.store.get_call(id).await?.map_or(record.status, |r| r.status);
    Err(ApiError::Conflict(format!("call {id} is {now}: only a queued call can be cancelled")))
}

async fn find(gw: &Gateway, id: &str) -> Result<CallRecord, ApiError> {
    gw.store.get_call(id).await?.ok_or_else(|| ApiError::NotFound(format!("async call {id} not found")))
}
