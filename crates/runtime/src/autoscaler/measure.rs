//! Turning per-tick samples into the load each policy scales on, as OpenFaaS's recording rules define it
//! (REFERENCE.md §3.2): `rps` is the completion rate over the last 30 s, `capacity` the highest concurrency
//! seen in the last 45 s; and, for Knative, the average concurrency since the previous sample (the rate of the
//! concurrency integral). Pure: the caller passes `now`.

use std::collections::VecDeque;
use std::time::Duration;

/// Window of the completion rate (`rate(gateway_function_invocation_total[30s])`).
pub const RPS_WINDOW: Duration = Duration::from_secs(30);
/// Window of the concurrency maximum (`max_over_time(…inflight[45s:5s])`).
pub const CAPACITY_WINDOW: Duration = Duration::from_secs(45);

/// Samples of one function: (time, calls completed so far, concurrency), and the last two readings of the
/// concurrency integral.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    samples: VecDeque<(Duration, u64, u32)>,
    area: [Option<(Duration, f64)>; 2],
}

impl Samples {
    /// Records the concurrency integral (call-seconds) read at `now`.
    pub fn record_area(&mut self, now: Duration, concurrency_seconds: f64) {
        self.area = [self.area[1], Some((now, concurrency_seconds))];
    }

    /// Average concurrency between the last two integral readings; `None` before two.
    pub fn average_concurrency(&self) -> Option<f64> {
        let [Some((t0, a0)), Some((t1, a1))] = self.area else { return None };
        let dt = t1.checked_sub(t0).filter(|d| !d.is_zero())?.as_secs_f64();
        Some(((a1 - a0) / dt).max(0.0))
    }

    /// Records the counters seen at `now`.
    pub fn record(&mut self, now: Duration, completed: u64, concurrency: u32) {
        self.samples.push_back((now, completed, concurrency));
        let keep = RPS_WINDOW.max(CAPACITY_WINDOW);
        while self.samples.front().is_some_and(|&(at, _, _)| now.saturating_sub(at) > keep) {
            self.samples.pop_front();
        }
    }

    /// Completions per second over the last [`RPS_WINDOW`] (0 until two samples exist).
    pub fn rps(&self) -> f64 {
        let Some(&(now, last, _)) = self.samples.back() else { return 0.0 };
        let first = self.samples.iter().find(|&&(at, _, _)| now.saturating_sub(at) <= RPS_WINDOW);
        match first {
            Some(&(at, completed, _)) if at < now => {
                last.saturating_sub(completed) as f64 / now.saturating_sub(at).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// The most calls in flight or waiting seen in the last [`CAPACITY_WINDOW`].
    pub fn peak_concurrency(&self) -> u32 {
        let Some(&(now, _, _)) = self.samples.back() else { return 0 };
        self.samples
            .iter()
            .filter(|&&(at, _, _)| now.saturating_sub(at) <= CAPACITY_WINDOW)
            .map(|&(_, _, c)| c)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn rate_over_the_window() {
        let mut s = Samples::default();
        assert_eq!(s.rps(), 0.0);
        s.record(secs(0), 0, 0);
        assert_eq!(s.rps(), 0.0);
        for t in 1..=40 {
            s.record(secs(t), t * 10, 1);
        }
        assert_eq!(s.rps(), 10.0);
        // A burst in the last second shows up spread over the window: (700 - 110) calls in 30 s.
        s.record(secs(41), 40 * 10 + 300, 1);
        assert!((s.rps() - 590.0 / 30.0).abs() < 1e-9, "{}", s.rps());
    }

    #[test]
    fn average_concurrency_is_the_rate_of_the_integral() {
        let mut s = Samples::default();
        assert_eq!(s.average_concurrency(), None);
        s.record_area(secs(10), 100.0);
        assert_eq!(s.average_concurrency(), None);
        s.record_area(secs(12), 164.0);
        assert_eq!(s.average_concurrency(), Some(32.0));
        s.record_area(secs(12), 170.0);
        assert_eq!(s.average_concurrency(), None, "no time passed");
    }

    #[test]
    fn peak_concurrency_forgets_after_45s() {
        let mut s = Samples::default();
        s.record(secs(0), 0, 64);
        s.record(secs(10), 0, 2);
        assert_eq!(s.peak_concurrency(), 64);
        s.record(secs(46), 0, 3);
        assert_eq!(s.peak_concurrency(), 3);
    }

    proptest! {
        #[test]
        fn rps_is_never_negative_nor_above_the_largest_step(steps in prop::collection::vec((1u64..5, 0u64..1000), 1..60)) {
            let mut s = Samples::default();
            let (mut t, mut done) = (0, 0);
            s.record(secs(0), 0, 0);
            let mut fastest: f64 = 0.0;
            for (dt, n) in steps {
                t += dt;
                done += n;
                fastest = fastest.max(n as f64 / dt as f64);
                s.record(secs(t), done, 0);
                prop_assert!(s.rps() >= 0.0);
                prop_assert!(s.rps() <= fastest + 1e-9);
            }
        }
    }
}
