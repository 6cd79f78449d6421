//! sedge's model serving, built up over issue #4: the Open Inference Protocol v2 wire format, the adaptive
//! batching policy, and image pre- and post-processing. Engines (onnxruntime through `ort`, `tract`), native
//! tree ensembles and the `/v2` routes come next.
//!
//! # Layout
//! - [`oip`]: OIP v2 types, datatypes, tensors, JSON and binary-extension codecs, validation against a model's
//!   signature.
//! - [`batch`]: the adaptive batching policy (a pure function of queue state and time) and the batcher loop.
//! - [`prep`]: image decoding and image-to-tensor pre-processing, softmax/top-k/labels post-processing.

pub mod batch;
pub mod oip;
pub mod prep;
