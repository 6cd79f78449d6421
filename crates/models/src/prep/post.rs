//! Classification post-processing (SPEC §4's `output` block): optional softmax, top-k, labels.

use super::PrepError;
use sedge_core::model::OutputSpec;

/// One ranked class of one batch row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction<'a> {
    /// The class index within the row.
    pub index: usize,
    /// The class's label, when a labels list was given and covers `index`.
    pub label: Option<&'a str>,
    /// The score (a probability after softmax).
    pub score: f32,
}

/// What to do with a model's class scores.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Postprocess {
    /// Apply softmax to each row before ranking.
    pub softmax: bool,
    /// Keep only the best `k` classes per row (`None`: all of them, ranked).
    pub top_k: Option<usize>,
    /// Class labels, index `i` naming class `i`.
    pub labels: Option<Vec<String>>,
}

impl Postprocess {
    /// Builds from an [`OutputSpec`] and the already-read labels (the spec's `labels` path is not read here).
    pub fn new(spec: &OutputSpec, labels: Option<Vec<String>>) -> Self {
        Self { softmax: spec.softmax, top_k: spec.top_k, labels }
    }

    /// Ranks each row of `scores` (row-major, `classes_per_row` per row): softmax if asked, sorted by descending
    /// score (ties: lower index first; NaN ranks as [`f32::total_cmp`] puts it), cut to `top_k`, labelled.
    /// Errors when `classes_per_row` is 0 or does not divide `scores.len()`.
    pub fn apply(&self, scores: &[f32], classes_per_row: usize) -> Result<Vec<Vec<Prediction<'_>>>, PrepError> {
        if classes_per_row == 0 || !scores.chunks_exact(classes_per_row).remainder().is_empty() {
            return Err(PrepError::Scores(format!(
                "{} scores do not split into rows of {classes_per_row} classes",
                scores.len()
            )));
        }
        let keep = self.top_k.unwrap_or(classes_per_row).min(classes_per_row);
        let rows = scores.chunks_exact(classes_per_row).map(|row| {
            let row = if self.softmax { softmax(row) } else { row.to_vec() };
            let mut ranked: Vec<(usize, f32)> = row.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            ranked.truncate(keep);
            ranked.into_iter().map(|(index, score)| Prediction { index, label: self.label(index), score }).collect()
        });
        Ok(rows.collect())
    }

    fn label(&self, index: usize) -> Option<&str> {
        self.labels.as_ref()?.get(index).map(String::as_str)
    }
}

/// Numerically stable softmax: subtracts the row's maximum before exponentiating, so large logits do not
/// overflow. An empty row gives an empty result.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Parses a labels file: one label per line, each trimmed; a leading BOM and trailing empty lines are dropped,
/// empty lines in between are kept (as `""`) so that line `i` still names class `i`.
pub fn parse_labels(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while labels.last().is_some_and(String::is_empty) {
        labels.pop();
    }
    labels
}
