//! A multilayer perceptron for tabular rows: standardisation (fitted on the training rows), then dense layers with
//! ReLU between them, then the class logits.

use super::layers::{Dense, Layer, Standardize};
use super::net::Net;
use super::rng::Rng;

/// An MLP `features → hidden… → classes`, its weights drawn from `seed`, standardising with `standardize` when
/// given (e.g. [`Standardize::fit`] on the training rows).
pub fn mlp(features: usize, hidden: &[usize], classes: usize, standardize: Option<Standardize>, seed: u64) -> Net {
    let mut rng = Rng::new(seed);
    let mut layers: Vec<Layer> = standardize.into_iter().map(Layer::Standardize).collect();
    let mut width = features;
    for &h in hidden {
        layers.push(Layer::Dense(Dense::new(width, h, &mut rng)));
        layers.push(Layer::Relu);
        width = h;
    }
    layers.push(Layer::Dense(Dense::new(width, classes, &mut rng)));
    Net { input: vec![features], layers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fit::{Examples, FitParams, evaluate, fit};

    #[test]
    fn an_mlp_learns_xor() {
        let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let labels = [0, 1, 1, 0];
        let mut net = mlp(2, &[8], 2, None, 5);
        let data = Examples { x: &x, labels: &labels };
        let params =
            FitParams { epochs: 300, batch_size: 4, learning_rate: 0.05, seed: 1, threads: 1, ..FitParams::default() };
        let mut losses = Vec::new();
        fit(&mut net, data, &params, &mut |_, e| {
            losses.push(e.loss);
            true
        });
        assert_eq!(evaluate(&net, data, 1).1, 1.0, "XOR: all four right");
        assert!(
            losses[losses.len() - 1] < 0.05 && losses[0] > 0.5,
            "loss {} → {}",
            losses[0],
            losses[losses.len() - 1]
        );
        let p = net.probabilities(&x, 4);
        assert!(p.chunks(2).zip(labels).all(|(p, l)| p[l as usize] > 0.9), "{p:?}");
    }

    #[test]
    fn the_same_seed_trains_the_same_weights_whatever_the_thread_count() {
        // Two blobs in 5 dimensions, 200 rows, standardised.
        let mut rng = Rng::new(9);
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let class = i % 2;
            x.extend((0..5).map(|_| (rng.normal() + 3.0 * class as f64) as f32 * 10.0 + 50.0));
            labels.push(class as u32);
        }
        let data = Examples { x: &x, labels: &labels };
        let train = |threads| {
            let mut net = mlp(5, &[16, 8], 2, Some(Standardize::fit(&x, 5)), 7);
            let params =
                FitParams { epochs: 5, batch_size: 64, learning_rate: 0.01, seed: 3, threads, ..FitParams::default() };
            fit(&mut net, data, &params, &mut |_, _| true);
            net
        };
        let (one, three) = (train(1), train(3));
        assert_eq!(one, three);
        assert!(evaluate(&one, data, 2).1 > 0.97, "separable blobs: {}", evaluate(&one, data, 2).1);
    }
}
