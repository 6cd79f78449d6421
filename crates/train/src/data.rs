//! A CSV file as a training set: one numeric target and numeric features, categorical columns one-hot encoded.
//!
//! Column types come from the first data row: a cell that parses as a number makes its column numeric, and every
//! later cell of that column must be a number too. Other columns are categorical and become one feature per value,
//! `column_value`, in sorted order (the names scikit-learn's and pandas' one-hot encoders give, as in
//! `gbt_taxi_xgb.meta.json`). The target is numeric, or two-valued categorical mapped to 0/1 with the positive
//! value chosen by name (`yes`, `true`, `good`, `1`, `positive`) or else the second in sorted order.
//!
//! Every refusal names the line (1-based, the header is line 1) and the column, so a user can fix the file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// Why a CSV file cannot be a training set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct DataError {
    /// The 1-based line at fault (the header is line 1), when one is.
    pub line: Option<u64>,
    /// What is wrong, naming the column.
    pub message: String,
}

impl DataError {
    fn at(line: u64, message: impl Into<String>) -> Self {
        Self { line: Some(line), message: message.into() }
    }

    fn whole(message: impl Into<String>) -> Self {
        Self { line: None, message: message.into() }
    }
}

/// A numeric training set, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature names, one per column of `x`.
    pub features: Vec<String>,
    /// `rows × features.len()` values, row-major.
    pub x: Vec<f32>,
    /// The target, one per row.
    pub y: Vec<f32>,
    /// The target column's name.
    pub target: String,
    /// For a categorical target: the value mapped to 1.
    pub positive: Option<String>,
    /// For a categorical target: the value mapped to 0.
    pub negative: Option<String>,
}

impl Dataset {
    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.features.len();
        &self.x[i * n..(i + 1) * n]
    }

    /// The rows whose index satisfies `keep`, as a new data set (for train/test splits).
    pub fn select(&self, keep: impl Fn(usize) -> bool) -> Dataset {
        let mut out = Dataset { x: Vec::new(), y: Vec::new(), ..self.clone() };
        for i in (0..self.rows()).filter(|i| keep(*i)) {
            out.x.extend_from_slice(self.row(i));
            out.y.push(self.y[i]);
        }
        out
    }
}

/// Options for [`load_csv`].
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// The target column.
    pub target: String,
    /// Columns to leave out (e.g. a row-number column such as R's `rownames`).
    pub drop: Vec<String>,
}

/// How one input column becomes features.
enum Column {
    Numeric,
    Categorical(BTreeSet<String>),
}

/// Reads a CSV file with a header row into a [`Dataset`]; see the module docs for the rules.
pub fn load_csv(reader: impl Read, options: &CsvOptions) -> Result<Dataset, DataError> {
    let mut csv = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(reader);
    let header: Vec<String> = csv
        .headers()
        .map_err(|e| DataError::at(1, format!("the header is not CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let target = header.iter().position(|h| *h == options.target).ok_or_else(|| {
        DataError::whole(format!("no target column {:?}; the columns are {}", options.target, header.join(", ")))
    })?;
    let used: Vec<usize> = (0..header.len()).filter(|i| *i != target && !options.drop.contains(&header[*i])).collect();

    let mut records = Vec::new();
    for (i, record) in csv.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| DataError::at(line, format!("not CSV: {e}")))?;
        if record.len() != header.len() {
            return Err(DataError::at(line, format!("{} cells, the header has {}", record.len(), header.len())));
        }
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if let Some(j) = cells.iter().position(String::is_empty) {
            return Err(DataError::at(
                line,
                format!("column {}: empty cell (missing values are not supported)", header[j]),
            ));
        }
        records.push(cells);
    }
    let first = records.first().ok_or_else(|| DataError::whole("no data rows after the header"))?;
    let numeric = |j: usize| first[j].parse::<f64>().is_ok_and(f64::is_finite);

    // Column kinds from the first row; categorical values from every row.
    let mut columns: BTreeMap<usize, Column> = BTreeMap::new();
    for &j in &used {
        let kind = if numeric(j) {
            Column::Numeric
        } else {
            Column::Categorical(records.iter().map(|r| r[j].clone()).collect())
        };
        columns.insert(j, kind);
    }
    let mut features = Vec::new();
    for (&j, kind) in &columns {
        match kind {
            Column::Numeric => features.push(header[j].clone()),
            Column::Categorical(values) => features.extend(values.iter().map(|v| format!("{}_{v}", header[j]))),
        }
    }
    let (target_of, classes) = target_coding(&records, target, &header[target], numeric(target))?;

    let mut x = Vec::with_capacity(records.len() * features.len());
    let mut y = Vec::with_capacity(records.len());
    for (i, cells) in records.iter().enumerate() {
        let line = i as u64 + 2;
        for (&j, kind) in &columns {
            match kind {
                Column::Numeric => x.push(number(&cells[j], line, &header[j])?),
                Column::Categorical(values) => x.extend(values.iter().map(|v| f32::from(u8::from(*v == cells[j])))),
            }
        }
        y.push(target_of(&cells[target], line)?);
    }
    let (negative, positive) = classes.unzip();
    Ok(Dataset { features, x, y, target: header[target].clone(), positive, negative })
}

type TargetFn<'a> = Box<dyn Fn(&str, u64) -> Result<f32, DataError> + 'a>;

/// How target cells become numbers: parsed, or 0/1 for a two-valued categorical target (then also the values
/// mapped to 0 and to 1).
fn target_coding<'a>(
    records: &[Vec<String>],
    target: usize,
    name: &'a str,
    numeric: bool,
) -> Result<(TargetFn<'a>, Option<(String, String)>), DataError> {
    if numeric {
        return Ok((Box::new(move |cell, line| number(cell, line, name)), None));
    }
    let values: BTreeSet<&str> = records.iter().map(|r| r[target].as_str()).collect();
    if values.len() != 2 {
        let shown: Vec<&str> = values.iter().take(5).copied().collect();
        return Err(DataError::whole(format!(
            "target column {name} has {} distinct values ({}…): use a numeric target or one with two values",
            values.len(),
            shown.join(", ")
        )));
    }
    let sorted: Vec<&str> = values.into_iter().collect();
    let positive = sorted
        .iter()
        .find(|v| ["yes", "true", "good", "1", "positive"].contains(&v.to_ascii_lowercase().as_str()))
        .unwrap_or(&sorted[1])
        .to_string();
    let negative = sorted.iter().find(|v| **v != positive).unwrap_or(&sorted[0]).to_string();
    let p = positive.clone();
    Ok((Box::new(move |cell, _| Ok(f32::from(u8::from(cell == p)))), Some((negative, positive))))
}

fn number(cell: &str, line: u64, column: &str) -> Result<f32, DataError> {
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v as f32),
        _ => Err(DataError::at(line, format!("column {column}: {cell:?} is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, target: &str) -> Result<Dataset, DataError> {
        load_csv(text.as_bytes(), &CsvOptions { target: target.into(), drop: vec!["rownames".into()] })
    }

    #[test]
    fn numeric_and_one_hot_columns_and_a_yes_no_target() {
        let d = load("rownames,tip,distance,company\n1,yes,1.5,B\n2,no,2,A\n3,yes,0.5,B\n", "tip").unwrap();
        assert_eq!(d.features, ["distance", "company_A", "company_B"]);
        assert_eq!(d.row(0), [1.5, 0.0, 1.0]);
        assert_eq!(d.row(1), [2.0, 1.0, 0.0]);
        assert_eq!(d.y, [1.0, 0.0, 1.0]);
        assert_eq!((d.negative.as_deref(), d.positive.as_deref()), (Some("no"), Some("yes")));
        assert_eq!(d.select(|i| i != 1).rows(), 2);
    }

    #[test]
    fn refusals_name_the_line_and_column() {
        for (text, target, want) in [
            ("a,b\n1,2\n3\n", "b", "line 3: 1 cells, the header has 2"),
            ("a,b\n1,2\nx,4\n", "b", "line 3: column a: \"x\" is not a number"),
            ("a,b\n1,2\n3,\n", "b", "line 3: column b: empty cell"),
            ("a,b\n1,2\n", "c", "no target column \"c\"; the columns are a, b"),
            ("a,b\n", "b", "no data rows"),
            ("a,b\n1,x\n2,y\n3,z\n", "b", "target column b has 3 distinct values"),
        ] {
            let e = load(text, target).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_shipped_taxi_data_has_the_reference_models_features() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/chicago_taxi_modeldata.csv");
        let d = load(&std::fs::read_to_string(path).unwrap(), "tip").unwrap();
        assert_eq!(d.rows(), 10_000);
        let meta = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/models/gbt_taxi_xgb.meta.json"
        ))
        .unwrap();
        for f in &d.features {
            assert!(meta.contains(&format!("\"{f}\"")), "{f} is one of the reference model's features");
        }
        assert_eq!(d.features.len(), 22);
    }
}
