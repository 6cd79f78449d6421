//! Gradient checks: every layer's backward pass, the loss's, and a whole network's, against central finite
//! differences of the forward pass.
//!
//! A layer is checked through the scalar `L = Σ r ⊙ layer(x)` for a fixed random `r` (so `∂L/∂y = r`), on every
//! input value and every parameter. Inputs keep clear of ReLU's kink and of ties in a pooling window, where the
//! derivative does not exist.

use super::conv::{Conv2d, MaxPool2};
use super::layers::{Dense, Layer, Standardize};
use super::loss::cross_entropy;
use super::net::Net;
use super::rng::Rng;
use super::tensor::Tensor;

const EPS: f32 = 1e-2;

fn close(numeric: f64, analytic: f64, what: &str) {
    assert!(
        (numeric - analytic).abs() <= 2e-3 + 1e-2 * analytic.abs(),
        "{what}: numeric {numeric}, analytic {analytic}"
    );
}

/// Distinct values at least 0.05 apart and at least 0.05 from zero, shuffled: no kinks or ties within `EPS`.
fn spread(n: usize, rng: &mut Rng) -> Vec<f32> {
    let mut v: Vec<f32> =
        (0..n).map(|i| (i as f32 - (n / 2) as f32) * 0.1 + 0.05 + if i % 2 == 0 { 0.0 } else { 0.003 }).collect();
    rng.shuffle(&mut v);
    v
}

fn check_layer(mut layer: Layer, input: Vec<usize>) {
    let mut rng = Rng::new(42);
    let x = Tensor::new(input.clone(), spread(input.iter().product(), &mut rng));
    let (y, cache) = layer.forward(x.clone(), true);
    let r = Tensor::new(y.shape.clone(), (0..y.data.len()).map(|_| rng.normal() as f32).collect());
    let objective = |layer: &Layer, x: &Tensor| -> f64 {
        let (y, _) = layer.forward(x.clone(), false);
        y.data.iter().zip(&r.data).map(|(y, r)| f64::from(*y) * f64::from(*r)).sum()
    };
    let mut grad = vec![0.0; layer.params().len()];
    let dx = layer.backward(cache, r.clone(), &mut grad, true).expect("an input gradient");
    assert_eq!(dx.shape, x.shape);
    let name = layer.describe();
    for i in 0..x.data.len() {
        let (mut plus, mut minus) = (x.clone(), x.clone());
        plus.data[i] += EPS;
        minus.data[i] -= EPS;
        let numeric = (objective(&layer, &plus) - objective(&layer, &minus)) / (2.0 * f64::from(EPS));
        close(numeric, f64::from(dx.data[i]), &format!("{name}: ∂/∂x[{i}]"));
    }
    for (i, analytic) in grad.iter().enumerate() {
        let keep = layer.params()[i];
        layer.params_mut()[i] = keep + EPS;
        let plus = objective(&layer, &x);
        layer.params_mut()[i] = keep - EPS;
        let minus = objective(&layer, &x);
        layer.params_mut()[i] = keep;
        close((plus - minus) / (2.0 * f64::from(EPS)), f64::from(*analytic), &format!("{name}: ∂/∂param[{i}]"));
    }
}

#[test]
fn dense() {
    let mut rng = Rng::new(1);
    let mut d = Dense::new(5, 3, &mut rng);
    d.params.iter_mut().skip(15).for_each(|b| *b = rng.normal() as f32);
    check_layer(Layer::Dense(d), vec![4, 5]);
}

#[test]
fn conv2d() {
    let mut rng = Rng::new(2);
    let mut c = Conv2d::new(2, 3, &mut rng);
    c.params.iter_mut().skip(54).for_each(|b| *b = rng.normal() as f32);
    check_layer(Layer::Conv2d(c), vec![2, 2, 4, 5]);
}

#[test]
fn maxpool_relu_flatten_standardize() {
    check_layer(Layer::MaxPool2(MaxPool2), vec![2, 3, 4, 6]);
    check_layer(Layer::MaxPool2(MaxPool2), vec![1, 1, 5, 5]);
    check_layer(Layer::Relu, vec![3, 7]);
    check_layer(Layer::Flatten, vec![2, 2, 3, 3]);
    let s = Standardize { mean: vec![0.5, -1.0, 2.0], scale: vec![2.0, 0.5, 1.0] };
    check_layer(Layer::Standardize(s), vec![4, 3]);
}

#[test]
fn softmax_cross_entropy() {
    let mut rng = Rng::new(3);
    let logits = Tensor::new(vec![3, 4], (0..12).map(|_| rng.normal() as f32 * 2.0).collect());
    let labels = [2, 0, 3];
    let (_, grad) = cross_entropy(&logits, &labels, 1.0);
    for i in 0..12 {
        let (mut plus, mut minus) = (logits.clone(), logits.clone());
        plus.data[i] += EPS;
        minus.data[i] -= EPS;
        let numeric = (cross_entropy(&plus, &labels, 1.0).0 - cross_entropy(&minus, &labels, 1.0).0) / 0.02;
        close(numeric, f64::from(grad.data[i]), &format!("∂CE/∂logit[{i}]"));
    }
}

/// The layers chained: a tiny CNN's backprop against finite differences of its summed cross-entropy.
#[test]
fn a_whole_network() {
    let mut net = super::cnn::cnn([1, 6, 6], &[3], 5, 3, 8);
    let mut rng = Rng::new(4);
    for layer in &mut net.layers {
        layer.params_mut().iter_mut().for_each(|p| *p += 0.05 * rng.normal() as f32);
    }
    let x: Vec<f32> = (0..2 * 36).map(|_| rng.uniform() as f32).collect();
    let labels = [1, 2];
    let loss = |net: &Net| cross_entropy(&net.logits(&x, 2), &labels, 1.0).0;
    let mut grads = net.zero_grads();
    let total = net.backprop(&x, &labels, 1.0, &mut grads);
    assert!((total - loss(&net)).abs() < 1e-5, "backprop's loss is the forward pass's");
    let eps = 1e-3;
    let mut checked = 0;
    for (l, layer_grads) in grads.iter().enumerate() {
        for (i, analytic) in layer_grads.iter().enumerate() {
            let keep = net.layers[l].params()[i];
            net.layers[l].params_mut()[i] = keep + eps;
            let plus = loss(&net);
            net.layers[l].params_mut()[i] = keep - eps;
            let minus = loss(&net);
            net.layers[l].params_mut()[i] = keep;
            let numeric = (plus - minus) / (2.0 * f64::from(eps));
            close(numeric, f64::from(*analytic), &format!("layer {l} param {i}"));
            checked += 1;
        }
    }
    assert_eq!(checked, net.parameter_count());
}
