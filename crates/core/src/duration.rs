//! Durations as OpenFaaS reads them: a plain integer is seconds (`exec_timeout=2`), anything else is a Go
//! duration string (`1m05s`, `500ms`, `1.5h`).
//!
//! Written by hand because Go's format (units glued together, fractions, `µs`) is not what `humantime` parses,
//! and the grammar is ten lines.

use std::time::Duration;

use crate::SpecError;

/// Parses `value` as OpenFaaS does for `read_timeout`, `write_timeout` and `exec_timeout`.
pub fn parse(value: &str) -> Result<Duration, SpecError> {
    let value = value.trim();
    let err = || {
        SpecError::new(
            "",
            format!("{value:?} is not a duration: use seconds (\"8\") or a Go duration (\"8s\", \"1m30s\", \"500ms\")"),
        )
    };
    if value.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    parse_go(value).map_err(|_| err())
}

/// Parses a Go duration string (`1m30s`, `500ms`, `1.5h`, units glued together); the error says what is wrong,
/// for callers to wrap in their own message.
pub fn parse_go(value: &str) -> Result<Duration, &'static str> {
    let mut rest = value;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return Err("expected a number before each unit, such as 250ms, 10s or 1m30s");
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| "not a number")?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err("missing unit; use ns, us, ms, s, m or h"),
            _ => return Err("unknown unit; use ns, us, ms, s, m or h"),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| "out of range")
}

/// Formats a duration the way Go prints short ones (`8s`, `1.5s`, `250ms`), for messages and listings.
pub fn format(d: Duration) -> String {
    if d.as_millis() < 1000 && d.subsec_nanos().is_multiple_of(1_000_000) && d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_openfaas_forms() {
        assert_eq!(parse("8").unwrap(), Duration::from_secs(8));
        assert_eq!(parse("8s").unwrap(), Duration::from_secs(8));
        assert_eq!(parse("1m05s").unwrap(), Duration::from_secs(65));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse(" 2 ").unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "s", "8x", "-1s", "1.2.3s", "ten seconds", "1e3s"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_short() {
        assert_eq!(format(Duration::from_secs(8)), "8s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }

    proptest! {
        #[test]
        fn seconds_and_millis_agree(n in 0u64..1_000_000) {
            prop_assert_eq!(parse(&format!("{n}s")).unwrap(), Duration::from_secs(n));
            prop_assert_eq!(parse(&format!("{}ms", n * 1000)).unwrap(), Duration::from_secs(n));
        }

        #[test]
        fn never_panics(s in ".{0,20}") {
            let _ = parse(&s);
        }
    }
}
