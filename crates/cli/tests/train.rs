//! `sedge train` end to end: models trained on the shipped data are written as ONNX, deployed as model functions,
//! and answer `/v2/models/{name}/infer` with what the trainer itself computes (gbdt, mlp: the same training
//! in-process, which is deterministic; cnn: the served predictions' accuracy is the one the summary reports). Every
//! trainer prints one JSON summary line; input that is not a training set exits 2 naming the line or byte offset.

use std::path::Path;

use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use sedge_train::data::{CsvOptions, load_csv};
use sedge_train::gbdt::{Params, train};
use sedge_train::idx::{IMAGES_MAGIC, LABELS_MAGIC, read_images, read_labels};
use sedge_train::nn::fit::{Examples, FitParams, Schedule, fit};
use sedge_train::nn::layers::Standardize;
use sedge_train::nn::mlp::mlp;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");

/// Runs `sedge train …`; returns the parsed summary line after checking it is the only stdout line.
async fn sedge_train(args: &[&str], out: &Path) -> anyhow::Result<Value> {
    let run = tokio::process::Command::new(SEDGE).arg("train").args(args).arg("-o").arg(out).output().await?;
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    let summary: Value = serde_json::from_str(&stdout)?;
    assert_eq!(summary["model"], out.to_string_lossy().as_ref());
    for key in ["architecture", "dataset", "metrics", "params", "signature"] {
        assert!(!summary[key].is_null(), "{key} in {summary}");
    }
    Ok(summary)
}

/// Deploys `model` as function `name` and returns the first output's data for one FP32 input.
async fn serve(gw: &TestGateway, name: &str, model: &Path, shape: &[usize], x: &[f32]) -> anyhow::Result<Vec<f32>> {
    let deployment =
        json!({"service": name, "image": "sedge/model", "annotations": {"com.sedge.model": model.to_string_lossy()}});
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    gw.wait_available(name, 1).await?;
    let body = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": shape, "data": x}]});
    let r = gw.request(reqwest::Method::POST, &format!("/v2/models/{name}/infer")).json(&body).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await?;
    let data = answer["outputs"][0]["data"].as_array().expect("an output");
    Ok(data.iter().map(|v| v.as_f64().unwrap() as f32).collect())
}

#[tokio::test]
async fn a_trained_gbdt_is_served_with_the_trainers_own_predictions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let model_path = dir.path().join("taxi.onnx");
    let taxi = format!("{DATA}chicago_taxi_modeldata.csv");
    let args = ["gbdt", "--data", &taxi, "--target", "tip", "--drop", "rownames", "--trees", "30", "--depth", "4"];
    let summary = sedge_train(&args, &model_path).await?;
    let test_rmse = summary["metrics"]["test_rmse"].as_f64().expect("the held-out RMSE");
    assert!(test_rmse > 0.0 && test_rmse < 0.2713, "below the mean's 0.2713 on the held-out rows: {test_rmse}");
    assert_eq!(summary["params"]["method"], "hist");
    assert_eq!(summary["signature"]["inputs"][0]["shape"], json!([-1, 22]));

    // The same training in-process (it is deterministic) gives the predictions to compare with.
    let data =
        load_csv(std::fs::File::open(&taxi)?, &CsvOptions { target: "tip".into(), drop: vec!["rownames".into()] })?;
    let train_set = data.select(|i| i % 5 != 0);
    let n = data.features.len();
    let params = Params { trees: 30, max_depth: 4, learning_rate: 0.1, ..Params::default() };
    let model = train(&train_set.x, &train_set.y, n, &params, &mut |_, _| true);

    let gw = TestGateway::start(SEDGE).await?;
    let rows: Vec<usize> = (0..50).map(|i| i * 97).collect();
    let x: Vec<f32> = rows.iter().flat_map(|&r| data.row(r).to_vec()).collect();
    let served = serve(&gw, "taxi", &model_path, &[rows.len(), n], &x).await?;
    assert_eq!(served.len(), rows.len());
    for (k, &r) in rows.iter().enumerate() {
        let (got, want) = (served[k], model.predict(data.row(r)));
        assert!((got - want).abs() <= 1e-5, "row {r}: served {got}, trained {want}");
    }
    Ok(())
}

#[tokio::test]
async fn a_preset_sets_what_the_flags_leave_out() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let taxi = format!("{DATA}chicago_taxi_modeldata.csv");
    let base = ["gbdt", "--data", &taxi, "--target", "tip", "--drop", "rownames", "--depth", "2"];
    for (preset, trees, want) in [("light", "5", json!([0.01, 5])), ("heavy", "7", json!([0.001, 7]))] {
        let args = [&base[..], &["--preset", preset, "--trees", trees, "--method", "exact"]].concat();
        let summary = sedge_train(&args, &dir.path().join("m.onnx")).await?;
        let params = &summary["params"];
        assert_eq!(json!([params["learning_rate"], params["trees"]]), want, "{preset}: {params}");
        assert_eq!(params["method"], "exact");
    }
    Ok(())
}

#[tokio::test]
async fn a_trained_mlp_is_served_with_the_trainers_own_probabilities() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let model_path = dir.path().join("ionosphere.onnx");
    let csv = format!("{DATA}ionosphere.csv");
    let args = ["mlp", "--data", &csv, "--target", "Class", "--hidden", "16,8", "--epochs", "20", "--threads", "2"];
    let summary = sedge_train(&args, &model_path).await?;
    let accuracy = summary["metrics"]["test_accuracy"].as_f64().expect("the held-out accuracy");
    assert!(accuracy > 0.8, "ionosphere is mostly separable: {accuracy}");
    assert_eq!(summary["signature"]["classes"], json!(["bad", "good"]));
    assert_eq!(
        summary["signature"]["outputs"][0],
        json!({"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]})
    );

    // The same training in-process, on one thread: the seed fixes the weights whatever the thread count.
    let data = load_csv(std::fs::File::open(&csv)?, &CsvOptions { target: "Class".into(), drop: Vec::new() })?;
    let train_set = data.select(|i| i % 5 != 0);
    let n = data.features.len();
    let labels: Vec<u32> = train_set.y.iter().map(|y| *y as u32).collect();
    let mut net = mlp(n, &[16, 8], 2, Some(Standardize::fit(&train_set.x, n)), 1);
    let params =
        FitParams { epochs: 20, batch_size: 32, learning_rate: 0.001, schedule: Schedule::Cosine, seed: 1, threads: 1 };
    fit(&mut net, Examples { x: &train_set.x, labels: &labels }, &params, &mut |_, _| true);

    let gw = TestGateway::start(SEDGE).await?;
    let rows = 40;
    let served = serve(&gw, "ionosphere", &model_path, &[rows, n], &data.x[..rows * n]).await?;
    let want = net.probabilities(&data.x[..rows * n], rows);
    assert_eq!(served.len(), want.len());
    for (i, (got, want)) in served.iter().zip(&want).enumerate() {
        assert!((got - want).abs() <= 1e-4, "value {i}: served {got}, trained {want}");
    }
    Ok(())
}

/// An IDX file of the first `count` items of a shipped one.
fn idx_subset(images: bool, from: &str, count: usize, to: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(format!("{DATA}{from}"))?;
    let mut bytes = Vec::new();
    if images {
        let all = read_images(file)?;
        bytes.extend(
            [IMAGES_MAGIC, count as u32, all.rows as u32, all.cols as u32].iter().flat_map(|v| v.to_be_bytes()),
        );
        bytes.extend(&all.pixels[..count * all.rows * all.cols]);
    } else {
        let all = read_labels(file)?;
        bytes.extend([LABELS_MAGIC, count as u32].iter().flat_map(|v| v.to_be_bytes()));
        bytes.extend(&all[..count]);
    }
    std::fs::write(to, bytes)?;
    Ok(())
}

#[tokio::test]
async fn a_trained_cnn_serves_the_accuracy_it_reports() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = |name: &str| dir.path().join(name);
    idx_subset(true, "mnist-8k-train-images-idx3-ubyte.gz", 300, &p("train-images"))?;
    idx_subset(false, "mnist-8k-train-labels-idx1-ubyte.gz", 300, &p("train-labels"))?;
    idx_subset(true, "mnist-2k-test-images-idx3-ubyte.gz", 100, &p("test-images"))?;
    idx_subset(false, "mnist-2k-test-labels-idx1-ubyte.gz", 100, &p("test-labels"))?;
    let model_path = p("digits.onnx");
    let path = |name: &str| p(name).to_string_lossy().into_owned();
    let (ti, tl, si, sl) = (path("train-images"), path("train-labels"), path("test-images"), path("test-labels"));
    let args = ["cnn", "--train-images", &ti, "--train-labels", &tl, "--test-images", &si, "--test-labels", &sl];
    let summary = sedge_train(
        &[&args[..], &["--epochs", "3", "--learning-rate", "0.003", "--filters", "4,8", "--hidden", "16"]].concat(),
        &model_path,
    )
    .await?;
    let reported = summary["metrics"]["test_accuracy"].as_f64().expect("the test accuracy");
    assert!(reported > 0.3, "three epochs on 300 digits beat chance: {reported}");
    assert_eq!(summary["signature"]["inputs"][0]["shape"], json!([-1, 1, 28, 28]));
    assert_eq!(summary["params"]["parameters"], json!(4 * 10 + 8 * 37 + 392 * 16 + 16 + 16 * 10 + 10));

    let gw = TestGateway::start(SEDGE).await?;
    let images = read_images(std::fs::File::open(p("test-images"))?)?;
    let labels = read_labels(std::fs::File::open(p("test-labels"))?)?;
    let served = serve(&gw, "digits", &model_path, &[100, 1, 28, 28], &images.scaled()).await?;
    assert_eq!(served.len(), 100 * 10);
    let mut right = 0;
    for (row, label) in served.chunks(10).zip(&labels) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "probabilities sum to 1: {row:?}");
        let best = (0..10).fold(0, |b, i| if row[i] > row[b] { i } else { b });
        right += usize::from(best == usize::from(*label));
    }
    assert_eq!(right as f64 / 100.0, reported, "the served model's accuracy is the reported one");
    Ok(())
}

#[tokio::test]
async fn bad_training_files_exit_2_naming_the_line_or_offset() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "x,y\n1,2\n3,4\n5\n")?;
    let labels = format!("{DATA}mnist-2k-test-labels-idx1-ubyte.gz");
    let short = dir.path().join("short-images");
    std::fs::write(&short, [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3])?;
    let short = short.to_string_lossy().into_owned();
    let cnn = |images: &str| {
        let images = images.to_string();
        vec!["cnn".into(), "--train-images".into(), images.clone(), "--train-labels".into(), labels.clone()]
            .into_iter()
            .chain(["--test-images".into(), images, "--test-labels".into(), labels.clone()])
            .collect::<Vec<String>>()
    };
    let csv = csv.to_string_lossy().into_owned();
    for (args, want) in [
        (
            vec!["gbdt".into(), "--target".into(), "y".into(), "--data".into(), csv.clone()],
            "line 4: 1 cells, the header has 2",
        ),
        (vec!["mlp".into(), "--target".into(), "y".into(), "--data".into(), csv], "line 4: 1 cells, the header has 2"),
        (cnn(&labels), "bad magic number 0x00000801 at offset 0: expected 0x00000803 (IDX images)"),
        (cnn(&short), "truncated at offset 19: the header promises 2 images of 28×28, which end at offset 1584"),
    ] {
        let out =
            tokio::process::Command::new(SEDGE).arg("train").args(&args).args(["-o", "/dev/null"]).output().await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "no summary for a refused file");
    }
    Ok(())
}
