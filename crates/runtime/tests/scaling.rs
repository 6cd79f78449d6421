//! Scale to zero and back on the real local provider: the activator holds calls to a function at zero (one
//! shared wake-up, all answered, the cold ones marked), bounds the hold by the activation timeout, and the
//! autoscaler's loop takes an idle function to zero and never undoes a wake-up. The activation timeout runs on
//! tokio's paused clock; scenarios with real processes run on the real one with short durations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use sedge_core::api::FunctionDeployment;
use sedge_core::{FunctionSpec, QualifiedName};
use sedge_runtime::autoscaler::Autoscaler;
use sedge_runtime::local::LocalProvider;
use sedge_runtime::{Call, ColdStart, Deadlines, InvokeError, Provider, ReplicaState};
use tokio::time::Instant;

fn spec(name: &str, fprocess: &str, env: &[(&str, &str)], labels: &[(&str, &str)]) -> FunctionSpec {
    let pairs = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    FunctionSpec::try_from(FunctionDeployment {
        service: name.to_string(),
        image: name.to_string(),
        env_process: Some(fprocess.to_string()),
        env_vars: Some(pairs(env)),
        labels: Some(pairs(labels)),
        ..Default::default()
    })
    .unwrap()
}

fn call(body: &str, within: Duration) -> Call {
    let now = Instant::now();
    Call {
        method: Method::POST,
        path: "/".into(),
        query: None,
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_string()),
        call_id: body.to_string(),
        deadlines: Deadlines { exec: None, respond: now + within, respond_after: within },
    }
}

async fn deploy(provider: &LocalProvider, spec: FunctionSpec, replicas: u32) -> QualifiedName {
    let name = spec.name.clone();
    provider.check(&spec).await.unwrap();
    provider.apply(spec, replicas, Vec::new()).await.unwrap();
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_at_zero_all_succeed_with_one_shared_wake_up() {
    let state = tempfile::tempdir().unwrap();
    let provider = LocalProvider::new(state.path().to_path_buf());
    // At most 50 processes at a time; the other calls wait in line (queue of 1000) rather than fail.
    let spec = spec("echo", "cat", &[("max_inflight", "50")], &[("com.sedge.queue", "1000")]);
    let name = deploy(&provider, spec, 0).await;
    assert_eq!(provider.replicas(&name).unwrap().count(ReplicaState::Ready), 0);
    let target = provider.target(&name).unwrap();

    let calls = (0..1000).map(|i| {
        let target = target.clone();
        tokio::spawn(async move {
            let response = target.invoke(call(&format!("call {i}"), Duration::from_secs(120))).await?;
            let cold = response.extensions().get::<ColdStart>().copied();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Ok::<_, InvokeError>((i, body, cold))
        })
    });
    let mut cold = 0;
    for result in futures_util::future::join_all(calls).await {
        let (i, body, marked) = result.unwrap().unwrap_or_else(|e| panic!("a held call failed: {e}"));
        assert_eq!(body, format!("call {i}").as_bytes());
        let marked = marked.expect("every response says whether it was cold");
        cold += usize::from(marked.0.is_some());
    }
    assert!(cold >= 1, "the first call waited for the wake-up");
    let counts = provider.replicas(&name).unwrap();
    assert_eq!(counts.desired, 1, "one shared wake-up, not one per call");
    assert_eq!(counts.count(ReplicaState::Ready), 1);
    let load = provider.load(&name).unwrap();
    assert_eq!((load.calls.completed, load.calls.in_flight, load.calls.waiting), (1000, 0, 0));
    assert_eq!(load.calls.cold_starts, cold as u64);
    provider.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_call_held_past_the_activation_timeout_gets_504_and_is_not_run() {
    let state = tempfile::tempdir().unwrap();
    let provider = LocalProvider::new(state.path().to_path_buf()).with_activation_timeout(Duration::from_secs(60));
    // An http-mode replica that never listens: the wake-up never completes.
    let name = deploy(&provider, spec("never", "sleep 3600", &[("mode", "http")], &[]), 0).await;
    let target = provider.target(&name).unwrap();
    let started = Instant::now();
    let err = target.invoke(call("x", Duration::from_secs(600))).await.unwrap_err();
    assert!(matches!(err, InvokeError::ActivationTimeout { .. }), "{err}");
    assert_eq!(started.elapsed().as_secs(), 60, "held exactly the activation timeout (paused clock)");
    assert!(err.to_string().contains("--activation-timeout"), "{err}");
    // The call's own deadline, when earlier, wins and answers as before.
    let err = target.invoke(call("y", Duration::from_secs(5))).await.unwrap_err();
    assert!(matches!(err, InvokeError::NoReplicas { .. }), "{err}");
    provider.shutdown().await;
}

#[tokio::test]
async fn idle_goes_to_zero_after_the_duration_and_wakes_on_the_next_call() {
    let state = tempfile::tempdir().unwrap();
    let provider: Arc<dyn Provider> = Arc::new(LocalProvider::new(state.path().to_path_buf()));
    let labels = [("com.openfaas.scale.zero", "true"), ("com.openfaas.scale.zero-duration", "2s")];
    let spec = spec("idler", "cat", &[], &labels);
    let name = spec.name.clone();
    provider.check(&spec).await.unwrap();
    provider.apply(spec, 1, Vec::new()).await.unwrap();
    let target = provider.target(&name).unwrap();
    let mut autoscaler = Autoscaler::new(provider.clone());
    let clock = Instant::now();

    let response = target.invoke(call("warm", Duration::from_secs(30))).await.unwrap();
    assert_eq!(response.extensions().get::<ColdStart>(), Some(&ColdStart(None)), "a ready replica: warm");
    let last_call = Instant::now();
    let mut zero_at = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for d in autoscaler.tick(clock.elapsed()) {
            assert_eq!((d.from, d.to), (1, 0));
            zero_at.get_or_insert(last_call.elapsed());
        }
        if zero_at.is_some() {
            break;
        }
    }
    let zero_at = zero_at.expect("the idle function went to zero within 10 s");
    assert!(zero_at >= Duration::from_secs(2), "not before zero-duration (2 s): {zero_at:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(provider.replicas(&name).unwrap().desired, 0);

    // The next call wakes it and is marked cold; the autoscaler does not take it back to zero meanwhile.
    let response = target.invoke(call("wake", Duration::from_secs(30))).await.unwrap();
    assert!(response.extensions().get::<ColdStart>().unwrap().0.is_some(), "woken from zero: cold");
    assert!(autoscaler.tick(clock.elapsed()).is_empty(), "a call just arrived: not idle");
    assert_eq!(provider.replicas(&name).unwrap().desired, 1);
    provider.shutdown().await;
}
