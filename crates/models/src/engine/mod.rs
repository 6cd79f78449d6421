//! Inference engines: the [`Engine`] trait the serving layer calls, its [`EngineError`], and the first
//! implementation, [`TractEngine`] (pure-Rust ONNX inference through `tract-onnx`).
//!
//! An engine runs one already-assembled batch, blocking the calling thread; async callers wrap
//! [`Engine::run`] in `tokio::task::spawn_blocking`. Tensors travel as [`Shaped`] (a shape and typed row-major
//! [`TensorData`]), each input holding the whole batch in its leading dimension.
//!
//! # Layout
//! - `mod.rs`: [`Engine`], [`EngineError`].
//! - `meta.rs`: reading the ONNX graph: model signature as [`TensorMetadata`], ONNX → OIP datatypes, operators
//!   tract does not implement.
//! - `convert.rs`: [`TensorData`] ↔ tract tensors, with padding of the batch dimension and trimming.
//! - `tract.rs`: [`TractEngine`]: loading, per-batch-size plans, padding to the next plan size.
//! - `onnxruntime/`: [`OrtEngine`]: onnxruntime through `ort` (library loaded at run time), any batch size.
//! - `trees/`: [`TreeEngine`]: native ONNX tree ensembles (`TreeEnsembleRegressor`/`Classifier`), as onnxruntime.
//! - `tests.rs`: the reference models and fixtures of `shared/models`.

mod convert;
pub mod meta;
mod onnxruntime;
mod tract;
mod trees;

#[cfg(test)]
mod tests;

pub use onnxruntime::{OrtEngine, OrtOptions, ort_library};
pub use tract::TractEngine;
pub use trees::TreeEngine;

use crate::oip::{TensorData, TensorMetadata};

/// A loaded model that runs batches. Implementations are shared between threads (`Send + Sync`) and blocking.
pub trait Engine: Send + Sync {
    /// The model's inputs, in the order [`Engine::run`] takes them; `-1` marks a dynamic dimension (the leading
    /// one is the batch).
    fn inputs(&self) -> &[TensorMetadata];

    /// The model's outputs, in the order [`Engine::run`] returns them.
    fn outputs(&self) -> &[TensorMetadata];

    /// The most rows one [`Engine::run`] call takes, when the engine has a limit (tract's largest plan).
    fn max_batch(&self) -> Option<usize> {
        None
    }

    /// Runs one batch: `inputs` in the order of [`Engine::inputs`], each with its full shape, the batch size
    /// leading. Returns the outputs in the order of [`Engine::outputs`], each with the same batch size leading.
    /// Blocks the calling thread.
    fn run(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError>;

    /// [`Engine::run`] for inputs given as `batch` rows of data, their other dimensions taken from the model (at
    /// most one dynamic dimension besides the batch is inferred from the length). Returns the outputs' data.
    fn run_rows(&self, inputs: Vec<TensorData>, batch: usize) -> Result<Vec<TensorData>, EngineError> {
        let metas = self.inputs();
        if inputs.len() != metas.len() {
            return Err(EngineError::InputCount { expected: metas.len(), got: inputs.len() });
        }
        let shaped = inputs
            .into_iter()
            .zip(metas)
            .map(|(data, meta)| Ok(Shaped { shape: infer_shape(meta, data.len(), batch)?, data }))
            .collect::<Result<Vec<_>, EngineError>>()?;
        Ok(self.run(shaped)?.into_iter().map(|s| s.data).collect())
    }
}

/// A tensor with its concrete shape, as engines take and return them.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    /// The dimensions, the batch first.
    pub shape: Vec<usize>,
    /// The values, row-major; `shape`'s product elements.
    pub data: TensorData,
}

impl Shaped {
    /// A tensor of `shape` holding `data`.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Self {
        Self { shape, data }
    }

    /// The leading (batch) dimension; 0 for a scalar.
    pub fn batch(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }
}

/// The shape of input `meta` holding `len` elements for `batch` rows; at most one dynamic dimension besides the
/// batch can be inferred.
pub(crate) fn infer_shape(meta: &TensorMetadata, len: usize, batch: usize) -> Result<Vec<usize>, EngineError> {
    let rest = meta.shape.get(1..).unwrap_or_default();
    let known: usize = rest.iter().filter_map(|&d| usize::try_from(d).ok()).product();
    let unknown = rest.iter().filter(|&&d| d < 0).count();
    let per_batch = batch.saturating_mul(known);
    let inferred = match unknown {
        0 => 1,
        1 if per_batch > 0 && len.is_multiple_of(per_batch) => len / per_batch,
        1 => return Err(input_error(meta, format!("{len} elements do not split into {batch} rows"))),
        _ => return Err(input_error(meta, "more than one dynamic dimension besides the batch: give shapes")),
    };
    let dims = rest.iter().map(|&d| usize::try_from(d).unwrap_or(inferred));
    Ok(std::iter::once(batch).chain(dims).collect())
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
    /// The engine's runtime cannot be loaded (e.g. no onnxruntime shared library); says what was tried.
    #[error("engine unavailable: {0}")]
    Unavailable(String),
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
