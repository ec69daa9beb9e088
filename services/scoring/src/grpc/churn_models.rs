//! Churn models: training from a CSV or from the platform's history, listing, activation.

use chrono::NaiveDate;
use nordstern_accounts::remote::list_all_accounts;
use nordstern_domain::churn;
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    scoring::v1::{self as pb},
};
use nordstern_runtime::paging::{page, page_size_of};
use nordstern_runtime::status::internal_with_context;
use nordstern_runtime::{status::FieldViolations, wire::id_field};
use prost::Message;
use tonic::{Request, Response, Status};

use super::*;
use crate::{convert::*, models, store::ACTIVE_MODEL};

pub(super) fn held_out_fraction(v: &mut FieldViolations, raw: f64) -> f64 {
    if raw == 0.0 {
        return churn::DEFAULT_HELD_OUT_FRACTION;
    }
    if !(raw > 0.0 && raw <= 0.5) {
        v.add("held_out_fraction", "must be 0 (0.2) or within (0, 0.5]");
    }
    raw
}

/// The CSV of a request, from `csv_text` or UTF-8 `csv_data`, and the field it came in:
/// problems with the content are reported under the field the client set.
pub(super) fn csv_content(
    v: &mut FieldViolations,
    text: Option<&String>,
    data: Option<&Vec<u8>>,
) -> (Option<String>, &'static str) {
    match (text, data) {
        (Some(text), _) => (Some(text.clone()), "csv_text"),
        (None, Some(bytes)) => (
            v.check(
                "csv_data",
                String::from_utf8(bytes.clone()).map_err(|_| "must be UTF-8".to_owned()),
            ),
            "csv_data",
        ),
        (None, None) => {
            v.add("csv_data", "is required (csv_data or csv_text)");
            (None, "csv_data")
        }
    }
}

/// The request's delimiter, or a violation.
pub(super) fn delimiter(v: &mut FieldViolations, raw: &str) -> Option<char> {
    match churn::delimiter_from_request(raw) {
        Ok(delimiter) => Some(delimiter),
        Err(violation) => {
            v.merge(violation);
            None
        }
    }
}

/// CSV problems as INVALID_ARGUMENT, the content's under the field the client set.
pub(super) fn csv_violations(violations: Vec<churn::CsvViolation>, content_field: &str) -> Status {
    let mut v = FieldViolations::new();
    for violation in violations {
        let field = if violation.field == "csv_data" {
            content_field.to_owned()
        } else {
            violation.field
        };
        v.add(field, violation.description);
    }
    Status::from(v)
}

pub(super) fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
}

pub(super) async fn train_churn_model_from_history(
    grpc: &ScoringGrpc,
    request: Request<pb::TrainChurnModelFromHistoryRequest>,
) -> Result<Response<pb::TrainChurnModelFromHistoryResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let cutoff_days = match request.cutoff_days {
        0 => 90,
        days @ 1..=3650 => i64::from(days),
        _ => {
            v.add("cutoff_days", "must be between 0 (90 days) and 3650");
            90
        }
    };
    let held_out = held_out_fraction(&mut v, request.held_out_fraction);
    let earliest_cutoff = request.earliest_cutoff.as_ref().and_then(|date| {
        v.check(
            "earliest_cutoff",
            date_from_proto(Some(date)).ok_or_else(|| "is not a valid date".to_owned()),
        )
    });
    v.into_result()?;
    let mut outcomes = grpc.outcomes().await?;
    if let Some(earliest) = earliest_cutoff {
        outcomes.retain(|(_, date, _)| *date - chrono::Duration::days(cutoff_days) >= earliest);
    }
    let in_force = grpc.scoring.in_force().await?;
    let dataset = grpc
        .scoring
        .history_dataset(outcomes, cutoff_days, &in_force.config)
        .await?;
    if dataset.rows.len() < churn::MIN_TRAINING_ROWS {
        return Err(Status::failed_precondition(format!(
            "only {} renewals and churns of accounts that were customers {cutoff_days} days before; at least {} are needed (import history with TrainChurnModelFromCsv)",
            dataset.rows.len(),
            churn::MIN_TRAINING_ROWS
        )));
    }
    let model = models::train_and_store(
        &grpc.scoring.store,
        dataset,
        held_out,
        request.seed as u64,
        pb::ChurnModelSource::PlatformHistory,
        String::new(),
    )
    .await?;
    Ok(Response::new(pb::TrainChurnModelFromHistoryResponse {
        model: Some(model),
    }))
}

pub(super) async fn train_churn_model_from_csv(
    grpc: &ScoringGrpc,
    request: Request<pb::TrainChurnModelFromCsvRequest>,
) -> Result<Response<pb::TrainChurnModelFromCsvResponse>, Status> {
    use pb::train_churn_model_from_csv_request::Content;
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let (text, content_field) = match &request.content {
        Some(Content::CsvText(text)) => csv_content(&mut v, Some(text), None),
        Some(Content::CsvData(bytes)) => csv_content(&mut v, None, Some(bytes)),
        None => csv_content(&mut v, None, None),
    };
    let delimiter = delimiter(&mut v, &request.delimiter);
    let held_out = held_out_fraction(&mut v, request.held_out_fraction);
    let (Some(text), Some(delimiter)) = (text, delimiter) else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let dataset = churn::parse_csv(
        &text,
        delimiter,
        &request.numeric_columns,
        &request.categorical_columns,
        &request.label_column,
    )
    .map_err(|violations| csv_violations(violations, content_field))?;
    let model = models::train_and_store(
        &grpc.scoring.store,
        dataset,
        held_out,
        request.seed as u64,
        pb::ChurnModelSource::Csv,
        request.label_column,
    )
    .await?;
    Ok(Response::new(pb::TrainChurnModelFromCsvResponse {
        model: Some(model),
    }))
}

pub(super) async fn get_churn_model(
    grpc: &ScoringGrpc,
    request: Request<pb::GetChurnModelRequest>,
) -> Result<Response<pb::GetChurnModelResponse>, Status> {
    let request = request.into_inner();
    let active = grpc.active_model_id().await?;
    let wanted = if request.model_id.is_empty() {
        active.clone()
    } else {
        request.model_id.clone()
    };
    let model = if wanted == models::DEFAULT_MODEL_ID {
        models::default_model_message(active == wanted)
    } else {
        let mut v = FieldViolations::new();
        id_field(&mut v, "model_id", &wanted);
        v.into_result()?;
        let mut stored = models::stored_model(&grpc.scoring.store, &wanted)
            .await?
            .ok_or_else(|| Status::not_found(format!("churn model {wanted} not found")))?;
        stored.active = active == wanted;
        stored
    };
    Ok(Response::new(pb::GetChurnModelResponse {
        model: Some(model),
    }))
}

pub(super) async fn list_churn_models(
    grpc: &ScoringGrpc,
    request: Request<pb::ListChurnModelsRequest>,
) -> Result<Response<pb::ListChurnModelsResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let limit = page_size_of(&mut v, request.page_size);
    let before =
        Cursor::decode::<1>(&mut v, &request.page_token).and_then(|[n]| number::<i32>(&mut v, &n));
    v.into_result()?;
    // Version 0 is the default model, listed last.
    if before == Some(0) {
        return Ok(Response::new(pb::ListChurnModelsResponse::default()));
    }
    let active = grpc.active_model_id().await?;
    let rows = grpc
        .scoring
        .store
        .models(before, limit + 1)
        .await
        .map_err(crate::db_error)?;
    let mut models = Vec::with_capacity(rows.len() + 1);
    for (_, body) in rows {
        let mut model = pb::ChurnModel::decode(body.as_slice())
            .map_err(|e| internal_with_context("a stored model does not decode", &e))?;
        model.active = model.model_id == active;
        models.push(model);
    }
    if (models.len() as u64) <= limit {
        models.push(models::default_model_message(
            active == models::DEFAULT_MODEL_ID,
        ));
    }
    let (models, next_page_token) = page(models, limit, |m| m.version.to_string());
    Ok(Response::new(pb::ListChurnModelsResponse {
        models,
        next_page_token,
    }))
}

pub(super) async fn activate_churn_model(
    grpc: &ScoringGrpc,
    request: Request<pb::ActivateChurnModelRequest>,
) -> Result<Response<pb::ActivateChurnModelResponse>, Status> {
    let request = request.into_inner();
    let mut model = if request.model_id == models::DEFAULT_MODEL_ID {
        models::default_model_message(true)
    } else {
        let mut v = FieldViolations::new();
        id_field(&mut v, "model_id", &request.model_id);
        v.into_result()?;
        models::stored_model(&grpc.scoring.store, &request.model_id)
            .await?
            .ok_or_else(|| {
                Status::not_found(format!("churn model {} not found", request.model_id))
            })?
    };
    if !model.activatable {
        return Err(Status::failed_precondition(format!(
            "model {} uses columns that are not platform features ({}); it reports metrics but cannot score accounts",
            model.model_id,
            model
                .numeric_columns
                .iter()
                .chain(&model.categorical_columns)
                .filter(|c| !churn::PLATFORM_NUMERIC_FEATURES.contains(&c.as_str())
                    && !churn::PLATFORM_CATEGORICAL_FEATURES.contains(&c.as_str()))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let announcement = nordstern_outbox::OutboxEvent::new(
        nordstern_domain::webhook::EventType::ChurnModelActivated,
        serde_json::json!({
            "modelId": model.model_id,
            "version": model.version,
            "activatedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    );
    grpc.scoring
        .store
        .set_state_announced(ACTIVE_MODEL, &model.model_id, &announcement)
        .await
        .map_err(crate::db_error)?;
    model.active = true;
    let accounts_rescored = grpc.rescore_all().await?;
    Ok(Response::new(pb::ActivateChurnModelResponse {
        model: Some(model),
        accounts_rescored,
    }))
}

impl ScoringGrpc {
    pub(super) async fn active_model_id(&self) -> Result<String, Status> {
        Ok(self
            .scoring
            .store
            .state(ACTIVE_MODEL)
            .await
            .map_err(crate::db_error)?
            .unwrap_or_else(|| models::DEFAULT_MODEL_ID.to_owned()))
    }

    /// Accounts that churned (their churn date) or renewed (the effective date of each
    /// RENEWAL), from the accounts service in pages.
    pub(super) async fn outcomes(&self) -> Result<Vec<(String, NaiveDate, bool)>, Status> {
        let accounts = &self.scoring.accounts;
        let mut outcomes = Vec::new();
        for account in
            list_all_accounts(accounts, accounts_pb::ListAccountsRequest::default()).await?
        {
            if let Some(date) = account
                .churned_on
                .as_ref()
                .and_then(|d| date_from_proto(Some(d)))
            {
                outcomes.push((account.account_id.clone(), date, true));
            }
        }
        let renewals = accounts_pb::ListContractEventsRequest {
            page_size: nordstern_runtime::paging::MAX_PAGE_SIZE,
            kinds: vec![accounts_pb::ContractEventKind::Renewal as i32],
            ..Default::default()
        };
        let renewals = nordstern_runtime::paging::all_pages(renewals, |request| {
            accounts.list_contract_events(Request::new(request))
        })
        .await?;
        for event in renewals {
            if let Some(date) = event
                .effective_date
                .as_ref()
                .and_then(|d| date_from_proto(Some(d)))
            {
                outcomes.push((event.account_id, date, false));
            }
        }
        Ok(outcomes)
    }
}
