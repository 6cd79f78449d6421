//! The one invocation seam: a call in, a response or an [`InvokeError`] out. Every kind of replica (fork, http,
//! later model and Kubernetes) sits behind [`Invoke`], so the gateway never knows which kind it is talking to.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body_util::combinators::UnsyncBoxBody;
use sedge_core::Mode;
use tokio::time::Instant;

/// Error type of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A streaming response body.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A response body holding `bytes`.
pub fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// When a call must be answered by, all counted from the request's arrival.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// The function's `exec_timeout`: past it the run is stopped (408 fork / 504 http).
    pub exec: Option<Instant>,
    /// The earlier of the function's `write_timeout` and the gateway's upstream timeout: past it the gateway
    /// answers 502.
    pub respond: Instant,
    /// The length of the respond window, for messages.
    pub respond_after: Duration,
}

impl Deadlines {
    /// The first deadline to fire, and whether it is the exec deadline.
    pub fn first(&self) -> (Instant, bool) {
        match self.exec {
            Some(exec) if exec <= self.respond => (exec, true),
            _ => (self.respond, false),
        }
    }
}

/// One request to a function, with its body already read.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Path after `/function/{name}`, always starting with `/`.
    pub path: String,
    /// Raw query string, without `?`.
    pub query: Option<String>,
    /// Request headers (hop-by-hop headers already removed).
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// The call id (`X-Call-Id`).
    pub call_id: String,
    /// Deadlines.
    pub deadlines: Deadlines,
}

/// Why a call produced no function response. The gateway maps each to one status and message.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The function has no replica that can take the call (scaled to zero, or all failed).
    #[error("function {function} has no ready replicas")]
    NoReplicas {
        /// `name.namespace`.
        function: String,
    },
    /// The function did not become ready within the activation timeout while the call was held.
    #[error(
        "function {function} did not become ready within {after:?} (--activation-timeout); the call was held and not run"
    )]
    ActivationTimeout {
        /// `name.namespace`.
        function: String,
        /// The activation timeout.
        after: Duration,
    },
    /// The function is waking and already holds the most calls sedge holds for one function.
    #[error("function {function} is starting and already holds {held} calls: retry later")]
    HoldFull {
        /// `name.namespace`.
        function: String,
        /// The hold limit.
        held: usize,
    },
    /// Every replica is at its `max_inflight` limit (and the function's queue, if any, is full).
    #[error("Concurrent request limit exceeded. Max concurrent requests: {limit}")]
    Overloaded {
        /// The per-replica limit.
        limit: u32,
    },
    /// The run exceeded `exec_timeout` and was stopped.
    #[error("Killed process.")]
    ExecTimeout {
        /// Fork mode answers 408, http mode 504, as the two watchdogs do.
        mode: Mode,
    },
    /// No response before `write_timeout` (or the gateway's upstream timeout).
    #[error("function {function} did not respond within {after:?} (write_timeout or the gateway's upstream timeout)")]
    NoResponse {
        /// `name.namespace`.
        function: String,
        /// The window that elapsed.
        after: Duration,
    },
    /// A fork-mode process exited unsuccessfully; `output` is what it wrote.
    #[error("{status}")]
    ProcessFailed {
        /// `exit status 3` or `signal: killed`, as Go prints it.
        status: String,
        /// The process's output.
        output: Bytes,
    },
    /// The function's server could not be reached or broke the connection.
    #[error("Can't reach service for: {function}: {reason}")]
    Unreachable {
        /// `name.namespace`.
        function: String,
        /// What failed.
        reason: String,
    },
    /// The function's process could not be started.
    #[error("could not start function {function}: {reason}")]
    Spawn {
        /// `name.namespace`.
        function: String,
        /// What failed.
        reason: String,
    },
}

/// Response extension set by routers: `Some(wait)` when the call waited for a replica to start (a cold start),
/// `None` when a replica was ready. The gateway turns it into `X-Sedge-Cold-Start` headers and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart(pub Option<Duration>);

/// Something that answers calls: a function's router over its replicas.
#[async_trait]
pub trait Invoke: Send + Sync {
    /// The function's timeouts, which the gateway applies while reading the request and sets deadlines from.
    fn timeouts(&self) -> sedge_core::Timeouts;
    /// Runs one call.
    async fn invoke(&self, call: Call) -> Result<Response<ResponseBody>, InvokeError>;
}
