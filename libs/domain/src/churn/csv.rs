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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn records(text: &str, delimiter: char) -> Vec<(usize, Vec<String>)> {
        Records::new(text, delimiter)
            .map(|r| r.map(|r| (r.line, r.fields)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A valid file: header plus `rows` lines alternating churned and renewed.
    fn file(header: &str, rows: &[&str]) -> String {
        let mut text = format!("{header}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text
    }

    fn ten_rows() -> Vec<String> {
        (0..10)
            .map(|i| format!("{i},{},SME", if i % 2 == 0 { "yes" } else { "no" }))
            .collect()
    }

    fn parse(text: &str) -> Result<Dataset, Vec<CsvViolation>> {
        parse_csv(text, ',', &names(&["arr"]), &names(&["segment"]), "churned")
    }

    fn descriptions(violations: &[CsvViolation]) -> Vec<String> {
        violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect()
    }

    #[test]
    fn quoted_fields_hold_delimiters_newlines_and_doubled_quotes() {
        let text = "a,b,c\r\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nplain,5\" screen,\"\"\n";
        assert_eq!(
            records(text, ','),
            vec![
                (1, names(&["a", "b", "c"])),
                (2, names(&["x,y", "say \"hi\"", "two\nlines"])),
                (4, names(&["plain", "5\" screen", ""])),
            ]
        );
    }

    #[test]
    fn line_endings_blank_lines_and_no_trailing_newline() {
        assert_eq!(
            records("a;b\r\n1;2\r\n\r\n3;4", ';'),
            vec![
                (1, names(&["a", "b"])),
                (2, names(&["1", "2"])),
                (4, names(&["3", "4"])),
            ]
        );
        assert_eq!(
            records("a\rb\r", ','),
            vec![(1, names(&["a"])), (2, names(&["b"]))]
        );
        assert_eq!(records("a\n\n\n", ','), vec![(1, names(&["a"]))]);
        assert_eq!(records("a,,\n", ','), vec![(1, names(&["a", "", ""]))]);
    }

    #[test]
    fn broken_quoting_is_reported_with_its_line() {
        let mut reader = Records::new("a\n\"open\nstill open", ',');
        assert!(reader.next().unwrap().is_ok());
        assert_eq!(
            reader.next().unwrap().err().unwrap(),
            "line 2: a quoted field is not closed"
        );
        assert!(reader.next().is_none());
        let mut reader = Records::new("\"a\"b,c", ',');
        assert_eq!(
            reader.next().unwrap().err().unwrap(),
            "line 1: text after the closing quote of a field"
        );
    }

    #[test]
    fn parses_a_file_with_bom_crlf_spaces_and_missing_cells() {
        let mut text = "\u{feff}id, arr ,segment,churned\r\n".to_owned();
        for i in 0..10 {
            let arr = if i == 3 {
                String::new()
            } else {
                format!(" {i}.5 ")
            };
            let label = ["Yes", " churned ", "0", "RENEWED", "true"][i % 5];
            let segment = if i == 4 { "" } else { "\"SME, EU\"" };
            text.push_str(&format!("{i},{arr},{segment},{label}\r\n"));
        }
        let dataset = parse(&text).unwrap();
        assert_eq!(dataset.numeric_columns, names(&["arr"]));
        assert_eq!(dataset.categorical_columns, names(&["segment"]));
        assert_eq!(dataset.rows.len(), 10);
        assert_eq!(dataset.rows[0].numeric, vec![Some(0.5)]);
        assert_eq!(dataset.rows[3].numeric, vec![None]);
        assert_eq!(dataset.rows[0].categorical, names(&["SME, EU"]));
        assert_eq!(dataset.rows[4].categorical, names(&[""]));
        let labels: Vec<bool> = dataset.rows.iter().map(|r| r.churned).collect();
        assert_eq!(
            labels,
            vec![
                true, true, false, false, true, true, true, false, false, true
            ]
        );
    }

    #[test]
    fn other_delimiters_and_request_delimiters() {
        let text = ten_rows().join("\n").replace(',', "\t");
        let dataset = parse_csv(
            &format!("arr\tchurned\tsegment\n{text}"),
            '\t',
            &names(&["arr"]),
            &[],
            "churned",
        )
        .unwrap();
        assert_eq!(dataset.rows.len(), 10);
        assert_eq!(delimiter_from_request(""), Ok(','));
        assert_eq!(delimiter_from_request(";"), Ok(';'));
        assert_eq!(delimiter_from_request("\t"), Ok('\t'));
        for bad in [",,", "\"", "\n", "ab"] {
            assert_eq!(delimiter_from_request(bad).unwrap_err().field, "delimiter");
        }
        let refused = parse_csv("a", '"', &names(&["a"]), &[], "b").unwrap_err();
        assert_eq!(refused, vec![delimiter_violation()]);
    }

    #[test]
    fn bad_cells_are_reported_with_line_numbers() {
        let mut rows = ten_rows();
        rows[1] = "abc,no,SME".to_owned();
        rows[3] = "\"multi\nline\",maybe,SME".to_owned();
        rows[5] = "5,yes".to_owned();
        rows[6] = "NaN,yes,SME".to_owned();
        let violations = parse(&file(
            "arr,churned,segment",
            &rows.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .unwrap_err();
        assert_eq!(
            descriptions(&violations),
            vec![
                "csv_data: line 3: 'abc' in column arr is not a number",
                "csv_data: line 5: 'multi\nline' in column arr is not a number",
                "csv_data: line 5: 'maybe' in column churned is not a label (1/true/yes/churned or 0/false/no/renewed)",
                "csv_data: line 8: 2 fields where the header has 3",
                "csv_data: line 9: 'NaN' in column arr is not a number",
            ]
        );
    }

    #[test]
    fn unknown_duplicate_and_overlapping_columns() {
        let text = file("arr,churned,segment,arr2,arr2", &[]);
        let violations = parse_csv(
            &text,
            ',',
            &names(&["arr", "mrr", "arr", "arr2"]),
            &names(&["segment", "a=b", "churned"]),
            "segment",
        )
        .unwrap_err();
        assert_eq!(
            descriptions(&violations),
            vec![
                "numeric_columns[2]: 'arr' is already numeric_columns[0]",
                "categorical_columns[1]: must not contain '='",
                "label_column: 'segment' is already categorical_columns[0]",
                "numeric_columns[1]: no column named 'mrr' in the header",
                "numeric_columns[3]: column 'arr2' appears more than once in the header",
            ]
        );
        let violations = parse_csv(&text, ',', &[], &[], "").unwrap_err();
        assert_eq!(
            descriptions(&violations),
            vec![
                "numeric_columns: at least one numeric or categorical column is needed",
                "label_column: must not be empty",
            ]
        );
    }

    #[test]
    fn empty_files_too_few_rows_and_a_single_class() {
        for empty in ["", "\u{feff}", " \r\n"] {
            assert_eq!(
                descriptions(&parse(empty).unwrap_err()),
                vec!["csv_data: is empty; a header row and data rows are needed"]
            );
        }
        let rows = ten_rows();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        assert_eq!(
            descriptions(&parse(&file("arr,churned,segment", &rows[..9])).unwrap_err()),
            vec!["csv_data: has 9 data rows; at least 10 are needed"]
        );
        let all_churned: Vec<String> = (0..12).map(|i| format!("{i},1,SME")).collect();
        let all_churned: Vec<&str> = all_churned.iter().map(String::as_str).collect();
        assert_eq!(
            descriptions(&parse(&file("arr,churned,segment", &all_churned)).unwrap_err()),
            vec!["csv_data: needs both churned and renewed rows; all 12 are churned"]
        );
        assert!(parse(&file("arr,churned,segment", &rows)).is_ok());
        // Duplicate names among columns nobody asked for are no concern.
        let rows: Vec<String> = rows.iter().map(|r| format!("{r},x,y")).collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        assert!(parse(&file("arr,churned,segment,note,note", &rows)).is_ok());
    }

    #[test]
    fn violations_are_capped_with_a_summary() {
        let rows: Vec<String> = (0..1000).map(|_| "x,yes,SME".to_owned()).collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let violations = parse(&file("arr,churned,segment", &rows)).unwrap_err();
        assert_eq!(violations.len(), MAX_CSV_VIOLATIONS + 1);
        assert_eq!(
            violations.last().unwrap().description,
            "980 more problems not listed"
        );
        let long = "y".repeat(500);
        let violations = parse(&format!("arr,churned,segment\n{long},1,A\n")).unwrap_err();
        assert!(violations[0].description.len() < 100, "{violations:?}");
    }
}
