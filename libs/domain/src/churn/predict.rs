//! Scoring rows with a trained model: a CSV whose header names the model's feature
//! columns (the same shape it was trained on, without the label), read into feature
//! values with every problem named by line and column, at most
//! [`MAX_PREDICTION_ROWS`] rows per call.

use super::csv::{
    CONTENT_FIELD, Violations, check_delimiter, field_count, header_positions, not_a_number,
    parse_number,
};
use super::{CsvViolation, FeatureValues, Model};
use crate::csv::Records;

/// Rows scored in one call.
pub const MAX_PREDICTION_ROWS: usize = 10_000;

/// One row to score: its CSV line (1-based, the header is line 1), the value that names
/// it (the id column's), and its features.
#[derive(Debug, Clone, PartialEq)]
pub struct RowToScore {
    pub line: usize,
    pub id: String,
    pub values: FeatureValues,
}

/// Reads `text` for `model`. The header must hold every feature column of the model;
/// other columns are ignored, except the id column: `id_column` when given, otherwise
/// the first column that is not a feature (none: ids are empty). An empty numeric cell
/// is missing (scored at the training mean); an empty or unseen category contributes
/// nothing.
pub fn rows_to_score(
    text: &str,
    delimiter: char,
    model: &Model,
    id_column: &str,
) -> Result<Vec<RowToScore>, Vec<CsvViolation>> {
    let mut violations = Violations::default();
    if let Err(violation) = check_delimiter(delimiter) {
        return Err(vec![violation]);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Records::new(text, delimiter);
    let header = match records.next() {
        Some(Ok(record)) => record.fields,
        Some(Err(error)) => {
            violations.push(CONTENT_FIELD, error);
            return violations.into_result(Vec::new());
        }
        None => {
            violations.push(CONTENT_FIELD, "is empty; a header row is needed".to_owned());
            return violations.into_result(Vec::new());
        }
    };
    let (positions, duplicates) = header_positions(&header);
    let features = model
        .numeric_columns()
        .iter()
        .chain(model.categorical_columns())
        .collect::<Vec<_>>();
    for name in &features {
        if duplicates.contains(name.as_str()) {
            violations.push(
                CONTENT_FIELD,
                format!("column '{name}' appears more than once in the header"),
            );
        } else if !positions.contains_key(name.as_str()) {
            violations.push(
                CONTENT_FIELD,
                format!("no column named '{name}' in the header; the model needs it"),
            );
        }
    }
    let id_at = if id_column.trim().is_empty() {
        header
            .iter()
            .position(|name| !features.iter().any(|f| f.as_str() == name.trim()))
    } else {
        let at = positions.get(id_column.trim()).copied();
        if at.is_none() {
            violations.push(
                "id_column",
                format!("no column named '{}' in the header", id_column.trim()),
            );
        }
        at
    };
    if !violations.is_empty() {
        return violations.into_result(Vec::new());
    }
    let at = |name: &String| positions.get(name.as_str()).copied().unwrap_or(0);
    let numeric_at: Vec<(&String, usize)> =
        model.numeric_columns().iter().map(|n| (n, at(n))).collect();
    let categorical_at: Vec<(&String, usize)> = model
        .categorical_columns()
        .iter()
        .map(|n| (n, at(n)))
        .collect();

    let mut rows = Vec::new();
    let mut data_rows = 0usize;
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                violations.push(CONTENT_FIELD, error);
                break;
            }
        };
        data_rows += 1;
        let (line, fields) = (record.line, record.fields);
        if fields.len() != header.len() {
            violations.push(CONTENT_FIELD, field_count(line, fields.len(), header.len()));
            continue;
        }
        let mut values = FeatureValues::new();
        for (name, at) in &numeric_at {
            match parse_number(&fields[*at]) {
                Ok(value) => {
                    values.numeric.insert((*name).clone(), value);
                }
                Err(()) => violations.push(CONTENT_FIELD, not_a_number(line, name, &fields[*at])),
            }
        }
        for (name, at) in &categorical_at {
            values
                .categorical
                .insert((*name).clone(), fields[*at].trim().to_owned());
        }
        rows.push(RowToScore {
            line,
            id: id_at.map_or_else(String::new, |at| fields[at].trim().to_owned()),
            values,
        });
    }
    if data_rows == 0 {
        violations.push(CONTENT_FIELD, "has no data rows".to_owned());
    } else if data_rows > MAX_PREDICTION_ROWS {
        violations.push(
            CONTENT_FIELD,
            format!("has {data_rows} data rows; at most {MAX_PREDICTION_ROWS} per call"),
        );
    }
    violations.into_result(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::churn::{Coefficient, sigmoid};

    /// arr (mean 50, sd 10, +0.8) and segment (SME +0.5), intercept −1.
    fn model() -> Model {
        Model::from_parts(
            vec!["arr".to_owned()],
            vec!["segment".to_owned()],
            -1.0,
            vec![
                Coefficient {
                    feature: "arr".to_owned(),
                    coefficient: 0.8,
                    mean: 50.0,
                    standard_deviation: 10.0,
                },
                Coefficient {
                    feature: "segment=SME".to_owned(),
                    coefficient: 0.5,
                    mean: 0.0,
                    standard_deviation: 1.0,
                },
            ],
            None,
        )
        .unwrap()
    }

    #[test]
    fn rows_are_read_with_their_line_and_id_and_score_as_the_model_says() {
        let text = "account_id,segment,arr,notes\nA-1,SME,70,x\nA-2,ENTERPRISE,,\n";
        let rows = rows_to_score(text, ',', &model(), "").unwrap();
        let read: Vec<(usize, &str)> = rows.iter().map(|r| (r.line, r.id.as_str())).collect();
        assert_eq!(read, [(2, "A-1"), (3, "A-2")]);
        let model = model();
        // −1 + 0.8 × (70 − 50) / 10 + 0.5 = 1.1.
        let first = model.predict(&rows[0].values);
        assert!((first.probability - sigmoid(1.1)).abs() < 1e-12);
        assert_eq!(first.top_drivers[0].feature, "arr");
        // arr missing is the mean, an unseen segment nothing: −1.
        assert!((model.predict(&rows[1].values).probability - sigmoid(-1.0)).abs() < 1e-12);
        let by_name = rows_to_score(text, ',', &model, "notes").unwrap();
        assert_eq!(by_name[0].id, "x");
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let missing = rows_to_score("account_id,arr\nA,1\n", ',', &model(), "crm_id").unwrap_err();
        let said: Vec<(&str, &str)> = missing
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            said,
            [
                (
                    "csv_data",
                    "no column named 'segment' in the header; the model needs it"
                ),
                ("id_column", "no column named 'crm_id' in the header"),
            ]
        );
        let bad = rows_to_score(
            "id,arr,segment\nA,many,SME\nB,1\nC,2,SME\n",
            ',',
            &model(),
            "",
        )
        .unwrap_err();
        let said: Vec<&str> = bad.iter().map(|v| v.description.as_str()).collect();
        assert_eq!(
            said,
            [
                "line 2: 'many' in column arr is not a number",
                "line 3: 2 fields where the header has 3",
            ]
        );
        let empty = rows_to_score("id,arr,segment\n", ',', &model(), "").unwrap_err();
        assert_eq!(empty[0].description, "has no data rows");
    }

    #[test]
    fn more_rows_than_a_call_takes_are_refused() {
        let mut text = "id,arr,segment\n".to_owned();
        for i in 0..=MAX_PREDICTION_ROWS {
            text.push_str(&format!("{i},1,SME\n"));
        }
        let refused = rows_to_score(&text, ',', &model(), "").unwrap_err();
        assert_eq!(
            refused[0].description,
            format!("has 10001 data rows; at most {MAX_PREDICTION_ROWS} per call")
        );
    }

    proptest! {
        /// Whatever the row, the probability is within (0, 1), and the intercept and
        /// every contribution add up to its log-odds.
        #[test]
        fn contributions_add_up_to_the_logit(
            arr in prop::option::of(-1e6f64..1e6),
            segment in prop::sample::select(vec!["SME", "ENTERPRISE", ""]),
        ) {
            let cell = arr.map_or(String::new(), |a| a.to_string());
            let text = format!("id,arr,segment\nx,{cell},{segment}\n");
            let model = model();
            let rows = rows_to_score(&text, ',', &model, "").unwrap();
            let prediction = model.predict(&rows[0].values);
            prop_assert!((0.0..=1.0).contains(&prediction.probability));
            let sum: f64 = model.intercept()
                + model.contributions(&rows[0].values).iter().map(|d| d.contribution).sum::<f64>();
            prop_assert!((sum - prediction.logit).abs() < 1e-9 * (1.0 + prediction.logit.abs()));
        }
    }
}
