//! The small graph around the tree nodes, planned once and run natively: value names resolved to slots, nodes put
//! in dependency order, every value's datatype and shape inferred, and each node turned into a [`Step`]. The
//! operators handled are the tree ensembles (`ai.onnx.ml`) and the glue exporters put around them, `Identity` and
//! `Cast` between FP32, FP64, INT64 and INT32 (the default domain); anything else is unsupported.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use tract_onnx::pb::{GraphProto, NodeProto};

use super::attrs::{ensemble, is_tree_op};
use super::eval::Prediction;
use super::layout::{Ensemble, Kind, Labels, Real};
use crate::engine::meta::{graph_inputs, onnx_datatype, value_metadata};
use crate::engine::{EngineError, Shaped, input_error};
use crate::oip::{Datatype, TensorData, TensorMetadata};

/// True when the tree engine evaluates nodes of this domain and type.
pub(super) fn is_supported(node: &NodeProto) -> bool {
    match node.domain.as_str() {
        "ai.onnx.ml" => is_tree_op(&node.op_type),
        "" | "ai.onnx" => matches!(node.op_type.as_str(), "Identity" | "Cast"),
        _ => false,
    }
}

/// The operator types of `graph` the tree engine does not evaluate, sorted and deduplicated.
pub(super) fn unsupported_operators(graph: &GraphProto) -> Vec<String> {
    let missing: BTreeSet<&str> = graph.node.iter().filter(|n| !is_supported(n)).map(|n| n.op_type.as_str()).collect();
    missing.into_iter().map(str::to_owned).collect()
}

/// An ensemble with its threshold type: FP32 for FP32 and integer inputs, FP64 for FP64 inputs.
enum Trees {
    F32(Ensemble<f32>),
    F64(Ensemble<f64>),
}

/// One node, its values as slots.
enum Step {
    /// `Identity`.
    Identity { input: usize, output: usize },
    /// `Cast` to `to`.
    Cast { input: usize, output: usize, to: Datatype },
    /// A tree ensemble: `outputs` are the regressor's values, or the classifier's labels then scores.
    Trees { input: usize, trees: Box<Trees>, outputs: [Option<usize>; 2] },
}

/// A planned graph.
pub(super) struct Plan {
    /// The graph's inputs, in order; the leading dimension is the batch.
    pub(super) inputs: Vec<TensorMetadata>,
    /// The graph's outputs, in order.
    pub(super) outputs: Vec<TensorMetadata>,
    input_slots: Vec<usize>,
    output_slots: Vec<usize>,
    steps: Vec<Step>,
    slots: usize,
}

/// Plans `graph`: every operator supported, at least one tree node, values defined once and before use.
pub(super) fn plan(graph: &GraphProto) -> Result<Plan, EngineError> {
    let ops = unsupported_operators(graph);
    if !ops.is_empty() {
        return Err(EngineError::UnsupportedOperators { ops });
    }
    if !graph.node.iter().any(|n| is_tree_op(&n.op_type)) {
        return Err(EngineError::Model("the graph has no TreeEnsembleRegressor or TreeEnsembleClassifier".into()));
    }
    let mut values: HashMap<String, (usize, TensorMetadata)> = HashMap::new();
    let mut inputs = Vec::new();
    for value in graph_inputs(graph) {
        let meta = value_metadata(value)?
            .ok_or_else(|| EngineError::Model(format!("input `{}` declares no type and shape", value.name)))?;
        if meta.shape.is_empty() {
            return Err(EngineError::Model(format!("input `{}` is a scalar: no batch dimension", meta.name)));
        }
        define(&mut values, &meta.name, meta.clone())?;
        inputs.push(meta);
    }
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut pending: Vec<&NodeProto> = graph.node.iter().collect();
    let mut steps = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|n| n.input.iter().all(|i| values.contains_key(i)));
        let Some(ready) = ready else {
            let node = pending[0];
            let input = node.input.iter().find(|i| !values.contains_key(*i)).map_or("", String::as_str);
            let why = if initializers.contains(input) { "an initializer, which" } else { "a value that" };
            return Err(EngineError::Model(format!(
                "{} `{}` reads `{input}`, {why} the tree engine does not produce",
                node.op_type, node.name
            )));
        };
        steps.push(step(pending.remove(ready), &mut values)?);
    }
    let mut outputs = Vec::new();
    let mut output_slots = Vec::new();
    for value in &graph.output {
        let (slot, meta) = values
            .get(&value.name)
            .ok_or_else(|| EngineError::Model(format!("output `{}` is not computed by the graph", value.name)))?;
        output_slots.push(*slot);
        outputs.push(TensorMetadata { name: value.name.clone(), ..meta.clone() });
    }
    if inputs.is_empty() || outputs.is_empty() {
        return Err(EngineError::Model("the graph has no inputs or no outputs".into()));
    }
    let input_slots = inputs.iter().map(|m| values[&m.name].0).collect();
    Ok(Plan { inputs, outputs, input_slots, output_slots, steps, slots: values.len() })
}

/// Adds value `name` with `meta` (its name aside), returning its slot; a name defined twice is an error.
fn define(
    values: &mut HashMap<String, (usize, TensorMetadata)>,
    name: &str,
    meta: TensorMetadata,
) -> Result<usize, EngineError> {
    let slot = values.len();
    if values.insert(name.to_owned(), (slot, meta)).is_some() {
        return Err(EngineError::Model(format!("value `{name}` is defined twice")));
    }
    Ok(slot)
}

/// The step for `node`, defining its outputs.
fn step(node: &NodeProto, values: &mut HashMap<String, (usize, TensorMetadata)>) -> Result<Step, EngineError> {
    let error = |message: String| EngineError::Model(format!("{} `{}`: {message}", node.op_type, node.name));
    let (input, meta) = match &node.input[..] {
        [name] => values[name].clone(),
        other => return Err(error(format!("takes one input, has {}", other.len()))),
    };
    let numeric = |d: Datatype| matches!(d, Datatype::F32 | Datatype::F64 | Datatype::I64 | Datatype::I32);
    let single_output = || match &node.output[..] {
        [name] if !name.is_empty() => Ok(name.as_str()),
        _ => Err(error("must have one output".into())),
    };
    match node.op_type.as_str() {
        "Identity" => {
            let output = define(values, single_output()?, meta)?;
            Ok(Step::Identity { input, output })
        }
        "Cast" => {
            let to = node.attribute.iter().find(|a| a.name == "to").map(|a| a.i).unwrap_or_default();
            let to = i32::try_from(to).ok().and_then(onnx_datatype).filter(|&d| numeric(d));
            let to = to.ok_or_else(|| error("only casts to FP32, FP64, INT64 or INT32 are supported".into()))?;
            if !numeric(meta.datatype) {
                return Err(error(format!("cannot cast {} (FP32, FP64, INT64 or INT32 only)", meta.datatype)));
            }
            let output = define(values, single_output()?, TensorMetadata { datatype: to, ..meta })?;
            Ok(Step::Cast { input, output, to })
        }
        _ => trees_step(node, input, &meta, values).map_err(error),
    }
}

/// The step for a tree node reading slot `input` of `meta`.
fn trees_step(
    node: &NodeProto,
    input: usize,
    meta: &TensorMetadata,
    values: &mut HashMap<String, (usize, TensorMetadata)>,
) -> Result<Step, String> {
    let (batch, width) = match meta.shape[..] {
        [batch, width] => (batch, usize::try_from(width).ok()),
        _ => return Err(format!("input `{}` must be 2-D [batch, features], not {:?}", meta.name, meta.shape)),
    };
    let trees = match meta.datatype {
        Datatype::F32 | Datatype::I64 | Datatype::I32 => Trees::F32(ensemble(node, width)?),
        Datatype::F64 => Trees::F64(ensemble(node, width)?),
        other => return Err(format!("input `{}` is {other}; FP32, FP64, INT64 or INT32 expected", meta.name)),
    };
    let (kind_outputs, n) = match &trees {
        Trees::F32(e) => (output_types(e), e.n_outputs as i64),
        Trees::F64(e) => (output_types(e), e.n_outputs as i64),
    };
    if node.output.len() > kind_outputs.len() {
        return Err(format!("has {} outputs, at most {} expected", node.output.len(), kind_outputs.len()));
    }
    let mut outputs = [None, None];
    for (i, name) in node.output.iter().enumerate().filter(|(_, name)| !name.is_empty()) {
        let (datatype, per_row) = kind_outputs[i];
        let shape = if per_row { vec![batch, n] } else { vec![batch] };
        let meta = TensorMetadata { name: name.clone(), datatype, shape };
        outputs[i] = Some(define(values, name, meta).map_err(|e| e.to_string())?);
    }
    Ok(Step::Trees { input, trees: Box::new(trees), outputs })
}

/// The datatypes of an ensemble's outputs, with whether each has a column per target or class.
fn output_types<T: Real>(e: &Ensemble<T>) -> Vec<(Datatype, bool)> {
    match &e.kind {
        Kind::Regressor => vec![(Datatype::F32, true)],
        Kind::Classifier { labels: Labels::Int(_), .. } => vec![(Datatype::I64, false), (Datatype::F32, true)],
        Kind::Classifier { labels: Labels::Str(_), .. } => vec![(Datatype::Bytes, false), (Datatype::F32, true)],
    }
}

impl Plan {
    /// Runs the steps on `inputs` (checked against the graph's inputs) and returns the graph's outputs.
    pub(super) fn run(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError> {
        if inputs.len() != self.inputs.len() {
            return Err(EngineError::InputCount { expected: self.inputs.len(), got: inputs.len() });
        }
        let mut slots: Vec<Option<Shaped>> = vec![None; self.slots];
        for ((shaped, meta), &slot) in inputs.into_iter().zip(&self.inputs).zip(&self.input_slots) {
            check_input(meta, &shaped)?;
            slots[slot] = Some(shaped);
        }
        for step in &self.steps {
            match step {
                Step::Identity { input, output } => slots[*output] = slots[*input].clone(),
                Step::Cast { input, output, to } => {
                    let value = slot(&slots, *input)?;
                    let data = cast(&value.data, *to).ok_or_else(|| EngineError::Run("unsupported cast".into()))?;
                    slots[*output] = Some(Shaped::new(value.shape.clone(), data));
                }
                Step::Trees { input, trees, outputs } => {
                    let produced = run_trees(trees, slot(&slots, *input)?)?;
                    for (slot, value) in outputs.iter().zip(produced) {
                        if let Some(slot) = slot {
                            slots[*slot] = Some(value);
                        }
                    }
                }
            }
        }
        self.output_slots.iter().map(|&s| slot(&slots, s).cloned()).collect()
    }
}

/// The value in `slot`, which the plan's order guarantees is computed.
fn slot(slots: &[Option<Shaped>], slot: usize) -> Result<&Shaped, EngineError> {
    slots.get(slot).and_then(Option::as_ref).ok_or_else(|| EngineError::Run(format!("value {slot} was not computed")))
}

/// Checks an input's datatype, shape (rank and fixed dimensions) and element count.
fn check_input(meta: &TensorMetadata, shaped: &Shaped) -> Result<(), EngineError> {
    if shaped.data.datatype() != meta.datatype {
        let message = format!("datatype {} given, the model takes {}", shaped.data.datatype(), meta.datatype);
        return Err(input_error(meta, message));
    }
    let fits = shaped.shape.len() == meta.shape.len()
        && shaped.shape.iter().zip(&meta.shape).skip(1).all(|(&s, &m)| m < 0 || i64::try_from(s) == Ok(m));
    if !fits {
        return Err(input_error(meta, format!("shape {:?} does not fit the model's {:?}", shaped.shape, meta.shape)));
    }
    let elements = shaped.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if elements != Some(shaped.data.len()) {
        let message = format!("{} elements given for shape {:?}", shaped.data.len(), shaped.shape);
        return Err(input_error(meta, message));
    }
    Ok(())
}

/// Evaluates a tree node on its `[rows, width]` input; returns its outputs in node order.
fn run_trees(trees: &Trees, input: &Shaped) -> Result<Vec<Shaped>, EngineError> {
    let [rows, width] = input.shape[..] else {
        return Err(EngineError::Run(format!("tree input has shape {:?}, not [batch, features]", input.shape)));
    };
    let prediction = match (trees, &input.data) {
        (Trees::F32(e), data) => {
            let x: Cow<'_, [f32]> = match data {
                TensorData::F32(v) => Cow::Borrowed(v),
                TensorData::I64(v) => v.iter().map(|&x| x as f32).collect(),
                TensorData::I32(v) => v.iter().map(|&x| x as f32).collect(),
                other => return Err(EngineError::Run(format!("tree input is {}", other.datatype()))),
            };
            (e.n_outputs, e.predict(&x, rows, width))
        }
        (Trees::F64(e), TensorData::F64(x)) => (e.n_outputs, e.predict(x, rows, width)),
        (Trees::F64(_), other) => return Err(EngineError::Run(format!("tree input is {}", other.datatype()))),
    };
    let (n, prediction) = (prediction.0, prediction.1.map_err(EngineError::Run)?);
    Ok(match prediction {
        Prediction::Regression(values) => vec![Shaped::new(vec![rows, n], TensorData::F32(values))],
        Prediction::Classification { labels, probabilities } => {
            vec![Shaped::new(vec![rows], labels), Shaped::new(vec![rows, n], TensorData::F32(probabilities))]
        }
    })
}

/// ONNX `Cast` between FP32, FP64, INT64 and INT32 (floats to integers truncate, saturating; NaN becomes 0).
fn cast(data: &TensorData, to: Datatype) -> Option<TensorData> {
    macro_rules! to {
        ($v:expr) => {
            match to {
                Datatype::F32 => TensorData::F32($v.iter().map(|&x| x as f32).collect()),
                Datatype::F64 => TensorData::F64($v.iter().map(|&x| x as f64).collect()),
                Datatype::I64 => TensorData::I64($v.iter().map(|&x| x as i64).collect()),
                Datatype::I32 => TensorData::I32($v.iter().map(|&x| x as i32).collect()),
                _ => return None,
            }
        };
    }
    Some(match data {
        TensorData::F32(v) => to!(v),
        TensorData::F64(v) => to!(v),
        TensorData::I64(v) => to!(v),
        TensorData::I32(v) => to!(v),
        _ => return None,
    })
}
