//! A [`Report`] as one self-contained HTML page: an inline `<style>`, charts as inline SVG ([`super::svg`]), no
//! scripts, fonts, images or links, so the file can be mailed, attached to CI or opened offline.
//!
//! Order: the title (`<h1>`) and description, the facts (`<table class="facts">`), the seed-vs-sedge
//! comparison (`<table class="comparison">`, columns metric | seed figure | sedge figure | note; left out when
//! empty), each result table (`<table class="result" id="table-SLUG">` with a `<caption>`), then each chart
//! (`<figure id="chart-SLUG">` holding an `<h2>` with its title and one `<svg class="chart">`). Ids are the
//! titles' slugs, made unique with `-2`, `-3`… Cells that read as numbers are right-aligned. All text is
//! escaped.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::out::svg;
use crate::report::{Report, Table, slug};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;\
max-width:960px;margin:2em auto;padding:0 1em;line-height:1.4}\
h1{font-size:1.6em}h2{font-size:1.15em;margin:0 0 .4em}\
table{border-collapse:collapse;margin:1.5em 0;font-size:.92em}\
caption{text-align:left;font-weight:600;padding-bottom:.4em}\
th,td{border:1px solid #d0d0d0;padding:.3em .6em;vertical-align:top;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
table.facts th{background:none;font-weight:600}\
figure{margin:2em 0}svg.chart{max-width:100%;height:auto;font-size:11px}\
svg.chart text{fill:#333}svg.chart .grid{stroke:#e6e6e6}svg.chart .axis{stroke:#444}\
svg.chart .tick{stroke:#444}svg.chart text.tick{stroke:none}\
svg.chart .label{font-size:12px}svg.chart .no-data{font-size:14px;fill:#888}\
footer{margin-top:3em;color:#777;font-size:.85em}";

/// The report as a complete HTML document.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let mut ids = BTreeSet::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&r.title),
        escape(&r.title)
    );
    for p in &r.description {
        let _ = writeln!(out, "<p>{}</p>", escape(p));
    }
    if !r.facts.is_empty() {
        out.push_str("<table class=\"facts\">\n");
        for (name, value) in &r.facts {
            let _ = writeln!(out, "<tr><th scope=\"row\">{}</th>{}</tr>", escape(name), cell(value));
        }
        out.push_str("</table>\n");
    }
    if !r.comparison.is_empty() {
        out.push_str(
            "<table class=\"comparison\">\n<caption>Seed vs sedge</caption>\n<thead><tr><th>metric</th>\
             <th>seed figure</th><th>sedge figure</th><th>note</th></tr></thead>\n<tbody>\n",
        );
        for c in &r.comparison {
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{}{}<td>{}</td></tr>",
                escape(&c.metric),
                cell(&c.seed),
                cell(&c.sedge),
                escape(&c.note)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    for t in &r.tables {
        table(&mut out, t, &unique(&mut ids, "table", &t.slug()));
    }
    for c in &r.charts {
        let id = unique(&mut ids, "chart", &slug(&c.title));
        let _ = writeln!(out, "<figure id=\"{id}\">\n<h2>{}</h2>\n{}\n</figure>", escape(&c.title), svg::chart(c));
    }
    out.push_str("<footer>Written by sedge; self-contained: no scripts and no external resources.</footer>\n");
    out.push_str("</body>\n</html>\n");
    out
}

fn table(out: &mut String, t: &Table, id: &str) {
    let _ = write!(out, "<table class=\"result\" id=\"{id}\">\n<caption>{}</caption>\n<thead><tr>", escape(&t.title));
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for c in row {
            out.push_str(&cell(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// A `<td>`, right-aligned (`class="num"`) when the text is a number.
fn cell(text: &str) -> String {
    let numeric = text.trim().parse::<f64>().is_ok_and(f64::is_finite);
    format!("<td{}>{}</td>", if numeric { " class=\"num\"" } else { "" }, escape(text))
}

/// `prefix-slug`, or with `-2`, `-3`… when already taken.
fn unique(taken: &mut BTreeSet<String>, prefix: &str, slug: &str) -> String {
    let base = if slug.is_empty() { prefix.to_owned() } else { format!("{prefix}-{slug}") };
    let mut id = base.clone();
    let mut n = 1;
    while !taken.insert(id.clone()) {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

/// Text safe in HTML content and in double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
