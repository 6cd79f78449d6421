//! What people send to `/function/{name}` for a model, told apart by content: an OIP v2 body (JSON, or with the
//! binary extension), raw PNG/JPEG bytes, base64 text of an image (seed 002's client), a JSON string holding
//! base64, a JSON array of numbers (the model's one input, the batch dimension optional), or KServe v1's
//! `{"instances": [...]}`. Pure: no engine, no I/O.

use serde_json::{Value, json};

use super::ServeError;
use crate::oip::{InferRequest, Limits, TensorMetadata, decode_request_with};

/// A request body, classified.
#[derive(Debug)]
pub enum Body {
    /// An inference request, as sent or built from a JSON array.
    Tensors {
        /// The request.
        request: InferRequest,
        /// Whether the caller spoke OIP v2 (answer in kind) or sent a bare array (answer with predictions).
        oip: bool,
    },
    /// Image bytes: raw PNG/JPEG, or base64 text of them.
    Image(Vec<u8>),
}

/// Classifies `body`. `header_len` is the `Inference-Header-Content-Length` header; `input` is the model's
/// input when it has exactly one (needed for bare arrays).
pub fn classify(
    body: &[u8],
    header_len: Option<usize>,
    input: Option<&TensorMetadata>,
    limits: &Limits,
) -> Result<Body, ServeError> {
    if header_len.is_some() {
        return Ok(Body::Tensors { request: decode_request_with(body, header_len, limits)?, oip: true });
    }
    if body.starts_with(b"\x89PNG") || body.starts_with(b"\xFF\xD8\xFF") {
        return Ok(Body::Image(body.to_vec()));
    }
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(ServeError::Input(
            "the body is empty: send an image, a JSON array of numbers, or an inference request".into(),
        )),
        Some(b'{') => object(body, input, limits),
        Some(b'[') => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| ServeError::Input(format!("the body is not valid JSON: {e}")))?;
            Ok(Body::Tensors { request: array_request(value, input, limits)?, oip: false })
        }
        Some(b'"') => match serde_json::from_slice::<Value>(body) {
            Ok(Value::String(text)) => Ok(Body::Image(text.into_bytes())),
            _ => Err(ServeError::Input("the body is not a valid JSON string".into())),
        },
        Some(_) => Ok(Body::Image(body.to_vec())),
    }
}

/// A JSON object: an OIP v2 request, or KServe v1 `{"instances": [...]}`.
fn object(body: &[u8], input: Option<&TensorMetadata>, limits: &Limits) -> Result<Body, ServeError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ServeError::Input(format!("the body is not valid JSON: {e}")))?;
    if value.get("inputs").is_some() {
        return Ok(Body::Tensors { request: decode_request_with(body, None, limits)?, oip: true });
    }
    if let Some(instances) = value.get("instances") {
        return Ok(Body::Tensors { request: array_request(instances.clone(), input, limits)?, oip: false });
    }
    Err(ServeError::Input(
        "a JSON object must be an inference request ({\"inputs\": [...]}) or {\"instances\": [...]}".into(),
    ))
}

/// An inference request for the model's one input from a (nested) JSON array; the batch dimension is added
/// when the array has one dimension fewer than the model's input.
fn array_request(value: Value, input: Option<&TensorMetadata>, limits: &Limits) -> Result<InferRequest, ServeError> {
    let Some(input) = input else {
        return Err(ServeError::Input(
            "this model takes several inputs: send an inference request naming each ({\"inputs\": [...]})".into(),
        ));
    };
    let mut shape = Vec::new();
    let mut cursor = &value;
    while let Value::Array(items) = cursor {
        shape.push(items.len() as u64);
        match items.first() {
            Some(first) => cursor = first,
            None => break,
        }
    }
    if shape.len() + 1 == input.shape.len() {
        shape.insert(0, 1);
    }
    let request = json!({
        "inputs": [{ "name": input.name, "datatype": input.datatype.as_str(), "shape": shape, "data": value }]
    });
    let bytes = serde_json::to_vec(&request).map_err(|e| ServeError::Input(e.to_string()))?;
    Ok(decode_request_with(&bytes, None, limits)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oip::{Datatype, TensorData};

    fn meta() -> TensorMetadata {
        TensorMetadata { name: "input".into(), datatype: Datatype::F32, shape: vec![-1, 2, 2] }
    }

    fn classify_ok(body: &[u8]) -> Body {
        classify(body, None, Some(&meta()), &Limits::default()).expect("classifies")
    }

    #[test]
    fn each_form_is_recognised() {
        assert!(matches!(classify_ok(b"\x89PNG\r\n\x1a\n...."), Body::Image(_)));
        assert!(matches!(classify_ok(b"\xFF\xD8\xFF\xE0...."), Body::Image(_)));
        assert!(matches!(classify_ok(b"iVBORw0KGgo="), Body::Image(b) if b == b"iVBORw0KGgo="));
        assert!(matches!(classify_ok(b"\"iVBORw0KGgo=\""), Body::Image(b) if b == b"iVBORw0KGgo="));
        let Body::Tensors { request, oip: false } = classify_ok(b" [[1, 2], [3, 4]]") else { panic!("array") };
        assert_eq!(request.inputs[0].shape, [1, 2, 2], "the batch dimension is added");
        assert_eq!(request.inputs[0].data, TensorData::F32(vec![1.0, 2.0, 3.0, 4.0]));
        let Body::Tensors { request, oip: false } = classify_ok(b"{\"instances\": [[[1,2],[3,4]],[[5,6],[7,8]]]}")
        else {
            panic!("instances")
        };
        assert_eq!(request.inputs[0].shape, [2, 2, 2]);
        let oip = br#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,2],"data":[1,2,3,4]}]}"#;
        assert!(matches!(classify_ok(oip), Body::Tensors { oip: true, .. }));
    }

    #[test]
    fn bad_bodies_say_what_to_send() {
        let limits = Limits::default();
        for (body, status, needle) in [
            (&b""[..], 400, "empty"),
            (b"{\"x\": 1}", 400, "inference request"),
            (b"[[1, 2], [3]]", 400, "elements"),
            (b"[[1, \"a\"], [3, 4]]", 400, "input"),
            (b"[1, 2", 400, "not valid JSON"),
        ] {
            let err = classify(body, None, Some(&meta()), &limits).expect_err("refused");
            assert_eq!(err.status(), status, "{err}");
            assert!(err.to_string().contains(needle), "{needle:?} in {err}");
        }
        let err = classify(b"[1]", None, None, &limits).expect_err("several inputs");
        assert!(err.to_string().contains("several inputs"), "{err}");
    }
}
