//! Invitations by token.

use nordstern_proto::survey::v1 as pb;
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response};

use crate::{convert::*, store::Target};

use super::*;

pub(super) async fn create_invitations(
    grpc: &SurveyGrpc,
    request: Request<pb::CreateInvitationsRequest>,
) -> GrpcResult<pb::CreateInvitationsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let campaign_id = id_field(&mut v, "campaign_id", &request.campaign_id);
    if request.targets.is_empty() || request.targets.len() > MAX_BATCH {
        v.add("targets", format!("must name 1 to {MAX_BATCH} people"));
    }
    let mut targets = Vec::with_capacity(request.targets.len());
    let mut account_fields = Vec::with_capacity(request.targets.len());
    for (index, target) in request.targets.iter().enumerate() {
        let account_id = id_field(
            &mut v,
            &format!("targets[{index}].account_id"),
            &target.account_id,
        );
        account_fields.push((format!("targets[{index}].account_id"), account_id.clone()));
        targets.push(Target {
            account_id,
            respondent_id: respondent(
                &mut v,
                &format!("targets[{index}].respondent_id"),
                &target.respondent_id,
            ),
            language: v
                .check(
                    &format!("targets[{index}].language"),
                    language_from_proto(target.language),
                )
                .unwrap_or("ENGLISH")
                .to_owned(),
        });
    }
    if v.is_empty() {
        grpc.check_accounts_exist(&mut v, &account_fields).await?;
    }
    v.into_result()?;
    let rows = grpc
        .store
        .create_invitations(&campaign_id, &targets)
        .await?;
    Ok(Response::new(pb::CreateInvitationsResponse {
        invitations: rows.into_iter().map(invitation_to_proto).collect(),
    }))
}

pub(super) async fn get_invitation(
    grpc: &SurveyGrpc,
    request: Request<pb::GetInvitationRequest>,
) -> GrpcResult<pb::GetInvitationResponse> {
    let token = &request.get_ref().token;
    if token.is_empty() || token.len() > 64 {
        return Err(FieldViolations::single("token", "must be the token of an invitation").into());
    }
    let (invitation, campaign) = grpc.store.invitation_by_token(token).await?;
    Ok(Response::new(pb::GetInvitationResponse {
        invitation: Some(invitation_to_proto(invitation)),
        campaign: Some(campaign_to_proto(campaign)),
    }))
}
