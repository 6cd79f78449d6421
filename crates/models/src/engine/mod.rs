//! Inference engines: the [`Engine`] trait the serving layer calls, its [`EngineError`], and the first
//! implementation, [`TractEngine`] (pure-Rust ONNX inference through `tract-onnx`).
//!
//! An engine runs one already-assembled batch, blocking the calling thread; async callers wrap
//! [`Engine::run`] in `tokio::task::spawn_blocking`. Tensors travel as [`TensorData`] (typed, row-major), each
//! input holding the whole batch in its leading dimension.
//!
//! # Layout
//! - `mod.rs`: [`Engine`], [`EngineError`].
//! - `meta.rs`: reading the ONNX graph: model signature as [`TensorMetadata`], ONNX → OIP datatypes, operators
//!   tract does not implement.
//! - `convert.rs`: [`TensorData`] ↔ tract tensors, with padding of the batch dimension and trimming.
//! - `tract.rs`: [`TractEngine`]: loading, per-batch-size plans, padding to the next plan size.
//! - `tests.rs`: the reference models and fixtures of `shared/models`.

mod convert;
mod meta;
mod tract;

#[cfg(test)]
mod tests;

pub use tract::TractEngine;

use crate::oip::{TensorData, TensorMetadata};

/// A loaded model that runs batches. Implementations are shared between threads (`Send + Sync`) and blocking.
pub trait Engine: Send + Sync {
    /// The model's inputs, in the order [`Engine::run`] takes them; `-1` marks a dynamic dimension (the leading
    /// one is the batch).
    fn inputs(&self) -> &[TensorMetadata];

    /// The model's outputs, in the order [`Engine::run`] returns them.
    fn outputs(&self) -> &[TensorMetadata];

    /// Runs one batch of `batch` items: `inputs` in the order of [`Engine::inputs`], each holding the whole batch
    /// (`batch` rows in its leading dimension). Returns the outputs in the order of [`Engine::outputs`], each
    /// with `batch` rows. Blocks the calling thread.
    fn run(&self, inputs: Vec<TensorData>, batch: usize) -> Result<Vec<TensorData>, EngineError>;
}

/// Why a model could not be loaded or a batch could not be run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model (protobuf decoding failed, or no graph).
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
    /// The graph uses operators the engine does not implement.
    #[error("model uses operator(s) not supported by tract: {}", .ops.join(", "))]
    UnsupportedOperators {
        /// The operator types (`op_type`), e.g. `TreeEnsembleRegressor`, deduplicated.
        ops: Vec<String>,
    },
    /// The model is well-formed but unusable: an input without a type or batch dimension, an unknown datatype.
    #[error("unsupported model: {0}")]
    Model(String),
    /// tract failed to type, optimize or plan the model for a batch size.
    #[error("cannot compile the model for batch size {batch}: {message}")]
    Compile {
        /// The batch size of the plan.
        batch: usize,
        /// tract's message, with its context chain.
        message: String,
    },
    /// The batch size is zero or larger than the engine was loaded for.
    #[error("batch size {batch} is out of range 1..={max}")]
    BatchSize {
        /// The batch size asked for.
        batch: usize,
        /// The largest batch the engine runs.
        max: usize,
    },
    /// The number of inputs differs from the model's.
    #[error("the model takes {expected} input(s), got {got}")]
    InputCount {
        /// The model's input count.
        expected: usize,
        /// The count given.
        got: usize,
    },
    /// An input's datatype or element count does not fit the model.
    #[error("input `{input}`: {message}")]
    Input {
        /// The input's name.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// tract failed while running the plan.
    #[error("inference failed: {0}")]
    Run(String),
    /// An output could not be converted back (unsupported datatype, no batch dimension to trim).
    #[error("output `{output}`: {message}")]
    Output {
        /// The output's name.
        output: String,
        /// What is wrong.
        message: String,
    },
}

/// Shorthand for an [`EngineError::Input`] about an input of the given datatype.
fn input_error(meta: &TensorMetadata, message: impl Into<String>) -> EngineError {
    EngineError::Input { input: meta.name.clone(), message: message.into() }
}
