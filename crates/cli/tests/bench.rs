//! `sedge bench` against a running sedge: the summary's counts match the gateway's own `/metrics`, thresholds
//! set the exit code (99 when one fails), bad arguments exit 2 naming the text, an unreachable target is one
//! clear line, the JTL file has one row per request, Ctrl-C still writes every output for what ran, and
//! generated tensors are inference requests a model function serves.

use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

async fn bench(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Ok(tokio::process::Command::new(SEDGE).arg("bench").args(args).output().await?)
}

/// `gateway_function_invocation_total{function_name="<f>",code="<code>"}` from the exposition text.
fn invocations(metrics: &str, function: &str, code: &str) -> Option<f64> {
    let prefix = format!("gateway_function_invocation_total{{function_name=\"{function}\",code=\"{code}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn the_summary_agrees_with_the_gateways_metrics() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    assert_eq!(gw.deploy(json!({"service": "echo", "image": "cat", "envProcess": "cat"})).await?, StatusCode::ACCEPTED);
    let dir = tempfile::tempdir()?;
    let (summary, jtl) = (dir.path().join("summary.json"), dir.path().join("run.jtl"));
    let url = format!("{}/function/echo", gw.url);
    let out = bench(&[
        &url,
        "-d",
        "hello",
        "--vus",
        "4",
        "--iterations",
        "200",
        "--duration",
        "60s",
        "--check-body",
        "hello",
        "--threshold",
        "errors==0",
        "--threshold",
        "p(99)<10s",
        "--json",
        summary.to_str().unwrap(),
        "--jtl",
        jtl.to_str().unwrap(),
        "--quiet",
    ])
    .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("http_reqs"), "a k6-style summary: {stdout}");

    let json: Value = serde_json::from_slice(&std::fs::read(&summary)?)?;
    assert_eq!(json["summary"]["requests"], 200);
    assert_eq!(json["summary"]["failed"], 0);
    assert_eq!(json["passed"], true);
    let metrics = gw.request(reqwest::Method::GET, "/metrics").send().await?.text().await?;
    assert_eq!(invocations(&metrics, "echo.openfaas-fn", "200"), Some(200.0), "the server counted the same calls");
    let rows = std::fs::read_to_string(&jtl)?;
    assert_eq!(rows.lines().count(), 201, "a header and one row per request");
    assert!(rows.starts_with("timeStamp,elapsed,label,responseCode"));

    // A threshold that cannot hold: exit 99, the summary still printed.
    let out = bench(&[&url, "-d", "x", "--iterations", "5", "--threshold", "max<0ms", "--quiet"]).await?;
    assert_eq!(out.status.code(), Some(99));
    assert!(String::from_utf8_lossy(&out.stdout).contains("max<0ms"));
    Ok(())
}

#[tokio::test]
async fn bad_arguments_and_an_unreachable_target_are_one_clear_line() -> anyhow::Result<()> {
    let out = bench(&["http://127.0.0.1:9/", "--threshold", "p95<fast"]).await?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("p95<fast"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bench(&["http://127.0.0.1:9/", "--stages", "30s:ten"]).await?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("30s:ten"));
    let out = bench(&["http://127.0.0.1:9/", "--tensor", "input:FP16:1x28"]).await?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("input:FP16:1x28"));

    // Port 9 (discard) is closed on loopback here: a refused connection, said once.
    let out = bench(&["http://127.0.0.1:9/", "--iterations", "3"]).await?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach http://127.0.0.1:9/"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    Ok(())
}

/// Ctrl-C stops the test and still writes the summary, the JSON, the JTL rows and the HTML report for what ran.
#[tokio::test]
async fn ctrl_c_writes_every_output_for_what_ran() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    assert_eq!(gw.deploy(json!({"service": "echo", "image": "cat", "envProcess": "cat"})).await?, StatusCode::ACCEPTED);
    let dir = tempfile::tempdir()?;
    let (summary, jtl, html) = (dir.path().join("s.json"), dir.path().join("r.jtl"), dir.path().join("r.html"));
    let url = format!("{}/function/echo", gw.url);
    let child = tokio::process::Command::new(SEDGE)
        .args(["bench", &url, "-d", "x", "--vus", "2", "--duration", "10m", "-q", "--json"])
        .arg(&summary)
        .arg("--jtl")
        .arg(&jtl)
        .arg("--html")
        .arg(&html)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id().expect("running").to_string();
    // Interrupt once requests have been answered (bounded: 30 s).
    let mut answered = false;
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let metrics = gw.request(reqwest::Method::GET, "/metrics").send().await?.text().await?;
        if invocations(&metrics, "echo.openfaas-fn", "200").is_some_and(|n| n >= 20.0) {
            answered = true;
            break;
        }
    }
    assert!(answered, "the bench sent requests");
    assert!(tokio::process::Command::new("kill").args(["-INT", &pid]).status().await?.success());
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output()).await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}: {stdout}", out.status.code());
    assert!(stdout.contains("http_reqs"), "the summary is printed: {stdout}");

    let json: Value = serde_json::from_slice(&std::fs::read(&summary)?)?;
    let requests = json["summary"]["requests"].as_u64().expect("a request count");
    assert!(requests >= 20, "{json}");
    let rows = std::fs::read_to_string(&jtl)?.lines().count() as u64;
    assert_eq!(rows, requests + 1, "one JTL row per request, plus the header");
    let page = std::fs::read_to_string(&html)?;
    assert!(page.contains("<svg class=\"chart\""), "the HTML report has its charts");
    Ok(())
}

/// `--tensor` sends generated OIP v2 requests that a model function accepts.
#[tokio::test]
async fn generated_tensors_are_inference_requests_a_model_serves() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models/mnist_cnn.onnx");
    let deployment = json!({"service": "mnist", "image": "sedge/model", "annotations": {
        "com.sedge.model": model, "com.sedge.model.config": "engine: tract\n"}});
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    gw.wait_available("mnist", 1).await?;
    let dir = tempfile::tempdir()?;
    let summary = dir.path().join("s.json");
    let url = format!("{}/v2/models/mnist/infer", gw.url);
    let out = bench(&[
        &url,
        "--tensor",
        "input:FP32:1x1x28x28",
        "--iterations",
        "24",
        "--vus",
        "2",
        "--check-status",
        "200",
        "--check-body",
        "\"outputs\"",
        "-q",
        "--json",
        summary.to_str().unwrap(),
    ])
    .await?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let json: Value = serde_json::from_slice(&std::fs::read(&summary)?)?;
    assert_eq!(json["summary"]["requests"], 24);
    assert_eq!(json["summary"]["failed"], 0, "{json}");
    Ok(())
}
