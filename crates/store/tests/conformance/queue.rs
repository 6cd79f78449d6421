//! Conformance checks for the asynchronous call queue ([`sedge_store::CallQueue`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use sedge_store::{CallRecord, CallResult, CallStatus, NewCall, Store, StoreError};

use super::qn;

/// A call to `function.ns` with id `id`, accepted at `at_ms`.
fn call(id: &str, function: &str, at_ms: i64) -> NewCall {
    NewCall {
        id: id.to_string(),
        function: qn(function, "ns"),
        method: "POST".into(),
        path: "/".into(),
        query: None,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: format!("body of {id}").into_bytes(),
        callback_url: None,
        max_attempts: 3,
        enqueued_at_ms: at_ms,
    }
}

fn ids(calls: &[CallRecord]) -> Vec<&str> {
    calls.iter().map(|c| c.call.id.as_str()).collect()
}

fn result(status_code: u16, body: &[u8]) -> CallResult {
    CallResult {
        status_code,
        headers: vec![("X-Duration-Seconds".into(), "0.1".into()), ("Set-Cookie".into(), "a=1".into())],
        body: body.to_vec(),
        duration_ms: 100,
    }
}

async fn status_of(store: &Arc<dyn Store>, id: &str) -> CallStatus {
    store.get_call(id).await.unwrap().unwrap().status
}

pub async fn enqueue_and_get_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.get_call("c1").await.unwrap(), None);
    let mut new = call("c1", "echo", 1_000);
    new.method = "PUT".into();
    new.path = "/a/b c".into();
    new.query = Some("x=1&y=%20".into());
    new.headers = vec![("X-A".into(), "1".into()), ("X-A".into(), "2".into()), ("Accept".into(), "*/*".into())];
    new.callback_url = Some("http://127.0.0.1:9/cb".into());
    new.max_attempts = 5;
    store.enqueue(&new).await.unwrap();
    let got = store.get_call("c1").await.unwrap().unwrap();
    assert_eq!(got.call, new);
    assert_eq!((got.status, got.attempts, got.next_attempt_at_ms), (CallStatus::Queued, 0, 1_000));
    assert_eq!((got.started_at_ms, got.finished_at_ms, got.result), (None, None, None));
}

pub async fn repeated_id_conflicts(store: Arc<dyn Store>) {
    store.enqueue(&call("c1", "echo", 1_000)).await.unwrap();
    let mut again = call("c1", "other", 2_000);
    again.body = b"different".to_vec();
    let err = store.enqueue(&again).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(what) if what.contains("c1")), "{err:?}");
    let kept = store.get_call("c1").await.unwrap().unwrap();
    assert_eq!(kept.call, call("c1", "echo", 1_000), "the first call is kept whole");
}

pub async fn claim_takes_oldest_first_up_to_the_limit(store: Arc<dyn Store>) {
    for (id, at) in [("c3", 3_000), ("c1", 1_000), ("c4", 4_000), ("c2", 2_000)] {
        store.enqueue(&call(id, "echo", at)).await.unwrap();
    }
    store.enqueue(&call("o1", "other", 500)).await.unwrap();
    let echo = qn("echo", "ns");
    assert!(store.claim_calls(&echo, 10_000, 0).await.unwrap().is_empty());
    assert_eq!(ids(&store.claim_calls(&echo, 10_000, 2).await.unwrap()), ["c1", "c2"]);
    assert_eq!(ids(&store.claim_calls(&echo, 10_000, 5).await.unwrap()), ["c3", "c4"]);
    assert!(store.claim_calls(&echo, 10_000, 5).await.unwrap().is_empty());
    assert_eq!(status_of(&store, "o1").await, CallStatus::Queued, "another function's call is not taken");
    assert!(store.claim_calls(&qn("echo", "elsewhere"), 10_000, 5).await.unwrap().is_empty());
}

pub async fn claim_marks_running_and_counts_attempts(store: Arc<dyn Store>) {
    let new = call("c1", "echo", 1_000);
    store.enqueue(&new).await.unwrap();
    let claimed = store.claim_calls(&qn("echo", "ns"), 1_500, 1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!(c.call, new, "a claimed call comes with its request and body");
    assert_eq!((c.status, c.attempts, c.started_at_ms), (CallStatus::Running, 1, Some(1_500)));
    assert_eq!(store.get_call("c1").await.unwrap().unwrap(), *c);

    store.retry_call("c1", 2_000, &result(503, b"busy")).await.unwrap();
    let again = store.claim_calls(&qn("echo", "ns"), 2_000, 1).await.unwrap();
    assert_eq!((again[0].attempts, again[0].started_at_ms), (2, Some(2_000)));
    assert_eq!(again[0].result, Some(result(503, b"busy")));
}

pub async fn due_times_are_respected(store: Arc<dyn Store>) {
    assert_eq!(store.next_due_at().await.unwrap(), None);
    assert!(store.due_functions(i64::MAX).await.unwrap().is_empty());
    store.enqueue(&call("b1", "beta", 2_000)).await.unwrap();
    store.enqueue(&call("a1", "alpha", 3_000)).await.unwrap();
    store.enqueue(&call("b2", "beta", 1_000)).await.unwrap();
    assert_eq!(store.next_due_at().await.unwrap(), Some(1_000));
    assert!(store.due_functions(999).await.unwrap().is_empty());
    assert_eq!(store.due_functions(2_000).await.unwrap(), [qn("beta", "ns")]);
    assert_eq!(store.due_functions(3_000).await.unwrap(), [qn("alpha", "ns"), qn("beta", "ns")]);
    assert!(store.claim_calls(&qn("alpha", "ns"), 2_999, 5).await.unwrap().is_empty());

    let beta = store.claim_calls(&qn("beta", "ns"), 1_500, 5).await.unwrap();
    assert_eq!(ids(&beta), ["b2"], "a call not yet due is not claimed");
    assert_eq!(store.next_due_at().await.unwrap(), Some(2_000), "a running call is not due");
    store.retry_call("b2", 9_000, &result(500, b"")).await.unwrap();
    assert_eq!(store.due_functions(3_000).await.unwrap(), [qn("alpha", "ns"), qn("beta", "ns")]);
    assert_eq!(ids(&store.claim_calls(&qn("beta", "ns"), 8_999, 5).await.unwrap()), ["b1"]);
    assert_eq!(store.due_functions(8_999).await.unwrap(), [qn("alpha", "ns")]);
    assert_eq!(ids(&store.claim_calls(&qn("beta", "ns"), 9_000, 5).await.unwrap()), ["b2"]);
    store.claim_calls(&qn("alpha", "ns"), 9_000, 5).await.unwrap();
    assert_eq!(store.next_due_at().await.unwrap(), None);
    assert!(store.due_functions(i64::MAX).await.unwrap().is_empty());
}

pub async fn retry_requeues_with_the_last_result(store: Arc<dyn Store>) {
    store.enqueue(&call("c1", "echo", 1_000)).await.unwrap();
    let err = store.retry_call("c1", 5_000, &result(500, b"x")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "a queued call is not retried: {err:?}");
    assert!(matches!(store.retry_call("ghost", 5_000, &result(500, b"x")).await, Err(StoreError::NotFound(_))));

    store.claim_calls(&qn("echo", "ns"), 1_000, 1).await.unwrap();
    store.retry_call("c1", 5_000, &result(502, b"bad gateway")).await.unwrap();
    let got = store.get_call("c1").await.unwrap().unwrap();
    assert_eq!((got.status, got.attempts, got.next_attempt_at_ms), (CallStatus::Queued, 1, 5_000));
    assert_eq!(got.result, Some(result(502, b"bad gateway")));
    assert_eq!(got.finished_at_ms, None);
    assert_eq!(store.next_due_at().await.unwrap(), Some(5_000));
}

pub async fn finish_records_the_result(store: Arc<dyn Store>) {
    for (id, at) in [("ok", 1_000), ("bad", 1_000), ("kept", 1_000), ("early", 2_000)] {
        store.enqueue(&call(id, "echo", at)).await.unwrap();
    }
    assert_eq!(ids(&store.claim_calls(&qn("echo", "ns"), 1_000, 5).await.unwrap()), ["bad", "kept", "ok"]);
    store.finish_call("ok", CallStatus::Succeeded, Some(&result(200, b"done")), 1_200).await.unwrap();
    let ok = store.get_call("ok").await.unwrap().unwrap();
    assert_eq!((ok.status, ok.finished_at_ms), (CallStatus::Succeeded, Some(1_200)));
    assert_eq!(ok.result, Some(result(200, b"done")));

    store.finish_call("bad", CallStatus::Failed, Some(&result(500, b"boom")), 1_300).await.unwrap();
    assert_eq!(status_of(&store, "bad").await, CallStatus::Failed);

    // Finishing without a result keeps the one a retry stored.
    store.retry_call("kept", 1_100, &result(503, b"first")).await.unwrap();
    store.finish_call("kept", CallStatus::Failed, None, 1_400).await.unwrap();
    let kept = store.get_call("kept").await.unwrap().unwrap();
    assert_eq!((kept.status, kept.result), (CallStatus::Failed, Some(result(503, b"first"))));

    // A queued call can be failed without an attempt (its function is gone, say).
    store.finish_call("early", CallStatus::Failed, None, 1_500).await.unwrap();
    let early = store.get_call("early").await.unwrap().unwrap();
    assert_eq!((early.status, early.attempts, early.result), (CallStatus::Failed, 0, None));

    let err = store.finish_call("ok", CallStatus::Failed, None, 2_000).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "a finished call stays finished: {err:?}");
    assert_eq!(status_of(&store, "ok").await, CallStatus::Succeeded);
    assert!(matches!(store.finish_call("ghost", CallStatus::Failed, None, 1).await, Err(StoreError::NotFound(_))));
    store.enqueue(&call("q", "echo", 1_000)).await.unwrap();
    let err = store.finish_call("q", CallStatus::Running, None, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(status_of(&store, "q").await, CallStatus::Queued);
}

pub async fn requeue_running_after_a_crash(store: Arc<dyn Store>) {
    assert_eq!(store.requeue_running().await.unwrap(), 0);
    for (id, at) in [("r1", 1_000), ("r2", 2_000), ("q", 3_000), ("done", 500)] {
        store.enqueue(&call(id, "echo", at)).await.unwrap();
    }
    store.claim_calls(&qn("echo", "ns"), 2_500, 3).await.unwrap();
    store.finish_call("done", CallStatus::Succeeded, Some(&result(200, b"")), 2_600).await.unwrap();
    assert_eq!(store.requeue_running().await.unwrap(), 2);
    for id in ["r1", "r2", "q"] {
        assert_eq!(status_of(&store, id).await, CallStatus::Queued, "{id}");
    }
    assert_eq!(status_of(&store, "done").await, CallStatus::Succeeded);
    let again = store.claim_calls(&qn("echo", "ns"), 2_600, 5).await.unwrap();
    assert_eq!(ids(&again), ["r1", "r2"], "requeued calls are due at once; q is not due yet");
    assert_eq!(again.iter().map(|c| c.attempts).collect::<Vec<_>>(), [2, 2], "the cut-off attempt counts");
    assert_eq!(store.requeue_running().await.unwrap(), 2);
}

pub async fn cancel_only_when_queued(store: Arc<dyn Store>) {
    for id in ["q", "run", "done"] {
        store.enqueue(&call(id, "echo", 1_000)).await.unwrap();
    }
    let claimed = store.claim_calls(&qn("echo", "ns"), 1_000, 2).await.unwrap();
    assert_eq!(ids(&claimed), ["done", "q"]);
    store.finish_call("done", CallStatus::Succeeded, None, 1_100).await.unwrap();
    store.retry_call("q", 5_000, &result(500, b"")).await.unwrap();

    assert!(store.cancel_call("q").await.unwrap(), "a call waiting for a retry is queued");
    let cancelled = store.get_call("q").await.unwrap().unwrap();
    assert_eq!(cancelled.status, CallStatus::Cancelled);
    assert!(cancelled.finished_at_ms.is_some());
    assert!(!store.cancel_call("q").await.unwrap());
    assert!(!store.cancel_call("done").await.unwrap());
    assert_eq!(status_of(&store, "done").await, CallStatus::Succeeded);
    assert!(!store.cancel_call("ghost").await.unwrap());
    assert!(store.cancel_call("run").await.unwrap());
    store.enqueue(&call("r2", "echo", 2_000)).await.unwrap();
    store.claim_calls(&qn("echo", "ns"), 2_000, 1).await.unwrap();
    assert!(!store.cancel_call("r2").await.unwrap(), "a running call is not cancelled");
    assert_eq!(status_of(&store, "r2").await, CallStatus::Running);
    assert_eq!(store.next_due_at().await.unwrap(), None, "cancelled calls are never due");
}

pub async fn list_calls_orders_and_filters(store: Arc<dyn Store>) {
    for (id, function, at) in
        [("a1", "alpha", 1_000), ("b1", "beta", 2_000), ("a2", "alpha", 3_000), ("b2", "beta", 4_000)]
    {
        store.enqueue(&call(id, function, at)).await.unwrap();
    }
    store.claim_calls(&qn("alpha", "ns"), 5_000, 1).await.unwrap();
    let list = |function: Option<&str>, status: Option<CallStatus>, limit: u32| {
        let store = store.clone();
        let function = function.map(|f| qn(f, "ns"));
        async move {
            let calls = store.list_calls(function.as_ref(), status, limit).await.unwrap();
            assert!(
                calls.iter().all(|c| c.call.body.is_empty() && c.result.as_ref().is_none_or(|r| r.body.is_empty()))
            );
            calls.iter().map(|c| c.call.id.clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, None, 10).await, ["b2", "a2", "b1", "a1"]);
    assert_eq!(list(None, None, 2).await, ["b2", "a2"]);
    assert!(list(None, None, 0).await.is_empty());
    assert_eq!(list(Some("alpha"), None, 10).await, ["a2", "a1"]);
    assert_eq!(list(None, Some(CallStatus::Running), 10).await, ["a1"]);
    assert_eq!(list(Some("alpha"), Some(CallStatus::Queued), 10).await, ["a2"]);
    assert_eq!(list(None, Some(CallStatus::Queued), 10).await, ["b2", "a2", "b1"]);
    assert!(list(Some("beta"), Some(CallStatus::Running), 10).await.is_empty());
    assert!(list(Some("ghost"), None, 10).await.is_empty());
    let first = store.list_calls(None, Some(CallStatus::Running), 1).await.unwrap();
    assert_eq!((first[0].status, first[0].attempts, first[0].call.method.as_str()), (CallStatus::Running, 1, "POST"));
}

pub async fn bodies_round_trip_byte_exact(store: Arc<dyn Store>) {
    let binary: Vec<u8> = (0..=255u8).rev().chain([0xc3, 0x28, 0x00, 0xff, 0xfe, b'\n', b'\r']).collect();
    let mut new = call("bin", "echo", 1_000);
    new.body = binary.clone();
    store.enqueue(&new).await.unwrap();
    let mut empty = call("empty", "echo", 1_001);
    empty.body = Vec::new();
    store.enqueue(&empty).await.unwrap();
    let mut big = call("big", "echo", 1_002);
    big.body = (0..(2 << 20)).map(|i: u32| (i % 251) as u8).collect();
    store.enqueue(&big).await.unwrap();

    assert_eq!(store.get_call("bin").await.unwrap().unwrap().call.body, binary);
    assert_eq!(store.get_call("empty").await.unwrap().unwrap().call.body, Vec::<u8>::new());
    assert_eq!(store.get_call("big").await.unwrap().unwrap().call.body, big.body);
    let claimed = store.claim_calls(&qn("echo", "ns"), 2_000, 3).await.unwrap();
    assert_eq!(claimed[0].call.body, binary);

    let mut answer = result(200, &binary);
    answer.headers.push(("X-Ünïcode".into(), "värde ✓".into()));
    store.finish_call("bin", CallStatus::Succeeded, Some(&answer), 2_100).await.unwrap();
    let got = store.get_call("bin").await.unwrap().unwrap();
    assert_eq!(got.result, Some(answer));
    store.finish_call("empty", CallStatus::Succeeded, Some(&result(204, b"")), 2_100).await.unwrap();
    assert_eq!(store.get_call("empty").await.unwrap().unwrap().result.unwrap().body, Vec::<u8>::new());
}

pub async fn concurrent_claims_never_share_a_call(store: Arc<dyn Store>) {
    for i in 0..40 {
        store.enqueue(&call(&format!("c{i:02}"), "echo", 1_000 + i)).await.unwrap();
    }
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store.claim_calls(&qn("echo", "ns"), 5_000, 3).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|c| c.call.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (40, 40), "each call is claimed exactly once");
    assert_eq!(store.list_calls(None, Some(CallStatus::Running), 100).await.unwrap().len(), 40);
}
