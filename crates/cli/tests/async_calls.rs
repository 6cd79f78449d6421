//! Asynchronous invocation against the real binary: `/async-function` → 202, the result POSTed to a callback
//! server started here with OpenFaaS's headers, retries with back-off until success or until the attempts
//! run out, and `sedge invoke --async` / `sedge calls` through the CLI.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use reqwest::{Method, StatusCode};
use sedge_testkit::{Client, TestGateway};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

/// A callback as received: headers and body.
struct Callback {
    headers: http::HeaderMap,
    body: Bytes,
}

/// An HTTP server on 127.0.0.1:0 that answers 200 to everything and hands each request over.
async fn callback_server() -> anyhow::Result<(String, mpsc::UnboundedReceiver<Callback>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/done", listener.local_addr()?);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await?.to_bytes();
                        let _ = tx.send(Callback { headers: parts.headers, body });
                        Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    });
    Ok((url, rx))
}

async fn next_callback(rx: &mut mpsc::UnboundedReceiver<Callback>) -> Callback {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a callback within 60 s")
        .expect("the callback server is running")
}

/// Queues a call; returns its id.
async fn enqueue(gw: &Client, path: &str, body: &str, callback: Option<&str>) -> anyhow::Result<String> {
    let mut req = gw.request(Method::POST, path).body(body.to_string());
    if let Some(url) = callback {
        req = req.header("X-Callback-Url", url);
    }
    let resp = req.send().await?;
    anyhow::ensure!(resp.status() == StatusCode::ACCEPTED, "{path}: {}", resp.status());
    Ok(resp.headers()["x-call-id"].to_str()?.to_string())
}

/// Polls `/system/async-calls/{id}` until the call is over (bounded: 60 s).
async fn finished(gw: &Client, id: &str) -> anyhow::Result<Value> {
    for _ in 0..1200 {
        let call: Value = gw.system(Method::GET, &format!("/system/async-calls/{id}")).send().await?.json().await?;
        if matches!(call["status"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
            return Ok(call);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("call {id} not over within 60 s")
}

fn header<'a>(cb: &'a Callback, name: &str) -> &'a str {
    cb.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn results_reach_the_callback_with_openfaas_headers() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    assert_eq!(gw.deploy(json!({"service": "echo", "image": "x", "envProcess": "cat"})).await?, StatusCode::ACCEPTED);
    let (url, mut callbacks) = callback_server().await?;

    let id = enqueue(&gw, "/async-function/echo", "hello async", Some(&url)).await?;
    let cb = next_callback(&mut callbacks).await;
    assert_eq!(cb.body, "hello async");
    assert_eq!(header(&cb, "x-call-id"), id);
    assert_eq!(header(&cb, "x-function-status"), "200");
    assert_eq!(header(&cb, "x-function-name"), "echo.openfaas-fn");
    assert_eq!(header(&cb, "x-sedge-attempts"), "1");
    let duration = header(&cb, "x-duration-seconds");
    assert_eq!(duration.split_once('.').map(|(_, frac)| frac.len()), Some(6), "six decimals: {duration}");
    assert!(duration.parse::<f64>()? >= 0.0);

    let call = finished(&gw, &id).await?;
    assert_eq!((call["status"].as_str(), call["attempts"].as_u64()), (Some("succeeded"), Some(1)), "{call}");
    let result = gw.system(Method::GET, &format!("/system/async-calls/{id}/result")).send().await?;
    assert_eq!(result.headers()["x-function-status"], "200");
    assert_eq!(result.text().await?, "hello async");
    Ok(())
}

#[tokio::test]
async fn failures_are_retried_with_backoff_until_success_or_the_last_attempt() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let dir = tempfile::tempdir()?;
    // Fails (exit 1 → 500) until its third run.
    let script = dir.path().join("flaky.sh");
    std::fs::write(
        &script,
        "n=$(cat \"$COUNT\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$COUNT\"\n\
         if [ $n -lt 3 ]; then echo \"fail $n\"; exit 1; fi; echo \"ok $n\"\n",
    )?;
    let retries = json!({"com.openfaas.retry.attempts": "5", "com.openfaas.retry.min_wait": "20ms",
                         "com.openfaas.retry.max_wait": "100ms"});
    let flaky = json!({"service": "flaky", "image": "x", "envProcess": format!("sh {}", script.display()),
                       "envVars": {"COUNT": dir.path().join("count")}, "annotations": retries});
    assert_eq!(gw.deploy(flaky).await?, StatusCode::ACCEPTED);
    let always = json!({"service": "broken", "image": "x", "envProcess": "false",
                        "annotations": {"com.openfaas.retry.attempts": "3", "com.openfaas.retry.min_wait": "10ms"}});
    assert_eq!(gw.deploy(always).await?, StatusCode::ACCEPTED);
    let (url, mut callbacks) = callback_server().await?;

    let id = enqueue(&gw, "/async-function/flaky", "", Some(&url)).await?;
    let cb = next_callback(&mut callbacks).await;
    assert_eq!((header(&cb, "x-function-status"), header(&cb, "x-sedge-attempts")), ("200", "3"));
    assert_eq!(cb.body, "ok 3\n", "one callback, for the final result only");
    let call = finished(&gw, &id).await?;
    assert_eq!((call["status"].as_str(), call["attempts"].as_u64()), (Some("succeeded"), Some(3)), "{call}");
    assert_eq!(std::fs::read_to_string(dir.path().join("count"))?.trim(), "3");

    let id = enqueue(&gw, "/async-function/broken", "", Some(&url)).await?;
    let cb = next_callback(&mut callbacks).await;
    assert_eq!((header(&cb, "x-function-status"), header(&cb, "x-sedge-attempts")), ("500", "3"));
    assert_eq!(header(&cb, "x-call-id"), id);
    let call = finished(&gw, &id).await?;
    assert_eq!((call["status"].as_str(), call["attempts"].as_u64()), (Some("failed"), Some(3)), "{call}");
    assert_eq!(call["result"]["statusCode"], 500);
    assert!(callbacks.try_recv().is_err(), "no callback per failed attempt");
    Ok(())
}

async fn sedge(gw: &TestGateway, dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    Ok(gw.cli(dir, args).await?.0)
}

#[tokio::test]
async fn sedge_invoke_async_and_sedge_calls() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let dir = tempfile::tempdir()?;
    let hello = json!({"service": "hello", "image": "x", "envProcess": "echo hello-from-async"});
    assert_eq!(gw.deploy(hello).await?, StatusCode::ACCEPTED);
    let (url, mut callbacks) = callback_server().await?;

    let out = sedge(&gw, dir.path(), &["invoke", "hello", "--async", "--callback-url", &url]).await?;
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "the call id on stdout: {out:?}");
    assert_eq!(header(&next_callback(&mut callbacks).await, "x-call-id"), id);
    finished(&gw, &id).await?;

    let show = sedge(&gw, dir.path(), &["calls", "show", &id]).await?;
    assert!(show.contains("Status:       succeeded\n"), "{show}");
    assert!(show.contains("Attempts:     1 of 10\n"), "default attempts: {show}");
    assert!(show.contains("Result:       200 in "), "{show}");
    let list: Value =
        serde_json::from_str(&sedge(&gw, dir.path(), &["calls", "list", "--function", "hello", "-o", "json"]).await?)?;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    let table = sedge(&gw, dir.path(), &["calls", "list", "--status", "succeeded"]).await?;
    assert!(table.starts_with("CALL ID") && table.contains(&id), "{table}");
    assert_eq!(sedge(&gw, dir.path(), &["calls", "result", &id]).await?, "hello-from-async\n");

    let err = gw.cli(dir.path(), &["calls", "cancel", &id]).await.unwrap_err().to_string();
    assert!(err.contains("only a queued call can be cancelled"), "{err}");
    let err = gw.cli(dir.path(), &["calls", "show", "no-such-call"]).await.unwrap_err().to_string();
    assert!(err.contains("no async call no-such-call found"), "{err}");
    Ok(())
}
