//! Per-function call statistics: what the autoscaler samples (calls completed, in flight, waiting, the time
//! integral of concurrency — whose rate is the average concurrency Knative's queue-proxy reports — and time since
//! the last arrival) and what `describe` and the metrics report about cold starts. Counters are atomics; the
//! concurrency integral and cold starts sit behind small mutexes touched once per arrival and departure.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How many recent cold starts the median is taken over.
const RECENT_COLD_STARTS: usize = 256;

/// One function's counters.
#[derive(Debug)]
pub struct CallStats {
    born: Instant,
    completed: AtomicU64,
    in_flight: AtomicU32,
    waiting: AtomicU32,
    /// Nanoseconds after `born` of the latest arrival, plus one (0 = none yet).
    last_arrival: AtomicU64,
    area: Mutex<Area>,
    cold: Mutex<ColdStarts>,
}

/// The integral of concurrency (calls in flight or waiting) over time.
#[derive(Debug)]
struct Area {
    since: Instant,
    current: u32,
    seconds: f64,
}

impl Area {
    fn step(&mut self, delta: i32) {
        let now = Instant::now();
        self.seconds += f64::from(self.current) * now.saturating_duration_since(self.since).as_secs_f64();
        self.since = now;
        self.current = self.current.saturating_add_signed(delta);
    }
}

#[derive(Debug, Default)]
struct ColdStarts {
    count: u64,
    last: Option<Duration>,
    recent: VecDeque<Duration>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Calls completed since the function started (any outcome).
    pub completed: u64,
    /// Calls running on a replica now.
    pub in_flight: u32,
    /// Calls waiting for a slot now: held while the function wakes, or queued behind busy replicas.
    pub waiting: u32,
    /// Concurrency (calls in flight or waiting) integrated over time since the function started, in
    /// call-seconds: its rate between two snapshots is the average concurrency in between.
    pub concurrency_seconds: f64,
    /// Time since the last call arrived; `None` if none has.
    pub idle: Option<Duration>,
    /// Cold starts so far.
    pub cold_starts: u64,
    /// The latest cold start's wait.
    pub last_cold_start: Option<Duration>,
    /// Median wait of the recent cold starts.
    pub median_cold_start: Option<Duration>,
}

impl Default for CallStats {
    fn default() -> Self {
        Self {
            born: Instant::now(),
            completed: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
            last_arrival: AtomicU64::new(0),
            area: Mutex::new(Area { since: Instant::now(), current: 0, seconds: 0.0 }),
            cold: Mutex::default(),
        }
    }
}

impl CallStats {
    /// Records an arrival; the returned guard counts the call as waiting until [`Arrival::running`], and as
    /// completed when dropped.
    pub fn arrive(&self) -> Arrival<'_> {
        let since = Instant::now().saturating_duration_since(self.born).as_nanos() as u64;
        self.last_arrival.fetch_max(since + 1, Ordering::AcqRel);
        self.waiting.fetch_add(1, Ordering::AcqRel);
        self.area.lock().unwrap_or_else(|p| p.into_inner()).step(1);
        Arrival { stats: self, running: false }
    }

    /// Records one cold start: the call waited `waited` for a replica to become ready.
    pub fn cold_start(&self, waited: Duration) {
        let mut cold = self.cold.lock().unwrap_or_else(|p| p.into_inner());
        cold.count += 1;
        cold.last = Some(waited);
        if cold.recent.len() == RECENT_COLD_STARTS {
            cold.recent.pop_front();
        }
        cold.recent.push_back(waited);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let last = self.last_arrival.load(Ordering::Acquire);
        let idle = (last > 0).then(|| {
            let at = self.born + Duration::from_nanos(last - 1);
            Instant::now().saturating_duration_since(at)
        });
        let concurrency_seconds = {
            let mut area = self.area.lock().unwrap_or_else(|p| p.into_inner());
            area.step(0);
            area.seconds
        };
        let cold = self.cold.lock().unwrap_or_else(|p| p.into_inner());
        let median = (!cold.recent.is_empty()).then(|| {
            let mut sorted: Vec<Duration> = cold.recent.iter().copied().collect();
            sorted.sort_unstable();
            sorted[sorted.len() / 2]
        });
        StatsSnapshot {
            completed: self.completed.load(Ordering::Acquire),
            in_flight: self.in_flight.load(Ordering::Acquire),
            waiting: self.waiting.load(Ordering::Acquire),
            concurrency_seconds,
            idle,
            cold_starts: cold.count,
            last_cold_start: cold.last,
            median_cold_start: median,
        }
    }
}

/// One call's presence in the counters.
#[derive(Debug)]
pub struct Arrival<'a> {
    stats: &'a CallStats,
    running: bool,
}

impl Arrival<'_> {
    /// The call got a slot: it stops waiting and runs.
    pub fn running(&mut self) {
        if !self.running {
            self.running = true;
            self.stats.waiting.fetch_sub(1, Ordering::AcqRel);
            self.stats.in_flight.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        let gauge = if self.running { &self.stats.in_flight } else { &self.stats.waiting };
        gauge.fetch_sub(1, Ordering::AcqRel);
        self.stats.area.lock().unwrap_or_else(|p| p.into_inner()).step(-1);
        self.stats.completed.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_waiting_running_and_completed() {
        let stats = CallStats::default();
        assert_eq!(stats.snapshot().idle, None);
        let mut a = stats.arrive();
        let b = stats.arrive();
        assert_eq!((stats.snapshot().waiting, stats.snapshot().in_flight), (2, 0));
        a.running();
        a.running();
        assert_eq!((stats.snapshot().waiting, stats.snapshot().in_flight), (1, 1));
        drop(a);
        drop(b);
        let s = stats.snapshot();
        assert_eq!((s.waiting, s.in_flight, s.completed), (0, 0, 2));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(stats.snapshot().idle, Some(Duration::from_secs(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_integrated_over_time() {
        let stats = CallStats::default();
        let a = stats.arrive();
        tokio::time::advance(Duration::from_secs(2)).await;
        let b = stats.arrive();
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(a);
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(b);
        tokio::time::advance(Duration::from_secs(10)).await;
        // 1 call for 2 s, 2 calls for 1 s, 1 call for 1 s: 5 call-seconds.
        assert!((stats.snapshot().concurrency_seconds - 5.0).abs() < 1e-6);
    }

    #[test]
    fn cold_start_median_and_last() {
        let stats = CallStats::default();
        for ms in [30, 10, 20] {
            stats.cold_start(Duration::from_millis(ms));
        }
        let s = stats.snapshot();
        assert_eq!(s.cold_starts, 3);
        assert_eq!(s.last_cold_start, Some(Duration::from_millis(20)));
        assert_eq!(s.median_cold_start, Some(Duration::from_millis(20)));
    }
}
