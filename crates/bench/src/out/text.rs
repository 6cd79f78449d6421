//! A k6-style end-of-test summary for the terminal, and the number formats every report shares.
//!
//! One aligned `name.....: value` line per metric: `http_reqs` (count and rate), `http_req_duration` (latency
//! from the intended send: avg, min, med, max, p(90), p(95), p(99)) with `{ cold:true }` / `{ cold:false }`
//! lines when any call was a cold start, `http_req_service_time` when it differs from the latency (an open-model
//! run that fell behind), `http_req_failed`, `http_req_status`, `cold_starts`, `dropped_iterations`,
//! `data_received` and `data_sent`; then the thresholds, each with ✓ or ✗ and the observed value.

use std::fmt::Write;

use crate::record::{Percentiles, Summary};
use crate::threshold::Verdict;

/// Width of the dotted name column.
const NAME_WIDTH: usize = 28;

/// The summary as text, ending with a newline.
pub fn render(s: &Summary, verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    let seconds = s.duration_s;
    let per_second = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
    let mut metric = |indent: &str, name: &str, value: String| {
        let dots = NAME_WIDTH.saturating_sub(indent.len() + name.len()).max(3);
        let _ = writeln!(out, "     {indent}{name}{}: {value}", ".".repeat(dots));
    };
    metric("", "http_reqs", format!("{}  {}/s", s.requests, decimals(s.rps, 2)));
    metric("", "http_req_duration", percentiles(&s.latency));
    if s.cold_count > 0 {
        if let Some(cold) = &s.cold {
            metric("  ", "{ cold:true }", percentiles(cold));
        }
        if let Some(warm) = &s.warm {
            metric("  ", "{ cold:false }", percentiles(warm));
        }
    }
    if s.service_time != s.latency {
        metric("", "http_req_service_time", percentiles(&s.service_time));
    }
    metric("", "http_req_failed", format!("{}  {} out of {}", format_percent(s.error_rate), s.failed, s.requests));
    let statuses: Vec<_> = s.statuses.iter().map(|(status, n)| format!("{status}={n}")).collect();
    metric("", "http_req_status", if statuses.is_empty() { "-".into() } else { statuses.join(" ") });
    if s.cold_count > 0 {
        metric("", "cold_starts", s.cold_count.to_string());
    }
    metric("", "dropped_iterations", format!("{}  {}/s", s.dropped, decimals(per_second(s.dropped as f64), 2)));
    let data = |bytes: u64| format!("{}  {}/s", format_bytes(bytes as f64), format_bytes(per_second(bytes as f64)));
    metric("", "data_received", data(s.bytes_received));
    metric("", "data_sent", data(s.bytes_sent));
    if !verdicts.is_empty() {
        let width = verdicts.iter().map(|v| v.threshold.chars().count() + 3).max().unwrap_or(0).max(NAME_WIDTH - 2);
        out.push_str("\n   thresholds\n");
        for v in verdicts {
            let mark = if v.passed { '✓' } else { '✗' };
            let dots = ".".repeat(width - v.threshold.chars().count());
            let _ = writeln!(out, "     {mark} {}{dots}: {}", v.threshold, v.observed);
        }
    }
    out
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "avg={} min={} med={} max={} p(90)={} p(95)={} p(99)={}",
        format_ms(p.mean_ms),
        format_ms(p.min_ms),
        format_ms(p.p50_ms),
        format_ms(p.max_ms),
        format_ms(p.p90_ms),
        format_ms(p.p95_ms),
        format_ms(p.p99_ms),
    )
}

/// `v` with at most `places` decimals, trailing zeros dropped: `decimals(2.50, 2)` is `2.5`.
pub fn decimals(v: f64, places: usize) -> String {
    let text = format!("{v:.places$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    if text == "-0" { "0".into() } else { text.into() }
}

/// Milliseconds as k6 prints durations: `0s`, `812.5µs`, `12.34ms`, `1.5s`, `2m3.4s`.
pub fn format_ms(ms: f64) -> String {
    if ms <= 0.0 || !ms.is_finite() {
        "0s".into()
    } else if ms < 1.0 {
        format!("{}µs", decimals(ms * 1000.0, 2))
    } else if ms < 1000.0 {
        format!("{}ms", decimals(ms, 2))
    } else if ms < 60_000.0 {
        format!("{}s", decimals(ms / 1000.0, 2))
    } else {
        let minutes = (ms / 60_000.0).floor();
        format!("{minutes}m{}s", decimals((ms - minutes * 60_000.0) / 1000.0, 1))
    }
}

/// A fraction as a percentage with up to two decimals: `0.00123` is `0.12%`.
pub fn format_percent(fraction: f64) -> String {
    format!("{}%", decimals(fraction * 100.0, 2))
}

/// Bytes in decimal units, as k6: `512 B`, `1.2 kB`, `3.4 MB`.
pub fn format_bytes(bytes: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{} {}", decimals(value, 1), units[unit])
}

#[cfg(test)]
#[path = "text_tests.rs"]
pub(crate) mod tests;
