//! The model registry's API: `/system/models` (push, list, show, pull, delete, promote) behind basic auth or
//! the functions' API token, and the inference protocol's model repository index (`POST /v2/repository/index`).
//!
//! # Layout
//! - [`service`]: [`Registry`], the consistent pair of metadata rows and files (atomic push, deletion, garbage
//!   collection) and the provider's resolver of `registry:` model sources.
//! - [`push`]: the multipart upload, streamed into the artifact store.
//! - [`read`]: listing, showing and pulling versions; the repository index.
//! - [`write`]: promotion and deletion, each followed by [`follow`].
//! - [`follow`]: redeploys the model functions whose `registry:` source now names another version.

pub mod follow;
pub mod push;
pub mod read;
pub mod service;
pub mod write;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use sedge_store::{ModelRef, ModelVersion, Stage};

pub use service::{PushMetadata, Registry};

use crate::Gateway;
use crate::error::ApiError;

/// Routes behind basic auth or the functions' API token (`/system/models…`).
pub fn system_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/system/models", get(read::list).post(push::push))
        .route("/system/models/{name}", get(read::versions))
        .route("/system/models/{name}/versions/{version}", get(read::show).delete(write::delete))
        .route("/system/models/{name}/versions/{version}/file", get(read::pull))
        .route("/system/models/{name}/versions/{version}/stage", post(write::promote))
}

/// Routes anyone may call, as the rest of `/v2`.
pub fn public_routes() -> Router<Arc<Gateway>> {
    Router::new().route("/v2/repository/index", post(read::repository_index))
}

/// A version in a path: a number, `latest`, or a stage name (`production`).
pub(crate) fn version_ref(name: &str, version: &str) -> Result<ModelRef, ApiError> {
    let version = match version {
        "latest" => ModelVersion::Latest,
        v => match v.parse::<u32>() {
            Ok(n) if n > 0 => ModelVersion::Number(n),
            _ => ModelVersion::Stage(Stage::parse(v).map_err(|e| {
                ApiError::BadRequest(format!("version {v:?}: give a number, `latest` or a stage ({e})"))
            })?),
        },
    };
    sedge_store::registry::validate_model_name(name).map_err(ApiError::BadRequest)?;
    Ok(ModelRef { name: name.to_string(), version })
}

/// A version number in a path (what promotion and deletion act on).
pub(crate) fn version_number(name: &str, version: &str) -> Result<u32, ApiError> {
    sedge_store::registry::validate_model_name(name).map_err(ApiError::BadRequest)?;
    version
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::BadRequest(format!("version {version:?} is not a positive whole number")))
}
