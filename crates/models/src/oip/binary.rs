//! Whole bodies, with Triton's binary data extension: [`decode_request`]/[`decode_response`] split the JSON header
//! (`Inference-Header-Content-Length` bytes) from the raw tensors that follow it in tensor order, and
//! [`encode_response`]/[`encode_request`] write tensors chosen by the caller in binary form (with
//! `binary_data_size`, no `data`) and the rest as JSON.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Serialize;

use super::datatype::Datatype;
use super::error::OipError;
use super::json::{RawRequest, RawResponse};
use super::tensor::TensorData;
use super::types::{InferRequest, InferResponse, RequestedOutput};
use super::{Limits, Parameters};

/// The bytes after the JSON header, handed out tensor by tensor.
pub(crate) struct BinaryCursor<'a> {
    rest: &'a [u8],
    present: bool,
}

impl<'a> BinaryCursor<'a> {
    /// No binary part (no `Inference-Header-Content-Length`).
    pub(crate) fn none() -> Self {
        Self { rest: &[], present: false }
    }

    /// Takes the next `size` bytes for tensor `input`.
    pub(crate) fn take(&mut self, input: &str, size: u64) -> Result<&'a [u8], OipError> {
        if !self.present {
            let reason = "has binary_data_size but the body has no binary part (send Inference-Header-Content-Length)";
            return Err(OipError::Binary { input: input.to_string(), reason: reason.into() });
        }
        let n = usize::try_from(size).ok().filter(|&n| n <= self.rest.len()).ok_or_else(|| OipError::Binary {
            input: input.to_string(),
            reason: format!("binary_data_size is {size} but only {} bytes of binary data remain", self.rest.len()),
        })?;
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn finish(self) -> Result<(), OipError> {
        if self.rest.is_empty() { Ok(()) } else { Err(OipError::TrailingBytes { extra: self.rest.len() }) }
    }
}

fn split(body: &[u8], header_len: Option<usize>) -> Result<(&[u8], BinaryCursor<'_>), OipError> {
    match header_len {
        None => Ok((body, BinaryCursor::none())),
        Some(n) if n > body.len() => Err(OipError::HeaderLength { header_len: n, body_len: body.len() }),
        Some(n) => {
            let (header, rest) = body.split_at(n);
            Ok((header, BinaryCursor { rest, present: true }))
        }
    }
}

/// Decodes a request body with [`Limits::default`]; `header_len` is `Inference-Header-Content-Length`, if sent.
pub fn decode_request(body: &[u8], header_len: Option<usize>) -> Result<InferRequest, OipError> {
    decode_request_with(body, header_len, &Limits::default())
}

/// Decodes a request body: the JSON header, then the binary tensors of inputs carrying `binary_data_size`, whose
/// sizes must account for every byte. Each tensor's data is checked against its shape and datatype.
pub fn decode_request_with(body: &[u8], header_len: Option<usize>, limits: &Limits) -> Result<InferRequest, OipError> {
    let (header, mut binary) = split(body, header_len)?;
    let raw: RawRequest = serde_json::from_slice(header).map_err(|e| OipError::Json(e.to_string()))?;
    let mut seen = HashSet::new();
    let mut inputs = Vec::with_capacity(raw.inputs.len());
    for tensor in raw.inputs {
        let checked = tensor.check(&mut binary, limits)?;
        if !seen.insert(checked.name.clone()) {
            return Err(OipError::DuplicateInput { input: checked.name });
        }
        inputs.push(checked.into());
    }
    binary.finish()?;
    Ok(InferRequest { id: raw.id, parameters: raw.parameters, inputs, outputs: raw.outputs })
}

/// Decodes a response body (for clients and tests), binary outputs included.
pub fn decode_response(body: &[u8], header_len: Option<usize>) -> Result<InferResponse, OipError> {
    let (header, mut binary) = split(body, header_len)?;
    let raw: RawResponse = serde_json::from_slice(header).map_err(|e| OipError::Json(e.to_string()))?;
    let limits = Limits::default();
    let outputs = raw.outputs.into_iter().map(|t| t.check(&mut binary, &limits).map(Into::into));
    let outputs = outputs.collect::<Result<Vec<_>, _>>()?;
    binary.finish()?;
    Ok(InferResponse {
        model_name: raw.model_name,
        model_version: raw.model_version,
        id: raw.id,
        parameters: raw.parameters,
        outputs,
    })
}

/// A tensor as written: `data` omitted when it goes in the binary part.
#[derive(Serialize)]
struct WireTensor<'a> {
    name: &'a str,
    shape: &'a [u64],
    datatype: Datatype,
    #[serde(skip_serializing_if = "Parameters::is_empty")]
    parameters: Cow<'a, Parameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a TensorData>,
}

/// Splits tensors into their JSON form and the concatenated binary part.
fn wire<'a>(
    tensors: impl Iterator<Item = (&'a str, &'a [u64], Datatype, &'a Parameters, &'a TensorData)>,
    binary: impl Fn(&str) -> bool,
) -> (Vec<WireTensor<'a>>, Vec<u8>) {
    let mut blob = Vec::new();
    let wires = tensors
        .map(|(name, shape, datatype, parameters, data)| {
            if !binary(name) {
                return WireTensor { name, shape, datatype, parameters: Cow::Borrowed(parameters), data: Some(data) };
            }
            let bytes = data.to_le_bytes();
            let mut parameters = parameters.clone();
            parameters.insert("binary_data_size".into(), bytes.len().into());
            blob.extend_from_slice(&bytes);
            WireTensor { name, shape, datatype, parameters: Cow::Owned(parameters), data: None }
        })
        .collect();
    (wires, blob)
}

/// Header + binary part; the header length is `Some` only when a binary part exists.
fn assemble(header: &impl Serialize, blob: Vec<u8>) -> (Vec<u8>, Option<usize>) {
    // Serializing these types cannot fail: every map key is a string and no Serialize impl returns an error.
    let mut body = serde_json::to_vec(header).unwrap_or_default();
    if blob.is_empty() {
        return (body, None);
    }
    let header_len = body.len();
    body.extend_from_slice(&blob);
    (body, Some(header_len))
}

/// Encodes a response: outputs for which `binary(name)` is true go in the binary part (typically
/// `|n| request.wants_binary_output(n)`). Returns the body and, when any output is binary, the value for
/// `Inference-Header-Content-Length`.
pub fn encode_response(resp: &InferResponse, binary: impl Fn(&str) -> bool) -> (Vec<u8>, Option<usize>) {
    #[derive(Serialize)]
    struct Wire<'a> {
        model_name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        model_version: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        #[serde(skip_serializing_if = "Parameters::is_empty")]
        parameters: &'a Parameters,
        outputs: Vec<WireTensor<'a>>,
    }
    let tensors = resp.outputs.iter().map(|o| (o.name.as_str(), &o.shape[..], o.datatype, &o.parameters, &o.data));
    let (outputs, blob) = wire(tensors, binary);
    let header = Wire {
        model_name: &resp.model_name,
        model_version: resp.model_version.as_deref(),
        id: resp.id.as_deref(),
        parameters: &resp.parameters,
        outputs,
    };
    assemble(&header, blob)
}

/// Encodes a request (for clients and tests): inputs for which `binary(name)` is true go in the binary part.
pub fn encode_request(req: &InferRequest, binary: impl Fn(&str) -> bool) -> (Vec<u8>, Option<usize>) {
    #[derive(Serialize)]
    struct Wire<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        #[serde(skip_serializing_if = "Parameters::is_empty")]
        parameters: &'a Parameters,
        inputs: Vec<WireTensor<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        outputs: Option<&'a [RequestedOutput]>,
    }
    let tensors = req.inputs.iter().map(|i| (i.name.as_str(), &i.shape[..], i.datatype, &i.parameters, &i.data));
    let (inputs, blob) = wire(tensors, binary);
    let header = Wire { id: req.id.as_deref(), parameters: &req.parameters, inputs, outputs: req.outputs.as_deref() };
    assemble(&header, blob)
}
