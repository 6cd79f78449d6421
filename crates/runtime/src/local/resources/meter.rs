//! [`CpuMeter`]: turns successive cumulative CPU-seconds readings into a rate in millicores. Pure: the caller
//! passes the time of each reading, so a supervisor loop can drive it from any clock and tests need no sleeps.

use std::time::Duration;

/// Converts cumulative CPU time into millicores (1000 = one core busy) over the interval since the previous
/// reading.
#[derive(Debug, Clone, Default)]
pub struct CpuMeter {
    last: Option<(Duration, f64)>,
}

impl CpuMeter {
    /// A meter with no reading yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `cpu_seconds` (cumulative, as [`Usage::cpu_seconds`](super::Usage::cpu_seconds)) taken at `now`
    /// (any monotonic origin) and returns the millicores used since the previous reading, rounded to the nearest.
    ///
    /// Returns `None` for the first reading, and restarts from this reading when the counter went backwards (a
    /// replica replaced, so a fresh cgroup or fresh processes) or the clock did not advance. Readings that are
    /// not finite or negative are ignored and leave the meter as it was.
    pub fn observe(&mut self, now: Duration, cpu_seconds: f64) -> Option<u64> {
        if !cpu_seconds.is_finite() || cpu_seconds < 0.0 {
            return None;
        }
        let previous = self.last.replace((now, cpu_seconds));
        let (then, before) = previous?;
        let wall = now.checked_sub(then).filter(|d| !d.is_zero())?.as_secs_f64();
        let used = cpu_seconds - before;
        if used < 0.0 {
            return None;
        }
        Some((used / wall * 1000.0).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn first_reading_has_no_rate() {
        assert_eq!(CpuMeter::new().observe(secs(1.0), 5.0), None);
    }

    #[test]
    fn rate_over_the_last_interval() {
        let mut meter = CpuMeter::new();
        meter.observe(secs(10.0), 1.0);
        assert_eq!(meter.observe(secs(12.0), 2.0), Some(500));
        assert_eq!(meter.observe(secs(13.0), 4.0), Some(2000));
        assert_eq!(meter.observe(secs(14.0), 4.0), Some(0));
        assert_eq!(meter.observe(secs(14.5), 4.1), Some(200));
    }

    #[test]
    fn counter_reset_restarts() {
        let mut meter = CpuMeter::new();
        meter.observe(secs(1.0), 9.0);
        assert_eq!(meter.observe(secs(2.0), 0.5), None);
        assert_eq!(meter.observe(secs(3.0), 1.0), Some(500));
    }

    #[test]
    fn clock_that_does_not_advance() {
        let mut meter = CpuMeter::new();
        meter.observe(secs(5.0), 1.0);
        assert_eq!(meter.observe(secs(5.0), 2.0), None);
        assert_eq!(meter.observe(secs(4.0), 3.0), None);
        assert_eq!(meter.observe(secs(5.0), 3.5), Some(500));
    }

    #[test]
    fn bad_readings_are_ignored() {
        let mut meter = CpuMeter::new();
        meter.observe(secs(1.0), 1.0);
        assert_eq!(meter.observe(secs(2.0), f64::NAN), None);
        assert_eq!(meter.observe(secs(2.0), -1.0), None);
        assert_eq!(meter.observe(secs(3.0), 2.0), Some(500));
    }
}
