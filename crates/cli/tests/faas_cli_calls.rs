//! The calls the real faas-cli 0.18 makes (REFERENCE.md §8), made as it makes them, with the answers it
//! accepts. faas-cli itself cannot be installed here, so this test is its stand-in.

use reqwest::{Method, StatusCode};
use sedge_testkit::TestGateway;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

#[tokio::test]
async fn faas_cli_sequence() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let function = json!({"service": "figlet", "image": "functions/figlet:latest", "envProcess": "cat",
                          "labels": {"com.openfaas.scale.min": "1"}, "annotations": {"topic": "demo"}});

    // login: GET /system/functions with basic auth; an empty bearer token (sent before login) is refused.
    let r = gw.request(Method::GET, "/system/functions").header("authorization", "Bearer ").send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(gw.system(Method::GET, "/system/functions").send().await?.status(), StatusCode::OK);

    // deploy: PUT first, POST only because the PUT answered 404; deploying again is a PUT that succeeds.
    let put = gw.system(Method::PUT, "/system/functions").json(&function).send().await?;
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    let post = gw.system(Method::POST, "/system/functions").json(&function).send().await?;
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let again = gw.system(Method::PUT, "/system/functions").json(&function).send().await?;
    assert_eq!(again.status(), StatusCode::OK);

    // describe: GET /system/function/NAME?usage=1, then the list.
    let d: Value = gw.system(Method::GET, "/system/function/figlet?usage=1").send().await?.json().await?;
    assert_eq!(d["name"], "figlet");
    assert_eq!(d["namespace"], "openfaas-fn");
    assert_eq!(d["image"], "functions/figlet:latest");
    assert_eq!(d["annotations"]["topic"], "demo");
    assert!(d["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    let list: Vec<Value> =
        gw.system(Method::GET, "/system/functions?namespace=openfaas-fn").send().await?.json().await?;
    assert_eq!(list.len(), 1);

    // invoke: POST /function/NAME.openfaas-fn, no auth header.
    let r = gw.request(Method::POST, "/function/figlet.openfaas-fn").body("hi").send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await?, "hi");

    // logs: GET /system/logs?follow=&name=&tail=&since= → NDJSON {name, namespace, instance, timestamp, text}.
    let r = gw.system(Method::GET, "/system/logs?follow=false&name=figlet&tail=-1&since=").send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let first: Value = serde_json::from_str(r.text().await?.lines().next().unwrap_or("{}"))?;
    for key in ["name", "namespace", "instance", "timestamp", "text"] {
        assert!(first[key].is_string(), "log line lacks {key}: {first}");
    }

    // secrets: create 201, create again 409, update 200, list names only, remove 200 (204 would be an error).
    let secret = json!({"name": "api-key", "namespace": "openfaas-fn", "value": "v1"});
    assert_eq!(gw.system(Method::POST, "/system/secrets").json(&secret).send().await?.status(), StatusCode::CREATED);
    assert_eq!(gw.system(Method::POST, "/system/secrets").json(&secret).send().await?.status(), StatusCode::CONFLICT);
    let update = json!({"name": "api-key", "namespace": "openfaas-fn", "rawValue": "djI="});
    assert_eq!(gw.system(Method::PUT, "/system/secrets").json(&update).send().await?.status(), StatusCode::OK);
    let secrets: Vec<Value> =
        gw.system(Method::GET, "/system/secrets?namespace=openfaas-fn").send().await?.json().await?;
    assert_eq!(secrets, vec![json!({"name": "api-key", "namespace": "openfaas-fn"})]);
    let r = gw
        .system(Method::DELETE, "/system/secrets")
        .json(&json!({"name": "api-key", "namespace": "openfaas-fn"}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);

    // namespace list, version, ready.
    let ns: Vec<String> = gw.system(Method::GET, "/system/namespaces").send().await?.json().await?;
    assert_eq!(ns, ["openfaas-fn"]);
    let info: Value = gw.system(Method::GET, "/system/info").send().await?.json().await?;
    assert_eq!(info["provider"]["provider"], "sedge");
    assert!(info["provider"]["version"]["release"].is_string() && info["version"]["sha"].is_string());
    assert!(info["arch"].is_string() && info["provider"]["orchestration"].is_string());
    assert_eq!(gw.request(Method::GET, "/healthz").send().await?.status(), StatusCode::OK);

    // scale, then remove: DELETE with {"functionName","namespace"}; a second remove is a 404 (faas-cli exits 1).
    let scale = json!({"serviceName": "figlet", "replicas": 2, "namespace": "openfaas-fn"});
    let r = gw.system(Method::POST, "/system/scale-function/figlet").json(&scale).send().await?;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    gw.wait_available("figlet", 2).await?;
    let remove = json!({"functionName": "figlet", "namespace": "openfaas-fn"});
    assert_eq!(gw.system(Method::DELETE, "/system/functions").json(&remove).send().await?.status(), StatusCode::OK);
    assert_eq!(
        gw.system(Method::DELETE, "/system/functions").json(&remove).send().await?.status(),
        StatusCode::NOT_FOUND
    );
    Ok(())
}
