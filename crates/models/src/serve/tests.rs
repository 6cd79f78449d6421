//! [`ServedModel`] end to end without HTTP: the MNIST CNN on tract through the batcher, concurrent requests
//! coalescing, the `/function` body forms, post-processing, and errors with their statuses.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sedge_core::model::ModelConfig;
use tokio_util::sync::CancellationToken;

use super::ServedModel;
use crate::batch::BatchStats;
use crate::oip::{InferRequest, TensorData, decode_request, decode_response};

fn shared(name: &str) -> Vec<u8> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models")).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reference file {} is missing: {e}", path.display()))
}

fn mnist_config(yaml: &str) -> ModelConfig {
    let config: ModelConfig = serde_yaml::from_str(yaml).expect("config parses");
    config.validate().expect("valid");
    config
}

async fn mnist(config: &ModelConfig, stats: Option<Arc<Mutex<Vec<usize>>>>) -> ServedModel {
    let observer = stats.map(|s| {
        Arc::new(move |b: &BatchStats| s.lock().expect("lock").push(b.batch_size)) as crate::batch::BatchObserver
    });
    let bytes = Arc::new(shared("mnist_cnn.onnx"));
    ServedModel::load("mnist".into(), bytes, "ab".repeat(32), config, None, observer, &CancellationToken::new())
        .await
        .expect("loads")
}

fn probabilities(resp: &crate::oip::InferResponse) -> Vec<f32> {
    match &resp.outputs[0].data {
        TensorData::F32(v) => v.clone(),
        other => panic!("FP32 expected, got {}", other.datatype()),
    }
}

#[tokio::test]
async fn fixtures_match_and_concurrent_requests_share_engine_calls() {
    let stats = Arc::new(Mutex::new(Vec::new()));
    let model = Arc::new(mnist(&mnist_config("batching: { maxBatchSize: 8 }"), Some(stats.clone())).await);
    assert_eq!(model.metadata().inputs[0].shape, [-1, 1, 28, 28]);
    assert_eq!(model.info().version, "abababababab");
    let request = decode_request(&shared("fixtures/mnist_cnn_b1.json"), None).expect("fixture");
    let want = decode_response(&shared("fixtures/mnist_cnn_b1.expected.json"), None).expect("fixture");
    let want = probabilities(&want);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (model, request) = (model.clone(), request.clone());
            tokio::spawn(async move { model.infer(request).await })
        })
        .collect();
    for task in tasks {
        let got = probabilities(&task.await.expect("joins").expect("infers"));
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-5), "{got:?} vs {want:?}");
    }
    let sizes = stats.lock().expect("lock").clone();
    assert_eq!(sizes.iter().sum::<usize>(), 16, "every request ran once");
    assert!(sizes.iter().all(|&n| n <= 8), "batches stay within maxBatchSize: {sizes:?}");
}

#[tokio::test]
async fn function_bodies_png_base64_array_and_predictions() {
    let config =
        mnist_config("input: { image: { size: [28, 28], color: gray, scale: 0.00392156862 } }\noutput: { topK: 2 }\n");
    let model = mnist(&config, None).await;
    let png = shared("fixtures/mnist_digit0_label3.png");
    let reply = model.handle(&png, None, None).await.expect("png");
    let v: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    assert_eq!(v["predictions"][0][0]["index"], 3, "{v}");
    assert_eq!(v["predictions"][0].as_array().map(Vec::len), Some(2));

    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let reply = model.handle(b64.as_bytes(), None, None).await.expect("base64");
    let v2: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    assert_eq!(v2, v, "base64 and raw PNG give the same answer");

    let pixels: Vec<Vec<f32>> = vec![vec![0.0; 28]; 28];
    let array = serde_json::to_vec(&vec![pixels]).expect("json");
    let reply = model.handle(&array, None, None).await.expect("array");
    let v: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    assert!(v["predictions"][0][0]["score"].as_f64().is_some(), "{v}");

    let oip = shared("fixtures/mnist_cnn_b8.json");
    let reply = model.handle(&oip, None, None).await.expect("oip");
    let resp = decode_response(&reply.body, reply.header_len).expect("an OIP answer");
    assert_eq!(resp.outputs[0].shape, [8, 10]);
}

#[tokio::test]
async fn bad_requests_get_4xx_with_the_reason() {
    let model = mnist(&ModelConfig::default(), None).await;
    let wrong_shape = br#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,28,28],"data":[0]}]}"#;
    let zeros = vec!["0"; 784].join(",");
    let wrong_type =
        format!(r#"{{"inputs":[{{"name":"input","datatype":"INT32","shape":[1,1,28,28],"data":[{zeros}]}}]}}"#);
    let unknown = br#"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1],"data":[0]}]}"#;
    for (body, needle) in [
        (&wrong_shape[..], "input"),
        (wrong_type.as_bytes(), "INT32"),
        (&unknown[..], "pixels"),
        (b"\x89PNG\r\n\x1a\ngarbage", "image"),
        (b"iVBORw0KGgo=", "pre-processing"),
    ] {
        let err = model.handle(body, None, None).await.expect_err("refused");
        assert!((400..500).contains(&err.status()), "{err} -> {}", err.status());
        assert!(err.to_string().contains(needle), "{needle:?} in {err}");
    }
    let two_batches = InferRequest::default();
    let err = model.infer(two_batches).await.expect_err("no inputs");
    assert_eq!(err.status(), 400, "{err}");
}

#[tokio::test]
async fn corrupt_models_are_refused_with_400() {
    let config = ModelConfig::default();
    for bytes in [b"not onnx".to_vec(), shared("mnist_cnn.onnx")[..1000].to_vec()] {
        let err = ServedModel::load(
            "bad".into(),
            Arc::new(bytes),
            String::new(),
            &config,
            None,
            None,
            &CancellationToken::new(),
        )
        .await
        .err()
        .expect("refused");
        assert_eq!(err.status(), 400, "{err}");
    }
}
