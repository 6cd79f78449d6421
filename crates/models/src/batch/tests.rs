//! Batcher tests on paused tokio time. The engine is a closure that records each batch and, when asked, blocks on a
//! gate the test opens, so "the engine is busy" is a state the test controls rather than a race. Every wait is
//! bounded by a virtual-time timeout: blocking tasks hold the paused clock still, so a bug fails instead of hanging.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use super::*;

const LIMIT: Duration = Duration::from_secs(5);

/// A test engine: `x → x * 10`, odd `x ≥ 100` fail; reports each batch's items; the first batch can be held.
struct TestEngine {
    batches: UnboundedReceiver<Vec<u32>>,
    gate: mpsc::Sender<()>,
    engine: Engine<u32, u32, String>,
}

fn test_engine(hold_first: bool) -> TestEngine {
    let (seen, batches) = unbounded_channel();
    let (gate, opened) = mpsc::channel::<()>();
    let opened = Mutex::new(opened);
    let held = Mutex::new(hold_first);
    let engine: Engine<u32, u32, String> = Arc::new(move |items: Vec<u32>| {
        let _ = seen.send(items.clone());
        let hold = std::mem::take(&mut *held.lock().expect("held lock"));
        if hold {
            // Held until the test opens the gate (or drops it).
            let _ = opened.lock().expect("gate lock").recv();
        }
        items.into_iter().map(|x| if x >= 100 && x % 2 == 1 { Err(format!("bad {x}")) } else { Ok(x * 10) }).collect()
    });
    TestEngine { batches, gate, engine }
}

fn policy(max: usize, delay: Duration, capacity: usize) -> BatchPolicy {
    BatchPolicy::new(max, delay, capacity).expect("valid policy")
}

fn submit(batcher: &Arc<Batcher<u32, u32, String>>, x: u32) -> JoinHandle<Result<u32, BatchError<String>>> {
    let batcher = batcher.clone();
    tokio::spawn(async move { batcher.submit(x).await })
}

async fn next_batch(engine: &mut TestEngine) -> Vec<u32> {
    timeout(LIMIT, engine.batches.recv()).await.expect("engine called in time").expect("engine alive")
}

async fn wait_queued(batcher: &Batcher<u32, u32, String>, n: usize) {
    timeout(LIMIT, async {
        while batcher.queued() != n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("requests queued in time");
}

async fn output(call: JoinHandle<Result<u32, BatchError<String>>>) -> Result<u32, BatchError<String>> {
    timeout(LIMIT, call).await.expect("answered in time").expect("submit task ran")
}

#[tokio::test(start_paused = true)]
async fn lone_request_runs_at_once() {
    let mut engine = test_engine(false);
    let stats = Arc::new(Mutex::new(Vec::new()));
    let sink = stats.clone();
    let observer: BatchObserver = Arc::new(move |s: &BatchStats| sink.lock().expect("stats lock").push(s.clone()));
    let shutdown = CancellationToken::new();
    let batcher =
        Batcher::spawn(policy(8, Duration::from_millis(5), 16), engine.engine.clone(), Some(observer), &shutdown);

    let start = Instant::now();
    let out = timeout(LIMIT, batcher.submit(7)).await.expect("answered in time");
    assert_eq!(out, Ok(70));
    assert_eq!(start.elapsed(), Duration::ZERO, "a lone request on an idle engine is not delayed");
    assert_eq!(next_batch(&mut engine).await, vec![7]);
    let stats = stats.lock().expect("stats lock").clone();
    assert_eq!(
        stats,
        vec![BatchStats { batch_size: 1, queue_times: vec![Duration::ZERO], inference_time: Duration::ZERO }]
    );
}

#[tokio::test(start_paused = true)]
async fn requests_coalesce_while_the_engine_is_busy() {
    let mut engine = test_engine(true);
    let shutdown = CancellationToken::new();
    let delay = Duration::from_millis(2);
    let batcher = Arc::new(Batcher::spawn(policy(4, delay, 16), engine.engine.clone(), None, &shutdown));

    let first = submit(&batcher, 0);
    assert_eq!(next_batch(&mut engine).await, vec![0]);
    let mut calls = Vec::new();
    for x in 1..=6 {
        calls.push(submit(&batcher, x));
        wait_queued(&batcher, x as usize).await;
    }
    let start = Instant::now();
    engine.gate.send(()).expect("engine waiting");
    assert_eq!(output(first).await, Ok(0));
    // A full batch runs as soon as the engine frees; the 2 left over wait `delay` (from their arrival) for company.
    assert_eq!(next_batch(&mut engine).await, vec![1, 2, 3, 4]);
    assert_eq!(next_batch(&mut engine).await, vec![5, 6]);
    assert_eq!(start.elapsed(), delay);
    for (x, call) in (1..=6).zip(calls) {
        assert_eq!(output(call).await, Ok(x * 10));
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_on_an_idle_engine_waits_at_most_the_delay() {
    let mut engine = test_engine(false);
    let shutdown = CancellationToken::new();
    let delay = Duration::from_millis(5);
    let batcher = Batcher::spawn(policy(4, delay, 16), engine.engine.clone(), None, &shutdown);

    let start = Instant::now();
    let (a, b, c) = timeout(LIMIT, async { tokio::join!(batcher.submit(1), batcher.submit(2), batcher.submit(3)) })
        .await
        .expect("answered in time");
    assert_eq!((a, b, c), (Ok(10), Ok(20), Ok(30)));
    assert_eq!(next_batch(&mut engine).await, vec![1, 2, 3]);
    assert_eq!(start.elapsed(), delay);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_the_overflow_and_serves_the_rest() {
    let mut engine = test_engine(true);
    let shutdown = CancellationToken::new();
    let batcher = Arc::new(Batcher::spawn(policy(1, Duration::ZERO, 2), engine.engine.clone(), None, &shutdown));

    let first = submit(&batcher, 1);
    assert_eq!(next_batch(&mut engine).await, vec![1]);
    let (second, third) = (submit(&batcher, 2), submit(&batcher, 3));
    wait_queued(&batcher, 2).await;
    let refused = timeout(LIMIT, batcher.submit(4)).await.expect("refused at once");
    assert_eq!(refused, Err(BatchError::QueueFull { capacity: 2 }));
    assert!(refused.unwrap_err().to_string().contains("queue is full"));

    engine.gate.send(()).expect("engine waiting");
    assert_eq!(output(first).await, Ok(10));
    assert_eq!(output(second).await, Ok(20));
    assert_eq!(output(third).await, Ok(30));
}

#[tokio::test(start_paused = true)]
async fn outputs_and_errors_reach_their_own_callers_in_order() {
    let mut engine = test_engine(true);
    let shutdown = CancellationToken::new();
    let batcher = Arc::new(Batcher::spawn(policy(8, Duration::ZERO, 16), engine.engine.clone(), None, &shutdown));

    let first = submit(&batcher, 1);
    assert_eq!(next_batch(&mut engine).await, vec![1]);
    let inputs = [5, 101, 3, 102, 9];
    let mut calls = Vec::new();
    for (i, x) in inputs.into_iter().enumerate() {
        calls.push(submit(&batcher, x));
        wait_queued(&batcher, i + 1).await;
    }
    engine.gate.send(()).expect("engine waiting");
    assert_eq!(output(first).await, Ok(10));
    assert_eq!(next_batch(&mut engine).await, inputs.to_vec(), "FIFO into the engine");
    let mut outputs = Vec::new();
    for call in calls {
        outputs.push(output(call).await);
    }
    let engine_err = BatchError::Engine("bad 101".to_owned());
    assert_eq!(outputs, vec![Ok(50), Err(engine_err), Ok(30), Ok(1020), Ok(90)]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_queued_and_new_requests_and_finishes_the_running_batch() {
    let mut engine = test_engine(true);
    let shutdown = CancellationToken::new();
    let batcher = Arc::new(Batcher::spawn(policy(4, Duration::ZERO, 16), engine.engine.clone(), None, &shutdown));

    let running = submit(&batcher, 1);
    assert_eq!(next_batch(&mut engine).await, vec![1]);
    let queued = submit(&batcher, 2);
    wait_queued(&batcher, 1).await;

    shutdown.cancel();
    assert_eq!(output(queued).await, Err(BatchError::Closed));
    assert_eq!(timeout(LIMIT, batcher.submit(3)).await.expect("refused at once"), Err(BatchError::Closed));
    engine.gate.send(()).expect("engine waiting");
    assert_eq!(output(running).await, Ok(10), "the running batch still delivers");
    timeout(LIMIT, batcher.drained()).await.expect("loop exits");
}

#[tokio::test(start_paused = true)]
async fn close_stops_the_loop() {
    let engine = test_engine(false);
    let shutdown = CancellationToken::new();
    let batcher = Batcher::spawn(policy(4, Duration::ZERO, 16), engine.engine.clone(), None, &shutdown);
    assert_eq!(timeout(LIMIT, batcher.submit(4)).await.expect("answered in time"), Ok(40));
    batcher.close();
    timeout(LIMIT, batcher.drained()).await.expect("loop exits on close");
    assert_eq!(batcher.submit(5).await, Err(BatchError::Closed));
    assert!(!shutdown.is_cancelled(), "closing one batcher leaves the caller's token alone");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_batcher_stops_its_loop() {
    let engine = test_engine(false);
    let shutdown = CancellationToken::new();
    let batcher = Batcher::spawn(policy(4, Duration::ZERO, 16), engine.engine.clone(), None, &shutdown);
    assert_eq!(Arc::strong_count(&engine.engine), 2, "the loop holds the engine");
    drop(batcher);
    timeout(LIMIT, async {
        while Arc::strong_count(&engine.engine) > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the loop exits and releases the engine");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_engine_fails_its_batch_not_the_batcher() {
    let shutdown = CancellationToken::new();
    let engine: Engine<u32, u32, String> = Arc::new(|items: Vec<u32>| {
        assert!(!items.contains(&13), "unlucky");
        items.into_iter().map(Ok).collect()
    });
    let batcher = Batcher::spawn(policy(4, Duration::ZERO, 16), engine, None, &shutdown);
    let failed = timeout(LIMIT, batcher.submit(13)).await.expect("answered in time");
    assert_eq!(failed, Err(BatchError::EngineFailed("engine panicked".to_owned())));
    assert_eq!(timeout(LIMIT, batcher.submit(12)).await.expect("answered in time"), Ok(12));
}
