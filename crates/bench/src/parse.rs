//! The error every `sedge bench` parser returns, and the duration grammar the others build on.
//!
//! A [`ParseError`] names what was being parsed (`"duration"`, `"stages"`, `"rate"`, …), the offending text as
//! the user typed it, and why it was refused, so a CLI can print it as is.
//!
//! Durations follow Go's `time.ParseDuration` (as k6 does): one or more `<number><unit>` pairs glued together
//! (`250ms`, `10s`, `1m30s`, `2h`, `1.5s`), units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`; a bare `0` is zero.

use std::time::Duration;

/// A piece of text that could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what}: {text:?}: {why}")]
pub struct ParseError {
    /// What was being parsed: `"duration"`, `"stages"`, `"rate"`, `"rate stages"`, `"threshold"`.
    pub what: &'static str,
    /// The text that was refused, as given.
    pub text: String,
    /// Why it was refused, in words a user can act on.
    pub why: String,
}

impl ParseError {
    /// An error about `text`, parsed as `what`.
    pub fn new(what: &'static str, text: &str, why: impl Into<String>) -> Self {
        Self { what, text: text.to_owned(), why: why.into() }
    }
}

/// Parses a Go-style duration: `250ms`, `10s`, `1m30s`, `2h`, `1.5s` (surrounding whitespace is ignored).
pub fn duration(text: &str) -> Result<Duration, ParseError> {
    let err = |why: &str| ParseError::new("duration", text, why);
    let value = text.trim();
    if value.is_empty() {
        return Err(err("empty; use a number with a unit, such as 250ms, 10s or 1m30s"));
    }
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    sedge_core::duration::parse_go(value).map_err(err)
}

/// Parses a non-negative finite decimal number (no sign, no exponent-only forms like `inf` or `nan`).
pub(crate) fn number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration(" 500us "), Ok(Duration::from_micros(500)));
        assert_eq!(duration("5µs"), Ok(Duration::from_micros(5)));
        assert_eq!(duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_bad_durations_naming_the_text() {
        for bad in ["", "10", "s", "10x", "-1s", "1..5s", "1s2", "ten seconds", "1e3s"] {
            let e = duration(bad).unwrap_err();
            assert_eq!(e.what, "duration");
            assert_eq!(e.text, bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        assert!(duration("10x").unwrap_err().why.contains("unknown unit"));
        assert!(duration("10").unwrap_err().why.contains("missing unit"));
    }

    proptest! {
        #[test]
        fn millis_round_trip(ms in 0u64..10_000_000) {
            prop_assert_eq!(duration(&format!("{ms}ms")), Ok(Duration::from_millis(ms)));
        }

        #[test]
        fn minutes_and_seconds_add(m in 0u64..1000, s in 0u64..60) {
            prop_assert_eq!(duration(&format!("{m}m{s}s")), Ok(Duration::from_secs(m * 60 + s)));
        }

        #[test]
        fn never_panics(text in ".{0,12}") {
            let _ = duration(&text);
        }
    }
}
