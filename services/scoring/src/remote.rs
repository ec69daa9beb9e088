//! The scoring API as other services hold it (the gateway reads scores, alerts and
//! upsell): `Arc<dyn ScoringService>`, in-process ([`local`]) or behind gRPC
//! ([`RemoteScoring`]), one code path for both deployment modes.

use std::sync::Arc;

use nordstern_runtime::{
    Role,
    config::GrpcConfig,
    start::{RoleContext, StartError},
};

use nordstern_proto::scoring::v1::{
    self as pb, scoring_service_client::ScoringServiceClient,
    scoring_service_server::ScoringService,
};
use nordstern_runtime::client::BoxStream;

use crate::ScoringGrpc;

/// The scoring API, local or remote.
pub type ScoringApi =
    Arc<dyn ScoringService<WatchHealthScoresStream = BoxStream<pb::WatchHealthScoresResponse>>>;

pub fn local(service: ScoringGrpc, grpc: &GrpcConfig) -> ScoringApi {
    LocalScoring::new(Arc::new(service), grpc).into_api()
}

/// The scoring service for a role that calls it: the one started in this process, or a
/// client of `endpoints.scoring`.
pub fn api(context: &RoleContext) -> Result<ScoringApi, StartError> {
    context.api(
        Role::Scoring,
        RemoteScoring::connect,
        RemoteScoring::into_api,
    )
}

nordstern_runtime::remote_service! {
    /// The scoring service over gRPC.
    RemoteScoring, LocalScoring: ScoringServiceClient => ScoringService {
        unary {
            get_health_score(pb::GetHealthScoreRequest) -> pb::GetHealthScoreResponse, |_| true;
            batch_get_health_scores(pb::BatchGetHealthScoresRequest) -> pb::BatchGetHealthScoresResponse, |_| true;
            list_health_scores(pb::ListHealthScoresRequest) -> pb::ListHealthScoresResponse, |_| true;
            list_health_score_history(pb::ListHealthScoreHistoryRequest) -> pb::ListHealthScoreHistoryResponse, |_| true;
            batch_get_health_trends(pb::BatchGetHealthTrendsRequest) -> pb::BatchGetHealthTrendsResponse, |_| true;
            list_color_changes(pb::ListColorChangesRequest) -> pb::ListColorChangesResponse, |_| true;
            // Recomputing is idempotent: a repeated computation only bumps the version.
            recompute_health_score(pb::RecomputeHealthScoreRequest) -> pb::RecomputeHealthScoreResponse, |_| true;
            recompute_health_scores(pb::RecomputeHealthScoresRequest) -> pb::RecomputeHealthScoresResponse, |_| true;
            get_scoring_config(pb::GetScoringConfigRequest) -> pb::GetScoringConfigResponse, |_| true;
            update_scoring_config(pb::UpdateScoringConfigRequest) -> pb::UpdateScoringConfigResponse, |r| r.validate_only;
            train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest) -> pb::TrainChurnModelFromHistoryResponse, |_| false;
            train_churn_model_from_csv(pb::TrainChurnModelFromCsvRequest) -> pb::TrainChurnModelFromCsvResponse, |_| false;
            get_churn_model(pb::GetChurnModelRequest) -> pb::GetChurnModelResponse, |_| true;
            predict_churn(pb::PredictChurnRequest) -> pb::PredictChurnResponse, |_| true;
            list_churn_models(pb::ListChurnModelsRequest) -> pb::ListChurnModelsResponse, |_| true;
            activate_churn_model(pb::ActivateChurnModelRequest) -> pb::ActivateChurnModelResponse, |_| true;
            list_at_risk_accounts(pb::ListAtRiskAccountsRequest) -> pb::ListAtRiskAccountsResponse, |_| true;
            list_alerts(pb::ListAlertsRequest) -> pb::ListAlertsResponse, |_| true;
            acknowledge_alert(pb::AcknowledgeAlertRequest) -> pb::AcknowledgeAlertResponse, |_| true;
            resolve_alert(pb::ResolveAlertRequest) -> pb::ResolveAlertResponse, |_| true;
            list_upsell_opportunities(pb::ListUpsellOpportunitiesRequest) -> pb::ListUpsellOpportunitiesResponse, |_| true;
            erase_account_scoring_data(pb::EraseAccountScoringDataRequest) -> pb::EraseAccountScoringDataResponse, |_| false;
            export_account_scoring_data(pb::ExportAccountScoringDataRequest) -> pb::ExportAccountScoringDataResponse, |_| true;
        }
        server_streaming {
            watch_health_scores(pb::WatchHealthScoresRequest) -> pb::WatchHealthScoresResponse as WatchHealthScoresStream;
        }
        client_streaming {}
    }
}
