//! The gRPC adapter of the scoring service: parse and validate, call the pipeline or the
//! store, map rows to messages.

use chrono::{NaiveDate, Utc};
use nordstern_accounts::remote::list_all_accounts;
use nordstern_domain::health::alerts::AlertStatus;
use nordstern_domain::{churn, health::HealthColor};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1 as common,
    scoring::v1::{self as pb, scoring_service_server::ScoringService},
};
use nordstern_runtime::bridge;
use nordstern_runtime::status::internal_with_context;
use nordstern_runtime::{
    client::BoxStream,
    status::FieldViolations,
    wire::{
        self, from_timestamp, id_field, id_list, now_micros, optional_id, page, page_size,
        timestamp,
    },
};
use prost::Message;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::{
    convert::*,
    models,
    pipeline::{SharedScoring, Target},
    store::{ACTIVE_MODEL, AlertFilter, AlertRow, ColorChangeRow, OpportunityRow, ScoreFilter},
};

/// Most ids of one batch read.
const MAX_BATCH: usize = 1_000;

#[derive(Clone)]
pub struct ScoringGrpc {
    scoring: SharedScoring,
}

impl ScoringGrpc {
    pub fn new(scoring: SharedScoring) -> Self {
        ScoringGrpc { scoring }
    }

    async fn rescore_all(&self) -> Result<i32, Status> {
        let report = self.scoring.recompute(Target::All).await?;
        Ok(clamp_i32(report.accounts_scored))
    }
}

/// Page tokens of composite keys: the key's parts joined by `~`, each checked on the way
/// back in.
fn token(parts: &[String]) -> String {
    parts.join("~")
}

fn parse_token<const N: usize>(v: &mut FieldViolations, raw: &str) -> Option<[String; N]> {
    if raw.is_empty() {
        return None;
    }
    let parts: Vec<String> = raw.split('~').map(str::to_owned).collect();
    match <[String; N]>::try_from(parts) {
        Ok(parts) => Some(parts),
        Err(_) => {
            v.add("page_token", "is not a token this service issued");
            None
        }
    }
}

fn number<T: std::str::FromStr>(v: &mut FieldViolations, raw: &str) -> Option<T> {
    let parsed = raw.parse().ok();
    if parsed.is_none() {
        v.add("page_token", "is not a token this service issued");
    }
    parsed
}

fn decode_score(payload: &[u8]) -> Result<pb::HealthScore, Status> {
    pb::HealthScore::decode(payload)
        .map_err(|e| internal_with_context("a stored score does not decode", &e))
}

fn optional_segment(v: &mut FieldViolations, field: &str, value: i32) -> Option<&'static str> {
    if common::Segment::try_from(value).is_err() {
        v.add(field, format!("unknown segment {value}"));
        return None;
    }
    segment_from_proto(value).map(|s| s.as_str())
}

fn color_change_to_proto(row: ColorChangeRow) -> pb::ColorChange {
    let color = |stored: &str| {
        HealthColor::parse(stored).map_or(common::HealthColor::Unspecified, color_to_proto) as i32
    };
    pb::ColorChange {
        account_id: row.account_id,
        from_color: color(&row.from_color),
        to_color: color(&row.to_color),
        score: row.score,
        changed_at: Some(timestamp(micros(row.changed_at))),
        csm_id: row.csm_id,
    }
}

fn alert_to_proto(row: AlertRow) -> pb::Alert {
    pb::Alert {
        alert_id: row.alert_id,
        account_id: row.account_id,
        csm_id: row.csm_id,
        alert_type: nordstern_domain::health::alerts::AlertType::parse(&row.alert_type)
            .map_or(pb::AlertType::Unspecified, alert_type_to_proto) as i32,
        status: bridge::to_i32(row.status),
        reason: row.reason,
        survey_response_id: row.survey_response_id,
        arr: money(row.arr_minor, &row.currency_code),
        raised_at: Some(timestamp(micros(row.raised_at))),
        acknowledged_at: row.acknowledged_at.map(|at| timestamp(micros(at))),
        resolved_at: row.resolved_at.map(|at| timestamp(micros(at))),
    }
}

fn opportunity_to_proto(row: OpportunityRow) -> pb::UpsellOpportunity {
    pb::UpsellOpportunity {
        account_id: row.account_id,
        csm_id: row.csm_id,
        module_key: row.module_key,
        list_price: money(row.list_price_minor, &row.currency_code),
        likelihood: row.likelihood,
        expected_value: money(row.expected_value_minor, &row.currency_code),
        reason: row.reason,
    }
}

fn micros(at: i64) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp_micros(at).unwrap_or_default()
}

#[tonic::async_trait]
impl ScoringService for ScoringGrpc {
    async fn get_health_score(
        &self,
        request: Request<pb::GetHealthScoreRequest>,
    ) -> Result<Response<pb::GetHealthScoreResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.account_id);
        v.into_result()?;
        let score = self
            .scoring
            .latest(&id)
            .await?
            .ok_or_else(|| Status::not_found(format!("account {id} not found")))?;
        Ok(Response::new(pb::GetHealthScoreResponse {
            health_score: Some(score),
        }))
    }

    async fn batch_get_health_scores(
        &self,
        request: Request<pb::BatchGetHealthScoresRequest>,
    ) -> Result<Response<pb::BatchGetHealthScoresResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        if request.account_ids.len() > MAX_BATCH {
            v.add("account_ids", format!("at most {MAX_BATCH} ids"));
        }
        let ids = id_list(&mut v, "account_ids", &request.account_ids);
        v.into_result()?;
        let mut found = self.scoring.latest_many(&ids).await?;
        let unscored: Vec<String> = ids
            .iter()
            .filter(|id| !found.contains_key(*id))
            .cloned()
            .collect();
        let mut missing = Vec::new();
        if !unscored.is_empty() {
            let report = self.scoring.recompute(Target::Ids(unscored)).await?;
            missing = report.missing_account_ids;
            for score in report.scores {
                found.insert(score.account_id.clone(), score);
            }
        }
        let mut health_scores = Vec::with_capacity(ids.len());
        for id in &ids {
            match found.get(id).cloned() {
                Some(score) => health_scores.push(score),
                None if !missing.contains(id) => missing.push(id.clone()),
                None => {}
            }
        }
        Ok(Response::new(pb::BatchGetHealthScoresResponse {
            health_scores,
            missing_account_ids: missing,
        }))
    }

    async fn list_health_scores(
        &self,
        request: Request<pb::ListHealthScoresRequest>,
    ) -> Result<Response<pb::ListHealthScoresResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let color = v
            .check("color", color_from_proto(request.color))
            .flatten()
            .map(|c| c.as_str());
        let filter = ScoreFilter {
            color,
            csm_id: optional_id(&mut v, "csm_id", &request.csm_id),
            segment: optional_segment(&mut v, "segment", request.segment),
            changed_since: from_timestamp(request.changed_since.as_ref())
                .map(|t| t.timestamp_micros()),
        };
        let after = parse_token::<2>(&mut v, &request.page_token)
            .and_then(|[at, id]| Some((number(&mut v, &at)?, id)));
        v.into_result()?;
        let rows = self
            .scoring
            .store
            .list_scores(&filter, after, limit)
            .await
            .map_err(crate::db_error)?;
        let (rows, next_page_token) = page(rows, limit, |(at, id, _)| {
            token(&[at.to_string(), id.clone()])
        });
        let health_scores = rows
            .iter()
            .map(|(_, _, payload)| decode_score(payload))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListHealthScoresResponse {
            health_scores,
            next_page_token,
        }))
    }

    type WatchHealthScoresStream = BoxStream<pb::WatchHealthScoresResponse>;

    async fn watch_health_scores(
        &self,
        request: Request<pb::WatchHealthScoresRequest>,
    ) -> Result<Response<Self::WatchHealthScoresStream>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
        let segment = optional_segment(&mut v, "segment", request.segment).map(|_| request.segment);
        v.into_result()?;
        let mut changes = self.scoring.changes.subscribe();
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let score = match changes.recv().await {
                    Ok(score) => score,
                    Err(RecvError::Closed) => return,
                    Err(RecvError::Lagged(skipped)) => {
                        let _ = sender
                            .send(Err(Status::resource_exhausted(format!(
                                "the watcher fell {skipped} scores behind; resume with ListHealthScores changed_since"
                            ))))
                            .await;
                        return;
                    }
                };
                let wanted = csm_id.as_ref().is_none_or(|c| *c == score.csm_id)
                    && segment.is_none_or(|s| s == score.segment)
                    && (!request.color_changes_only || score.color_changed_at == score.computed_at);
                if wanted
                    && sender
                        .send(Ok(pb::WatchHealthScoresResponse {
                            health_score: Some(score),
                        }))
                        .await
                        .is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn list_health_score_history(
        &self,
        request: Request<pb::ListHealthScoreHistoryRequest>,
    ) -> Result<Response<pb::ListHealthScoreHistoryResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.account_id);
        let limit = page_size(&mut v, request.page_size);
        let window = request
            .period
            .as_ref()
            .and_then(|p| wire::required_period(&mut v, "period", Some(p)))
            .map(|(start, end)| (day_start(start), day_start(end)));
        let before =
            parse_token::<1>(&mut v, &request.page_token).and_then(|[n]| number(&mut v, &n));
        v.into_result()?;
        let rows = self
            .scoring
            .store
            .history(&id, window, before, limit)
            .await
            .map_err(crate::db_error)?;
        let (rows, next_page_token) = page(rows, limit, |row| row.version.to_string());
        Ok(Response::new(pb::ListHealthScoreHistoryResponse {
            entries: rows
                .into_iter()
                .map(|row| pb::HealthScoreHistoryEntry {
                    computed_at: Some(timestamp(micros(row.computed_at))),
                    score: row.score,
                    color: HealthColor::parse(&row.color)
                        .map_or(common::HealthColor::Unspecified, color_to_proto)
                        as i32,
                    churn_probability: row.churn_probability,
                })
                .collect(),
            next_page_token,
        }))
    }

    async fn list_color_changes(
        &self,
        request: Request<pb::ListColorChangesRequest>,
    ) -> Result<Response<pb::ListColorChangesResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let account_id = optional_id(&mut v, "account_id", &request.account_id);
        let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
        let since = from_timestamp(request.changed_since.as_ref()).map(|t| t.timestamp_micros());
        let after = parse_token::<3>(&mut v, &request.page_token).and_then(|[at, id, version]| {
            Some((number(&mut v, &at)?, id, number(&mut v, &version)?))
        });
        v.into_result()?;
        let rows = self
            .scoring
            .store
            .color_changes(
                account_id.as_deref(),
                csm_id.as_deref(),
                since,
                request.downward_only,
                after,
                limit,
            )
            .await
            .map_err(crate::db_error)?;
        let (changes, next_page_token) = page(rows, limit, |row| {
            token(&[
                row.changed_at.to_string(),
                row.account_id.clone(),
                row.version.to_string(),
            ])
        });
        Ok(Response::new(pb::ListColorChangesResponse {
            color_changes: changes.into_iter().map(color_change_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn recompute_health_score(
        &self,
        request: Request<pb::RecomputeHealthScoreRequest>,
    ) -> Result<Response<pb::RecomputeHealthScoreResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.account_id);
        v.into_result()?;
        let score = self
            .scoring
            .recompute_one(&id)
            .await?
            .ok_or_else(|| Status::not_found(format!("account {id} not found or churned")))?;
        Ok(Response::new(pb::RecomputeHealthScoreResponse {
            health_score: Some(score),
        }))
    }

    async fn recompute_health_scores(
        &self,
        request: Request<pb::RecomputeHealthScoresRequest>,
    ) -> Result<Response<pb::RecomputeHealthScoresResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = id_list(&mut v, "account_ids", &request.account_ids);
        if request.all_accounts && !ids.is_empty() {
            v.add("account_ids", "must be empty when all_accounts is set");
        }
        if !request.all_accounts && ids.is_empty() {
            v.add("account_ids", "name accounts or set all_accounts");
        }
        v.into_result()?;
        let target = if request.all_accounts {
            Target::All
        } else {
            Target::Ids(ids)
        };
        let report = self.scoring.recompute(target).await?;
        Ok(Response::new(pb::RecomputeHealthScoresResponse {
            accounts_scored: clamp_i32(report.accounts_scored),
            color_changes: clamp_i32(report.color_changes),
            alerts_raised: clamp_i32(report.alerts_raised),
            missing_account_ids: report.missing_account_ids,
            duration: report.elapsed.try_into().ok(),
        }))
    }

    async fn get_scoring_config(
        &self,
        request: Request<pb::GetScoringConfigRequest>,
    ) -> Result<Response<pb::GetScoringConfigResponse>, Status> {
        let request = request.into_inner();
        if request.version < 0 {
            return Err(FieldViolations::single(
                "version",
                "must be 0 (current) or a stored version",
            )
            .into());
        }
        let version = (request.version > 0).then_some(request.version);
        let config = models::config_message(&self.scoring.store, version)
            .await?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "scoring config version {} not found",
                    request.version
                ))
            })?;
        Ok(Response::new(pb::GetScoringConfigResponse {
            config: Some(config),
        }))
    }

    async fn update_scoring_config(
        &self,
        request: Request<pb::UpdateScoringConfigRequest>,
    ) -> Result<Response<pb::UpdateScoringConfigResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let paths = wire::mask_paths(
            &mut v,
            request.update_mask.as_ref(),
            &["segment_weights", "color_thresholds"],
        );
        let Some(update) = request.config else {
            v.add("config", "is required");
            return Err(v.into());
        };
        v.into_result()?;
        let (current, _) = models::current_config(&self.scoring.store).await?;
        let mut raw = current.to_raw();
        let mut violations = Vec::new();
        let requested = raw_config_from_proto(&update, &mut violations);
        if paths.iter().any(|p| p == "segment_weights") {
            raw.segment_weights = requested.segment_weights;
        }
        if paths.iter().any(|p| p == "color_thresholds") {
            raw.color_thresholds = requested.color_thresholds;
        }
        let validated = raw.validate();
        let mut v = FieldViolations::new();
        for (field, description) in violations {
            v.add(field, description);
        }
        let config = match validated {
            Ok(config) if v.is_empty() => config,
            Ok(_) => return Err(v.into()),
            Err(errors) => {
                for error in errors {
                    v.add(error.field, error.description);
                }
                return Err(v.into());
            }
        };
        let now = now_micros();
        if request.validate_only {
            let (_, version) = models::current_config(&self.scoring.store).await?;
            return Ok(Response::new(pb::UpdateScoringConfigResponse {
                config: Some(config_to_proto(&config, version + 1, now)),
                accounts_rescored: 0,
            }));
        }
        let version = self
            .scoring
            .store
            .insert_config(
                |version| config_to_proto(&config, version, now).encode_to_vec(),
                now.timestamp_micros(),
            )
            .await
            .map_err(crate::db_error)?;
        let accounts_rescored = self.rescore_all().await?;
        let stored = models::config_message(&self.scoring.store, Some(version))
            .await?
            .unwrap_or_else(|| config_to_proto(&config, version, now));
        Ok(Response::new(pb::UpdateScoringConfigResponse {
            config: Some(stored),
            accounts_rescored,
        }))
    }

    async fn train_churn_model_from_history(
        &self,
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
        v.into_result()?;
        let outcomes = self.outcomes().await?;
        let dataset = models::history_dataset(&self.scoring.store, outcomes, cutoff_days).await?;
        if dataset.rows.len() < churn::MIN_TRAINING_ROWS {
            return Err(Status::failed_precondition(format!(
                "only {} accounts churned or renewed with a score at least {cutoff_days} days before; at least {} are needed (import history with TrainChurnModelFromCsv)",
                dataset.rows.len(),
                churn::MIN_TRAINING_ROWS
            )));
        }
        let model = models::train_and_store(
            &self.scoring.store,
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

    async fn train_churn_model_from_csv(
        &self,
        request: Request<pb::TrainChurnModelFromCsvRequest>,
    ) -> Result<Response<pb::TrainChurnModelFromCsvResponse>, Status> {
        use pb::train_churn_model_from_csv_request::Content;
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        // Problems with the content are reported under the field the client set.
        let content_field = match &request.content {
            Some(Content::CsvText(_)) => "csv_text",
            _ => "csv_data",
        };
        let text = match &request.content {
            Some(Content::CsvText(text)) => Some(text.clone()),
            Some(Content::CsvData(bytes)) => v.check(
                "csv_data",
                String::from_utf8(bytes.clone()).map_err(|_| "must be UTF-8".to_owned()),
            ),
            None => {
                v.add("csv_data", "is required (csv_data or csv_text)");
                None
            }
        };
        let delimiter = match churn::delimiter_from_request(&request.delimiter) {
            Ok(delimiter) => Some(delimiter),
            Err(violation) => {
                v.add(violation.field, violation.description);
                None
            }
        };
        let held_out = held_out_fraction(&mut v, request.held_out_fraction);
        v.into_result()?;
        let (Some(text), Some(delimiter)) = (text, delimiter) else {
            return Err(Status::internal("checked above"));
        };
        let dataset = churn::parse_csv(
            &text,
            delimiter,
            &request.numeric_columns,
            &request.categorical_columns,
            &request.label_column,
        )
        .map_err(|violations| {
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
        })?;
        let model = models::train_and_store(
            &self.scoring.store,
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

    async fn get_churn_model(
        &self,
        request: Request<pb::GetChurnModelRequest>,
    ) -> Result<Response<pb::GetChurnModelResponse>, Status> {
        let request = request.into_inner();
        let active = self.active_model_id().await?;
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
            let mut stored = models::stored_model(&self.scoring.store, &wanted)
                .await?
                .ok_or_else(|| Status::not_found(format!("churn model {wanted} not found")))?;
            stored.active = active == wanted;
            stored
        };
        Ok(Response::new(pb::GetChurnModelResponse {
            model: Some(model),
        }))
    }

    async fn list_churn_models(
        &self,
        request: Request<pb::ListChurnModelsRequest>,
    ) -> Result<Response<pb::ListChurnModelsResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let before =
            parse_token::<1>(&mut v, &request.page_token).and_then(|[n]| number::<i32>(&mut v, &n));
        v.into_result()?;
        // Version 0 is the default model, listed last.
        if before == Some(0) {
            return Ok(Response::new(pb::ListChurnModelsResponse::default()));
        }
        let active = self.active_model_id().await?;
        let rows = self
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

    async fn activate_churn_model(
        &self,
        request: Request<pb::ActivateChurnModelRequest>,
    ) -> Result<Response<pb::ActivateChurnModelResponse>, Status> {
        let request = request.into_inner();
        let mut model = if request.model_id == models::DEFAULT_MODEL_ID {
            models::default_model_message(true)
        } else {
            let mut v = FieldViolations::new();
            id_field(&mut v, "model_id", &request.model_id);
            v.into_result()?;
            models::stored_model(&self.scoring.store, &request.model_id)
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
        self.scoring
            .store
            .set_state(ACTIVE_MODEL, &model.model_id)
            .await
            .map_err(crate::db_error)?;
        model.active = true;
        let accounts_rescored = self.rescore_all().await?;
        Ok(Response::new(pb::ActivateChurnModelResponse {
            model: Some(model),
            accounts_rescored,
        }))
    }

    async fn list_at_risk_accounts(
        &self,
        request: Request<pb::ListAtRiskAccountsRequest>,
    ) -> Result<Response<pb::ListAtRiskAccountsResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
        let segment = optional_segment(&mut v, "segment", request.segment);
        let after = parse_token::<2>(&mut v, &request.page_token)
            .and_then(|[risk, id]| Some((number(&mut v, &risk)?, id)));
        v.into_result()?;
        let rows = self
            .scoring
            .store
            .at_risk(
                &ScoreFilter {
                    csm_id,
                    segment,
                    ..ScoreFilter::default()
                },
                after,
                limit,
            )
            .await
            .map_err(crate::db_error)?;
        let (rows, next_page_token) = page(rows, limit, |(risk, id, _)| {
            token(&[risk.to_string(), id.clone()])
        });
        Ok(Response::new(pb::ListAtRiskAccountsResponse {
            health_scores: rows
                .iter()
                .map(|(_, _, payload)| decode_score(payload))
                .collect::<Result<_, _>>()?,
            next_page_token,
        }))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let mut statuses: Vec<AlertStatus> = request
            .statuses
            .iter()
            .enumerate()
            .filter_map(|(at, s)| bridge::required_field(&mut v, &format!("statuses[{at}]"), *s))
            .collect();
        if statuses.is_empty() {
            statuses = vec![AlertStatus::Open, AlertStatus::Acknowledged];
        }
        let alert_types = request
            .alert_types
            .iter()
            .enumerate()
            .filter_map(|(at, t)| match alert_type_from_proto(*t) {
                Ok(Some(kind)) => Some(kind.as_str()),
                _ => {
                    v.add(
                        format!("alert_types[{at}]"),
                        format!("must name an alert type, not {t}"),
                    );
                    None
                }
            })
            .collect();
        let filter = AlertFilter {
            csm_id: optional_id(&mut v, "csm_id", &request.csm_id),
            account_id: optional_id(&mut v, "account_id", &request.account_id),
            statuses,
            alert_types,
        };
        let after = parse_token::<2>(&mut v, &request.page_token)
            .and_then(|[at, id]| Some((number(&mut v, &at)?, id)));
        v.into_result()?;
        let rows = self
            .scoring
            .store
            .alerts(&filter, after, limit)
            .await
            .map_err(crate::db_error)?;
        let (rows, next_page_token) = page(rows, limit, |a| {
            token(&[a.raised_at.to_string(), a.alert_id.clone()])
        });
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: rows.into_iter().map(alert_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Result<Response<pb::AcknowledgeAlertResponse>, Status> {
        let alert = self
            .advance(&request.into_inner().alert_id, AlertStatus::Acknowledged)
            .await?;
        Ok(Response::new(pb::AcknowledgeAlertResponse {
            alert: Some(alert),
        }))
    }

    async fn resolve_alert(
        &self,
        request: Request<pb::ResolveAlertRequest>,
    ) -> Result<Response<pb::ResolveAlertResponse>, Status> {
        let alert = self
            .advance(&request.into_inner().alert_id, AlertStatus::Resolved)
            .await?;
        Ok(Response::new(pb::ResolveAlertResponse {
            alert: Some(alert),
        }))
    }

    async fn list_upsell_opportunities(
        &self,
        request: Request<pb::ListUpsellOpportunitiesRequest>,
    ) -> Result<Response<pb::ListUpsellOpportunitiesResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
        let account_id = optional_id(&mut v, "account_id", &request.account_id);
        let after = parse_token::<3>(&mut v, &request.page_token)
            .and_then(|[value, id, module]| Some((number(&mut v, &value)?, id, module)));
        v.into_result()?;
        let rows = self
            .scoring
            .store
            .opportunities(csm_id.as_deref(), account_id.as_deref(), after, limit)
            .await
            .map_err(crate::db_error)?;
        let (rows, next_page_token) = page(rows, limit, |o| {
            token(&[
                o.expected_value_minor.to_string(),
                o.account_id.clone(),
                o.module_key.clone(),
            ])
        });
        Ok(Response::new(pb::ListUpsellOpportunitiesResponse {
            opportunities: rows.into_iter().map(opportunity_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn erase_account_scoring_data(
        &self,
        request: Request<pb::EraseAccountScoringDataRequest>,
    ) -> Result<Response<pb::EraseAccountScoringDataResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.account_id);
        v.into_result()?;
        let (scores, changes, alerts) = self
            .scoring
            .store
            .erase_account(&id)
            .await
            .map_err(crate::db_error)?;
        self.scoring.cache.remove(&id).await;
        Ok(Response::new(pb::EraseAccountScoringDataResponse {
            scores_erased: clamp_i32(scores as usize),
            color_changes_erased: clamp_i32(changes as usize),
            alerts_erased: clamp_i32(alerts as usize),
        }))
    }

    async fn export_account_scoring_data(
        &self,
        request: Request<pb::ExportAccountScoringDataRequest>,
    ) -> Result<Response<pb::ExportAccountScoringDataResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.account_id);
        v.into_result()?;
        let store = &self.scoring.store;
        let latest = store
            .latest(std::slice::from_ref(&id))
            .await
            .map_err(crate::db_error)?;
        let health_score = latest.get(&id).map(|p| decode_score(p)).transpose()?;
        let history = store
            .history(&id, None, None, u64::MAX / 2)
            .await
            .map_err(crate::db_error)?
            .iter()
            .map(|row| decode_score(&row.payload))
            .collect::<Result<_, _>>()?;
        let color_changes = store
            .color_changes(Some(&id), None, None, false, None, u64::MAX / 2)
            .await
            .map_err(crate::db_error)?
            .into_iter()
            .map(color_change_to_proto)
            .collect();
        let alerts = store
            .alerts(
                &AlertFilter {
                    account_id: Some(id.clone()),
                    ..AlertFilter::default()
                },
                None,
                u64::MAX / 2,
            )
            .await
            .map_err(crate::db_error)?
            .into_iter()
            .map(alert_to_proto)
            .collect();
        let opportunities = store
            .opportunities(None, Some(&id), None, u64::MAX / 2)
            .await
            .map_err(crate::db_error)?
            .into_iter()
            .map(opportunity_to_proto)
            .collect();
        Ok(Response::new(pb::ExportAccountScoringDataResponse {
            health_score,
            history,
            color_changes,
            alerts,
            opportunities,
        }))
    }
}

impl ScoringGrpc {
    async fn advance(&self, raw_id: &str, to_status: AlertStatus) -> Result<pb::Alert, Status> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "alert_id", raw_id);
        v.into_result()?;
        let alert = self
            .scoring
            .store
            .advance_alert(&id, to_status, now_micros().timestamp_micros())
            .await
            .map_err(crate::db_error)?
            .ok_or_else(|| Status::not_found(format!("alert {id} not found")))?;
        Ok(alert_to_proto(alert))
    }

    async fn active_model_id(&self) -> Result<String, Status> {
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
    async fn outcomes(&self) -> Result<Vec<(String, NaiveDate, bool)>, Status> {
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
        let mut request = accounts_pb::ListContractEventsRequest {
            page_size: wire::MAX_PAGE_SIZE,
            kinds: vec![accounts_pb::ContractEventKind::Renewal as i32],
            ..Default::default()
        };
        loop {
            let page = accounts
                .list_contract_events(Request::new(request.clone()))
                .await?
                .into_inner();
            for event in page.events {
                if let Some(date) = event
                    .effective_date
                    .as_ref()
                    .and_then(|d| date_from_proto(Some(d)))
                {
                    outcomes.push((event.account_id, date, false));
                }
            }
            if page.next_page_token.is_empty() {
                break;
            }
            request.page_token = page.next_page_token;
        }
        Ok(outcomes)
    }
}

fn held_out_fraction(v: &mut FieldViolations, raw: f64) -> f64 {
    if raw == 0.0 {
        return churn::DEFAULT_HELD_OUT_FRACTION;
    }
    if !(raw > 0.0 && raw <= 0.5) {
        v.add("held_out_fraction", "must be 0 (0.2) or within (0, 0.5]");
    }
    raw
}

fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
}
