//! The control API, behind basic auth: OpenFaaS's under `/system/*` (REFERENCE.md §1), and Knative Services
//! under `/apis/serving.knative.dev/v1` ([`knative`]).

pub mod functions;
pub mod info;
pub mod knative;
pub mod logs;
pub mod secrets;

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a JSON body, naming the field at fault.
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest("request body is empty: send a JSON object".into()));
    }
    sedge_core::error::from_json(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}
