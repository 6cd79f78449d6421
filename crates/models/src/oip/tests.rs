//! Round trips for every datatype (JSON and binary), the shipped fixtures, and signature validation.

use serde_json::json;

use super::*;

fn sample(dt: Datatype) -> TensorData {
    match dt {
        Datatype::Bool => TensorData::Bool(vec![true, false, true, true]),
        Datatype::U8 => TensorData::U8(vec![0, 1, 200, u8::MAX]),
        Datatype::U16 => TensorData::U16(vec![0, 1, 40_000, u16::MAX]),
        Datatype::U32 => TensorData::U32(vec![0, 1, 3_000_000_000, u32::MAX]),
        Datatype::U64 => TensorData::U64(vec![0, 1, 1 << 60, u64::MAX]),
        Datatype::I8 => TensorData::I8(vec![i8::MIN, -1, 0, i8::MAX]),
        Datatype::I16 => TensorData::I16(vec![i16::MIN, -1, 0, i16::MAX]),
        Datatype::I32 => TensorData::I32(vec![i32::MIN, -1, 0, i32::MAX]),
        Datatype::I64 => TensorData::I64(vec![i64::MIN, -1, 0, i64::MAX]),
        Datatype::F16 => TensorData::F16(vec![0x3c00, 0xc000, 0x7bff, 0x0001]),
        Datatype::F32 => TensorData::F32(vec![0.1, -1.5e-40, f32::MAX, 3.0]),
        Datatype::F64 => TensorData::F64(vec![0.1, -1e-310, f64::MAX, 3.0]),
        Datatype::Bytes => TensorData::Bytes(vec![b"hi".to_vec(), vec![], vec![0xff, 0, 0xfe], "é".into()]),
    }
}

fn request_with_all_types() -> InferRequest {
    let inputs = Datatype::ALL
        .into_iter()
        .map(|dt| InferInput {
            name: format!("in_{dt}"),
            shape: vec![2, 2],
            datatype: dt,
            parameters: Parameters::new(),
            data: sample(dt),
        })
        .collect();
    InferRequest { id: Some("r1".into()), parameters: Parameters::new(), inputs, outputs: None }
}

fn response_with_all_types() -> InferResponse {
    let outputs = Datatype::ALL.into_iter().map(|dt| InferOutput::new(format!("out_{dt}"), vec![4], sample(dt)));
    InferResponse {
        model_name: "m".into(),
        model_version: Some("1".into()),
        id: None,
        outputs: outputs.collect(),
        ..Default::default()
    }
}

#[test]
fn every_datatype_round_trips_through_json() {
    let req = request_with_all_types();
    let (body, header_len) = encode_request(&req, |_| false);
    assert_eq!(header_len, None);
    assert_eq!(decode_request(&body, None), Ok(req.clone()));
    // The serde path agrees with the codec.
    assert_eq!(serde_json::from_slice::<InferRequest>(&body).ok(), Some(req));
    let resp = response_with_all_types();
    let (body, header_len) = encode_response(&resp, |_| false);
    assert_eq!(header_len, None);
    assert_eq!(decode_response(&body, None), Ok(resp));
}

#[test]
fn every_datatype_round_trips_through_binary() {
    let req = request_with_all_types();
    let (body, header_len) = encode_request(&req, |_| true);
    assert!(header_len.is_some());
    assert_eq!(decode_request(&body, header_len), Ok(req.clone()));
    // Half binary, half JSON.
    let (body, header_len) = encode_request(&req, |n| n.ends_with('8') || n.ends_with("S"));
    assert_eq!(decode_request(&body, header_len), Ok(req));
    let resp = response_with_all_types();
    let (body, header_len) = encode_response(&resp, |_| true);
    assert_eq!(decode_response(&body, header_len), Ok(resp));
}

#[test]
fn binary_layout_is_little_endian_with_length_prefixed_bytes() {
    assert_eq!(TensorData::U16(vec![0x0102]).to_le_bytes(), [2, 1]);
    assert_eq!(TensorData::Bool(vec![true, false]).to_le_bytes(), [1, 0]);
    assert_eq!(TensorData::Bytes(vec![b"ab".to_vec()]).to_le_bytes(), [2, 0, 0, 0, b'a', b'b']);
    assert_eq!(TensorData::F32(vec![1.0]).to_le_bytes(), [0, 0, 0x80, 0x3f]);
}

#[test]
fn binary_output_selection_and_json_shape() {
    let req: InferRequest = serde_json::from_value(json!({
        "inputs": [],
        "parameters": {"binary_data_output": true},
        "outputs": [{"name": "a"}, {"name": "b", "parameters": {"binary_data": false}}]
    }))
    .unwrap_or_default();
    assert!(req.wants_binary_output("a") && !req.wants_binary_output("b") && req.wants_binary_output("c"));
    assert!(!InferRequest::default().wants_binary_output("a"));
    let resp = InferResponse {
        model_name: "m".into(),
        outputs: vec![
            InferOutput::new("a", vec![2], TensorData::F32(vec![1.0, 2.0])),
            InferOutput::new("b", vec![1], TensorData::Bytes(vec![vec![0xff]])),
        ],
        ..Default::default()
    };
    let (body, header_len) = encode_response(&resp, |n| req.wants_binary_output(n));
    let n = header_len.unwrap_or(0);
    assert_eq!(body.len(), n + 8);
    let header: serde_json::Value = serde_json::from_slice(&body[..n]).unwrap_or_default();
    assert_eq!(
        header,
        json!({"model_name": "m", "outputs": [
            {"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            {"name": "b", "shape": [1], "datatype": "BYTES", "data": [{"b64": "/w=="}]}
        ]})
    );
}

#[test]
fn nested_data_flattens_and_b64_and_id_are_optional() {
    let body = json!({"inputs": [
        {"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]},
        {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["hé", {"b64": "AAE="}]},
        {"name": "h", "shape": [1], "datatype": "FP16", "data": [0.5]},
        {"name": "i", "shape": [1], "datatype": "INT8", "data": [-3.0]}
    ]});
    let req = decode_request(body.to_string().as_bytes(), None);
    let req = req.unwrap_or_default();
    assert_eq!(req.id, None);
    assert_eq!(req.inputs[0].data, TensorData::I32(vec![1, 2, 3, 4]));
    assert_eq!(req.inputs[1].data, TensorData::Bytes(vec!["hé".into(), vec![0, 1]]));
    assert_eq!(req.inputs[2].data, TensorData::F16(vec![0x3800]));
    assert_eq!(req.inputs[3].data, TensorData::I8(vec![-3]));
}

fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/fixtures")
}

fn fixture_files(pred: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures_dir();
    let entries = std::fs::read_dir(&dir);
    assert!(entries.is_ok(), "fixture dir {} is missing", dir.display());
    let mut files: Vec<_> = entries
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok().filter(|n| pred(n)).map(|n| (n, e.path())))
        .map(|(n, p)| (n, std::fs::read(p).unwrap_or_default()))
        .collect();
    files.sort();
    files
}

fn mnist() -> Signature {
    let meta = |name: &str, shape: Vec<i64>| TensorMetadata { name: name.into(), datatype: Datatype::F32, shape };
    Signature::new(vec![meta("input", vec![-1, 1, 28, 28])], vec![meta("probabilities", vec![-1, 10])])
}

#[test]
fn shipped_request_fixtures_decode() {
    let files = fixture_files(|n| n.ends_with("_b1.json") || n.ends_with("_b8.json"));
    assert!(files.len() >= 9, "expected the shipped *_b1.json/*_b8.json fixtures, found {}", files.len());
    for (name, body) in &files {
        let req = decode_request(body, None);
        assert!(req.is_ok(), "{name}: {req:?}");
        for input in req.unwrap_or_default().inputs {
            assert_eq!(input.data.len() as u64, input.shape.iter().product::<u64>(), "{name}");
            assert_eq!(input.datatype, Datatype::F32, "{name}");
            let batch = if name.ends_with("_b8.json") { 8 } else { 1 };
            assert_eq!(input.shape.first(), Some(&batch), "{name}");
        }
    }
    let mnist_b1 = files.iter().find(|(n, _)| n == "mnist_cnn_b1.json").map(|(_, b)| b.clone()).unwrap_or_default();
    let req = decode_request(&mnist_b1, None).unwrap_or_default();
    assert_eq!(req.inputs.len(), 1);
    assert_eq!(req.inputs[0].shape, [1, 1, 28, 28]);
    assert_eq!(mnist().validate(&req), Ok(()));
    let b64 = fixture_files(|n| n == "faceblur_b64png.json");
    let req = decode_request(&b64[0].1, None).unwrap_or_default();
    assert_eq!(req.id.as_deref(), Some("faceblur-1"));
    assert!(matches!(&req.inputs[0].data, TensorData::Bytes(v) if v.len() == 1 && v[0].starts_with(b"iVBORw0KGgo")));
}

#[test]
fn shipped_expected_responses_parse() {
    let files = fixture_files(|n| n.ends_with("_b1.expected.json"));
    assert!(files.len() >= 4, "expected the shipped *_b1.expected.json fixtures, found {}", files.len());
    for (name, body) in &files {
        let resp = decode_response(body, None);
        assert!(resp.is_ok(), "{name}: {resp:?}");
        let resp = resp.unwrap_or_default();
        assert!(!resp.outputs.is_empty(), "{name}");
        assert_eq!(serde_json::from_slice::<InferResponse>(body).ok().as_ref(), Some(&resp), "{name}");
    }
    let mnist = files.iter().find(|(n, _)| n == "mnist_cnn_b1.expected.json").map(|(_, b)| b.clone());
    let resp = decode_response(&mnist.unwrap_or_default(), None).unwrap_or_default();
    let TensorData::F32(p) = &resp.outputs[0].data else { panic!("mnist output is not FP32") };
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i), Some(3));
}

#[test]
fn metadata_serde_uses_spec_names() {
    let meta = ModelMetadata {
        name: "mnist".into(),
        versions: vec![],
        platform: "onnx_onnxv1".into(),
        inputs: mnist().inputs,
        outputs: mnist().outputs,
    };
    let v = serde_json::to_value(&meta).unwrap_or_default();
    assert_eq!(v["inputs"][0], json!({"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}));
    assert!(v.get("versions").is_none());
    assert_eq!(serde_json::from_value::<ModelMetadata>(v).ok(), Some(meta));
}
