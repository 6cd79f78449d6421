//! What happened second by second: the series behind a report's "over time" charts.
//!
//! A [`Timeline`] buckets each [`Outcome`] by the second in which it *finished* (its `finished` offset from
//! the test start): requests, failures (not [`Outcome::ok`]), cold starts (`cold == Some(true)`), bytes sent
//! and received, and a latency histogram (microseconds, 2 significant digits, auto-resizing, so a bucket of
//! millisecond latencies costs a few kilobytes). [`Timeline::points`] reads one [`Point`] per second;
//! [`Timeline::points_every`] merges wider windows for long runs, and [`Timeline::points_over`] picks the
//! windows to chart a whole run, minding its partial last second.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::record::Outcome;

/// Latencies above an hour are clamped to an hour, as in [`crate::record`].
const HIGHEST_US: u64 = 3_600_000_000;

/// Per-second counts and latency histograms; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    buckets: Vec<Bucket>,
    /// The latest `finished` offset recorded.
    last: Duration,
}

#[derive(Debug, Clone)]
struct Bucket {
    requests: u64,
    errors: u64,
    cold: u64,
    bytes: u64,
    max_ns: u128,
    latency: Histogram<u32>,
}

impl Bucket {
    fn new() -> Self {
        let latency = Histogram::new(2).expect("2 significant digits are valid");
        Self { requests: 0, errors: 0, cold: 0, bytes: 0, max_ns: 0, latency }
    }

    fn merge(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.cold += other.cold;
        self.bytes += other.bytes;
        self.max_ns = self.max_ns.max(other.max_ns);
        self.latency.add(&other.latency).expect("auto-resizing histograms add");
    }
}

/// One window of a [`Timeline`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Point {
    /// Start of the window, in seconds from the test start.
    pub t: f64,
    /// Width of the window in seconds.
    pub width_s: f64,
    /// Requests that finished in the window.
    pub requests: u64,
    /// Of those, requests that were not [`Outcome::ok`].
    pub errors: u64,
    /// Of those, cold starts.
    pub cold: u64,
    /// Bytes sent and received by those requests.
    pub bytes: u64,
    /// Median latency in ms (0 when the window is empty).
    pub p50_ms: f64,
    /// 95th percentile latency in ms.
    pub p95_ms: f64,
    /// 99th percentile latency in ms.
    pub p99_ms: f64,
    /// Exact maximum latency in ms.
    pub max_ms: f64,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request in the second its `finished` offset falls in.
    pub fn record(&mut self, o: &Outcome) {
        let second = usize::try_from(o.finished.as_secs()).unwrap_or(usize::MAX);
        if second >= self.buckets.len() {
            self.buckets.resize_with(second + 1, Bucket::new);
        }
        self.last = self.last.max(o.finished);
        let bucket = &mut self.buckets[second];
        let ns = o.latency().as_nanos();
        bucket.requests += 1;
        bucket.errors += u64::from(!o.ok());
        bucket.cold += u64::from(o.cold == Some(true));
        bucket.bytes += o.bytes_sent + o.bytes_received;
        bucket.max_ns = bucket.max_ns.max(ns);
        let us = (ns / 1000).clamp(1, u128::from(HIGHEST_US)) as u64;
        if bucket.latency.record(us).is_err() {
            bucket.latency.saturating_record(us);
        }
    }

    /// Adds everything `other` recorded, second by second.
    pub fn merge(&mut self, other: &Timeline) {
        if other.buckets.len() > self.buckets.len() {
            self.buckets.resize_with(other.buckets.len(), Bucket::new);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.merge(theirs);
        }
        self.last = self.last.max(other.last);
    }

    /// Seconds covered: one past the last second in which a request finished (0 when empty).
    pub fn seconds(&self) -> u64 {
        self.buckets.len() as u64
    }

    /// One point per second, from second 0 to the last second in which a request finished; quiet seconds
    /// are points with zero requests.
    pub fn points(&self) -> Vec<Point> {
        self.points_every(Duration::from_secs(1))
    }

    /// The points to chart a run that lasted `run`: at most `max_points` windows of whole seconds (one second
    /// when the run is short enough) from 0 to the end of the run, quiet windows included. The last window's
    /// `width_s` is the part of it the run covered, so a rate over it is not diluted; when that part is under
    /// half a window it joins the window before instead (a rate over a few milliseconds says little).
    pub fn points_over(&self, run: Duration, max_points: usize) -> Vec<Point> {
        // Requests that finished after the run's end (a runner's clocks disagree) extend it.
        let run_s = run.max(self.last).as_secs_f64();
        let seconds = run_s.ceil() as usize;
        let width = seconds.div_ceil(max_points.max(1)).max(1);
        let mut starts: Vec<usize> = (0..seconds).step_by(width).collect();
        if starts.len() >= 2 && run_s - (starts[starts.len() - 1] as f64) < width as f64 / 2.0 {
            starts.pop();
        }
        let ends = starts.iter().skip(1).copied().chain([seconds]);
        let count = starts.len();
        starts
            .iter()
            .zip(ends)
            .enumerate()
            .map(|(i, (&start, end))| {
                let mut window = Bucket::new();
                for bucket in self.buckets.get(start..end.min(self.buckets.len())).unwrap_or_default() {
                    window.merge(bucket);
                }
                let full = (end - start) as f64;
                let covered = run_s - start as f64;
                let width_s = if i + 1 == count && covered > 0.0 { covered.min(full) } else { full };
                point(&window, start as f64, width_s)
            })
            .collect()
    }

    /// One point per window of `width` (whole seconds, at least one), for charts of long runs.
    pub fn points_every(&self, width: Duration) -> Vec<Point> {
        let seconds = usize::try_from(width.as_secs().max(1)).unwrap_or(usize::MAX);
        self.buckets
            .chunks(seconds)
            .enumerate()
            .map(|(i, chunk)| {
                let mut window = Bucket::new();
                for bucket in chunk {
                    window.merge(bucket);
                }
                point(&window, (i * seconds) as f64, seconds as f64)
            })
            .collect()
    }
}

fn point(b: &Bucket, t: f64, width_s: f64) -> Point {
    let max_ms = b.max_ns as f64 / 1e6;
    let at = |q: f64| {
        if b.requests == 0 { 0.0 } else { (b.latency.value_at_quantile(q) as f64 / 1000.0).min(max_ms) }
    };
    Point {
        t,
        width_s,
        requests: b.requests,
        errors: b.errors,
        cold: b.cold,
        bytes: b.bytes,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        max_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(at_ms: u64, latency_ms: u64) -> Outcome {
        Outcome {
            intended: Duration::from_millis(at_ms - latency_ms),
            started: Duration::from_millis(at_ms - latency_ms),
            finished: Duration::from_millis(at_ms),
            status: Some(200),
            error: None,
            cold: None,
            bytes_sent: 10,
            bytes_received: 90,
            vu: 0,
        }
    }

    /// Within 2 significant digits (1%), and never below the true value.
    fn close(observed: f64, expected: f64) {
        assert!(observed >= expected && observed <= expected * 1.01, "{observed} vs {expected}");
    }

    #[test]
    fn buckets_by_the_second_a_request_finished_in() {
        let mut t = Timeline::new();
        t.record(&finished(999, 5));
        t.record(&finished(1000, 5));
        t.record(&Outcome { status: Some(503), ..finished(1500, 7) });
        t.record(&Outcome { cold: Some(true), ..finished(3200, 900) });
        let points = t.points();
        assert_eq!(t.seconds(), 4);
        assert_eq!(points.iter().map(|p| p.t).collect::<Vec<_>>(), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(points.iter().map(|p| p.requests).collect::<Vec<_>>(), [1, 2, 0, 1]);
        assert_eq!(points.iter().map(|p| p.errors).collect::<Vec<_>>(), [0, 1, 0, 0]);
        assert_eq!(points.iter().map(|p| p.cold).collect::<Vec<_>>(), [0, 0, 0, 1]);
        assert_eq!(points[1].bytes, 200);
        assert_eq!(points[1].max_ms, 7.0);
        assert_eq!((points[2].p50_ms, points[2].max_ms), (0.0, 0.0), "a quiet second");
        assert_eq!(points[3].p99_ms, 900.0, "clamped to the exact max");
    }

    #[test]
    fn percentiles_per_second() {
        let mut t = Timeline::new();
        for ms in 1..=100 {
            t.record(&finished(5000 + ms, ms));
        }
        let p = &t.points()[5];
        assert_eq!(p.requests, 100);
        close(p.p50_ms, 50.0);
        close(p.p95_ms, 95.0);
        close(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 100.0);
        assert!(t.points()[..5].iter().all(|p| p.requests == 0));
    }

    #[test]
    fn merging_equals_recording_in_one() {
        let outcomes: Vec<_> = (0..300).map(|i| finished(i * 17 + 50, i % 40 + 1)).collect();
        let mut one = Timeline::new();
        let (mut a, mut b) = (Timeline::new(), Timeline::new());
        for (i, o) in outcomes.iter().enumerate() {
            one.record(o);
            if i % 3 == 0 { a.record(o) } else { b.record(o) }
        }
        a.merge(&b);
        assert_eq!(a.points(), one.points());
        b.merge(&Timeline::new());
        let mut empty = Timeline::new();
        empty.merge(&one);
        assert_eq!(empty.points(), one.points());
    }

    #[test]
    fn wider_windows_merge_seconds() {
        let mut t = Timeline::new();
        for s in 0..25 {
            t.record(&finished(s * 1000 + 500, s + 1));
        }
        let points = t.points_every(Duration::from_secs(10));
        assert_eq!(
            points.iter().map(|p| (p.t, p.width_s, p.requests)).collect::<Vec<_>>(),
            [(0.0, 10.0, 10), (10.0, 10.0, 10), (20.0, 10.0, 5)]
        );
        assert_eq!(points[1].max_ms, 20.0);
        assert_eq!(t.points_every(Duration::ZERO).len(), 25, "at least a second wide");
        assert!(Timeline::new().points().is_empty());
    }

    #[test]
    fn points_over_a_run_cover_it_and_mind_the_partial_end() {
        let mut t = Timeline::new();
        for s in 0..25 {
            t.record(&finished(s * 1000 + 500, s + 1));
        }
        let shape = |points: Vec<Point>| points.iter().map(|p| (p.t, p.width_s, p.requests)).collect::<Vec<_>>();
        let run = |ms| Duration::from_millis(ms);
        let points = t.points_over(run(25_000), 100);
        assert_eq!(points.len(), 25);
        assert!(points.iter().all(|p| p.width_s == 1.0 && p.requests == 1));
        // 25.6 s: the last second is covered for 0.6 s.
        assert_eq!(shape(t.points_over(run(25_600), 100))[25], (25.0, 0.6000000000000014, 0));
        // 25.2 s: 0.2 s joins the window before, which grows to 1.2 s.
        assert_eq!(shape(t.points_over(run(25_200), 100))[24], (24.0, 1.1999999999999993, 1));
        assert_eq!(t.points_over(run(25_200), 100).len(), 25);
        // A quiet end of the run still has its windows.
        assert_eq!(
            shape(t.points_over(run(30_000), 100))[25..],
            [(25.0, 1.0, 0), (26.0, 1.0, 0), (27.0, 1.0, 0), (28.0, 1.0, 0), (29.0, 1.0, 0)]
        );
        // Wider windows for long runs: 25 s in at most 10 points is 3-second windows; the last, 1 s, joins the one before.
        assert_eq!(
            shape(t.points_over(run(25_000), 10)),
            [
                (0.0, 3.0, 3),
                (3.0, 3.0, 3),
                (6.0, 3.0, 3),
                (9.0, 3.0, 3),
                (12.0, 3.0, 3),
                (15.0, 3.0, 3),
                (18.0, 3.0, 3),
                (21.0, 4.0, 4)
            ]
        );
        assert_eq!(shape(t.points_over(run(100), 0)), [(0.0, 24.5, 25)], "one window at least, to the last request");
        assert_eq!(shape(Timeline::new().points_over(run(1500), 10)), [(0.0, 1.0, 0), (1.0, 0.5, 0)]);
        assert!(Timeline::new().points_over(Duration::ZERO, 10).is_empty());
        assert!(Timeline::new().points().is_empty());
    }
}
