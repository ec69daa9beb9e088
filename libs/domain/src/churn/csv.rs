//! CSV import of churn history (RFC 4180). Problems are reported as field violations
//! named in the terms of `TrainChurnModelFromCsvRequest`, so the service can hand them
//! to the caller unchanged.

use std::collections::{BTreeMap, BTreeSet};

use super::{Dataset, MIN_TRAINING_ROWS, Row, check_column_name};
use crate::csv::Records;

/// Most violations reported; a summary line stands for the rest, so a broken 1 GB file
/// does not produce a 1 GB error.
pub const MAX_CSV_VIOLATIONS: usize = 20;

/// Longest excerpt of a bad cell quoted back in a message, in characters.
const MAX_QUOTED_CHARS: usize = 40;

/// Field of the request that carries the file.
pub(super) const CONTENT_FIELD: &str = "csv_data";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvViolation {
    /// The request field, e.g. `numeric_columns[2]`, `label_column` or `csv_data`.
    pub field: String,
    pub description: String,
}

impl CsvViolation {
    fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        CsvViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// The request's `delimiter`: empty means ','.
pub fn delimiter_from_request(raw: &str) -> Result<char, CsvViolation> {
    let mut chars = raw.chars();
    let delimiter = match (chars.next(), chars.next()) {
        (None, _) => ',',
        (Some(c), None) => c,
        (Some(_), Some(_)) => return Err(delimiter_violation()),
    };
    check_delimiter(delimiter)?;
    Ok(delimiter)
}

fn delimiter_violation() -> CsvViolation {
    CsvViolation::new(
        "delimiter",
        "must be one character other than a quote or a line break",
    )
}

pub(super) fn check_delimiter(delimiter: char) -> Result<(), CsvViolation> {
    if matches!(delimiter, '"' | '\r' | '\n') {
        return Err(delimiter_violation());
    }
    Ok(())
}

/// Collects violations up to the cap and counts the rest.
#[derive(Default)]
pub(super) struct Violations {
    listed: Vec<CsvViolation>,
    omitted: usize,
}

impl Violations {
    pub(super) fn push(&mut self, field: &str, description: String) {
        if self.listed.len() < MAX_CSV_VIOLATIONS {
            self.listed.push(CsvViolation::new(field, description));
        } else {
            self.omitted += 1;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    pub(super) fn into_result<T>(self, value: T) -> Result<T, Vec<CsvViolation>> {
        if self.listed.is_empty() {
            return Ok(value);
        }
        let mut listed = self.listed;
        if self.omitted > 0 {
            listed.push(CsvViolation::new(
                CONTENT_FIELD,
                format!("{} more problems not listed", self.omitted),
            ));
        }
        Err(listed)
    }
}

/// Parses a CSV export with a header row into a [`Dataset`] holding the named columns
/// in the order given.
///
/// Header names are trimmed and matched case-sensitively. Numeric cells are trimmed;
/// an empty one is missing. Categorical cells are trimmed; an empty one is missing.
/// Labels are trimmed and case-insensitive: 1/true/yes/churned or 0/false/no/renewed.
/// Blank lines are skipped. Line numbers in messages are 1-based physical lines (a
/// quoted field may span several), the header being line 1.
pub fn parse_csv(
    text: &str,
    delimiter: char,
    numeric_columns: &[String],
    categorical_columns: &[String],
    label_column: &str,
) -> Result<Dataset, Vec<CsvViolation>> {
    let mut violations = Violations::default();
    if let Err(violation) = check_delimiter(delimiter) {
        // Nothing can be read without a usable delimiter.
        return Err(vec![violation]);
    }
    check_columns(
        numeric_columns,
        categorical_columns,
        label_column,
        &mut violations,
    );

    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        violations.push(
            CONTENT_FIELD,
            "is empty; a header row and data rows are needed".to_owned(),
        );
        return violations.into_result(Dataset::default());
    }
    let mut records = Records::new(text, delimiter);
    let header = match records.next() {
        Some(Ok(record)) => record.fields,
        Some(Err(error)) => {
            violations.push(CONTENT_FIELD, error);
            return violations.into_result(Dataset::default());
        }
        None => Vec::new(),
    };
    let (positions, duplicates) = header_positions(&header);
    let locate = |field: String, name: &str, violations: &mut Violations| {
        let name = name.trim();
        if check_column_name(name).is_err() {
            return None;
        }
        if duplicates.contains(name) {
            violations.push(
                &field,
                format!("column '{name}' appears more than once in the header"),
            );
            return None;
        }
        let position = positions.get(name).copied();
        if position.is_none() {
            violations.push(&field, format!("no column named '{name}' in the header"));
        }
        position
    };
    let numeric_at: Vec<Option<usize>> = numeric_columns
        .iter()
        .enumerate()
        .map(|(i, name)| locate(format!("numeric_columns[{i}]"), name, &mut violations))
        .collect();
    let categorical_at: Vec<Option<usize>> = categorical_columns
        .iter()
        .enumerate()
        .map(|(i, name)| locate(format!("categorical_columns[{i}]"), name, &mut violations))
        .collect();
    let label_at = locate("label_column".to_owned(), label_column, &mut violations);
    if !violations.is_empty() {
        // Without the columns every row would repeat the same complaint.
        return violations.into_result(Dataset::default());
    }
    let numeric_at: Vec<usize> = numeric_at.into_iter().flatten().collect();
    let categorical_at: Vec<usize> = categorical_at.into_iter().flatten().collect();
    let Some(label_at) = label_at else {
        // Unreachable after the checks above; refuse rather than return an empty set.
        violations.push("label_column", "no such column".to_owned());
        return violations.into_result(Dataset::default());
    };

    let numeric_names: Vec<String> = numeric_columns
        .iter()
        .map(|n| n.trim().to_owned())
        .collect();
    let categorical_names: Vec<String> = categorical_columns
        .iter()
        .map(|n| n.trim().to_owned())
        .collect();
    let label_name = label_column.trim();
    let mut rows = Vec::new();
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                // The quoting is broken, so where later records start is unknown.
                violations.push(CONTENT_FIELD, error);
                break;
            }
        };
        let line = record.line;
        let fields = record.fields;
        if fields.len() != header.len() {
            violations.push(CONTENT_FIELD, field_count(line, fields.len(), header.len()));
            continue;
        }
        let mut ok = true;
        let mut numeric = Vec::with_capacity(numeric_at.len());
        for (name, &at) in numeric_names.iter().zip(&numeric_at) {
            match parse_number(&fields[at]) {
                Ok(value) => numeric.push(value),
                Err(()) => {
                    ok = false;
                    violations.push(CONTENT_FIELD, not_a_number(line, name, &fields[at]));
                }
            }
        }
        let churned = match parse_label(&fields[label_at]) {
            Some(churned) => churned,
            None => {
                ok = false;
                violations.push(
                    CONTENT_FIELD,
                    format!(
                        "line {line}: '{}' in column {label_name} is not a label \
                         (1/true/yes/churned or 0/false/no/renewed)",
                        excerpt(&fields[label_at])
                    ),
                );
                false
            }
        };
        if ok {
            let categorical = categorical_at
                .iter()
                .map(|&at| fields[at].trim().to_owned())
                .collect();
            rows.push(Row {
                numeric,
                categorical,
                churned,
            });
        }
    }
    if violations.is_empty() {
        let churned = rows.iter().filter(|row| row.churned).count();
        if rows.len() < MIN_TRAINING_ROWS {
            violations.push(
                CONTENT_FIELD,
                format!(
                    "has {} data rows; at least {MIN_TRAINING_ROWS} are needed",
                    rows.len()
                ),
            );
        } else if churned == 0 || churned == rows.len() {
            let class = if churned == 0 { "renewed" } else { "churned" };
            violations.push(
                CONTENT_FIELD,
                format!(
                    "needs both churned and renewed rows; all {} are {class}",
                    rows.len()
                ),
            );
        }
    }
    violations.into_result(Dataset {
        numeric_columns: numeric_names,
        categorical_columns: categorical_names,
        rows,
    })
}

/// Names, duplicates and overlaps of the requested columns.
fn check_columns(
    numeric_columns: &[String],
    categorical_columns: &[String],
    label_column: &str,
    violations: &mut Violations,
) {
    if numeric_columns.is_empty() && categorical_columns.is_empty() {
        violations.push(
            "numeric_columns",
            "at least one numeric or categorical column is needed".to_owned(),
        );
    }
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    let named = numeric_columns
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("numeric_columns[{i}]"), name.as_str()))
        .chain(
            categorical_columns
                .iter()
                .enumerate()
                .map(|(i, name)| (format!("categorical_columns[{i}]"), name.as_str())),
        )
        .chain(std::iter::once(("label_column".to_owned(), label_column)));
    for (field, name) in named {
        let name = name.trim();
        if let Err(problem) = check_column_name(name) {
            violations.push(&field, problem);
            continue;
        }
        match seen.get(name) {
            Some(first) => violations.push(&field, format!("'{name}' is already {first}")),
            None => {
                seen.insert(name, field);
            }
        }
    }
}

/// Header name → position, and the names that appear more than once (a requested one
/// of those cannot be told apart; others are no concern of ours).
pub(super) fn header_positions(header: &[String]) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let mut positions = BTreeMap::new();
    let mut duplicates = BTreeSet::new();
    for (at, name) in header.iter().enumerate() {
        let name = name.trim();
        if positions.insert(name.to_owned(), at).is_some() {
            duplicates.insert(name.to_owned());
        }
    }
    (positions, duplicates)
}

pub(super) fn parse_number(cell: &str) -> Result<Option<f64>, ()> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    // `f64::from_str` also accepts "inf" and "NaN", which are not data.
    match cell.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(()),
    }
}

fn parse_label(cell: &str) -> Option<bool> {
    match cell.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" | "churned" => Some(true),
        "0" | "false" | "no" | "renewed" => Some(false),
        _ => None,
    }
}

/// A row whose field count is not the header's.
pub(super) fn field_count(line: usize, fields: usize, header: usize) -> String {
    format!("line {line}: {fields} fields where the header has {header}")
}

/// A numeric cell that does not read as a number.
pub(super) fn not_a_number(line: usize, column: &str, cell: &str) -> String {
    format!(
        "line {line}: '{}' in column {column} is not a number",
        excerpt(cell)
    )
}

fn excerpt(cell: &str) -> String {
    if cell.chars().count() <= MAX_QUOTED_CHARS {
        return cell.to_owned();
    }
    let mut short: String = cell.chars().take(MAX_QUOTED_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests;
