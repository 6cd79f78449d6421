//! The durable queue behind `/async-function/{name}`: one row per accepted call, the capability [`CallQueue`]
//! every backend provides.
//!
//! A call is committed before the gateway answers 202, so a `kill -9` after that loses nothing. Its life:
//! `queued` → (claimed) `running` → `succeeded` | `failed`, or back to `queued` with a later `next_attempt_at_ms`
//! when a retry is due. A call found `running` at start-up was cut off by a crash and is queued again, so every
//! accepted call runs at least once.

use async_trait::async_trait;
use sedge_core::QualifiedName;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    /// Waiting for its first attempt or for a retry.
    Queued,
    /// Claimed by the dispatcher; an attempt is under way.
    Running,
    /// The function answered 2xx (or a status not retried).
    Succeeded,
    /// The last attempt failed and no retry is left (or the status is not retried).
    Failed,
    /// Cancelled while queued.
    Cancelled,
}

impl CallStatus {
    /// The stored and displayed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Running => "running",
            CallStatus::Succeeded => "succeeded",
            CallStatus::Failed => "failed",
            CallStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or user-given status.
    pub fn parse(text: &str) -> Result<CallStatus, String> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| format!("unknown call status {text:?}: use queued, running, succeeded, failed or cancelled"))
    }

    /// Whether the call is over.
    pub fn is_final(self) -> bool {
        matches!(self, CallStatus::Succeeded | CallStatus::Failed | CallStatus::Cancelled)
    }
}

impl std::fmt::Display for CallStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An accepted asynchronous call, as the gateway received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCall {
    /// The call id (`X-Call-Id`), unique.
    pub id: String,
    /// The function to call.
    pub function: QualifiedName,
    /// HTTP method.
    pub method: String,
    /// The path after the function's name (`/` when none), as `/function/{name}{path}` would get it.
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// Request headers to pass on, in order.
    pub headers: Vec<(String, String)>,
    /// The request body.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Where to POST the result (`X-Callback-Url`).
    pub callback_url: Option<String>,
    /// Attempts allowed in all (1 = no retry).
    pub max_attempts: u32,
    /// Accepted at, milliseconds since the Unix epoch.
    pub enqueued_at_ms: i64,
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallResult {
    /// The function's HTTP status (or the gateway's, when the call never reached it).
    pub status_code: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response body (possibly cut to the gateway's kept size).
    #[serde(skip)]
    pub body: Vec<u8>,
    /// How long the attempt took, milliseconds.
    pub duration_ms: u64,
}

/// A queued, running or finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The call as accepted.
    #[serde(flatten)]
    pub call: NewCall,
    /// Where it is.
    pub status: CallStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// When the next attempt may start (queued calls), milliseconds since the Unix epoch.
    pub next_attempt_at_ms: i64,
    /// When the last attempt started.
    pub started_at_ms: Option<i64>,
    /// When the call reached a final status.
    pub finished_at_ms: Option<i64>,
    /// The last attempt's outcome.
    pub result: Option<CallResult>,
}

/// Asynchronous calls, committed before each method returns.
#[async_trait]
pub trait CallQueue: Send + Sync {
    /// Accepts a call: status `queued`, due at once. Fails with [`StoreError::Conflict`] on a repeated id.
    async fn enqueue(&self, call: &NewCall) -> Result<(), StoreError>;
    /// Functions that have queued calls due at `now_ms`, sorted.
    async fn due_functions(&self, now_ms: i64) -> Result<Vec<QualifiedName>, StoreError>;
    /// The earliest `next_attempt_at_ms` of any queued call, `None` when none is queued.
    async fn next_due_at(&self) -> Result<Option<i64>, StoreError>;
    /// Claims up to `limit` of `function`'s calls due at `now_ms`, oldest first (by `enqueued_at_ms`, then id):
    /// each becomes `running` with `attempts + 1` and `started_at_ms = now_ms`, and is returned so, bodies
    /// included. Concurrent claims never return the same call.
    async fn claim_calls(
        &self,
        function: &QualifiedName,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError>;
    /// Puts a running call back in line for a retry at `next_attempt_at_ms`, keeping `last` as its result.
    /// Fails with [`StoreError::NotFound`] when the call is not running.
    async fn retry_call(&self, id: &str, next_attempt_at_ms: i64, last: &CallResult) -> Result<(), StoreError>;
    /// Ends a queued or running call with a final `status` and its last result; `None` keeps the result a retry
    /// stored, if any. Fails with [`StoreError::Invalid`] for a status that is not final and with
    /// [`StoreError::NotFound`] when the call is unknown or already over.
    async fn finish_call(
        &self,
        id: &str,
        status: CallStatus,
        result: Option<&CallResult>,
        finished_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// Queues every `running` call again (at start-up: their attempts were cut off); returns how many.
    async fn requeue_running(&self) -> Result<u64, StoreError>;
    /// Cancels a queued call, stamping `finished_at_ms` with the store's clock; `false` when it is not queued
    /// (unknown, running or over).
    async fn cancel_call(&self, id: &str) -> Result<bool, StoreError>;
    /// One call, with its request and result bodies.
    async fn get_call(&self, id: &str) -> Result<Option<CallRecord>, StoreError>;
    /// The most recent calls first, optionally of one function and one status, at most `limit`; bodies empty.
    async fn list_calls(
        &self,
        function: Option<&QualifiedName>,
        status: Option<CallStatus>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError>;
}
