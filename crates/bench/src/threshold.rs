//! k6-style pass/fail thresholds: `<metric> <operator> <value>`, checked against a [`Summary`].
//!
//! Metrics: latency quantiles `p95`, `p(99.9)`, `med` (= `p50`), `avg`, `min`, `max` (values are durations, a
//! bare number is milliseconds, as in k6); `errors` (the failed fraction; `0.1%` or `0.001`); `checks` (the
//! fraction of requests that passed status and checks; `99%` or `0.99`); `rate` (requests per second, `100/s`).
//! Operators: `<`, `<=`, `>`, `>=`, `==` (also `===`), `!=`. Whitespace is allowed around each part.

use crate::arrival;
use crate::out::text::{format_ms, format_percent};
use crate::parse::{self, ParseError};
use crate::record::Summary;

/// A parsed threshold; [`Threshold::check`] evaluates it.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    metric: Metric,
    op: Op,
    value: f64,
}

/// What a threshold looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// Latency quantile, 0..=1.
    Quantile(f64),
    Avg,
    Min,
    Max,
    /// Failed fraction, 0..=1.
    Errors,
    /// Passed fraction, 0..=1.
    Checks,
    /// Requests per second.
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// The result of checking one threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// The threshold as written.
    pub threshold: String,
    /// The observed value, formatted with its unit (`43.21ms`, `0.12%`, `102.5/s`).
    pub observed: String,
    /// Whether the observed value satisfies the threshold.
    pub passed: bool,
}

/// Parses `p95<50ms`, `p(99.9)<=1s`, `avg<10ms`, `errors<0.1%`, `rate>=100/s`, `checks>99%` and the like.
pub fn parse(text: &str) -> Result<Threshold, ParseError> {
    let err = |why: String| ParseError::new("threshold", text, why);
    let trimmed = text.trim();
    let at = trimmed
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| err("no operator; write <metric><op><value> such as p95<50ms".into()))?;
    let (name, rest) = (trimmed[..at].trim(), &trimmed[at..]);
    let (op, value) = [("===", Op::Eq), ("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge)]
        .into_iter()
        .chain([("<", Op::Lt), (">", Op::Gt)])
        .find_map(|(symbol, op)| rest.strip_prefix(symbol).map(|value| (op, value.trim())))
        .ok_or_else(|| err(format!("{:?} is not an operator; use <, <=, >, >=, == or !=", rest.trim())))?;
    let metric = metric(&name.to_ascii_lowercase()).ok_or_else(|| {
        err(format!("unknown metric {name:?}; use p95, p(99.9), med, avg, min, max, errors, checks or rate"))
    })?;
    let value = match metric {
        Metric::Quantile(_) | Metric::Avg | Metric::Min | Metric::Max => match parse::number(value) {
            Some(ms) => ms,
            None => parse::duration(value).map_err(|e| err(format!("{value:?}: {}", e.why)))?.as_nanos() as f64 / 1e6,
        },
        Metric::Errors | Metric::Checks => fraction(value)
            .ok_or_else(|| err(format!("{value:?} is not a fraction; use a percentage (0.1%) or 0..1")))?,
        Metric::Rate => arrival::parse_rate(value).map_err(|e| err(format!("{value:?}: {}", e.why)))?,
    };
    Ok(Threshold { text: trimmed.to_owned(), metric, op, value })
}

fn metric(name: &str) -> Option<Metric> {
    Some(match name {
        "avg" | "mean" => Metric::Avg,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "med" => Metric::Quantile(0.5),
        "errors" | "error_rate" | "http_req_failed" => Metric::Errors,
        "checks" => Metric::Checks,
        "rate" | "rps" | "http_reqs" => Metric::Rate,
        _ => {
            let p = name.strip_prefix('p')?;
            let p = p.strip_prefix('(').and_then(|p| p.strip_suffix(')')).unwrap_or(p);
            Metric::Quantile(percent(p).filter(|q| *q > 0.0 && *q <= 1.0)?)
        }
    })
}

/// `0.1%` or `0.001` as a fraction in 0..=1.
fn fraction(text: &str) -> Option<f64> {
    let value = match text.strip_suffix('%') {
        Some(p) => percent(p)?,
        None => parse::number(text)?,
    };
    (0.0..=1.0).contains(&value).then_some(value)
}

/// A percentage as a fraction, shifted in decimal so that `0.1` is exactly `0.001` and `99.9` exactly `0.999`.
fn percent(text: &str) -> Option<f64> {
    parse::number(text)?;
    format!("{}e-2", text.trim()).parse().ok()
}

impl Threshold {
    /// The threshold as written (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates the threshold against `s`.
    pub fn check(&self, s: &Summary) -> Verdict {
        let observed = match self.metric {
            Metric::Quantile(q) => s.latency_at(q),
            Metric::Avg => s.latency.mean_ms,
            Metric::Min => s.latency.min_ms,
            Metric::Max => s.latency.max_ms,
            Metric::Errors => s.error_rate,
            Metric::Checks if s.requests == 0 => 0.0,
            Metric::Checks => (s.requests - s.failed.min(s.requests)) as f64 / s.requests as f64,
            Metric::Rate => s.rps,
        };
        let passed = match self.op {
            Op::Lt => observed < self.value,
            Op::Le => observed <= self.value,
            Op::Gt => observed > self.value,
            Op::Ge => observed >= self.value,
            Op::Eq => observed == self.value,
            Op::Ne => observed != self.value,
        };
        let observed = match self.metric {
            Metric::Quantile(_) | Metric::Avg | Metric::Min | Metric::Max => format_ms(observed),
            Metric::Errors | Metric::Checks => format_percent(observed),
            Metric::Rate => format!("{}/s", crate::out::text::decimals(observed, 2)),
        };
        Verdict { threshold: self.text.clone(), observed, passed }
    }
}

#[cfg(test)]
#[path = "threshold_tests.rs"]
mod tests;
