//! Asynchronous invocation (issue #7): `POST /async-function/{name}` commits the call to the store's durable
//! queue ([`sedge_store::CallQueue`]) and answers 202 with its `X-Call-Id`; the [`Dispatcher`] runs queued calls
//! as `/function/{name}` would, retries them by the function's policy, and POSTs the result to the caller's
//! `X-Callback-Url`.
//!
//! Delivery is at least once: a call is committed before the 202, its callback is sent before the call is
//! marked finished, and a call found `running` at start-up (cut off by a crash) runs again.
//!
//! # Layout
//! - [`enqueue`]: `POST /async-function/{name}[/path]` → 202.
//! - [`policy`]: retries (OpenFaaS Pro's `com.openfaas.retry.*` annotations) and per-function concurrency, pure.
//! - [`dispatcher`]: the loop that claims due calls, runs attempts, retries or finishes them.
//! - [`callback`]: the POST of a finished call's result to its `X-Callback-Url`.
//! - [`status`]: `/system/async-calls[/{id}[/result]]` (list, show, result body, cancel) and OpenFaaS Pro's
//!   `DELETE /async-function/{call-id}`.

pub mod callback;
pub mod dispatcher;
pub mod enqueue;
pub mod policy;
pub mod status;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};

pub use dispatcher::{Dispatcher, Wake};

use crate::Gateway;

/// A result body is kept in the store up to this size (the callback gets the body up to `--max-body`); request
/// bodies are kept whole (they are bounded by `--max-body`).
pub const KEPT_BODY: usize = 1024 * 1024;

/// Routes anyone may call (as `/function/*`): `/async-function/{name}[/path]`.
pub fn public_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/async-function/{name}", post(enqueue::enqueue_root).delete(status::cancel_openfaas))
        .route("/async-function/{name}/", post(enqueue::enqueue_root))
        .route("/async-function/{name}/{*path}", post(enqueue::enqueue_path))
}

/// Routes behind basic auth (`/system/…`).
pub fn system_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/system/async-calls", get(status::list))
        .route("/system/async-calls/{id}", get(status::get_one).delete(status::cancel))
        .route("/system/async-calls/{id}/result", get(status::result))
}

/// Milliseconds since the Unix epoch, as the queue stores times.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
