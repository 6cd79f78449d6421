//! [`TreeEngine`] on the reference models of `shared/models` against onnxruntime 1.32 (the expected files of
//! `shared/models/fixtures` and `tests/fixtures/trees`, see its README), the graph glue, input errors, and a
//! property test that no input row panics. Hand-built ensembles and malformed attributes are in `tests_cases.rs`.
//!
//! Tolerance: 1e-5 absolute, relative above magnitude 1 (FP32 sums in onnxruntime's order agree far closer).

use std::path::PathBuf;

use proptest::prelude::*;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::{
    AttributeProto, GraphProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, type_proto,
};
use tract_onnx::prelude::Framework;

use super::TreeEngine;
use crate::engine::{Engine, EngineError, Shaped};
use crate::oip::{Datatype, TensorData, TensorMetadata, decode_request, decode_response};

#[path = "tests_cases.rs"]
mod cases;

/// Absolute tolerance against onnxruntime, relative for magnitudes above 1.
pub(super) const TOL: f32 = 1e-5;

pub(super) fn close(got: f32, want: f32) -> bool {
    (got.is_nan() && want.is_nan()) || got == want || (got - want).abs() <= TOL * want.abs().max(1.0)
}

pub(super) fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(close(g, w), "{what}: element {i}: got {g}, want {w}");
    }
}

fn shared() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models"))
}

pub(super) fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/trees"))
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("reference file {} is missing: {e}", path.display()))
}

fn engine(model: &str) -> TreeEngine {
    TreeEngine::load(shared().join(model)).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// The first input of a shared fixture request: (shape, FP32 data).
fn request(name: &str) -> (Vec<usize>, Vec<f32>) {
    let mut req = decode_request(&read(shared().join("fixtures").join(name)), None).expect("fixture decodes");
    let input = req.inputs.remove(0);
    (input.shape.iter().map(|&d| d as usize).collect(), f32s(input.data))
}

/// The outputs of an expected response: (name, shape, data).
fn expected(path: PathBuf) -> Vec<(String, Vec<usize>, TensorData)> {
    let resp = decode_response(&read(path), None).expect("expected response decodes");
    resp.outputs.into_iter().map(|o| (o.name, o.shape.iter().map(|&d| d as usize).collect(), o.data)).collect()
}

pub(super) fn f32s(data: TensorData) -> Vec<f32> {
    match data {
        TensorData::F32(v) => v,
        other => panic!("expected FP32, got {}", other.datatype()),
    }
}

fn run(engine: &TreeEngine, shape: Vec<usize>, data: Vec<f32>) -> Vec<Shaped> {
    engine.run(vec![Shaped::new(shape, TensorData::F32(data))]).expect("runs")
}

/// Checks `engine`'s outputs on the request against an expected response, output by output.
fn check_against(engine: &TreeEngine, request_name: &str, expected_path: PathBuf) {
    let (shape, data) = request(request_name);
    let got = run(engine, shape, data);
    let want = expected(expected_path);
    assert_eq!(got.len(), want.len());
    for ((got, meta), (name, shape, data)) in got.into_iter().zip(engine.outputs()).zip(want) {
        assert_eq!(meta.name, name);
        assert_eq!(got.shape, shape, "{name}");
        match (got.data, data) {
            (TensorData::F32(g), TensorData::F32(w)) => assert_close(&g, &w, &name),
            (g, w) => assert_eq!(g, w, "{name}"),
        }
    }
}

#[test]
fn taxi_b1_matches_onnxruntime() {
    check_against(
        &engine("gbt_taxi_xgb.onnx"),
        "gbt_taxi_b1.json",
        shared().join("fixtures/gbt_taxi_b1.expected.json"),
    );
}

#[test]
fn taxi_b8_matches_onnxruntime_and_rows_equal_single_runs() {
    let engine = engine("gbt_taxi_xgb.onnx");
    check_against(&engine, "gbt_taxi_b8.json", fixtures().join("gbt_taxi_xgb_b8.expected.json"));
    let (shape, data) = request("gbt_taxi_b8.json");
    assert_eq!(shape, [8, 22]);
    let batch = f32s(run(&engine, shape, data.clone()).remove(0).data);
    for (row, values) in data.chunks(22).enumerate() {
        let single = f32s(run(&engine, vec![1, 22], values.to_vec()).remove(0).data);
        assert_eq!(single, [batch[row]], "row {row}");
    }
}

#[test]
fn taxi_classifier_b8_matches_onnxruntime() {
    let engine = engine("gbt_taxi_xgb_classifier.onnx");
    check_against(&engine, "gbt_taxi_b8.json", fixtures().join("gbt_taxi_xgb_classifier_b8.expected.json"));
    let (shape, data) = request("gbt_taxi_b8.json");
    let mut outputs = run(&engine, shape, data.clone());
    let probabilities = f32s(outputs.remove(1).data);
    for (row, values) in data.chunks(22).enumerate() {
        let single = run(&engine, vec![1, 22], values.to_vec());
        assert_eq!(single[0].data, TensorData::I64(vec![1]), "row {row}");
        assert_eq!(f32s(single[1].data.clone()), probabilities[row * 2..row * 2 + 2], "row {row}");
    }
}

#[test]
fn diabetes_b1_matches_onnxruntime() {
    let engine = engine("gbt_diabetes_sklearn.onnx");
    check_against(&engine, "gbt_diabetes_b1.json", fixtures().join("gbt_diabetes_b1.expected.json"));
}

#[test]
fn metadata_follows_the_graph_with_a_dynamic_batch() {
    let meta =
        |name: &str, datatype, shape: &[i64]| TensorMetadata { name: name.into(), datatype, shape: shape.to_vec() };
    let taxi = engine("gbt_taxi_xgb.onnx");
    assert_eq!(taxi.inputs(), [meta("input", Datatype::F32, &[-1, 22])]);
    assert_eq!(taxi.outputs(), [meta("variable", Datatype::F32, &[-1, 1])]);
    let classifier = engine("gbt_taxi_xgb_classifier.onnx");
    let outputs = [meta("label", Datatype::I64, &[-1]), meta("probabilities", Datatype::F32, &[-1, 2])];
    assert_eq!(classifier.outputs(), outputs);
    assert_eq!(engine("gbt_diabetes_sklearn.onnx").inputs(), [meta("X", Datatype::F32, &[-1, 10])]);
}

#[test]
fn any_batch_size_runs_including_zero() {
    let engine = engine("gbt_taxi_xgb.onnx");
    let (_, data) = request("gbt_taxi_b8.json");
    let eight = f32s(run(&engine, vec![8, 22], data.clone()).remove(0).data);
    let many: Vec<f32> = data.iter().copied().cycle().take(22 * 1000).collect();
    let out = run(&engine, vec![1000, 22], many);
    assert_eq!(out[0].shape, [1000, 1]);
    assert_eq!(f32s(out[0].data.clone())[992..], eight[..]);
    let empty = run(&engine, vec![0, 22], vec![]);
    assert_eq!(empty[0].shape, [0, 1]);
    let rows = engine.run_rows(vec![TensorData::F32(data[..44].to_vec())], 2).expect("run_rows");
    assert_eq!(f32s(rows.into_iter().next().expect("one output")), eight[..2]);
}

#[test]
fn bad_inputs_are_errors() {
    let engine = engine("gbt_taxi_xgb.onnx");
    let err = engine.run(vec![]).expect_err("no inputs");
    assert!(matches!(err, EngineError::InputCount { expected: 1, got: 0 }), "{err}");
    let err = engine.run(vec![Shaped::new(vec![1, 22], TensorData::F64(vec![0.0; 22]))]).expect_err("FP64");
    assert!(err.to_string().contains("FP64"), "{err}");
    let err = engine.run(vec![Shaped::new(vec![1, 21], TensorData::F32(vec![0.0; 21]))]).expect_err("width");
    assert!(err.to_string().contains("input `input`"), "{err}");
    let err = engine.run(vec![Shaped::new(vec![2, 22], TensorData::F32(vec![0.0; 22]))]).expect_err("count");
    assert!(err.to_string().contains("22 elements"), "{err}");
}

#[test]
fn corrupt_and_non_tree_models_are_errors() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let taxi = read(shared().join("gbt_taxi_xgb.onnx"));
    for (what, bytes) in [("garbage", &garbage[..]), ("empty", &[][..]), ("truncated", &taxi[..taxi.len() / 2])] {
        assert!(TreeEngine::from_bytes(bytes).is_err(), "{what} bytes loaded");
    }
    let err = TreeEngine::load(shared().join("ionosphere_mlp_skl2onnx.onnx")).err().expect("an MLP");
    assert!(matches!(&err, EngineError::UnsupportedOperators { ops } if ops.contains(&"MatMul".to_string())), "{err}");
    let err = TreeEngine::load(shared().join("no_such_model.onnx")).err().expect("missing file");
    assert!(matches!(err, EngineError::Io { .. }), "{err}");
}

#[test]
fn is_tree_model_picks_the_tree_models() {
    let graph = |name: &str| {
        let proto = tract_onnx::onnx().proto_model_for_read(&mut &*read(shared().join(name))).expect("decodes");
        proto.graph.expect("a graph")
    };
    for model in ["gbt_taxi_xgb.onnx", "gbt_taxi_xgb_classifier.onnx", "gbt_diabetes_sklearn.onnx"] {
        assert!(TreeEngine::is_tree_model(&graph(model)), "{model}");
    }
    for model in ["mnist_cnn.onnx", "ionosphere_mlp_skl2onnx.onnx"] {
        assert!(!TreeEngine::is_tree_model(&graph(model)), "{model}");
    }
}

// --- building graphs --------------------------------------------------------------------------------------------

pub(super) fn attr(name: &str, kind: i32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: kind, ..Default::default() }
}
pub(super) fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { i: v, ..attr(name, 2) }
}
pub(super) fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto { s: v.as_bytes().to_vec(), ..attr(name, 3) }
}
pub(super) fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { ints: v.to_vec(), ..attr(name, 7) }
}
pub(super) fn floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto { floats: v.to_vec(), ..attr(name, 6) }
}
pub(super) fn strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto { strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(), ..attr(name, 8) }
}
/// A DOUBLE tensor attribute (`*_as_tensor`).
pub(super) fn doubles(name: &str, v: &[f64]) -> AttributeProto {
    let t = TensorProto { dims: vec![v.len() as i64], data_type: 11, double_data: v.to_vec(), ..Default::default() };
    AttributeProto { t: Some(t), ..attr(name, 4) }
}

/// A tensor value declaration of `elem_type` and `dims` (`None`: dynamic).
pub(super) fn value(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(d.map_or(dimension::Value::DimParam("N".into()), dimension::Value::DimValue)),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor { elem_type, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

pub(super) fn node(
    op: &str,
    domain: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        domain: domain.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A graph of one tree node `op` reading `X` [batch, width] of ONNX type `elem_type`.
pub(super) fn tree_graph(op: &str, elem_type: i32, width: i64, attrs: Vec<AttributeProto>) -> GraphProto {
    let outputs: &[&str] = if op == "TreeEnsembleRegressor" { &["variable"] } else { &["label", "probabilities"] };
    GraphProto {
        node: vec![node(op, "ai.onnx.ml", &["X"], outputs, attrs)],
        input: vec![value("X", elem_type, &[None, Some(width)])],
        output: outputs.iter().map(|o| ValueInfoProto { name: o.to_string(), ..Default::default() }).collect(),
        ..Default::default()
    }
}

/// Node attributes from `(tree, node, feature, mode, value, true, false, missing_tracks_true)` rows.
pub(super) type NodeRow = (i64, i64, i64, &'static str, f32, i64, i64, i64);

pub(super) fn node_attrs(rows: &[NodeRow]) -> Vec<AttributeProto> {
    vec![
        ints("nodes_treeids", &rows.iter().map(|r| r.0).collect::<Vec<_>>()),
        ints("nodes_nodeids", &rows.iter().map(|r| r.1).collect::<Vec<_>>()),
        ints("nodes_featureids", &rows.iter().map(|r| r.2).collect::<Vec<_>>()),
        strings("nodes_modes", &rows.iter().map(|r| r.3).collect::<Vec<_>>()),
        floats("nodes_values", &rows.iter().map(|r| r.4).collect::<Vec<_>>()),
        ints("nodes_truenodeids", &rows.iter().map(|r| r.5).collect::<Vec<_>>()),
        ints("nodes_falsenodeids", &rows.iter().map(|r| r.6).collect::<Vec<_>>()),
        ints("nodes_missing_value_tracks_true", &rows.iter().map(|r| r.7).collect::<Vec<_>>()),
    ]
}

/// Vote attributes (`prefix` "target" or "class") from `(tree, node, id, weight)` rows.
pub(super) fn vote_attrs(prefix: &str, votes: &[(i64, i64, i64, f32)]) -> Vec<AttributeProto> {
    vec![
        ints(&format!("{prefix}_treeids"), &votes.iter().map(|v| v.0).collect::<Vec<_>>()),
        ints(&format!("{prefix}_nodeids"), &votes.iter().map(|v| v.1).collect::<Vec<_>>()),
        ints(&format!("{prefix}_ids"), &votes.iter().map(|v| v.2).collect::<Vec<_>>()),
        floats(&format!("{prefix}_weights"), &votes.iter().map(|v| v.3).collect::<Vec<_>>()),
    ]
}

#[test]
fn identity_and_cast_glue_runs_natively() {
    // X (FP64) → Cast FP32 → regressor → Identity → out; the regressor is a stump on feature 0 at 0.5.
    let mut attrs = node_attrs(&[
        (0, 0, 0, "BRANCH_LEQ", 0.5, 1, 2, 0),
        (0, 1, 0, "LEAF", 0.0, 0, 0, 0),
        (0, 2, 0, "LEAF", 0.0, 0, 0, 0),
    ]);
    attrs.extend(vote_attrs("target", &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)]));
    attrs.push(int("n_targets", 1));
    let graph = GraphProto {
        node: vec![
            node("Identity", "", &["v"], &["out"], vec![]),
            node("TreeEnsembleRegressor", "ai.onnx.ml", &["x32"], &["v"], attrs),
            node("Cast", "", &["X"], &["x32"], vec![int("to", 1)]),
        ],
        input: vec![value("X", 11, &[None, Some(2)])],
        output: vec![value("out", 1, &[None, Some(1)]), ValueInfoProto { name: "x32".into(), ..Default::default() }],
        ..Default::default()
    };
    assert!(TreeEngine::is_tree_model(&graph));
    let engine = TreeEngine::from_graph(&graph).expect("loads");
    assert_eq!(engine.outputs()[0], TensorMetadata { name: "out".into(), datatype: Datatype::F32, shape: vec![-1, 1] });
    assert_eq!(engine.outputs()[1].datatype, Datatype::F32);
    let out = engine.run(vec![Shaped::new(vec![2, 2], TensorData::F64(vec![0.25, 9.0, 0.75, 9.0]))]).expect("runs");
    assert_eq!(out[0].data, TensorData::F32(vec![1.0, 2.0]));
    assert_eq!(out[1].data, TensorData::F32(vec![0.25, 9.0, 0.75, 9.0]));
}

#[test]
fn unsupported_glue_is_named() {
    let mut graph = tree_graph("TreeEnsembleClassifier", 1, 2, vec![]);
    graph.node.push(node("ZipMap", "ai.onnx.ml", &["probabilities"], &["maps"], vec![]));
    graph.node.push(node("Cast", "", &["label"], &["label_text"], vec![int("to", 8)]));
    assert!(!TreeEngine::is_tree_model(&graph));
    let err = TreeEngine::from_graph(&graph).err().expect("ZipMap is not supported");
    assert!(matches!(&err, EngineError::UnsupportedOperators { ops } if ops == &["ZipMap"]), "{err}");
}

// --- properties -------------------------------------------------------------------------------------------------

/// Any FP32 value, NaN and infinities included.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![any::<f32>(), Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY), -50.0f32..50.0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_rows_never_panic(row in proptest::collection::vec(any_f32(), 22)) {
        for model in ["gbt_taxi_xgb.onnx", "gbt_taxi_xgb_classifier.onnx"] {
            let outputs = run(&engine(model), vec![1, 22], row.clone());
            let scores = f32s(outputs.last().expect("an output").data.clone());
            prop_assert!(scores.iter().all(|s| s.is_finite()), "{model}: {scores:?}");
        }
    }

    /// Random child ids, modes and vote targets: loading returns an error or an engine whose walks end.
    #[test]
    fn random_tree_attributes_never_panic_or_loop(
        children in proptest::collection::vec((-1i64..6, -1i64..6), 5),
        modes in proptest::collection::vec(0usize..8, 5),
        targets in proptest::collection::vec(-1i64..3, 5),
        row in proptest::collection::vec(any_f32(), 2),
    ) {
        const MODES: [&str; 8] =
            ["LEAF", "BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "NOPE"];
        let rows: Vec<NodeRow> = (0..5)
            .map(|i| (0, i as i64, (i % 2) as i64, MODES[modes[i]], 0.5, children[i].0, children[i].1, (i % 2) as i64))
            .collect();
        let votes: Vec<_> = (0..5).map(|i| (0, i as i64, targets[i], 1.0)).collect();
        let mut attrs = node_attrs(&rows);
        attrs.extend(vote_attrs("target", &votes));
        attrs.push(int("n_targets", 2));
        if let Ok(engine) = TreeEngine::from_graph(&tree_graph("TreeEnsembleRegressor", 1, 2, attrs)) {
            let out = engine.run(vec![Shaped::new(vec![1, 2], TensorData::F32(row))]).expect("runs");
            prop_assert_eq!(&out[0].shape, &[1, 2]);
        }
    }
}
