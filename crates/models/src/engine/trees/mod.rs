//! [`TreeEngine`]: native evaluation of ONNX `ai.onnx.ml` tree ensembles (`TreeEnsembleRegressor`,
//! `TreeEnsembleClassifier`), which tract does not implement: the gradient-boosted and random-forest models
//! XGBoost, LightGBM and scikit-learn export. Outputs follow onnxruntime 1.32's, quirks included (see `eval.rs`),
//! and are checked against it to 1e-5.
//!
//! The model's small graph is planned once at load (the tree nodes, and around them only `Identity` and numeric
//! `Cast`); each tree node is validated and compiled into a flat node array, so a batch is a walk per row and tree
//! with no allocation per row. Any batch size runs; inputs are FP32, FP64, INT64 or INT32 as the graph declares.
//! It does not run other operators (`ZipMap` included: its maps have no OIP tensor form), sparse or external
//! tensor data, nor the `TreeEnsemble` operator of `ai.onnx.ml` opset 5.
//!
//! # Layout
//! - `mod.rs`: [`TreeEngine`], the [`Engine`] implementation.
//! - `graph.rs`: the graph plan: supported operators, value slots, inferred metadata, `Identity`/`Cast`, running.
//! - `attrs.rs`: a tree node's attributes → a validated ensemble in flat layout (every check, with the attribute
//!   named in the error).
//! - `layout.rs`: the compiled ensemble: flat node array, votes, options.
//! - `eval.rs`: the pure evaluation: tree walk, aggregation, base values, binary rules, labels.
//! - `post.rs`: post_transform math (logistic, softmax, softmax-zero, probit) as onnxruntime computes it.
//! - `tests.rs`: the reference models against onnxruntime, the hand-built cases of
//!   `tests/fixtures/trees/handbuilt.json`, malformed models, a property test.

mod attrs;
mod eval;
mod graph;
mod layout;
mod post;

#[cfg(test)]
mod tests;

use std::path::Path;

use tract_onnx::pb::GraphProto;
use tract_onnx::prelude::Framework;

use super::{Engine, EngineError, Shaped};
use crate::oip::TensorMetadata;

/// An ONNX tree-ensemble model evaluated natively, ready to run batches of any size.
pub struct TreeEngine {
    plan: graph::Plan,
}

impl TreeEngine {
    /// Loads the ONNX model at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EngineError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| EngineError::Io { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes)
    }

    /// Loads an ONNX model from its bytes: decodes it, plans its graph and validates every tree node.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EngineError> {
        let proto =
            tract_onnx::onnx().proto_model_for_read(&mut &*bytes).map_err(|e| EngineError::Decode(format!("{e:#}")))?;
        let graph = proto.graph.as_ref().ok_or_else(|| EngineError::Decode("the model has no graph".into()))?;
        Self::from_graph(graph)
    }

    /// Loads an already decoded graph. Errors: [`EngineError::UnsupportedOperators`] for operators other than the
    /// tree ensembles, `Identity` and `Cast`; [`EngineError::Model`] for a malformed tree node or graph.
    pub fn from_graph(graph: &GraphProto) -> Result<Self, EngineError> {
        Ok(Self { plan: graph::plan(graph)? })
    }

    /// True when `graph` holds a `TreeEnsembleRegressor` or `TreeEnsembleClassifier` and every node is one this
    /// engine evaluates: the test for choosing it over tract. (The model may still fail to load if malformed.)
    pub fn is_tree_model(graph: &GraphProto) -> bool {
        graph.node.iter().any(|n| attrs::is_tree_op(&n.op_type)) && graph.node.iter().all(graph::is_supported)
    }
}

impl Engine for TreeEngine {
    fn inputs(&self) -> &[TensorMetadata] {
        &self.plan.inputs
    }

    fn outputs(&self) -> &[TensorMetadata] {
        &self.plan.outputs
    }

    fn run(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError> {
        self.plan.run(inputs)
    }
}
