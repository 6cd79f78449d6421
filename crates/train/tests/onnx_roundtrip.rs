//! A model trained here, exported to ONNX and loaded by sedge's tree engine (what a model function serves)
//! predicts what the trainer itself predicts, for regression and for binary classification, on the taxi data.

use sedge_models::engine::{Engine, Shaped, TreeEngine};
use sedge_models::oip::TensorData;
use sedge_train::data::{CsvOptions, Dataset, load_csv};
use sedge_train::gbdt::{Objective, Params, train};
use sedge_train::onnx;

fn taxi() -> Dataset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/chicago_taxi_modeldata.csv");
    let options = CsvOptions { target: "tip".into(), drop: vec!["rownames".into()] };
    load_csv(std::fs::File::open(path).unwrap(), &options).unwrap()
}

fn served_equals_trained(objective: Objective) {
    let data = taxi();
    let (train_set, test_set) = (data.select(|i| i % 5 != 0), data.select(|i| i % 5 == 0));
    let n = data.features.len();
    let params = Params { objective, trees: 40, max_depth: 4, ..Params::default() };
    let model = train(&train_set.x, &train_set.y, n, &params, &mut |_, _| true);
    let bytes = onnx::export(&model, &[("features".into(), data.features.join(","))]);

    let engine = TreeEngine::from_bytes(&bytes).expect("the tree engine loads the export");
    let rows = test_set.rows();
    let out = engine.run(vec![Shaped::new(vec![rows, n], TensorData::F32(test_set.x.clone()))]).expect("runs");
    // The regressor's only output, or the classifier's second: [label, probabilities].
    let served = out.last().expect("an output");
    let width = if objective == Objective::Binary { 2 } else { 1 };
    assert_eq!(served.shape, [rows, width]);
    let TensorData::F32(served) = &served.data else { panic!("FP32 out, got {}", served.data.datatype()) };
    for i in 0..rows {
        let (got, want) = (served[i * width + width - 1], model.predict(test_set.row(i)));
        assert!((got - want).abs() <= 1e-5, "row {i}: served {got}, trained {want}");
    }
    if objective == Objective::Binary {
        let TensorData::I64(labels) = &out[0].data else { panic!("INT64 labels, got {}", out[0].data.datatype()) };
        for i in 0..rows {
            assert_eq!(labels[i], i64::from(served[i * 2 + 1] > 0.5), "row {i}'s label follows its probability");
        }
    }
}

#[test]
fn a_regression_model_serves_what_it_trained() {
    served_equals_trained(Objective::Regression);
}

#[test]
fn a_binary_model_serves_its_probabilities() {
    served_equals_trained(Objective::Binary);
}
