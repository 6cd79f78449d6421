//! Neural networks in plain Rust, small enough to read in one sitting: no BLAS, no autograd, no framework. Each
//! layer has a hand-written backward pass, checked against finite differences (`gradcheck`, in tests).
//!
//! # Layout
//! - [`tensor`]: a shaped `f32` buffer and the three matrix products everything reduces to.
//! - [`layers`]: the [`Layer`] enum (dense, ReLU, flatten, fixed standardisation) with forward and backward;
//!   [`conv`]: 3×3 convolution by im2col and 2×2 max pooling; [`loss`]: softmax cross-entropy.
//! - [`net`]: a [`Net`], layers in sequence, with forward, backprop and probabilities.
//! - [`optim`]: Adam. [`fit`]: the training loop, data-parallel and deterministic for a seed.
//! - [`mlp`] and [`cnn`]: the two model shapes the CLI trains. [`export`]: a net as ONNX.
//! - `rng`: a seeded SplitMix64 for weights and shuffles.

pub mod cnn;
pub mod conv;
pub mod export;
pub mod fit;
pub mod layers;
pub mod loss;
pub mod mlp;
pub mod net;
pub mod optim;
pub mod rng;
pub mod tensor;

#[cfg(test)]
mod gradcheck;

pub use layers::Layer;
pub use net::Net;
