//! Http mode, of-watchdog's `http` semantics: calls are proxied to the replica's own server on
//! `127.0.0.1:$PORT` over kept-alive connections with TCP_NODELAY; an exec timeout answers 504.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sedge_core::Mode;

use crate::invoke::{Call, InvokeError, ResponseBody};

/// The shared client for all http-mode replicas.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client with keep-alive pools and TCP_NODELAY (a Python upstream without it stalls ~40 ms per call).
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(connector)
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), removed both ways.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers (and `Upgrade`).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Proxies `call` to the server on `port`.
pub async fn forward(
    client: &HttpClient,
    function: &str,
    port: u16,
    call: Call,
) -> Result<Response<ResponseBody>, InvokeError> {
    let unreachable = |reason: String| InvokeError::Unreachable { function: function.to_string(), reason };
    let path_and_query = match &call.query {
        Some(q) => format!("{}?{q}", call.path),
        None => call.path.clone(),
    };
    let uri: Uri =
        format!("http://127.0.0.1:{port}{path_and_query}").parse().map_err(|e| unreachable(format!("{e}")))?;
    let mut headers = call.headers;
    if let Some(host) = headers.remove(header::HOST) {
        headers.entry("x-forwarded-host").or_insert(host);
    }
    let mut request = Request::new(Full::new(call.body));
    *request.method_mut() = call.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;

    let (deadline, is_exec) = call.deadlines.first();
    match tokio::time::timeout_at(deadline, client.request(request)).await {
        Err(_elapsed) if is_exec => Err(InvokeError::ExecTimeout { mode: Mode::Http }),
        Err(_elapsed) => {
            Err(InvokeError::NoResponse { function: function.to_string(), after: call.deadlines.respond_after })
        }
        Ok(Err(e)) => Err(unreachable(sedge_core::error::chain(&e))),
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, body.map_err(Into::into).boxed_unsync()))
        }
    }
}

/// Whether the server on `port` is ready: `ready_path` answers 2xx, or, without one, a TCP connect succeeds.
pub async fn probe(client: &HttpClient, port: u16, ready_path: Option<&str>) -> bool {
    let Some(path) = ready_path else {
        return tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok();
    };
    let Ok(uri) = format!("http://127.0.0.1:{port}{path}").parse::<Uri>() else { return false };
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri;
    request.headers_mut().insert(header::USER_AGENT, HeaderValue::from_static("sedge-probe"));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), client.request(request)).await,
        Ok(Ok(r)) if r.status().is_success()
    )
}
