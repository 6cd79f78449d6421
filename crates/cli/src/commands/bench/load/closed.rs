//! The closed model (k6's `ramping-vus`): a controller reads the stage plan every 50 ms and keeps
//! `vus_at(now)` virtual users running; VU `i` runs while `i` is below that count: send, wait for the whole
//! response, think, repeat.
//!
//! This is the generator's hot path, so a request costs a VU no shared lock and no cross-thread hand-off:
//! - VUs run on current-thread runtimes, one per core, each on its own thread (as oha does): no work stealing,
//!   and a response wakes the VU on the thread whose event loop read it;
//! - each VU owns one connection ([`Conn`]: no pool);
//! - each VU hands its outcomes to the collector a [`Batch`] at a time, and adds to the progress counters
//!   (shared cache lines) at most every [`PUBLISH_EVERY`];
//! - a run without `--iterations` shares no counter, and VUs read the plan's count (an atomic), not `stop`'s
//!   lock: `stop` ends the controller, which sets the count to 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use http::Request;
use http_body_util::Full;
use sedge_bench::plan::{self, Stage};
use sedge_bench::record::Outcome;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::conn::Conn;
use super::{Shared, next_body, outcome};

/// A VU hands its outcomes over once it holds this many…
const BATCH: usize = 256;
/// …or once the oldest it holds is this old, so that writers stay close to live at low rates.
const BATCH_AGE: Duration = Duration::from_millis(500);
/// A VU adds its requests to the progress counters once this long has passed since it last did (or at once
/// when a request took longer).
const PUBLISH_EVERY: Duration = Duration::from_millis(10);

/// Runs the plan; returns 0 (the closed model drops nothing).
pub(super) async fn run(
    shared: Arc<Shared>,
    stages: Vec<Stage>,
    start_vus: u32,
    think: Duration,
    iterations: Option<u64>,
    stop: CancellationToken,
) -> u64 {
    let most_vus = stages.iter().map(|s| s.target).max().unwrap_or(0).max(start_vus);
    let cores = Cores::start(std::thread::available_parallelism().map_or(1, |n| n.get()).min(most_vus as usize));
    let wanted = Arc::new(AtomicU32::new(0));
    let left = iterations.map(|n| Arc::new(AtomicU64::new(n)));
    let mut vus = tokio::task::JoinSet::new();
    let mut started = 0u32;
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => break,
        }
        let Some(target) = plan::vus_at(&stages, start_vus, shared.start.elapsed()) else { break };
        if left.as_ref().is_some_and(|left| left.load(Ordering::Acquire) == 0) {
            break;
        }
        wanted.store(target, Ordering::Release);
        shared.progress.active.store(target, Ordering::Relaxed);
        while started < target {
            let vu = Vu { id: started, shared: shared.clone(), wanted: wanted.clone(), left: left.clone(), think };
            vus.spawn_on(vu.run(stop.clone()), &cores.handle(started));
            started += 1;
        }
    }
    // Past the plan: VUs finish the request they are in, then stop.
    wanted.store(0, Ordering::Release);
    while vus.join_next().await.is_some() {}
    0
}

/// One virtual user.
struct Vu {
    id: u32,
    shared: Arc<Shared>,
    /// VUs numbered below this run.
    wanted: Arc<AtomicU32>,
    /// Requests left to send in all, when the run is limited.
    left: Option<Arc<AtomicU64>>,
    think: Duration,
}

impl Vu {
    async fn run(self, stop: CancellationToken) {
        let mut conn = Conn::new(&self.shared.target.url, self.shared.timeout);
        let mut batch = Batch::new(&self.shared);
        while self.id < self.wanted.load(Ordering::Acquire) {
            let take = |left: &Arc<AtomicU64>| {
                left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
            };
            if !self.left.as_ref().is_none_or(take) {
                return;
            }
            batch.push(self.send(&mut conn).await);
            if !self.think.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(self.think) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }

    /// One request on the VU's own connection, sent now.
    async fn send(&self, conn: &mut Conn) -> Outcome {
        let shared = &*self.shared;
        let (body, bytes_sent) = next_body(shared);
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = shared.target.method.clone();
        *request.uri_mut() = shared.origin.clone();
        *request.headers_mut() = shared.origin_headers.clone();
        let started = shared.start.elapsed();
        let result = conn.exchange(request).await;
        outcome(shared, started, started, bytes_sent, result, self.id)
    }
}

/// A VU's outcomes not yet handed to the collector, and its requests not yet in the progress counters; whatever
/// is left goes when it is dropped.
struct Batch<'a> {
    shared: &'a Shared,
    outcomes: Vec<Outcome>,
    done: u64,
    failed: u64,
    /// When (offset from the test start) the counts were last added to the progress.
    published: Duration,
}

impl<'a> Batch<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self { shared, outcomes: Vec::new(), done: 0, failed: 0, published: Duration::ZERO }
    }

    fn push(&mut self, outcome: Outcome) {
        let now = outcome.finished;
        self.done += 1;
        self.failed += u64::from(!outcome.ok());
        if now.saturating_sub(self.published) >= PUBLISH_EVERY {
            self.publish(now);
        }
        let first = self.outcomes.first().map_or(now, |o| o.finished);
        self.outcomes.push(outcome);
        if self.outcomes.len() >= BATCH || now.saturating_sub(first) >= BATCH_AGE {
            self.flush();
        }
    }

    fn publish(&mut self, now: Duration) {
        let progress = &self.shared.progress;
        progress.done.fetch_add(std::mem::take(&mut self.done), Ordering::Relaxed);
        if self.failed > 0 {
            progress.failed.fetch_add(std::mem::take(&mut self.failed), Ordering::Relaxed);
        }
        self.published = now;
    }

    fn flush(&mut self) {
        if !self.outcomes.is_empty() {
            let _ = self.shared.outcomes.send(std::mem::take(&mut self.outcomes));
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.publish(self.published);
        self.flush();
    }
}

/// Current-thread runtimes, each on its own thread, that VUs are spread over; dropping this ends them.
struct Cores {
    handles: Vec<Handle>,
    _ends: Vec<oneshot::Sender<()>>,
}

impl Cores {
    /// Up to `n` (at least 1) runtimes; none when threads cannot be started, and then VUs run on the caller's.
    fn start(n: usize) -> Self {
        let mut cores = Self { handles: Vec::new(), _ends: Vec::new() };
        for i in 0..n.max(1) {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { break };
            let handle = runtime.handle().clone();
            let (end, ended) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new().name(format!("sedge-bench-{i}"));
            if thread.spawn(move || runtime.block_on(ended)).is_err() {
                break;
            }
            cores.handles.push(handle);
            cores._ends.push(end);
        }
        cores
    }

    /// The runtime for VU `id`.
    fn handle(&self, id: u32) -> Handle {
        match self.handles.len() {
            0 => Handle::current(),
            n => self.handles[id as usize % n].clone(),
        }
    }
}
