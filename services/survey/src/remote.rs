//! The survey API as other services hold it (scoring reads stats and detractors, the
//! gateway fans erasure out): `Arc<dyn SurveyService>`, in-process ([`local`]) or behind
//! gRPC ([`RemoteSurvey`]), one code path for both deployment modes.

use std::sync::Arc;

use nordstern_runtime::{
    Role,
    config::GrpcConfig,
    start::{RoleContext, StartError},
};

use nordstern_proto::survey::v1::{
    self as pb, survey_service_client::SurveyServiceClient, survey_service_server::SurveyService,
};

use crate::SurveyGrpc;

/// The survey API, local or remote.
pub type SurveyApi = Arc<dyn SurveyService>;

pub fn local(service: SurveyGrpc, grpc: &GrpcConfig) -> SurveyApi {
    LocalSurvey::new(Arc::new(service), grpc).into_api()
}

/// The survey service for a role that calls it: the one started in this process, or a
/// client of `endpoints.survey`.
pub fn api(context: &RoleContext) -> Result<SurveyApi, StartError> {
    context.api(Role::Survey, RemoteSurvey::connect, RemoteSurvey::into_api)
}

nordstern_runtime::remote_service! {
    /// The survey service over gRPC.
    RemoteSurvey, LocalSurvey: SurveyServiceClient => SurveyService {
        unary {
            create_campaign(pb::CreateCampaignRequest) -> pb::CreateCampaignResponse, |r| !r.request_id.is_empty();
            get_campaign(pb::GetCampaignRequest) -> pb::GetCampaignResponse, |_| true;
            update_campaign(pb::UpdateCampaignRequest) -> pb::UpdateCampaignResponse, |_| true;
            list_campaigns(pb::ListCampaignsRequest) -> pb::ListCampaignsResponse, |_| true;
            // Inviting the same respondent again returns the existing invitation.
            create_invitations(pb::CreateInvitationsRequest) -> pb::CreateInvitationsResponse, |_| true;
            get_invitation(pb::GetInvitationRequest) -> pb::GetInvitationResponse, |_| true;
            submit_response(pb::SubmitResponseRequest) -> pb::SubmitResponseResponse, |r| !r.response_id.is_empty();
            record_response(pb::RecordResponseRequest) -> pb::RecordResponseResponse, |r| !r.idempotency_key.is_empty();
            // Every item needs its key, and an item without one writes nothing.
            batch_record_responses(pb::BatchRecordResponsesRequest) -> pb::BatchRecordResponsesResponse, |_| true;
            list_responses(pb::ListResponsesRequest) -> pb::ListResponsesResponse, |_| true;
            get_survey_stats(pb::GetSurveyStatsRequest) -> pb::GetSurveyStatsResponse, |_| true;
            batch_get_survey_stats(pb::BatchGetSurveyStatsRequest) -> pb::BatchGetSurveyStatsResponse, |_| true;
            list_detractor_responses(pb::ListDetractorResponsesRequest) -> pb::ListDetractorResponsesResponse, |_| true;
            erase_account_survey_data(pb::EraseAccountSurveyDataRequest) -> pb::EraseAccountSurveyDataResponse, |_| false;
            erase_respondent_survey_data(pb::EraseRespondentSurveyDataRequest) -> pb::EraseRespondentSurveyDataResponse, |_| false;
            export_account_survey_data(pb::ExportAccountSurveyDataRequest) -> pb::ExportAccountSurveyDataResponse, |_| true;
        }
        server_streaming {}
        client_streaming {}
    }
}
