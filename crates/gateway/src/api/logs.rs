//! `GET /system/logs?name=&namespace=&instance=&tail=&since=&follow=`: NDJSON `LogMessage`s, history first,
//! then (with `follow=true`) live lines until the client goes away or the server shuts down.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::header;
use sedge_core::QualifiedName;
use sedge_core::api::LogMessage;
use serde::Deserialize;

use crate::Gateway;
use crate::error::ApiError;

/// Query parameters, all as strings so that a bad value gets a 422 naming it (as faas-provider answers).
#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    name: Option<String>,
    namespace: Option<String>,
    instance: Option<String>,
    tail: Option<String>,
    since: Option<String>,
    follow: Option<String>,
}

/// `GET /system/logs`.
pub async fn logs(State(gw): State<Arc<Gateway>>, Query(q): Query<LogsQuery>) -> Result<Response, ApiError> {
    let Some(name) = q.name.as_deref().filter(|n| !n.is_empty()) else {
        return Err(ApiError::Unprocessable("name is required: /system/logs?name=FUNCTION".into()));
    };
    let name =
        QualifiedName::parse(name, q.namespace.as_deref()).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let tail = match q.tail.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => return Err(ApiError::Unprocessable(format!("tail: {t:?} is not a whole number"))),
        },
    };
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            humantime::parse_rfc3339_weak(s)
                .map_err(|_| ApiError::Unprocessable(format!("since: {s:?} is not an RFC 3339 time")))?,
        ),
    };
    let follow = match q.follow.as_deref() {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => return Err(ApiError::Unprocessable(format!("follow: {other:?} is not true or false"))),
    };
    if gw.store.get_function(&name).await?.is_none() {
        return Err(ApiError::NotFound(format!("function {name} not found")));
    }

    // Subscribe before reading history, so nothing written in between is missed.
    let live = follow.then(|| gw.provider.logs().subscribe());
    let instance = q.instance.filter(|i| !i.is_empty());
    let wanted = move |m: &LogMessage| instance.as_ref().is_none_or(|i| &m.instance == i);
    // History may come from the log file after a restart: read it off the async workers.
    let (provider, function) = (gw.provider.clone(), name.clone());
    let history = tokio::task::spawn_blocking(move || provider.logs().history(&function, tail, since))
        .await
        .map_err(|e| ApiError::Internal(format!("reading logs failed: {e}")))?;
    let history: Vec<LogMessage> = history.into_iter().filter(|m| wanted(m)).collect();
    let last_seen = history.last().map(|m| m.timestamp.clone());
    let history = futures_util::stream::iter(history.into_iter().map(|m| Ok::<_, std::io::Error>(line(&m))));

    let body = match live {
        None => Body::from_stream(history),
        Some(rx) => {
            let shutdown = gw.shutdown.clone();
            let live = tokio_stream_from(rx, shutdown).filter_map(move |m| {
                let keep = m.name == name.name
                    && m.namespace == name.namespace
                    && wanted(&m)
                    && last_seen.as_ref().is_none_or(|t| m.timestamp > *t)
                    && since.is_none_or(|s| parse(&m.timestamp).is_some_and(|t| t >= s));
                std::future::ready(keep.then(|| Ok(line(&m))))
            });
            Body::from_stream(history.chain(live))
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

fn parse(t: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(t).ok()
}

fn line(m: &LogMessage) -> Bytes {
    let mut bytes = serde_json::to_vec(m).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// Live messages until shutdown; a follower that falls behind skips what it missed.
fn tokio_stream_from(
    rx: tokio::sync::broadcast::Receiver<LogMessage>,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl futures_util::Stream<Item = LogMessage> {
    futures_util::stream::unfold((rx, shutdown), |(mut rx, shutdown)| async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                received = rx.recv() => match received {
                    Ok(m) => return Some((m, (rx, shutdown))),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    })
}
