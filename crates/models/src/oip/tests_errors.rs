//! A corpus of bad requests, each with the error (message and status) it must give, signature mismatches, and
//! proptests that arbitrary bytes never panic the decoders.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn input(name: &str, shape: serde_json::Value, dt: &str, data: serde_json::Value) -> serde_json::Value {
    json!({"inputs": [{"name": name, "shape": shape, "datatype": dt, "data": data}]})
}

fn err(body: &[u8], header_len: Option<usize>) -> OipError {
    match decode_request(body, header_len) {
        Ok(req) => panic!("decoded {req:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_json_requests() {
    let zeros = vec![0.0; 783];
    let sized = |size: serde_json::Value| json!({ "binary_data_size": size });
    let four = sized(json!(4));
    let one = json!({"name": "x", "shape": [1], "datatype": "FP32", "data": [1]});
    let corpus: Vec<(serde_json::Value, &str)> = vec![
        (
            input("input", json!([1, 1, 28, 28]), "FP32", json!(zeros)),
            "input \"input\": shape [1,1,28,28] needs 784 elements, got 783",
        ),
        (
            input("x", json!([1]), "UINT8", json!([300])),
            "input \"x\": element 0 is not a valid UINT8: 300 is out of range 0..=255",
        ),
        (
            input("x", json!([2]), "INT8", json!([1, -129])),
            "element 1 is not a valid INT8: -129 is out of range -128..=127",
        ),
        (
            input("x", json!([1]), "INT32", json!([1.5])),
            "input \"x\": element 0 is not a valid INT32: expected an integer, got 1.5",
        ),
        (input("x", json!([1]), "UINT64", json!([-1])), "-1 is out of range 0..=18446744073709551615"),
        (input("x", json!([1]), "INT64", json!(["1"])), "expected an integer, got \"1\""),
        (
            input("x", json!([1]), "BOOL", json!([1])),
            "input \"x\": element 0 is not a valid BOOL: expected true or false, got 1",
        ),
        (input("x", json!([1]), "FP32", json!([1e39])), "out of range for a 32-bit float"),
        (input("x", json!([1]), "FP16", json!([70000])), "70000 is out of range (max magnitude 65504)"),
        (input("x", json!([1]), "FP64", json!([true])), "expected a number, got true"),
        (input("x", json!([1]), "BYTES", json!([5])), "expected a string or {\"b64\": \"...\"}, got 5"),
        (input("x", json!([1]), "BYTES", json!([{"b64": "!!"}])), "\"b64\" is not valid base64"),
        (
            input("x", json!([1]), "FLOAT32", json!([1])),
            "input \"x\": unknown datatype \"FLOAT32\"; expected one of BOOL",
        ),
        (input("x", json!([-1, 2]), "FP32", json!([1, 2])), "input \"x\": shape [-1,2] has a negative dimension"),
        (
            input("x", json!([4294967296u64, 4294967296u64]), "FP32", json!([1])),
            "shape [4294967296,4294967296] has too many elements",
        ),
        (json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}), "input \"x\": has neither \"data\" nor"),
        (
            json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "parameters": four}]}),
            "has both",
        ),
        (
            json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": sized(json!("4"))}]}),
            "parameter \"binary_data_size\" must be a non-negative integer",
        ),
        (
            json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}),
            "no binary part (send Inference-Header-Content-Length)",
        ),
        (json!({"inputs": [one.clone(), one]}), "input \"x\" appears more than once"),
        (json!({"input": []}), "body is not a valid inference request: missing field `inputs`"),
    ];
    for (body, want) in corpus {
        let e = err(body.to_string().as_bytes(), None);
        assert!(e.to_string().contains(want), "{body:.80}: got {e}, want {want}");
        assert_eq!(e.status(), 400, "{e}");
    }
    assert!(matches!(err(b"", None), OipError::Json(_)));
    assert!(matches!(err(b"{\"inputs\": [", None), OipError::Json(_)));
}

#[test]
fn bad_binary_requests() {
    let header = |size: u64, dt: &str, shape: u64| {
        json!({"inputs": [{"name": "t", "shape": [shape], "datatype": dt, "parameters": {"binary_data_size": size}}]})
            .to_string()
            .into_bytes()
    };
    let body = |h: Vec<u8>, tail: &[u8]| {
        let n = h.len();
        ([h, tail.to_vec()].concat(), Some(n))
    };
    type Body = (Vec<u8>, Option<usize>);
    let cases: Vec<(Body, &str)> = vec![
        (body(header(8, "FP32", 1), &[0; 8]), "input \"t\": binary_data_size is 8 but 1 FP32 elements need 4 bytes"),
        (body(header(4, "FP32", 2), &[0; 4]), "input \"t\": binary_data_size is 4 but 2 FP32 elements need 8 bytes"),
        (
            body(header(8, "FP32", 2), &[0; 4]),
            "input \"t\": binary_data_size is 8 but only 4 bytes of binary data remain",
        ),
        (body(header(4, "FP32", 1), &[0; 6]), "2 bytes follow the last binary tensor"),
        (body(header(1, "BOOL", 1), &[2]), "BOOL element 0 is byte 2"),
        (body(header(6, "BYTES", 1), &[5, 0, 0, 0, 1, 2]), "BYTES element 0 declares 5 bytes but only 2 remain"),
        (body(header(2, "BYTES", 1), &[1, 0]), "too few for its 4-byte length"),
        (body(header(10, "BYTES", 1), &[1, 0, 0, 0, 7, 1, 0, 0, 0, 8]), "5 bytes remain after the 1 BYTES elements"),
        (body(header(5, "BYTES", 2), &[1, 0, 0, 0, 7]), "the shape needs 2 BYTES elements, the binary data holds 1"),
    ];
    for ((b, n), want) in cases {
        let e = err(&b, n);
        assert!(e.to_string().contains(want), "got {e}, want {want}");
        assert_eq!(e.status(), 400);
    }
    let e = err(b"{}", Some(3));
    assert_eq!(e.to_string(), "Inference-Header-Content-Length is 3 but the body has only 2 bytes");
}

#[test]
fn size_limits_give_413() {
    let limits = Limits { max_element_bytes: 4, max_tensor_bytes: 16 };
    let big = input("s", json!([1]), "BYTES", json!(["hello"])).to_string();
    let e = decode_request_with(big.as_bytes(), None, &limits).err();
    assert_eq!(e.as_ref().map(OipError::status), Some(413));
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(msg, "input \"s\": BYTES element of 5 bytes exceeds the limit of 4 bytes");
    let big = input("f", json!([5]), "FP32", json!([1, 2, 3, 4, 5])).to_string();
    assert_eq!(decode_request_with(big.as_bytes(), None, &limits).err().map(|e| e.status()), Some(413));
    let h =
        json!({"inputs": [{"name": "f", "shape": [5], "datatype": "FP32", "parameters": {"binary_data_size": 20}}]});
    let h = h.to_string().into_bytes();
    let n = h.len();
    let e = decode_request_with(&[h, vec![0; 20]].concat(), Some(n), &limits).err();
    assert_eq!(e.map(|e| e.status()), Some(413));
}

#[test]
fn signature_mismatches() {
    let meta = |name: &str, dt, shape: Vec<i64>| TensorMetadata { name: name.into(), datatype: dt, shape };
    let sig = Signature::new(
        vec![meta("input", Datatype::F32, vec![-1, 1, 28, 28]), meta("mask", Datatype::Bool, vec![-1])],
        vec![meta("probabilities", Datatype::F32, vec![-1, 10])],
    );
    let x = |name: &str, shape: Vec<u64>, data: TensorData| InferInput {
        name: name.into(),
        datatype: data.datatype(),
        shape,
        parameters: Parameters::new(),
        data,
    };
    let good = vec![
        x("input", vec![2, 1, 28, 28], TensorData::F32(vec![0.0; 1568])),
        x("mask", vec![1], TensorData::Bool(vec![true])),
    ];
    let req = |inputs: Vec<InferInput>| InferRequest { inputs, ..Default::default() };
    assert_eq!(sig.validate(&req(good.clone())), Ok(()));
    let msg = |r: InferRequest| sig.validate(&r).err().map(|e| e.to_string()).unwrap_or_default();
    let mut wrong_dt = good.clone();
    wrong_dt[0] = x("input", vec![1, 1, 28, 28], TensorData::F64(vec![0.0; 784]));
    assert_eq!(msg(req(wrong_dt)), "input \"input\": datatype FP64 does not match the model's FP32");
    let mut wrong_rank = good.clone();
    wrong_rank[0] = x("input", vec![1, 28, 28], TensorData::F32(vec![0.0; 784]));
    assert_eq!(msg(req(wrong_rank)), "input \"input\": expected shape [-1,1,28,28] (-1 = any size), got [1,28,28]");
    let mut wrong_dim = good.clone();
    wrong_dim[0] = x("input", vec![1, 1, 28, 27], TensorData::F32(vec![0.0; 756]));
    assert!(msg(req(wrong_dim)).contains("got [1,1,28,27]"));
    let mut unknown = good.clone();
    unknown.push(x("extra", vec![1], TensorData::U8(vec![1])));
    assert_eq!(
        msg(req(unknown)),
        "input \"extra\" is not an input of this model; its inputs are [\"input\", \"mask\"]"
    );
    assert_eq!(msg(req(good[..1].to_vec())), "input \"mask\" is required by the model but missing from the request");
    let mut r = req(good);
    r.outputs = Some(vec![RequestedOutput { name: "logits".into(), parameters: Parameters::new() }]);
    assert!(msg(r).starts_with("output \"logits\" is not an output of this model"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        n in any::<Option<usize>>(),
    ) {
        let _ = decode_request(&body, None);
        let _ = decode_request(&body, n);
        let _ = decode_request(&body, n.map(|n| n % (body.len() + 1)));
        let _ = decode_response(&body, n.map(|n| n % (body.len() + 1)));
    }

    #[test]
    fn json_header_with_arbitrary_binary_never_panics(
        dt in proptest::sample::select(Datatype::ALL.to_vec()),
        shape in proptest::collection::vec(0u64..5, 0..3),
        size in 0u64..64,
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let t = json!({"name": "t", "shape": shape, "datatype": dt, "parameters": {"binary_data_size": size}});
        let h = json!({ "inputs": [t] });
        let h = h.to_string().into_bytes();
        let n = h.len();
        if let Ok(req) = decode_request(&[h, tail].concat(), Some(n)) {
            prop_assert_eq!(req.inputs[0].data.len() as u64, req.inputs[0].shape.iter().product::<u64>());
        }
    }
}
