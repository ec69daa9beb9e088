//! Survey statistics as SQL aggregates, so a company-wide figure over a million responses
//! never leaves the database row by row. NPS counts each respondent's latest answer in
//! the window (a window function); CES, CSAT and invitations are plain sums.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use nordstern_domain::survey::{CesTotals, CsatTotals, NpsCategory, NpsCounts};
use nordstern_runtime::{
    error::ServiceResult,
    storage::{parse_column, placeholders, query_all},
};
use sea_orm::{ConnectionTrait, Value};

use super::Store;

/// Everything the statistics of one window are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowTotals {
    pub responses: u64,
    /// Respondents' latest NPS answers, by category.
    pub nps: NpsCounts,
    /// Every NPS answer.
    pub nps_answers: u64,
    pub ces: CesTotals,
    pub csat: CsatTotals,
    pub invitations_sent: u64,
    pub invitations_answered: u64,
}

impl WindowTotals {
    pub fn merge(&mut self, other: &WindowTotals) {
        self.responses += other.responses;
        self.nps.merge(&other.nps);
        self.nps_answers += other.nps_answers;
        self.ces.merge(&other.ces);
        self.csat.merge(&other.csat);
        self.invitations_sent += other.invitations_sent;
        self.invitations_answered += other.invitations_answered;
    }

    pub fn response_rate(&self) -> Option<f64> {
        (self.invitations_sent > 0)
            .then(|| self.invitations_answered as f64 / self.invitations_sent as f64)
    }
}

/// Which accounts statistics cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSet {
    All,
    Accounts(Vec<String>),
}

/// IN lists stay below every backend's parameter limit.
const CHUNK: usize = 500;

impl Store {
    /// Totals of the whole set in `[start, end)`.
    pub async fn window_totals(
        &self,
        set: &AccountSet,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> ServiceResult<WindowTotals> {
        let mut total = WindowTotals::default();
        match set {
            AccountSet::All => {
                for totals in aggregate(self.db(), None, start, end).await?.values() {
                    total.merge(totals);
                }
            }
            AccountSet::Accounts(ids) => {
                for totals in self.totals_by_account(ids, start, end).await?.values() {
                    total.merge(totals);
                }
            }
        }
        Ok(total)
    }

    /// Totals per account in `[start, end)`; accounts without data are absent.
    pub async fn totals_by_account(
        &self,
        ids: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> ServiceResult<HashMap<String, WindowTotals>> {
        let mut all = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            all.extend(aggregate(self.db(), Some(chunk), start, end).await?);
        }
        Ok(all)
    }
}

/// One round of the three aggregates; grouped by account when `accounts` is given,
/// otherwise one total under the key "".
async fn aggregate(
    db: &impl ConnectionTrait,
    accounts: Option<&[String]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> ServiceResult<HashMap<String, WindowTotals>> {
    let mut values: Vec<Value> = vec![start.into(), end.into()];
    let (filter, key, group) = match accounts {
        Some(ids) => {
            values.extend(ids.iter().map(|id| Value::from(id.as_str())));
            (
                format!("AND account_id IN ({})", placeholders(3, ids.len())),
                "account_id",
                "GROUP BY account_id",
            )
        }
        None => (String::new(), "''", ""),
    };
    let mut totals: HashMap<String, WindowTotals> = HashMap::new();

    let nps_sql = format!(
        "SELECT {key} AS account_key, nps_category, COUNT(*) AS n FROM ( \
           SELECT account_id, nps_category, ROW_NUMBER() OVER ( \
             PARTITION BY account_id, respondent_id ORDER BY responded_at DESC, response_id DESC) AS latest \
           FROM responses WHERE kind = 'NPS' AND responded_at >= $1 AND responded_at < $2 {filter} \
         ) answers WHERE latest = 1 GROUP BY {} nps_category",
        if accounts.is_some() {
            "account_id,"
        } else {
            ""
        }
    );
    for row in query_all(db, &nps_sql, values.clone()).await? {
        let account: String = row.try_get("", "account_key")?;
        let n = count(row.try_get("", "n")?);
        let nps = &mut totals.entry(account).or_default().nps;
        match parse_column(&row, "nps_category", NpsCategory::parse)? {
            NpsCategory::Promoter => nps.promoters += n,
            NpsCategory::Passive => nps.passives += n,
            NpsCategory::Detractor => nps.detractors += n,
        }
    }

    let score_sql = format!(
        "SELECT {key} AS account_key, kind, COUNT(*) AS n, CAST(SUM(score) AS BIGINT) AS score_sum, \
           CAST(SUM(CASE WHEN (kind = 'CES' AND score >= 5) OR (kind = 'CSAT' AND score >= 4) THEN 1 ELSE 0 END) AS BIGINT) AS good \
         FROM responses WHERE responded_at >= $1 AND responded_at < $2 {filter} \
         GROUP BY {} kind",
        if accounts.is_some() {
            "account_id,"
        } else {
            ""
        }
    );
    for row in query_all(db, &score_sql, values.clone()).await? {
        let account: String = row.try_get("", "account_key")?;
        let kind: String = row.try_get("", "kind")?;
        let n = count(row.try_get("", "n")?);
        let good = count(row.try_get("", "good")?);
        let entry = totals.entry(account).or_default();
        entry.responses += n;
        match kind.as_str() {
            "NPS" => entry.nps_answers += n,
            "CES" => {
                entry.ces.responses += n;
                entry.ces.score_sum += count(row.try_get("", "score_sum")?);
                entry.ces.easy += good;
            }
            "CSAT" => {
                entry.csat.responses += n;
                entry.csat.satisfied += good;
            }
            _ => {}
        }
    }

    let invitation_sql = format!(
        "SELECT {key} AS account_key, COUNT(*) AS sent, \
           CAST(SUM(CASE WHEN responded_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS answered \
         FROM invitations WHERE invited_at >= $1 AND invited_at < $2 {filter} {group}"
    );
    for row in query_all(db, &invitation_sql, values).await? {
        let account: String = row.try_get("", "account_key")?;
        let sent = count(row.try_get("", "sent")?);
        if sent == 0 {
            continue;
        }
        let entry = totals.entry(account).or_default();
        entry.invitations_sent += sent;
        entry.invitations_answered +=
            count(row.try_get::<Option<i64>>("", "answered")?.unwrap_or(0));
    }
    Ok(totals)
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
