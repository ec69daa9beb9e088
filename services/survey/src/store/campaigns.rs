//! Campaigns and invitations.

use nordstern_domain::survey::{SurveyKind, Touchpoint};
use nordstern_runtime::{
    error::{ServiceError, ServiceResult},
    idempotency::{self, IdempotencyKey},
    status::FieldViolations,
    storage::{execute, parse_column, query_all, query_one},
    wire::{new_id, now_micros},
};
use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{CampaignRow, INVITATION_COLUMNS, InvitationRow, Store, invitation_from_row};

/// A campaign is asked in German, English or both; it needs one of them.
pub const QUESTION_REQUIRED: &str = "at least one of question_de and question_en is required";

#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    pub kind: SurveyKind,
    pub touchpoint: Touchpoint,
    pub question_de: String,
    pub question_en: String,
}

#[derive(Debug, Clone, Default)]
pub struct CampaignPatch {
    pub name: Option<String>,
    pub question_de: Option<String>,
    pub question_en: Option<String>,
}

/// Who to invite: an account, a person there, and the language they read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub account_id: String,
    pub respondent_id: String,
    pub language: String,
}

const CREATE_CAMPAIGN: &str = "CreateCampaign";
const CAMPAIGN_COLUMNS: &str =
    "campaign_id, name, kind, touchpoint, question_de, question_en, created_at";

impl Store {
    pub async fn create_campaign(
        &self,
        key: Option<IdempotencyKey>,
        new: NewCampaign,
    ) -> ServiceResult<CampaignRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        if let Some(key) = &key
            && let Some(stored) =
                idempotency::find_response(db, CREATE_CAMPAIGN, &key.key, key.fingerprint).await?
        {
            return fetch_campaign(db, &String::from_utf8_lossy(&stored)).await;
        }
        let campaign_id = new_id();
        execute(
            db,
            &format!(
                "INSERT INTO campaigns ({CAMPAIGN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            vec![
                campaign_id.as_str().into(),
                new.name.into(),
                new.kind.as_str().into(),
                new.touchpoint.as_str().into(),
                new.question_de.into(),
                new.question_en.into(),
                now_micros().into(),
            ],
        )
        .await?;
        if let Some(key) = &key {
            idempotency::store_response(
                db,
                CREATE_CAMPAIGN,
                &key.key,
                key.fingerprint,
                campaign_id.clone().into_bytes(),
                None,
            )
            .await?;
        }
        let campaign = fetch_campaign(db, &campaign_id).await?;
        tx.commit().await?;
        Ok(campaign)
    }

    pub async fn get_campaign(&self, campaign_id: &str) -> ServiceResult<CampaignRow> {
        fetch_campaign(self.db(), campaign_id).await
    }

    pub async fn update_campaign(
        &self,
        campaign_id: &str,
        patch: CampaignPatch,
    ) -> ServiceResult<CampaignRow> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let current = fetch_campaign_settings(db, campaign_id).await?;
        let question_de = patch.question_de.unwrap_or(current.question_de);
        let question_en = patch.question_en.unwrap_or(current.question_en);
        if question_de.is_empty() && question_en.is_empty() {
            let mut v = FieldViolations::new();
            v.add("campaign.question_de", QUESTION_REQUIRED);
            v.add("campaign.question_en", QUESTION_REQUIRED);
            return Err(v.into());
        }
        execute(
            db,
            "UPDATE campaigns SET name = $1, question_de = $2, question_en = $3 WHERE campaign_id = $4",
            vec![
                patch.name.unwrap_or(current.name).into(),
                question_de.into(),
                question_en.into(),
                campaign_id.into(),
            ],
        )
        .await?;
        let campaign = fetch_campaign(db, campaign_id).await?;
        tx.commit().await?;
        Ok(campaign)
    }

    pub async fn list_campaigns(
        &self,
        kind: Option<SurveyKind>,
        touchpoint: Option<Touchpoint>,
        after: Option<&str>,
        limit: u64,
    ) -> ServiceResult<Vec<CampaignRow>> {
        let mut conditions = vec!["campaign_id > $1".to_owned()];
        let mut values: Vec<Value> = vec![after.unwrap_or("").into()];
        if let Some(kind) = kind {
            values.push(kind.as_str().into());
            conditions.push(format!("kind = ${}", values.len()));
        }
        if let Some(touchpoint) = touchpoint {
            values.push(touchpoint.as_str().into());
            conditions.push(format!("touchpoint = ${}", values.len()));
        }
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE {} ORDER BY campaign_id LIMIT {limit}",
            conditions.join(" AND ")
        );
        let rows = query_all(self.db(), &sql, values).await?;
        let mut campaigns = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut campaign = campaign_from_row(row)?;
            attach_counts(self.db(), &mut campaign).await?;
            campaigns.push(campaign);
        }
        Ok(campaigns)
    }

    /// Invites each target once per campaign: inviting the same person again returns the
    /// invitation (and token) they already have.
    pub async fn create_invitations(
        &self,
        campaign_id: &str,
        targets: &[Target],
    ) -> ServiceResult<Vec<InvitationRow>> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        fetch_campaign_settings(db, campaign_id).await?;
        let now = now_micros();
        let mut invitations = Vec::with_capacity(targets.len());
        for target in targets {
            let existing = query_one(
                db,
                &format!(
                    "SELECT {INVITATION_COLUMNS} FROM invitations WHERE campaign_id = $1 AND account_id = $2 AND respondent_id = $3"
                ),
                vec![
                    campaign_id.into(),
                    target.account_id.as_str().into(),
                    target.respondent_id.as_str().into(),
                ],
            )
            .await?;
            if let Some(row) = existing {
                invitations.push(invitation_from_row(&row)?);
                continue;
            }
            let invitation = InvitationRow {
                invitation_id: new_id(),
                campaign_id: campaign_id.to_owned(),
                account_id: target.account_id.clone(),
                respondent_id: target.respondent_id.clone(),
                language: target.language.clone(),
                token: new_token(),
                invited_at: now,
                responded_at: None,
                response_id: None,
            };
            execute(
                db,
                &format!("INSERT INTO invitations ({INVITATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)"),
                vec![
                    invitation.invitation_id.as_str().into(),
                    campaign_id.into(),
                    invitation.account_id.as_str().into(),
                    invitation.respondent_id.as_str().into(),
                    invitation.language.as_str().into(),
                    invitation.token.as_str().into(),
                    now.into(),
                ],
            )
            .await?;
            invitations.push(invitation);
        }
        tx.commit().await?;
        Ok(invitations)
    }

    pub async fn invitation_by_token(
        &self,
        token: &str,
    ) -> ServiceResult<(InvitationRow, CampaignRow)> {
        let row = query_one(
            self.db(),
            &format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE token = $1"),
            vec![token.into()],
        )
        .await?
        .ok_or_else(|| ServiceError::NotFound("invitation for this token".to_owned()))?;
        let invitation = invitation_from_row(&row)?;
        let campaign = fetch_campaign(self.db(), &invitation.campaign_id).await?;
        Ok((invitation, campaign))
    }

    pub async fn invitations_of_account(
        &self,
        account_id: &str,
    ) -> ServiceResult<Vec<InvitationRow>> {
        let rows = query_all(
            self.db(),
            &format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE account_id = $1 ORDER BY invitation_id"),
            vec![account_id.into()],
        )
        .await?;
        Ok(rows
            .iter()
            .map(invitation_from_row)
            .collect::<Result<_, _>>()?)
    }
}

/// 256 random bits as hex: unguessable, and safe in a URL.
fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn campaign_from_row(row: &QueryResult) -> Result<CampaignRow, sea_orm::DbErr> {
    Ok(CampaignRow {
        campaign_id: row.try_get("", "campaign_id")?,
        name: row.try_get("", "name")?,
        kind: parse_column(row, "kind", SurveyKind::parse)?,
        touchpoint: parse_column(row, "touchpoint", Touchpoint::parse)?,
        question_de: row.try_get("", "question_de")?,
        question_en: row.try_get("", "question_en")?,
        created_at: row.try_get("", "created_at")?,
        invitation_count: 0,
        response_count: 0,
    })
}

async fn attach_counts(
    db: &impl ConnectionTrait,
    campaign: &mut CampaignRow,
) -> Result<(), sea_orm::DbErr> {
    let row = query_one(
        db,
        "SELECT (SELECT COUNT(*) FROM invitations WHERE campaign_id = $1) AS invitations, \
         (SELECT COUNT(*) FROM responses WHERE campaign_id = $1) AS responses",
        vec![campaign.campaign_id.as_str().into()],
    )
    .await?;
    if let Some(row) = row {
        campaign.invitation_count = row.try_get("", "invitations")?;
        campaign.response_count = row.try_get("", "responses")?;
    }
    Ok(())
}

/// The campaign with its invitation and response counts, for callers that show it.
pub(super) async fn fetch_campaign(
    db: &impl ConnectionTrait,
    campaign_id: &str,
) -> ServiceResult<CampaignRow> {
    let mut campaign = fetch_campaign_settings(db, campaign_id).await?;
    attach_counts(db, &mut campaign).await?;
    Ok(campaign)
}

/// The campaign without its counts (left at 0): what recording an answer needs. Counting
/// on every answer made each one cost more than the one before.
pub(super) async fn fetch_campaign_settings(
    db: &impl ConnectionTrait,
    campaign_id: &str,
) -> ServiceResult<CampaignRow> {
    let row = query_one(
        db,
        &format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = $1"),
        vec![campaign_id.into()],
    )
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("campaign {campaign_id}")))?;
    Ok(campaign_from_row(&row)?)
}
