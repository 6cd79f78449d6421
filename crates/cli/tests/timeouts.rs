//! Seed 001's timeout experiment and the in-flight limit, against the real binary over real HTTP.
//!
//! A handler sleeps 3 s. read 5 s / write 8 s / exec 8 s → 200; exec 2 s → 408 `Killed process.` (fork) with
//! the whole process group gone, or 504 (http); write 2 s → 502 naming the function; `max_inflight=1` → 429.

use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::json;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fork_fn(name: &str, read: &str, write: &str, exec: &str, pidfile: &std::path::Path) -> serde_json::Value {
    json!({
        "service": name, "image": "sleepy", "envProcess": fixture("sleep3.sh"),
        "envVars": {"read_timeout": read, "write_timeout": write, "exec_timeout": exec,
                    "PIDFILE": pidfile.to_string_lossy()}
    })
}

fn http_fn(name: &str, write: &str, exec: &str) -> serde_json::Value {
    json!({
        "service": name, "image": "slow-http", "envProcess": format!("python3 {}", fixture("slow_http.py")),
        "envVars": {"mode": "http", "SLEEP": "3", "read_timeout": "5s", "write_timeout": write, "exec_timeout": exec},
        "annotations": {"com.openfaas.ready.http.path": "/_/health"}
    })
}

/// Whether `pid` is running (a zombie, killed and waiting for its reaper, is not).
fn process_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn seed_001_timeout_table_fork_mode() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let dir = tempfile::tempdir()?;

    let ok_pid = dir.path().join("ok.pid");
    assert_eq!(gw.deploy(fork_fn("sleep-ok", "5s", "8s", "8s", &ok_pid)).await?, StatusCode::ACCEPTED);
    let r = gw.invoke("sleep-ok", "").await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-duration-seconds"));
    assert_eq!(r.text().await?, "done\n");

    let exec_pid = dir.path().join("exec.pid");
    gw.deploy(fork_fn("sleep-exec", "5s", "8s", "2s", &exec_pid)).await?;
    let r = gw.invoke("sleep-exec", "").await?;
    assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(r.text().await?, "Killed process.\n");
    // The grandchild (`sleep 3`) was in the process group and is gone too, not left holding the pipe.
    let grandchild = std::fs::read_to_string(&exec_pid)?;
    assert!(!process_alive(&grandchild), "grandchild {grandchild} survived the exec timeout");

    let write_pid = dir.path().join("write.pid");
    gw.deploy(fork_fn("sleep-write", "5s", "2s", "8s", &write_pid)).await?;
    let r = gw.invoke("sleep-write", "").await?;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let text = r.text().await?;
    assert!(text.contains("sleep-write.openfaas-fn") && text.contains("write_timeout"), "{text}");
    Ok(())
}

#[tokio::test]
async fn seed_001_timeout_table_http_mode() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    for (name, write, exec) in [("web-ok", "8s", "8s"), ("web-exec", "8s", "2s"), ("web-write", "2s", "8s")] {
        assert_eq!(gw.deploy(http_fn(name, write, exec)).await?, StatusCode::ACCEPTED);
        gw.wait_available(name, 1).await?;
    }
    let r = gw.invoke("web-ok", "x").await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await?, "done:x");
    let r = gw.invoke("web-exec", "x").await?;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(r.text().await?, "");
    let r = gw.invoke("web-write", "x").await?;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.text().await?.contains("web-write.openfaas-fn"));
    Ok(())
}

#[tokio::test]
async fn max_inflight_answers_429_with_openfaas_message() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let dir = tempfile::tempdir()?;
    let mut spec = fork_fn("one-at-a-time", "5s", "8s", "8s", &dir.path().join("p"));
    spec["envVars"]["max_inflight"] = json!("1");
    gw.deploy(spec).await?;
    let first = tokio::spawn({
        let (http, url) = (gw.http.clone(), format!("{}/function/one-at-a-time", gw.url));
        async move { http.post(url).send().await.map(|r| r.status()) }
    });
    // Wait until the first call is running (its grandchild wrote the pid file), then send the second.
    for _ in 0..200 {
        if dir.path().join("p").exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = gw.invoke("one-at-a-time", "").await?;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.text().await?, "Concurrent request limit exceeded. Max concurrent requests: 1\n");
    assert_eq!(first.await??, StatusCode::OK);
    Ok(())
}
