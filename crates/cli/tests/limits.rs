//! `limits.memory` is enforced, against the real binary: a handler that allocates past its limit is stopped
//! (killed by the kernel under cgroups, refused memory under the setrlimit fallback), the OOM kill is reported
//! in `describe`, the metrics and the logs, and the replica is replaced so the function keeps answering.
//! Usage readings (`sedge_replica_memory_bytes`) come from the same cgroups.

use std::time::Duration;

use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::json;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

/// An http-mode server on $PORT: `/hog` allocates (and touches) 512 MiB, anything else answers "ok".
const HOG_SERVER: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hog":
            b = bytearray(512 << 20)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    do_POST = do_GET
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

async fn logs(gw: &TestGateway, name: &str) -> anyhow::Result<String> {
    let r = gw.system(reqwest::Method::GET, &format!("/system/logs?name={name}&follow=false")).send().await?;
    Ok(r.text().await?)
}

#[tokio::test]
async fn a_replica_over_its_memory_limit_is_stopped_and_reported() -> anyhow::Result<()> {
    exercise(&[]).await.map(drop)
}

#[tokio::test]
async fn without_cgroups_the_limit_holds_by_setrlimit() -> anyhow::Result<()> {
    let killed = exercise(&["--cgroups", "off"]).await?;
    assert!(!killed, "--cgroups off: the allocation fails inside the process, nothing is OOM-killed");
    Ok(())
}

/// Runs both hogs against a gateway started with `args`; returns whether the kernel OOM-killed them (cgroups)
/// rather than refusing the memory (setrlimit).
async fn exercise(args: &[&str]) -> anyhow::Result<bool> {
    let gw = TestGateway::start_with(SEDGE, args).await?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("hog.py");
    std::fs::write(&script, HOG_SERVER)?;

    // Fork mode: one process per call, over its limit at once.
    let fork = json!({
        "service": "hog-fork", "image": "hog", "envProcess": "python3 -c b=bytearray(536870912)",
        "limits": {"memory": "64Mi"}
    });
    assert_eq!(gw.deploy(fork).await?, StatusCode::ACCEPTED);
    let r = gw.invoke("hog-fork", "").await?;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().await?;
    let described = gw.describe("hog-fork").await?.unwrap();
    let kills: u64 = described["annotations"]["com.sedge.oom-kills"].as_str().unwrap().parse()?;
    let by_cgroups = !body.contains("MemoryError");
    if !by_cgroups {
        // The setrlimit fallback (no writable cgroups): the allocation fails inside the process.
        assert_eq!(kills, 0);
    } else {
        assert!(body.starts_with("signal: killed"), "{body}");
        assert_eq!(kills, 1, "the kernel's OOM kill is counted");
        assert!(logs(&gw, "hog-fork").await?.contains("OOM"), "and logged");
    }

    // Http mode: the server survives small calls, dies on the hog, and is restarted.
    let http = json!({
        "service": "hog-http", "image": "hog", "envProcess": format!("python3 {}", script.display()),
        "envVars": {"mode": "http"}, "limits": {"memory": "64Mi"}
    });
    assert_eq!(gw.deploy(http).await?, StatusCode::ACCEPTED);
    gw.wait_available("hog-http", 1).await?;
    assert_eq!(gw.invoke("hog-http", "").await?.text().await?, "ok");
    let r = gw.request(reqwest::Method::GET, "/function/hog-http/hog").send().await?;
    assert_ne!(r.status(), StatusCode::OK, "the hog must not succeed within 64Mi");
    let mut answered = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = gw.invoke("hog-http", "").await?;
        if r.status() == StatusCode::OK {
            answered = true;
            break;
        }
    }
    assert!(answered, "the replica was replaced and answers again");
    // The sampler counts the kill within its next second.
    let mut kills = 0;
    for _ in 0..30 {
        let described = gw.describe("hog-http").await?.unwrap();
        kills = described["annotations"]["com.sedge.oom-kills"].as_str().unwrap().parse()?;
        if kills > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logged = logs(&gw, "hog-http").await?;
    if kills > 0 {
        assert!(logged.contains("OOM"), "{logged}");
        let metrics = gw.request(reqwest::Method::GET, "/metrics").send().await?.text().await?;
        assert!(metrics.contains("sedge_oom_kills{function_name=\"hog-http.openfaas-fn\"} 1"), "{metrics}");
        assert!(metrics.contains("sedge_replica_memory_bytes{function_name=\"hog-http.openfaas-fn\""));
    } else {
        assert!(logged.contains("MemoryError"), "fallback: the allocation failed in the process: {logged}");
    }
    assert_eq!(kills > 0, by_cgroups, "both functions were stopped the same way");
    Ok(by_cgroups)
}
