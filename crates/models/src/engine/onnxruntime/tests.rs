//! [`OrtEngine`] on the reference models of `shared/models` against the outputs of onnxruntime's Python API
//! (`*.expected.json`, absolute tolerance 1e-5) and against [`TractEngine`]; every OIP datatype through an
//! `Identity` model; errors (not panics) for bad inputs, corrupt models, ZipMap outputs and a missing library.
//!
//! The library is onnxruntime [`ONNXRUNTIME_VERSION`] from PyPI, installed on first use into a venv under
//! `target/test-venvs` by `sedge-testkit` (needs `python3` and PyPI) and passed explicitly, so the environment
//! (`ORT_DYLIB_PATH`, a system Python) plays no part.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sedge_testkit::python::{ONNXRUNTIME_VERSION, onnxruntime_dylib};

use super::{OrtEngine, OrtOptions, library, ort_library};
use crate::engine::{Engine, EngineError, Shaped, TractEngine};
use crate::oip::{Datatype, TensorData, decode_request, decode_response};
use crate::test_support::{assert_close, f32s, models, read};

/// The pinned onnxruntime library, installed once per test binary.
fn dylib() -> &'static Path {
    static DYLIB: OnceLock<PathBuf> = OnceLock::new();
    DYLIB.get_or_init(|| onnxruntime_dylib().unwrap_or_else(|e| panic!("installing onnxruntime: {e:#}")))
}

fn options() -> OrtOptions {
    OrtOptions { library: Some(dylib().to_path_buf()), ..OrtOptions::default() }
}

fn engine(model: &str) -> OrtEngine {
    OrtEngine::load(models().join(model), &options()).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// The first input of a fixture request as a [`Shaped`].
fn fixture_input(name: &str) -> Shaped {
    let mut req = decode_request(&read(&format!("fixtures/{name}")), None).expect("fixture decodes");
    let input = req.inputs.remove(0);
    Shaped::new(input.shape.iter().map(|&d| d as usize).collect(), input.data)
}

/// The first output of an expected-response fixture: name, shape, values.
fn expected_output(name: &str) -> (String, Vec<usize>, Vec<f32>) {
    let mut resp = decode_response(&read(&format!("fixtures/{name}")), None).expect("fixture decodes");
    let output = resp.outputs.remove(0);
    (output.name, output.shape.iter().map(|&d| d as usize).collect(), f32s(output.data))
}

/// Runs `model` on the first input of `request` and checks its first output against `expected`.
fn check_against_python(model: &str, request: &str, expected: &str) {
    let engine = engine(model);
    let (name, shape, want) = expected_output(expected);
    assert_eq!(engine.outputs()[0].name, name);
    let out = engine.run(vec![fixture_input(request)]).expect("runs").remove(0);
    assert_eq!(out.shape, shape);
    assert_close(&f32s(out.data), &want);
}

#[test]
fn mnist_b1_matches_onnxruntime_python() {
    check_against_python("mnist_cnn.onnx", "mnist_cnn_b1.json", "mnist_cnn_b1.expected.json");
}

#[test]
fn mnist_b8_rows_match_single_runs_and_tract() {
    let ort = engine("mnist_cnn.onnx");
    let input = fixture_input("mnist_cnn_b8.json");
    assert_eq!(input.shape, [8, 1, 28, 28]);
    let out = ort.run(vec![input.clone()]).expect("runs").remove(0);
    assert_eq!(out.shape, [8, 10]);
    let out = f32s(out.data);
    let pixels = f32s(input.data.clone());
    for row in 0..8 {
        let single = Shaped::new(vec![1, 1, 28, 28], TensorData::F32(pixels[row * 784..(row + 1) * 784].to_vec()));
        let single = f32s(ort.run(vec![single]).expect("runs").remove(0).data);
        assert_close(&out[row * 10..row * 10 + 10], &single);
    }
    let tract = TractEngine::load(models().join("mnist_cnn.onnx"), 8).expect("tract loads");
    assert_close(&out, &f32s(tract.run(vec![input]).expect("tract runs").remove(0).data));
}

#[test]
fn signatures_equal_tracts() {
    for model in ["mnist_cnn.onnx", "ionosphere_mlp.onnx", "ionosphere_mlp_skl2onnx.onnx", "centerface_dynamic.onnx"] {
        let ort = engine(model);
        let tract = TractEngine::load(models().join(model), 1).unwrap_or_else(|e| panic!("tract {model}: {e}"));
        assert_eq!(ort.inputs(), tract.inputs(), "{model}");
        assert_eq!(ort.outputs(), tract.outputs(), "{model}");
    }
    let mnist = engine("mnist_cnn.onnx");
    assert_eq!(mnist.inputs()[0].shape, [-1, 1, 28, 28]);
    assert_eq!(mnist.outputs()[0].shape, [-1, 10]);
}

#[test]
fn ionosphere_mlp_matches_onnxruntime_python() {
    check_against_python("ionosphere_mlp.onnx", "ionosphere_b1.json", "ionosphere_b1.expected.json");
    let out = engine("ionosphere_mlp.onnx").run(vec![fixture_input("ionosphere_b8.json")]).expect("runs");
    assert_eq!(out[0].shape, [8, 1]);
}

#[test]
fn ionosphere_skl2onnx_runs_array_feature_extractor_and_agrees_with_the_keras_shape() {
    let engine = engine("ionosphere_mlp_skl2onnx.onnx");
    let names: Vec<&str> = engine.outputs().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["label", "probabilities"]);
    let out = engine.run(vec![fixture_input("ionosphere_b1.json")]).expect("runs");
    let (_, _, want) = expected_output("ionosphere_b1.expected.json");
    assert_eq!((out[0].shape.as_slice(), out[1].shape.as_slice()), (&[1][..], &[1, 2][..]));
    let probabilities = f32s(out[1].data.clone());
    assert_close(&probabilities[1..], &want);
    assert_eq!(out[0].data, TensorData::I64(vec![i64::from(want[0] > 0.5)]));
    let out = engine.run(vec![fixture_input("ionosphere_b8.json")]).expect("runs");
    assert_eq!((out[0].shape.as_slice(), out[1].shape.as_slice()), (&[8][..], &[8, 2][..]));
}

#[test]
fn gbt_taxi_tree_ensemble_matches_onnxruntime_python() {
    check_against_python("gbt_taxi_xgb.onnx", "gbt_taxi_b1.json", "gbt_taxi_b1.expected.json");
    let out = engine("gbt_taxi_xgb.onnx").run(vec![fixture_input("gbt_taxi_b8.json")]).expect("runs");
    assert_eq!(out[0].shape, [8, 1]);
}

#[test]
fn centerface_256_matches_onnxruntime_python() {
    check_against_python("centerface_dynamic.onnx", "centerface_256_b1.json", "centerface_256_b1.expected.json");
}

#[test]
fn bad_inputs_are_errors() {
    let engine = engine("mnist_cnn.onnx");
    let err = engine.run(vec![]).expect_err("no inputs");
    assert!(matches!(err, EngineError::InputCount { expected: 1, got: 0 }), "{err}");
    let err = engine.run(vec![Shaped::new(vec![1, 1, 28, 28], TensorData::F64(vec![0.0; 784]))]).expect_err("FP64");
    assert!(matches!(err, EngineError::Input { .. }) && err.to_string().contains("FP64"), "{err}");
    let err = engine.run(vec![Shaped::new(vec![1, 1, 28, 28], TensorData::F32(vec![0.0; 700]))]).expect_err("700");
    assert!(matches!(err, EngineError::Input { .. }) && err.to_string().contains("700 elements"), "{err}");
    let err = engine.run(vec![Shaped::new(vec![1, 28, 28], TensorData::F32(vec![0.0; 784]))]).expect_err("rank");
    assert!(err.to_string().contains("input `input`"), "{err}");
    let err = engine.run(vec![Shaped::new(vec![0, 1, 28, 28], TensorData::F32(vec![]))]).expect_err("empty");
    assert!(err.to_string().contains("empty"), "{err}");
    let err = engine.run_rows(vec![TensorData::F32(vec![0.0; 700])], 1).expect_err("700 rows");
    assert!(err.to_string().contains("input `input`"), "{err}");
}

#[test]
fn corrupt_models_are_errors_not_panics() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mnist = read("mnist_cnn.onnx");
    for (what, bytes) in [("garbage", &garbage[..]), ("empty", &[][..]), ("truncated", &mnist[..mnist.len() / 2])] {
        let err = OrtEngine::from_bytes(bytes, &options()).err().unwrap_or_else(|| panic!("{what} bytes loaded"));
        assert!(!err.to_string().is_empty(), "{what}");
    }
    let err = OrtEngine::load(models().join("no_such_model.onnx"), &options()).expect_err("missing file");
    assert!(matches!(err, EngineError::Io { .. }), "{err}");
}

#[test]
fn a_bogus_library_path_is_an_error_naming_it() {
    let bogus = Path::new("/nonexistent/sedge/libonnxruntime.so.1");
    let err = ort_library(Some(bogus)).expect_err("no such file");
    assert!(err.contains("/nonexistent/sedge/libonnxruntime.so.1"), "{err}");
    let options = OrtOptions { library: Some(bogus.to_path_buf()), ..OrtOptions::default() };
    let err = OrtEngine::from_bytes(&read("mnist_cnn.onnx"), &options).expect_err("no library");
    assert!(matches!(err, EngineError::Unavailable(_)) && err.to_string().contains("/nonexistent/sedge"), "{err}");
    assert_eq!(ort_library(Some(dylib())).expect("the pinned library loads"), dylib());
    assert!(dylib().display().to_string().contains(ONNXRUNTIME_VERSION));
    let other = dylib().with_file_name("libonnxruntime_providers_shared.so");
    let err = ort_library(Some(&other)).expect_err("a second library in one process");
    assert!(err.contains("already loaded") && err.contains("libonnxruntime_providers_shared.so"), "{err}");
}

#[test]
fn the_library_is_found_in_a_python_package_directory() {
    let capi = dylib().parent().expect("capi directory");
    assert_eq!(library::find_in(capi).expect("found"), dylib());
    let err = library::find_in(Path::new("/nonexistent/capi")).expect_err("no directory");
    assert!(err.contains("/nonexistent/capi"), "{err}");
    // The system `python3` may or may not have onnxruntime: either a library file or a reason.
    match library::python_library() {
        Ok(path) => assert!(path.is_file(), "{}", path.display()),
        Err(why) => assert!(why.contains("onnxruntime") || why.contains("python3"), "{why}"),
    }
}

#[test]
fn every_oip_datatype_round_trips_through_identity() {
    let cases = [
        (1, TensorData::F32(vec![1.5, -2.0, 0.0, 3.25])),
        (2, TensorData::U8(vec![0, 1, 254, 255])),
        (3, TensorData::I8(vec![-128, -1, 0, 127])),
        (4, TensorData::U16(vec![0, 1, 65_534, 65_535])),
        (5, TensorData::I16(vec![-32_768, -1, 0, 32_767])),
        (6, TensorData::I32(vec![i32::MIN, -1, 0, i32::MAX])),
        (7, TensorData::I64(vec![i64::MIN, -1, 0, i64::MAX])),
        (8, TensorData::Bytes(vec![b"a".to_vec(), Vec::new(), "é".as_bytes().to_vec(), b"xyz".to_vec()])),
        (9, TensorData::Bool(vec![true, false, false, true])),
        (10, TensorData::F16(vec![0x3c00, 0xc000, 0x0000, 0x7bff])),
        (11, TensorData::F64(vec![1e300, -0.5, 0.0, 2.0])),
        (12, TensorData::U32(vec![0, 1, u32::MAX - 1, u32::MAX])),
        (13, TensorData::U64(vec![0, 1, u64::MAX - 1, u64::MAX])),
    ];
    for (elem_type, data) in cases {
        let datatype = data.datatype();
        let engine = OrtEngine::from_bytes(&proto::identity(elem_type), &options())
            .unwrap_or_else(|e| panic!("{datatype}: {e}"));
        assert_eq!(engine.inputs()[0].datatype, datatype);
        assert_eq!(engine.outputs()[0].shape, [-1, 2], "{datatype}");
        let out = engine.run(vec![Shaped::new(vec![2, 2], data.clone())]).unwrap_or_else(|e| panic!("{datatype}: {e}"));
        assert_eq!(out, [Shaped::new(vec![2, 2], data)], "{datatype}");
    }
    let engine = OrtEngine::from_bytes(&proto::identity(8), &options()).expect("BYTES model loads");
    let err = engine.run(vec![Shaped::new(vec![1, 2], TensorData::Bytes(vec![vec![0xff], vec![]]))]).expect_err("utf8");
    assert!(err.to_string().contains("UTF-8"), "{err}");
    assert_eq!(Datatype::Bytes, engine.inputs()[0].datatype);
}

#[test]
fn zipmap_outputs_are_refused_naming_the_output() {
    let err = OrtEngine::from_bytes(&proto::zipmap(), &options()).expect_err("a sequence of maps");
    assert!(matches!(err, EngineError::Model(_)), "{err}");
    assert!(err.to_string().contains("`probs`") && err.to_string().contains("Sequence"), "{err}");
}

#[test]
fn threads_are_configurable() {
    let options = OrtOptions { intra_op_threads: 2, inter_op_threads: 2, spinning: true, ..options() };
    let engine = OrtEngine::load(models().join("mnist_cnn.onnx"), &options).expect("loads");
    let out = engine.run(vec![fixture_input("mnist_cnn_b8.json")]).expect("runs");
    assert_eq!(out[0].shape, [8, 10]);
    assert_eq!(OrtOptions::default().intra_op_threads, 1);
    assert!(!OrtOptions::default().spinning);
}

/// Tiny ONNX models written as protobuf by hand: `Identity` on `x: T[N, 2]`, and a ZipMap.
mod proto {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn int(out: &mut Vec<u8>, field: u64, v: u64) {
        varint(out, field << 3);
        varint(out, v);
    }

    fn bytes(out: &mut Vec<u8>, field: u64, v: &[u8]) {
        varint(out, (field << 3) | 2);
        varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }

    /// `TypeProto` of a tensor `elem_type[N, 2]`.
    fn tensor_type(elem_type: u64) -> Vec<u8> {
        let (mut batch, mut two, mut shape, mut tensor, mut ty) = (vec![], vec![], vec![], vec![], vec![]);
        bytes(&mut batch, 2, b"N");
        int(&mut two, 1, 2);
        bytes(&mut shape, 1, &batch);
        bytes(&mut shape, 1, &two);
        int(&mut tensor, 1, elem_type);
        bytes(&mut tensor, 2, &shape);
        bytes(&mut ty, 1, &tensor);
        ty
    }

    fn value_info(name: &str, ty: &[u8]) -> Vec<u8> {
        let mut v = vec![];
        bytes(&mut v, 1, name.as_bytes());
        bytes(&mut v, 2, ty);
        v
    }

    /// A model of one node: `node` (already encoded), graph input `x`, output `output` of type `output_type`.
    fn model(node: &[u8], input_type: &[u8], output: &str, output_type: &[u8], ml: bool) -> Vec<u8> {
        let mut graph = vec![];
        bytes(&mut graph, 1, node);
        bytes(&mut graph, 2, b"g");
        bytes(&mut graph, 11, &value_info("x", input_type));
        bytes(&mut graph, 12, &value_info(output, output_type));
        let mut m = vec![];
        int(&mut m, 1, 8);
        bytes(&mut m, 7, &graph);
        let mut opset = vec![];
        int(&mut opset, 2, 17);
        bytes(&mut m, 8, &opset);
        if ml {
            let mut opset = vec![];
            bytes(&mut opset, 1, b"ai.onnx.ml");
            int(&mut opset, 2, 1);
            bytes(&mut m, 8, &opset);
        }
        m
    }

    /// `y = Identity(x)` for ONNX element type `elem_type`.
    pub(super) fn identity(elem_type: u64) -> Vec<u8> {
        let mut node = vec![];
        bytes(&mut node, 1, b"x");
        bytes(&mut node, 2, b"y");
        bytes(&mut node, 4, b"Identity");
        model(&node, &tensor_type(elem_type), "y", &tensor_type(elem_type), false)
    }

    /// `probs = ZipMap(x)` with class labels 0 and 1: a sequence of maps int64 → float.
    pub(super) fn zipmap() -> Vec<u8> {
        let mut node = vec![];
        bytes(&mut node, 1, b"x");
        bytes(&mut node, 2, b"probs");
        bytes(&mut node, 4, b"ZipMap");
        bytes(&mut node, 7, b"ai.onnx.ml");
        let mut labels = vec![];
        bytes(&mut labels, 1, b"classlabels_int64s");
        int(&mut labels, 8, 0);
        int(&mut labels, 8, 1);
        int(&mut labels, 20, 7); // AttributeType INTS
        bytes(&mut node, 5, &labels);
        let (mut float, mut map, mut map_type, mut sequence, mut ty) = (vec![], vec![], vec![], vec![], vec![]);
        let mut tensor = vec![];
        int(&mut tensor, 1, 1);
        bytes(&mut float, 1, &tensor);
        int(&mut map, 1, 7);
        bytes(&mut map, 2, &float);
        bytes(&mut map_type, 5, &map);
        bytes(&mut sequence, 1, &map_type);
        bytes(&mut ty, 4, &sequence);
        model(&node, &tensor_type(1), "probs", &ty, true)
    }
}
