//! Image pre-processing and classification post-processing for model functions (SPEC §4's `input.image` and
//! `output` blocks). Pure functions: no I/O, no async.
//!
//! # Pipeline
//! 1. [`decode_image`]: raw PNG/JPEG bytes, or base64 text of them (an optional `data:image/...;base64,` prefix),
//!    with a pixel-count limit ([`DecodeLimits`]).
//! 2. [`to_tensor`]: colour conversion, resize (bilinear, [`image::imageops::FilterType::Triangle`]), then per
//!    value `v = (pixel * scale - mean[c]) / std[c]`, laid out NCHW or NHWC ([`ImageSpec`]).
//! 3. After the model: [`Postprocess::apply`] (optional softmax, top-k, labels from [`parse_labels`]).
//!
//! Every failure is a [`PrepError`]; nothing here panics on untrusted input.

mod decode;
mod error;
mod post;
mod tensor;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fixtures;

pub use decode::{DecodeLimits, decode_image, decode_image_with};
pub use error::PrepError;
pub use post::{Postprocess, Prediction, parse_labels, softmax};
pub use sedge_core::model::{Color, ImageSpec, Layout, OutputSpec};
pub use tensor::{ImageTensor, to_tensor};
