//! Model functions end to end over real HTTP and the real CLI: deploy the reference models from sedge's own
//! YAML and from a stack file (relative paths), infer over `/v2` (JSON and the binary extension) and over
//! `/function/{name}` (PNG, base64, JSON array), compare with the expected outputs shipped beside the models
//! (absolute tolerance 1e-5), scale, hot-swap, survive `kill -9`, and refuse bad input with 4xx.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, ensure};
use reqwest::{Method, StatusCode};
use sedge_models::oip::{TensorData, decode_response, encode_request};
use sedge_testkit::TestGateway;
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const TOL: f32 = 1e-5;

fn shared(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models")).join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(shared(name)).unwrap_or_else(|e| panic!("reference file {name} is missing: {e}"))
}

async fn sedge(gw: &TestGateway, dir: &Path, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let out = tokio::process::Command::new(SEDGE)
        .args(args)
        .current_dir(dir)
        .env("SEDGE_GATEWAY", &gw.url)
        .env("SEDGE_STATE", gw.state_dir())
        .output()
        .await?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

fn f32s(data: &TensorData) -> Vec<f32> {
    match data {
        TensorData::F32(v) => v.clone(),
        other => panic!("FP32 expected, got {}", other.datatype()),
    }
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= TOL, "{what}: element {i}: got {g}, want {w}");
    }
}

/// The first output of an expected-response fixture.
fn expected(name: &str) -> Vec<f32> {
    let resp = decode_response(&read(&format!("fixtures/{name}")), None).expect("fixture");
    f32s(&resp.outputs[0].data)
}

async fn infer_json(gw: &TestGateway, model: &str, body: Vec<u8>) -> anyhow::Result<(StatusCode, Value)> {
    let r = gw.request(Method::POST, &format!("/v2/models/{model}/infer")).body(body).send().await?;
    Ok((r.status(), r.json().await?))
}

const MODELS_YML: &str = "apiVersion: sedge.dev/v1
kind: ModelFunction
metadata: { name: mnist }
spec:
  model: MNIST
  engine: ENGINE
  input: { image: { size: [28, 28], color: gray, scale: 0.00392156862745098 } }
  output: { topK: 3 }
  batching: { maxBatchSize: 16, maxQueueDelay: 1ms }
";

const STACK_YML: &str = "version: 1.0
provider:
  name: openfaas
functions:
  ionosphere:
    image: sedge/model
    annotations:
      com.sedge.model: ./models/ionosphere.onnx
      com.sedge.model.config: |
        engine: ENGINE
";

/// Everything one engine must do; `engine` is `tract` or `ort`, `args` go to `sedge up`.
async fn exercise(engine: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut gw = TestGateway::start_with(SEDGE, args).await?;
    let project = tempfile::tempdir()?;
    let dir = project.path();
    std::fs::create_dir(dir.join("models"))?;
    std::fs::copy(shared("ionosphere_mlp.onnx"), dir.join("models/ionosphere.onnx"))?;
    let models = MODELS_YML.replace("MNIST", &shared("mnist_cnn.onnx").display().to_string()).replace("ENGINE", engine);
    std::fs::write(dir.join("models.yml"), models)?;
    std::fs::write(dir.join("stack.yml"), STACK_YML.replace("ENGINE", engine))?;
    let (ok, out) = sedge(&gw, dir, &["deploy", "-f", "models.yml"]).await?;
    ensure!(ok, "deploy models.yml: {out}");
    let (ok, out) = sedge(&gw, dir, &["deploy", "-f", "stack.yml"]).await?;
    ensure!(ok, "deploy stack.yml: {out}");
    let gbt = json!({"service": "taxi", "image": "sedge/model", "annotations": {
        "com.sedge.model": shared("gbt_taxi_xgb.onnx"), "com.sedge.model.config": format!("engine: {engine}")}});
    assert_eq!(gw.deploy(gbt).await?, StatusCode::ACCEPTED);

    // Server and model metadata.
    assert_eq!(gw.request(Method::GET, "/v2/health/ready").send().await?.status(), StatusCode::OK);
    assert_eq!(gw.request(Method::GET, "/v2/health/live").send().await?.status(), StatusCode::OK);
    let server: Value = gw.request(Method::GET, "/v2").send().await?.json().await?;
    assert!(server["extensions"].as_array().context("extensions")?.contains(&json!("binary_tensor_data")));
    let meta: Value = gw.request(Method::GET, "/v2/models/mnist").send().await?.json().await?;
    assert_eq!(meta["inputs"], json!([{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]), "{meta}");
    assert_eq!(meta["platform"], "onnx_onnxv1");
    let version = meta["versions"][0].as_str().context("a version")?.to_string();
    let r = gw.request(Method::GET, &format!("/v2/models/mnist/versions/{version}/ready")).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let r = gw.request(Method::GET, "/v2/models/mnist/versions/nope").send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // /v2 infer, JSON: b1 against onnxruntime's answer; b8 row 0 equal to b1 where the fixtures share it.
    let (status, body) = infer_json(&gw, "mnist", read("fixtures/mnist_cnn_b1.json")).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = decode_response(&serde_json::to_vec(&body)?, None)?;
    assert_close(&f32s(&resp.outputs[0].data), &expected("mnist_cnn_b1.expected.json"), "mnist b1");
    assert_eq!(resp.model_name, "mnist");
    let (status, body) = infer_json(&gw, "ionosphere", read("fixtures/ionosphere_b1.json")).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = decode_response(&serde_json::to_vec(&body)?, None)?;
    assert_close(&f32s(&resp.outputs[0].data), &expected("ionosphere_b1.expected.json"), "ionosphere b1");
    let (status, body) = infer_json(&gw, "ionosphere", read("fixtures/ionosphere_b8.json")).await?;
    assert_eq!((status, &body["outputs"][0]["shape"]), (StatusCode::OK, &json!([8, 1])), "{body}");

    // The gradient-boosted trees give onnxruntime's predictions under either engine (tract: natively).
    let (status, body) = infer_json(&gw, "taxi", read("fixtures/gbt_taxi_b1.json")).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = decode_response(&serde_json::to_vec(&body)?, None)?;
    assert_close(&f32s(&resp.outputs[0].data), &expected("gbt_taxi_b1.expected.json"), "taxi b1");
    let (status, body) = infer_json(&gw, "taxi", read("fixtures/gbt_taxi_b8.json")).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = decode_response(&serde_json::to_vec(&body)?, None)?;
    let want = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/tests/fixtures/trees/gbt_taxi_xgb_b8.expected.json"
    ))?;
    let want = decode_response(&want, None)?;
    assert_close(&f32s(&resp.outputs[0].data), &f32s(&want.outputs[0].data), "taxi b8");

    // /v2 infer with the binary extension, binary outputs asked for.
    let mut req = sedge_models::oip::decode_request(&read("fixtures/mnist_cnn_b1.json"), None)?;
    req.parameters.insert("binary_data_output".into(), json!(true));
    let (bytes, header_len) = encode_request(&req, |_| true);
    let r = gw
        .request(Method::POST, "/v2/models/mnist/infer")
        .header("Inference-Header-Content-Length", header_len.context("binary")?.to_string())
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    let len: usize = r.headers()["inference-header-content-length"].to_str()?.parse()?;
    let resp = decode_response(&r.bytes().await?, Some(len))?;
    assert_close(&f32s(&resp.outputs[0].data), &expected("mnist_cnn_b1.expected.json"), "mnist binary");

    // /function/{name}: PNG, base64 PNG, JSON array; the digit's label is in the file name.
    let png = read("fixtures/mnist_digit0_label3.png");
    let r = gw.invoke("mnist", png.clone()).await?;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await?;
    assert_eq!(answer["predictions"][0][0]["index"], 3, "{answer}");
    assert_eq!(answer["predictions"][0].as_array().map(Vec::len), Some(3), "topK 3");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let again: Value = gw.invoke("mnist", b64).await?.json().await?;
    assert_eq!(again, answer, "base64 PNG answers like raw PNG");
    for (file, label) in [("mnist_digit1_label8.png", 8), ("mnist_digit2_label8.png", 8)] {
        let answer: Value = gw.invoke("mnist", read(&format!("fixtures/{file}"))).await?.json().await?;
        assert_eq!(answer["predictions"][0][0]["index"], label, "{file}: {answer}");
    }
    let row = vec![0.5f32; 34];
    let r = gw.invoke("ionosphere", serde_json::to_vec(&row)?).await?;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await?;
    assert_eq!(answer["outputs"][0]["shape"], json!([1, 1]), "a bare array gets the batch dimension: {answer}");

    // Bad input: 4xx with the reason.
    let wrong =
        json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "data": vec![0.0; 784]}]});
    let (status, body) = infer_json(&gw, "mnist", serde_json::to_vec(&wrong)?).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("input") && e.contains("[-1,1,28,28]")), "{body}");
    let (status, _) = infer_json(&gw, "nope", b"{}".to_vec()).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = gw.invoke("mnist", b"\x89PNG\r\n\x1a\ntruncated".to_vec()).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    std::fs::write(dir.join("models/corrupt.onnx"), b"\x08\x07garbage that is not a model")?;
    let corrupt = json!({"service": "corrupt", "image": "sedge/model",
        "annotations": {"com.sedge.model": dir.join("models/corrupt.onnx"), "com.sedge.model.config": format!("engine: {engine}")}});
    let r = gw.system(Method::POST, "/system/functions").json(&corrupt).send().await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "corrupt model refused at deploy");
    assert!(gw.describe("corrupt").await?.is_none(), "nothing half-deployed");

    // Lists, describes, scales like any function.
    let listed: Vec<Value> = gw.system(Method::GET, "/system/functions").send().await?.json().await?;
    let mut names: Vec<&str> = listed.iter().filter_map(|f| f["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["ionosphere", "mnist", "taxi"]);
    let (ok, out) = sedge(&gw, dir, &["scale", "mnist", "--replicas", "2"]).await?;
    ensure!(ok, "scale: {out}");
    gw.wait_available("mnist", 2).await?;

    // Nothing lost: kill -9, delete the original file, restart; the kept copy serves.
    gw.kill9().await?;
    std::fs::remove_file(dir.join("models/ionosphere.onnx"))?;
    gw.restart().await?;
    gw.wait_available("ionosphere", 1).await?;
    let (status, body) = infer_json(&gw, "ionosphere", read("fixtures/ionosphere_b1.json")).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    gw.wait_available("mnist", 2).await?;

    let (ok, out) = sedge(&gw, dir, &["remove", "mnist"]).await?;
    ensure!(ok, "remove: {out}");
    let (status, _) = infer_json(&gw, "mnist", read("fixtures/mnist_cnn_b1.json")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn model_functions_on_tract() -> anyhow::Result<()> {
    exercise("tract", &[]).await
}

/// The same with onnxruntime, installed from PyPI into a test venv (`sedge_testkit::python`).
#[tokio::test]
async fn model_functions_on_onnxruntime() -> anyhow::Result<()> {
    let library = tokio::task::spawn_blocking(sedge_testkit::python::onnxruntime_dylib).await??;
    let library = library.display().to_string();
    exercise("ort", &["--onnxruntime", &library]).await
}

/// Seed 002's face blur: CenterFace plus a blur step, fed a base64 PNG frame as the seed's client sends it.
#[tokio::test]
async fn face_blur_function_answers_seed_002s_client() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let deployment = json!({"service": "faceblur", "image": "sedge/model", "annotations": {
        "com.sedge.model": shared("centerface_dynamic.onnx"),
        "com.sedge.model.config": "engine: tract\ntask: face-blur\nbatching: { maxBatchSize: 1 }\n"}});
    assert_eq!(gw.deploy(deployment).await?, StatusCode::ACCEPTED);
    let fixture: Value = serde_json::from_slice(&read("fixtures/faceblur_b64png.json"))?;
    let frame = fixture["inputs"][0]["data"][0].as_str().context("a base64 frame")?.to_string();

    // The seed's client reads the handler's printed lines and the dict's repr.
    let text = gw.invoke("faceblur", frame.clone()).await?.text().await?;
    assert!(text.contains("Elapsed ML time: ") && text.contains("Total time: "), "{text:.200}");
    assert!(text.contains("'img': '"), "the seed client's regex finds the image");

    // JSON when asked for: one face, a PNG back.
    let r =
        gw.request(Method::POST, "/function/faceblur").header("Accept", "application/json").body(frame).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await?;
    let faces = answer["faces"].as_array().context("faces")?;
    assert_eq!(faces.len(), 1, "{}", answer["faces"]);
    assert!(faces[0]["score"].as_f64().is_some_and(|s| s > 0.5));
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.decode(answer["img"].as_str().context("img")?)?;
    assert!(png.starts_with(b"\x89PNG"));
    assert!(answer["timings"]["ml"].as_f64().is_some_and(|ml| ml > 0.0));

    // Over /v2 with the fixture as is.
    let (status, body) = infer_json(&gw, "faceblur", read("fixtures/faceblur_b64png.json")).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "faceblur-1");
    let names: Vec<&str> =
        body["outputs"].as_array().context("outputs")?.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, ["image", "faces"]);
    let r = gw.invoke("faceblur", b"not an image at all".to_vec()).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    Ok(())
}

/// Redeploying a model function swaps it in without failing the calls in flight or queued meanwhile.
#[tokio::test]
async fn hot_swap_drops_no_request() -> anyhow::Result<()> {
    let gw = TestGateway::start(SEDGE).await?;
    let deployment = |batch: u32| {
        json!({"service": "mnist", "image": "sedge/model", "annotations": {
            "com.sedge.model": shared("mnist_cnn.onnx"),
            "com.sedge.model.config": format!("engine: tract\nbatching: {{ maxBatchSize: {batch} }}\n")}})
    };
    assert_eq!(gw.deploy(deployment(4)).await?, StatusCode::ACCEPTED);
    let body = read("fixtures/mnist_cnn_b1.json");
    let client = gw.client().http;
    let url = format!("{}/v2/models/mnist/infer", gw.url);
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..40 {
                    statuses.push(client.post(&url).body(body.clone()).send().await.map(|r| r.status().as_u16()));
                }
                statuses
            })
        })
        .collect();
    for batch in [8, 2, 16] {
        let r = gw.system(Method::PUT, "/system/functions").json(&deployment(batch)).send().await?;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let mut total = 0;
    for task in load {
        for status in task.await? {
            assert_eq!(status?, 200, "a call failed during the swaps");
            total += 1;
        }
    }
    assert_eq!(total, 320);
    Ok(())
}

/// The bad-input corpus: every malformed request gets a 4xx naming what is wrong, and the model keeps serving.
#[tokio::test]
async fn bad_input_corpus_gets_clear_4xx() -> anyhow::Result<()> {
    // A small limit, so that the over-limit body still fits the socket buffers: the gateway answers 413 without
    // reading the rest, and a client still writing a larger body would see a broken pipe instead.
    let gw = TestGateway::start_with(SEDGE, &["--max-body", "32Ki"]).await?;
    let config = "engine: tract\ninput: { image: { size: [28, 28], color: gray, scale: 0.0039 } }\n";
    let mnist = json!({"service": "mnist", "image": "sedge/model",
        "annotations": {"com.sedge.model": shared("mnist_cnn.onnx"), "com.sedge.model.config": config}});
    assert_eq!(gw.deploy(mnist).await?, StatusCode::ACCEPTED);
    let tensor = |name: &str, datatype: &str, shape: Value, data: Value| {
        serde_json::to_vec(&json!({"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}))
    };
    let png = read("fixtures/mnist_digit0_label3.png");
    let corpus: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("wrong shape", tensor("input", "FP32", json!([1, 784]), json!(vec![0.0; 784]))?, 400, "[-1,1,28,28]"),
        ("wrong datatype", tensor("input", "FP64", json!([1, 1, 28, 28]), json!(vec![0.0; 784]))?, 400, "FP64"),
        ("length vs shape", tensor("input", "FP32", json!([1, 1, 28, 28]), json!(vec![0.0; 700]))?, 400, "784"),
        ("unknown input", tensor("pixels", "FP32", json!([1, 1, 28, 28]), json!(vec![0.0; 784]))?, 400, "pixels"),
        ("corrupt image", tensor("input", "BYTES", json!([1]), json!(["iVBORw0KGgoAAAAN"]))?, 400, "image"),
        ("not JSON", b"{\"inputs\": [".to_vec(), 400, "inference request"),
        (
            "bytes over the body limit",
            tensor("input", "BYTES", json!([1]), json!(["A".repeat(64 << 10)]))?,
            413,
            "limit",
        ),
    ];
    for (case, body, status, needle) in corpus {
        let r = gw.request(Method::POST, "/v2/models/mnist/infer").body(body).send().await?;
        assert_eq!(r.status().as_u16(), status, "{case}");
        let answer: Value = r.json().await?;
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{case}: {needle:?} in {message:?}");
    }
    // The binary extension with a header length past the body.
    let r = gw
        .request(Method::POST, "/v2/models/mnist/infer")
        .header("Inference-Header-Content-Length", "9999")
        .body(b"{}".to_vec())
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Truncated images over /function.
    for body in [png[..png.len() / 2].to_vec(), b"\xFF\xD8\xFF\xE0 not a jpeg".to_vec()] {
        let r = gw.invoke("mnist", body).await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    // Model files: corrupt and truncated ONNX, and a missing file, are refused at deploy; nothing is stored.
    let dir = tempfile::tempdir()?;
    let onnx = read("mnist_cnn.onnx");
    std::fs::write(dir.path().join("truncated.onnx"), &onnx[..onnx.len() / 3])?;
    std::fs::write(dir.path().join("garbage.onnx"), b"\x0a\xff\xff\xff\xff\x0f")?;
    for (i, file) in ["truncated.onnx", "garbage.onnx", "missing.onnx"].into_iter().enumerate() {
        let name = format!("bad{i}");
        let deployment = json!({"service": name, "image": "sedge/model",
            "annotations": {"com.sedge.model": dir.path().join(file), "com.sedge.model.config": "engine: tract"}});
        let r = gw.system(Method::POST, "/system/functions").json(&deployment).send().await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{file}");
        assert!(gw.describe(&name).await?.is_none(), "{file}: nothing half-deployed");
    }
    let bad_config = json!({"service": "cfg", "image": "sedge/model", "annotations": {
        "com.sedge.model": shared("mnist_cnn.onnx"), "com.sedge.model.config": "batching: { maxBatchSize: 0 }"}});
    let r = gw.system(Method::POST, "/system/functions").json(&bad_config).send().await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await?.contains("maxBatchSize"));

    // Still serving, and describe says what was loaded.
    let (status, _) = infer_json(&gw, "mnist", read("fixtures/mnist_cnn_b1.json")).await?;
    assert_eq!(status, StatusCode::OK);
    let described = gw.describe("mnist").await?.context("mnist")?;
    let sha = described["annotations"]["com.sedge.model.sha256"].as_str().context("sha256")?;
    assert_eq!(sha.len(), 64);
    assert_eq!(described["annotations"]["com.sedge.model.engine"], "tract");
    Ok(())
}
