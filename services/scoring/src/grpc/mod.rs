//! The gRPC adapter of the scoring service: parse and validate, call the pipeline or the
//! store, map rows to messages.

use nordstern_proto::{
    common::v1 as common,
    scoring::v1::{self as pb, scoring_service_server::ScoringService},
};
use nordstern_runtime::paging::Cursor;
use nordstern_runtime::status::internal_with_context;
use nordstern_runtime::wire::from_micros;
use nordstern_runtime::{client::BoxStream, status::FieldViolations};
use prost::Message;
use tonic::{Request, Response, Status};

mod alerts;
mod churn_models;
mod config;
mod predict;
mod privacy;
mod scores;
mod upsell;

use alerts::alert_to_proto;
use churn_models::day_start;
use scores::color_change_to_proto;
use upsell::opportunity_to_proto;

use crate::{
    convert::*,
    pipeline::{SharedScoring, Target},
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
    Segment::from_i32(value).map(|s| s.as_str())
}

#[tonic::async_trait]
#[tonic::async_trait]
impl ScoringService for ScoringGrpc {
    type WatchHealthScoresStream = BoxStream<pb::WatchHealthScoresResponse>;

    async fn get_health_score(
        &self,
        request: Request<pb::GetHealthScoreRequest>,
    ) -> Result<Response<pb::GetHealthScoreResponse>, Status> {
        scores::get_health_score(self, request).await
    }

    async fn batch_get_health_scores(
        &self,
        request: Request<pb::BatchGetHealthScoresRequest>,
    ) -> Result<Response<pb::BatchGetHealthScoresResponse>, Status> {
        scores::batch_get_health_scores(self, request).await
    }

    async fn list_health_scores(
        &self,
        request: Request<pb::ListHealthScoresRequest>,
    ) -> Result<Response<pb::ListHealthScoresResponse>, Status> {
        scores::list_health_scores(self, request).await
    }

    async fn watch_health_scores(
        &self,
        request: Request<pb::WatchHealthScoresRequest>,
    ) -> Result<Response<Self::WatchHealthScoresStream>, Status> {
        scores::watch_health_scores(self, request).await
    }

    async fn list_health_score_history(
        &self,
        request: Request<pb::ListHealthScoreHistoryRequest>,
    ) -> Result<Response<pb::ListHealthScoreHistoryResponse>, Status> {
        scores::list_health_score_history(self, request).await
    }

    async fn batch_get_health_trends(
        &self,
        request: Request<pb::BatchGetHealthTrendsRequest>,
    ) -> Result<Response<pb::BatchGetHealthTrendsResponse>, Status> {
        scores::batch_get_health_trends(self, request).await
    }

    async fn list_color_changes(
        &self,
        request: Request<pb::ListColorChangesRequest>,
    ) -> Result<Response<pb::ListColorChangesResponse>, Status> {
        scores::list_color_changes(self, request).await
    }

    async fn recompute_health_score(
        &self,
        request: Request<pb::RecomputeHealthScoreRequest>,
    ) -> Result<Response<pb::RecomputeHealthScoreResponse>, Status> {
        scores::recompute_health_score(self, request).await
    }

    async fn recompute_health_scores(
        &self,
        request: Request<pb::RecomputeHealthScoresRequest>,
    ) -> Result<Response<pb::RecomputeHealthScoresResponse>, Status> {
        scores::recompute_health_scores(self, request).await
    }

    async fn get_scoring_config(
        &self,
        request: Request<pb::GetScoringConfigRequest>,
    ) -> Result<Response<pb::GetScoringConfigResponse>, Status> {
        config::get_scoring_config(self, request).await
    }

    async fn update_scoring_config(
        &self,
        request: Request<pb::UpdateScoringConfigRequest>,
    ) -> Result<Response<pb::UpdateScoringConfigResponse>, Status> {
        config::update_scoring_config(self, request).await
    }

    async fn train_churn_model_from_history(
        &self,
        request: Request<pb::TrainChurnModelFromHistoryRequest>,
    ) -> Result<Response<pb::TrainChurnModelFromHistoryResponse>, Status> {
        churn_models::train_churn_model_from_history(self, request).await
    }

    async fn train_churn_model_from_csv(
        &self,
        request: Request<pb::TrainChurnModelFromCsvRequest>,
    ) -> Result<Response<pb::TrainChurnModelFromCsvResponse>, Status> {
        churn_models::train_churn_model_from_csv(self, request).await
    }

    async fn get_churn_model(
        &self,
        request: Request<pb::GetChurnModelRequest>,
    ) -> Result<Response<pb::GetChurnModelResponse>, Status> {
        churn_models::get_churn_model(self, request).await
    }

    async fn predict_churn(
        &self,
        request: Request<pb::PredictChurnRequest>,
    ) -> Result<Response<pb::PredictChurnResponse>, Status> {
        predict::predict_churn(self, request).await
    }

    async fn list_churn_models(
        &self,
        request: Request<pb::ListChurnModelsRequest>,
    ) -> Result<Response<pb::ListChurnModelsResponse>, Status> {
        churn_models::list_churn_models(self, request).await
    }

    async fn activate_churn_model(
        &self,
        request: Request<pb::ActivateChurnModelRequest>,
    ) -> Result<Response<pb::ActivateChurnModelResponse>, Status> {
        churn_models::activate_churn_model(self, request).await
    }

    async fn list_at_risk_accounts(
        &self,
        request: Request<pb::ListAtRiskAccountsRequest>,
    ) -> Result<Response<pb::ListAtRiskAccountsResponse>, Status> {
        scores::list_at_risk_accounts(self, request).await
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        alerts::list_alerts(self, request).await
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Result<Response<pb::AcknowledgeAlertResponse>, Status> {
        alerts::acknowledge_alert(self, request).await
    }

    async fn resolve_alert(
        &self,
        request: Request<pb::ResolveAlertRequest>,
    ) -> Result<Response<pb::ResolveAlertResponse>, Status> {
        alerts::resolve_alert(self, request).await
    }

    async fn list_upsell_opportunities(
        &self,
        request: Request<pb::ListUpsellOpportunitiesRequest>,
    ) -> Result<Response<pb::ListUpsellOpportunitiesResponse>, Status> {
        upsell::list_upsell_opportunities(self, request).await
    }

    async fn erase_account_scoring_data(
        &self,
        request: Request<pb::EraseAccountScoringDataRequest>,
    ) -> Result<Response<pb::EraseAccountScoringDataResponse>, Status> {
        privacy::erase_account_scoring_data(self, request).await
    }

    async fn export_account_scoring_data(
        &self,
        request: Request<pb::ExportAccountScoringDataRequest>,
    ) -> Result<Response<pb::ExportAccountScoringDataResponse>, Status> {
        privacy::export_account_scoring_data(self, request).await
    }
}

impl ScoringGrpc {}
