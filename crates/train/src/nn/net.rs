//! A network: the shape of one input item and a sequence of layers ending in the class logits. Softmax is applied
//! outside the layers, by the loss when training and by [`Net::probabilities`] (and the exported graph) after.

use super::layers::Layer;
use super::loss::{cross_entropy, softmax_rows};
use super::tensor::Tensor;

/// A feed-forward classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    /// One input item's shape, without the batch: `[features]` or `[channels, height, width]`.
    pub input: Vec<usize>,
    /// The layers, input to logits.
    pub layers: Vec<Layer>,
}

impl Net {
    /// Values per input item.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Each layer's output shape (without the batch), the last being `[classes]`.
    pub fn shapes(&self) -> Vec<Vec<usize>> {
        let mut shape = self.input.clone();
        self.layers
            .iter()
            .map(|l| {
                shape = l.output_shape(&shape);
                shape.clone()
            })
            .collect()
    }

    /// The number of classes (the last layer's width).
    pub fn classes(&self) -> usize {
        self.shapes().last().map_or(0, |s| s.iter().product())
    }

    /// Trainable parameters in all.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.params().len()).sum()
    }

    /// The layers, e.g. `conv3x3(1→8) relu maxpool2x2 … dense(64→10) softmax`.
    pub fn describe(&self) -> String {
        let layers: Vec<String> = self.layers.iter().map(Layer::describe).collect();
        format!("{} softmax", layers.join(" "))
    }

    /// A zero gradient for every layer, laid out as [`Layer::params`].
    pub fn zero_grads(&self) -> Vec<Vec<f32>> {
        self.layers.iter().map(|l| vec![0.0; l.params().len()]).collect()
    }

    /// The logits of `rows` input items (`rows × input_len` values), `[rows, classes]`.
    pub fn logits(&self, x: &[f32], rows: usize) -> Tensor {
        let mut shape = vec![rows];
        shape.extend(&self.input);
        let mut t = Tensor::new(shape, x.to_vec());
        for layer in &self.layers {
            t = layer.forward(t, false).0;
        }
        t
    }

    /// Class probabilities of `rows` items, row-major `[rows, classes]` (what the exported model outputs).
    pub fn probabilities(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut t = self.logits(x, rows);
        softmax_rows(&mut t.data, self.classes());
        t.data
    }

    /// One forward and backward pass over a batch: adds the gradient of `scale ×` the summed cross-entropy to
    /// `grads` (from [`Net::zero_grads`]) and returns the summed cross-entropy.
    pub fn backprop(&self, x: &[f32], labels: &[u32], scale: f32, grads: &mut [Vec<f32>]) -> f64 {
        let mut shape = vec![labels.len()];
        shape.extend(&self.input);
        let mut t = Tensor::new(shape, x.to_vec());
        let mut caches = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, cache) = layer.forward(t, true);
            caches.push(cache);
            t = y;
        }
        let (loss, mut dy) = cross_entropy(&t, labels, scale);
        for (i, (layer, cache)) in self.layers.iter().zip(caches).enumerate().rev() {
            // The first layer's input is the data: no gradient needed.
            match layer.backward(cache, dy, &mut grads[i], i > 0) {
                Some(dx) => dy = dx,
                None => break,
            }
        }
        loss
    }
}
