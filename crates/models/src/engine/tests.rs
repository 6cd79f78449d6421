//! [`TractEngine`] on the reference models of `shared/models`: outputs against onnxruntime's, padding and
//! trimming against single runs, metadata, and errors (not panics) for corrupt and unsupported models. A missing
//! model or fixture fails the test.

use super::{Engine, EngineError, Shaped, TractEngine};
use crate::oip::{Datatype, TensorData, TensorMetadata, decode_request, decode_response};
use crate::test_support::{assert_close, f32s, models, read};

fn engine(model: &str, max_batch: usize) -> TractEngine {
    TractEngine::load(models().join(model), max_batch).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// The first input of a fixture request: (shape, data).
fn fixture_input(name: &str) -> (Vec<u64>, TensorData) {
    let mut req = decode_request(&read(&format!("fixtures/{name}")), None).expect("fixture decodes");
    let input = req.inputs.remove(0);
    (input.shape, input.data)
}

/// The first output of an expected-response fixture, as f32.
fn expected_output(name: &str) -> (String, Vec<f32>) {
    let mut resp = decode_response(&read(&format!("fixtures/{name}")), None).expect("fixture decodes");
    let output = resp.outputs.remove(0);
    (output.name, f32s(output.data))
}

/// Rows `rows` (each `width` floats) of `data` as a new FP32 tensor.
fn rows(data: &[f32], width: usize, rows: std::ops::Range<usize>) -> TensorData {
    TensorData::F32(data[rows.start * width..rows.end * width].to_vec())
}

#[test]
fn mnist_b1_matches_onnxruntime() {
    let engine = engine("mnist_cnn.onnx", 8);
    let (shape, data) = fixture_input("mnist_cnn_b1.json");
    assert_eq!(shape, [1, 1, 28, 28]);
    let outputs = engine.run_rows(vec![data], 1).expect("runs");
    let (name, want) = expected_output("mnist_cnn_b1.expected.json");
    assert_eq!(engine.outputs()[0].name, name);
    assert_close(&f32s(outputs.into_iter().next().expect("one output")), &want);
}

#[test]
fn mnist_metadata_and_plan_sizes() {
    let engine = engine("mnist_cnn.onnx", 6);
    let input = TensorMetadata { name: "input".into(), datatype: Datatype::F32, shape: vec![-1, 1, 28, 28] };
    assert_eq!(engine.inputs(), [input]);
    let output = TensorMetadata { name: "probabilities".into(), datatype: Datatype::F32, shape: vec![-1, 10] };
    assert_eq!(engine.outputs(), [output]);
    assert_eq!(engine.plan_sizes(), [1, 2, 4, 6]);
    assert_eq!(engine.max_batch(), 6);
    engine.compile_all().expect("every plan compiles");
}

#[test]
fn mnist_b8_rows_match_single_runs() {
    let engine = engine("mnist_cnn.onnx", 8);
    let (shape, data) = fixture_input("mnist_cnn_b8.json");
    assert_eq!(shape, [8, 1, 28, 28]);
    let pixels = f32s(data);
    let out = f32s(engine.run_rows(vec![TensorData::F32(pixels.clone())], 8).expect("runs").remove(0));
    assert_eq!(out.len(), 80);
    for row in 0..8 {
        let single = f32s(engine.run_rows(vec![rows(&pixels, 784, row..row + 1)], 1).expect("runs").remove(0));
        assert_close(&out[row * 10..row * 10 + 10], &single);
        assert!((single.iter().sum::<f32>() - 1.0).abs() < 1e-4, "softmax row sums to 1");
    }
}

#[test]
fn padding_to_the_next_plan_and_trimming_match_single_runs() {
    let engine = engine("mnist_cnn.onnx", 6);
    let pixels = f32s(fixture_input("mnist_cnn_b8.json").1);
    let singles: Vec<Vec<f32>> = (0..6)
        .map(|row| f32s(engine.run_rows(vec![rows(&pixels, 784, row..row + 1)], 1).expect("runs").remove(0)))
        .collect();
    // 3 → plan 4, 5 → plan 6 (padded), 6 → plan 6 (exact), through `run_rows` and `run`.
    for batch in [3, 5, 6] {
        let out = f32s(engine.run_rows(vec![rows(&pixels, 784, 0..batch)], batch).expect("runs").remove(0));
        assert_eq!(out.len(), batch * 10, "batch {batch} is trimmed back");
        assert_close(&out, &singles[..batch].concat());
        let shaped = engine.run(vec![Shaped::new(vec![batch, 1, 28, 28], rows(&pixels, 784, 0..batch))]).expect("runs");
        assert_eq!(shaped[0].shape, [batch, 10]);
    }
    for batch in [0, 7] {
        let err = engine.run_rows(vec![rows(&pixels, 784, 0..batch)], batch).expect_err("out of range");
        assert!(matches!(err, EngineError::BatchSize { max: 6, .. }), "{err}");
    }
}

#[test]
fn concurrent_runs_share_lazily_compiled_plans() {
    let engine = engine("mnist_cnn.onnx", 4);
    let pixels = f32s(fixture_input("mnist_cnn_b8.json").1);
    let want = f32s(engine.run_rows(vec![rows(&pixels, 784, 0..3)], 3).expect("runs").remove(0));
    let engine: &dyn Engine = &engine;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(|| engine.run_rows(vec![rows(&pixels, 784, 0..3)], 3))).collect();
        for h in handles {
            assert_close(&f32s(h.join().expect("no panic").expect("runs").remove(0)), &want);
        }
    });
}

#[test]
fn ionosphere_b1_matches_onnxruntime_and_b8_runs() {
    let engine = engine("ionosphere_mlp.onnx", 8);
    assert_eq!(engine.inputs()[0].shape, [-1, 34]);
    let (_, data) = fixture_input("ionosphere_b1.json");
    let (name, want) = expected_output("ionosphere_b1.expected.json");
    assert_eq!(engine.outputs()[0].name, name);
    assert_close(&f32s(engine.run_rows(vec![data], 1).expect("runs").remove(0)), &want);
    let (shape, data) = fixture_input("ionosphere_b8.json");
    assert_eq!(shape, [8, 34]);
    let out = f32s(engine.run_rows(vec![data], 8).expect("runs").remove(0));
    assert!(out.len() == 8 && out.iter().all(|p| (0.0..=1.0).contains(p)), "{out:?}");
}

#[test]
fn bad_inputs_are_errors() {
    let engine = engine("mnist_cnn.onnx", 2);
    let err = engine.run_rows(vec![], 1).expect_err("no inputs");
    assert!(matches!(err, EngineError::InputCount { expected: 1, got: 0 }), "{err}");
    let err = engine.run_rows(vec![TensorData::F64(vec![0.0; 784])], 1).expect_err("wrong datatype");
    assert!(err.to_string().contains("FP64"), "{err}");
    let err = engine.run_rows(vec![TensorData::F32(vec![0.0; 700])], 1).expect_err("wrong length");
    assert!(err.to_string().contains("input `input`"), "{err}");
}

#[test]
fn corrupt_models_are_errors_not_panics() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mnist = read("mnist_cnn.onnx");
    for (what, bytes) in [("garbage", &garbage[..]), ("empty", &[][..]), ("truncated", &mnist[..mnist.len() / 2])] {
        let err = TractEngine::from_bytes(bytes, 4).err().unwrap_or_else(|| panic!("{what} bytes loaded"));
        assert!(!err.to_string().is_empty(), "{what}");
    }
    let err = TractEngine::load(models().join("no_such_model.onnx"), 4).err().expect("missing file");
    assert!(matches!(err, EngineError::Io { .. }), "{err}");
}

#[test]
fn tree_ensemble_regressor_is_named_as_unsupported() {
    let err = TractEngine::load(models().join("gbt_taxi_xgb.onnx"), 4).err().expect("tract lacks the operator");
    assert!(matches!(err, EngineError::UnsupportedOperators { .. }), "{err}");
    assert!(err.to_string().contains("TreeEnsembleRegressor"), "{err}");
}
