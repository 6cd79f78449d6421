//! The end-of-test summary as one JSON document: `{"summary": …, "thresholds": [...], "passed": bool}`.
//!
//! `summary` is [`Summary`] as serde writes it (milliseconds for latencies, 0..1 for `error_rate`); `thresholds`
//! lists each [`Verdict`]; `passed` is true when every threshold passed (and when there are none).

use crate::record::Summary;
use crate::threshold::Verdict;

/// The summary and verdicts as JSON.
pub fn summary(s: &Summary, verdicts: &[Verdict]) -> serde_json::Value {
    serde_json::json!({
        "summary": s,
        "thresholds": verdicts,
        "passed": verdicts.iter().all(|v| v.passed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::out::text::tests::example;

    #[test]
    fn matches_the_golden_file() {
        let (s, verdicts) = example();
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/golden/summary.json")).expect("golden file is JSON");
        assert_eq!(summary(&s, &verdicts), golden);
    }

    #[test]
    fn passes_only_when_every_threshold_passes() {
        let (s, mut verdicts) = example();
        assert_eq!(summary(&s, &verdicts)["passed"], false);
        verdicts.retain(|v| v.passed);
        assert_eq!(summary(&s, &verdicts)["passed"], true);
        assert_eq!(summary(&s, &[])["passed"], true);
        assert!(summary(&s, &[])["summary"].get("quantiles").is_none());
    }
}
