//! The JSON side of decoding: [`RawTensor`] (a tensor exactly as sent) and its checked conversion into typed data,
//! reading the binary part when the tensor carries `binary_data_size`.

use serde::Deserialize;
use serde_json::Value;

use super::binary::BinaryCursor;
use super::datatype::Datatype;
use super::error::OipError;
use super::tensor::TensorData;
use super::types::{RequestedOutput, Tensor};
use super::{Limits, Parameters, values};

/// A tensor as it appears in the JSON, before any checks.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Parameters,
    #[serde(default)]
    data: Option<Value>,
}

/// A request as it appears in the JSON header.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRequest {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Parameters,
    pub(crate) inputs: Vec<RawTensor>,
    #[serde(default)]
    pub(crate) outputs: Option<Vec<RequestedOutput>>,
}

/// A response as it appears in the JSON header.
#[derive(Debug, Deserialize)]
pub(crate) struct RawResponse {
    #[serde(default)]
    pub(crate) model_name: String,
    #[serde(default)]
    pub(crate) model_version: Option<String>,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Parameters,
    pub(crate) outputs: Vec<RawTensor>,
}

/// A tensor after every check: shape product = element count, elements valid for the datatype.
pub(crate) struct Checked {
    pub(crate) name: String,
    pub(crate) shape: Vec<u64>,
    pub(crate) datatype: Datatype,
    pub(crate) parameters: Parameters,
    pub(crate) data: TensorData,
}

impl RawTensor {
    /// Checks the tensor and decodes its data from JSON or, given `binary_data_size`, from `binary`.
    pub(crate) fn check(mut self, binary: &mut BinaryCursor<'_>, limits: &Limits) -> Result<Checked, OipError> {
        let name = self.name;
        let datatype: Datatype =
            self.datatype.parse().map_err(|error| OipError::Datatype { input: name.clone(), error })?;
        let Ok(shape) = self.shape.iter().map(|&d| u64::try_from(d)).collect::<Result<Vec<u64>, _>>() else {
            return Err(OipError::NegativeDim { input: name, shape: self.shape });
        };
        let Some(count) = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)) else {
            return Err(OipError::ShapeOverflow { input: name, shape });
        };
        let too_large =
            |what, got: u64, limit: usize| OipError::TooLarge { input: name.clone(), what, got, limit: limit as u64 };
        let data = match (self.parameters.remove("binary_data_size"), self.data) {
            (Some(_), Some(_)) => return Err(OipError::BothData { input: name }),
            (None, None) => return Err(OipError::MissingData { input: name }),
            (Some(size), None) => {
                let Some(size) = size.as_u64() else {
                    return Err(OipError::Parameter {
                        input: name,
                        parameter: "binary_data_size".into(),
                        reason: format!("must be a non-negative integer, got {size}"),
                    });
                };
                if size > limits.max_tensor_bytes as u64 {
                    return Err(too_large("tensor", size, limits.max_tensor_bytes));
                }
                let bytes = binary.take(&name, size)?;
                TensorData::from_le_bytes(datatype, bytes, count)
                    .map_err(|reason| OipError::Binary { input: name.clone(), reason })?
            }
            (None, Some(json)) => {
                let flat = values::flatten(&json);
                if flat.len() as u64 != count {
                    return Err(OipError::ElementCount { input: name, shape, expected: count, got: flat.len() as u64 });
                }
                values::from_json(&name, datatype, &flat)?
            }
        };
        let biggest = match &data {
            TensorData::Bytes(elements) => elements.iter().map(Vec::len).max().unwrap_or(0),
            _ => 0,
        };
        if biggest > limits.max_element_bytes {
            return Err(too_large("BYTES element", biggest as u64, limits.max_element_bytes));
        }
        if data.byte_len() > limits.max_tensor_bytes {
            return Err(too_large("tensor", data.byte_len() as u64, limits.max_tensor_bytes));
        }
        Ok(Checked { name, shape, datatype, parameters: self.parameters, data })
    }
}

impl From<Checked> for Tensor {
    fn from(c: Checked) -> Self {
        Self { name: c.name, shape: c.shape, datatype: c.datatype, parameters: c.parameters, data: c.data }
    }
}

impl TryFrom<RawTensor> for Tensor {
    type Error = OipError;

    fn try_from(raw: RawTensor) -> Result<Self, OipError> {
        raw.check(&mut BinaryCursor::none(), &Limits::default()).map(Self::from)
    }
}
