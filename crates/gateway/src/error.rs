//! The one place where errors become HTTP answers. Each error knows whether the client, the function or the
//! platform is at fault; messages say what to do and never leak internals (store errors are logged, not sent).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use sedge_core::{Mode, SpecError};
use sedge_runtime::{InvokeError, ProviderError};
use sedge_store::StoreError;

/// An API or invocation failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, bad name, bad spec).
    #[error("{0}")]
    BadRequest(String),
    /// Missing credentials or wrong password.
    #[error("Unauthorized")]
    Unauthorized,
    /// No such function, secret or route.
    #[error("{0}")]
    NotFound(String),
    /// Something with that name exists already.
    #[error("{0}")]
    Conflict(String),
    /// The body did not arrive within `read_timeout`.
    #[error("{0}")]
    RequestTimeout(String),
    /// The body is larger than `--max-body`.
    #[error("request body is larger than the limit of {0} bytes (sedge up --max-body)")]
    PayloadTooLarge(usize),
    /// A model file pushed to the registry is larger than `--max-model-size`.
    #[error("the model file is larger than the limit of {0} bytes (sedge up --max-model-size): nothing was registered")]
    ModelTooLarge(u64),
    /// Query parameters could not be parsed.
    #[error("{0}")]
    Unprocessable(String),
    /// The function gave no usable answer.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// The platform failed; details are logged.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SpecError> for ApiError {
    fn from(e: SpecError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            StoreError::Invalid(message) => Self::BadRequest(message),
            other => {
                tracing::error!(error = %other, "store failed");
                Self::Internal("the state store failed; see the server log".into())
            }
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Invalid(msg) => Self::BadRequest(msg),
            ProviderError::NotFound(name) => Self::NotFound(format!("function {name} not found")),
            ProviderError::Io(err) => {
                tracing::error!(error = %err, "provider failed");
                Self::Internal("the function runtime failed; see the server log".into())
            }
        }
    }
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) | Self::ModelTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Invoke(e) => match e {
                InvokeError::NoReplicas { .. } => StatusCode::SERVICE_UNAVAILABLE,
                InvokeError::Overloaded { .. } | InvokeError::HoldFull { .. } => StatusCode::TOO_MANY_REQUESTS,
                InvokeError::ActivationTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                InvokeError::ExecTimeout { mode: Mode::Fork } => StatusCode::REQUEST_TIMEOUT,
                InvokeError::ExecTimeout { mode: Mode::Http } => StatusCode::GATEWAY_TIMEOUT,
                InvokeError::NoResponse { .. } | InvokeError::Unreachable { .. } => StatusCode::BAD_GATEWAY,
                InvokeError::ProcessFailed { .. } | InvokeError::Spawn { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            // of-watchdog answers an http-mode exec timeout with an empty body.
            Self::Invoke(InvokeError::ExecTimeout { mode: Mode::Http }) => Vec::new(),
            Self::Invoke(InvokeError::ProcessFailed { status, output }) => {
                let mut body = format!("{status}\n").into_bytes();
                body.extend_from_slice(output);
                body
            }
            other => format!("{other}\n").into_bytes(),
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        match &self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Restricted\""));
            }
            Self::Invoke(InvokeError::Overloaded { .. }) => {
                headers.insert("x-openfaas-internal", HeaderValue::from_static("faas-middleware"));
            }
            _ => {}
        }
        response
    }
}
