//! The gRPC adapter of the survey service: parse and validate, call the store, map rows
//! to messages. Accounts are checked and scopes resolved through the accounts API.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use nordstern_accounts::remote::{AccountsApi, batch_get_all_accounts, list_all_accounts};
use nordstern_domain::survey::MAX_TEXT_CHARS;
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1 as common,
    survey::v1::{self as pb, survey_service_server::SurveyService},
};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use crate::{
    convert::*,
    store::{
        AccountSet, Answer, CampaignPatch, CampaignRow, InvitationRow, NewCampaign, ResponseFilter,
        ResponseRow, Store, Target, WindowTotals,
    },
};

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
        let mut unique: Vec<String> = ids
            .iter()
            .map(|(_, id)| id.clone())
            .filter(|id| !id.is_empty())
            .collect();
        unique.sort();
        unique.dedup();
        let (_, missing) = batch_get_all_accounts(&self.accounts, &unique).await?;
        for (field, id) in ids {
            if missing.contains(id) {
                v.add(field.clone(), format!("account {id} does not exist"));
            }
        }
        Ok(())
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
        kind: kind_to_proto(row.kind) as i32,
        touchpoint: touchpoint_to_proto(row.touchpoint) as i32,
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
        kind: kind_to_proto(row.kind) as i32,
        touchpoint: touchpoint_to_proto(row.touchpoint) as i32,
        score: row.score,
        nps_category: row
            .nps_category
            .map_or(0, |c| nps_category_to_proto(c) as i32),
        comment: row.comment,
        churn_reason: row
            .churn_reason
            .map_or(0, |r| churn_reason_to_proto(r) as i32),
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
            .check("churn_reason", churn_reason_from_proto(churn_reason))
            .flatten(),
        churn_reason_text: churn_reason_text.trim().to_owned(),
    }
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
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
            response_count: current.nps.responses() as i32,
            promoters: current.nps.promoters as i32,
            passives: current.nps.passives as i32,
            detractors: current.nps.detractors as i32,
            nps: current.nps.nps(),
            margin_of_error: current.nps.margin_of_error(),
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
    format!("{}_{}", row.recorded_at.timestamp_micros(), row.response_id)
}

fn parse_feed_token(v: &mut FieldViolations, token: &str) -> Option<(DateTime<Utc>, String)> {
    if token.is_empty() {
        return None;
    }
    let parsed = token.split_once('_').and_then(|(micros, id)| {
        Some((
            DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id.to_owned(),
        ))
    });
    if parsed.is_none() {
        v.add("page_token", "is not a token this service issued");
    }
    parsed
}

type GrpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl SurveyService for SurveyGrpc {
    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> GrpcResult<pb::CreateCampaignResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let key = idempotency_key(&mut v, "request_id", &request.request_id, &request);
        let campaign = request.campaign.unwrap_or_default();
        let name = text(&mut v, "campaign.name", &campaign.name, 200);
        let kind = v
            .check("campaign.kind", kind_from_proto(campaign.kind))
            .flatten();
        if kind.is_none() && campaign.kind == 0 {
            v.add("campaign.kind", "is required (NPS, CES or CSAT)");
        }
        let touchpoint = v
            .check(
                "campaign.touchpoint",
                touchpoint_from_proto(campaign.touchpoint),
            )
            .flatten();
        if touchpoint.is_none() && campaign.touchpoint == 0 {
            v.add("campaign.touchpoint", "is required");
        }
        let question_de = text(&mut v, "campaign.question_de", &campaign.question_de, 1000);
        let question_en = text(&mut v, "campaign.question_en", &campaign.question_en, 1000);
        let (Some(name), Some(kind), Some(touchpoint), Some(question_de), Some(question_en)) =
            (name, kind, touchpoint, question_de, question_en)
        else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let row = self
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

    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> GrpcResult<pb::GetCampaignResponse> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "campaign_id", &request.get_ref().campaign_id);
        v.into_result()?;
        let row = self.store.get_campaign(&id).await?;
        Ok(Response::new(pb::GetCampaignResponse {
            campaign: Some(campaign_to_proto(row)),
        }))
    }

    async fn update_campaign(
        &self,
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
                    patch.question_de =
                        text(&mut v, "campaign.question_de", &campaign.question_de, 1000)
                }
                "question_en" => {
                    patch.question_en =
                        text(&mut v, "campaign.question_en", &campaign.question_en, 1000)
                }
                _ => {}
            }
        }
        v.into_result()?;
        let row = self.store.update_campaign(&id, patch).await?;
        Ok(Response::new(pb::UpdateCampaignResponse {
            campaign: Some(campaign_to_proto(row)),
        }))
    }

    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> GrpcResult<pb::ListCampaignsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let after = page_token(&mut v, &request.page_token);
        let kind = v.check("kind", kind_from_proto(request.kind)).flatten();
        let touchpoint = v
            .check("touchpoint", touchpoint_from_proto(request.touchpoint))
            .flatten();
        v.into_result()?;
        let rows = self
            .store
            .list_campaigns(kind, touchpoint, after.as_deref(), limit + 1)
            .await?;
        let (campaigns, next_page_token) = page(rows, limit, |row| row.campaign_id.clone());
        Ok(Response::new(pb::ListCampaignsResponse {
            campaigns: campaigns.into_iter().map(campaign_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn create_invitations(
        &self,
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
            self.check_accounts_exist(&mut v, &account_fields).await?;
        }
        v.into_result()?;
        let rows = self
            .store
            .create_invitations(&campaign_id, &targets)
            .await?;
        Ok(Response::new(pb::CreateInvitationsResponse {
            invitations: rows.into_iter().map(invitation_to_proto).collect(),
        }))
    }

    async fn get_invitation(
        &self,
        request: Request<pb::GetInvitationRequest>,
    ) -> GrpcResult<pb::GetInvitationResponse> {
        let token = &request.get_ref().token;
        if token.is_empty() || token.len() > 64 {
            return Err(
                FieldViolations::single("token", "must be the token of an invitation").into(),
            );
        }
        let (invitation, campaign) = self.store.invitation_by_token(token).await?;
        Ok(Response::new(pb::GetInvitationResponse {
            invitation: Some(invitation_to_proto(invitation)),
            campaign: Some(campaign_to_proto(campaign)),
        }))
    }

    async fn submit_response(
        &self,
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
        let row = self
            .store
            .submit_response(&request.token, &response_id, answer)
            .await?;
        Ok(Response::new(pb::SubmitResponseResponse {
            response: Some(response_to_proto(row)),
        }))
    }

    async fn record_response(
        &self,
        request: Request<pb::RecordResponseRequest>,
    ) -> GrpcResult<pb::RecordResponseResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        if request.idempotency_key.is_empty() {
            v.add(
                "idempotency_key",
                "is required, so a retried response is never counted twice",
            );
        }
        let key = idempotency_key(
            &mut v,
            "idempotency_key",
            &request.idempotency_key,
            &request,
        );
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
        if v.is_empty() {
            self.check_accounts_exist(&mut v, &[("account_id".to_owned(), account_id.clone())])
                .await?;
        }
        let Some(key) = key else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let row = self
            .store
            .record_response(
                key,
                &campaign_id,
                &account_id,
                &respondent_id,
                answer,
                responded_at,
            )
            .await?;
        Ok(Response::new(pb::RecordResponseResponse {
            response: Some(response_to_proto(row)),
        }))
    }

    async fn list_responses(
        &self,
        request: Request<pb::ListResponsesRequest>,
    ) -> GrpcResult<pb::ListResponsesResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        // Response ids of token answers are the caller's UUIDs, so the token is too.
        let after = page_token(&mut v, &request.page_token);
        let filter = ResponseFilter {
            account_id: optional_id(&mut v, "account_id", &request.account_id),
            campaign_id: optional_id(&mut v, "campaign_id", &request.campaign_id),
            kind: v.check("kind", kind_from_proto(request.kind)).flatten(),
            touchpoint: v
                .check("touchpoint", touchpoint_from_proto(request.touchpoint))
                .flatten(),
            window: request
                .window
                .as_ref()
                .and_then(|window| required_period(&mut v, "window", Some(window)))
                .map(|(start, end)| (midnight(start), midnight(end))),
            with_comment_only: request.with_comment_only,
        };
        v.into_result()?;
        let rows = self
            .store
            .list_responses(&filter, after.as_deref(), limit + 1)
            .await?;
        let (responses, next_page_token) = page(rows, limit, |row| row.response_id.clone());
        Ok(Response::new(pb::ListResponsesResponse {
            responses: responses.into_iter().map(response_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_survey_stats(
        &self,
        request: Request<pb::GetSurveyStatsRequest>,
    ) -> GrpcResult<pb::GetSurveyStatsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let scope = request.scope.clone().unwrap_or_default();
        match &scope.scope {
            None | Some(common::scope::Scope::Company(false)) => {
                v.add(
                    "scope",
                    "is required: company, segment, csm_id or account_id",
                );
            }
            Some(common::scope::Scope::Segment(segment)) if !(1..=3).contains(segment) => {
                v.add("scope.segment", "must be ENTERPRISE, SME or PROSUMER");
            }
            Some(common::scope::Scope::CsmId(id)) => {
                v.check("scope.csm_id", uuid(id));
            }
            Some(common::scope::Scope::AccountId(id)) => {
                v.check("scope.account_id", uuid(id));
            }
            _ => {}
        }
        let window = stats_window(&mut v, request.window.as_ref());
        let (Some(inner), Some(window)) = (scope.scope.as_ref(), window) else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let accounts = self.resolve_scope(inner).await?;
        let previous = previous_window(window);
        let (current_totals, previous_totals) = tokio::try_join!(
            self.store
                .window_totals(&accounts, midnight(window.0), midnight(window.1)),
            self.store
                .window_totals(&accounts, midnight(previous.0), midnight(previous.1)),
        )
        .map_err(Status::from)?;
        Ok(Response::new(pb::GetSurveyStatsResponse {
            stats: Some(stats_to_proto(
                scope,
                window,
                &current_totals,
                previous,
                &previous_totals,
            )),
        }))
    }

    async fn batch_get_survey_stats(
        &self,
        request: Request<pb::BatchGetSurveyStatsRequest>,
    ) -> GrpcResult<pb::BatchGetSurveyStatsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = id_list(&mut v, "account_ids", &request.account_ids);
        let window = stats_window(&mut v, request.window.as_ref());
        let Some(window) = window else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let previous = previous_window(window);
        let (current, before) = tokio::try_join!(
            self.store
                .totals_by_account(&ids, midnight(window.0), midnight(window.1)),
            self.store
                .totals_by_account(&ids, midnight(previous.0), midnight(previous.1)),
        )
        .map_err(Status::from)?;
        let empty = WindowTotals::default();
        let stats = ids
            .iter()
            .map(|id| {
                let scope = common::Scope {
                    scope: Some(common::scope::Scope::AccountId(id.clone())),
                };
                stats_to_proto(
                    scope,
                    window,
                    current.get(id).unwrap_or(&empty),
                    previous,
                    before.get(id).unwrap_or(&empty),
                )
            })
            .collect();
        Ok(Response::new(pb::BatchGetSurveyStatsResponse { stats }))
    }

    async fn list_detractor_responses(
        &self,
        request: Request<pb::ListDetractorResponsesRequest>,
    ) -> GrpcResult<pb::ListDetractorResponsesResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
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
        let rows = self.store.detractors(after, since, limit).await?;
        // The token is always set, so a poller stores it and resumes from there later.
        let next_page_token = rows.last().map(feed_token).unwrap_or(request.page_token);
        Ok(Response::new(pb::ListDetractorResponsesResponse {
            responses: rows.into_iter().map(response_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn erase_account_survey_data(
        &self,
        request: Request<pb::EraseAccountSurveyDataRequest>,
    ) -> GrpcResult<pb::EraseAccountSurveyDataResponse> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.get_ref().account_id);
        v.into_result()?;
        let (invitations, responses) = self.store.erase_account(&id).await?;
        tracing::info!(account_id = %id, "survey data of account erased");
        Ok(Response::new(pb::EraseAccountSurveyDataResponse {
            invitations_erased: invitations as i32,
            responses_erased: responses as i32,
        }))
    }

    async fn erase_respondent_survey_data(
        &self,
        request: Request<pb::EraseRespondentSurveyDataRequest>,
    ) -> GrpcResult<pb::EraseRespondentSurveyDataResponse> {
        let mut v = FieldViolations::new();
        let respondent_id = respondent(&mut v, "respondent_id", &request.get_ref().respondent_id);
        v.into_result()?;
        let (invitations, responses) = self.store.erase_respondent(&respondent_id).await?;
        // The respondent id is personal data: it is not logged.
        tracing::info!("survey data of one respondent erased");
        Ok(Response::new(pb::EraseRespondentSurveyDataResponse {
            invitations_erased: invitations as i32,
            responses_erased: responses as i32,
        }))
    }

    async fn export_account_survey_data(
        &self,
        request: Request<pb::ExportAccountSurveyDataRequest>,
    ) -> GrpcResult<pb::ExportAccountSurveyDataResponse> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.get_ref().account_id);
        v.into_result()?;
        let (invitations, responses) = tokio::try_join!(
            self.store.invitations_of_account(&id),
            self.store.responses_of_account(&id)
        )
        .map_err(Status::from)?;
        Ok(Response::new(pb::ExportAccountSurveyDataResponse {
            invitations: invitations.into_iter().map(invitation_to_proto).collect(),
            responses: responses.into_iter().map(response_to_proto).collect(),
        }))
    }
}
