//! Choosing and loading the engine for a model, per `engine: auto | ort | tract`:
//! - `ort`: onnxruntime (library found at run time; refused at deploy, saying where it looked, when absent);
//! - `tract`: tract, or sedge's native evaluator for `ai.onnx.ml` tree-ensemble graphs, which tract lacks;
//! - `auto`: `ort` when the onnxruntime library can be loaded, else as `tract`.
//!
//! Blocking; called on the blocking pool.

use std::sync::Arc;

use sedge_core::model::{EngineChoice, ModelConfig};
use tract_onnx::prelude::Framework;

use crate::engine::{Engine, EngineError, OrtEngine, OrtOptions, TractEngine, TreeEngine, ort_library};

/// Which engine a model was loaded into (`ort`, `tract` or `trees`), for `describe`, metrics and logs.
pub type EngineKind = &'static str;

/// Loads `bytes` into the engine `config` asks for; tract plans are compiled for the configured batch size.
pub fn load_engine(bytes: &[u8], config: &ModelConfig) -> Result<(Arc<dyn Engine>, EngineKind), EngineError> {
    let ort = || {
        let options = OrtOptions { intra_op_threads: config.threads.unwrap_or(1), ..OrtOptions::default() };
        Ok((Arc::new(OrtEngine::from_bytes(bytes, &options)?) as Arc<dyn Engine>, "ort"))
    };
    match config.engine {
        EngineChoice::Ort => ort(),
        EngineChoice::Auto if ort_library(None).is_ok() => ort(),
        EngineChoice::Auto | EngineChoice::Tract => pure_rust(bytes, config.batching.max_batch_size),
    }
}

/// tract, or the native tree evaluator when the graph is a tree ensemble.
fn pure_rust(bytes: &[u8], max_batch: usize) -> Result<(Arc<dyn Engine>, EngineKind), EngineError> {
    let proto =
        tract_onnx::onnx().proto_model_for_read(&mut &*bytes).map_err(|e| EngineError::Decode(format!("{e:#}")))?;
    let graph = proto.graph.as_ref().ok_or_else(|| EngineError::Decode("the model has no graph".into()))?;
    if TreeEngine::is_tree_model(graph) {
        return Ok((Arc::new(TreeEngine::from_graph(graph)?), "trees"));
    }
    Ok((Arc::new(TractEngine::from_bytes(bytes, max_batch)?), "tract"))
}
