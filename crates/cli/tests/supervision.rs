//! A replica whose server dies is restarted (with backoff) and serves again; the restart is in its logs.

use reqwest::{Method, StatusCode};
use sedge_testkit::TestGateway;
use serde_json::json;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

#[tokio::test]
async fn a_dead_replica_is_restarted() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let server = format!("python3 {}/tests/fixtures/slow_http.py", env!("CARGO_MANIFEST_DIR"));
    let spec = json!({"service": "crashy", "image": "crashy", "envProcess": server,
                      "envVars": {"mode": "http", "EXIT_AFTER_CALL": "3"},
                      "annotations": {"com.openfaas.ready.http.path": "/_/health"}});
    assert_eq!(gw.deploy(spec).await?, StatusCode::ACCEPTED);
    gw.wait_available("crashy", 1).await?;
    assert_eq!(gw.invoke("crashy", "one").await?.text().await?, "done:one");

    // The server exits after that answer; the supervisor notices, logs it, and starts a new one.
    let mut restarted = String::new();
    for _ in 0..300 {
        restarted = gw.system(Method::GET, "/system/logs?name=crashy").send().await?.text().await?;
        if restarted.contains("restarting in") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(restarted.contains("exited: exit status: 3"), "{restarted}");
    assert!(restarted.contains("restarting in"), "{restarted}");
    gw.wait_available("crashy", 1).await?;
    assert_eq!(gw.invoke("crashy", "two").await?.text().await?, "done:two");
    Ok(())
}
