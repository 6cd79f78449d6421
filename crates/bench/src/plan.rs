//! The closed model: how many virtual users (VUs) run at each moment, with k6's `ramping-vus` semantics.
//!
//! A plan is a list of [`Stage`]s (`30s:10,1m:10,10s:0`): during each stage the VU count moves linearly from the
//! previous stage's target (or the start count, for the first stage) to this stage's target. [`vus_at`] answers
//! the count at an offset from the test start; the runner starts or stops VUs to follow it.

use std::time::Duration;

use crate::parse::{self, ParseError};

/// One stage of a closed-model plan: ramp to `target` VUs over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// How long the ramp lasts.
    pub duration: Duration,
    /// VU count reached at the end of the stage.
    pub target: u32,
}

/// Parses `30s:10,1m:10,10s:0` (`<duration>:<vus>` pairs, comma-separated, whitespace allowed).
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, ParseError> {
    let err = |why: String| ParseError::new("stages", text, why);
    if text.trim().is_empty() {
        return Err(err("no stages; use <duration>:<vus> pairs such as 30s:10,1m:10,10s:0".into()));
    }
    text.split(',')
        .map(|part| {
            let (duration, target) =
                part.split_once(':').ok_or_else(|| err(format!("{:?} is not <duration>:<vus>", part.trim())))?;
            let duration = parse::duration(duration).map_err(|e| err(format!("{:?}: {}", part.trim(), e.why)))?;
            let target = target
                .trim()
                .parse::<u32>()
                .map_err(|_| err(format!("{:?}: {:?} is not a VU count", part.trim(), target.trim())))?;
            Ok(Stage { duration, target })
        })
        .collect()
}

/// The sum of the stages' durations.
pub fn total_duration(stages: &[Stage]) -> Duration {
    stages.iter().map(|s| s.duration).sum()
}

/// The number of VUs at offset `t`, rounded to the nearest integer; `None` once `t` reaches the total duration.
///
/// A zero-length stage jumps straight to its target.
pub fn vus_at(stages: &[Stage], start_vus: u32, t: Duration) -> Option<u32> {
    let mut from = start_vus;
    let mut stage_start = Duration::ZERO;
    for stage in stages {
        let stage_end = stage_start + stage.duration;
        if t < stage_end {
            let into = (t - stage_start).as_nanos() as i128;
            let length = stage.duration.as_nanos() as i128;
            let delta = i128::from(stage.target) - i128::from(from);
            // from + delta * into / length, rounded half away from zero, in exact integers.
            let numerator = 2 * delta * into;
            let step = (numerator + numerator.signum() * length) / (2 * length);
            return Some((i128::from(from) + step) as u32);
        }
        from = stage.target;
        stage_start = stage_end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(secs: u64, target: u32) -> Stage {
        Stage { duration: Duration::from_secs(secs), target }
    }

    fn at(stages: &[Stage], start: u32, ms: u64) -> Option<u32> {
        vus_at(stages, start, Duration::from_millis(ms))
    }

    #[test]
    fn parses_stages() {
        assert_eq!(parse_stages("30s:10,1m:10,10s:0"), Ok(vec![s(30, 10), s(60, 10), s(10, 0)]));
        assert_eq!(
            parse_stages(" 1m30s : 5 , 500ms:0 "),
            Ok(vec![s(90, 5), Stage { duration: Duration::from_millis(500), target: 0 }])
        );
    }

    #[test]
    fn refuses_bad_stages_naming_the_piece() {
        for (bad, piece) in [
            ("", ""),
            ("30s", "30s"),
            ("30s:ten", "ten"),
            ("30s:10,,10s:0", "\"\""),
            ("30x:10", "30x:10"),
            ("30s:-1", "-1"),
        ] {
            let e = parse_stages(bad).unwrap_err();
            assert_eq!((e.what, e.text.as_str()), ("stages", bad));
            assert!(e.why.contains(piece), "{e}");
        }
    }

    #[test]
    fn ramps_linearly_from_start_vus() {
        let stages = [s(10, 10)];
        assert_eq!(at(&stages, 0, 0), Some(0));
        assert_eq!(at(&stages, 0, 1000), Some(1));
        assert_eq!(at(&stages, 0, 1499), Some(1));
        assert_eq!(at(&stages, 0, 1500), Some(2)); // 1.5 rounds up
        assert_eq!(at(&stages, 0, 5000), Some(5));
        assert_eq!(at(&stages, 0, 9999), Some(10));
        assert_eq!(at(&stages, 0, 10_000), None);
        // The first stage starts from start_vus, not 0.
        assert_eq!(at(&stages, 20, 0), Some(20));
        assert_eq!(at(&stages, 20, 5000), Some(15));
    }

    #[test]
    fn holds_then_ramps_down_to_zero() {
        let stages = [s(30, 10), s(60, 10), s(10, 0)];
        assert_eq!(total_duration(&stages), Duration::from_secs(100));
        assert_eq!(at(&stages, 0, 15_000), Some(5));
        assert_eq!(at(&stages, 0, 30_000), Some(10));
        assert_eq!(at(&stages, 0, 60_000), Some(10));
        assert_eq!(at(&stages, 0, 90_000), Some(10));
        assert_eq!(at(&stages, 0, 94_000), Some(6));
        assert_eq!(at(&stages, 0, 95_000), Some(5));
        assert_eq!(at(&stages, 0, 99_949), Some(0));
        assert_eq!(at(&stages, 0, 99_000), Some(1));
        assert_eq!(at(&stages, 0, 100_000), None);
    }

    #[test]
    fn zero_length_stage_jumps() {
        let stages = [Stage { duration: Duration::ZERO, target: 50 }, s(10, 50)];
        assert_eq!(at(&stages, 0, 0), Some(50));
        assert_eq!(vus_at(&[], 3, Duration::ZERO), None);
    }

    proptest! {
        #[test]
        fn stays_between_the_ends_of_its_stage(
            from in 0u32..10_000, to in 0u32..10_000, secs in 1u64..1000, frac in 0.0f64..1.0,
        ) {
            let stages = [s(secs, to)];
            let t = Duration::from_secs_f64(secs as f64 * frac).min(Duration::from_secs(secs) - Duration::from_nanos(1));
            let v = vus_at(&stages, from, t).unwrap();
            prop_assert!(v >= from.min(to) && v <= from.max(to));
            let exact = from as f64 + (to as f64 - from as f64) * t.as_secs_f64() / secs as f64;
            prop_assert!((v as f64 - exact).abs() <= 0.5 + 1e-6);
        }
    }
}
