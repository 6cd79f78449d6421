//! Choosing and loading the engine for a model: `engine: auto | ort | tract` from the model's config, native
//! tree ensembles for `ai.onnx.ml` TreeEnsemble* graphs under tract. Blocking; called on the blocking pool.

use std::sync::Arc;

use sedge_core::model::{EngineChoice, ModelConfig};

use crate::engine::{Engine, EngineError, TractEngine};

/// Which engine a model was loaded into, for `describe`, metrics and logs.
pub type EngineKind = &'static str;

/// Loads `bytes` into the engine `config` asks for, compiled for batches of up to the configured batch size.
pub fn load_engine(bytes: &[u8], config: &ModelConfig) -> Result<(Arc<dyn Engine>, EngineKind), EngineError> {
    let max_batch = config.batching.max_batch_size;
    match config.engine {
        EngineChoice::Auto | EngineChoice::Tract => Ok((Arc::new(TractEngine::from_bytes(bytes, max_batch)?), "tract")),
        EngineChoice::Ort => Err(EngineError::Model("the ort engine is not available in this build".into())),
    }
}
