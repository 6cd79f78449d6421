//! Open Inference Protocol v2 codec, pure (no I/O, no tokio): the message types, the 13 datatypes, typed tensor
//! data, decoding request bodies (JSON and Triton's binary data extension) with errors that name the tensor and
//! say what was expected, encoding responses, and validating a request against a model's signature.
//!
//! The HTTP route owns headers: it passes `Inference-Header-Content-Length` to [`decode_request`] as `header_len`,
//! sets it from [`encode_response`]'s second value, and answers an [`OipError`] with [`OipError::status`] and
//! `{"error": "<message>"}`.
//!
//! # Layout
//! - `datatype.rs`: [`Datatype`], wire names, element sizes, [`UnknownDatatype`].
//! - `f16.rs`: [`f16_to_f32`] / [`f32_to_f16`], half precision by hand.
//! - `tensor.rs`: [`TensorData`] and its little-endian binary layout.
//! - `values.rs`: JSON `data` ↔ [`TensorData`] (flattening, range checks, BYTES as strings or `{"b64"}`).
//! - `types.rs`: [`InferRequest`], [`InferInput`], [`RequestedOutput`], [`InferResponse`], [`InferOutput`],
//!   [`TensorMetadata`], [`ModelMetadata`].
//! - `json.rs`: a tensor as sent, and its checked conversion (JSON or binary data).
//! - `binary.rs`: whole bodies: [`decode_request`], [`decode_response`], [`encode_response`], [`encode_request`].
//! - `signature.rs`: [`Signature`] validation.
//! - `error.rs`: [`OipError`] and its HTTP status.
//! - `tests.rs`: round trips for every datatype, the shipped fixtures, metadata serde.
//! - `tests_errors.rs`: a corpus of bad requests, signature mismatches, no-panic proptests.

mod binary;
mod datatype;
mod error;
mod f16;
mod json;
mod signature;
mod tensor;
mod types;
mod values;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;

pub use binary::{decode_request, decode_request_with, decode_response, encode_request, encode_response};
pub use datatype::{Datatype, UnknownDatatype};
pub use error::{OipError, fmt_shape};
pub use f16::{f16_to_f32, f32_to_f16};
pub use signature::Signature;
pub use tensor::TensorData;
pub use types::{
    InferInput, InferOutput, InferRequest, InferResponse, ModelMetadata, RequestedOutput, Tensor, TensorMetadata,
};

/// Free-form `parameters` of a request, response or tensor.
pub type Parameters = serde_json::Map<String, serde_json::Value>;

/// Size limits applied while decoding; exceeding one is [`OipError::TooLarge`] (HTTP 413).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single BYTES element, in bytes.
    pub max_element_bytes: usize,
    /// Largest tensor, in bytes of its binary encoding.
    pub max_tensor_bytes: usize,
}

impl Default for Limits {
    /// 64 MiB per BYTES element and 256 MiB per tensor.
    fn default() -> Self {
        Self { max_element_bytes: 64 << 20, max_tensor_bytes: 256 << 20 }
    }
}
