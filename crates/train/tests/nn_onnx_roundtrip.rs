//! Networks trained here, exported to ONNX and loaded by sedge's tract engine (what a model function serves),
//! give the probabilities of the Rust forward pass within 1e-4: an MLP with standardisation on the ionosphere
//! data, and the MNIST-shaped CNN on shipped test digits.

use sedge_models::engine::{Engine, Shaped, TractEngine};
use sedge_models::oip::TensorData;
use sedge_train::data::{CsvOptions, load_csv};
use sedge_train::idx::{read_images, read_labels};
use sedge_train::nn::export::{self, INPUT, OUTPUT};
use sedge_train::nn::fit::{Examples, FitParams, fit};
use sedge_train::nn::layers::Standardize;
use sedge_train::nn::{Net, cnn::cnn, mlp::mlp};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");

/// Runs `net`'s export on `rows` items through tract and compares with `net.probabilities`.
fn served_equals_forward(net: &Net, x: &[f32], rows: usize) {
    let bytes = export::export(net, &[("architecture".into(), net.describe())]);
    let engine = TractEngine::from_bytes(&bytes, rows).expect("tract loads the export");
    assert_eq!(engine.inputs()[0].name, INPUT);
    assert_eq!(engine.outputs()[0].name, OUTPUT);
    let mut shape = vec![rows];
    shape.extend(&net.input);
    let out = engine.run(vec![Shaped::new(shape, TensorData::F32(x.to_vec()))]).expect("runs");
    assert_eq!(out[0].shape, [rows, net.classes()]);
    let TensorData::F32(served) = &out[0].data else { panic!("FP32 out, got {}", out[0].data.datatype()) };
    let want = net.probabilities(x, rows);
    for (i, (got, want)) in served.iter().zip(&want).enumerate() {
        assert!((got - want).abs() <= 1e-4, "value {i}: served {got}, forward {want}");
    }
    for row in served.chunks(net.classes()) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "a softmax row sums to 1: {row:?}");
    }
}

#[test]
fn an_mlp_with_standardisation_serves_its_probabilities() {
    let options = CsvOptions { target: "Class".into(), drop: Vec::new() };
    let data = load_csv(std::fs::File::open(format!("{DATA}ionosphere.csv")).unwrap(), &options).unwrap();
    let n = data.features.len();
    let labels: Vec<u32> = data.y.iter().map(|y| *y as u32).collect();
    let mut net = mlp(n, &[16, 8], 2, Some(Standardize::fit(&data.x, n)), 1);
    let params =
        FitParams { epochs: 3, batch_size: 32, learning_rate: 0.01, seed: 1, threads: 2, ..FitParams::default() };
    fit(&mut net, Examples { x: &data.x, labels: &labels }, &params, &mut |_, _| true);
    served_equals_forward(&net, &data.x[..40 * n], 40);
}

#[test]
fn the_mnist_cnn_serves_its_probabilities() {
    let open = |name: &str| std::fs::File::open(format!("{DATA}{name}")).unwrap();
    let images = read_images(open("mnist-2k-test-images-idx3-ubyte.gz")).unwrap();
    let labels: Vec<u32> =
        read_labels(open("mnist-2k-test-labels-idx1-ubyte.gz")).unwrap()[..64].iter().map(|l| u32::from(*l)).collect();
    let x = images.scaled()[..64 * 784].to_vec();
    let mut net = cnn([1, 28, 28], &[8, 16], 64, 10, 3);
    let params =
        FitParams { epochs: 1, batch_size: 32, learning_rate: 1e-3, seed: 1, threads: 2, ..FitParams::default() };
    fit(&mut net, Examples { x: &x, labels: &labels }, &params, &mut |_, _| true);
    served_equals_forward(&net, &x[..8 * 784], 8);
}
