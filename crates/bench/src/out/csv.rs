//! A report [`Table`] as CSV: the header row, then one line per row, fields quoted as RFC 4180 says (a field
//! holding a comma, a double quote, a CR or an LF is wrapped in double quotes, its quotes doubled). Lines end
//! with LF, as the JTL output's do; spreadsheet programs and `csv` readers accept both.

use crate::report::Table;

/// The table as CSV text, ending with a newline.
pub fn table(t: &Table) -> String {
    let mut out = String::new();
    for row in std::iter::once(&t.columns).chain(&t.rows) {
        let fields: Vec<String> = row.iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// One field, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_and_rows() {
        let mut t = Table::new("Summary", &["metric", "value"]);
        t.row(vec!["requests".into(), "1200".into()]);
        t.row(vec!["p99".into(), String::new()]);
        assert_eq!(table(&t), "metric,value\nrequests,1200\np99,\n");
        assert_eq!(table(&Table::new("Empty", &["a"])), "a\n");
    }

    #[test]
    fn quotes_only_what_needs_it() {
        let mut t = Table::new("Quoting", &["note", "n"]);
        t.row(vec!["seed says \"1,800 VUs\"".into(), "1".into()]);
        t.row(vec!["two\nlines".into(), "cr\r".into()]);
        t.row(vec!["  spaces, kept ".into(), "µs ✓".into()]);
        assert_eq!(
            table(&t),
            "note,n\n\"seed says \"\"1,800 VUs\"\"\",1\n\"two\nlines\",\"cr\r\"\n\"  spaces, kept \",µs ✓\n"
        );
    }
}
