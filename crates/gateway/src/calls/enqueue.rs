//! `POST /async-function/{name}[/path]`: the call is checked (the function exists, the body fits
//! `--max-body`, `X-Callback-Url` is an absolute http(s) URL), committed to the queue, and only then answered
//! **202 Accepted** with an empty body, as OpenFaaS does, and the headers `X-Call-Id`, `X-Start-Time` and
//! `Location: /system/async-calls/{id}`.
//!
//! The call id is the request's `X-Call-Id` when it has one (1–200 characters from `A-Z a-z 0-9 - _ . : @ + = ~`,
//! so it fits a URL path), else a fresh UUID; a repeated id is refused with 409, which makes a client's retry
//! of the enqueue itself safe. Request headers are kept minus hop-by-hop ones, with `X-Forwarded-For` set as
//! the sync path sets it; `X-Call-Id` and `X-Start-Time` are set again on each attempt.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use sedge_core::QualifiedName;
use sedge_runtime::local::http::strip_hop_by_hop;
use sedge_store::NewCall;
use tokio::time::Instant;

use super::dispatcher::Wake;
use super::policy::RetryPolicy;
use crate::Gateway;
use crate::error::ApiError;
use crate::invoke::{self, X_CALL_ID, X_START_TIME};

static X_CALLBACK_URL: HeaderName = HeaderName::from_static("x-callback-url");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The longest call id accepted from a client.
const MAX_ID_LEN: usize = 200;

/// `POST /async-function/{name}` and `/async-function/{name}/`.
pub async fn enqueue_root(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    enqueue(gw, name, "/".to_string(), peer, request).await
}

/// `POST /async-function/{name}/{*path}`.
pub async fn enqueue_path(
    State(gw): State<Arc<Gateway>>,
    Path((name, path)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    enqueue(gw, name, format!("/{path}"), peer, request).await
}

async fn enqueue(
    gw: Arc<Gateway>,
    name: String,
    path: String,
    peer: SocketAddr,
    request: Request,
) -> Result<Response, ApiError> {
    let arrival = Instant::now();
    let name = QualifiedName::parse(&name, None)?;
    let record = gw.store.get_function(&name).await?;
    let target = gw.provider.target(&name);
    if record.is_none() && target.is_none() {
        return Err(ApiError::NotFound(format!("function {name} not found")));
    }
    let callback_url = callback_url(request.headers())?;
    let id = call_id(request.headers())?;

    let timeouts = target.map(|t| t.timeouts()).unwrap_or_default();
    let (parts, body) = request.into_parts();
    let body = invoke::read_body(body, gw.config.max_body, arrival + timeouts.read, timeouts.read).await?;
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(&X_CALL_ID);
    headers.remove(&X_START_TIME);
    if !headers.contains_key(&X_FORWARDED_FOR)
        && let Ok(v) = HeaderValue::from_str(&peer.ip().to_string())
    {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    let annotations = record.and_then(|r| r.deployment.annotations).unwrap_or_default();
    let (policy, _) = RetryPolicy::from_annotations(&annotations);
    let call = NewCall {
        id: id.clone(),
        function: name,
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_string),
        headers: header_pairs(&headers)?,
        body: body.to_vec(),
        callback_url,
        max_attempts: policy.max_attempts,
        enqueued_at_ms: super::now_ms(),
    };
    gw.store.enqueue(&call).await?;
    if let Some(wake) = parts.extensions.get::<Wake>() {
        wake.wake();
    }
    tracing::debug!(call_id = %id, function = %call.function, "async call queued");

    let stamp = invoke::Stamp::now(HeaderValue::from_str(&id).expect("checked by call_id"));
    let mut response = StatusCode::ACCEPTED.into_response();
    let out = response.headers_mut();
    out.insert(X_CALL_ID.clone(), stamp.call_id);
    out.insert(X_START_TIME.clone(), stamp.start_time);
    if let Ok(location) = HeaderValue::from_str(&format!("/system/async-calls/{id}")) {
        out.insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `X-Callback-Url`, when given: an absolute `http` or `https` URL with a host.
pub fn callback_url(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(&X_CALLBACK_URL) else { return Ok(None) };
    let bad = |why: &str| ApiError::BadRequest(format!("X-Callback-Url {value:?} is not usable: {why}"));
    let text = value.to_str().map_err(|_| bad("not ASCII text"))?.trim();
    let url = reqwest::Url::parse(text).map_err(|e| bad(&format!("{e}; give an absolute http:// or https:// URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// URLs are called back"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    Ok(Some(url.to_string()))
}

/// The request's `X-Call-Id` if it has one (checked), else a fresh UUID.
fn call_id(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(&X_CALL_ID).filter(|v| !v.is_empty()) else {
        return Ok(invoke::new_call_id().to_str().expect("uuid is ASCII").to_string());
    };
    let ok = value.len() <= MAX_ID_LEN
        && value.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:@+=~".contains(b));
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "X-Call-Id {value:?} is not usable as an async call id: use 1-{MAX_ID_LEN} characters from \
             A-Z a-z 0-9 - _ . : @ + = ~, or leave it out for a generated one"
        )));
    }
    Ok(value.to_str().expect("checked ASCII").to_string())
}

/// Headers as stored: name and text value, in order; a value that is not text is refused.
fn header_pairs(headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    headers
        .iter()
        .map(|(k, v)| match v.to_str() {
            Ok(text) => Ok((k.as_str().to_string(), text.to_string())),
            Err(_) => Err(ApiError::BadRequest(format!(
                "header {k} has a value that is not text; async calls keep text headers only"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn callback_urls_must_be_absolute_http() {
        assert_eq!(callback_url(&HeaderMap::new()).unwrap(), None);
        let ok = callback_url(&with("x-callback-url", "http://127.0.0.1:9/done?x=1")).unwrap();
        assert_eq!(ok.as_deref(), Some("http://127.0.0.1:9/done?x=1"));
        assert!(callback_url(&with("x-callback-url", "https://example.com")).unwrap().is_some());
        for bad in ["/relative", "ftp://host/x", "not a url", "http://", "file:///etc/passwd"] {
            let e = callback_url(&with("x-callback-url", bad)).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.to_string().contains("X-Callback-Url"), "{e}");
        }
    }

    #[test]
    fn call_ids_are_taken_when_url_safe_else_generated() {
        assert_eq!(call_id(&with("x-call-id", "job-1.a:b")).unwrap(), "job-1.a:b");
        let fresh = call_id(&HeaderMap::new()).unwrap();
        assert_eq!((fresh.len(), fresh.matches('-').count()), (36, 4), "{fresh}");
        assert_ne!(fresh, call_id(&HeaderMap::new()).unwrap());
        for bad in ["a/b", "a b", "a%2F", &"x".repeat(201)] {
            assert_eq!(call_id(&with("x-call-id", bad)).unwrap_err().status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
