//! What happened to each request, and the statistics over all of them.
//!
//! The runner turns each request into an [`Outcome`] (offsets from the test start) and feeds it to a
//! [`Recorder`]; workers may each keep one and [`Recorder::merge`] them at the end. The recorder keeps HDR
//! histograms in microseconds (1 µs … 1 h, 3 significant digits; slower values are clamped to 1 h) of latency
//! for all requests, cold starts and warm calls, and of service time, plus exact min, max and mean.
//!
//! *Latency* runs from the intended send time, so an open-model run that falls behind shows it (no coordinated
//! omission); *service time* runs from the actual send. In the closed model they are equal.
//!
//! [`Recorder::summary`] produces a [`Summary`]; its percentiles are the histogram's (the highest value
//! equivalent to the bucket, clamped to the exact min and max), and [`Summary::latency_at`] answers any quantile.
//! [`Recorder::timeline`] keeps the same requests second by second ([`Timeline`]) for charts over time.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::timeline::Timeline;

/// One request, as the runner saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Offset from test start at which the request should have been sent (closed model: = started).
    pub intended: Duration,
    /// Offset at which it was actually sent.
    pub started: Duration,
    /// Offset at which the response (body included) was complete or the error happened.
    pub finished: Duration,
    /// `None`: no HTTP response (connect error, timeout).
    pub status: Option<u16>,
    /// Transport error or failed check, human-readable.
    pub error: Option<String>,
    /// From the `X-Sedge-Cold-Start` header when present.
    pub cold: Option<bool>,
    /// Request bytes written (headers and body).
    pub bytes_sent: u64,
    /// Response bytes read (headers and body).
    pub bytes_received: u64,
    /// Virtual user or worker number.
    pub vu: u32,
}

impl Outcome {
    /// `finished - intended` (zero if the clock went backwards).
    pub fn latency(&self) -> Duration {
        self.finished.saturating_sub(self.intended)
    }

    /// `finished - started` (zero if the clock went backwards).
    pub fn service_time(&self) -> Duration {
        self.finished.saturating_sub(self.started)
    }

    /// The status is 2xx or 3xx and there is no error.
    pub fn ok(&self) -> bool {
        self.error.is_none() && matches!(self.status, Some(200..=399))
    }
}

const HIGHEST_US: u64 = 3_600_000_000;

/// One distribution: an HDR histogram in microseconds plus exact extremes and sum in nanoseconds.
#[derive(Debug, Clone)]
struct Series {
    histogram: Histogram<u64>,
    min_ns: u128,
    max_ns: u128,
    sum_ns: u128,
}

impl Series {
    fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant bounds are valid");
        Self { histogram, min_ns: u128::MAX, max_ns: 0, sum_ns: 0 }
    }

    fn record(&mut self, d: Duration) {
        let ns = d.as_nanos();
        let us = (ns / 1000).clamp(1, u128::from(HIGHEST_US)) as u64;
        self.histogram.saturating_record(us);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns += ns;
    }

    fn merge(&mut self, other: &Series) {
        self.histogram.add(&other.histogram).expect("histograms share their bounds");
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns += other.sum_ns;
    }

    fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The cumulative distribution: (fraction of samples at or below, value in ms) per recorded bucket.
    fn cdf(&self) -> Vec<(f64, f64)> {
        let total = self.count() as f64;
        let (min, max) = (ms(self.min_ns), ms(self.max_ns));
        let mut seen = 0u64;
        self.histogram
            .iter_recorded()
            .map(|v| {
                seen += v.count_since_last_iteration();
                let value = self.histogram.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
                (seen as f64 / total, value.clamp(min, max))
            })
            .collect()
    }

    fn percentiles(&self) -> Percentiles {
        if self.count() == 0 {
            return Percentiles::default();
        }
        let cdf = self.cdf();
        let at = |q| quantile(&cdf, q);
        Percentiles {
            min_ms: ms(self.min_ns),
            mean_ms: self.sum_ns as f64 / self.count() as f64 / 1e6,
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: ms(self.max_ns),
        }
    }
}

fn ms(ns: u128) -> f64 {
    ns as f64 / 1e6
}

/// The value of the first point of `cdf` at or above `q` (0 for an empty distribution).
fn quantile(cdf: &[(f64, f64)], q: f64) -> f64 {
    let q = q.clamp(0.0, 1.0) - 1e-12;
    cdf.iter().find(|(at, _)| *at >= q).or(cdf.last()).map_or(0.0, |(_, v)| *v)
}

/// Statistics over requests; see the module docs.
#[derive(Debug, Clone)]
pub struct Recorder {
    all: Series,
    cold: Series,
    warm: Series,
    service: Series,
    failed: u64,
    statuses: BTreeMap<String, u64>,
    dropped: u64,
    bytes_sent: u64,
    bytes_received: u64,
    timeline: Timeline,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            all: Series::new(),
            cold: Series::new(),
            warm: Series::new(),
            service: Series::new(),
            failed: 0,
            statuses: BTreeMap::new(),
            dropped: 0,
            bytes_sent: 0,
            bytes_received: 0,
            timeline: Timeline::new(),
        }
    }

    /// Counts one request.
    pub fn record(&mut self, o: &Outcome) {
        let latency = o.latency();
        self.all.record(latency);
        self.service.record(o.service_time());
        match o.cold {
            Some(true) => self.cold.record(latency),
            Some(false) => self.warm.record(latency),
            None => {}
        }
        if !o.ok() {
            self.failed += 1;
        }
        let status = o.status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        *self.statuses.entry(status).or_default() += 1;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.timeline.record(o);
    }

    /// Open model: `n` sends that never happened (the generator could not keep up, or too many were in flight).
    pub fn dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &Recorder) {
        self.all.merge(&other.all);
        self.cold.merge(&other.cold);
        self.warm.merge(&other.warm);
        self.service.merge(&other.service);
        self.failed += other.failed;
        for (status, n) in &other.statuses {
            *self.statuses.entry(status.clone()).or_default() += n;
        }
        self.dropped += other.dropped;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.timeline.merge(&other.timeline);
    }

    /// The recorded requests second by second, by the second each finished in.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Requests recorded (dropped sends excluded).
    pub fn count(&self) -> u64 {
        self.all.count()
    }

    /// The statistics, with rates over `elapsed` (the run's wall time).
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let requests = self.count();
        let seconds = elapsed.as_secs_f64();
        let split = |s: &Series| (s.count() > 0).then(|| s.percentiles());
        Summary {
            requests,
            failed: self.failed,
            error_rate: if requests == 0 { 0.0 } else { self.failed as f64 / requests as f64 },
            rps: if seconds > 0.0 { requests as f64 / seconds } else { 0.0 },
            duration_s: seconds,
            latency: self.all.percentiles(),
            service_time: self.service.percentiles(),
            cold: split(&self.cold),
            warm: split(&self.warm),
            cold_count: self.cold.count(),
            statuses: self.statuses.clone(),
            dropped: self.dropped,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            quantiles: self.all.cdf(),
        }
    }
}

/// A distribution's headline numbers, in milliseconds (all zero when nothing was recorded).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Exact minimum.
    pub min_ms: f64,
    /// Exact mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Exact maximum.
    pub max_ms: f64,
}

impl Percentiles {
    /// The quantile `q` (0..=1) in ms: exact at 0, 0.5, 0.9, 0.95, 0.99, 0.999 and 1, linear in between.
    pub fn at(&self, q: f64) -> f64 {
        let known = [
            (0.0, self.min_ms),
            (0.5, self.p50_ms),
            (0.9, self.p90_ms),
            (0.95, self.p95_ms),
            (0.99, self.p99_ms),
            (0.999, self.p999_ms),
            (1.0, self.max_ms),
        ];
        let q = q.clamp(0.0, 1.0);
        for pair in known.windows(2) {
            let ((q0, v0), (q1, v1)) = (pair[0], pair[1]);
            if q <= q1 {
                return v0 + (v1 - v0) * (q - q0) / (q1 - q0);
            }
        }
        self.max_ms
    }
}

/// The end-of-test statistics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Requests recorded, failed ones included.
    pub requests: u64,
    /// Requests that were not [`Outcome::ok`].
    pub failed: u64,
    /// `failed / requests`, 0..1.
    pub error_rate: f64,
    /// Requests per second over the run's wall time.
    pub rps: f64,
    /// The run's wall time in seconds.
    pub duration_s: f64,
    /// From intended send to completion.
    pub latency: Percentiles,
    /// From actual send to completion.
    pub service_time: Percentiles,
    /// Latency of cold starts (`X-Sedge-Cold-Start: true`), when there were any.
    pub cold: Option<Percentiles>,
    /// Latency of calls marked `X-Sedge-Cold-Start: false`, when there were any.
    pub warm: Option<Percentiles>,
    /// Number of cold starts.
    pub cold_count: u64,
    /// Responses by status code (`"200"`, `"503"`), and `"error"` for requests without a response.
    pub statuses: BTreeMap<String, u64>,
    /// Open model: sends that never happened.
    pub dropped: u64,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read.
    pub bytes_received: u64,
    /// Latency's cumulative distribution: (q in 0..1, latency ms), one point per histogram bucket, so that
    /// [`Summary::latency_at`] answers any quantile. Empty when built by hand: then [`Percentiles::at`] is used.
    #[serde(skip)]
    pub quantiles: Vec<(f64, f64)>,
}

impl Summary {
    /// Latency at quantile `q` (0..=1) in ms, such as `latency_at(0.999)` for p(99.9).
    pub fn latency_at(&self, q: f64) -> f64 {
        if self.quantiles.is_empty() { self.latency.at(q) } else { quantile(&self.quantiles, q) }
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
