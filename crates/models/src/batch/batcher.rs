//! The batcher loop: a thin async task around [`decide`]. It samples the queue and the
//! engine, asks the policy what to do, and applies the answer; it makes no decisions of its own.
//!
//! Callers [`Batcher::submit`] an item and await its output. Items wait in a bounded FIFO queue (a `std` mutex,
//! never held across an `.await`); the loop takes batches from its front and runs the engine call on tokio's
//! blocking pool, so inference never occupies an async worker. One batch runs at a time; requests arriving
//! meanwhile accumulate and form the next batch. After each batch a [`BatchObserver`] receives [`BatchStats`].
//!
//! Shutdown: the loop stops when the [`CancellationToken`] given to [`Batcher::spawn`] is cancelled, when
//! [`Batcher::close`] is called, or when the [`Batcher`] is dropped. Queued requests then fail with
//! [`BatchError::Closed`], the running batch finishes and delivers its outputs, and [`Batcher::drained`] resolves.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::policy::{BatchPolicy, Decision, admit, decide};

/// The engine call: one output per input, in input order. It runs on the blocking pool and may take long.
pub type Engine<I, O, E> = Arc<dyn Fn(Vec<I>) -> Vec<Result<O, E>> + Send + Sync>;

/// Receives the [`BatchStats`] of every batch; the caller labels them with the model and feeds its metrics.
pub type BatchObserver = Arc<dyn Fn(&BatchStats) + Send + Sync>;

/// What one engine call looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStats {
    /// How many requests the batch held.
    pub batch_size: usize,
    /// For each request, how long it waited between `submit` and the engine call.
    pub queue_times: Vec<Duration>,
    /// How long the engine call took, from dispatch to its outputs being back on the loop.
    pub inference_time: Duration,
}

/// Why a submitted item produced no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError<E> {
    /// The queue is at capacity; the client should retry later (HTTP 429).
    #[error("model is overloaded: its batch queue is full ({capacity} requests waiting); retry later")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The batcher is shutting down or gone (HTTP 503).
    #[error("model is shutting down; the request was not run")]
    Closed,
    /// The engine ran the item and returned this error for it.
    #[error("inference failed: {0}")]
    Engine(E),
    /// The engine call failed as a whole (it panicked or returned too few outputs); the text says how.
    #[error("inference engine failed: {0}")]
    EngineFailed(String),
}

type Reply<O, E> = oneshot::Sender<Result<O, BatchError<E>>>;

struct Pending<I, O, E> {
    item: I,
    enqueued: Instant,
    reply: Reply<O, E>,
}

struct Queue<I, O, E> {
    items: VecDeque<Pending<I, O, E>>,
    closed: bool,
}

struct Shared<I, O, E> {
    policy: BatchPolicy,
    queue: Mutex<Queue<I, O, E>>,
    arrived: Notify,
}

impl<I, O, E> Shared<I, O, E> {
    fn lock(&self) -> MutexGuard<'_, Queue<I, O, E>> {
        // Nothing panics while holding the lock; recover the data rather than spread a poison.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A per-model batching queue and the task that drains it; see the module docs.
pub struct Batcher<I, O, E> {
    shared: Arc<Shared<I, O, E>>,
    stop: CancellationToken,
    done: CancellationToken,
}

impl<I, O, E> Batcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// Starts the loop on the current tokio runtime. It stops when `shutdown` (or [`close`](Self::close)) fires.
    pub fn spawn(
        policy: BatchPolicy,
        engine: Engine<I, O, E>,
        observer: Option<BatchObserver>,
        shutdown: &CancellationToken,
    ) -> Self {
        let shared = Arc::new(Shared {
            policy,
            queue: Mutex::new(Queue { items: VecDeque::new(), closed: false }),
            arrived: Notify::new(),
        });
        let stop = shutdown.child_token();
        let done = CancellationToken::new();
        let task = Loop { shared: shared.clone(), engine, observer, in_flight: None };
        let (loop_stop, loop_done) = (stop.clone(), done.clone());
        tokio::spawn(async move {
            task.run(loop_stop).await;
            loop_done.cancel();
        });
        Self { shared, stop, done }
    }

    /// Queues `item` and waits for its output. Refused at once with [`BatchError::QueueFull`] when the queue is
    /// full. Dropping the future abandons the request; it is skipped if it has not been dispatched yet.
    pub async fn submit(&self, item: I) -> Result<O, BatchError<E>> {
        let (reply, output) = oneshot::channel();
        {
            let mut queue = self.shared.lock();
            if queue.closed {
                return Err(BatchError::Closed);
            }
            admit(&self.shared.policy, queue.items.len())
                .map_err(|full| BatchError::QueueFull { capacity: full.capacity })?;
            queue.items.push_back(Pending { item, enqueued: Instant::now(), reply });
        }
        self.shared.arrived.notify_one();
        output.await.unwrap_or(Err(BatchError::Closed))
    }
}

impl<I, O, E> Batcher<I, O, E> {
    /// How many requests are waiting (not counting the batch being run): the queue-depth gauge.
    pub fn queued(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// The policy this batcher applies.
    pub fn policy(&self) -> &BatchPolicy {
        &self.shared.policy
    }

    /// Stops admitting requests and fails the queued ones with [`BatchError::Closed`]; the running batch finishes.
    pub fn close(&self) {
        self.stop.cancel();
    }

    /// Resolves once the loop has exited (after [`close`](Self::close) or the shutdown token) and the last batch
    /// has delivered its outputs.
    pub async fn drained(&self) {
        self.done.cancelled().await;
    }
}

impl<I, O, E> Drop for Batcher<I, O, E> {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct InFlight<O, E> {
    handle: JoinHandle<Vec<Result<O, E>>>,
    replies: Vec<Reply<O, E>>,
    queue_times: Vec<Duration>,
    started: Instant,
}

struct Loop<I, O, E> {
    shared: Arc<Shared<I, O, E>>,
    engine: Engine<I, O, E>,
    observer: Option<BatchObserver>,
    in_flight: Option<InFlight<O, E>>,
}

impl<I, O, E> Loop<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    async fn run(mut self, stop: CancellationToken) {
        loop {
            let decision = self.decide_now();
            if let Decision::RunNow(n) = decision {
                self.dispatch(n);
                continue;
            }
            let wait = match decision {
                Decision::WaitUntil(delay) => Some(delay),
                _ => None,
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                outputs = engine_done(&mut self.in_flight) => self.finish(outputs),
                () = self.shared.arrived.notified() => {}
                () = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
        }
        self.drain().await;
    }

    /// Samples the queue (dropping abandoned requests) and asks the policy.
    fn decide_now(&self) -> Decision {
        let mut queue = self.shared.lock();
        queue.items.retain(|pending| !pending.reply.is_closed());
        let now = Instant::now();
        let oldest = queue.items.front().map_or(Duration::ZERO, |p| now.saturating_duration_since(p.enqueued));
        decide(&self.shared.policy, queue.items.len(), oldest, self.in_flight.is_some())
    }

    /// Takes the first `n` requests and starts the engine on them off the async workers.
    fn dispatch(&mut self, n: usize) {
        let now = Instant::now();
        let batch: Vec<_> = {
            let mut queue = self.shared.lock();
            let n = n.min(queue.items.len());
            queue.items.drain(..n).collect()
        };
        let mut items = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut queue_times = Vec::with_capacity(batch.len());
        for pending in batch {
            queue_times.push(now.saturating_duration_since(pending.enqueued));
            items.push(pending.item);
            replies.push(pending.reply);
        }
        let engine = self.engine.clone();
        let handle = tokio::task::spawn_blocking(move || engine(items));
        self.in_flight = Some(InFlight { handle, replies, queue_times, started: now });
    }

    /// Routes a finished batch's outputs to their callers and reports its stats.
    fn finish(&mut self, outputs: Result<Vec<Result<O, E>>, JoinError>) {
        let Some(batch) = self.in_flight.take() else { return };
        let inference_time = Instant::now().saturating_duration_since(batch.started);
        let expected = batch.replies.len();
        let failure = |why: &str| BatchError::EngineFailed(why.to_owned());
        match outputs {
            Ok(outputs) => {
                let got = outputs.len();
                let mut outputs = outputs.into_iter();
                for reply in batch.replies {
                    let result = match outputs.next() {
                        Some(output) => output.map_err(BatchError::Engine),
                        None => Err(failure(&format!("engine returned {got} outputs for {expected} inputs"))),
                    };
                    // The caller may have gone away; its output is simply dropped.
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                let why = if err.is_panic() { "engine panicked" } else { "engine task was cancelled" };
                for reply in batch.replies {
                    let _ = reply.send(Err(failure(why)));
                }
            }
        }
        if let Some(observer) = &self.observer {
            observer(&BatchStats { batch_size: expected, queue_times: batch.queue_times, inference_time });
        }
    }

    /// Shutdown: refuse new work, fail the queued requests, let the running batch deliver.
    async fn drain(mut self) {
        let abandoned: Vec<_> = {
            let mut queue = self.shared.lock();
            queue.closed = true;
            queue.items.drain(..).collect()
        };
        for pending in abandoned {
            let _ = pending.reply.send(Err(BatchError::Closed));
        }
        if self.in_flight.is_some() {
            let outputs = engine_done(&mut self.in_flight).await;
            self.finish(outputs);
        }
    }
}

/// The running batch's outputs; pending forever when no batch runs.
async fn engine_done<O, E>(in_flight: &mut Option<InFlight<O, E>>) -> Result<Vec<Result<O, E>>, JoinError> {
    match in_flight {
        Some(batch) => (&mut batch.handle).await,
        None => std::future::pending().await,
    }
}
