//! `/function/{name}[/{path}]`, any method: reads the body within `read_timeout` and `--max-body`, sets the
//! call's deadlines, hands it to the function's router, and stamps `X-Call-Id`, `X-Start-Time`,
//! `X-Duration-Seconds` and `X-Sedge-Cold-Start` on whatever comes back (errors included); a call that waited
//! for a replica to start also gets `X-Sedge-Cold-Start-Ms` and is counted in the cold-start metrics.
//!
//! The asynchronous path ([`crate::calls`]) runs each attempt through the same [`counted`] and [`forward`], so
//! a queued call reaches the function with the same headers and is counted in the same metrics.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sedge_core::QualifiedName;
use sedge_runtime::local::http::strip_hop_by_hop;
use sedge_runtime::{Call, ColdStart, Deadlines, Invoke};
use tokio::time::Instant;

use crate::Gateway;
use crate::error::ApiError;

pub(crate) static X_CALL_ID: HeaderName = HeaderName::from_static("x-call-id");
pub(crate) static X_START_TIME: HeaderName = HeaderName::from_static("x-start-time");
static X_DURATION: HeaderName = HeaderName::from_static("x-duration-seconds");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_COLD_START: HeaderName = HeaderName::from_static("x-sedge-cold-start");
static X_COLD_START_MS: HeaderName = HeaderName::from_static("x-sedge-cold-start-ms");

/// `/function/{name}` and `/function/{name}/`.
pub async fn invoke_root(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    peer: ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    handle(gw, name, "/".to_string(), peer.0, request).await
}

/// `/function/{name}/{*path}`.
pub async fn invoke_path(
    State(gw): State<Arc<Gateway>>,
    Path((name, path)): Path<(String, String)>,
    peer: ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    handle(gw, name, format!("/{path}"), peer.0, request).await
}

/// When a call arrived and the ids stamped on its request and response.
pub(crate) struct Stamp {
    /// Arrival at the gateway (or the start of an asynchronous attempt): deadlines count from here.
    pub arrival: Instant,
    /// `X-Call-Id`.
    pub call_id: HeaderValue,
    /// `X-Start-Time`: Unix nanoseconds of the arrival.
    pub start_time: HeaderValue,
}

impl Stamp {
    /// A call arriving now with `call_id`.
    pub(crate) fn now(call_id: HeaderValue) -> Self {
        let arrival = Instant::now();
        let start_nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Self { arrival, call_id, start_time: HeaderValue::from(start_nanos as u64) }
    }
}

/// A request on its way to a function, its body read.
pub(crate) struct Outgoing {
    /// HTTP method.
    pub method: Method,
    /// Path after the function's name, starting with `/`.
    pub path: String,
    /// Query string, without `?`.
    pub query: Option<String>,
    /// Headers, hop-by-hop ones removed.
    pub headers: HeaderMap,
    /// The body.
    pub body: bytes::Bytes,
}

async fn handle(gw: Arc<Gateway>, name: String, path: String, peer: SocketAddr, request: Request) -> Response {
    let call_id = request.headers().get(&X_CALL_ID).filter(|v| !v.is_empty()).cloned().unwrap_or_else(new_call_id);
    let stamp = Stamp::now(call_id);
    match QualifiedName::parse(&name, None) {
        Err(e) => finish(&gw, None, &stamp, Err(ApiError::from(e))),
        Ok(name) => counted(&gw, &name, &stamp, call(&gw, &name, path, peer, request, &stamp)).await,
    }
}

/// Runs `run`, a call to `name`, counted in the metrics and invocation counts, and stamps the ids, the
/// duration and the cold-start headers on its answer (an error becomes its response first).
pub(crate) async fn counted(
    gw: &Gateway,
    name: &QualifiedName,
    stamp: &Stamp,
    run: impl Future<Output = Result<Response, ApiError>>,
) -> Response {
    let label = name.to_string();
    gw.metrics.call_started(&label);
    let result = run.await;
    gw.counts.add(name);
    finish(gw, Some(&label), stamp, result)
}

fn finish(gw: &Gateway, label: Option<&str>, stamp: &Stamp, result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    let took = stamp.arrival.elapsed();
    let cold = response.extensions().get::<ColdStart>().and_then(|c| c.0);
    if let Some(label) = label {
        gw.metrics.call_finished(label, response.status().as_u16(), took.as_secs_f64());
        if let Some(waited) = cold {
            gw.metrics.cold_start(label, waited.as_secs_f64());
        }
    }
    let headers = response.headers_mut();
    headers.insert(X_CALL_ID.clone(), stamp.call_id.clone());
    headers.insert(X_START_TIME.clone(), stamp.start_time.clone());
    headers.insert(X_DURATION.clone(), duration_header(took));
    headers.insert(X_COLD_START.clone(), HeaderValue::from_static(if cold.is_some() { "true" } else { "false" }));
    if let Some(waited) = cold {
        let ms = HeaderValue::from_str(&format!("{:.3}", waited.as_secs_f64() * 1e3)).expect("digits are ASCII");
        headers.insert(X_COLD_START_MS.clone(), ms);
    }
    response
}

async fn call(
    gw: &Gateway,
    name: &QualifiedName,
    path: String,
    peer: SocketAddr,
    request: Request,
    stamp: &Stamp,
) -> Result<Response, ApiError> {
    let target = find_target(gw, name).await?;
    let timeouts = target.timeouts();
    let (parts, body) = request.into_parts();
    let body = read_body(body, gw.config.max_body, stamp.arrival + timeouts.read, timeouts.read).await?;
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    let out = Outgoing { method: parts.method, path, query: parts.uri.query().map(str::to_string), headers, body };
    let respond_after = timeouts.write.min(gw.config.upstream_timeout);
    forward(target.as_ref(), out, Some(peer), stamp, respond_after).await
}

/// The function's router; just after start-up, waits (up to `--upstream-timeout`) for stored functions to be
/// restored before answering 404.
pub(crate) async fn find_target(gw: &Gateway, name: &QualifiedName) -> Result<Arc<dyn Invoke>, ApiError> {
    let mut target = gw.provider.target(name);
    if target.is_none() && !gw.restored.is_cancelled() {
        // Just started: the function may be among those still being restored.
        let _ = tokio::time::timeout(gw.config.upstream_timeout, gw.restored.cancelled()).await;
        target = gw.provider.target(name);
    }
    target.ok_or_else(|| ApiError::NotFound(format!("function {name} not found")))
}

/// Hands `out` to `target` with `X-Call-Id`, `X-Start-Time` and (when `peer` is given and the header is
/// absent) `X-Forwarded-For` set, and deadlines counted from the stamp's arrival: the function's `exec_timeout`,
/// and an answer within `respond_after`.
pub(crate) async fn forward(
    target: &dyn Invoke,
    out: Outgoing,
    peer: Option<SocketAddr>,
    stamp: &Stamp,
    respond_after: Duration,
) -> Result<Response, ApiError> {
    let timeouts = target.timeouts();
    let mut headers = out.headers;
    headers.insert(X_CALL_ID.clone(), stamp.call_id.clone());
    headers.insert(X_START_TIME.clone(), stamp.start_time.clone());
    if let Some(peer) = peer
        && !headers.contains_key(&X_FORWARDED_FOR)
        && let Ok(v) = HeaderValue::from_str(&peer.ip().to_string())
    {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    let call = Call {
        method: out.method,
        path: out.path,
        query: out.query,
        headers,
        body: out.body,
        call_id: stamp.call_id.to_str().unwrap_or_default().to_string(),
        deadlines: Deadlines {
            exec: timeouts.exec.map(|d| stamp.arrival + d),
            respond: stamp.arrival + respond_after,
            respond_after,
        },
    };
    let response = target.invoke(call).await?;
    Ok(response.map(Body::new))
}

/// Reads the whole body (chunked or not), bounded in size and time.
pub(crate) async fn read_body(
    body: Body,
    max: usize,
    deadline: Instant,
    window: Duration,
) -> Result<bytes::Bytes, ApiError> {
    match tokio::time::timeout_at(deadline, Limited::new(body, max).collect()).await {
        Err(_) => Err(ApiError::RequestTimeout(format!(
            "request body not received within read_timeout ({})",
            sedge_core::duration::format(window)
        ))),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge(max)),
        Ok(Err(e)) => Err(ApiError::BadRequest(format!("could not read request body: {e}"))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// A random (v4) UUID from the thread-local generator: no system call per request.
pub(crate) fn new_call_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).expect("uuid is ASCII")
}

/// `X-Duration-Seconds` as the watchdogs write it (`%f`: six decimals).
pub(crate) fn duration_header(d: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("{:.6}", d.as_secs_f64())).expect("digits are ASCII")
}
