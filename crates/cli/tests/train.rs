//! `sedge train gbdt` end to end: a model trained on the shipped taxi data is written as ONNX, deployed as a
//! model function, and answers `/v2/models/{name}/infer` with what the trainer itself predicts; a file that is not a
//! training set exits 2 naming the line.

use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use sedge_train::data::{CsvOptions, load_csv};
use sedge_train::gbdt::{Params, train};
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const TAXI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/chicago_taxi_modeldata.csv");

#[tokio::test]
async fn a_trained_model_is_served_with_the_trainers_own_predictions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let model_path = dir.path().join("taxi.onnx");
    let out = tokio::process::Command::new(SEDGE)
        .args(["train", "gbdt", "--data", TAXI, "--target", "tip", "--drop", "rownames"])
        .args(["--trees", "30", "--depth", "4", "--learning-rate", "0.1", "-o"])
        .arg(&model_path)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let test_rmse: f64 =
        stdout.lines().find_map(|l| l.strip_prefix("test_rmse: ")).expect("the held-out RMSE is printed").parse()?;
    assert!(test_rmse > 0.0 && test_rmse < 0.2713, "below the mean's 0.2713 on the held-out rows: {test_rmse}");

    // The same training in-process (it is deterministic) gives the predictions to compare with.
    let data =
        load_csv(std::fs::File::open(TAXI)?, &CsvOptions { target: "tip".into(), drop: vec!["rownames".into()] })?;
    let train_set = data.select(|i| i % 5 != 0);
    let n = data.features.len();
    let params = Params { trees: 30, max_depth: 4, learning_rate: 0.1, ..Params::default() };
    let model = train(&train_set.x, &train_set.y, n, &params, &mut |_, _| true);

    let gw = TestGateway::start(SEDGE).await?;
    let deployment = json!({"service": "taxi", "image": "sedge/model",
        "annotations": {"com.sedge.model": model_path.to_string_lossy()}});
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    gw.wait_available("taxi", 1).await?;
    let rows: Vec<usize> = (0..50).map(|i| i * 97).collect();
    let x: Vec<f32> = rows.iter().flat_map(|&r| data.row(r).to_vec()).collect();
    let body = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [rows.len(), n], "data": x}]});
    let r = gw.request(reqwest::Method::POST, "/v2/models/taxi/infer").json(&body).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await?;
    let served = answer["outputs"][0]["data"].as_array().expect("an output");
    assert_eq!(served.len(), rows.len());
    for (k, &r) in rows.iter().enumerate() {
        let (got, want) = (served[k].as_f64().unwrap() as f32, model.predict(data.row(r)));
        assert!((got - want).abs() <= 1e-5, "row {r}: served {got}, trained {want}");
    }
    Ok(())
}

#[tokio::test]
async fn a_ragged_csv_exits_2_naming_the_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "x,y\n1,2\n3,4\n5\n")?;
    let out = tokio::process::Command::new(SEDGE)
        .args(["train", "gbdt", "--target", "y", "-o", "/dev/null", "--data"])
        .arg(&csv)
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 4: 1 cells, the header has 2"), "{stderr}");
    Ok(())
}
