//! `POST /system/models`: a `multipart/form-data` body whose first part, `metadata`, is JSON
//! ([`PushMetadata`]) and whose second part, `file`, is the model. The file part streams into the artifact
//! store as it arrives (never held in memory); the answer is `201 Created` with the registered version.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::{StatusCode, header};
use sedge_store::ModelRecord;

use super::follow;
use super::service::PushMetadata;
use crate::Gateway;
use crate::error::ApiError;

/// The largest `metadata` part.
const MAX_METADATA: u64 = 1 << 20;

/// How a push must look, for error messages.
const EXPECTED: &str =
    "send multipart/form-data with a `metadata` part (JSON with at least a name) followed by a `file` part (the model)";

/// `POST /system/models`.
pub async fn push(
    State(gw): State<Arc<Gateway>>,
    request: Request,
) -> Result<(StatusCode, Json<ModelRecord>), ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| ApiError::BadRequest(format!("Content-Type is {content_type:?}: {EXPECTED}")))?;
    let constraints = multer::Constraints::new()
        .allowed_fields(vec!["metadata", "file"])
        .size_limit(multer::SizeLimit::new().for_field("metadata", MAX_METADATA));
    let mut parts = multer::Multipart::with_constraints(request.into_body().into_data_stream(), boundary, constraints);

    let metadata = next_part(&mut parts, "metadata").await?;
    let text = metadata.bytes().await.map_err(multipart_error)?;
    let meta: PushMetadata = serde_json::from_slice(&text)
        .map_err(|e| ApiError::BadRequest(format!("the metadata part is not valid model metadata JSON: {e}")))?;
    let file = next_part(&mut parts, "file").await?;
    let body = file.map_err(|e| std::io::Error::other(e.to_string())).boxed();
    let record = gw.registry.push(meta, body).await?;
    tracing::info!(model = %record.model.name, version = record.version, bytes = record.model.size_bytes, "model registered");
    follow::redeploy(&gw, &record.model.name).await;
    Ok((StatusCode::CREATED, Json(record)))
}

/// The next part, which must be named `name`.
async fn next_part(parts: &mut multer::Multipart<'static>, name: &str) -> Result<multer::Field<'static>, ApiError> {
    match parts.next_field().await.map_err(multipart_error)? {
        Some(field) if field.name() == Some(name) => Ok(field),
        Some(field) => {
            Err(ApiError::BadRequest(format!("expected the `{name}` part, got {:?}: {EXPECTED}", field.name())))
        }
        None => Err(ApiError::BadRequest(format!("the `{name}` part is missing: {EXPECTED}"))),
    }
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, limit } => {
            ApiError::BadRequest(format!("the `{}` part is larger than {limit} bytes", field_name.unwrap_or_default()))
        }
        multer::Error::UnknownField { field_name } => {
            ApiError::BadRequest(format!("unexpected part {:?}: {EXPECTED}", field_name.unwrap_or_default()))
        }
        other => ApiError::BadRequest(format!("malformed multipart body: {other}")),
    }
}
