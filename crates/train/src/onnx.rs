//! A trained [`Model`] as an ONNX file, with the names and layout skl2onnx and onnxmltools give, so any ONNX
//! runtime (sedge's tree engine, onnxruntime) serves it: a regressor is one `ai.onnx.ml` `TreeEnsembleRegressor`
//! from `input` (FP32, `[N, features]`) to `variable` (FP32, `[N, 1]`); a binary classifier is a
//! `TreeEnsembleClassifier` with `post_transform: LOGISTIC` to `label` (INT64, `[N]`) and `probabilities` (FP32,
//! `[N, 2]`), whose second column is what [`Model::predict`] gives. (onnxruntime applies no logistic to a
//! single-target regressor, so a classifier it must be.)
//!
//! The protobuf types are tract-onnx's (generated from onnx.proto), encoded with prost, the crate they are made
//! for.

use prost::Message as _;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto,
    TypeProto, ValueInfoProto, type_proto,
};

use crate::gbdt::{Model, Node, Objective};

/// The graph's input name.
pub const INPUT: &str = "input";
/// The regressor's output name.
pub const OUTPUT: &str = "variable";
/// The classifier's label output (INT64, `[N]`).
pub const LABEL: &str = "label";
/// The classifier's probabilities output (FP32, `[N, 2]`: class 0, class 1).
pub const PROBABILITIES: &str = "probabilities";

/// The model as ONNX bytes; `metadata` becomes the model's `metadata_props` (feature names, metrics, …).
pub fn export(model: &Model, metadata: &[(String, String)]) -> Vec<u8> {
    let mut columns = Columns::default();
    for (t, tree) in model.trees.iter().enumerate() {
        for (id, node) in tree.nodes.iter().enumerate() {
            columns.node(t as i64, id as i64, node);
        }
    }
    let mut attributes = vec![
        ints("nodes_treeids", columns.tree),
        ints("nodes_nodeids", columns.id),
        ints("nodes_featureids", columns.feature),
        strings("nodes_modes", columns.mode),
        floats("nodes_values", columns.value),
        ints("nodes_truenodeids", columns.truth),
        ints("nodes_falsenodeids", columns.falsity),
        floats("base_values", vec![model.base_score]),
    ];
    let leaves = columns.leaf_weight.len();
    let (op_type, outputs) = match model.objective {
        Objective::Regression => {
            attributes.extend([
                ints("target_treeids", columns.leaf_tree),
                ints("target_nodeids", columns.leaf_node),
                ints("target_ids", vec![0; leaves]),
                floats("target_weights", columns.leaf_weight),
                int("n_targets", 1),
            ]);
            ("TreeEnsembleRegressor", vec![value(OUTPUT, DataType::Float, Some(1))])
        }
        Objective::Binary => {
            // XGBoost's binary export: every leaf votes for class 0, the logistic of the sum is class 1's
            // probability, and the runtime writes [1 − p, p].
            attributes.extend([
                ints("class_treeids", columns.leaf_tree),
                ints("class_nodeids", columns.leaf_node),
                ints("class_ids", vec![0; leaves]),
                floats("class_weights", columns.leaf_weight),
                ints("classlabels_int64s", vec![0, 1]),
                string("post_transform", "LOGISTIC"),
            ]);
            let outputs = vec![value(LABEL, DataType::Int64, None), value(PROBABILITIES, DataType::Float, Some(2))];
            ("TreeEnsembleClassifier", outputs)
        }
    };
    let node = NodeProto {
        input: vec![INPUT.into()],
        output: outputs.iter().map(|o| o.name.clone()).collect(),
        name: "trees".into(),
        op_type: op_type.into(),
        domain: "ai.onnx.ml".into(),
        attribute: attributes,
        ..Default::default()
    };
    let graph = GraphProto {
        node: vec![node],
        name: "sedge-gbdt".into(),
        input: vec![value(INPUT, DataType::Float, Some(model.features as i64))],
        output: outputs,
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto { domain: String::new(), version: 17 },
            OperatorSetIdProto { domain: "ai.onnx.ml".into(), version: 3 },
        ],
        producer_name: "sedge".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto { key: key.clone(), value: value.clone() })
            .collect(),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// The per-node attribute columns of a tree ensemble.
#[derive(Default)]
struct Columns {
    tree: Vec<i64>,
    id: Vec<i64>,
    feature: Vec<i64>,
    mode: Vec<String>,
    value: Vec<f32>,
    truth: Vec<i64>,
    falsity: Vec<i64>,
    leaf_tree: Vec<i64>,
    leaf_node: Vec<i64>,
    leaf_weight: Vec<f32>,
}

impl Columns {
    fn node(&mut self, tree: i64, id: i64, node: &Node) {
        self.tree.push(tree);
        self.id.push(id);
        match *node {
            Node::Split { feature, threshold, left, right } => {
                self.feature.push(feature as i64);
                self.mode.push("BRANCH_LT".into());
                self.value.push(threshold);
                self.truth.push(left as i64);
                self.falsity.push(right as i64);
            }
            Node::Leaf(weight) => {
                self.feature.push(0);
                self.mode.push("LEAF".into());
                self.value.push(0.0);
                self.truth.push(0);
                self.falsity.push(0);
                self.leaf_tree.push(tree);
                self.leaf_node.push(id);
                self.leaf_weight.push(weight);
            }
        }
    }
}

/// A `[N, width]` value of `elem`, or `[N]` without a width.
fn value(name: &str, elem: DataType, width: Option<i64>) -> ValueInfoProto {
    let mut dims = vec![dimension::Value::DimParam("N".into())];
    dims.extend(width.map(dimension::Value::DimValue));
    let dim = dims.into_iter().map(|v| Dimension { value: Some(v), ..Default::default() }).collect();
    let tensor = type_proto::Tensor { elem_type: elem as i32, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

fn attribute(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: kind as i32, ..Default::default() }
}

pub(crate) fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto { ints: values, ..attribute(name, AttributeType::Ints) }
}

pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { i: value, ..attribute(name, AttributeType::Int) }
}

fn floats(name: &str, values: Vec<f32>) -> AttributeProto {
    AttributeProto { floats: values, ..attribute(name, AttributeType::Floats) }
}

fn strings(name: &str, values: Vec<String>) -> AttributeProto {
    AttributeProto {
        strings: values.into_iter().map(String::into_bytes).collect(),
        ..attribute(name, AttributeType::Strings)
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { s: value.as_bytes().to_vec(), ..attribute(name, AttributeType::String) }
}
