//! The registry's routes without a socket (`Router::oneshot`) over a real SQLite store and a local artifact
//! folder: who may push (admin or the functions' token, and the token opens nothing else), how a malformed push
//! is refused, and what a good one records.

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models/gbt_taxi_xgb.onnx");
const BOUNDARY: &str = "sedge-test-boundary";

struct Fixture {
    state: tempfile::TempDir,
    app: axum::Router,
    admin: String,
}

async fn fixture() -> Fixture {
    let support::TestGateway { state, app, admin, .. } = support::gateway(Some("fn-token"), 1 << 20).await;
    Fixture { state, app, admin }
}

/// A multipart body of `(name, content)` parts in order.
fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, content) in parts {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n")
                .bytes(),
        );
        body.extend_from_slice(content);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

fn push(auth: &str, content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::post("/system/models")
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap()
}

fn form() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_push_records_the_files_digest_size_signature_and_metrics() {
    let f = fixture().await;
    let model = std::fs::read(MODEL).unwrap();
    let meta = json!({"name": "taxi", "architecture": "gbdt", "accuracy": 0.9, "metrics": {"rmse": 0.26}, "params": {"trees": 100}});
    let (status, body) = send(
        &f.app,
        push(&f.admin, &form(), multipart(&[("metadata", meta.to_string().as_bytes()), ("file", &model)])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let record: Value = serde_json::from_str(&body).unwrap();
    let sha: String = sha2_hex(&model);
    assert_eq!(record["sha256"], sha.as_str());
    assert_eq!(record["size_bytes"], model.len() as u64);
    assert_eq!(record["version"], 1);
    assert_eq!(record["stage"], "none");
    assert_eq!(record["accuracy"], 0.9);
    assert_eq!(record["metrics"], json!({"rmse": 0.26, "accuracy": 0.9}));
    assert_eq!(record["params"]["trees"], 100);
    assert_eq!(record["signature"]["inputs"][0]["datatype"], "FP32");
    let kept = f.state.path().join("artifacts").join(record["model_path"].as_str().unwrap());
    assert_eq!(std::fs::read(kept).unwrap(), model);
}

#[tokio::test]
async fn the_functions_token_pushes_models_and_opens_nothing_else() {
    let f = fixture().await;
    let model = std::fs::read(MODEL).unwrap();
    let body = multipart(&[("metadata", br#"{"name": "taxi"}"#), ("file", &model)]);
    let (status, text) = send(&f.app, push("Bearer fn-token", &form(), body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let (status, _) = send(&f.app, push("Bearer wrong", &form(), body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let functions =
        Request::get("/system/functions").header(header::AUTHORIZATION, "Bearer fn-token").body(Body::empty()).unwrap();
    assert_eq!(send(&f.app, functions).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_pushes_are_refused_with_what_to_send() {
    let f = fixture().await;
    let model = std::fs::read(MODEL).unwrap();
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        ("application/octet-stream".into(), model.clone(), "multipart/form-data"),
        (form(), multipart(&[("file", &model)]), "expected the `metadata` part"),
        (form(), multipart(&[("metadata", br#"{"name": "taxi"}"#)]), "the `file` part is missing"),
        (form(), multipart(&[("metadata", b"{not json"), ("file", &model)]), "not valid model metadata JSON"),
        (
            form(),
            multipart(&[("metadata", br#"{"name": "taxi", "colour": 1}"#), ("file", &model)]),
            "unknown field `colour`",
        ),
        (form(), multipart(&[("metadata", br#"{"name": "../x"}"#), ("file", &model)]), "not valid"),
        (
            form(),
            multipart(&[("metadata", br#"{"name": "taxi", "format": "pickle"}"#), ("file", &model)]),
            "not supported",
        ),
        (form(), multipart(&[("extra", b"x"), ("file", &model)]), "unexpected part"),
        (form(), multipart(&[("metadata", br#"{"name": "taxi"}"#), ("file", b"\x08\x07garbage")]), "not an ONNX model"),
    ];
    for (content_type, body, message) in cases {
        let (status, text) = send(&f.app, push(&f.admin, &content_type, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}: {text}");
        assert!(text.contains(message), "expected {message:?} in {text:?}");
    }
    let too_big = vec![0u8; 2 << 20];
    let (status, text) =
        send(&f.app, push(&f.admin, &form(), multipart(&[("metadata", br#"{"name": "taxi"}"#), ("file", &too_big)])))
            .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text.contains("--max-model-size"), "names the flag that sets the limit: {text}");
    let list = Request::get("/system/models").header(header::AUTHORIZATION, &f.admin).body(Body::empty()).unwrap();
    assert_eq!(send(&f.app, list).await.1, "[]", "nothing registered");
    let tmp = f.state.path().join("artifacts/tmp");
    assert!(!tmp.exists() || std::fs::read_dir(tmp).unwrap().next().is_none(), "no temporary left");
}

#[tokio::test]
async fn bad_paths_and_filters_say_what_is_accepted() {
    let f = fixture().await;
    let get = |uri: &str| Request::get(uri).header(header::AUTHORIZATION, &f.admin).body(Body::empty()).unwrap();
    let (status, text) = send(&f.app, get("/system/models?stage=live")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("use none, staging, production or archived"), "{text}");
    let (status, text) = send(&f.app, get("/system/models/taxi/versions/x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("give a number, `latest` or a stage"), "{text}");
    assert_eq!(send(&f.app, get("/system/models/taxi")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&f.app, get("/system/models/taxi/versions/latest")).await.0, StatusCode::NOT_FOUND);
    let promote = Request::post("/system/models/taxi/versions/1/stage")
        .header(header::AUTHORIZATION, &f.admin)
        .body(Body::from(r#"{"stage": "production"}"#))
        .unwrap();
    let (status, text) = send(&f.app, promote).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("model taxi:1 not found"), "{text}");
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
