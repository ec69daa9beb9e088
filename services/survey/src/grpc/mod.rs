//! The gRPC adapter of the survey service: parse and validate, call the store, map rows
//! to messages. Accounts are checked and scopes resolved through the accounts API.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use nordstern_accounts::remote::{AccountsApi, batch_get_all_accounts, list_all_accounts};
use nordstern_domain::survey::MAX_TEXT_CHARS;
use nordstern_domain::survey::{ChurnReason, NpsCategory, SurveyKind, Touchpoint};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1 as common,
    survey::v1::{self as pb, survey_service_server::SurveyService},
};
use nordstern_runtime::bridge::{self, ProtoEnum};
use nordstern_runtime::{paging::Cursor, status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use crate::{
    convert::*,
    store::{AccountSet, Answer, CampaignRow, InvitationRow, ResponseRow, Store, WindowTotals},
};

mod campaigns;
mod invitations;
mod privacy;
mod responses;
mod stats;

/// Days of statistics windows when a request leaves the window unset.
const DEFAULT_STATS_DAYS: i64 = 90;

/// The requested window, or the last 90 days (today included) when unset.
fn stats_window(
    v: &mut FieldViolations,
    window: Option<&common::Period>,
) -> Option<(NaiveDate, NaiveDate)> {
    match window {
        Some(window) => required_period(v, "window", Some(window)),
        None => {
            let tomorrow = Utc::now().date_naive() + Duration::days(1);
            Some((tomorrow - Duration::days(DEFAULT_STATS_DAYS), tomorrow))
        }
    }
}

/// Direct responses may be dated this far ahead of our clock (clock skew), no further.
const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

#[derive(Clone)]
pub struct SurveyGrpc {
    store: Store,
    accounts: AccountsApi,
}

impl SurveyGrpc {
    pub fn new(store: Store, accounts: AccountsApi) -> Self {
        SurveyGrpc { store, accounts }
    }

    /// Records a violation for every id the accounts service does not know.
    async fn check_accounts_exist(
        &self,
        v: &mut FieldViolations,
        ids: &[(String, String)],
    ) -> Result<(), Status> {
        let missing = self.missing_accounts(ids.iter().map(|(_, id)| id)).await?;
        for (field, id) in ids {
            if missing.contains(id) {
                v.add(field.clone(), format!("account {id} does not exist"));
            }
        }
        Ok(())
    }

    /// The ids among `ids` that name no account, in one lookup.
    async fn missing_accounts<'a>(
        &self,
        ids: impl Iterator<Item = &'a String>,
    ) -> Result<std::collections::HashSet<String>, Status> {
        let mut unique: Vec<String> = ids.filter(|id| !id.is_empty()).cloned().collect();
        unique.sort();
        unique.dedup();
        let (_, missing) = batch_get_all_accounts(&self.accounts, &unique).await?;
        Ok(missing.into_iter().collect())
    }

    /// The accounts a scope covers, from the accounts service (portfolio and segment
    /// membership live there).
    async fn resolve_scope(&self, scope: &common::scope::Scope) -> Result<AccountSet, Status> {
        let mut filter = accounts_pb::ListAccountsRequest::default();
        match scope {
            common::scope::Scope::Company(_) => return Ok(AccountSet::All),
            common::scope::Scope::AccountId(id) => {
                return Ok(AccountSet::Accounts(vec![id.clone()]));
            }
            common::scope::Scope::Segment(segment) => filter.segment = *segment,
            common::scope::Scope::CsmId(csm_id) => filter.csm_id = csm_id.clone(),
        }
        let accounts = list_all_accounts(&self.accounts, filter).await?;
        Ok(AccountSet::Accounts(
            accounts
                .into_iter()
                .map(|account| account.account_id)
                .collect(),
        ))
    }
}

fn campaign_to_proto(row: CampaignRow) -> pb::Campaign {
    pb::Campaign {
        campaign_id: row.campaign_id,
        name: row.name,
        kind: SurveyKind::to_proto(row.kind) as i32,
        touchpoint: Touchpoint::to_proto(row.touchpoint) as i32,
        question_de: row.question_de,
        question_en: row.question_en,
        created_at: Some(timestamp(row.created_at)),
        invitation_count: i32::try_from(row.invitation_count).unwrap_or(i32::MAX),
        response_count: i32::try_from(row.response_count).unwrap_or(i32::MAX),
    }
}

fn invitation_to_proto(row: InvitationRow) -> pb::Invitation {
    pb::Invitation {
        invitation_id: row.invitation_id,
        campaign_id: row.campaign_id,
        account_id: row.account_id,
        respondent_id: row.respondent_id,
        language: language_to_proto(&row.language) as i32,
        token: row.token,
        invited_at: Some(timestamp(row.invited_at)),
        responded_at: row.responded_at.map(timestamp),
    }
}

fn response_to_proto(row: ResponseRow) -> pb::SurveyResponse {
    pb::SurveyResponse {
        response_id: row.response_id,
        campaign_id: row.campaign_id,
        invitation_id: row.invitation_id.unwrap_or_default(),
        account_id: row.account_id,
        respondent_id: row.respondent_id,
        kind: SurveyKind::to_proto(row.kind) as i32,
        touchpoint: Touchpoint::to_proto(row.touchpoint) as i32,
        score: row.score,
        nps_category: row
            .nps_category
            .map_or(0, |c| NpsCategory::to_proto(c) as i32),
        comment: row.comment,
        churn_reason: row
            .churn_reason
            .map_or(0, |r| ChurnReason::to_proto(r) as i32),
        churn_reason_text: row.churn_reason_text,
        responded_at: Some(timestamp(row.responded_at)),
        recorded_at: Some(timestamp(row.recorded_at)),
    }
}

fn text(v: &mut FieldViolations, field: &str, raw: &str, max: usize) -> Option<String> {
    let trimmed = raw.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > max {
        v.add(field, format!("must be 1 to {max} characters"));
        return None;
    }
    Some(trimmed.to_owned())
}

fn respondent(v: &mut FieldViolations, field: &str, raw: &str) -> String {
    if raw.is_empty() || raw.len() > 128 || raw.chars().any(char::is_control) {
        v.add(field, "must be 1 to 128 bytes without control characters");
    }
    raw.to_owned()
}

fn answer(
    v: &mut FieldViolations,
    score: Option<i32>,
    comment: &str,
    churn_reason: i32,
    churn_reason_text: &str,
) -> Answer {
    for (field, value) in [
        ("comment", comment),
        ("churn_reason_text", churn_reason_text),
    ] {
        if value.chars().count() > MAX_TEXT_CHARS {
            v.add(
                field,
                format!("must be at most {MAX_TEXT_CHARS} characters"),
            );
        }
    }
    Answer {
        score,
        comment: comment.trim().to_owned(),
        churn_reason: v
            .check(
                "churn_reason",
                bridge::optional::<ChurnReason>(churn_reason),
            )
            .flatten(),
        churn_reason_text: churn_reason_text.trim().to_owned(),
    }
}

fn stats_to_proto(
    scope: common::Scope,
    window: (NaiveDate, NaiveDate),
    current: &WindowTotals,
    previous_window: (NaiveDate, NaiveDate),
    previous: &WindowTotals,
) -> pb::SurveyStats {
    let period = |(start, end): (NaiveDate, NaiveDate)| common::Period {
        start_date: Some(date_to_proto(start)),
        end_date: Some(date_to_proto(end)),
    };
    let delta =
        |now: Option<f64>, before: Option<f64>| now.zip(before).map(|(now, before)| now - before);
    pb::SurveyStats {
        scope: Some(scope),
        window: Some(period(window)),
        response_count: current.responses as i32,
        nps: Some(pb::NpsStats {
            respondent_count: current.nps.responses() as i32,
            promoters: current.nps.promoters as i32,
            passives: current.nps.passives as i32,
            detractors: current.nps.detractors as i32,
            nps: current.nps.nps(),
            margin_of_error: current.nps.margin_of_error(),
            answer_count: current.nps_answers as i32,
        }),
        ces: Some(pb::CesStats {
            response_count: current.ces.responses as i32,
            mean: current.ces.mean(),
            share_easy: current.ces.share_easy(),
        }),
        csat: Some(pb::CsatStats {
            response_count: current.csat.responses as i32,
            share_satisfied: current.csat.share_satisfied(),
        }),
        invitations_sent: current.invitations_sent as i32,
        invitations_answered: current.invitations_answered as i32,
        response_rate: current.response_rate(),
        change: Some(pb::SurveyStatsChange {
            previous_window: Some(period(previous_window)),
            nps_change: delta(current.nps.nps(), previous.nps.nps()),
            ces_mean_change: delta(current.ces.mean(), previous.ces.mean()),
            csat_share_satisfied_change: delta(
                current.csat.share_satisfied(),
                previous.csat.share_satisfied(),
            ),
            response_rate_change: delta(current.response_rate(), previous.response_rate()),
        }),
    }
}

/// The window compared with: the same length, ending where this one starts.
fn previous_window((start, end): (NaiveDate, NaiveDate)) -> (NaiveDate, NaiveDate) {
    (start - (end - start), start)
}

fn feed_token(row: &ResponseRow) -> String {
    Cursor::encode(&[
        row.recorded_at.timestamp_micros().to_string(),
        row.response_id.clone(),
    ])
}

fn parse_feed_token(v: &mut FieldViolations, token: &str) -> Option<(DateTime<Utc>, String)> {
    // Feed tokens from before the one cursor format were `micros_id`; a poller may still
    // hold one, so it is read (and never issued) here.
    let token = match token.split_once('_') {
        Some((micros, id)) if !token.contains('~') => format!("{micros}~{id}"),
        _ => token.to_owned(),
    };
    let [micros, id] = Cursor::decode::<2>(v, &token)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros);
    if at.is_none() {
        v.add("page_token", "is not a token this service issued");
    }
    Some((at?, id))
}

type GrpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl SurveyService for SurveyGrpc {
    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> GrpcResult<pb::CreateCampaignResponse> {
        campaigns::create_campaign(self, request).await
    }

    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> GrpcResult<pb::GetCampaignResponse> {
        campaigns::get_campaign(self, request).await
    }

    async fn update_campaign(
        &self,
        request: Request<pb::UpdateCampaignRequest>,
    ) -> GrpcResult<pb::UpdateCampaignResponse> {
        campaigns::update_campaign(self, request).await
    }

    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> GrpcResult<pb::ListCampaignsResponse> {
        campaigns::list_campaigns(self, request).await
    }

    async fn create_invitations(
        &self,
        request: Request<pb::CreateInvitationsRequest>,
    ) -> GrpcResult<pb::CreateInvitationsResponse> {
        invitations::create_invitations(self, request).await
    }

    async fn get_invitation(
        &self,
        request: Request<pb::GetInvitationRequest>,
    ) -> GrpcResult<pb::GetInvitationResponse> {
        invitations::get_invitation(self, request).await
    }

    async fn submit_response(
        &self,
        request: Request<pb::SubmitResponseRequest>,
    ) -> GrpcResult<pb::SubmitResponseResponse> {
        responses::submit_response(self, request).await
    }

    async fn record_response(
        &self,
        request: Request<pb::RecordResponseRequest>,
    ) -> GrpcResult<pb::RecordResponseResponse> {
        responses::record_response(self, request).await
    }

    async fn batch_record_responses(
        &self,
        request: Request<pb::BatchRecordResponsesRequest>,
    ) -> GrpcResult<pb::BatchRecordResponsesResponse> {
        responses::batch_record_responses(self, request).await
    }

    async fn list_responses(
        &self,
        request: Request<pb::ListResponsesRequest>,
    ) -> GrpcResult<pb::ListResponsesResponse> {
        responses::list_responses(self, request).await
    }

    async fn get_survey_stats(
        &self,
        request: Request<pb::GetSurveyStatsRequest>,
    ) -> GrpcResult<pb::GetSurveyStatsResponse> {
        stats::get_survey_stats(self, request).await
    }

    async fn batch_get_survey_stats(
        &self,
        request: Request<pb::BatchGetSurveyStatsRequest>,
    ) -> GrpcResult<pb::BatchGetSurveyStatsResponse> {
        stats::batch_get_survey_stats(self, request).await
    }

    async fn list_detractor_responses(
        &self,
        request: Request<pb::ListDetractorResponsesRequest>,
    ) -> GrpcResult<pb::ListDetractorResponsesResponse> {
        responses::list_detractor_responses(self, request).await
    }

    async fn erase_account_survey_data(
        &self,
        request: Request<pb::EraseAccountSurveyDataRequest>,
    ) -> GrpcResult<pb::EraseAccountSurveyDataResponse> {
        privacy::erase_account_survey_data(self, request).await
    }

    async fn erase_respondent_survey_data(
        &self,
        request: Request<pb::EraseRespondentSurveyDataRequest>,
    ) -> GrpcResult<pb::EraseRespondentSurveyDataResponse> {
        privacy::erase_respondent_survey_data(self, request).await
    }

    async fn export_account_survey_data(
        &self,
        request: Request<pb::ExportAccountSurveyDataRequest>,
    ) -> GrpcResult<pb::ExportAccountSurveyDataResponse> {
        privacy::export_account_survey_data(self, request).await
    }
}
