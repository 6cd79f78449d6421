//! SIGTERM drains: a call in flight when the signal arrives still gets its answer, the replicas' servers are
//! stopped, and `sedge up` exits 0; after a restart the function serves again.

use reqwest::{Method, StatusCode};
use sedge_testkit::TestGateway;
use serde_json::json;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish_and_stops_replicas() -> anyhow::Result<()> {
    let mut gw = TestGateway::start(SEDGE).await?;
    let server = format!("python3 {}/tests/fixtures/slow_http.py", env!("CARGO_MANIFEST_DIR"));
    let spec = json!({"service": "slow", "image": "slow", "envProcess": server,
                      "envVars": {"mode": "http", "SLEEP": "1"},
                      "annotations": {"com.openfaas.ready.http.path": "/_/health"}});
    assert_eq!(gw.deploy(spec).await?, StatusCode::ACCEPTED);
    gw.wait_available("slow", 1).await?;

    // The replica's port, from its own log line.
    let logs = gw.system(Method::GET, "/system/logs?name=slow").send().await?.text().await?;
    let port: u16 = logs
        .split("ready on port ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no readiness line in {logs}"))?;

    let client = gw.client();
    let in_flight = tokio::spawn(async move { client.invoke("slow", "last call").await });
    // Signal only once the call is running: the metrics count it as started.
    for _ in 0..500 {
        let metrics = gw.request(Method::GET, "/metrics").send().await?.text().await?;
        if metrics.contains("gateway_function_invocation_started{function_name=\"slow.openfaas-fn\"} 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(gw.stop().await?, Some(0), "sedge up should exit 0 on SIGTERM");
    let answer = in_flight.await??;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await?, "done:last call");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "replica server still listening");
    let server_log = std::fs::read_to_string(gw.state_dir().join("logs/sedge.log"))?;
    assert!(server_log.contains("signal=\"SIGTERM\"") && server_log.contains("stopped"), "{server_log}");

    gw.restart().await?;
    gw.wait_available("slow", 1).await?;
    // The invocation count was flushed at shutdown and survives the restart.
    let described = gw.describe("slow").await?.ok_or_else(|| anyhow::anyhow!("slow is gone"))?;
    assert_eq!(described["invocationCount"], 1.0);
    assert_eq!(gw.invoke("slow", "back").await?.text().await?, "done:back");
    Ok(())
}
