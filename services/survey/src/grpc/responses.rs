//! Answers: by token, recorded directly, listed, and the detractor feed.

use chrono::Utc;
use nordstern_proto::survey::v1 as pb;
use nordstern_runtime::paging::{PageRequest, page, page_size_of};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response};

use std::collections::HashMap;

use crate::store::{Answer, CampaignRow, RecordedAnswer, ResponseFilter, check_answer};
use nordstern_runtime::{
    batch::{check_size, count, refused_items, violation_refusals, written},
    error::ServiceError,
    idempotency::IdempotencyKey,
};

use super::*;

pub(super) async fn submit_response(
    grpc: &SurveyGrpc,
    request: Request<pb::SubmitResponseRequest>,
) -> GrpcResult<pb::SubmitResponseResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    if request.token.is_empty() || request.token.len() > 64 {
        v.add("token", "must be the token of an invitation");
    }
    let response_id = id_field(&mut v, "response_id", &request.response_id);
    let answer = answer(
        &mut v,
        request.score,
        &request.comment,
        request.churn_reason,
        &request.churn_reason_text,
    );
    v.into_result()?;
    let row = grpc
        .store
        .submit_response(&request.token, &response_id, answer)
        .await?;
    Ok(Response::new(pb::SubmitResponseResponse {
        response: Some(response_to_proto(row)),
    }))
}

pub(super) async fn record_response(
    grpc: &SurveyGrpc,
    request: Request<pb::RecordResponseRequest>,
) -> GrpcResult<pb::RecordResponseResponse> {
    let (item, mut v) = parse_recorded(&request.into_inner());
    add_scale_problems(grpc, &mut HashMap::new(), &item, &mut v).await?;
    if v.is_empty() {
        grpc.check_accounts_exist(
            &mut v,
            &[("account_id".to_owned(), item.account_id.clone())],
        )
        .await?;
    }
    let Some(key) = item.key.clone() else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let row = grpc.store.record_response(item.with_key(key)).await?;
    Ok(Response::new(pb::RecordResponseResponse {
        response: Some(response_to_proto(row)),
    }))
}

pub(super) async fn batch_record_responses(
    grpc: &SurveyGrpc,
    request: Request<pb::BatchRecordResponsesRequest>,
) -> GrpcResult<pb::BatchRecordResponsesResponse> {
    let items = request.into_inner().items;
    check_size("items", items.len())?;
    let mut refusals = Vec::new();
    let mut parsed = Vec::with_capacity(items.len());
    let mut campaigns = HashMap::new();
    for (index, request) in items.iter().enumerate() {
        let (item, mut violations) = parse_recorded(request);
        add_scale_problems(grpc, &mut campaigns, &item, &mut violations).await?;
        match item.key.clone() {
            Some(key) if violations.is_empty() => parsed.push((index, item.with_key(key))),
            _ => refusals.extend(violation_refusals(index, violations)),
        }
    }
    // One lookup of every account the batch names; an item for an unknown one is refused
    // as the single call refuses it.
    let missing = grpc
        .missing_accounts(parsed.iter().map(|(_, item)| &item.account_id))
        .await?;
    let (known, unknown): (Vec<_>, Vec<_>) = parsed
        .into_iter()
        .partition(|(_, item)| !missing.contains(&item.account_id));
    for (index, item) in unknown {
        let problem = FieldViolations::single(
            "account_id",
            format!("account {} does not exist", item.account_id),
        );
        refusals.extend(violation_refusals(index, problem));
    }
    let (indices, known): (Vec<usize>, Vec<RecordedAnswer>) = known.into_iter().unzip();
    let outcomes = grpc.store.record_responses(known).await?;
    let mut response = pb::BatchRecordResponsesResponse::default();
    for (index, row, duplicate) in written(indices, outcomes, &mut refusals) {
        response.responses.push(pb::RecordedResponse {
            index: index as i32,
            response: Some(response_to_proto(row)),
            duplicate,
        });
    }
    response.recorded_count = count(&response.responses, |r| !r.duplicate);
    response.duplicate_count = count(&response.responses, |r| r.duplicate);
    refusals.sort_by_key(|r| r.index);
    response.refused_count = refused_items(&refusals);
    response.refusals = refusals;
    Ok(Response::new(response))
}

/// A RecordResponse request's fields, each checked on its own (the key is `None` only
/// where a violation says why), and the violations.
struct ParsedRecord {
    key: Option<IdempotencyKey>,
    campaign_id: String,
    account_id: String,
    respondent_id: String,
    answer: Answer,
    responded_at: chrono::DateTime<Utc>,
}

/// The scale depends on the campaign, which the store checks. When a request is refused
/// here for something else, its campaign is read (once per batch, through `campaigns`)
/// to name an off-scale score too: every problem at once, and no extra read for a good
/// request.
async fn add_scale_problems(
    grpc: &SurveyGrpc,
    campaigns: &mut HashMap<String, Option<CampaignRow>>,
    item: &ParsedRecord,
    v: &mut FieldViolations,
) -> Result<(), tonic::Status> {
    if v.is_empty() || item.campaign_id.is_empty() {
        return Ok(());
    }
    if !campaigns.contains_key(&item.campaign_id) {
        let campaign = match grpc.store.get_campaign(&item.campaign_id).await {
            Ok(campaign) => Some(campaign),
            Err(ServiceError::NotFound(_)) => None,
            Err(error) => return Err(error.into()),
        };
        campaigns.insert(item.campaign_id.clone(), campaign);
    }
    if let Some(Some(campaign)) = campaigns.get(&item.campaign_id)
        && let Err(problems) = check_answer(campaign, &item.answer)
    {
        v.merge(problems);
    }
    Ok(())
}

impl ParsedRecord {
    fn with_key(self, key: IdempotencyKey) -> RecordedAnswer {
        RecordedAnswer {
            key,
            campaign_id: self.campaign_id,
            account_id: self.account_id,
            respondent_id: self.respondent_id,
            answer: self.answer,
            responded_at: self.responded_at,
        }
    }
}

fn parse_recorded(request: &pb::RecordResponseRequest) -> (ParsedRecord, FieldViolations) {
    let mut v = FieldViolations::new();
    if request.idempotency_key.is_empty() {
        v.add(
            "idempotency_key",
            "is required, so a retried response is never counted twice",
        );
    }
    let key = idempotency_key(&mut v, "idempotency_key", &request.idempotency_key, request);
    let campaign_id = id_field(&mut v, "campaign_id", &request.campaign_id);
    let account_id = id_field(&mut v, "account_id", &request.account_id);
    let respondent_id = respondent(&mut v, "respondent_id", &request.respondent_id);
    let answer = answer(
        &mut v,
        request.score,
        &request.comment,
        request.churn_reason,
        &request.churn_reason_text,
    );
    let now = Utc::now();
    let responded_at = match (
        &request.responded_at,
        from_timestamp(request.responded_at.as_ref()),
    ) {
        (None, _) => now,
        (Some(_), Some(at)) if at <= now + MAX_FUTURE_SKEW => at,
        (Some(_), Some(_)) => {
            v.add(
                "responded_at",
                "must not be more than 5 minutes in the future",
            );
            now
        }
        (Some(_), None) => {
            v.add("responded_at", "is not a valid timestamp");
            now
        }
    };
    let parsed = ParsedRecord {
        key,
        campaign_id,
        account_id,
        respondent_id,
        answer,
        responded_at,
    };
    (parsed, v)
}

pub(super) async fn list_responses(
    grpc: &SurveyGrpc,
    request: Request<pb::ListResponsesRequest>,
) -> GrpcResult<pb::ListResponsesResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let paging = PageRequest::parse_id(&mut v, request.page_size, &request.page_token);
    // Response ids of token answers are the caller's UUIDs, so the token is too.
    let (limit, after) = (paging.limit, paging.after_id().map(str::to_owned));
    let filter = ResponseFilter {
        account_id: optional_id(&mut v, "account_id", &request.account_id),
        campaign_id: optional_id(&mut v, "campaign_id", &request.campaign_id),
        kind: v
            .check("kind", bridge::optional::<SurveyKind>(request.kind))
            .flatten(),
        touchpoint: v
            .check(
                "touchpoint",
                bridge::optional::<Touchpoint>(request.touchpoint),
            )
            .flatten(),
        window: request
            .window
            .as_ref()
            .and_then(|window| required_period(&mut v, "window", Some(window)))
            .map(|(start, end)| (midnight(start), midnight(end))),
        with_comment_only: request.with_comment_only,
    };
    v.into_result()?;
    let rows = grpc
        .store
        .list_responses(&filter, after.as_deref(), limit + 1)
        .await?;
    let (responses, next_page_token) = page(rows, limit, |row| row.response_id.clone());
    Ok(Response::new(pb::ListResponsesResponse {
        responses: responses.into_iter().map(response_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_detractor_responses(
    grpc: &SurveyGrpc,
    request: Request<pb::ListDetractorResponsesRequest>,
) -> GrpcResult<pb::ListDetractorResponsesResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let limit = page_size_of(&mut v, request.page_size);
    let after = parse_feed_token(&mut v, &request.page_token);
    let since = match &request.since {
        None => None,
        Some(_) => {
            let since = from_timestamp(request.since.as_ref());
            if since.is_none() {
                v.add("since", "is not a valid timestamp");
            }
            since
        }
    };
    v.into_result()?;
    let rows = grpc.store.detractors(after, since, limit).await?;
    // The token is always set, so a poller stores it and resumes from there later.
    let next_page_token = rows.last().map(feed_token).unwrap_or(request.page_token);
    Ok(Response::new(pb::ListDetractorResponsesResponse {
        responses: rows.into_iter().map(response_to_proto).collect(),
        next_page_token,
    }))
}
