//! JMeter's default CSV JTL layout, so `sedge bench` results open in JMeter's report generator and its plugins.
//!
//! Columns: `timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,failureMessage,
//! bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect`. `timeStamp` is the send time in epoch
//! ms; `elapsed` the service time in ms. Time to first byte and connect time are not measured separately:
//! `Latency` repeats `elapsed` for requests that got a response (0 otherwise), `IdleTime` and `Connect` are 0.
//! Requests without a response use JMeter's `Non HTTP response code: <error>` text.

use std::io::{self, Write};

use crate::record::Outcome;

const HEADER: &str = "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,\
failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect";

/// Writes the header line.
pub fn header(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{HEADER}")
}

/// Writes one request's row. `threads` is the number of VUs (or workers) active, for `grpThreads`/`allThreads`.
pub fn row(
    w: &mut impl Write,
    start_epoch_ms: u64,
    o: &Outcome,
    label: &str,
    url: &str,
    threads: u32,
) -> io::Result<()> {
    let elapsed = o.service_time().as_millis();
    let (code, message) = match o.status {
        Some(status) => (status.to_string(), reason(status).to_owned()),
        None => {
            let error = o.error.as_deref().unwrap_or("no response");
            (format!("Non HTTP response code: {error}"), format!("Non HTTP response message: {error}"))
        }
    };
    let timestamp = u128::from(start_epoch_ms) + o.started.as_millis();
    let latency = if o.status.is_some() { elapsed } else { 0 };
    writeln!(
        w,
        "{timestamp},{elapsed},{},{},{},{},text,{},{},{},{},{threads},{threads},{},{latency},0,0",
        csv(label),
        csv(&code),
        csv(&message),
        csv(&format!("sedge 1-{}", o.vu)),
        o.ok(),
        csv(o.error.as_deref().unwrap_or("")),
        o.bytes_received,
        o.bytes_sent,
        csv(url),
    )
}

/// Quotes a field containing a comma, quote or line break, doubling its quotes (RFC 4180, as JMeter writes).
fn csv(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

/// The standard reason phrase JMeter would show as `responseMessage`; empty for codes not listed.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn outcome() -> Outcome {
        Outcome {
            intended: Duration::from_millis(1000),
            started: Duration::from_millis(1002),
            finished: Duration::from_micros(1_014_900),
            status: Some(200),
            error: None,
            cold: Some(false),
            bytes_sent: 120,
            bytes_received: 345,
            vu: 3,
        }
    }

    #[test]
    fn matches_the_golden_file() {
        let mut out = Vec::new();
        header(&mut out).unwrap();
        let start = 1_700_000_000_000;
        row(&mut out, start, &outcome(), "hello", "http://127.0.0.1:8080/function/hello", 10).unwrap();
        let slow = Outcome { status: Some(503), cold: Some(true), vu: 4, ..outcome() };
        row(&mut out, start, &slow, "hello", "http://127.0.0.1:8080/function/hello", 10).unwrap();
        let failed_check = Outcome { error: Some("check \"status\" failed, got 200".into()), ..outcome() };
        row(&mut out, start, &failed_check, "say, \"hi\"", "http://h/f?a=1,b=2", 10).unwrap();
        let refused = Outcome {
            status: None,
            error: Some("connection refused\nretrying".into()),
            finished: Duration::from_millis(1003),
            bytes_received: 0,
            ..outcome()
        };
        row(&mut out, start, &refused, "hello", "http://127.0.0.1:1/", 10).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), include_str!("../../tests/golden/results.jtl"));
    }

    #[test]
    fn header_has_jmeters_seventeen_columns() {
        assert_eq!(HEADER.split(',').count(), 17);
        assert!(HEADER.starts_with("timeStamp,elapsed,label,responseCode,") && HEADER.ends_with(",Connect"));
    }
}
