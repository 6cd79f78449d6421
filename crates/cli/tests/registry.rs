//! The model registry end to end, through the real binary: `sedge train gbdt` → `sedge models push` → a model
//! function serving `registry:taxi@production` answers the trainer's own predictions, follows a promotion
//! (hot swap) while a pinned `registry:taxi:1` stays; list, show, pull (sha256 checked), rm; refusals (digest
//! mismatch, not ONNX, promoting a missing version). The same scenario runs on every store and artifact
//! backend: SQLite + local folder, PostgreSQL + S3 (moto), MariaDB + local folder, SQLite + S3, each server
//! private to the test.

mod registry_support;

use registry_support::{Backends, TAXI, train_cli, trained};
use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

#[tokio::test]
async fn sqlite_and_local_artifacts() -> anyhow::Result<()> {
    scenario(Backends::sqlite_local()).await
}

#[tokio::test]
async fn postgres_and_s3_artifacts() -> anyhow::Result<()> {
    scenario(Backends::postgres_s3().await?).await
}

#[tokio::test]
async fn mariadb_and_local_artifacts() -> anyhow::Result<()> {
    scenario(Backends::mariadb_local().await?).await
}

#[tokio::test]
async fn sqlite_and_s3_artifacts() -> anyhow::Result<()> {
    scenario(Backends::sqlite_s3().await?).await
}

async fn scenario(backends: Backends) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (big, small) = (dir.path().join("taxi-30.onnx"), dir.path().join("taxi-5.onnx"));
    let gw = TestGateway::start_with(SEDGE, &backends.args()).await?;
    // Trained and registered in one step, with its held-out RMSE, as version 1 in production.
    let password = std::fs::read_to_string(gw.state_dir().join("secrets/basic-auth-password"))?;
    let register = ["--register", "taxi", "--promote", "production", "--gateway", gw.url.as_str()];
    let summary = train_cli(&big, 30, &register, &[("SEDGE_PASSWORD", password.trim())]).await?;
    let rmse = summary["metrics"]["test_rmse"].as_f64().expect("the held-out RMSE");
    assert!(rmse > 0.0 && rmse < 0.2713, "below the mean's 0.2713 on the held-out rows: {rmse}");
    assert_eq!(summary["registered"], json!({"name": "taxi", "version": 1, "stage": "production"}));
    let v1: Value = gw.system(reqwest::Method::GET, "/system/models/taxi/versions/1").send().await?.json().await?;
    assert_eq!(v1["metrics"]["test_rmse"].as_f64(), Some(rmse));
    assert_eq!(v1["dataset"], summary["dataset"]);
    assert_eq!(v1["created_by"], "sedge train");
    train_cli(&small, 5, &[], &[]).await?;
    let (data, model_30) = trained(30)?;
    let (_, model_5) = trained(5)?;
    // Served from the registry: the trainer's own predictions.
    let following = json!({"service": "taxi", "image": "sedge/model",
        "annotations": {"com.sedge.model": "registry:taxi@production", "com.sedge.model.config": "engine: tract"}});
    assert_eq!(gw.deploy(following).await?, StatusCode::ACCEPTED);
    let pinned = json!({"service": "taxi-v1", "image": "sedge/model",
        "annotations": {"com.sedge.model": "registry:taxi:1", "com.sedge.model.config": "engine: tract"}});
    assert_eq!(gw.deploy(pinned).await?, StatusCode::ACCEPTED);
    gw.wait_available("taxi", 1).await?;
    gw.wait_available("taxi-v1", 1).await?;
    let rows: Vec<usize> = (0..40).map(|i| i * 131).collect();
    let want_30: Vec<f32> = rows.iter().map(|&r| model_30.predict(data.row(r))).collect();
    let want_5: Vec<f32> = rows.iter().map(|&r| model_5.predict(data.row(r))).collect();
    assert_close(&infer(&gw, "taxi", &data, &rows).await?, &want_30, "taxi@production = v1, as trained and registered");
    // Demoted, v1 leaves production empty: the function keeps serving what it served.
    let (out, _) = gw.cli(dir.path(), &["models", "promote", "taxi:1", "--stage", "none"]).await?;
    assert!(out.contains("taxi:1 is now none"), "{out}");
    assert_close(&infer(&gw, "taxi", &data, &rows).await?, &want_30, "no version in production: v1 stays");
    // Metrics and the promotion through `sedge models push`'s flags.
    let rmse_flag = format!("rmse={rmse}");
    let (out, _) = gw
        .cli(
            dir.path(),
            &[
                "models",
                "push",
                big.to_str().unwrap(),
                "--name",
                "taxi",
                "--metric",
                &rmse_flag,
                "--dataset",
                "chicago-taxi",
                "--promote",
                "production",
                "-o",
                "json",
            ],
        )
        .await?;
    let v2: Value = serde_json::from_str(&out)?;
    assert_eq!((v2["version"].as_u64(), v2["stage"].as_str()), (Some(2), Some("production")));
    assert_eq!(v2["metrics"]["rmse"].as_f64(), Some(rmse));
    assert_eq!(v2["signature"]["inputs"][0]["name"], "input");
    assert_eq!(
        v2["model_path"],
        v2["model_path"].as_str().map(|_| format!("models/taxi/{}.onnx", v2["sha256"].as_str().unwrap())).unwrap()
    );

    // v2 (the same bytes) took over production: the function followed it.
    assert_close(&infer(&gw, "taxi", &data, &rows).await?, &want_30, "taxi@production = v2 (30 trees)");

    // A new version does not move production; promoting it does, while the pinned function stays.
    let (out, _) = gw.cli(dir.path(), &["models", "push", small.to_str().unwrap(), "--name", "taxi"]).await?;
    assert!(out.contains("Registered: taxi:3"), "{out}");
    assert_close(&infer(&gw, "taxi", &data, &rows).await?, &want_30, "v3 pushed, not promoted");
    let (out, _) = gw.cli(dir.path(), &["models", "promote", "taxi:3"]).await?;
    assert!(out.contains("taxi:3 is now production"), "{out}");
    assert_close(&infer(&gw, "taxi", &data, &rows).await?, &want_5, "taxi@production = v3 (5 trees)");
    assert_close(&infer(&gw, "taxi-v1", &data, &rows).await?, &want_30, "registry:taxi:1 is pinned");

    // The stages as the list shows them: v2 archived by v3's promotion.
    let (out, _) = gw.cli(dir.path(), &["models", "list", "--name", "taxi", "-o", "json"]).await?;
    let listed: Vec<Value> = serde_json::from_str(&out)?;
    let stages: Vec<(u64, &str)> =
        listed.iter().map(|r| (r["version"].as_u64().unwrap(), r["stage"].as_str().unwrap())).collect();
    assert_eq!(stages, [(3, "production"), (2, "archived"), (1, "none")]);
    let (out, _) = gw.cli(dir.path(), &["models", "list", "--stage", "production"]).await?;
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("taxi ") && l.contains(" 3 ")), "{out}");

    // Pull writes exactly the pushed bytes.
    let pulled = dir.path().join("pulled.onnx");
    gw.cli(dir.path(), &["models", "pull", "taxi@archived", "-O", pulled.to_str().unwrap()]).await?;
    assert_eq!(std::fs::read(&pulled)?, std::fs::read(&big)?);

    // Refusals: a missing version, a digest that does not match, a file that is not ONNX.
    let r = gw
        .system(reqwest::Method::POST, "/system/models/taxi/versions/9/stage")
        .json(&json!({"stage": "production"}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await?.contains("model taxi:9 not found"));
    let bytes = std::fs::read(&small)?;
    let r = push_raw(&gw, json!({"name": "taxi", "sha256": "00".repeat(32)}), bytes.clone()).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await?.contains("nothing was registered"));
    let r = push_raw(&gw, json!({"name": "taxi"}), b"not a model at all".to_vec()).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await?.contains("not an ONNX model"));
    let r = push_raw(&gw, json!({"name": "Taxi!"}), bytes).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let after: Vec<Value> = gw.system(reqwest::Method::GET, "/system/models?name=taxi").send().await?.json().await?;
    assert_eq!(after.len(), 3, "refused pushes register nothing");

    // Removing a version removes it from the list; its file stays while another version shares it.
    gw.cli(dir.path(), &["models", "rm", "taxi:1"]).await?;
    let r = gw.system(reqwest::Method::GET, "/system/models/taxi/versions/1").send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = gw.system(reqwest::Method::GET, "/system/models/taxi/versions/2/file").send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await?.as_ref(), std::fs::read(&big)?.as_slice(), "v1 and v2 share one file");

    // The inference protocol's repository index shows what is served.
    let index: Vec<Value> = gw
        .request(reqwest::Method::POST, "/v2/repository/index")
        .json(&json!({"ready": true}))
        .send()
        .await?
        .json()
        .await?;
    let ready: Vec<&str> = index.iter().map(|e| e["version"].as_str().unwrap()).collect();
    assert!(
        ready.contains(&"3") && ready.contains(&"2"),
        "v3 (taxi) and v2 (the same bytes as taxi-v1's v1): {index:?}"
    );
    let _ = TAXI;
    Ok(())
}

async fn infer(
    gw: &TestGateway,
    function: &str,
    data: &sedge_train::data::Dataset,
    rows: &[usize],
) -> anyhow::Result<Vec<f32>> {
    let n = data.features.len();
    let x: Vec<f32> = rows.iter().flat_map(|&r| data.row(r).to_vec()).collect();
    let body = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [rows.len(), n], "data": x}]});
    let r = gw.request(reqwest::Method::POST, &format!("/v2/models/{function}/infer")).json(&body).send().await?;
    anyhow::ensure!(r.status() == StatusCode::OK, "{function}: {} {}", r.status(), r.text().await?);
    let answer: Value = r.json().await?;
    Ok(answer["outputs"][0]["data"].as_array().expect("an output").iter().map(|v| v.as_f64().unwrap() as f32).collect())
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5, "{what}: row {k}: served {g}, trained {w}");
    }
}

async fn push_raw(gw: &TestGateway, metadata: Value, bytes: Vec<u8>) -> anyhow::Result<reqwest::Response> {
    let form = reqwest::multipart::Form::new()
        .part("metadata", reqwest::multipart::Part::text(metadata.to_string()))
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("m.onnx"));
    Ok(gw.system(reqwest::Method::POST, "/system/models").multipart(form).send().await?)
}

#[tokio::test]
async fn sedge_up_exits_with_the_reason_when_a_store_cannot_be_reached() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(); // closed once dropped
    for (flag, url, named) in [
        ("--db", format!("postgres://sedge@127.0.0.1:{port}/sedge"), format!("127.0.0.1:{port}")),
        ("--db", format!("mysql://root@127.0.0.1:{port}/sedge"), format!("127.0.0.1:{port}")),
        ("--db", "redis://127.0.0.1/0".to_string(), "postgres://".to_string()),
        ("--artifacts", "ftp://host/models".to_string(), "ftp".to_string()),
    ] {
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            tokio::process::Command::new(SEDGE)
                .args(["up", "--listen", "127.0.0.1:0", "--state"])
                .arg(state.path())
                .args([flag, url.as_str()])
                .output(),
        )
        .await??;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        assert!(stderr.contains(&named), "{url}: the error names {named:?}: {stderr}");
    }
    Ok(())
}

/// `sedge train job` as a process function called through `/async-function`: a durable training run that
/// registers its model with the function's API token (no password in the function's environment).
#[tokio::test]
async fn training_runs_as_an_async_job_and_registers_its_model() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let deployment = json!({"service": "trainer", "image": "sedge/trainer", "envProcess": format!("{SEDGE} train job"),
        "envVars": {"write_timeout": "5m", "exec_timeout": "5m"}});
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    gw.wait_available("trainer", 1).await?;
    let request = json!({"trainer": "gbdt", "data": TAXI, "target": "tip", "drop": ["rownames"], "trees": 20,
        "depth": 3, "register": "taxi-job", "promote": "production"});
    let r = gw.request(reqwest::Method::POST, "/async-function/trainer").json(&request).send().await?;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.headers()["x-call-id"].to_str()?.to_string();
    let mut status = Value::Null;
    for _ in 0..600 {
        status = gw.system(reqwest::Method::GET, &format!("/system/async-calls/{id}")).send().await?.json().await?;
        if status["status"] == "succeeded" || status["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let result =
        gw.system(reqwest::Method::GET, &format!("/system/async-calls/{id}/result")).send().await?.text().await?;
    assert_eq!(status["status"], "succeeded", "{status}\n{result}");
    let summary: Value = serde_json::from_str(result.lines().last().unwrap_or_default())?;
    assert_eq!(summary["registered"], json!({"name": "taxi-job", "version": 1, "stage": "production"}));
    let v1: Value =
        gw.system(reqwest::Method::GET, "/system/models/taxi-job/versions/production").send().await?.json().await?;
    assert_eq!(v1["metrics"]["test_rmse"], summary["metrics"]["test_rmse"]);
    assert_eq!(v1["created_by"], "trainer.openfaas-fn");
    assert!(!std::path::Path::new(summary["model"].as_str().unwrap()).exists(), "the temporary model is removed");
    Ok(())
}
