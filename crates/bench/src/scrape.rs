//! Reading a metric out of a Prometheus `/metrics` page (the text exposition format, version 0.0.4), so that
//! `sedge bench` can chart a server's own gauges, such as sedge's ready replicas
//! (`gateway_service_count{function_name="echo.openfaas-fn"} 2`), beside its measurements.
//!
//! A sample line is `name{label="value",…} value [timestamp]`: label values may escape `\"`, `\\` and `\n`,
//! a trailing comma in the braces is allowed, the value may be `NaN`, `+Inf` or `-Inf`, and the timestamp is
//! ignored. `#` lines (`HELP`, `TYPE`, comments) and blank lines are skipped, and so is any line that does not
//! parse: a scrape is best-effort and must not fail a run because of one odd line.

use std::collections::BTreeMap;

/// A sample's labels, by name.
pub type Labels = BTreeMap<String, String>;

/// Every sample of the metric `name` (exact name, so `x` does not match `x_total`), in page order.
pub fn samples(text: &str, name: &str) -> Vec<(Labels, f64)> {
    text.lines().filter_map(|line| sample(line, name)).collect()
}

/// The samples of `name` that carry `label`, as `(label value, sample value)`: `by_label(page,
/// "gateway_service_count", "function_name")` gives each function's ready replicas.
pub fn by_label(text: &str, name: &str, label: &str) -> Vec<(String, f64)> {
    samples(text, name).into_iter().filter_map(|(mut labels, v)| Some((labels.remove(label)?, v))).collect()
}

/// One line as a sample of `name`, or `None` (another metric, a comment, a line that does not parse).
fn sample(line: &str, name: &str) -> Option<(Labels, f64)> {
    let line = line.trim_start();
    let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(line.len());
    if end == 0 || &line[..end] != name {
        return None;
    }
    let rest = &line[end..];
    let (labels, rest) = match rest.trim_start().strip_prefix('{') {
        Some(inside) => labels(inside)?,
        None => (Labels::new(), rest),
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next()?.parse().ok()?;
    match (fields.next(), fields.next()) {
        (None, _) => {}
        (Some(timestamp), None) if timestamp.parse::<i64>().is_ok() => {}
        _ => return None,
    }
    Some((labels, value))
}

/// Parses `a="1",b="2"}` (after the opening brace); returns the labels and what follows the closing brace.
fn labels(mut rest: &str) -> Option<(Labels, &str)> {
    let mut labels = Labels::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = rest.split_once('=')?;
        let key = key.trim();
        let valid = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return None;
        }
        let (value, after) = quoted(after.trim_start().strip_prefix('"')?)?;
        labels.insert(key.to_owned(), value);
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return None;
        }
    }
}

/// An escaped label value up to its closing quote; returns it unescaped and what follows the quote.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PAGE: &str = r#"# HELP gateway_service_count Ready replicas per function
# TYPE gateway_service_count gauge
gateway_service_count{function_name="echo.openfaas-fn"} 2
gateway_service_count{function_name="sleep.openfaas-fn",} 0 1712345678901
gateway_service_count_total{function_name="echo.openfaas-fn"} 99
  gateway_service_count { function_name = "odd\"name\\x\ny" , zone="a" }	+Inf
gateway_service_count NaN
gateway_service_count{function_name="broken} 3
gateway_service_count{function_name="echo"} three
gateway_service_count{function_name="echo"} 1 2 3
gateway_service_count{function_name="echo"}4
gateway_service_count{1bad="x"} 4
other{function_name="echo.openfaas-fn"} 5
"#;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn reads_every_sample_of_one_metric() {
        let got = samples(PAGE, "gateway_service_count");
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], (labels(&[("function_name", "echo.openfaas-fn")]), 2.0));
        assert_eq!(got[1], (labels(&[("function_name", "sleep.openfaas-fn")]), 0.0), "timestamp and comma");
        assert_eq!(got[2], (labels(&[("function_name", "odd\"name\\x\ny"), ("zone", "a")]), f64::INFINITY));
        assert!(got[3].0.is_empty() && got[3].1.is_nan());
        assert_eq!(samples(PAGE, "other").len(), 1);
        assert!(samples(PAGE, "gateway").is_empty(), "names match exactly");
        assert!(samples("", "x").is_empty());
    }

    #[test]
    fn picks_one_label() {
        let got = by_label(PAGE, "gateway_service_count", "function_name");
        let names: Vec<_> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["echo.openfaas-fn", "sleep.openfaas-fn", "odd\"name\\x\ny"]);
        assert_eq!(by_label(PAGE, "gateway_service_count", "zone"), [("a".to_string(), f64::INFINITY)]);
    }

    #[test]
    fn reads_negative_and_exponent_values() {
        let got = samples("m -1.5e3\nm{a=\"\"} -Inf\n", "m");
        assert_eq!(got, [(Labels::new(), -1500.0), (labels(&[("a", "")]), f64::NEG_INFINITY)]);
    }

    fn escape(v: &str) -> String {
        v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
    }

    proptest! {
        #[test]
        fn label_values_round_trip(values in proptest::collection::vec(any::<String>(), 1..4), n in any::<f64>()) {
            let pairs: Vec<String> =
                values.iter().enumerate().map(|(i, v)| format!("l{i}=\"{}\"", escape(v))).collect();
            let line = format!("m{{{}}} {n:?}\n", pairs.join(","));
            let got = samples(&line, "m");
            prop_assert_eq!(got.len(), 1, "{}", line);
            let expected: Labels = values.iter().enumerate().map(|(i, v)| (format!("l{i}"), v.clone())).collect();
            prop_assert_eq!(&got[0].0, &expected);
            prop_assert!(got[0].1 == n || (n.is_nan() && got[0].1.is_nan()));
        }
    }
}
