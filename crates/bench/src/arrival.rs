//! The open model: when each request should be sent, independent of how fast responses come back.
//!
//! A [`Schedule`] yields intended send offsets from the test start. It is exact rather than tick-based: the
//! n-th send (counting from 0) happens where the integral of the rate from the start reaches n, so a constant
//! 5000/s for 10 s yields exactly 50,000 sends, the n-th at n / 5000 s, and a ramp yields sends spaced by the
//! instantaneous rate (the quadratic is solved per stage). Offsets never decrease and stay below the total
//! duration. The runner sleeps until each offset and records the intended time, so latency includes any delay
//! the generator adds (no coordinated omission).

use std::time::Duration;

use crate::parse::{self, ParseError};

/// One stage of an open-model ramp: move linearly to `target` requests per second over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// How long the ramp lasts.
    pub duration: Duration,
    /// Requests per second reached at the end of the stage.
    pub target: f64,
}

/// Parses a rate into requests per second: `5000/s`, `300/m`, `10/1s`, `10/500ms`, `100` (per second).
pub fn parse_rate(text: &str) -> Result<f64, ParseError> {
    rate(text).map_err(|why| ParseError::new("rate", text, why))
}

fn rate(text: &str) -> Result<f64, String> {
    let (count, per) = match text.split_once('/') {
        Some((count, per)) => (count, per.trim()),
        None => (text, "s"),
    };
    let count = parse::number(count).ok_or("expected a non-negative number of requests, such as 5000/s")?;
    let per = if per.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        parse::duration(per)
    } else {
        parse::duration(&format!("1{per}"))
    }
    .map_err(|_| format!("{per:?} is not a time unit; use /s, /m, /h or a duration such as /1s"))?;
    if per.is_zero() {
        return Err("the period is zero".into());
    }
    Ok(count / per.as_secs_f64())
}

/// Parses `10s:100/s,30s:1000/s` (`<duration>:<rate>` pairs, comma-separated, whitespace allowed).
pub fn parse_rate_stages(text: &str) -> Result<Vec<RateStage>, ParseError> {
    let err = |why: String| ParseError::new("rate stages", text, why);
    if text.trim().is_empty() {
        return Err(err("no stages; use <duration>:<rate> pairs such as 10s:100/s,30s:1000/s".into()));
    }
    text.split(',')
        .map(|part| {
            let piece = part.trim();
            let (duration, target) =
                part.split_once(':').ok_or_else(|| err(format!("{piece:?} is not <duration>:<rate>")))?;
            let duration = parse::duration(duration).map_err(|e| err(format!("{piece:?}: {}", e.why)))?;
            let target = rate(target.trim()).map_err(|why| err(format!("{piece:?}: {why}")))?;
            Ok(RateStage { duration, target })
        })
        .collect()
}

/// One linear piece of the rate curve.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    start_ns: u128,
    length_ns: u128,
    from: f64,
    to: f64,
    /// Sends owed before this segment: the integral of the rate up to `start_ns`.
    before: f64,
}

impl Segment {
    fn area(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.length_ns as f64 / 1e9
    }

    /// Nanoseconds into the segment at which the integral (from its start) reaches `m`.
    fn solve(&self, m: f64) -> f64 {
        if m <= 0.0 {
            return 0.0;
        }
        let seconds = self.length_ns as f64 / 1e9;
        if self.from == self.to {
            return m * 1e9 / self.from;
        }
        // from·τ + k·τ²/2 = m with k = (to − from) / length; the stable root is 2m / (from + √(from² + 2km)).
        let k = (self.to - self.from) / seconds;
        let root = (self.from * self.from + 2.0 * k * m).max(0.0).sqrt();
        2.0 * m / (self.from + root) * 1e9
    }
}

/// Intended send offsets for an open-model run; see the module docs. Also an [`Iterator`].
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    segments: Vec<Segment>,
    total_ns: u128,
    sent: u64,
    segment: usize,
    last_ns: u128,
}

/// Negative, NaN or infinite rates send nothing.
fn sane(rate: f64) -> f64 {
    if rate.is_finite() && rate > 0.0 { rate } else { 0.0 }
}

impl Schedule {
    /// `rate` requests per second for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self::ramping(rate, &[RateStage { duration, target: rate }])
    }

    /// Starts at `start_rate` and ramps linearly within each stage to its target.
    pub fn ramping(start_rate: f64, stages: &[RateStage]) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut start_ns, mut before, mut from) = (0u128, 0f64, sane(start_rate));
        for stage in stages {
            let to = sane(stage.target);
            let segment = Segment { start_ns, length_ns: stage.duration.as_nanos(), from, to, before };
            before += segment.area();
            start_ns += segment.length_ns;
            from = to;
            segments.push(segment);
        }
        Self { segments, total_ns: start_ns, sent: 0, segment: 0, last_ns: 0 }
    }

    /// The schedule's total length.
    pub fn duration(&self) -> Duration {
        nanos(self.total_ns)
    }

    /// How many offsets [`Schedule::next`] has returned so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Intended offset of the next send, `None` when the schedule is over. Exact: the n-th send of a constant
    /// schedule is at n / rate; for ramps, the time where the integral of the rate reaches n (solve the quadratic).
    #[allow(clippy::should_implement_trait)] // it is also the Iterator's `next`; callers need not import the trait
    pub fn next(&mut self) -> Option<Duration> {
        let n = self.sent as f64;
        while let Some(segment) = self.segments.get(self.segment) {
            if n < segment.before + segment.area() {
                let into = segment.solve(n - segment.before).round().max(0.0) as u128;
                let at = (segment.start_ns + into.min(segment.length_ns)).max(self.last_ns);
                if at >= self.total_ns {
                    break;
                }
                self.sent += 1;
                self.last_ns = at;
                return Some(nanos(at));
            }
            self.segment += 1;
        }
        self.segment = self.segments.len();
        None
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Schedule::next(self)
    }
}

fn nanos(ns: u128) -> Duration {
    Duration::new((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("5000/s"), Ok(5000.0));
        assert_eq!(parse_rate("300/m"), Ok(5.0));
        assert_eq!(parse_rate("7200/h"), Ok(2.0));
        assert_eq!(parse_rate("10/1s"), Ok(10.0));
        assert_eq!(parse_rate("10/500ms"), Ok(20.0));
        assert_eq!(parse_rate("100"), Ok(100.0));
        assert_eq!(parse_rate(" 2.5 / s "), Ok(2.5));
        assert_eq!(parse_rate("0/s"), Ok(0.0));
    }

    #[test]
    fn refuses_bad_rates_naming_the_text() {
        for bad in ["", "/s", "-5/s", "fast", "10/x", "10/0s", "10/", "inf", "NaN/s"] {
            let e = parse_rate(bad).unwrap_err();
            assert_eq!((e.what, e.text.as_str()), ("rate", bad));
            assert!(e.to_string().starts_with(&format!("rate: {bad:?}: ")), "{e}");
        }
    }

    #[test]
    fn parses_rate_stages() {
        let ten = Duration::from_secs(10);
        assert_eq!(
            parse_rate_stages("10s:100/s, 30s:1000/s").unwrap(),
            vec![
                RateStage { duration: ten, target: 100.0 },
                RateStage { duration: Duration::from_secs(30), target: 1000.0 },
            ]
        );
        assert_eq!(parse_rate_stages("10s:60/m").unwrap(), vec![RateStage { duration: ten, target: 1.0 }]);
        for (bad, piece) in [("", ""), ("10s", "10s"), ("10s:lots", "10s:lots"), ("10q:5/s", "10q:5/s")] {
            let e = parse_rate_stages(bad).unwrap_err();
            assert_eq!((e.what, e.text.as_str()), ("rate stages", bad));
            assert!(e.why.contains(piece), "{e}");
        }
    }

    #[test]
    fn constant_rate_is_exact() {
        let mut schedule = Schedule::constant(5000.0, Duration::from_secs(10));
        let mut n = 0u64;
        while let Some(at) = schedule.next() {
            assert_eq!(at, Duration::from_nanos(n * 200_000), "send {n}");
            n += 1;
        }
        assert_eq!(n, 50_000);
        assert_eq!(schedule.sent(), 50_000);
        assert_eq!(schedule.next(), None);
    }

    #[test]
    fn fractional_rate_over_a_fractional_duration() {
        let offsets: Vec<_> = Schedule::constant(3.0, Duration::from_millis(1000)).collect();
        assert_eq!(offsets, [0, 333_333_333, 666_666_667].map(Duration::from_nanos));
        assert_eq!(Schedule::constant(0.0, Duration::from_secs(10)).count(), 0);
        assert_eq!(Schedule::constant(f64::NAN, Duration::from_secs(10)).count(), 0);
        assert_eq!(Schedule::constant(100.0, Duration::ZERO).count(), 0);
    }

    #[test]
    fn ramp_from_zero_follows_the_integral() {
        // rate(t) = 10·t, integral 5·t²: the n-th send is at √(n/5) s, 500 sends in all.
        let offsets: Vec<_> = Schedule::ramping(0.0, &[RateStage { duration: Duration::from_secs(10), target: 100.0 }])
            .map(|d| d.as_secs_f64())
            .collect();
        assert_eq!(offsets.len(), 500);
        for (n, at) in offsets.iter().enumerate() {
            assert!((at - (n as f64 / 5.0).sqrt()).abs() < 1e-8, "send {n} at {at}");
        }
        // Spacing shrinks as the rate grows: about 1/rate(t).
        let gap_early = offsets[20] - offsets[19];
        let gap_late = offsets[499] - offsets[498];
        assert!(gap_early > 0.04 && gap_early < 0.06, "{gap_early}");
        assert!(gap_late > 0.0099 && gap_late < 0.0101, "{gap_late}");
    }

    #[test]
    fn ramp_down_and_hold() {
        let stages = [
            RateStage { duration: Duration::from_secs(10), target: 100.0 },
            RateStage { duration: Duration::from_secs(10), target: 100.0 },
            RateStage { duration: Duration::from_secs(10), target: 0.0 },
        ];
        let offsets: Vec<_> = Schedule::ramping(0.0, &stages).collect();
        assert_eq!(offsets.len(), 500 + 1000 + 500);
        // The hold starts exactly at 10 s with send 500 and spaces them 10 ms apart.
        assert_eq!(offsets[500], Duration::from_secs(10));
        assert_eq!(offsets[501], Duration::from_millis(10_010));
        assert_eq!(offsets[1500], Duration::from_secs(20));
        // Ramping down mirrors ramping up: the last send is at 30 − √(1/5) s.
        let last = offsets[1999].as_secs_f64();
        assert!((last - (30.0 - 0.2f64.sqrt())).abs() < 1e-6, "{last}");
    }

    proptest! {
        #[test]
        fn offsets_are_ordered_and_inside_the_schedule(
            start in 0.0f64..2000.0,
            stages in prop::collection::vec((0u64..3000, 0.0f64..2000.0), 1..5),
        ) {
            let stages: Vec<_> = stages
                .into_iter()
                .map(|(ms, target)| RateStage { duration: Duration::from_millis(ms), target })
                .collect();
            let schedule = Schedule::ramping(start, &stages);
            let total = schedule.duration();
            let mut expected = 0.0;
            let mut from = start;
            for stage in &stages {
                expected += (from + stage.target) / 2.0 * stage.duration.as_secs_f64();
                from = stage.target;
            }
            let offsets: Vec<_> = schedule.collect();
            prop_assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(offsets.iter().all(|at| *at < total));
            prop_assert!((offsets.len() as f64 - expected).abs() <= 1.0 + stages.len() as f64, "{} vs {expected}", offsets.len());
        }
    }
}
