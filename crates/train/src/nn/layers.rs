//! The layers a network is a sequence of, each with its forward pass and its backward pass (the gradient of the
//! loss with respect to its parameters and, when asked, its input).
//!
//! Parameters live in one `Vec<f32>` per layer, weights then biases, so the optimizer and the data-parallel
//! gradient sums treat every layer alike; a layer's gradient has the same layout. The convolution and the pooling
//! are in [`super::conv`].

use super::conv::{Conv2d, MaxPool2};
use super::rng::Rng;
use super::tensor::{Tensor, matmul, matmul_at, matmul_bt};

/// One step of a network.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// `(x − mean) · scale` per feature, fixed (fitted on the training set, not trained).
    Standardize(Standardize),
    /// Fully connected: `x · Wᵀ + b` (ONNX `Gemm` with `transB = 1`).
    Dense(Dense),
    /// 3×3 convolution, stride 1, padding 1.
    Conv2d(Conv2d),
    /// 2×2 max pooling, stride 2.
    MaxPool2(MaxPool2),
    /// `max(x, 0)`.
    Relu,
    /// `[N, …]` → `[N, product]`.
    Flatten,
}

/// What a forward pass keeps for the backward pass.
#[derive(Debug)]
pub enum Cache {
    /// Nothing (inference, or a layer that needs nothing).
    None,
    /// The layer's input (dense).
    Input(Tensor),
    /// The layer's output (ReLU: its sign is the mask).
    Output(Tensor),
    /// The convolution's im2col matrices, one per batch item, and the input's shape.
    Columns(Vec<f32>, Vec<usize>),
    /// Max pooling: the input index each output came from, and the input's shape.
    Argmax(Vec<u32>, Vec<usize>),
    /// The input's shape (flatten).
    Shape(Vec<usize>),
}

impl Layer {
    /// Runs the layer on a batch; with `keep`, returns what [`Layer::backward`] needs.
    pub fn forward(&self, x: Tensor, keep: bool) -> (Tensor, Cache) {
        match self {
            Layer::Standardize(s) => (s.forward(x), Cache::None),
            Layer::Dense(d) => {
                let y = d.forward(&x);
                (y, if keep { Cache::Input(x) } else { Cache::None })
            }
            Layer::Conv2d(c) => c.forward(x, keep),
            Layer::MaxPool2(p) => p.forward(x, keep),
            Layer::Relu => {
                let mut y = x;
                y.data.iter_mut().for_each(|v| *v = v.max(0.0));
                let cache = if keep { Cache::Output(y.clone()) } else { Cache::None };
                (y, cache)
            }
            Layer::Flatten => {
                let shape = x.shape.clone();
                let y = Tensor { shape: vec![x.batch(), x.item_len()], data: x.data };
                (y, if keep { Cache::Shape(shape) } else { Cache::None })
            }
        }
    }

    /// Adds the loss's gradient with respect to the parameters to `grad` (same layout as [`Layer::params`]) and,
    /// with `input_grad`, returns the gradient with respect to the input. `dy` is the output's gradient.
    pub fn backward(&self, cache: Cache, dy: Tensor, grad: &mut [f32], input_grad: bool) -> Option<Tensor> {
        match (self, cache) {
            (Layer::Standardize(s), _) => input_grad.then(|| s.backward(dy)),
            (Layer::Dense(d), Cache::Input(x)) => d.backward(&x, &dy, grad, input_grad),
            (Layer::Conv2d(c), Cache::Columns(cols, shape)) => c.backward(&cols, &shape, &dy, grad, input_grad),
            (Layer::MaxPool2(_), Cache::Argmax(from, shape)) => {
                input_grad.then(|| MaxPool2::backward(&from, shape, &dy))
            }
            (Layer::Relu, Cache::Output(y)) => input_grad.then(|| {
                let mut dx = dy;
                dx.data.iter_mut().zip(&y.data).for_each(|(d, y)| *d = if *y > 0.0 { *d } else { 0.0 });
                dx
            }),
            (Layer::Flatten, Cache::Shape(shape)) => input_grad.then_some(Tensor { shape, data: dy.data }),
            (layer, cache) => panic!("backward of {layer:?} without its forward cache ({cache:?})"),
        }
    }

    /// The trainable parameters, weights then biases (empty for layers without any).
    pub fn params(&self) -> &[f32] {
        match self {
            Layer::Dense(d) => &d.params,
            Layer::Conv2d(c) => &c.params,
            _ => &[],
        }
    }

    /// [`Layer::params`], writable.
    pub fn params_mut(&mut self) -> &mut [f32] {
        match self {
            Layer::Dense(d) => &mut d.params,
            Layer::Conv2d(c) => &mut c.params,
            _ => &mut [],
        }
    }

    /// The shape of one output item for one input item of `input` (both without the batch).
    pub fn output_shape(&self, input: &[usize]) -> Vec<usize> {
        match self {
            Layer::Standardize(_) | Layer::Relu => input.to_vec(),
            Layer::Dense(d) => vec![d.outputs],
            Layer::Conv2d(c) => vec![c.out_channels, input[1], input[2]],
            Layer::MaxPool2(_) => vec![input[0], input[1] / 2, input[2] / 2],
            Layer::Flatten => vec![input.iter().product()],
        }
    }

    /// A short name with its sizes, e.g. `dense(784→64)`.
    pub fn describe(&self) -> String {
        match self {
            Layer::Standardize(s) => format!("standardize({})", s.mean.len()),
            Layer::Dense(d) => format!("dense({}→{})", d.inputs, d.outputs),
            Layer::Conv2d(c) => format!("conv3x3({}→{})", c.in_channels, c.out_channels),
            Layer::MaxPool2(_) => "maxpool2x2".into(),
            Layer::Relu => "relu".into(),
            Layer::Flatten => "flatten".into(),
        }
    }
}

/// Fixed per-feature standardisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardize {
    /// Subtracted from each feature.
    pub mean: Vec<f32>,
    /// Then multiplied into it (1 / standard deviation, or 1 for a constant feature).
    pub scale: Vec<f32>,
}

impl Standardize {
    /// Fitted on `rows × features` values: each feature's mean and 1 / standard deviation.
    pub fn fit(x: &[f32], features: usize) -> Self {
        let rows = (x.len() / features.max(1)).max(1) as f64;
        let mut mean = vec![0f64; features];
        for row in x.chunks_exact(features) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += f64::from(*v));
        }
        mean.iter_mut().for_each(|m| *m /= rows);
        let mut var = vec![0f64; features];
        for row in x.chunks_exact(features) {
            var.iter_mut().zip(row).zip(&mean).for_each(|((s, v), m)| *s += (f64::from(*v) - m).powi(2));
        }
        let scale = var.iter().map(|s| if *s > 1e-12 { (rows / s).sqrt() as f32 } else { 1.0 }).collect();
        Self { mean: mean.iter().map(|m| *m as f32).collect(), scale }
    }

    fn forward(&self, mut x: Tensor) -> Tensor {
        for row in x.data.chunks_exact_mut(self.mean.len()) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) * s;
            }
        }
        x
    }

    fn backward(&self, mut dy: Tensor) -> Tensor {
        for row in dy.data.chunks_exact_mut(self.scale.len()) {
            row.iter_mut().zip(&self.scale).for_each(|(d, s)| *d *= s);
        }
        dy
    }
}

/// A fully connected layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// `outputs × inputs` weights (row `o` feeds output `o`), then `outputs` biases.
    pub params: Vec<f32>,
}

impl Dense {
    /// He-initialised weights (normal, variance 2 / inputs), zero biases.
    pub fn new(inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        let std = (2.0 / inputs as f64).sqrt();
        let mut params: Vec<f32> = (0..inputs * outputs).map(|_| (rng.normal() * std) as f32).collect();
        params.resize(inputs * outputs + outputs, 0.0);
        Self { inputs, outputs, params }
    }

    /// The weights, `outputs × inputs`.
    pub fn weights(&self) -> &[f32] {
        &self.params[..self.inputs * self.outputs]
    }

    /// The biases.
    pub fn bias(&self) -> &[f32] {
        &self.params[self.inputs * self.outputs..]
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let n = x.batch();
        let mut y = Tensor::zeros(vec![n, self.outputs]);
        for row in y.data.chunks_exact_mut(self.outputs) {
            row.copy_from_slice(self.bias());
        }
        matmul_bt(&x.data, self.weights(), &mut y.data, n, self.inputs, self.outputs);
        y
    }

    fn backward(&self, x: &Tensor, dy: &Tensor, grad: &mut [f32], input_grad: bool) -> Option<Tensor> {
        let n = x.batch();
        let (dw, db) = grad.split_at_mut(self.inputs * self.outputs);
        matmul_at(&dy.data, &x.data, dw, self.outputs, n, self.inputs);
        for row in dy.data.chunks_exact(self.outputs) {
            db.iter_mut().zip(row).for_each(|(b, d)| *b += d);
        }
        input_grad.then(|| {
            let mut dx = Tensor::zeros(x.shape.clone());
            matmul(&dy.data, self.weights(), &mut dx.data, n, self.outputs, self.inputs);
            dx
        })
    }
}
