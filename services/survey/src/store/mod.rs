//! SQL of the survey service; every query runs on SQLite and PostgreSQL alike.

mod batch;
mod campaigns;
mod responses;
mod stats;

use chrono::{DateTime, Utc};
use nordstern_domain::survey::{ChurnReason, NpsCategory, SurveyKind, Touchpoint};
use nordstern_runtime::storage::{SerialWriter, parse_column, parse_optional_column};
use sea_orm::{DatabaseConnection, DbErr, QueryResult};

pub use campaigns::{CampaignPatch, NewCampaign, QUESTION_REQUIRED, Target};
pub use responses::{Answer, RecordedAnswer, ResponseFilter, check_answer};
pub use stats::{AccountSet, WindowTotals};

/// Advisory lock id of the survey service's serialised writes ("SURV" in ASCII).
const WRITE_LOCK_KEY: i64 = 0x5355_5256;

#[derive(Clone)]
pub struct Store {
    writer: SerialWriter,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Store {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
        }
    }

    fn db(&self) -> &DatabaseConnection {
        self.writer.db()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    pub campaign_id: String,
    pub name: String,
    pub kind: SurveyKind,
    pub touchpoint: Touchpoint,
    pub question_de: String,
    pub question_en: String,
    pub created_at: DateTime<Utc>,
    pub invitation_count: i64,
    pub response_count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRow {
    pub invitation_id: String,
    pub campaign_id: String,
    pub account_id: String,
    pub respondent_id: String,
    /// `GERMAN` or `ENGLISH`.
    pub language: String,
    pub token: String,
    pub invited_at: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    pub response_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRow {
    pub response_id: String,
    pub campaign_id: String,
    pub invitation_id: Option<String>,
    pub account_id: String,
    pub respondent_id: String,
    pub kind: SurveyKind,
    pub touchpoint: Touchpoint,
    pub score: i32,
    pub nps_category: Option<NpsCategory>,
    pub comment: String,
    pub churn_reason: Option<ChurnReason>,
    pub churn_reason_text: String,
    pub responded_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

const INVITATION_COLUMNS: &str = "invitation_id, campaign_id, account_id, respondent_id, language, token, invited_at, responded_at, response_id";

fn invitation_from_row(row: &QueryResult) -> Result<InvitationRow, DbErr> {
    Ok(InvitationRow {
        invitation_id: row.try_get("", "invitation_id")?,
        campaign_id: row.try_get("", "campaign_id")?,
        account_id: row.try_get("", "account_id")?,
        respondent_id: row.try_get("", "respondent_id")?,
        language: row.try_get("", "language")?,
        token: row.try_get("", "token")?,
        invited_at: row.try_get("", "invited_at")?,
        responded_at: row.try_get("", "responded_at")?,
        response_id: row.try_get("", "response_id")?,
    })
}

const RESPONSE_COLUMNS: &str = "response_id, campaign_id, invitation_id, account_id, respondent_id, kind, touchpoint, score, \
     nps_category, comment, churn_reason, churn_reason_text, responded_at, recorded_at";

fn response_from_row(row: &QueryResult) -> Result<ResponseRow, DbErr> {
    Ok(ResponseRow {
        response_id: row.try_get("", "response_id")?,
        campaign_id: row.try_get("", "campaign_id")?,
        invitation_id: row.try_get("", "invitation_id")?,
        account_id: row.try_get("", "account_id")?,
        respondent_id: row.try_get("", "respondent_id")?,
        kind: parse_column(row, "kind", SurveyKind::parse)?,
        touchpoint: parse_column(row, "touchpoint", Touchpoint::parse)?,
        score: row.try_get("", "score")?,
        nps_category: parse_optional_column(row, "nps_category", NpsCategory::parse)?,
        comment: row.try_get("", "comment")?,
        churn_reason: parse_optional_column(row, "churn_reason", ChurnReason::parse)?,
        churn_reason_text: row.try_get("", "churn_reason_text")?,
        responded_at: row.try_get("", "responded_at")?,
        recorded_at: row.try_get("", "recorded_at")?,
    })
}
