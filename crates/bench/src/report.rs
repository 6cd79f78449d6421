//! A report as data: the tables and charts that `sedge bench --html` and every `sedge experiment` write. The
//! formats in [`crate::out`] render it (HTML with inline SVG charts, CSV per table, JSON); nothing here does I/O.
//!
//! An experiment's central table is its [`Comparison`]: each row sets a figure published in a seed beside the
//! same figure measured by sedge on this machine, so a reader sees both without opening the paper.

use serde::Serialize;

/// One report: a title, prose, the seed-vs-sedge comparison, result tables and charts, in that order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Page title, e.g. `k6-predict: 1,800 VUs against an MNIST predict function`.
    pub title: String,
    /// Paragraphs shown under the title (plain text; renderers escape it).
    pub description: Vec<String>,
    /// `(name, value)` facts about the run: machine, sedge version, date, parameters.
    pub facts: Vec<(String, String)>,
    /// Seed figures beside sedge's; empty for a plain `sedge bench` report.
    pub comparison: Vec<Comparison>,
    /// Result tables.
    pub tables: Vec<Table>,
    /// Charts.
    pub charts: Vec<Chart>,
}

/// One row of "seed figure | sedge figure".
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// What is measured, e.g. `throughput (req/s)`.
    pub metric: String,
    /// The seed's published figure, as printed there (with its unit), or `—` when the seed has none.
    pub seed: String,
    /// sedge's figure from this run.
    pub sedge: String,
    /// Where the seed's figure comes from and how the setups differ.
    pub note: String,
}

/// A table of strings; the first row of the CSV is `columns`.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Caption; also names the CSV file (lower-case, non-alphanumerics as `-`).
    pub title: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
}

/// A chart of one or more series sharing axes.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Caption.
    pub title: String,
    /// X axis label with unit, e.g. `time (s)`.
    pub x_label: String,
    /// Y axis label with unit, e.g. `latency (ms)`.
    pub y_label: String,
    /// How points are drawn.
    pub kind: ChartKind,
    /// The series, each drawn in its own colour with a legend entry.
    pub series: Vec<Series>,
}

/// How a chart draws its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// Points joined by lines, x numeric (time series, sweeps).
    Line,
    /// Bars, one group per x value (categories compared side by side).
    Bar,
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points in x order. For bar charts x is the category's index into `categories`.
    pub points: Vec<(f64, f64)>,
    /// Bar charts: the category names, by index; empty for line charts.
    pub categories: Vec<String>,
}

impl Report {
    /// The comparison as a table: `metric | seed | sedge | note`.
    pub fn comparison_table(&self) -> Table {
        let mut table = Table::new("comparison", &["metric", "seed", "sedge", "note"]);
        for c in &self.comparison {
            table.row(vec![c.metric.clone(), c.seed.clone(), c.sedge.clone(), c.note.clone()]);
        }
        table
    }
}

impl Table {
    /// A table with these column headers and no rows yet.
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Self {
        Self { title: title.into(), columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "row length of table {:?}", self.title);
        self.rows.push(cells);
    }

    /// The file-name stem for this table's CSV: lower-case ASCII letters and digits, other runs as one `-`.
    pub fn slug(&self) -> String {
        slug(&self.title)
    }
}

impl Series {
    /// A line series.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { name: name.into(), points, categories: Vec::new() }
    }

    /// A bar series over named categories, one value each.
    pub fn bars(name: impl Into<String>, values: &[(String, f64)]) -> Self {
        Self {
            name: name.into(),
            points: values.iter().enumerate().map(|(i, (_, v))| (i as f64, *v)).collect(),
            categories: values.iter().map(|(c, _)| c.clone()).collect(),
        }
    }
}

/// Lower-case ASCII letters and digits; every other run of characters becomes one `-`, trimmed at both ends.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_letters_and_digits_and_join_the_rest() {
        assert_eq!(slug("Cold vs warm (ms), p99!"), "cold-vs-warm-ms-p99");
        assert_eq!(slug("  --x  "), "x");
    }

    #[test]
    fn bar_series_index_their_categories() {
        let s = Series::bars("p50", &[("cold".into(), 10.0), ("warm".into(), 1.5)]);
        assert_eq!(s.points, vec![(0.0, 10.0), (1.0, 1.5)]);
        assert_eq!(s.categories, vec!["cold", "warm"]);
    }
}
