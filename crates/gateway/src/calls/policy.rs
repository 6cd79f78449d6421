//! What happens after an asynchronous attempt, and how many attempts of one function run at once: pure
//! decisions from a function's annotations, OpenFaaS Pro's names and defaults.
//!
//! | annotation | meaning | default |
//! |---|---|---|
//! | `com.openfaas.retry.attempts` | attempts in all, the first included (0 counts as 1: no retry) | 10 (Pro's `maxRetryAttempts` in its docs) |
//! | `com.openfaas.retry.codes` | statuses retried, separated by commas or spaces | `408 429 500 502 503 504` |
//! | `com.openfaas.retry.min_wait` | wait before the first retry (Go duration or seconds) | `10s` (`initialRetryWait`) |
//! | `com.openfaas.retry.max_wait` | longest wait between attempts | `120s` (`maxRetryWait`) |
//! | `com.sedge.async.concurrency` | attempts of the function in flight at once (annotation, else label) | `sedge up --async-concurrency` (8) |
//!
//! As in OpenFaaS Pro, a missing or invalid annotation falls back to the default (the dispatcher logs the
//! invalid ones). The wait before retry *n* (after *n* attempts) is `min_wait × 2^(n−1)`, capped at
//! `max_wait`, without jitter; a `Retry-After: SECONDS` header on a 429 or 503 replaces it, kept within
//! `[min_wait, max_wait]`. A status below 400 succeeds; a retried status fails only when no attempt is left;
//! any other status fails at once. An error answered by sedge itself with `X-OpenFaaS-Internal` (the router's
//! 429 when a function is at its `max_inflight`) is retried whatever the codes say, as Pro does for errors of
//! its core components (faas#1618).

use std::collections::BTreeMap;
use std::time::Duration;

/// Annotation: attempts in all.
pub const ATTEMPTS: &str = "com.openfaas.retry.attempts";
/// Annotation: statuses retried.
pub const CODES: &str = "com.openfaas.retry.codes";
/// Annotation: wait before the first retry.
pub const MIN_WAIT: &str = "com.openfaas.retry.min_wait";
/// Annotation: longest wait between attempts.
pub const MAX_WAIT: &str = "com.openfaas.retry.max_wait";
/// Annotation or label: attempts in flight at once for one function.
pub const CONCURRENCY: &str = "com.sedge.async.concurrency";

/// Attempts in all when the function says nothing.
pub const DEFAULT_ATTEMPTS: u32 = 10;
/// Statuses retried when the function says nothing.
pub const DEFAULT_CODES: [u16; 6] = [408, 429, 500, 502, 503, 504];
/// Wait before the first retry when the function says nothing.
pub const DEFAULT_MIN_WAIT: Duration = Duration::from_secs(10);
/// Longest wait between attempts when the function says nothing.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(120);
/// Attempts of one function in flight at once when neither the function nor `sedge up` says.
pub const DEFAULT_CONCURRENCY: u32 = 8;
/// The largest accepted attempts and concurrency values.
const LIMIT: u32 = 10_000;

/// How a function's failed asynchronous calls are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub max_attempts: u32,
    /// Statuses retried.
    pub codes: Vec<u16>,
    /// Wait before the first retry.
    pub min_wait: Duration,
    /// Longest wait between attempts (never below `min_wait`).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_ATTEMPTS,
            codes: DEFAULT_CODES.to_vec(),
            min_wait: DEFAULT_MIN_WAIT,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// What to do with a call after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Over: the function answered below 400.
    Succeeded,
    /// Queue it again, due after this wait.
    Retry(Duration),
    /// Over: a status not retried, or no attempt left.
    Failed,
}

/// One attempt's outcome, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP status.
    pub status: u16,
    /// Whether sedge itself answered (`X-OpenFaaS-Internal`), not the function.
    pub internal: bool,
    /// `Retry-After`, in seconds, when given.
    pub retry_after: Option<Duration>,
}

impl RetryPolicy {
    /// The policy of a function's annotations; invalid values fall back to the defaults, each named in the
    /// returned warnings.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> (Self, Vec<String>) {
        let mut policy = Self::default();
        let mut warnings = Vec::new();
        let mut bad = |key: &str, value: &str, why: &str| {
            warnings.push(format!("{key}={value:?} ignored ({why}); using the default"));
        };
        if let Some(v) = annotations.get(ATTEMPTS) {
            match v.trim().parse::<u32>() {
                Ok(n) if n <= LIMIT => policy.max_attempts = n.max(1),
                _ => bad(ATTEMPTS, v, "a whole number up to 10000 expected"),
            }
        }
        if let Some(v) = annotations.get(CODES) {
            match parse_codes(v) {
                Some(codes) => policy.codes = codes,
                None => bad(CODES, v, "HTTP statuses 100-599 separated by commas or spaces expected"),
            }
        }
        if let Some(v) = annotations.get(MIN_WAIT) {
            match sedge_core::duration::parse(v) {
                Ok(d) => policy.min_wait = d,
                Err(_) => bad(MIN_WAIT, v, "a duration such as 5s or 1m expected"),
            }
        }
        if let Some(v) = annotations.get(MAX_WAIT) {
            match sedge_core::duration::parse(v) {
                Ok(d) => policy.max_wait = d,
                Err(_) => bad(MAX_WAIT, v, "a duration such as 30s or 2m expected"),
            }
        }
        policy.max_wait = policy.max_wait.max(policy.min_wait);
        (policy, warnings)
    }

    /// The wait before the next attempt, after `attempts` attempts (1 or more): `min_wait × 2^(attempts−1)`,
    /// capped at `max_wait`.
    pub fn next_wait(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(63);
        let factor = 1u64 << doublings;
        let nanos = (self.min_wait.as_nanos()).saturating_mul(u128::from(factor));
        let capped = nanos.min(self.max_wait.as_nanos());
        Duration::from_nanos(u64::try_from(capped).unwrap_or(u64::MAX))
    }

    /// What to do after attempt number `attempts` (1 or more) of a call allowed `max_attempts` in all ended
    /// with `outcome`.
    pub fn decide(&self, outcome: Outcome, attempts: u32, max_attempts: u32) -> Decision {
        if outcome.status < 400 {
            return Decision::Succeeded;
        }
        let retried = outcome.internal || self.codes.contains(&outcome.status);
        if !retried || attempts >= max_attempts {
            return Decision::Failed;
        }
        let wait = match outcome.retry_after {
            Some(after) if matches!(outcome.status, 429 | 503) => after.clamp(self.min_wait, self.max_wait),
            _ => self.next_wait(attempts),
        };
        Decision::Retry(wait)
    }
}

/// `408,429 500` → the statuses; `None` when any is not a status 100–599 or none is given.
fn parse_codes(text: &str) -> Option<Vec<u16>> {
    let codes: Vec<u16> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c)))
        .collect::<Option<_>>()?;
    (!codes.is_empty()).then_some(codes)
}

/// A `Retry-After` value in delay-seconds form (the HTTP-date form is not read).
pub fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u32>().ok().map(|s| Duration::from_secs(u64::from(s)))
}

/// Attempts of one function in flight at once: the annotation, else the label, else `default`; a value that
/// is not a whole number from 1 to 10000 is ignored (and named in the warning).
pub fn concurrency(
    annotations: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    default: u32,
) -> (u32, Option<String>) {
    let Some(v) = annotations.get(CONCURRENCY).or_else(|| labels.get(CONCURRENCY)) else {
        return (default, None);
    };
    match v.trim().parse::<u32>() {
        Ok(n) if (1..=LIMIT).contains(&n) => (n, None),
        _ => (default, Some(format!("{CONCURRENCY}={v:?} ignored (a whole number 1-10000 expected); using {default}"))),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn status(status: u16) -> Outcome {
        Outcome { status, internal: false, retry_after: None }
    }

    #[test]
    fn defaults_are_openfaas_pros() {
        let (policy, warnings) = RetryPolicy::from_annotations(&BTreeMap::new());
        assert!(warnings.is_empty());
        assert_eq!(policy.max_attempts, 10);
        assert_eq!(policy.codes, [408, 429, 500, 502, 503, 504]);
        assert_eq!((policy.min_wait, policy.max_wait), (Duration::from_secs(10), Duration::from_secs(120)));
    }

    #[test]
    fn annotations_override_and_bad_values_fall_back() {
        let a = annotations(&[(ATTEMPTS, "3"), (CODES, "429, 500 503"), (MIN_WAIT, "50ms"), (MAX_WAIT, "1m")]);
        let (policy, warnings) = RetryPolicy::from_annotations(&a);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            policy,
            RetryPolicy {
                max_attempts: 3,
                codes: vec![429, 500, 503],
                min_wait: Duration::from_millis(50),
                max_wait: Duration::from_secs(60),
            }
        );
        let a = annotations(&[(ATTEMPTS, "many"), (CODES, "429,abc"), (MIN_WAIT, "soon"), (MAX_WAIT, "-1s")]);
        let (policy, warnings) = RetryPolicy::from_annotations(&a);
        assert_eq!(policy, RetryPolicy::default());
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].contains(ATTEMPTS), "{warnings:?}");
        let (policy, _) = RetryPolicy::from_annotations(&annotations(&[(ATTEMPTS, "0"), (CODES, "")]));
        assert_eq!(policy.max_attempts, 1, "0 attempts means one run, no retry");
        assert_eq!(policy.codes, DEFAULT_CODES, "an empty list is invalid");
        let (policy, _) = RetryPolicy::from_annotations(&annotations(&[(MIN_WAIT, "5m")]));
        assert_eq!(policy.max_wait, Duration::from_secs(300), "max_wait never below min_wait");
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let policy = RetryPolicy { min_wait: Duration::from_secs(10), ..RetryPolicy::default() };
        let waits: Vec<u64> = (1..=6).map(|n| policy.next_wait(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 120, 120]);
        assert_eq!(policy.next_wait(0), Duration::from_secs(10), "attempt 0 reads as the first");
        assert_eq!(policy.next_wait(u32::MAX), Duration::from_secs(120));
        let zero = RetryPolicy { min_wait: Duration::ZERO, ..RetryPolicy::default() };
        assert_eq!(zero.next_wait(5), Duration::ZERO);
    }

    #[test]
    fn decisions_follow_status_codes_and_attempts() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(status(200), 1, 10), Decision::Succeeded);
        assert_eq!(policy.decide(status(302), 10, 10), Decision::Succeeded);
        assert_eq!(policy.decide(status(500), 1, 10), Decision::Retry(Duration::from_secs(10)));
        assert_eq!(policy.decide(status(429), 3, 10), Decision::Retry(Duration::from_secs(40)));
        assert_eq!(policy.decide(status(500), 10, 10), Decision::Failed, "no attempt left");
        assert_eq!(policy.decide(status(404), 1, 10), Decision::Failed, "not a retried status");
        assert_eq!(policy.decide(status(500), 1, 1), Decision::Failed);
        let internal = Outcome { status: 429, internal: true, retry_after: None };
        let only_500 = RetryPolicy { codes: vec![500], ..RetryPolicy::default() };
        assert_eq!(only_500.decide(internal, 1, 10), Decision::Retry(Duration::from_secs(10)));
        assert_eq!(only_500.decide(status(429), 1, 10), Decision::Failed);
    }

    #[test]
    fn retry_after_replaces_the_backoff_within_bounds() {
        let policy = RetryPolicy::default();
        let after = |status, secs| Outcome { status, internal: false, retry_after: Some(Duration::from_secs(secs)) };
        assert_eq!(policy.decide(after(429, 30), 1, 10), Decision::Retry(Duration::from_secs(30)));
        assert_eq!(policy.decide(after(503, 1), 1, 10), Decision::Retry(Duration::from_secs(10)));
        assert_eq!(policy.decide(after(429, 3600), 1, 10), Decision::Retry(Duration::from_secs(120)));
        assert_eq!(policy.decide(after(500, 30), 1, 10), Decision::Retry(Duration::from_secs(10)), "only 429/503");
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Fri, 10 Apr 2026 09:47:00 GMT"), None);
    }

    #[test]
    fn concurrency_from_annotation_then_label_then_default() {
        let none = BTreeMap::new();
        assert_eq!(concurrency(&none, &none, 8), (8, None));
        let label = annotations(&[(CONCURRENCY, "2")]);
        assert_eq!(concurrency(&none, &label, 8), (2, None));
        assert_eq!(concurrency(&annotations(&[(CONCURRENCY, "5")]), &label, 8), (5, None));
        let (n, warning) = concurrency(&annotations(&[(CONCURRENCY, "0")]), &none, 8);
        assert_eq!(n, 8);
        assert!(warning.unwrap().contains(CONCURRENCY));
    }

    proptest! {
        #[test]
        fn backoff_is_monotonic_bounded_and_at_most_doubling(
            min_ms in 0u64..100_000, max_ms in 0u64..10_000_000, attempts in 1u32..200,
        ) {
            let min_wait = Duration::from_millis(min_ms);
            let policy = RetryPolicy {
                min_wait,
                max_wait: Duration::from_millis(max_ms).max(min_wait),
                ..RetryPolicy::default()
            };
            let this = policy.next_wait(attempts);
            let next = policy.next_wait(attempts + 1);
            prop_assert!(this <= next);
            prop_assert!(next <= policy.max_wait);
            prop_assert!(this >= policy.min_wait.min(policy.max_wait));
            prop_assert!(next <= this * 2 || this.is_zero() && next.is_zero());
            prop_assert_eq!(policy.next_wait(1), policy.min_wait);
        }

        #[test]
        fn every_retry_respects_the_attempt_limit(status in 100u16..600, attempts in 1u32..20, max in 1u32..20) {
            match RetryPolicy::default().decide(Outcome { status, internal: false, retry_after: None }, attempts, max) {
                Decision::Succeeded => prop_assert!(status < 400),
                Decision::Retry(wait) => {
                    prop_assert!(attempts < max && DEFAULT_CODES.contains(&status));
                    prop_assert!(wait <= DEFAULT_MAX_WAIT);
                }
                Decision::Failed => prop_assert!(status >= 400),
            }
        }
    }
}
