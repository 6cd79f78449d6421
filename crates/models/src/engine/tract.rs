//! [`TractEngine`]: ONNX models run by `tract-onnx`, with one optimized plan per batch size.
//!
//! tract is only fast on concrete shapes (mobilenetv2: 26 ms per image with a fixed batch, 162 ms with a symbolic
//! one), so the engine compiles a plan per batch size 1, 2, 4, … (powers of two below `max_batch`, then
//! `max_batch` itself), each with the batch dimension of every input fixed. A batch runs on the smallest plan
//! that holds it: inputs are padded with zero rows up to the plan's size and outputs trimmed back.
//!
//! Plans are compiled **lazily**: the smallest one at load (which proves the model translates, optimizes and
//! plans), the others on the first batch that needs them (a `OnceLock` each, so concurrent callers wait for one
//! compilation). [`TractEngine::compile_all`] compiles them all up front, e.g. before taking traffic.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use tract_onnx::prelude::{
    DatumType, Framework, InferenceModel, InferenceModelExt, IntoRunnable, IntoTValue, TDim, TVec, TypedRunnableModel,
    onnx,
};

use super::convert::{from_tensor, to_tensor};
use super::meta::{graph_inputs, unsupported_operators, value_metadata};
use super::{Engine, EngineError, Shaped, input_error};
use crate::oip::{Datatype, TensorMetadata};

/// One batch size's plan, compiled on first use; the error is kept as text so that it can be reported again.
struct Plan {
    batch: usize,
    runnable: OnceLock<Result<Arc<TypedRunnableModel>, String>>,
}

/// An ONNX model loaded into tract, ready to run batches of up to [`TractEngine::max_batch`] items.
pub struct TractEngine {
    model: InferenceModel,
    inputs: Vec<TensorMetadata>,
    outputs: Vec<TensorMetadata>,
    plans: Vec<Plan>,
}

impl TractEngine {
    /// Loads the ONNX model at `path` (external tensor data is looked up next to it) for batches of up to
    /// `max_batch` items, compiling the batch-1 plan.
    pub fn load(path: impl AsRef<Path>, max_batch: usize) -> Result<Self, EngineError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| EngineError::Io { path: path.display().to_string(), source })?;
        let dir = path.parent().and_then(Path::to_str);
        Self::load_with_dir(&bytes, dir, max_batch)
    }

    /// Loads an ONNX model from its bytes (no external tensor data) for batches of up to `max_batch` items.
    pub fn from_bytes(bytes: &[u8], max_batch: usize) -> Result<Self, EngineError> {
        Self::load_with_dir(bytes, None, max_batch)
    }

    /// The largest batch [`Engine::run`] accepts.
    pub fn max_batch(&self) -> usize {
        self.plans.last().map_or(0, |p| p.batch)
    }

    /// The batch sizes plans exist (or will exist) for, ascending.
    pub fn plan_sizes(&self) -> Vec<usize> {
        self.plans.iter().map(|p| p.batch).collect()
    }

    /// Compiles every plan now instead of on first use.
    pub fn compile_all(&self) -> Result<(), EngineError> {
        self.plans.iter().try_for_each(|plan| self.runnable(plan).map(drop))
    }

    /// [`Engine::run`]: pads the batch up to the smallest plan that holds it, runs it, trims the outputs.
    fn run_shaped(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError> {
        if inputs.len() != self.inputs.len() {
            return Err(EngineError::InputCount { expected: self.inputs.len(), got: inputs.len() });
        }
        let batch = inputs.first().map_or(0, Shaped::batch);
        let plan = self.plans.iter().find(|p| p.batch >= batch && batch > 0);
        let plan = plan.ok_or(EngineError::BatchSize { batch, max: self.max_batch() })?;
        let runnable = self.runnable(plan)?;
        let mut tensors = TVec::new();
        for (Shaped { shape, data }, meta) in inputs.into_iter().zip(&self.inputs) {
            check_shape(meta, &shape, batch)?;
            tensors.push(to_tensor(meta, data, &shape, plan.batch)?.into_tvalue());
        }
        let outputs = runnable.run(tensors).map_err(|e| EngineError::Run(format!("{e:#}")))?;
        let names = self.outputs.iter().map(|m| m.name.as_str());
        outputs.iter().zip(names).map(|(t, name)| from_tensor(name, t, batch, plan.batch)).collect()
    }

    /// Decodes, checks and parses the model, then compiles the smallest plan.
    fn load_with_dir(bytes: &[u8], dir: Option<&str>, max_batch: usize) -> Result<Self, EngineError> {
        let onnx = onnx();
        let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(|e| EngineError::Decode(format!("{e:#}")))?;
        let graph = proto.graph.as_ref().ok_or_else(|| EngineError::Decode("the model has no graph".into()))?;
        let missing = unsupported_operators(graph, &onnx.op_register);
        if !missing.is_empty() {
            return Err(EngineError::UnsupportedOperators { ops: missing });
        }
        let mut inputs = Vec::new();
        for value in graph_inputs(graph) {
            let meta = value_metadata(value)?;
            let meta =
                meta.ok_or_else(|| EngineError::Model(format!("input `{}` declares no type and shape", value.name)))?;
            if meta.shape.is_empty() {
                return Err(EngineError::Model(format!("input `{}` is a scalar: no batch dimension", meta.name)));
            }
            inputs.push(meta);
        }
        if inputs.is_empty() || graph.output.is_empty() {
            return Err(EngineError::Model("the graph has no inputs or no outputs".into()));
        }
        let parsed = onnx.parse(&proto, dir).map_err(|e| EngineError::Model(format!("{e:#}")))?;
        if !parsed.unresolved_inputs.is_empty() {
            let names = parsed.unresolved_inputs.join(", ");
            return Err(EngineError::Model(format!("the graph uses undefined values: {names}")));
        }
        let sizes = plan_sizes(&inputs, max_batch)?;
        let plans = sizes.into_iter().map(|batch| Plan { batch, runnable: OnceLock::new() }).collect();
        let mut engine = TractEngine { model: parsed.model, inputs, outputs: Vec::new(), plans };
        let smallest = engine.plans.first().ok_or(EngineError::BatchSize { batch: 0, max: 0 })?;
        let runnable = engine.runnable(smallest)?;
        let dynamic = engine.inputs.iter().all(|m| m.shape.first() == Some(&-1));
        let mut outputs = Vec::new();
        for (i, value) in graph.output.iter().enumerate() {
            let mut meta = match value_metadata(value)? {
                Some(meta) => meta,
                None => inferred_metadata(&runnable, i, &value.name)?,
            };
            if let (true, Some(first)) = (dynamic, meta.shape.first_mut()) {
                *first = -1;
            }
            outputs.push(meta);
        }
        engine.outputs = outputs;
        Ok(engine)
    }

    /// The plan's runnable model, compiling it on first use.
    fn runnable(&self, plan: &Plan) -> Result<Arc<TypedRunnableModel>, EngineError> {
        let compiled = plan.runnable.get_or_init(|| self.compile(plan.batch).map_err(|e| format!("{e:#}")));
        compiled.clone().map_err(|message| EngineError::Compile { batch: plan.batch, message })
    }

    /// Fixes every input's leading dimension to `batch`, then types, optimizes and plans the model.
    fn compile(&self, batch: usize) -> tract_onnx::prelude::TractResult<Arc<TypedRunnableModel>> {
        let mut model = self.model.clone();
        for i in 0..self.inputs.len() {
            let mut fact = model.input_fact(i)?.clone();
            if fact.shape.dims().next().is_some() {
                fact.shape.set_dim(0, TDim::Val(i64::try_from(batch)?));
            }
            model = model.with_input_fact(i, fact)?;
        }
        model.into_optimized()?.into_runnable()
    }
}

impl Engine for TractEngine {
    fn inputs(&self) -> &[TensorMetadata] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorMetadata] {
        &self.outputs
    }

    fn max_batch(&self) -> Option<usize> {
        Some(TractEngine::max_batch(self))
    }

    fn run(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError> {
        self.run_shaped(inputs)
    }
}

/// The plan sizes for `max_batch`: `[d]` when the model fixes the batch dimension to `d`, else the powers of two
/// below `max_batch`, then `max_batch`.
fn plan_sizes(inputs: &[TensorMetadata], max_batch: usize) -> Result<Vec<usize>, EngineError> {
    let fixed: Vec<i64> = inputs.iter().filter_map(|m| m.shape.first().copied()).filter(|&d| d > 0).collect();
    if let Some(&d) = fixed.first() {
        if fixed.iter().any(|&other| other != d) {
            return Err(EngineError::Model(format!("inputs disagree on a fixed batch dimension: {fixed:?}")));
        }
        return Ok(vec![usize::try_from(d).map_err(|e| EngineError::Model(e.to_string()))?]);
    }
    if max_batch == 0 {
        return Err(EngineError::Model("max_batch must be at least 1".into()));
    }
    let mut sizes: Vec<usize> =
        std::iter::successors(Some(1usize), |n| n.checked_mul(2)).take_while(|&n| n < max_batch).collect();
    sizes.push(max_batch);
    Ok(sizes)
}

/// Checks an explicit input shape: the batch leads, the rank and every fixed dimension match the model's.
fn check_shape(meta: &TensorMetadata, shape: &[usize], batch: usize) -> Result<(), EngineError> {
    let fits = shape.len() == meta.shape.len()
        && shape.first() == Some(&batch)
        && shape.iter().zip(&meta.shape).skip(1).all(|(&s, &m)| m < 0 || i64::try_from(s).is_ok_and(|s| s == m));
    if fits {
        return Ok(());
    }
    Err(input_error(meta, format!("shape {shape:?} does not fit the model's {:?} with batch {batch}", meta.shape)))
}

/// An output's metadata from tract's typed facts, for graphs that declare no output type.
fn inferred_metadata(plan: &TypedRunnableModel, i: usize, name: &str) -> Result<TensorMetadata, EngineError> {
    let fact = plan.model().output_fact(i).map_err(|e| EngineError::Model(format!("{e:#}")))?;
    let datatype = oip_datatype(fact.datum_type).ok_or_else(|| {
        EngineError::Model(format!("output `{name}` has type {:?}, which OIP cannot carry", fact.datum_type))
    })?;
    let shape = fact.shape.iter().map(|d| d.to_i64().unwrap_or(-1)).collect();
    Ok(TensorMetadata { name: name.to_owned(), datatype, shape })
}

/// Maps a tract datum type to its OIP datatype, if it has one.
fn oip_datatype(dt: DatumType) -> Option<Datatype> {
    Some(match dt {
        DatumType::Bool => Datatype::Bool,
        DatumType::U8 => Datatype::U8,
        DatumType::U16 => Datatype::U16,
        DatumType::U32 => Datatype::U32,
        DatumType::U64 => Datatype::U64,
        DatumType::I8 => Datatype::I8,
        DatumType::I16 => Datatype::I16,
        DatumType::I32 => Datatype::I32,
        DatumType::I64 => Datatype::I64,
        DatumType::F16 => Datatype::F16,
        DatumType::F32 => Datatype::F32,
        DatumType::F64 => Datatype::F64,
        DatumType::String => Datatype::Bytes,
        _ => return None,
    })
}
