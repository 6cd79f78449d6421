//! [`ServeError`]: why a model function refused or failed a request, and its HTTP status. The gateway answers
//! `{"error": "<message>"}` with [`ServeError::status`], as the inference protocol asks.

use crate::batch::BatchError;
use crate::engine::EngineError;
use crate::faceblur::FaceBlurError;
use crate::oip::OipError;
use crate::prep::PrepError;

/// Why a request to a model produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The body is not a valid request, or does not fit the model's signature (400; 413 for size limits).
    #[error(transparent)]
    Request(#[from] OipError),
    /// An image could not be decoded or pre-processed (400; 413 when too large).
    #[error(transparent)]
    Image(#[from] PrepError),
    /// The input is well-formed but unusable for this model; the message says what to send instead.
    #[error("{0}")]
    Input(String),
    /// The model's batch queue is full (429).
    #[error("model {model} is overloaded: its queue of {capacity} requests is full; retry later")]
    Overloaded {
        /// The model's name.
        model: String,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The model is being replaced or shut down (503).
    #[error("model {0} is shutting down; retry")]
    Closed(String),
    /// The model could not be loaded (400 at deploy: corrupt file, unsupported operator).
    #[error("cannot load model: {0}")]
    Load(EngineError),
    /// The engine failed on the request (400 when its inputs were at fault, else 500).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The face-blur pipeline failed.
    #[error(transparent)]
    FaceBlur(#[from] FaceBlurError),
}

impl ServeError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Request(e) => e.status(),
            Self::Image(e) => e.status(),
            Self::Input(_) | Self::Load(_) => 400,
            Self::Overloaded { .. } => 429,
            Self::Closed(_) => 503,
            Self::Engine(EngineError::Input { .. } | EngineError::InputCount { .. }) => 400,
            Self::Engine(_) => 500,
            Self::FaceBlur(e) => e.status(),
        }
    }

    /// The error of a batcher submission for model `model`.
    pub(crate) fn from_batch(model: &str, e: BatchError<EngineError>) -> Self {
        match e {
            BatchError::QueueFull { capacity } => Self::Overloaded { model: model.into(), capacity },
            BatchError::Closed => Self::Closed(model.into()),
            BatchError::Engine(e) => Self::Engine(e),
            BatchError::EngineFailed(message) => Self::Engine(EngineError::Run(message)),
        }
    }
}
