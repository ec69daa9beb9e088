//! GDPR: erasure and export.

use nordstern_proto::survey::v1::{self as pb};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use super::*;

pub(super) async fn erase_account_survey_data(
    grpc: &SurveyGrpc,
    request: Request<pb::EraseAccountSurveyDataRequest>,
) -> GrpcResult<pb::EraseAccountSurveyDataResponse> {
    let id = required_id("account_id", &request.get_ref().account_id)?;
    let (invitations, responses) = grpc.store.erase_account(&id).await?;
    tracing::info!(account_id = %id, "survey data of account erased");
    Ok(Response::new(pb::EraseAccountSurveyDataResponse {
        invitations_erased: invitations as i32,
        responses_erased: responses as i32,
    }))
}

pub(super) async fn erase_respondent_survey_data(
    grpc: &SurveyGrpc,
    request: Request<pb::EraseRespondentSurveyDataRequest>,
) -> GrpcResult<pb::EraseRespondentSurveyDataResponse> {
    let mut v = FieldViolations::new();
    let respondent_id = respondent(&mut v, "respondent_id", &request.get_ref().respondent_id);
    v.into_result()?;
    let (invitations, responses) = grpc.store.erase_respondent(&respondent_id).await?;
    // The respondent id is personal data: it is not logged.
    tracing::info!("survey data of one respondent erased");
    Ok(Response::new(pb::EraseRespondentSurveyDataResponse {
        invitations_erased: invitations as i32,
        responses_erased: responses as i32,
    }))
}

pub(super) async fn export_account_survey_data(
    grpc: &SurveyGrpc,
    request: Request<pb::ExportAccountSurveyDataRequest>,
) -> GrpcResult<pb::ExportAccountSurveyDataResponse> {
    let id = required_id("account_id", &request.get_ref().account_id)?;
    let (invitations, responses) = tokio::try_join!(
        grpc.store.invitations_of_account(&id),
        grpc.store.responses_of_account(&id)
    )
    .map_err(Status::from)?;
    Ok(Response::new(pb::ExportAccountSurveyDataResponse {
        invitations: invitations.into_iter().map(invitation_to_proto).collect(),
        responses: responses.into_iter().map(response_to_proto).collect(),
    }))
}
