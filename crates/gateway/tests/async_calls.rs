//! `/async-function/{name}` and `/system/async-calls` without a socket (`Router::oneshot`), over a real SQLite
//! store and the local provider: what is accepted (202 and its headers) and refused (404, 400, 413, 409), the
//! status API's shapes, cancelling, and one call run by the dispatcher in-process.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use sedge_gateway::Gateway;
use sedge_gateway::calls::Dispatcher;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod support;

struct Fixture {
    _state: tempfile::TempDir,
    gateway: Arc<Gateway>,
    app: axum::Router,
    auth: String,
}

async fn fixture() -> Fixture {
    let support::TestGateway { state, gateway, app, admin: auth } = support::gateway(None, 1 << 30).await;
    let f = Fixture { _state: state, gateway, app, auth };
    let deploy =
        r#"{"service":"cat","image":"x","envProcess":"cat","annotations":{"com.openfaas.retry.attempts":"3"}}"#;
    let (status, _, _) =
        send(&f.app, f.system(Request::post("/system/functions")).body(Body::from(deploy)).unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    f
}

impl Fixture {
    fn system(&self, builder: http::request::Builder) -> http::request::Builder {
        builder.header(header::AUTHORIZATION, &self.auth)
    }

    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = send(&self.app, self.system(Request::get(path)).body(Body::empty()).unwrap()).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, text)
}

#[tokio::test]
async fn accepted_calls_are_stored_and_answered_202() {
    let f = fixture().await;
    let req =
        Request::post("/async-function/cat/sub/path?q=1").header("x-test", "yes").body(Body::from("hello")).unwrap();
    let (status, headers, body) = send(&f.app, req).await;
    assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, ""), "empty body, as OpenFaaS");
    let id = headers["x-call-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    assert!(headers["x-start-time"].to_str().unwrap().parse::<u128>().is_ok());
    assert_eq!(headers[header::LOCATION], format!("/system/async-calls/{id}"));

    let (status, call) = f.get_json(&format!("/system/async-calls/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["id"], id.as_str());
    assert_eq!(call["function"], "cat.openfaas-fn");
    assert_eq!(call["status"], "queued");
    assert_eq!((call["attempts"].as_u64(), call["maxAttempts"].as_u64()), (Some(0), Some(3)), "{call}");
    assert_eq!((call["method"].as_str(), call["path"].as_str()), (Some("POST"), Some("/sub/path")));
    assert_eq!(call["query"], "q=1");
    assert!(call["enqueuedAt"].as_str().unwrap().ends_with('Z'), "{call}");
    assert!(call["nextAttemptAt"].is_string(), "queued calls say when they are due: {call}");
    assert!(call.get("result").is_none() && call.get("callbackUrl").is_none(), "{call}");

    // A client-given id is kept; sending it again is refused, so a retried enqueue never runs twice.
    let req =
        |id: &str| Request::post("/async-function/cat.openfaas-fn/").header("x-call-id", id).body(Body::from("a"));
    let (status, headers, _) = send(&f.app, req("job-42").unwrap()).await;
    assert_eq!((status, headers["x-call-id"].to_str().unwrap()), (StatusCode::ACCEPTED, "job-42"));
    let (status, _, body) = send(&f.app, req("job-42").unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _, body) = send(&f.app, req("no/slashes").unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("X-Call-Id"), "{body}");
}

#[tokio::test]
async fn unknown_functions_bad_callbacks_and_big_bodies_are_refused() {
    let f = fixture().await;
    let (status, _, body) = send(&f.app, Request::post("/async-function/nope").body(Body::from("x")).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("nope"), "{body}");

    for url in ["/relative", "ftp://h/x", "http://"] {
        let req = Request::post("/async-function/cat").header("x-callback-url", url).body(Body::from("x")).unwrap();
        let (status, _, body) = send(&f.app, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        assert!(body.contains("X-Callback-Url"), "{body}");
    }

    let req = Request::post("/async-function/cat").body(Body::from(vec![b'x'; 2048])).unwrap();
    let (status, _, body) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("1024"), "{body}");

    let (status, _, _) = send(&f.app, Request::get("/async-function/cat").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "POST only, as OpenFaaS");
    let (_, list) = f.get_json("/system/async-calls").await;
    assert_eq!(list, serde_json::json!([]), "nothing refused was queued");
}

#[tokio::test]
async fn the_status_api_lists_filters_and_cancels() {
    let f = fixture().await;
    let cb = "http://127.0.0.1:9/done";
    let mut ids = Vec::new();
    for i in 0..3 {
        let req =
            Request::post("/async-function/cat").header("x-call-id", format!("c{i}")).header("x-callback-url", cb);
        let (status, headers, _) = send(&f.app, req.body(Body::from("x")).unwrap()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(headers["x-call-id"].to_str().unwrap().to_string());
    }
    let (status, list) = f.get_json("/system/async-calls?function=cat&status=queued").await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ["c2", "c1", "c0"], "newest first");
    assert_eq!(list[0]["callbackUrl"], cb);
    let (_, list) = f.get_json("/system/async-calls?limit=1").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = f.get_json("/system/async-calls?function=cat.other").await;
    assert_eq!(list, serde_json::json!([]));

    for bad in ["status=done", "limit=0", "limit=x", "function=Bad_Name"] {
        let (status, body) = f.get_json(&format!("/system/async-calls?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _) = f.get_json("/system/async-calls/unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = f.get_json("/system/async-calls/c0/result").await;
    assert_eq!(status, StatusCode::CONFLICT, "no result yet: {body}");

    // Cancel: 202 once, then 409; 404 for an unknown id; the Pro route needs the credentials too.
    let delete = |path: &str| f.system(Request::delete(path)).body(Body::empty()).unwrap();
    assert_eq!(send(&f.app, delete("/system/async-calls/c0")).await.0, StatusCode::ACCEPTED);
    assert_eq!(send(&f.app, delete("/system/async-calls/c0")).await.0, StatusCode::CONFLICT);
    assert_eq!(send(&f.app, delete("/system/async-calls/unknown")).await.0, StatusCode::NOT_FOUND);
    let anonymous = Request::delete("/async-function/c1").body(Body::empty()).unwrap();
    assert_eq!(send(&f.app, anonymous).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&f.app, delete("/async-function/c1")).await.0, StatusCode::ACCEPTED);
    let (_, list) = f.get_json("/system/async-calls?status=cancelled").await;
    let listed: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ["c1", "c0"]);
    let (status, _, _) = send(&f.app, Request::get("/system/async-calls").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the status API is behind basic auth");
}

#[tokio::test]
async fn the_dispatcher_runs_a_call_as_a_sync_call_would() {
    let f = fixture().await;
    let dispatcher = Dispatcher::new(f.gateway.clone(), 2);
    let app = dispatcher.attach(f.app.clone());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(dispatcher.run(shutdown.clone()));

    let req = Request::post("/async-function/cat/p").header("content-type", "text/plain").body(Body::from("hi there"));
    let (status, headers, _) = send(&app, req.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = headers["x-call-id"].to_str().unwrap().to_string();

    let mut call = Value::Null;
    for _ in 0..400 {
        call = f.get_json(&format!("/system/async-calls/{id}")).await.1;
        if call["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(call["status"], "succeeded", "{call}");
    assert_eq!(call["attempts"], 1);
    assert_eq!(call["result"]["statusCode"], 200);
    assert_eq!(call["result"]["bodyBytes"], 8);
    assert_eq!(call["result"]["headers"]["x-call-id"], id.as_str(), "the attempt carried the call id");
    assert!(call["finishedAt"].is_string() && call["startedAt"].is_string(), "{call}");

    let req = f.system(Request::get(format!("/system/async-calls/{id}/result"))).body(Body::empty()).unwrap();
    let (status, headers, body) = send(&app, req).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hi there"));
    assert_eq!(headers["x-function-status"], "200");

    let (_, _, metrics) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(
        metrics.contains(r#"gateway_function_invocation_total{function_name="cat.openfaas-fn",code="200"} 1"#),
        "the attempt is counted as a sync call is: {metrics}"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running).await.unwrap().unwrap();
}
