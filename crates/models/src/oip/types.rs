//! The OIP v2 message types, with serde matching the spec's JSON field names: [`InferRequest`], [`InferInput`],
//! [`RequestedOutput`], [`InferResponse`], [`InferOutput`], [`TensorMetadata`] and [`ModelMetadata`].
//!
//! Deserializing an [`InferInput`]/[`InferOutput`] through serde checks the data like [`super::decode_request`]
//! does but cannot read binary data; use [`super::decode_request`]/[`super::decode_response`] for bodies.

use serde::{Deserialize, Serialize};

use super::Parameters;
use super::datatype::Datatype;
use super::json::RawTensor;
use super::tensor::TensorData;

/// One tensor of a request or response, its data decoded and checked against shape and datatype. The protocol's
/// request inputs and response outputs have the same form, so both are this type ([`InferInput`],
/// [`InferOutput`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTensor")]
pub struct Tensor {
    /// Tensor name, matched against the model's inputs.
    pub name: String,
    /// Concrete shape; its product equals `data.len()`.
    pub shape: Vec<u64>,
    /// Element type; equals `data.datatype()`.
    pub datatype: Datatype,
    /// Free-form parameters (`binary_data_size` is consumed by decoding and removed).
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    /// The elements, row-major.
    pub data: TensorData,
}

/// An output the client asks for, with per-output parameters such as `binary_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedOutput {
    /// Output name.
    pub name: String,
    /// Per-output parameters.
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
}

/// An inference request (`POST /v2/models/{m}/infer`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InferRequest {
    /// Request id, echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request parameters (e.g. `binary_data_output`).
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    /// Input tensors.
    pub inputs: Vec<InferInput>,
    /// Requested outputs; `None` = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestedOutput>>,
}

impl InferRequest {
    /// The request without its input tensors: what answering needs (id, parameters, requested outputs), cheap
    /// to keep while the inputs move on to the engine.
    pub fn without_inputs(&self) -> InferRequest {
        InferRequest {
            id: self.id.clone(),
            parameters: self.parameters.clone(),
            inputs: Vec::new(),
            outputs: self.outputs.clone(),
        }
    }

    /// Whether output `name` should go back in binary form: the output's own `binary_data` parameter if it has
    /// one, else the request's `binary_data_output`, else false.
    pub fn wants_binary_output(&self, name: &str) -> bool {
        let own = self.outputs.iter().flatten().find(|o| o.name == name).and_then(|o| o.parameters.get("binary_data"));
        own.or_else(|| self.parameters.get("binary_data_output")).and_then(serde_json::Value::as_bool).unwrap_or(false)
    }
}

/// An input tensor of an inference request.
pub type InferInput = Tensor;

/// An output tensor of an inference response.
pub type InferOutput = Tensor;

impl Tensor {
    /// A tensor whose shape is given and whose datatype is taken from `data`.
    pub fn new(name: impl Into<String>, shape: Vec<u64>, data: TensorData) -> Self {
        Self { name: name.into(), shape, datatype: data.datatype(), parameters: Parameters::new(), data }
    }
}

/// An inference response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InferResponse {
    /// The model's name. Defaults to empty when absent (the shipped `*.expected.json` fixtures omit it).
    #[serde(default)]
    pub model_name: String,
    /// The model's version, if versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The request's id, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Response parameters.
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    /// Output tensors.
    pub outputs: Vec<InferOutput>,
}

/// A tensor in model metadata; `-1` marks a dynamic dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorMetadata {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub datatype: Datatype,
    /// Shape, `-1` for any size.
    pub shape: Vec<i64>,
}

/// Model metadata (`GET /v2/models/{m}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Model name.
    pub name: String,
    /// Available versions; omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Platform, e.g. `onnx_onnxv1`.
    pub platform: String,
    /// Inputs.
    pub inputs: Vec<TensorMetadata>,
    /// Outputs.
    pub outputs: Vec<TensorMetadata>,
}
