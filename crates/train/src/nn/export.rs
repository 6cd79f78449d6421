//! A trained [`Net`] as an ONNX model (opset 13): input `input` (FP32, `[N, …the net's input shape]`), output
//! `probabilities` (FP32, `[N, classes]`, a final `Softmax`), the signature of the shipped `mnist_cnn.onnx`, so
//! any ONNX runtime serves it (sedge's tract engine, onnxruntime).
//!
//! One node per layer: `Sub` + `Mul` (standardize), `Gemm` with `transB = 1` (dense: the weights stay
//! `[out, in]`), `Conv` (3×3, pads 1), `MaxPool` (2×2, strides 2), `Relu`, `Flatten` (axis 1). Weights are
//! initializers named after their node.

use prost::Message as _;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto, type_proto,
};

use super::layers::Layer;
use super::net::Net;
use crate::onnx::{int, ints};

/// The graph's input name.
pub const INPUT: &str = "input";
/// The graph's output name.
pub const OUTPUT: &str = "probabilities";
/// The opset the graph is written for.
pub const OPSET: i64 = 13;

/// The model as ONNX bytes; `metadata` becomes the model's `metadata_props` (classes, metrics, …).
pub fn export(net: &Net, metadata: &[(String, String)]) -> Vec<u8> {
    let mut graph = Graph::default();
    let mut x = INPUT.to_string();
    for (i, layer) in net.layers.iter().enumerate() {
        x = graph.layer(i, layer, x);
    }
    graph.node("softmax", "Softmax", vec![x], OUTPUT.into(), vec![int("axis", 1)]);
    let mut input_dims = vec![None];
    input_dims.extend(net.input.iter().map(|d| Some(*d as i64)));
    let graph = GraphProto {
        node: graph.nodes,
        name: "sedge-nn".into(),
        initializer: graph.initializers,
        input: vec![value(INPUT, &input_dims)],
        output: vec![value(OUTPUT, &[None, Some(net.classes() as i64)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
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

/// The nodes and weights written so far.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    /// Appends layer `i` reading value `x`; returns the name of its output.
    fn layer(&mut self, i: usize, layer: &Layer, x: String) -> String {
        match layer {
            Layer::Standardize(s) => {
                let (mean, scale) = (
                    self.weight(i, "mean", &[s.mean.len()], &s.mean),
                    self.weight(i, "scale", &[s.scale.len()], &s.scale),
                );
                let centred = self.node(&format!("center{i}"), "Sub", vec![x, mean], format!("centred{i}"), vec![]);
                self.node(&format!("standardize{i}"), "Mul", vec![centred, scale], format!("standardized{i}"), vec![])
            }
            Layer::Dense(d) => {
                let w = self.weight(i, "weight", &[d.outputs, d.inputs], d.weights());
                let b = self.weight(i, "bias", &[d.outputs], d.bias());
                let attributes = vec![int("transB", 1)];
                self.node(&format!("dense{i}"), "Gemm", vec![x, w, b], format!("dense{i}_out"), attributes)
            }
            Layer::Conv2d(c) => {
                let w = self.weight(i, "weight", &[c.out_channels, c.in_channels, 3, 3], c.weights());
                let b = self.weight(i, "bias", &[c.out_channels], c.bias());
                let attributes =
                    vec![ints("kernel_shape", vec![3, 3]), ints("pads", vec![1, 1, 1, 1]), ints("strides", vec![1, 1])];
                self.node(&format!("conv{i}"), "Conv", vec![x, w, b], format!("conv{i}_out"), attributes)
            }
            Layer::MaxPool2(_) => {
                let attributes = vec![ints("kernel_shape", vec![2, 2]), ints("strides", vec![2, 2])];
                self.node(&format!("pool{i}"), "MaxPool", vec![x], format!("pool{i}_out"), attributes)
            }
            Layer::Relu => self.node(&format!("relu{i}"), "Relu", vec![x], format!("relu{i}_out"), vec![]),
            Layer::Flatten => {
                self.node(&format!("flatten{i}"), "Flatten", vec![x], format!("flatten{i}_out"), vec![int("axis", 1)])
            }
        }
    }

    /// Adds a node; returns its output's name.
    fn node(
        &mut self,
        name: &str,
        op: &str,
        inputs: Vec<String>,
        output: String,
        attribute: Vec<tract_onnx::pb::AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.clone()],
            name: name.into(),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        output
    }

    /// Adds an FP32 initializer `layer{i}_{what}`; returns its name.
    fn weight(&mut self, i: usize, what: &str, dims: &[usize], values: &[f32]) -> String {
        let name = format!("layer{i}_{what}");
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|d| *d as i64).collect(),
            data_type: DataType::Float as i32,
            float_data: values.to_vec(),
            name: name.clone(),
            ..Default::default()
        });
        name
    }
}

/// An FP32 value of the given dimensions; `None` is the symbolic batch `N`.
fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| {
            let v = d.map_or_else(|| dimension::Value::DimParam("N".into()), dimension::Value::DimValue);
            Dimension { value: Some(v), ..Default::default() }
        })
        .collect();
    let tensor = type_proto::Tensor { elem_type: DataType::Float as i32, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}
