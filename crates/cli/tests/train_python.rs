//! A Python training function registers a model that a model function then serves (issue #7): `sedge deploy`
//! builds examples/train-ionosphere (a venv with numpy and onnx from PyPI), a call trains the seed-001 MLP and
//! registers it through `sedge.register_model`, the version is promoted over the API, and examples/predict
//! (`registry:ionosphere@production`) answers `/v2` with the probabilities the training function computed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use reqwest::{Method, StatusCode};
use sedge_testkit::TestGateway;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

/// Runs the CLI in the repository root against `gw`, with `SEDGE_DATA` set as the examples' stack files read
/// it; returns stdout, failing on a non-zero exit.
async fn sedge(gw: &TestGateway, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(SEDGE)
        .args(args)
        .current_dir(REPO)
        .env("SEDGE_GATEWAY", &gw.url)
        .env("SEDGE_STATE", gw.state_dir())
        .env("SEDGE_DATA", std::fs::canonicalize(DATA)?)
        .env_remove("SEDGE_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    ensure!(out.status.success(), "sedge {args:?} failed: {stdout}\n{stderr}");
    Ok(stdout.into_owned())
}

/// The first `n` rows of the ionosphere CSV: the 34 features of each, flattened.
fn first_rows(n: usize) -> anyhow::Result<Vec<f32>> {
    let path = PathBuf::from(DATA).join("ionosphere.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut x = Vec::with_capacity(n * 34);
    for line in text.lines().skip(1).take(n) {
        let fields: Vec<&str> = line.split(',').collect();
        ensure!(fields.len() == 35, "{line}");
        for v in &fields[..34] {
            x.push(v.parse::<f32>()?);
        }
    }
    Ok(x)
}

/// The version numbers a `GET /system/models?name=…` answer lists: a list of versions, a record with a
/// `versions` list, or one version record.
fn versions(answer: &Value) -> Vec<i64> {
    match answer {
        Value::Array(items) => items.iter().flat_map(versions).collect(),
        Value::Object(record) => match (record.get("versions"), record.get("version")) {
            (Some(list), _) => versions(list),
            (None, Some(v)) => v.as_i64().into_iter().collect(),
            (None, None) => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// `POST /v2/models/{model}/infer` until the model function answers 200 (it loads the production version when
/// deployed; bounded: 150 tries 200 ms apart), returning the answer.
async fn infer(gw: &TestGateway, model: &str, body: &Value) -> anyhow::Result<Value> {
    let mut last = String::new();
    for _ in 0..150 {
        let r = gw.request(Method::POST, &format!("/v2/models/{model}/infer")).json(body).send().await?;
        let status = r.status();
        let text = r.text().await?;
        if status == StatusCode::OK {
            return Ok(serde_json::from_str(&text)?);
        }
        last = format!("{status} {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("/v2/models/{model}/infer did not answer 200 within 30 s: {last}")
}

#[tokio::test]
async fn a_python_training_function_registers_a_model_that_a_model_function_serves() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;

    // Build (venv from requirements.txt) and deploy the training function, as a user would.
    let out = sedge(&gw, &["deploy", "-f", "examples/train-ionosphere/stack.yml"]).await?;
    assert!(out.contains("Deployed."), "{out}");

    // A body that is not JSON is the caller's mistake: 400 with the reason.
    let r = gw.invoke("train-ionosphere", "{epochs: 30").await?;
    let status = r.status();
    let text = r.text().await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("not JSON"), "{text}");

    // Train for 30 epochs (the seed sends the epochs in the body); the function registers what it trained.
    let r = gw.invoke("train-ionosphere", r#"{"epochs": 30}"#).await?;
    let status = r.status();
    let text = r.text().await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    let trained: Value = serde_json::from_str(&text)?;
    let accuracy = trained["accuracy"].as_f64().context("accuracy")?;
    assert!(accuracy > 0.8, "held-out accuracy after 30 epochs: {trained}");
    assert_eq!(trained["name"], "ionosphere", "{trained}");
    let version = trained["version"].as_i64().context("the registered version")?;
    let predictions = trained["predictions"].as_array().context("predictions")?;
    assert_eq!(predictions.len(), 5, "{trained}");

    // The registry lists that version, with the metrics the function registered.
    let r = gw.system(Method::GET, "/system/models?name=ionosphere").send().await?;
    let status = r.status();
    let text = r.text().await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    let listed: Value = serde_json::from_str(&text)?;
    assert!(versions(&listed).contains(&version), "version {version} not in {listed}");
    let r = gw.system(Method::GET, &format!("/system/models/ionosphere/versions/{version}")).send().await?;
    let status = r.status();
    let text = r.text().await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    let record: Value = serde_json::from_str(&text)?;
    let registered = record["accuracy"].as_f64().or_else(|| record["metrics"]["accuracy"].as_f64());
    assert!(registered.is_some_and(|a| (a - accuracy).abs() < 1e-6), "{record} vs {trained}");
    assert_eq!(record["sha256"], trained["sha256"], "{record} vs {trained}");

    // Promote it, then serve production.
    let r = gw
        .system(Method::POST, &format!("/system/models/ionosphere/versions/{version}/stage"))
        .json(&json!({"stage": "production"}))
        .send()
        .await?;
    let status = r.status();
    assert!(status.is_success(), "promoting: {status} {}", r.text().await?);
    let out = sedge(&gw, &["deploy", "-f", "examples/predict/predict.yml"]).await?;
    assert!(out.contains("Deployed."), "{out}");

    let x = first_rows(5)?;
    let body = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [5, 34], "data": x}]});
    let answer = infer(&gw, "predict", &body).await?;
    let output = &answer["outputs"][0];
    assert_eq!(output["name"], "probabilities", "{answer}");
    assert_eq!(output["shape"], json!([5, 2]), "{answer}");
    let served: Vec<f64> = output["data"].as_array().context("output data")?.iter().filter_map(Value::as_f64).collect();
    let expected: Vec<f64> = predictions
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_f64())
        .collect();
    assert_eq!((served.len(), expected.len()), (10, 10), "{answer} vs {trained}");
    for (i, (got, want)) in served.iter().zip(&expected).enumerate() {
        assert!((got - want).abs() <= 1e-5, "row {}, class {}: served {got}, trained {want}", i / 2, i % 2);
    }
    Ok(())
}
