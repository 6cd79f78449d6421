//! [`OipError`]: every way a request can fail to decode or to match a model, each naming the tensor and saying
//! what was expected and what arrived, and its HTTP status ([`OipError::status`]: 413 for size limits, else 400).

use super::datatype::{Datatype, UnknownDatatype};

/// Formats a shape the way error messages show it: `[1,1,28,28]`.
pub fn fmt_shape<T: std::fmt::Display>(shape: &[T]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// A request (or response) that cannot be decoded, or that does not fit the model's signature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OipError {
    /// The JSON (header) is not an inference request/response at all.
    #[error("body is not a valid inference request: {0}")]
    Json(String),
    /// `Inference-Header-Content-Length` points past the end of the body.
    #[error("Inference-Header-Content-Length is {header_len} but the body has only {body_len} bytes")]
    HeaderLength {
        /// The header's value.
        header_len: usize,
        /// The body's length.
        body_len: usize,
    },
    /// A tensor names a datatype that is not one of the 13.
    #[error("input \"{input}\": {error}")]
    Datatype {
        /// The tensor's name.
        input: String,
        /// What was wrong.
        error: UnknownDatatype,
    },
    /// A request shape has a negative dimension (only model metadata may use -1).
    #[error("input \"{input}\": shape {} has a negative dimension; send a concrete shape", fmt_shape(.shape))]
    NegativeDim {
        /// The tensor's name.
        input: String,
        /// The shape as sent.
        shape: Vec<i64>,
    },
    /// The shape's element count does not fit in 64 bits.
    #[error("input \"{input}\": shape {} has too many elements", fmt_shape(.shape))]
    ShapeOverflow {
        /// The tensor's name.
        input: String,
        /// The shape as sent.
        shape: Vec<u64>,
    },
    /// The data holds a different number of elements than the shape needs.
    #[error("input \"{input}\": shape {} needs {expected} elements, got {got}", fmt_shape(.shape))]
    ElementCount {
        /// The tensor's name.
        input: String,
        /// The shape as sent.
        shape: Vec<u64>,
        /// The product of the shape.
        expected: u64,
        /// How many elements the data holds.
        got: u64,
    },
    /// One element of the JSON data does not fit the datatype.
    #[error("input \"{input}\": element {index} is not a valid {datatype}: {reason}")]
    Element {
        /// The tensor's name.
        input: String,
        /// Position in the flattened, row-major data.
        index: usize,
        /// The tensor's datatype.
        datatype: Datatype,
        /// What is wrong with the value.
        reason: String,
    },
    /// Neither `data` nor a `binary_data_size` parameter.
    #[error("input \"{input}\": has neither \"data\" nor a \"binary_data_size\" parameter")]
    MissingData {
        /// The tensor's name.
        input: String,
    },
    /// Both `data` and a `binary_data_size` parameter.
    #[error("input \"{input}\": has both \"data\" and a \"binary_data_size\" parameter; send one")]
    BothData {
        /// The tensor's name.
        input: String,
    },
    /// A parameter this codec reads has the wrong type.
    #[error("input \"{input}\": parameter \"{parameter}\" {reason}")]
    Parameter {
        /// The tensor's name.
        input: String,
        /// The parameter's name.
        parameter: String,
        /// What is wrong.
        reason: String,
    },
    /// The binary part of a tensor is malformed (sizes that do not add up, bad BOOL bytes, ...).
    #[error("input \"{input}\": {reason}")]
    Binary {
        /// The tensor's name.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// Bytes left over after the last binary tensor.
    #[error("{extra} bytes follow the last binary tensor; check binary_data_size and Inference-Header-Content-Length")]
    TrailingBytes {
        /// How many bytes were not claimed by any tensor.
        extra: usize,
    },
    /// A tensor or BYTES element exceeds a size limit (HTTP 413).
    #[error("input \"{input}\": {what} of {got} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The tensor's name.
        input: String,
        /// `"tensor"` or `"BYTES element"`.
        what: &'static str,
        /// The size found.
        got: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The same input name appears twice.
    #[error("input \"{input}\" appears more than once")]
    DuplicateInput {
        /// The tensor's name.
        input: String,
    },
    /// The request names an input the model does not have.
    #[error("input \"{input}\" is not an input of this model; its inputs are {known:?}")]
    UnknownInput {
        /// The tensor's name.
        input: String,
        /// The model's input names.
        known: Vec<String>,
    },
    /// The request lacks one of the model's inputs.
    #[error("input \"{input}\" is required by the model but missing from the request")]
    MissingInput {
        /// The model input's name.
        input: String,
    },
    /// The request asks for an output the model does not have.
    #[error("output \"{output}\" is not an output of this model; its outputs are {known:?}")]
    UnknownOutput {
        /// The requested name.
        output: String,
        /// The model's output names.
        known: Vec<String>,
    },
    /// The input's datatype differs from the model's.
    #[error("input \"{input}\": datatype {got} does not match the model's {expected}")]
    DatatypeMismatch {
        /// The tensor's name.
        input: String,
        /// The model's datatype.
        expected: Datatype,
        /// The request's datatype.
        got: Datatype,
    },
    /// The input's shape differs from the model's in rank or in a fixed dimension.
    #[error("input \"{input}\": expected shape {} (-1 = any size), got {}", fmt_shape(.expected), fmt_shape(.got))]
    ShapeMismatch {
        /// The tensor's name.
        input: String,
        /// The model's shape, -1 for dynamic dimensions.
        expected: Vec<i64>,
        /// The request's shape.
        got: Vec<u64>,
    },
}

impl OipError {
    /// The HTTP status for this error: 413 for [`OipError::TooLarge`], 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            _ => 400,
        }
    }
}
