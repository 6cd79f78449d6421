//! The loop that runs queued calls: one per gateway, started by `sedge up` with a shutdown token.
//!
//! At start it queues again the calls a crash left `running` ([`sedge_store::CallQueue::requeue_running`]). Then, each
//! round: for every function with calls due, claim up to (its concurrency − its attempts in flight) of them
//! and run each attempt as a task; sleep until woken (a new call, a finished attempt) or until the next call
//! falls due, at most [`POLL`]. An attempt goes through the same code as `/function/{name}`
//! ([`invoke::counted`], so it is in the metrics and invocation counts), answered within the function's own
//! `write_timeout` and `exec_timeout` — not `--upstream-timeout`, which bounds callers who wait (faasd#305).
//! The policy then retries the call ([`sedge_store::CallQueue::retry_call`]) or ends it: the callback is sent **before**
//! [`sedge_store::CallQueue::finish_call`], so a crash between the two sends it again (at least once, never lost).
//!
//! On shutdown no more calls are claimed; attempts in flight finish and record their outcome (the caller
//! bounds the wait). An attempt cut off is left `running` and runs again at the next start.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use http_body_util::BodyExt;
use sedge_core::QualifiedName;
use sedge_store::{CallRecord, CallResult, CallStatus, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::policy::{self, Decision, Outcome, RetryPolicy};
use super::{callback, now_ms};
use crate::Gateway;
use crate::invoke::{self, Outgoing, Stamp};

/// The longest sleep between rounds when nothing wakes the loop.
pub const POLL: Duration = Duration::from_secs(1);

/// Wakes the dispatcher: a new call was queued or an attempt ended. Cheap to clone; handlers find it in the
/// request's extensions ([`Dispatcher::attach`]).
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Starts a round soon (a wake while the loop is busy is kept for its next wait).
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The dispatcher of one gateway's queue.
pub struct Dispatcher {
    gateway: Arc<Gateway>,
    wake: Wake,
    default_concurrency: u32,
    callbacks: reqwest::Client,
    in_flight: Arc<InFlight>,
    warned: Mutex<HashSet<String>>,
}

/// What a function's calls are run with, read from its annotations each round.
struct Settings {
    retry: RetryPolicy,
    concurrency: u32,
}

impl Dispatcher {
    /// A dispatcher for `gateway`'s queue; functions that do not set `com.sedge.async.concurrency` run up to
    /// `default_concurrency` attempts at once (at least 1).
    pub fn new(gateway: Arc<Gateway>, default_concurrency: u32) -> Self {
        let wake = Wake::default();
        Self {
            gateway,
            in_flight: Arc::new(InFlight { counts: Mutex::default(), wake: wake.clone() }),
            wake,
            default_concurrency: default_concurrency.max(1),
            callbacks: callback::client(),
            warned: Mutex::default(),
        }
    }

    /// A handle that wakes this dispatcher.
    pub fn wake_handle(&self) -> Wake {
        self.wake.clone()
    }

    /// `router` with this dispatcher's [`Wake`] in every request's extensions, so that `/async-function`
    /// starts a round at once instead of at the next poll.
    pub fn attach(&self, router: Router) -> Router {
        router.layer(Extension(self.wake_handle()))
    }

    /// Runs until `shutdown`, then waits for the attempts in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        match this.gateway.store.requeue_running().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(calls = n, "async calls cut off by the last stop are queued again"),
            Err(e) => tracing::error!(error = %e, "could not queue again the async calls cut off by the last stop"),
        }
        let mut tasks = JoinSet::new();
        while !shutdown.is_cancelled() {
            let woken = this.wake.0.notified();
            let pause = match this.round(&mut tasks).await {
                Ok(pause) => pause,
                Err(e) => {
                    tracing::error!(error = %e, "async dispatcher: the store failed; trying again");
                    POLL
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = woken => {}
                _ = tokio::time::sleep(pause) => {}
            }
            while tasks.try_join_next().is_some() {}
        }
        if !tasks.is_empty() {
            tracing::info!(attempts = tasks.len(), "async dispatcher: waiting for attempts in flight");
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Claims and starts what is due; returns how long to sleep before the next round.
    async fn round(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Result<Duration, StoreError> {
        let store = &self.gateway.store;
        let now = now_ms();
        for function in store.due_functions(now).await? {
            let settings = self.settings(&function).await?;
            let free = settings.concurrency.saturating_sub(self.in_flight.count(&function));
            if free == 0 {
                continue;
            }
            for call in store.claim_calls(&function, now, free).await? {
                let slot = self.in_flight.take(&function);
                let this = self.clone();
                let retry = settings.retry.clone();
                tasks.spawn(async move { this.attempt(call, retry, slot).await });
            }
        }
        let next = store.next_due_at().await?;
        Ok(pause_until(next, now, now_ms()))
    }

    /// The function's retry policy and concurrency; defaults when it is gone (its calls then fail with 404).
    async fn settings(&self, function: &QualifiedName) -> Result<Settings, StoreError> {
        let deployment = self.gateway.store.get_function(function).await?.map(|r| r.deployment);
        let annotations = deployment.as_ref().and_then(|d| d.annotations.clone()).unwrap_or_default();
        let labels = deployment.and_then(|d| d.labels).unwrap_or_default();
        let (retry, mut warnings) = RetryPolicy::from_annotations(&annotations);
        let (concurrency, warning) = policy::concurrency(&annotations, &labels, self.default_concurrency);
        warnings.extend(warning);
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        for w in warnings {
            let key = format!("{function}: {w}");
            if !warned.contains(&key) {
                tracing::warn!(function = %function, "{w}");
                warned.insert(key);
            }
        }
        Ok(Settings { retry, concurrency })
    }

    /// One attempt of `call`, then its retry or its end (callback first).
    async fn attempt(self: Arc<Self>, call: CallRecord, retry: RetryPolicy, _slot: Slot) {
        let span = tracing::info_span!("async_call", call_id = %call.call.id, function = %call.call.function);
        async move {
            let store = &self.gateway.store;
            let (attempts, max_attempts) = (call.attempts, call.call.max_attempts);
            let id = call.call.id.clone();
            let (outcome, result, body, took) = self.invoke(&call).await;
            match retry.decide(outcome, attempts, max_attempts) {
                Decision::Retry(wait) => {
                    tracing::info!(status = outcome.status, attempts, max_attempts, ?wait, "attempt failed; will retry");
                    let due = now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                    if let Err(e) = store.retry_call(&id, due, &result).await {
                        tracing::error!(error = %e, "could not queue the retry; the call runs again after a restart");
                    }
                }
                decision => {
                    let status =
                        if decision == Decision::Succeeded { CallStatus::Succeeded } else { CallStatus::Failed };
                    tracing::info!(status = outcome.status, attempts, outcome = %status, "async call over");
                    if let Some(url) = &call.call.callback_url {
                        callback::deliver(&self.callbacks, url, &call, &result, body, took).await;
                    }
                    if let Err(e) = store.finish_call(&id, status, Some(&result), now_ms()).await {
                        tracing::error!(error = %e, "could not record the end of the call; it runs again after a restart");
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Runs the call once as `/function/{name}` would; returns the policy's view, the result to store (body cut
    /// to [`super::KEPT_BODY`]), the body for the callback (up to `--max-body`) and how long it took.
    async fn invoke(&self, record: &CallRecord) -> (Outcome, CallResult, bytes::Bytes, Duration) {
        let gw = &self.gateway;
        let call = &record.call;
        // Ids accepted by the enqueue are header-safe; the fallback keeps a hand-edited row from stopping the loop.
        let stamp = Stamp::now(HeaderValue::from_str(&call.id).unwrap_or_else(|_| invoke::new_call_id()));
        let out = Outgoing {
            method: Method::from_bytes(call.method.as_bytes()).unwrap_or(Method::POST),
            path: call.path.clone(),
            query: call.query.clone(),
            headers: header_map(&call.headers),
            body: bytes::Bytes::from(call.body.clone()),
        };
        let response = invoke::counted(gw, &call.function, &stamp, async {
            let target = invoke::find_target(gw, &call.function).await?;
            let respond_after = target.timeouts().write;
            invoke::forward(target.as_ref(), out, None, &stamp, respond_after).await
        })
        .await;
        let (parts, body) = response.into_parts();
        let limit = gw.config.max_body.max(super::KEPT_BODY);
        let body = collect(body, limit).await;
        let internal = parts.headers.contains_key(HeaderName::from_static("x-openfaas-internal"));
        let retry_after =
            parts.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(policy::retry_after);
        let outcome = Outcome { status: parts.status.as_u16(), internal, retry_after };
        let headers = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let took = stamp.arrival.elapsed();
        let result = CallResult {
            status_code: outcome.status,
            headers,
            body: body[..body.len().min(super::KEPT_BODY)].to_vec(),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        };
        (outcome, result, body, took)
    }
}

/// How long to sleep after a round that started at `round_ms`: until the next call is due, at most [`POLL`].
/// A call due since before the round and still queued was left for lack of room (or taken by someone else): a
/// finished attempt wakes the loop, so it polls. A call that fell due during the round gets a new round at once.
pub fn pause_until(next_due_ms: Option<i64>, round_ms: i64, now_ms: i64) -> Duration {
    match next_due_ms {
        None => POLL,
        Some(due) if due <= round_ms => POLL,
        Some(due) if due <= now_ms => Duration::ZERO,
        Some(due) => Duration::from_millis(u64::try_from(due - now_ms).unwrap_or(0)).min(POLL),
    }
}

/// Stored headers back into a map; pairs that are no longer valid header text are skipped.
fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        match (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            (Ok(k), Ok(v)) => {
                map.append(k, v);
            }
            _ => tracing::warn!(header = %k, "stored header is not valid; left out"),
        }
    }
    map
}

/// Reads a response body up to `limit` bytes (the rest is dropped); a body that breaks off keeps what came.
async fn collect(mut body: Body, limit: usize) -> bytes::Bytes {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            tracing::warn!("the function's response body broke off; keeping what arrived");
            break;
        };
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if data.len() > room {
                tracing::warn!(limit, "the function's response body is larger than kept; cut");
                break;
            }
        }
    }
    out.freeze()
}

/// Attempts in flight per function, shared with the attempts' [`Slot`]s.
struct InFlight {
    counts: Mutex<HashMap<QualifiedName, u32>>,
    wake: Wake,
}

impl InFlight {
    fn count(&self, function: &QualifiedName) -> u32 {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).get(function).copied().unwrap_or(0)
    }

    fn take(self: &Arc<Self>, function: &QualifiedName) -> Slot {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(function.clone()).or_default() += 1;
        Slot { in_flight: self.clone(), function: function.clone() }
    }
}

/// One attempt's place in its function's concurrency; given back (and the loop woken) when dropped, even if
/// the attempt panicked.
struct Slot {
    in_flight: Arc<InFlight>,
    function: QualifiedName,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.in_flight.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.function) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.function);
            }
        }
        drop(counts);
        self.in_flight.wake.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_until_the_next_due_call_at_most_the_poll() {
        assert_eq!(pause_until(None, 1_000, 1_010), POLL);
        assert_eq!(pause_until(Some(1_250), 1_000, 1_010), Duration::from_millis(240));
        assert_eq!(pause_until(Some(60_000), 1_000, 1_010), POLL);
        assert_eq!(pause_until(Some(1_005), 1_000, 1_010), Duration::ZERO, "fell due during the round: go again");
        assert_eq!(pause_until(Some(900), 1_000, 1_010), POLL, "left for lack of room: a finished attempt wakes us");
        assert_eq!(pause_until(Some(1_000), 1_000, 1_000), POLL);
    }

    #[test]
    fn slots_count_per_function_and_wake_on_release() {
        let in_flight = Arc::new(InFlight { counts: Mutex::default(), wake: Wake::default() });
        let a = QualifiedName::parse("a", None).unwrap();
        let b = QualifiedName::parse("b", None).unwrap();
        let one = in_flight.take(&a);
        let two = in_flight.take(&a);
        let three = in_flight.take(&b);
        assert_eq!((in_flight.count(&a), in_flight.count(&b)), (2, 1));
        drop(one);
        assert_eq!(in_flight.count(&a), 1);
        drop((two, three));
        assert_eq!((in_flight.count(&a), in_flight.count(&b)), (0, 0));
        assert!(in_flight.counts.lock().unwrap().is_empty());
        // The release left a wake for the loop's next wait.
        let woken = in_flight.wake.0.notified();
        futures_util::FutureExt::now_or_never(woken).expect("a permit was stored");
    }

    #[test]
    fn stored_headers_round_trip_and_bad_ones_are_skipped() {
        let pairs = vec![
            ("content-type".to_string(), "text/plain".to_string()),
            ("x-a".to_string(), "1".to_string()),
            ("x-a".to_string(), "2".to_string()),
            ("bad name".to_string(), "v".to_string()),
        ];
        let map = header_map(&pairs);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get_all("x-a").iter().collect::<Vec<_>>(), ["1", "2"]);
    }
}
