//! The OpenFaaS control API under `/system/*` (REFERENCE.md §1), behind basic auth.

pub mod functions;
pub mod info;
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
