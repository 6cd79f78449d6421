//! Scale to zero end to end, against the real binary over real HTTP: a function scaled to zero with
//! `sedge scale` is called by 200 concurrent clients; every call succeeds, every response says whether it was a
//! cold start, and the metrics and `describe` count the same cold starts. Also: the autoscaler takes an idle
//! function with `com.openfaas.scale.zero` to zero by itself, and the next call wakes it.

use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::json;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The value of `metric{function_name="<function>"}` in the exposition text.
fn metric(text: &str, metric: &str, function: &str) -> Option<f64> {
    let prefix = format!("{metric}{{function_name=\"{function}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn two_hundred_clients_wake_a_function_at_zero_and_all_succeed() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let deployment = json!({
        "service": "sleepy-http", "image": "slow-http", "envProcess": format!("python3 {}", fixture("slow_http.py")),
        "envVars": {"mode": "http", "SLEEP": "0"},
        "annotations": {"com.openfaas.ready.http.path": "/_/health"}
    });
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    gw.wait_available("sleepy-http", 1).await?;
    let warm = gw.invoke("sleepy-http", "warm").await?;
    assert_eq!(warm.headers()["x-sedge-cold-start"], "false");
    assert!(warm.headers().get("x-sedge-cold-start-ms").is_none());

    gw.cli(std::path::Path::new("."), &["scale", "sleepy-http", "--replicas", "0"]).await?;
    let described = gw.describe("sleepy-http").await?.unwrap();
    assert_eq!((described["replicas"].as_u64(), described["availableReplicas"].as_u64()), (Some(0), Some(0)));

    let calls = (0..200).map(|i| {
        let gw = gw.client();
        tokio::spawn(async move {
            let r = gw.invoke("sleepy-http", format!("call {i}")).await?;
            let status = r.status();
            let cold = r.headers().get("x-sedge-cold-start").map(|v| v.to_str().unwrap_or("").to_string());
            let ms = r.headers().get("x-sedge-cold-start-ms").map(|v| v.to_str().unwrap_or("").to_string());
            let body = r.text().await?;
            anyhow::Ok((i, status, cold, ms, body))
        })
    });
    let mut cold = 0;
    for result in futures_util::future::join_all(calls).await {
        let (i, status, marked, ms, body) = result??;
        assert_eq!(status, StatusCode::OK, "call {i}: {body}");
        assert_eq!(body, format!("done:call {i}"));
        match marked.as_deref() {
            Some("true") => {
                cold += 1;
                let ms: f64 = ms.expect("a cold response says how long it waited").parse()?;
                assert!(ms > 0.0);
            }
            Some("false") => assert!(ms.is_none()),
            other => panic!("call {i}: X-Sedge-Cold-Start is {other:?}"),
        }
    }
    assert!(cold >= 1, "the first calls waited for the python server to start");

    let described = gw.describe("sleepy-http").await?.unwrap();
    assert_eq!(described["replicas"].as_u64(), Some(1), "one shared wake-up, not one replica per call");
    let annotations = &described["annotations"];
    assert_eq!(annotations["com.sedge.cold-starts"], cold.to_string());
    let median: f64 = annotations["com.sedge.cold-start.median-ms"].as_str().unwrap().parse()?;
    assert!(median > 0.0);
    assert!(annotations["com.sedge.cold-start.last-ms"].as_str().is_some());

    let metrics = gw.request(reqwest::Method::GET, "/metrics").send().await?.text().await?;
    let function = "sleepy-http.openfaas-fn";
    assert_eq!(metric(&metrics, "sedge_cold_starts_total", function), Some(f64::from(cold)));
    assert_eq!(metric(&metrics, "sedge_cold_start_seconds_count", function), Some(f64::from(cold)));
    Ok(())
}

#[tokio::test]
async fn an_idle_function_goes_to_zero_by_itself_and_wakes_on_the_next_call() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(SEDGE, &["--autoscale-interval", "200ms"]).await?;
    let deployment = json!({
        "service": "idler", "image": "cat", "envProcess": "cat",
        "labels": {"com.openfaas.scale.zero": "true", "com.openfaas.scale.zero-duration": "1s"}
    });
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    let r = gw.invoke("idler", "hello").await?;
    assert_eq!(r.text().await?, "hello");
    let mut at_zero = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if gw.describe("idler").await?.unwrap()["replicas"].as_u64() == Some(0) {
            at_zero = true;
            break;
        }
    }
    assert!(at_zero, "the autoscaler took the idle function to zero within 10 s");
    let r = gw.invoke("idler", "again").await?;
    assert_eq!(r.headers()["x-sedge-cold-start"], "true");
    assert_eq!(r.text().await?, "again");
    Ok(())
}

#[tokio::test]
async fn a_model_function_at_zero_loads_on_the_first_call() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let models = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models"));
    let deployment = json!({"service": "mnist", "image": "sedge/model", "annotations": {
        "com.sedge.model": models.join("mnist_cnn.onnx"),
        "com.sedge.model.config": "engine: tract\ninput: { image: { size: [28, 28], color: gray, scale: 0.00392156862745098 } }\noutput: { topK: 1 }"}});
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    gw.cli(std::path::Path::new("."), &["scale", "mnist", "--replicas", "0"]).await?;
    let ready = gw.request(reqwest::Method::GET, "/v2/models/mnist/ready").send().await?;
    assert_eq!(ready.status(), StatusCode::BAD_REQUEST, "no instance loaded at zero");

    let png = std::fs::read(models.join("fixtures/mnist_digit0_label3.png"))?;
    let calls = (0..20).map(|_| {
        let (gw, png) = (gw.client(), png.clone());
        tokio::spawn(async move {
            let r = gw.invoke("mnist", png).await?;
            let cold = r.headers()["x-sedge-cold-start"].to_str()?.to_string();
            let answer: serde_json::Value = r.json().await?;
            anyhow::Ok((cold, answer))
        })
    });
    let mut cold = 0;
    for result in futures_util::future::join_all(calls).await {
        let (marked, answer) = result??;
        assert_eq!(answer["predictions"][0][0]["index"], 3, "{answer}");
        cold += usize::from(marked == "true");
    }
    assert!(cold >= 1, "the first call waited for the model to load");
    let described = gw.describe("mnist").await?.unwrap();
    assert_eq!(described["replicas"].as_u64(), Some(1), "one instance loaded for all the waiting calls");
    Ok(())
}

/// An http-mode server on $PORT that records `<pid> <body>` in $SEEN when a call arrives, then answers
/// `<pid>` after 1 s.
const RECORDING_SERVER: &str = r#"
import http.server, os, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        with open(os.environ["SEEN"], "a") as f:
            f.write("%d %s\n" % (os.getpid(), body))
        time.sleep(1)
        out = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

#[tokio::test]
async fn a_replica_crashing_during_a_scale_down_loses_no_call_routed_elsewhere() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let dir = tempfile::tempdir()?;
    let (script, seen) = (dir.path().join("server.py"), dir.path().join("seen"));
    std::fs::write(&script, RECORDING_SERVER)?;
    let deployment = json!({
        "service": "three", "image": "rec", "envProcess": format!("python3 {}", script.display()),
        "envVars": {"mode": "http", "SEEN": seen.display().to_string()},
        "labels": {"com.openfaas.scale.min": "3"}
    });
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    gw.wait_available("three", 3).await?;

    let calls: Vec<_> = (0..30)
        .map(|i| {
            let gw = gw.client();
            tokio::spawn(async move {
                let r = gw.invoke("three", format!("call-{i}")).await?;
                anyhow::Ok((format!("call-{i}"), r.status(), r.text().await?))
            })
        })
        .collect();
    // Every call has reached a replica: then scale down and crash one replica mid-drain.
    for _ in 0..100 {
        if std::fs::read_to_string(&seen).unwrap_or_default().lines().count() == 30 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let received = std::fs::read_to_string(&seen)?;
    assert_eq!(received.lines().count(), 30, "all calls were routed");
    let pids: std::collections::BTreeSet<&str> = received.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(pids.len(), 3, "least-in-flight spread the calls over the three replicas");
    let crashed = *pids.iter().next().unwrap();
    let scale = tokio::spawn({
        let gw = gw.client();
        async move {
            gw.system(reqwest::Method::POST, "/system/scale-function/three")
                .json(&json!({"serviceName": "three", "replicas": 1}))
                .send()
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    nix_kill(crashed);

    let on_crashed: std::collections::BTreeSet<String> = received
        .lines()
        .filter(|l| l.starts_with(&format!("{crashed} ")))
        .map(|l| l.split(' ').nth(1).unwrap_or_default().to_string())
        .collect();
    for call in futures_util::future::join_all(calls).await {
        let (body, status, answer) = call??;
        if !on_crashed.contains(&body) {
            assert_eq!(status, StatusCode::OK, "{body} was routed to a replica that did not crash: {answer}");
            assert_ne!(answer, crashed);
        }
    }
    assert_eq!(scale.await??.status(), StatusCode::ACCEPTED);
    Ok(())
}

/// SIGKILL to `pid`.
fn nix_kill(pid: &str) {
    let status = std::process::Command::new("kill").args(["-9", pid]).status().expect("kill runs");
    assert!(status.success(), "kill -9 {pid}");
}
