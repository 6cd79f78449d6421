//! [`OrtEngine`]: ONNX models run by onnxruntime through the `ort` crate, loaded at run time (`load-dynamic`:
//! nothing is downloaded or linked at build time).
//!
//! onnxruntime handles dynamic dimensions natively, so one session serves every batch size: no plans, no padding.
//! It also implements the `ai.onnx.ml` operators tract lacks (TreeEnsemble*, ArrayFeatureExtractor, ZipMap), but
//! OIP carries tensors only, so a model whose outputs are sequences or maps (ZipMap's) is refused at load.
//!
//! Threads: onnxruntime's pools spin while idle by default, which starves everything else on a small shared
//! machine. [`OrtOptions`] defaults to one intra-op thread (the calling thread: no pool at all), sequential
//! execution and no spinning; raise `intra_op_threads` for large models on a machine of their own.
//!
//! # Layout
//! - `mod.rs`: [`OrtEngine`], [`OrtOptions`]; the signature is read from the ONNX protobuf exactly as
//!   [`super::TractEngine`] reads it (onnxruntime's own view only fills in undeclared types).
//! - `library.rs`: [`ort_library`]: finding and loading the shared library and ort's environment, once per process.
//! - `convert.rs`: [`Shaped`] ↔ ort values for every OIP datatype onnxruntime supports.
//! - `tests.rs`: the reference models against onnxruntime's Python outputs, against tract, and bad inputs.

mod convert;
mod library;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::session::{Session, SessionInputValue};
use ort::value::{Outlet, ValueType};
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::Framework;

use self::convert::{from_value, not_a_tensor, oip_datatype, to_value};
pub use self::library::ort_library;
use super::meta::{graph_inputs, value_metadata};
use super::{Engine, EngineError, Shaped, input_error};
use crate::oip::TensorMetadata;

/// How an [`OrtEngine`] loads the library and sizes its threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtOptions {
    /// Threads one run uses within an operator. 1 (the default) runs on the calling thread with no pool; 0 lets
    /// onnxruntime choose (one per core).
    pub intra_op_threads: usize,
    /// Threads running independent branches of the graph in parallel; 1 (the default) runs the graph
    /// sequentially, more turns on onnxruntime's parallel execution mode.
    pub inter_op_threads: usize,
    /// Whether idle pool threads spin (onnxruntime's default) instead of sleeping; off by default.
    pub spinning: bool,
    /// The onnxruntime shared library to load; `None` searches as [`ort_library`] does. The first library loaded
    /// serves the whole process.
    pub library: Option<PathBuf>,
}

impl Default for OrtOptions {
    fn default() -> Self {
        Self { intra_op_threads: 1, inter_op_threads: 1, spinning: false, library: None }
    }
}

/// An ONNX model loaded into an onnxruntime session, running batches of any size.
pub struct OrtEngine {
    /// onnxruntime's `run` takes `&mut`: runs on one engine are serialised (one session per replica).
    session: Mutex<Session>,
    inputs: Vec<TensorMetadata>,
    outputs: Vec<TensorMetadata>,
    library: &'static Path,
}

impl std::fmt::Debug for OrtEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEngine")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

impl OrtEngine {
    /// Loads the ONNX model at `path` (external tensor data is looked up next to it).
    pub fn load(path: impl AsRef<Path>, options: &OrtOptions) -> Result<Self, EngineError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| EngineError::Io { path: path.display().to_string(), source })?;
        Self::build(&bytes, options, |builder| builder.commit_from_file(path))
    }

    /// Loads an ONNX model from its bytes (no external tensor data).
    pub fn from_bytes(bytes: &[u8], options: &OrtOptions) -> Result<Self, EngineError> {
        Self::build(bytes, options, |builder| builder.commit_from_memory(bytes))
    }

    /// The onnxruntime library the process loaded.
    pub fn library(&self) -> &'static Path {
        self.library
    }

    /// Decodes the model, loads the library, creates the session with `commit` and reads the signature.
    fn build(
        bytes: &[u8],
        options: &OrtOptions,
        commit: impl FnOnce(&mut ort::session::builder::SessionBuilder) -> ort::Result<Session>,
    ) -> Result<Self, EngineError> {
        let proto =
            tract_onnx::onnx().proto_model_for_read(&mut &*bytes).map_err(|e| EngineError::Decode(format!("{e:#}")))?;
        let (library, environment) =
            library::environment(options.library.as_deref()).map_err(EngineError::Unavailable)?;
        let mut builder = Session::builder(environment)
            .map_err(setup)?
            .with_intra_threads(options.intra_op_threads)
            .map_err(setup)?
            .with_inter_threads(options.inter_op_threads.max(1))
            .map_err(setup)?
            .with_parallel_execution(options.inter_op_threads > 1)
            .map_err(setup)?
            .with_intra_op_spinning(options.spinning)
            .map_err(setup)?
            .with_inter_op_spinning(options.spinning)
            .map_err(setup)?;
        let session = commit(&mut builder).map_err(|e| EngineError::Model(format!("onnxruntime: {e}")))?;
        let (inputs, outputs) = signature(&proto, &session)?;
        Ok(Self { session: Mutex::new(session), inputs, outputs, library })
    }
}

impl Engine for OrtEngine {
    fn inputs(&self) -> &[TensorMetadata] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorMetadata] {
        &self.outputs
    }

    fn run(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError> {
        if inputs.len() != self.inputs.len() {
            return Err(EngineError::InputCount { expected: self.inputs.len(), got: inputs.len() });
        }
        let batch = inputs.first().map_or(0, Shaped::batch);
        let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (input, meta) in inputs.into_iter().zip(&self.inputs) {
            check_shape(meta, &input.shape, batch)?;
            values.push((Cow::Borrowed(meta.name.as_str()), to_value(meta, input)?.into()));
        }
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session.run(values).map_err(|e| EngineError::Run(e.to_string()))?;
        self.outputs
            .iter()
            .map(|meta| {
                let value = outputs.get(&meta.name).ok_or_else(|| EngineError::Output {
                    output: meta.name.clone(),
                    message: "onnxruntime returned no value for it".into(),
                })?;
                from_value(&meta.name, value)
            })
            .collect()
    }
}

/// The model's inputs and outputs as the graph declares them (initializers listed as inputs left out), falling
/// back on onnxruntime's view for values without a declared type. Every output must be a tensor; outputs have a
/// dynamic leading dimension when every input has one, as [`super::TractEngine`] reports them.
fn signature(proto: &ModelProto, session: &Session) -> Result<(Vec<TensorMetadata>, Vec<TensorMetadata>), EngineError> {
    let graph = proto.graph.as_ref().ok_or_else(|| EngineError::Decode("the model has no graph".into()))?;
    let mut inputs = Vec::new();
    for value in graph_inputs(graph) {
        let meta = match value_metadata(value)? {
            Some(meta) => meta,
            None => session_metadata("input", session.inputs(), &value.name)?,
        };
        if meta.shape.is_empty() {
            return Err(EngineError::Model(format!("input `{}` is a scalar: no batch dimension", meta.name)));
        }
        inputs.push(meta);
    }
    if inputs.is_empty() || graph.output.is_empty() {
        return Err(EngineError::Model("the graph has no inputs or no outputs".into()));
    }
    if let Some(outlet) = session.outputs().iter().find(|o| !matches!(o.dtype(), ValueType::Tensor { .. })) {
        return Err(not_a_tensor("output", outlet.name(), outlet.dtype()));
    }
    let dynamic = inputs.iter().all(|m| m.shape.first() == Some(&-1));
    let mut outputs = Vec::new();
    for value in &graph.output {
        let mut meta = match value_metadata(value)? {
            Some(meta) => meta,
            None => session_metadata("output", session.outputs(), &value.name)?,
        };
        if let (true, Some(first)) = (dynamic, meta.shape.first_mut()) {
            *first = -1;
        }
        outputs.push(meta);
    }
    Ok((inputs, outputs))
}

/// The metadata onnxruntime infers for `what` (`"input"`, `"output"`) `name`, for graphs that declare no type.
fn session_metadata(what: &str, outlets: &[Outlet], name: &str) -> Result<TensorMetadata, EngineError> {
    let outlet = outlets
        .iter()
        .find(|o| o.name() == name)
        .ok_or_else(|| EngineError::Model(format!("{what} `{name}` declares no type and onnxruntime has none")))?;
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(not_a_tensor(what, name, outlet.dtype()));
    };
    let datatype = oip_datatype(*ty)
        .ok_or_else(|| EngineError::Model(format!("{what} `{name}` has type {ty}, which OIP cannot carry")))?;
    let shape = shape.iter().map(|&d| if d > 0 { d } else { -1 }).collect();
    Ok(TensorMetadata { name: name.to_owned(), datatype, shape })
}

/// The error for session options onnxruntime refused.
fn setup<R>(e: ort::Error<R>) -> EngineError {
    EngineError::Model(format!("onnxruntime session options: {e}"))
}

/// Checks an input shape: a non-empty batch leads, the rank and every fixed dimension match the model's.
fn check_shape(meta: &TensorMetadata, shape: &[usize], batch: usize) -> Result<(), EngineError> {
    if batch == 0 {
        return Err(input_error(meta, format!("shape {shape:?} has no rows: the batch is empty")));
    }
    let fits = shape.len() == meta.shape.len()
        && shape.first() == Some(&batch)
        && shape.iter().zip(&meta.shape).skip(1).all(|(&s, &m)| m < 0 || i64::try_from(s).is_ok_and(|s| s == m))
        && meta.shape.first().is_none_or(|&m| m < 0 || i64::try_from(batch).is_ok_and(|b| b == m));
    if fits {
        return Ok(());
    }
    Err(input_error(meta, format!("shape {shape:?} does not fit the model's {:?} with batch {batch}", meta.shape)))
}
