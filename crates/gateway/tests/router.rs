//! The gateway's routes without a socket (`Router::oneshot`), over a real SQLite store and the local
//! provider: auth, deploy, invoke headers, the error mapping and the metrics it leaves behind.

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

mod support;

struct Fixture {
    _state: tempfile::TempDir,
    app: axum::Router,
    auth: String,
}

async fn fixture() -> Fixture {
    let support::TestGateway { state, app, admin: auth, .. } = support::gateway(None, 1 << 30).await;
    Fixture { _state: state, app, auth }
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, text)
}

fn deploy(f: &Fixture, json: &str) -> Request<Body> {
    Request::post("/system/functions")
        .header(header::AUTHORIZATION, &f.auth)
        .body(Body::from(json.to_string()))
        .unwrap()
}

#[tokio::test]
async fn system_routes_need_credentials() {
    let f = fixture().await;
    let (status, headers, _) = send(&f.app, Request::get("/system/info").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Basic realm=\"Restricted\"");
    let req = Request::get("/system/info").header(header::AUTHORIZATION, &f.auth).body(Body::empty()).unwrap();
    let (status, _, body) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::OK);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["provider"]["provider"], "sedge");
    assert_eq!(info["version"]["release"], "test");
    let (status, _, body) = send(&f.app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"));
}

#[tokio::test]
async fn invoke_stamps_headers_and_maps_errors() {
    let f = fixture().await;
    let (status, _, _) = send(&f.app, deploy(&f, r#"{"service":"cat","image":"x","envProcess":"cat"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, _) = send(&f.app, deploy(&f, r#"{"service":"fails","image":"x","envProcess":"false"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let req = Request::post("/function/cat/a/b?q=1").header("x-call-id", "abc").body(Body::from("hi")).unwrap();
    let (status, headers, body) = send(&f.app, req).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hi"));
    assert_eq!(headers["x-call-id"], "abc");
    assert!(headers["x-start-time"].to_str().unwrap().parse::<u128>().is_ok());
    let duration: f64 = headers["x-duration-seconds"].to_str().unwrap().parse().unwrap();
    assert!(duration >= 0.0);

    let (status, headers, body) = send(&f.app, Request::post("/function/fails").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "exit status 1\n");
    assert!(headers.contains_key("x-call-id"), "errors carry the call id too");

    let (status, _, body) =
        send(&f.app, Request::post("/function/cat").body(Body::from(vec![0u8; 2048])).unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("1024"), "{body}");

    let (status, _, body) = send(&f.app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"gateway_function_invocation_total{function_name="cat.openfaas-fn",code="200"} 1"#),
        "{body}"
    );
    assert!(body.contains(r#"gateway_function_invocation_total{function_name="fails.openfaas-fn",code="500"} 1"#));
    assert!(body.contains(r#"gateway_service_count{function_name="cat.openfaas-fn"} 1"#));
    assert!(body.contains(r#"sedge_replicas{function_name="cat.openfaas-fn",state="ready"} 1"#));
    assert!(body.contains("sedge_log_lines_dropped 0"), "{body}");
}
