//! Responses: by invitation token or recorded directly, listed, fed to alerts, erased
//! and exported.

use chrono::{DateTime, Utc};
use nordstern_domain::survey::{ChurnReason, MAX_TEXT_CHARS, SurveyKind, Touchpoint, nps_category};
use nordstern_runtime::{
    error::{ServiceError, ServiceResult},
    idempotency::{self, IdempotencyKey},
    status::FieldViolations,
    storage::{execute, insert_rows, query_all, query_one, select_by_keys},
    wire::{micros, new_id, now_micros},
};
use sea_orm::{ConnectionTrait, Value};

use super::{
    CampaignRow, INVITATION_COLUMNS, RESPONSE_COLUMNS, ResponseRow, Store,
    campaigns::fetch_campaign_settings, invitation_from_row, response_from_row,
};

/// What a respondent answered, before it is checked against the campaign.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub score: Option<i32>,
    pub comment: String,
    pub churn_reason: Option<ChurnReason>,
    pub churn_reason_text: String,
}

#[derive(Debug, Clone, Default)]
pub struct ResponseFilter {
    pub account_id: Option<String>,
    pub campaign_id: Option<String>,
    pub kind: Option<SurveyKind>,
    pub touchpoint: Option<Touchpoint>,
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub with_comment_only: bool,
}

pub(super) const RECORD_RESPONSE: &str = "RecordResponse";

/// A response an integration collected itself, its fields checked.
#[derive(Debug, Clone)]
pub struct RecordedAnswer {
    pub key: IdempotencyKey,
    pub campaign_id: String,
    pub account_id: String,
    pub respondent_id: String,
    pub answer: Answer,
    pub responded_at: DateTime<Utc>,
}

impl RecordedAnswer {
    /// The row it becomes in its campaign, or what is wrong with it there.
    pub(super) fn into_row(self, campaign: &CampaignRow) -> Result<ResponseRow, FieldViolations> {
        let score = check_answer(campaign, &self.answer)?;
        Ok(ResponseRow {
            response_id: new_id(),
            campaign_id: self.campaign_id,
            invitation_id: None,
            account_id: self.account_id,
            respondent_id: self.respondent_id,
            kind: campaign.kind,
            touchpoint: campaign.touchpoint,
            score,
            nps_category: (campaign.kind == SurveyKind::Nps).then(|| nps_category(score)),
            comment: self.answer.comment,
            churn_reason: self.answer.churn_reason,
            churn_reason_text: self.answer.churn_reason_text,
            responded_at: micros(self.responded_at),
            recorded_at: now_micros(),
        })
    }
}

/// The answer's score per the campaign's scale, or every problem with it.
/// An answer against its campaign's scale and touchpoint.
pub fn check_answer(campaign: &CampaignRow, answer: &Answer) -> Result<i32, FieldViolations> {
    let mut v = FieldViolations::new();
    let score = match answer.score {
        None => {
            v.add("score", "is required");
            None
        }
        Some(score) => v.check("score", campaign.kind.check_score(score)),
    };
    if answer.comment.chars().count() > MAX_TEXT_CHARS {
        v.add(
            "comment",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        );
    }
    if answer.churn_reason_text.chars().count() > MAX_TEXT_CHARS {
        v.add(
            "churn_reason_text",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        );
    }
    match (campaign.touchpoint, answer.churn_reason) {
        (Touchpoint::Cancellation, None) => {
            v.add("churn_reason", "is required for a cancellation survey")
        }
        (Touchpoint::Cancellation, Some(ChurnReason::Other))
            if answer.churn_reason_text.trim().is_empty() =>
        {
            v.add("churn_reason_text", "is required with the reason OTHER")
        }
        (touchpoint, Some(_)) if touchpoint != Touchpoint::Cancellation => {
            v.add("churn_reason", "is only for cancellation surveys")
        }
        _ => {}
    }
    v.into_result()?;
    score.ok_or_else(|| FieldViolations::single("score", "is required"))
}

impl Store {
    /// Answers an invitation. A token answers once; the same `response_id` again returns
    /// the first answer.
    pub async fn submit_response(
        &self,
        token: &str,
        response_id: &str,
        answer: Answer,
    ) -> ServiceResult<ResponseRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let row = query_one(
            db,
            &format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE token = $1"),
            vec![token.into()],
        )
        .await?
        .ok_or_else(|| ServiceError::NotFound("invitation for this token".to_owned()))?;
        let invitation = invitation_from_row(&row)?;
        if let Some(answered) = &invitation.response_id {
            if answered == response_id {
                return fetch_response(db, answered).await;
            }
            return Err(ServiceError::AlreadyExists(
                "this invitation has already been answered".to_owned(),
            ));
        }
        let campaign = fetch_campaign_settings(db, &invitation.campaign_id).await?;
        let score = check_answer(&campaign, &answer)?;
        let now = now_micros();
        let response = ResponseRow {
            response_id: response_id.to_owned(),
            campaign_id: campaign.campaign_id.clone(),
            invitation_id: Some(invitation.invitation_id.clone()),
            account_id: invitation.account_id.clone(),
            respondent_id: invitation.respondent_id.clone(),
            kind: campaign.kind,
            touchpoint: campaign.touchpoint,
            score,
            nps_category: (campaign.kind == SurveyKind::Nps).then(|| nps_category(score)),
            comment: answer.comment,
            churn_reason: answer.churn_reason,
            churn_reason_text: answer.churn_reason_text,
            responded_at: now,
            recorded_at: now,
        };
        insert_responses(db, std::slice::from_ref(&response)).await?;
        execute(
            db,
            "UPDATE invitations SET responded_at = $1, response_id = $2 WHERE invitation_id = $3",
            vec![
                now.into(),
                response_id.into(),
                invitation.invitation_id.as_str().into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(response)
    }

    /// A response an integration collected itself; the idempotency key makes retries safe.
    pub async fn record_response(&self, item: RecordedAnswer) -> ServiceResult<ResponseRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let key = item.key.clone();
        if let Some(stored) =
            idempotency::find_response(db, RECORD_RESPONSE, &key.key, key.fingerprint).await?
        {
            return fetch_response(db, &String::from_utf8_lossy(&stored)).await;
        }
        let campaign = fetch_campaign_settings(db, &item.campaign_id).await?;
        let response = item.into_row(&campaign)?;
        insert_responses(db, std::slice::from_ref(&response)).await?;
        idempotency::store_response(
            db,
            RECORD_RESPONSE,
            &key.key,
            key.fingerprint,
            response.response_id.clone().into_bytes(),
            Some(&response.account_id),
        )
        .await?;
        tx.commit().await?;
        Ok(response)
    }

    pub async fn list_responses(
        &self,
        filter: &ResponseFilter,
        after: Option<&str>,
        limit: u64,
    ) -> ServiceResult<Vec<ResponseRow>> {
        let mut conditions = vec!["response_id > $1".to_owned()];
        let mut values: Vec<Value> = vec![after.unwrap_or("").into()];
        let mut push = |condition: &str, value: Value, values: &mut Vec<Value>| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(account_id) = &filter.account_id {
            push("account_id = ?", account_id.as_str().into(), &mut values);
        }
        if let Some(campaign_id) = &filter.campaign_id {
            push("campaign_id = ?", campaign_id.as_str().into(), &mut values);
        }
        if let Some(kind) = filter.kind {
            push("kind = ?", kind.as_str().into(), &mut values);
        }
        if let Some(touchpoint) = filter.touchpoint {
            push("touchpoint = ?", touchpoint.as_str().into(), &mut values);
        }
        if let Some((start, end)) = filter.window {
            push("responded_at >= ?", start.into(), &mut values);
            push("responded_at < ?", end.into(), &mut values);
        }
        if filter.with_comment_only {
            conditions.push("comment <> ''".to_owned());
        }
        let sql = format!(
            "SELECT {RESPONSE_COLUMNS} FROM responses WHERE {} ORDER BY response_id LIMIT {limit}",
            conditions.join(" AND ")
        );
        let rows = query_all(self.db(), &sql, values).await?;
        Ok(rows
            .iter()
            .map(response_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Detractor responses in recording order after `after` (recorded_at, response_id),
    /// or from `since`.
    pub async fn detractors(
        &self,
        after: Option<(DateTime<Utc>, String)>,
        since: Option<DateTime<Utc>>,
        limit: u64,
    ) -> ServiceResult<Vec<ResponseRow>> {
        let (condition, values): (&str, Vec<Value>) = match (after, since) {
            (Some((at, id)), _) => (
                "AND (recorded_at > $1 OR (recorded_at = $1 AND response_id > $2))",
                vec![at.into(), id.into()],
            ),
            (None, Some(since)) => ("AND recorded_at >= $1", vec![since.into()]),
            (None, None) => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT {RESPONSE_COLUMNS} FROM responses WHERE nps_category = 'DETRACTOR' {condition} \
             ORDER BY recorded_at, response_id LIMIT {limit}"
        );
        let rows = query_all(self.db(), &sql, values).await?;
        Ok(rows
            .iter()
            .map(response_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn responses_of_account(&self, account_id: &str) -> ServiceResult<Vec<ResponseRow>> {
        let rows = query_all(
            self.db(),
            &format!("SELECT {RESPONSE_COLUMNS} FROM responses WHERE account_id = $1 ORDER BY responded_at, response_id"),
            vec![account_id.into()],
        )
        .await?;
        Ok(rows
            .iter()
            .map(response_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// GDPR: every invitation and response of an account, and the stored answers to
    /// idempotent requests about it.
    pub async fn erase_account(&self, account_id: &str) -> ServiceResult<(u64, u64)> {
        self.erase_where("account_id", account_id, Some(account_id))
            .await
    }

    /// GDPR: everything one person said, in every account.
    pub async fn erase_respondent(&self, respondent_id: &str) -> ServiceResult<(u64, u64)> {
        self.erase_where("respondent_id", respondent_id, None).await
    }

    async fn erase_where(
        &self,
        column: &str,
        value: &str,
        subject: Option<&str>,
    ) -> ServiceResult<(u64, u64)> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        if subject.is_none() {
            // Direct responses of this person may sit behind idempotency keys.
            let ids = query_all(
                db,
                "SELECT response_id FROM responses WHERE respondent_id = $1",
                vec![value.into()],
            )
            .await?;
            for row in ids {
                let response_id: String = row.try_get("", "response_id")?;
                execute(
                    db,
                    "DELETE FROM idempotency_keys WHERE operation = $1 AND response = $2",
                    vec![RECORD_RESPONSE.into(), response_id.into_bytes().into()],
                )
                .await?;
            }
        }
        let responses = execute(
            db,
            &format!("DELETE FROM responses WHERE {column} = $1"),
            vec![value.into()],
        )
        .await?;
        let invitations = execute(
            db,
            &format!("DELETE FROM invitations WHERE {column} = $1"),
            vec![value.into()],
        )
        .await?;
        if let Some(subject) = subject {
            idempotency::erase_subject(db, subject).await?;
        }
        tx.commit().await?;
        Ok((invitations, responses))
    }
}

/// Inserts the responses in as few statements as the database allows.
pub(super) async fn insert_responses(
    db: &impl ConnectionTrait,
    responses: &[ResponseRow],
) -> ServiceResult<()> {
    let rows = responses
        .iter()
        .map(|response| {
            vec![
                Value::from(response.response_id.as_str()),
                response.campaign_id.as_str().into(),
                response.invitation_id.clone().into(),
                response.account_id.as_str().into(),
                response.respondent_id.as_str().into(),
                response.kind.as_str().into(),
                response.touchpoint.as_str().into(),
                response.score.into(),
                response.nps_category.map(|c| c.as_str()).into(),
                response.comment.as_str().into(),
                response.churn_reason.map(|r| r.as_str()).into(),
                response.churn_reason_text.as_str().into(),
                response.responded_at.into(),
                response.recorded_at.into(),
            ]
        })
        .collect();
    insert_rows(
        db,
        &format!("INSERT INTO responses ({RESPONSE_COLUMNS})"),
        "",
        14,
        rows,
    )
    .await
    .map_err(|error| ServiceError::from_unique(error, "a response with this response_id"))?;
    Ok(())
}

/// The stored responses among `ids`, by id.
pub(super) async fn fetch_responses(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> ServiceResult<std::collections::HashMap<String, ResponseRow>> {
    // The key column comes first in every row, so it is not asked for twice.
    let columns = RESPONSE_COLUMNS.trim_start_matches("response_id, ");
    let rows = select_by_keys(
        db,
        columns,
        "responses",
        "response_id",
        ("", Vec::new()),
        ids,
    )
    .await?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let response = response_from_row(&row)?;
        found.insert(response.response_id.clone(), response);
    }
    Ok(found)
}

async fn fetch_response(
    db: &impl ConnectionTrait,
    response_id: &str,
) -> ServiceResult<ResponseRow> {
    let row = query_one(
        db,
        &format!("SELECT {RESPONSE_COLUMNS} FROM responses WHERE response_id = $1"),
        vec![response_id.into()],
    )
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("response {response_id}")))?;
    Ok(response_from_row(&row)?)
}
