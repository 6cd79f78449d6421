//! A [`Report`] as Markdown: a `##` title, the facts as a list, the comparison and every table as pipe tables
//! (what an experiment's `README.md` holds and `docs/experiments.md` collects). Charts are left to the HTML.

use crate::report::{Report, Table};

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = format!("## {}\n\n", report.title);
    for (name, value) in &report.facts {
        out.push_str(&format!("- {name}: {value}\n"));
    }
    out.push_str(&format!("\n{}", table(&report.comparison_table())));
    for t in &report.tables {
        out.push_str(&format!("\n**{}**\n\n{}", t.title, table(t)));
    }
    out
}

/// A pipe table; `|` in a cell is escaped and line breaks become spaces.
fn table(t: &Table) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n|{}\n", t.columns.join(" | "), "---|".repeat(t.columns.len()));
    for row in &t.rows {
        out.push_str(&format!("| {} |\n", row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Comparison;

    #[test]
    fn facts_comparison_and_tables_as_pipe_tables() {
        let mut t = Table::new("Latency", &["case", "p50"]);
        t.row(vec!["a|b".into(), "1 ms".into()]);
        let report = Report {
            title: "T".into(),
            facts: vec![("machine".into(), "2 cores".into())],
            comparison: vec![Comparison {
                metric: "rate".into(),
                seed: "712 req/s".into(),
                sedge: "1,790 req/s".into(),
                note: "two\nlines".into(),
            }],
            tables: vec![t],
            ..Report::default()
        };
        assert_eq!(
            render(&report),
            "## T\n\n- machine: 2 cores\n\n| metric | seed | sedge | note |\n|---|---|---|---|\n\
             | rate | 712 req/s | 1,790 req/s | two lines |\n\n**Latency**\n\n| case | p50 |\n|---|---|\n\
             | a\\|b | 1 ms |\n"
        );
    }
}
