//! Batch prediction: any stored model (the active one by default) scores rows from a CSV
//! or given directly, with each row's probability and top drivers.

use nordstern_domain::churn::{self, FeatureValues, MAX_PREDICTION_ROWS, Model, RowToScore};
use nordstern_proto::scoring::v1::{self as pb, predict_churn_request::Content};
use nordstern_runtime::{status::FieldViolations, wire::id_field};
use tonic::{Request, Response, Status};

use super::churn_models::{csv_content, csv_violations, delimiter};
use super::*;
use crate::{convert::drivers_to_proto, models};

pub(super) async fn predict_churn(
    grpc: &ScoringGrpc,
    request: Request<pb::PredictChurnRequest>,
) -> Result<Response<pb::PredictChurnResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let model_id = if request.model_id.is_empty() {
        grpc.active_model_id().await?
    } else {
        request.model_id.clone()
    };
    if model_id != models::DEFAULT_MODEL_ID {
        id_field(&mut v, "model_id", &model_id);
    }
    let delimiter = delimiter(&mut v, &request.delimiter);
    let csv = |v: &mut FieldViolations, text, data| {
        let (text, field) = csv_content(v, text, data);
        text.map(|text| Input::Csv { text, field })
    };
    let input = match &request.content {
        Some(Content::Rows(rows)) => Some(Input::Rows(&rows.rows)),
        Some(Content::CsvText(text)) => csv(&mut v, Some(text), None),
        Some(Content::CsvData(data)) => csv(&mut v, None, Some(data)),
        None => {
            v.add("csv_data", "is required (csv_data, csv_text or rows)");
            None
        }
    };
    let (Some(input), Some(delimiter)) = (input, delimiter) else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let (model, meta) = models::model_by_id(&grpc.scoring.store, &model_id)
        .await?
        .ok_or_else(|| Status::not_found(format!("churn model {model_id} not found")))?;
    let rows = match input {
        Input::Csv { text, field } => {
            churn::rows_to_score(&text, delimiter, &model, &request.id_column)
                .map_err(|violations| csv_violations(violations, field))?
        }
        Input::Rows(rows) => given_rows(&model, rows)?,
    };
    let predictions = rows
        .into_iter()
        .enumerate()
        .map(|(index, row)| {
            let prediction = model.predict(&row.values);
            pb::RowPrediction {
                index: i32::try_from(index).unwrap_or(i32::MAX),
                line: i32::try_from(row.line).unwrap_or(i32::MAX),
                id: row.id,
                probability: prediction.probability,
                top_drivers: drivers_to_proto(prediction.top_drivers),
            }
        })
        .collect();
    Ok(Response::new(pb::PredictChurnResponse {
        model_id: meta.model_id,
        model_version: meta.version,
        predictions,
    }))
}

/// What a request asks to score.
enum Input<'a> {
    /// A CSV, with the request field it came in (problems are named under it).
    Csv {
        text: String,
        field: &'static str,
    },
    Rows(&'a [pb::FeatureRow]),
}

/// Rows given directly: every name must be a feature of the model of its kind, every
/// number finite.
fn given_rows(model: &Model, rows: &[pb::FeatureRow]) -> Result<Vec<RowToScore>, Status> {
    let mut v = FieldViolations::new();
    if rows.is_empty() {
        v.add("rows.rows", "at least one row is needed");
    }
    if rows.len() > MAX_PREDICTION_ROWS {
        v.add(
            "rows.rows",
            format!("at most {MAX_PREDICTION_ROWS} rows per call"),
        );
    }
    let mut read = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let mut values = FeatureValues::new();
        for (name, value) in &row.numeric {
            let field = format!("rows.rows[{index}].numeric[{name}]");
            if !model.numeric_columns().contains(name) {
                v.add(field, "is not a numeric feature of the model");
            } else if !value.is_finite() {
                v.add(field, "must be a finite number");
            } else {
                values.numeric.insert(name.clone(), Some(*value));
            }
        }
        for (name, value) in &row.categorical {
            if model.categorical_columns().contains(name) {
                values
                    .categorical
                    .insert(name.clone(), value.trim().to_owned());
            } else {
                v.add(
                    format!("rows.rows[{index}].categorical[{name}]"),
                    "is not a categorical feature of the model",
                );
            }
        }
        read.push(RowToScore {
            line: 0,
            id: row.id.clone(),
            values,
        });
    }
    v.into_result()?;
    Ok(read)
}
