//! sedge's model serving, built up over issue #4: the Open Inference Protocol v2 wire format and the adaptive
//! batching policy. Engines (onnxruntime through `ort`, `tract`), image preprocessing and the `/v2` routes
//! come next.
//!
//! # Layout
//! - [`oip`]: OIP v2 types, datatypes, tensors, JSON and binary-extension codecs, validation against a model's
//!   signature.
//! - [`batch`]: the adaptive batching policy (a pure function of queue state and time) and the batcher loop.

pub mod batch;
pub mod oip;
