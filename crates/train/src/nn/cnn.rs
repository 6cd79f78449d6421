//! A small convolutional network for images, the shape of the shipped `mnist_cnn.onnx`: blocks of 3×3 convolution,
//! ReLU and 2×2 max pooling, then a hidden dense layer with ReLU, then the class logits.

use super::conv::{Conv2d, MaxPool2};
use super::layers::{Dense, Layer};
use super::net::Net;
use super::rng::Rng;

/// A CNN on `[channels, height, width]` images: one conv block per entry of `filters` (its output channels), then
/// `hidden` units, then `classes` logits; weights drawn from `seed`. MNIST's reference is `cnn([1, 28, 28], &[8,
/// 16], 64, 10, seed)`: 28×28 → 14×14 → 7×7, 784 features into the dense layers.
pub fn cnn(input: [usize; 3], filters: &[usize], hidden: usize, classes: usize, seed: u64) -> Net {
    let mut rng = Rng::new(seed);
    let [mut channels, mut height, mut width] = input;
    let mut layers = Vec::new();
    for &f in filters {
        layers.push(Layer::Conv2d(Conv2d::new(channels, f, &mut rng)));
        layers.push(Layer::Relu);
        layers.push(Layer::MaxPool2(MaxPool2));
        (channels, height, width) = (f, height / 2, width / 2);
    }
    layers.push(Layer::Flatten);
    let flat = channels * height * width;
    layers.push(Layer::Dense(Dense::new(flat, hidden, &mut rng)));
    layers.push(Layer::Relu);
    layers.push(Layer::Dense(Dense::new(hidden, classes, &mut rng)));
    Net { input: input.to_vec(), layers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fit::{Examples, FitParams, evaluate, fit};

    /// 8×8 images: a horizontal bar (class 0) or a vertical one (class 1) at a random place, with noise.
    fn bars(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (class, at) = (i % 2, 1 + rng.below(6));
            let mut image: Vec<f32> = (0..64).map(|_| (rng.uniform() * 0.3) as f32).collect();
            for k in 0..8 {
                let (y, x) = if class == 0 { (at, k) } else { (k, at) };
                image[y * 8 + x] = 1.0;
            }
            x.extend(image);
            labels.push(class as u32);
        }
        (x, labels)
    }

    #[test]
    fn a_cnn_tells_horizontal_from_vertical_bars() {
        let mut net = cnn([1, 8, 8], &[4], 8, 2, 11);
        assert_eq!(net.shapes().last(), Some(&vec![2]));
        assert_eq!(net.parameter_count(), (4 * 9 + 4) + (64 * 8 + 8) + (8 * 2 + 2));
        let (x, labels) = bars(64, 1);
        let params =
            FitParams { epochs: 15, batch_size: 16, learning_rate: 0.01, seed: 2, threads: 2, ..FitParams::default() };
        fit(&mut net, Examples { x: &x, labels: &labels }, &params, &mut |_, _| true);
        let (tx, tl) = bars(40, 99);
        let (_, accuracy) = evaluate(&net, Examples { x: &tx, labels: &tl }, 2);
        assert_eq!(accuracy, 1.0, "held-out bars");
    }
}
