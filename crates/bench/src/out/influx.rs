//! InfluxDB 1.x line protocol with k6's measurement names, so k6's Grafana dashboards can read `sedge bench`.
//!
//! Each request becomes three points at its send time: `http_reqs` (value 1), `http_req_duration` (latency in
//! ms, from the intended send time as in the summary) and `http_req_failed` (1 or 0), tagged `status` (`0`
//! without a response, as k6), `method`, `url` and, when the response said, `cold`. Tags are written sorted by
//! key, as InfluxDB recommends; tags with an empty key or value are left out (the protocol has no empty tags).
//! Escaping follows the spec: commas and spaces in measurements; commas, equals signs and spaces in tag keys
//! and values. Line breaks cannot be escaped, so they become spaces.

use crate::record::Outcome;

/// One point: `measurement,tag=v value=<value> <timestamp_ns>`, without a trailing newline.
pub fn line(measurement: &str, tags: &[(&str, &str)], value: f64, timestamp_ns: u128) -> String {
    let mut out = escape(measurement, &[',', ' ']);
    let mut tags: Vec<_> = tags.iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()).collect();
    tags.sort_by_key(|(k, _)| *k);
    for (key, value) in tags {
        out.push(',');
        out.push_str(&escape(key, &[',', '=', ' ']));
        out.push('=');
        out.push_str(&escape(value, &[',', '=', ' ']));
    }
    let value = if value.is_finite() { value } else { 0.0 };
    out.push_str(&format!(" value={value} {timestamp_ns}"));
    out
}

/// The three points for one request, each terminated by `'\n'`.
pub fn outcome_lines(o: &Outcome, start_epoch_ns: u128, method: &str, url: &str) -> String {
    let status = o.status.unwrap_or(0).to_string();
    let mut tags = vec![("status", status.as_str()), ("method", method), ("url", url)];
    if let Some(cold) = o.cold {
        tags.push(("cold", if cold { "true" } else { "false" }));
    }
    let at = start_epoch_ns + o.started.as_nanos();
    let latency_ms = o.latency().as_nanos() as f64 / 1e6;
    let failed = if o.ok() { 0.0 } else { 1.0 };
    let mut out = String::new();
    for (measurement, value) in [("http_reqs", 1.0), ("http_req_duration", latency_ms), ("http_req_failed", failed)] {
        out.push_str(&line(measurement, &tags, value, at));
        out.push('\n');
    }
    out
}

fn escape(text: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().map(|c| if matches!(c, '\n' | '\r') { ' ' } else { c }) {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn escapes_per_the_spec() {
        assert_eq!(line("http_reqs", &[], 1.0, 5), "http_reqs value=1 5");
        assert_eq!(
            line("my measure,x", &[("url", "http://h/f?a=1,b=2 c"), ("na me", "x=y"), ("empty", "")], 12.5, 7),
            r"my\ measure\,x,na\ me=x\=y,url=http://h/f?a\=1\,b\=2\ c value=12.5 7"
        );
        assert_eq!(line("m", &[("k", "a\nb")], f64::NAN, 1), r"m,k=a\ b value=0 1");
    }

    #[test]
    fn matches_the_golden_file() {
        let base = Outcome {
            intended: Duration::from_millis(1000),
            started: Duration::from_millis(1002),
            finished: Duration::from_micros(1_014_500),
            status: Some(200),
            error: None,
            cold: Some(true),
            bytes_sent: 0,
            bytes_received: 0,
            vu: 1,
        };
        let start = 1_700_000_000_000_000_000;
        let mut out = outcome_lines(&base, start, "POST", "http://127.0.0.1:8080/function/hello world");
        let refused = Outcome { status: None, cold: None, error: Some("refused".into()), ..base };
        out.push_str(&outcome_lines(&refused, start, "GET", "http://h/f?a=1,b=2"));
        assert_eq!(out, include_str!("../../tests/golden/influx.txt"));
    }
}
