//! Campaigns.

use nordstern_proto::survey::v1 as pb;
use nordstern_runtime::paging::{PageRequest, page};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response};

use crate::store::{CampaignPatch, NewCampaign, QUESTION_REQUIRED};

use super::*;

pub(super) async fn create_campaign(
    grpc: &SurveyGrpc,
    request: Request<pb::CreateCampaignRequest>,
) -> GrpcResult<pb::CreateCampaignResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let key = idempotency_key(&mut v, "request_id", &request.request_id, &request);
    let campaign = request.campaign.unwrap_or_default();
    let name = text(&mut v, "campaign.name", &campaign.name, 200);
    let kind = v
        .check(
            "campaign.kind",
            bridge::optional::<SurveyKind>(campaign.kind),
        )
        .flatten();
    if kind.is_none() && campaign.kind == 0 {
        v.add("campaign.kind", "is required (NPS, CES or CSAT)");
    }
    let touchpoint = v
        .check(
            "campaign.touchpoint",
            bridge::optional::<Touchpoint>(campaign.touchpoint),
        )
        .flatten();
    if touchpoint.is_none() && campaign.touchpoint == 0 {
        v.add("campaign.touchpoint", "is required");
    }
    let questions = questions(&mut v, &campaign.question_de, &campaign.question_en);
    let (Some(name), Some(kind), Some(touchpoint), Some((question_de, question_en))) =
        (name, kind, touchpoint, questions)
    else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let row = grpc
        .store
        .create_campaign(
            key,
            NewCampaign {
                name,
                kind,
                touchpoint,
                question_de,
                question_en,
            },
        )
        .await?;
    Ok(Response::new(pb::CreateCampaignResponse {
        campaign: Some(campaign_to_proto(row)),
    }))
}

const QUESTION_MAX_CHARS: usize = 1000;

/// One language's question: empty when the campaign is not asked in that language.
fn question(v: &mut FieldViolations, field: &str, raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > QUESTION_MAX_CHARS {
        v.add(
            field,
            format!("must be at most {QUESTION_MAX_CHARS} characters"),
        );
        return None;
    }
    Some(trimmed.to_owned())
}

/// The German and English questions of a new campaign: one of them is enough.
fn questions(v: &mut FieldViolations, de: &str, en: &str) -> Option<(String, String)> {
    let de = question(v, "campaign.question_de", de)?;
    let en = question(v, "campaign.question_en", en)?;
    if de.is_empty() && en.is_empty() {
        for field in ["campaign.question_de", "campaign.question_en"] {
            v.add(field, QUESTION_REQUIRED);
        }
        return None;
    }
    Some((de, en))
}

pub(super) async fn get_campaign(
    grpc: &SurveyGrpc,
    request: Request<pb::GetCampaignRequest>,
) -> GrpcResult<pb::GetCampaignResponse> {
    let id = required_id("campaign_id", &request.get_ref().campaign_id)?;
    let row = grpc.store.get_campaign(&id).await?;
    Ok(Response::new(pb::GetCampaignResponse {
        campaign: Some(campaign_to_proto(row)),
    }))
}

pub(super) async fn update_campaign(
    grpc: &SurveyGrpc,
    request: Request<pb::UpdateCampaignRequest>,
) -> GrpcResult<pb::UpdateCampaignResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let campaign = request.campaign.unwrap_or_default();
    let id = id_field(&mut v, "campaign.campaign_id", &campaign.campaign_id);
    let paths = mask_paths(
        &mut v,
        request.update_mask.as_ref(),
        &["name", "question_de", "question_en"],
    );
    let mut patch = CampaignPatch::default();
    for path in &paths {
        match path.as_str() {
            "name" => patch.name = text(&mut v, "campaign.name", &campaign.name, 200),
            "question_de" => {
                patch.question_de = question(&mut v, "campaign.question_de", &campaign.question_de)
            }
            "question_en" => {
                patch.question_en = question(&mut v, "campaign.question_en", &campaign.question_en)
            }
            _ => {}
        }
    }
    v.into_result()?;
    let row = grpc.store.update_campaign(&id, patch).await?;
    Ok(Response::new(pb::UpdateCampaignResponse {
        campaign: Some(campaign_to_proto(row)),
    }))
}

pub(super) async fn list_campaigns(
    grpc: &SurveyGrpc,
    request: Request<pb::ListCampaignsRequest>,
) -> GrpcResult<pb::ListCampaignsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let paging = PageRequest::parse_id(&mut v, request.page_size, &request.page_token);
    let (limit, after) = (paging.limit, paging.after_id().map(str::to_owned));
    let kind = v
        .check("kind", bridge::optional::<SurveyKind>(request.kind))
        .flatten();
    let touchpoint = v
        .check(
            "touchpoint",
            bridge::optional::<Touchpoint>(request.touchpoint),
        )
        .flatten();
    v.into_result()?;
    let rows = grpc
        .store
        .list_campaigns(kind, touchpoint, after.as_deref(), limit + 1)
        .await?;
    let (campaigns, next_page_token) = page(rows, limit, |row| row.campaign_id.clone());
    Ok(Response::new(pb::ListCampaignsResponse {
        campaigns: campaigns.into_iter().map(campaign_to_proto).collect(),
        next_page_token,
    }))
}
