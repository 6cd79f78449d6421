//! Hand-built ensembles: the onnxruntime cases of `tests/fixtures/trees/handbuilt.json` (every mode, aggregate,
//! post_transform, base-value layout and binary-classifier rule), small cases worked out by hand, and malformed
//! attributes that must be load errors naming the attribute.

use serde_json::Value;
use tract_onnx::pb::AttributeProto;

use super::super::TreeEngine;
use super::{
    NodeRow, close, doubles, f32s, fixtures, floats, int, ints, node_attrs, string, strings, tree_graph, vote_attrs,
};
use crate::engine::{Engine, EngineError, Shaped};
use crate::oip::TensorData;

// --- onnxruntime's hand-built cases ------------------------------------------------------------------------------

/// An attribute from its `[kind, value]` form in `handbuilt.json`.
fn json_attr(name: &str, spec: &Value) -> AttributeProto {
    let value = &spec[1];
    let list = || value.as_array().expect("a list").iter();
    match spec[0].as_str().expect("a kind") {
        "int" => int(name, value.as_i64().expect("an int")),
        "string" => string(name, value.as_str().expect("a string")),
        "ints" => ints(name, &list().map(|v| v.as_i64().expect("an int")).collect::<Vec<_>>()),
        "floats" => floats(name, &list().map(|v| v.as_f64().expect("a float") as f32).collect::<Vec<_>>()),
        "doubles" => doubles(name, &list().map(|v| v.as_f64().expect("a float")).collect::<Vec<_>>()),
        "strings" => strings(name, &list().map(|v| v.as_str().expect("a string")).collect::<Vec<_>>()),
        other => panic!("unknown attribute kind {other}"),
    }
}

fn json_attrs(object: &Value) -> Vec<AttributeProto> {
    object.as_object().expect("an object").iter().map(|(name, spec)| json_attr(name, spec)).collect()
}

/// An expected FP32 value: a number, or "nan" / "inf" / "-inf".
fn json_f32(v: &Value) -> f32 {
    match v {
        Value::String(s) => s.parse().expect("nan or inf"),
        other => other.as_f64().expect("a number") as f32,
    }
}

#[test]
fn handbuilt_cases_match_onnxruntime() {
    let text = std::fs::read_to_string(fixtures().join("handbuilt.json")).expect("handbuilt.json is present");
    let doc: Value = serde_json::from_str(&text).expect("handbuilt.json parses");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() > 100, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("a name");
        let nodes = if case["nodes_as_tensor"] == Value::Bool(true) { "nodes_as_tensor" } else { "nodes" };
        let mut attrs = json_attrs(&doc[nodes]);
        attrs.extend(json_attrs(&doc["votes"][case["votes"].as_str().expect("a vote set")]));
        attrs.extend(json_attrs(&case["attributes"]));
        let rows = doc["rows"][case["rows"].as_str().expect("rows")].as_array().expect("rows");
        let width = rows[0].as_array().expect("a row").len();
        let values =
            rows.iter().flat_map(|r| r.as_array().expect("a row").iter().map(|v| v.as_f64().unwrap_or(f64::NAN)));
        let (elem_type, data) = match case["input_type"].as_str().expect("a type") {
            "FP32" => (1, TensorData::F32(values.map(|v| v as f32).collect())),
            "FP64" => (11, TensorData::F64(values.collect())),
            "INT64" => (7, TensorData::I64(values.map(|v| v as i64).collect())),
            "INT32" => (6, TensorData::I32(values.map(|v| v as i32).collect())),
            other => panic!("{name}: input type {other}"),
        };
        let op = case["op"].as_str().expect("an op");
        let engine = TreeEngine::from_graph(&tree_graph(op, elem_type, width as i64, attrs))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let outputs =
            engine.run(vec![Shaped::new(vec![rows.len(), width], data)]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = case["outputs"].as_array().expect("outputs");
        assert_eq!(outputs.len(), expected.len(), "{name}");
        for (got, want) in outputs.iter().zip(expected) {
            let what = format!("{name}/{}", want["name"].as_str().expect("a name"));
            let shape: Vec<usize> =
                want["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect();
            assert_eq!(got.shape, shape, "{what}");
            assert_eq!(got.data.datatype().as_str(), want["datatype"].as_str().expect("datatype"), "{what}");
            let data = want["data"].as_array().expect("data");
            assert_eq!(got.data.len(), data.len(), "{what}");
            match &got.data {
                TensorData::F32(v) => {
                    for (i, (&g, w)) in v.iter().zip(data).enumerate() {
                        assert!(close(g, json_f32(w)), "{what}: element {i}: got {g}, want {w}");
                    }
                }
                TensorData::I64(v) => {
                    assert_eq!(v, &data.iter().map(|w| w.as_i64().expect("int")).collect::<Vec<_>>(), "{what}")
                }
                TensorData::Bytes(v) => {
                    let want: Vec<&str> = data.iter().map(|w| w.as_str().expect("a string")).collect();
                    assert_eq!(
                        v.iter().map(|b| std::str::from_utf8(b).expect("UTF-8")).collect::<Vec<_>>(),
                        want,
                        "{what}"
                    );
                }
                other => panic!("{what}: unexpected {}", other.datatype()),
            }
        }
    }
}

// --- small cases by hand -----------------------------------------------------------------------------------------

/// A one-split tree on feature 0: true leaf votes 1, false leaf votes 2.
fn stump(mode: &'static str, missing_true: i64) -> Vec<AttributeProto> {
    let mut attrs = node_attrs(&[
        (0, 0, 0, mode, 1.0, 1, 2, missing_true),
        (0, 1, 0, "LEAF", 0.0, 0, 0, 0),
        (0, 2, 0, "LEAF", 0.0, 0, 0, 0),
    ]);
    attrs.extend(vote_attrs("target", &[(0, 1, 0, 1.0), (0, 2, 0, 2.0)]));
    attrs.push(int("n_targets", 1));
    attrs
}

/// Runs a regressor on rows of `width` features, returning its values.
fn regress(attrs: Vec<AttributeProto>, width: usize, x: &[f32]) -> Vec<f32> {
    let engine = TreeEngine::from_graph(&tree_graph("TreeEnsembleRegressor", 1, width as i64, attrs)).expect("loads");
    let rows = x.len() / width;
    f32s(engine.run(vec![Shaped::new(vec![rows, width], TensorData::F32(x.to_vec()))]).expect("runs").remove(0).data)
}

#[test]
fn each_mode_compares_as_named_and_nan_follows_missing_tracks() {
    // x below, at and above the threshold 1, then NaN: 1.0 = the true leaf, 2.0 = the false leaf.
    let x = [0.0, 1.0, 2.0, f32::NAN];
    for (mode, want) in [
        ("BRANCH_LEQ", [1.0, 1.0, 2.0, 2.0]),
        ("BRANCH_LT", [1.0, 2.0, 2.0, 2.0]),
        ("BRANCH_GTE", [2.0, 1.0, 1.0, 2.0]),
        ("BRANCH_GT", [2.0, 2.0, 1.0, 2.0]),
        ("BRANCH_EQ", [2.0, 1.0, 2.0, 2.0]),
        ("BRANCH_NEQ", [1.0, 2.0, 1.0, 1.0]),
    ] {
        assert_eq!(regress(stump(mode, 0), 1, &x), want, "{mode}");
        assert_eq!(regress(stump(mode, 1), 1, &x)[3], 1.0, "{mode}: NaN goes true when tracked");
    }
}

/// Three stumps on feature 0 at 0 (x = -1 takes leaves 1, 2, 6; x = 1 takes 4, 5, 3), base value 10.
fn three_stumps(aggregate: &str, post: &str) -> Vec<AttributeProto> {
    let mut rows: Vec<NodeRow> = Vec::new();
    for tree in 0..3 {
        rows.extend([
            (tree, 0, 0, "BRANCH_LEQ", 0.0, 1, 2, 0),
            (tree, 1, 0, "LEAF", 0.0, 0, 0, 0),
            (tree, 2, 0, "LEAF", 0.0, 0, 0, 0),
        ]);
    }
    let mut attrs = node_attrs(&rows);
    let votes = [(0, 1, 0, 1.0), (0, 2, 0, 4.0), (1, 1, 0, 2.0), (1, 2, 0, 5.0), (2, 1, 0, 6.0), (2, 2, 0, 3.0)];
    attrs.extend(vote_attrs("target", &votes));
    attrs.extend([int("n_targets", 1), floats("base_values", &[10.0]), string("aggregate_function", aggregate)]);
    attrs.push(string("post_transform", post));
    attrs
}

#[test]
fn aggregates_combine_trees_then_add_the_base_value() {
    for (aggregate, want) in
        [("SUM", [19.0, 22.0]), ("AVERAGE", [13.0, 14.0]), ("MIN", [11.0, 13.0]), ("MAX", [16.0, 15.0])]
    {
        assert_eq!(regress(three_stumps(aggregate, "NONE"), 1, &[-1.0, 1.0]), want, "{aggregate}");
    }
    // A single-target regressor ignores LOGISTIC and SOFTMAX, as onnxruntime does.
    assert_eq!(regress(three_stumps("SUM", "LOGISTIC"), 1, &[-1.0, 1.0]), [19.0, 22.0]);
    assert_eq!(regress(three_stumps("SUM", "SOFTMAX"), 1, &[-1.0, 1.0]), [19.0, 22.0]);
}

#[test]
fn post_transforms_on_two_targets() {
    // One leaf voting 0 (or 0.5) for target 0 and ln 3 (or 0.75) for target 1.
    let attrs = |post: &str| {
        let (a, b) = if post == "PROBIT" { (0.5, 0.75) } else { (0.0, 3f32.ln()) };
        let mut attrs = node_attrs(&[(0, 0, 0, "LEAF", 0.0, 0, 0, 0)]);
        attrs.extend(vote_attrs("target", &[(0, 0, 0, a), (0, 0, 1, b)]));
        attrs.extend([int("n_targets", 2), string("post_transform", post)]);
        attrs
    };
    let near = |got: Vec<f32>, want: [f32; 2], post: &str| {
        assert!(got.iter().zip(want).all(|(&g, w)| (g - w).abs() < 1e-6), "{post}: {got:?} vs {want:?}");
    };
    near(regress(attrs("NONE"), 1, &[0.0]), [0.0, 3f32.ln()], "NONE");
    near(regress(attrs("LOGISTIC"), 1, &[0.0]), [0.5, 0.75], "LOGISTIC");
    near(regress(attrs("SOFTMAX"), 1, &[0.0]), [0.25, 0.75], "SOFTMAX");
    near(regress(attrs("SOFTMAX_ZERO"), 1, &[0.0]), [0.0, 1.0], "SOFTMAX_ZERO");
    let probit = regress(attrs("PROBIT"), 1, &[0.0]);
    assert!(probit[0] == 0.0 && (probit[1] - 0.6745).abs() < 2e-3, "PROBIT: {probit:?}");
}

#[test]
fn binary_classifier_with_one_score_writes_both_columns() {
    // XGBoost's layout: every vote for class 0, one base value, LOGISTIC.
    let mut attrs = node_attrs(&[
        (0, 0, 0, "BRANCH_LT", 0.0, 1, 2, 0),
        (0, 1, 0, "LEAF", 0.0, 0, 0, 0),
        (0, 2, 0, "LEAF", 0.0, 0, 0, 0),
    ]);
    attrs.extend(vote_attrs("class", &[(0, 1, 0, -2.0), (0, 2, 0, 1.0)]));
    attrs.extend([
        ints("classlabels_int64s", &[0, 1]),
        floats("base_values", &[0.5]),
        string("post_transform", "LOGISTIC"),
    ]);
    let engine = TreeEngine::from_graph(&tree_graph("TreeEnsembleClassifier", 1, 1, attrs)).expect("loads");
    let out = engine.run(vec![Shaped::new(vec![2, 1], TensorData::F32(vec![-1.0, 1.0]))]).expect("runs");
    assert_eq!(out[0].data, TensorData::I64(vec![0, 1]));
    let logistic = |x: f32| 1.0 / (1.0 + (-x).exp());
    let want = [logistic(1.5), logistic(-1.5), logistic(-1.5), logistic(1.5)];
    assert!(f32s(out[1].data.clone()).iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6));
}

// --- malformed attributes ----------------------------------------------------------------------------------------

/// The load error of a regressor (or classifier) built from `attrs`, which must be [`EngineError::Model`].
fn load_error(op: &str, attrs: Vec<AttributeProto>) -> String {
    match TreeEngine::from_graph(&tree_graph(op, 1, 2, attrs)) {
        Err(EngineError::Model(message)) => message,
        Err(other) => panic!("expected a model error, got {other}"),
        Ok(_) => panic!("a malformed ensemble loaded"),
    }
}

/// `stump("BRANCH_LEQ")` with attribute `name` replaced.
fn with(name: &str, replacement: AttributeProto) -> Vec<AttributeProto> {
    let mut attrs: Vec<_> = stump("BRANCH_LEQ", 0).into_iter().filter(|a| a.name != name).collect();
    attrs.push(replacement);
    attrs
}

#[test]
fn malformed_attributes_are_errors_naming_them() {
    let regressor = |attrs| load_error("TreeEnsembleRegressor", attrs);
    let cycle = node_attrs(&[
        (0, 0, 0, "BRANCH_LEQ", 0.5, 1, 2, 0),
        (0, 1, 1, "BRANCH_LEQ", 0.5, 0, 2, 0),
        (0, 2, 0, "LEAF", 0.0, 0, 0, 0),
    ]);
    let split = node_attrs(&[
        (0, 0, 0, "LEAF", 0.0, 0, 0, 0),
        (1, 0, 0, "LEAF", 0.0, 0, 0, 0),
        (0, 1, 0, "LEAF", 0.0, 0, 0, 0),
    ]);
    let with_votes = |mut nodes: Vec<AttributeProto>| {
        nodes.extend(vote_attrs("target", &[(0, 0, 0, 1.0)]));
        nodes.push(int("n_targets", 1));
        nodes
    };
    for (attrs, needle) in [
        (with("nodes_truenodeids", ints("nodes_truenodeids", &[7, 0, 0])), "nodes_truenodeids"),
        (with("nodes_falsenodeids", ints("nodes_falsenodeids", &[-1, 0, 0])), "nodes_falsenodeids"),
        (with("nodes_truenodeids", ints("nodes_truenodeids", &[0, 0, 0])), "cycle"),
        (with_votes(cycle), "cycle"),
        (with("nodes_modes", strings("nodes_modes", &["BRANCH_XX", "LEAF", "LEAF"])), "nodes_modes"),
        (with("nodes_nodeids", ints("nodes_nodeids", &[0, 1, 1])), "appears twice"),
        (with("nodes_nodeids", ints("nodes_nodeids", &[1, 0, 2])), "not its root 0"),
        (with_votes(split), "not listed together"),
        (with("nodes_featureids", ints("nodes_featureids", &[0, 0])), "nodes_featureids"),
        (with("nodes_featureids", ints("nodes_featureids", &[5, 0, 0])), "nodes_featureids"),
        (with("nodes_featureids", ints("nodes_featureids", &[-3, 0, 0])), "nodes_featureids"),
        (with("target_ids", ints("target_ids", &[0, 1])), "target_ids"),
        (with("target_nodeids", ints("target_nodeids", &[1, 9])), "target_nodeids"),
        (with("target_weights", floats("target_weights", &[1.0])), "target_weights"),
        (with("base_values", floats("base_values", &[1.0, 2.0])), "base_values"),
        (with("n_targets", int("n_targets", 0)), "n_targets"),
        (with("post_transform", string("post_transform", "SQUASH")), "post_transform"),
        (with("aggregate_function", string("aggregate_function", "MEDIAN")), "aggregate_function"),
        (with("nodes_values_as_tensor", doubles("nodes_values_as_tensor", &[1.0, 0.0, 0.0])), "both given"),
        (with("nodes_treeids", floats("nodes_treeids", &[0.0, 0.0, 0.0])), "nodes_treeids"),
        (with("nodes_treeids", ints("nodes_treeids", &[])), "nodes_treeids"),
    ] {
        let message = regressor(attrs);
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let classifier = |labels: AttributeProto| {
        let mut attrs: Vec<_> = stump("BRANCH_LEQ", 0)
            .into_iter()
            .filter(|a| !a.name.starts_with("target") && a.name != "n_targets")
            .collect();
        attrs.extend(vote_attrs("class", &[(0, 1, 0, 1.0)]));
        attrs.push(labels);
        load_error("TreeEnsembleClassifier", attrs)
    };
    assert!(classifier(ints("classlabels_int64s", &[4])).contains("two class labels"));
    assert!(classifier(ints("classlabels_ints", &[4, 5])).contains("exactly one"));
}
