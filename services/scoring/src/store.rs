//! SQL of the scoring service; every query runs on SQLite and PostgreSQL alike. Score
//! rows carry the protobuf encoding of the score next to the columns lists filter and
//! sort on.

use std::collections::HashMap;

use chrono::DateTime;
use nordstern_proto::scoring::v1 as pb;
use nordstern_runtime::storage::{
    SerialWriter, execute, insert_rows, placeholders, query_all, query_one,
};
use nordstern_runtime::wire::timestamp;
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult, Value};

/// Advisory lock id of the scoring service's serialised writes ("SCOR" in ASCII).
const WRITE_LOCK_KEY: i64 = 0x5343_4f52;

/// Accounts per `IN (…)` list.
const IDS_PER_QUERY: usize = 500;

pub const ACTIVE_MODEL: &str = "active_model";
pub const DETRACTOR_FEED: &str = "detractor_feed";

#[derive(Clone)]
pub struct Store {
    /// Score versions are read and incremented in one transaction, and replicas must not
    /// interleave: one writer at a time, across processes on PostgreSQL.
    writer: SerialWriter,
}

/// One computation to store.
#[derive(Debug, Clone)]
pub struct ScoreWrite {
    pub account_id: String,
    pub version: i64,
    pub score: f64,
    pub color: &'static str,
    pub csm_id: String,
    pub segment: &'static str,
    pub arr_at_risk: i64,
    pub computed_at: i64,
    /// Set by [`Store::write_scores`] for a changed score: the commit's instant.
    pub changed_at: i64,
    /// Score, colour or churn probability differ from the previous computation.
    pub changed: bool,
    pub churn_probability: f64,
    pub payload: Vec<u8>,
    pub color_change: Option<ColorChangeRow>,
    pub alerts: Vec<AlertRow>,
    /// The account's suggestions now; the stored ones are replaced.
    pub opportunities: Vec<OpportunityRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColorChangeRow {
    pub account_id: String,
    pub version: i64,
    pub from_color: String,
    pub to_color: String,
    pub score: f64,
    pub changed_at: i64,
    pub csm_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub alert_id: String,
    pub account_id: String,
    pub csm_id: String,
    pub alert_type: String,
    pub status: String,
    pub reason: String,
    pub survey_response_id: String,
    pub arr_minor: i64,
    pub currency_code: String,
    pub raised_at: i64,
    pub acknowledged_at: Option<i64>,
    pub resolved_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpportunityRow {
    pub account_id: String,
    pub module_key: String,
    pub csm_id: String,
    pub list_price_minor: i64,
    pub currency_code: String,
    pub likelihood: f64,
    pub expected_value_minor: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub version: i64,
    pub computed_at: i64,
    pub score: f64,
    pub color: String,
    pub churn_probability: f64,
    pub payload: Vec<u8>,
}

/// Filters of the latest-score list, ordered by (changed_at, account_id).
#[derive(Debug, Clone, Default)]
pub struct ScoreFilter {
    pub color: Option<&'static str>,
    pub csm_id: Option<String>,
    pub segment: Option<&'static str>,
    pub changed_since: Option<i64>,
}

/// The orders latest scores are listed in.
#[derive(Debug, Clone, Copy)]
enum ScoreOrder {
    /// For CRM syncs: oldest change first.
    ChangedAt,
    /// The risk list: highest ARR at risk first.
    ArrAtRiskDescending,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub csm_id: Option<String>,
    pub account_id: Option<String>,
    pub statuses: Vec<&'static str>,
    pub alert_types: Vec<&'static str>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Store {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.writer.db()
    }

    // ---- configuration and models -------------------------------------------------

    /// The stored configuration of `version`, or the highest when `None`.
    pub async fn config(&self, version: Option<i32>) -> Result<Option<(i32, Vec<u8>, i64)>, DbErr> {
        let row = match version {
            Some(version) => {
                query_one(
                    self.db(),
                    "SELECT version, body, created_at FROM scoring_configs WHERE version = $1",
                    vec![version.into()],
                )
                .await?
            }
            None => {
                query_one(
                    self.db(),
                    "SELECT version, body, created_at FROM scoring_configs ORDER BY version DESC LIMIT 1",
                    vec![],
                )
                .await?
            }
        };
        row.map(|row| {
            Ok((
                row.try_get("", "version")?,
                row.try_get("", "body")?,
                row.try_get("", "created_at")?,
            ))
        })
        .transpose()
    }

    /// Stores a configuration as the next version and returns it; the first stored one is
    /// version 2, because version 1 is the built-in default.
    pub async fn insert_config(
        &self,
        body: impl Fn(i32) -> Vec<u8>,
        created_at: i64,
    ) -> Result<i32, DbErr> {
        let txn = self.writer.begin().await?;
        let version = next_number(&txn.txn, "SELECT MAX(version) AS n FROM scoring_configs")
            .await?
            .max(2);
        execute(
            &txn.txn,
            "INSERT INTO scoring_configs (version, body, created_at) VALUES ($1, $2, $3)",
            vec![version.into(), body(version).into(), created_at.into()],
        )
        .await?;
        txn.commit().await?;
        Ok(version)
    }

    /// Stores a trained model as the next version and returns the version.
    pub async fn insert_model(
        &self,
        model_id: &str,
        body: impl Fn(i32) -> Vec<u8>,
    ) -> Result<i32, DbErr> {
        let txn = self.writer.begin().await?;
        let version = next_number(&txn.txn, "SELECT MAX(version) AS n FROM churn_models").await?;
        execute(
            &txn.txn,
            "INSERT INTO churn_models (model_id, version, body) VALUES ($1, $2, $3)",
            vec![model_id.into(), version.into(), body(version).into()],
        )
        .await?;
        txn.commit().await?;
        Ok(version)
    }

    pub async fn model(&self, model_id: &str) -> Result<Option<Vec<u8>>, DbErr> {
        query_one(
            self.db(),
            "SELECT body FROM churn_models WHERE model_id = $1",
            vec![model_id.into()],
        )
        .await?
        .map(|row| row.try_get("", "body"))
        .transpose()
    }

    /// Models newest first, below `before_version` when given.
    pub async fn models(
        &self,
        before_version: Option<i32>,
        limit: u64,
    ) -> Result<Vec<(i32, Vec<u8>)>, DbErr> {
        let rows = query_all(
            self.db(),
            "SELECT version, body FROM churn_models WHERE version < $1 ORDER BY version DESC LIMIT $2",
            vec![before_version.unwrap_or(i32::MAX).into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
        )
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("", "version")?, row.try_get("", "body")?)))
            .collect()
    }

    pub async fn state(&self, name: &str) -> Result<Option<String>, DbErr> {
        query_one(
            self.db(),
            "SELECT value FROM scoring_state WHERE name = $1",
            vec![name.into()],
        )
        .await?
        .map(|row| row.try_get("", "value"))
        .transpose()
    }

    pub async fn set_state(&self, name: &str, value: &str) -> Result<(), DbErr> {
        let txn = self.writer.begin().await?;
        set_state(&txn.txn, name, value).await?;
        txn.commit().await
    }

    // ---- scores ------------------------------------------------------------------

    /// The latest stored score (protobuf) of every id that has one.
    pub async fn latest(&self, ids: &[String]) -> Result<HashMap<String, Vec<u8>>, DbErr> {
        let mut latest = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT account_id, payload FROM health_scores WHERE account_id IN ({})",
                placeholders(1, chunk.len())
            );
            let values = chunk.iter().map(|id| Value::from(id.clone())).collect();
            for row in query_all(self.db(), &sql, values).await? {
                latest.insert(row.try_get("", "account_id")?, row.try_get("", "payload")?);
            }
        }
        Ok(latest)
    }

    /// Stores computations in one transaction: latest score, history, colour change,
    /// alerts not already open, opportunities. A computation whose version is not above
    /// the stored one is skipped (a concurrent recompute got there first). Returns the
    /// writes that were applied and the alerts raised.
    pub async fn write_scores(
        &self,
        writes: Vec<ScoreWrite>,
    ) -> Result<(Vec<ScoreWrite>, Vec<AlertRow>), DbErr> {
        let txn = self.writer.begin().await?;
        let ids: Vec<String> = writes.iter().map(|w| w.account_id.clone()).collect();
        let mut stored_versions: HashMap<String, i64> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT account_id, version FROM health_scores WHERE account_id IN ({})",
                placeholders(1, chunk.len())
            );
            let values = chunk.iter().map(|id| Value::from(id.clone())).collect();
            for row in query_all(&txn.txn, &sql, values).await? {
                stored_versions.insert(row.try_get("", "account_id")?, row.try_get("", "version")?);
            }
        }
        let mut applied: Vec<ScoreWrite> = writes
            .into_iter()
            .filter(|w| {
                stored_versions
                    .get(&w.account_id)
                    .is_none_or(|&v| w.version > v)
            })
            .collect();
        if applied.is_empty() {
            txn.commit().await?;
            return Ok((applied, Vec::new()));
        }
        // Changed scores get one instant taken under the writer lock, later than any
        // stored change: a CRM paging by (changed_at, account_id) never has a row appear
        // behind its cursor, whatever order batches and recomputes finish in.
        let latest_change: Option<i64> = query_one(
            &txn.txn,
            "SELECT MAX(changed_at) AS latest FROM health_scores",
            vec![],
        )
        .await?
        .map(|row| row.try_get::<Option<i64>>("", "latest"))
        .transpose()?
        .flatten();
        let stamp = nordstern_runtime::wire::now_micros()
            .timestamp_micros()
            .max(latest_change.map_or(i64::MIN, |latest| latest + 1));
        for write in applied.iter_mut().filter(|w| w.changed) {
            write.changed_at = stamp;
            let mut score = pb::HealthScore::decode(write.payload.as_slice())
                .map_err(|e| DbErr::Custom(format!("a score to store does not decode: {e}")))?;
            score.changed_at = DateTime::from_timestamp_micros(stamp).map(timestamp);
            write.payload = score.encode_to_vec();
        }
        let ids: Vec<String> = applied.iter().map(|w| w.account_id.clone()).collect();

        insert_rows(
            &txn.txn,
            "INSERT INTO health_scores (account_id, version, score, color, csm_id, segment, arr_at_risk, computed_at, changed_at, payload)",
            "ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, score = excluded.score, \
             color = excluded.color, csm_id = excluded.csm_id, segment = excluded.segment, \
             arr_at_risk = excluded.arr_at_risk, computed_at = excluded.computed_at, \
             changed_at = excluded.changed_at, payload = excluded.payload",
            10,
            applied
                .iter()
                .map(|w| {
                    vec![
                        w.account_id.clone().into(),
                        w.version.into(),
                        w.score.into(),
                        w.color.into(),
                        w.csm_id.clone().into(),
                        w.segment.into(),
                        w.arr_at_risk.into(),
                        w.computed_at.into(),
                        w.changed_at.into(),
                        w.payload.clone().into(),
                    ]
                })
                .collect(),
        )
        .await?;
        insert_rows(
            &txn.txn,
            "INSERT INTO health_score_history (account_id, version, computed_at, score, color, churn_probability, payload)",
            "",
            7,
            applied
                .iter()
                .map(|w| {
                    vec![
                        w.account_id.clone().into(),
                        w.version.into(),
                        w.computed_at.into(),
                        w.score.into(),
                        w.color.into(),
                        w.churn_probability.into(),
                        w.payload.clone().into(),
                    ]
                })
                .collect(),
        )
        .await?;
        insert_rows(
            &txn.txn,
            "INSERT INTO color_changes (account_id, version, from_color, to_color, score, changed_at, csm_id)",
            "",
            7,
            applied
                .iter()
                .filter_map(|w| w.color_change.as_ref())
                .map(|c| {
                    vec![
                        c.account_id.clone().into(),
                        c.version.into(),
                        c.from_color.clone().into(),
                        c.to_color.clone().into(),
                        c.score.into(),
                        c.changed_at.into(),
                        c.csm_id.clone().into(),
                    ]
                })
                .collect(),
        )
        .await?;
        let candidates: Vec<AlertRow> = applied.iter().flat_map(|w| w.alerts.clone()).collect();
        let raised = insert_alerts(&txn.txn, candidates).await?;

        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "DELETE FROM upsell_opportunities WHERE account_id IN ({})",
                placeholders(1, chunk.len())
            );
            let values = chunk.iter().map(|id| Value::from(id.clone())).collect();
            execute(&txn.txn, &sql, values).await?;
        }
        insert_rows(
            &txn.txn,
            "INSERT INTO upsell_opportunities (account_id, module_key, csm_id, list_price_minor, currency_code, likelihood, expected_value_minor, reason)",
            "",
            8,
            applied
                .iter()
                .flat_map(|w| &w.opportunities)
                .map(|o| {
                    vec![
                        o.account_id.clone().into(),
                        o.module_key.clone().into(),
                        o.csm_id.clone().into(),
                        o.list_price_minor.into(),
                        o.currency_code.clone().into(),
                        o.likelihood.into(),
                        o.expected_value_minor.into(),
                        o.reason.clone().into(),
                    ]
                })
                .collect(),
        )
        .await?;
        txn.commit().await?;
        Ok((applied, raised))
    }

    /// Latest scores after `after` = (changed_at, account_id), oldest change first.
    pub async fn list_scores(
        &self,
        filter: &ScoreFilter,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, DbErr> {
        self.scores_by(ScoreOrder::ChangedAt, filter, after, limit)
            .await
    }

    /// Latest scores by ARR at risk, highest first, after `after` = (arr_at_risk, account_id).
    pub async fn at_risk(
        &self,
        filter: &ScoreFilter,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, DbErr> {
        self.scores_by(ScoreOrder::ArrAtRiskDescending, filter, after, limit)
            .await
    }

    /// Latest scores filtered and in `order` (ties by account id), each with its sort key.
    async fn scores_by(
        &self,
        order: ScoreOrder,
        filter: &ScoreFilter,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, DbErr> {
        let (key, past, direction) = match order {
            ScoreOrder::ChangedAt => ("changed_at", ">", ""),
            ScoreOrder::ArrAtRiskDescending => ("arr_at_risk", "<", " DESC"),
        };
        let mut sql = Select::new(&format!(
            "SELECT {key} AS sort_key, account_id, payload FROM health_scores"
        ));
        if let Some(color) = filter.color {
            sql.bind(" AND color = ?", color.into());
        }
        if let Some(csm) = &filter.csm_id {
            sql.bind(" AND csm_id = ?", csm.clone().into());
        }
        if let Some(segment) = filter.segment {
            sql.bind(" AND segment = ?", segment.into());
        }
        if let Some(since) = filter.changed_since {
            sql.bind(" AND changed_at >= ?", since.into());
        }
        if let Some((value, account_id)) = after {
            sql.bind(&format!(" AND ({key} {past} ?"), value.into());
            sql.bind(&format!(" OR ({key} = ?"), value.into());
            sql.bind(" AND account_id > ?))", account_id.into());
        }
        sql.bind(
            &format!(" ORDER BY {key}{direction}, account_id LIMIT ?"),
            fetch_limit(limit).into(),
        );
        let rows = sql.run(self.db()).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("", "sort_key")?,
                    row.try_get("", "account_id")?,
                    row.try_get("", "payload")?,
                ))
            })
            .collect()
    }

    /// Computations of one account newest first, within [from, to) when given, below
    /// `before_version`.
    pub async fn history(
        &self,
        account_id: &str,
        window: Option<(i64, i64)>,
        before_version: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HistoryRow>, DbErr> {
        let (from, to) = window.unwrap_or((i64::MIN, i64::MAX));
        let rows = query_all(
            self.db(),
            "SELECT version, computed_at, score, color, churn_probability, payload FROM health_score_history \
             WHERE account_id = $1 AND computed_at >= $2 AND computed_at < $3 AND version < $4 \
             ORDER BY version DESC LIMIT $5",
            vec![
                account_id.into(),
                from.into(),
                to.into(),
                before_version.unwrap_or(i64::MAX).into(),
                fetch_limit(limit).into(),
            ],
        )
        .await?;
        rows.iter().map(history_row).collect()
    }

    /// The latest computation of every account in `ids` at or before `at`.
    pub async fn history_as_of(
        &self,
        cutoffs: &[(String, i64)],
    ) -> Result<HashMap<String, HistoryRow>, DbErr> {
        let mut found = HashMap::new();
        for (account_id, at) in cutoffs {
            let row = query_one(
                self.db(),
                "SELECT version, computed_at, score, color, churn_probability, payload FROM health_score_history \
                 WHERE account_id = $1 AND computed_at <= $2 ORDER BY computed_at DESC, version DESC LIMIT 1",
                vec![account_id.clone().into(), (*at).into()],
            )
            .await?;
            if let Some(row) = row {
                found.insert(account_id.clone(), history_row(&row)?);
            }
        }
        Ok(found)
    }

    /// Colour changes newest first after `after` = (changed_at, account_id, version).
    pub async fn color_changes(
        &self,
        account_id: Option<&str>,
        csm_id: Option<&str>,
        changed_since: Option<i64>,
        downward_only: bool,
        after: Option<(i64, String, i64)>,
        limit: u64,
    ) -> Result<Vec<ColorChangeRow>, DbErr> {
        let mut sql = Select::new(
            "SELECT account_id, version, from_color, to_color, score, changed_at, csm_id FROM color_changes",
        );
        if let Some(account) = account_id {
            sql.bind(" AND account_id = ?", account.to_owned().into());
        }
        if let Some(csm) = csm_id {
            sql.bind(" AND csm_id = ?", csm.to_owned().into());
        }
        if let Some(since) = changed_since {
            sql.bind(" AND changed_at >= ?", since.into());
        }
        if downward_only {
            // Worse colours only: green to yellow or red, yellow to red.
            sql.bind(
                " AND ((from_color = 'GREEN' AND to_color IN ('YELLOW', 'RED')) OR (from_color = 'YELLOW' AND to_color = ?))",
                "RED".into(),
            );
        }
        if let Some((changed_at, account, version)) = after {
            sql.bind(" AND (changed_at < ?", changed_at.into());
            sql.bind(" OR (changed_at = ?", changed_at.into());
            sql.bind(" AND (account_id > ?", account.clone().into());
            sql.bind(" OR (account_id = ?", account.into());
            sql.bind(" AND version < ?))))", version.into());
        }
        sql.bind(
            " ORDER BY changed_at DESC, account_id, version DESC LIMIT ?",
            fetch_limit(limit).into(),
        );
        let rows = sql.run(self.db()).await?;
        rows.iter().map(color_change_row).collect()
    }

    // ---- alerts ------------------------------------------------------------------

    /// Raises alerts outside a score computation (detractor responses); equal open ones
    /// are skipped.
    pub async fn raise_alerts(&self, alerts: Vec<AlertRow>) -> Result<Vec<AlertRow>, DbErr> {
        let txn = self.writer.begin().await?;
        let raised = insert_alerts(&txn.txn, alerts).await?;
        txn.commit().await?;
        Ok(raised)
    }

    /// Alerts newest first after `after` = (raised_at, alert_id).
    pub async fn alerts(
        &self,
        filter: &AlertFilter,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<AlertRow>, DbErr> {
        let mut sql = Select::new(&format!("SELECT {ALERT_COLUMNS} FROM alerts"));
        if let Some(csm) = &filter.csm_id {
            sql.bind(" AND csm_id = ?", csm.clone().into());
        }
        if let Some(account) = &filter.account_id {
            sql.bind(" AND account_id = ?", account.clone().into());
        }
        for (column, list) in [
            ("status", &filter.statuses),
            ("alert_type", &filter.alert_types),
        ] {
            sql.within(column, list);
        }
        if let Some((raised_at, alert_id)) = after {
            sql.bind(" AND (raised_at < ?", raised_at.into());
            sql.bind(" OR (raised_at = ?", raised_at.into());
            sql.bind(" AND alert_id < ?))", alert_id.into());
        }
        sql.bind(
            " ORDER BY raised_at DESC, alert_id DESC LIMIT ?",
            fetch_limit(limit).into(),
        );
        let rows = sql.run(self.db()).await?;
        rows.iter().map(alert_row).collect()
    }

    pub async fn alert(&self, alert_id: &str) -> Result<Option<AlertRow>, DbErr> {
        query_one(
            self.db(),
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = $1"),
            vec![alert_id.into()],
        )
        .await?
        .map(|row| alert_row(&row))
        .transpose()
    }

    /// Moves an alert on: acknowledging an open one, resolving an unresolved one; any
    /// other transition leaves it as it is. Returns the alert as it is now.
    pub async fn advance_alert(
        &self,
        alert_id: &str,
        to_status: &'static str,
        at: i64,
    ) -> Result<Option<AlertRow>, DbErr> {
        let txn = self.writer.begin().await?;
        let sql = match to_status {
            "ACKNOWLEDGED" => {
                "UPDATE alerts SET status = 'ACKNOWLEDGED', acknowledged_at = $2 WHERE alert_id = $1 AND status = 'OPEN'"
            }
            _ => {
                "UPDATE alerts SET status = 'RESOLVED', resolved_at = $2 WHERE alert_id = $1 AND status <> 'RESOLVED'"
            }
        };
        execute(&txn.txn, sql, vec![alert_id.into(), at.into()]).await?;
        let row = query_one(
            &txn.txn,
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = $1"),
            vec![alert_id.into()],
        )
        .await?
        .map(|row| alert_row(&row))
        .transpose()?;
        txn.commit().await?;
        Ok(row)
    }

    // ---- upsell ------------------------------------------------------------------

    /// Opportunities by expected value, highest first, after
    /// `after` = (expected_value, account_id, module_key).
    pub async fn opportunities(
        &self,
        csm_id: Option<&str>,
        account_id: Option<&str>,
        after: Option<(i64, String, String)>,
        limit: u64,
    ) -> Result<Vec<OpportunityRow>, DbErr> {
        let mut sql = Select::new(&format!(
            "SELECT {OPPORTUNITY_COLUMNS} FROM upsell_opportunities"
        ));
        if let Some(csm) = csm_id {
            sql.bind(" AND csm_id = ?", csm.to_owned().into());
        }
        if let Some(account) = account_id {
            sql.bind(" AND account_id = ?", account.to_owned().into());
        }
        if let Some((value, account, module)) = after {
            sql.bind(" AND (expected_value_minor < ?", value.into());
            sql.bind(" OR (expected_value_minor = ?", value.into());
            sql.bind(" AND (account_id > ?", account.clone().into());
            sql.bind(" OR (account_id = ?", account.into());
            sql.bind(" AND module_key > ?))))", module.into());
        }
        sql.bind(
            " ORDER BY expected_value_minor DESC, account_id, module_key LIMIT ?",
            fetch_limit(limit).into(),
        );
        let rows = sql.run(self.db()).await?;
        rows.iter().map(opportunity_row).collect()
    }

    // ---- privacy -----------------------------------------------------------------

    /// Removes everything held about an account; returns (scores, colour changes,
    /// alerts) removed, scores counting every stored computation.
    pub async fn erase_account(&self, account_id: &str) -> Result<(u64, u64, u64), DbErr> {
        let txn = self.writer.begin().await?;
        let id = || vec![Value::from(account_id.to_owned())];
        let scores = execute(
            &txn.txn,
            "DELETE FROM health_score_history WHERE account_id = $1",
            id(),
        )
        .await?;
        execute(
            &txn.txn,
            "DELETE FROM health_scores WHERE account_id = $1",
            id(),
        )
        .await?;
        let changes = execute(
            &txn.txn,
            "DELETE FROM color_changes WHERE account_id = $1",
            id(),
        )
        .await?;
        let alerts = execute(&txn.txn, "DELETE FROM alerts WHERE account_id = $1", id()).await?;
        execute(
            &txn.txn,
            "DELETE FROM upsell_opportunities WHERE account_id = $1",
            id(),
        )
        .await?;
        txn.commit().await?;
        Ok((scores, changes, alerts))
    }
}

/// A SELECT narrowed by optional filters; each `?` of a clause becomes the next `$n`
/// placeholder, bound to the value given with it.
struct Select {
    sql: String,
    values: Vec<Value>,
}

impl Select {
    fn new(head: &str) -> Self {
        Select {
            sql: format!("{head} WHERE 1 = 1"),
            values: Vec::new(),
        }
    }

    /// Appends `clause`, whose one `?` takes `value`.
    fn bind(&mut self, clause: &str, value: Value) {
        self.values.push(value);
        self.sql
            .push_str(&clause.replace('?', &format!("${}", self.values.len())));
    }

    /// `AND column IN (…)` when `items` is not empty (empty means no filter).
    fn within(&mut self, column: &str, items: &[&'static str]) {
        if items.is_empty() {
            return;
        }
        let from = self.values.len() + 1;
        self.values
            .extend(items.iter().map(|item| Value::from(*item)));
        self.sql.push_str(&format!(
            " AND {column} IN ({})",
            placeholders(from, items.len())
        ));
    }

    async fn run(self, db: &impl ConnectionTrait) -> Result<Vec<QueryResult>, DbErr> {
        query_all(db, &self.sql, self.values).await
    }
}

const ALERT_COLUMNS: &str = "alert_id, account_id, csm_id, alert_type, status, reason, survey_response_id, \
     arr_minor, currency_code, raised_at, acknowledged_at, resolved_at";
const OPPORTUNITY_COLUMNS: &str = "account_id, module_key, csm_id, list_price_minor, currency_code, \
     likelihood, expected_value_minor, reason";

/// Inserts the alerts that are not already open (the partial unique index turns an
/// equal open one into a no-op) and returns the ones inserted.
async fn insert_alerts(
    db: &impl ConnectionTrait,
    alerts: Vec<AlertRow>,
) -> Result<Vec<AlertRow>, DbErr> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let by_id: HashMap<String, AlertRow> = alerts
        .iter()
        .map(|alert| (alert.alert_id.clone(), alert.clone()))
        .collect();
    let inserted = insert_rows(
        db,
        "INSERT INTO alerts (alert_id, account_id, csm_id, alert_type, status, reason, survey_response_id, arr_minor, currency_code, raised_at)",
        "ON CONFLICT DO NOTHING RETURNING alert_id",
        10,
        alerts
            .into_iter()
            .map(|a| {
                vec![
                    a.alert_id.into(),
                    a.account_id.into(),
                    a.csm_id.into(),
                    a.alert_type.into(),
                    a.status.into(),
                    a.reason.into(),
                    a.survey_response_id.into(),
                    a.arr_minor.into(),
                    a.currency_code.into(),
                    a.raised_at.into(),
                ]
            })
            .collect(),
    )
    .await?;
    let mut raised = Vec::with_capacity(inserted.len());
    for row in inserted {
        let id: String = row.try_get("", "alert_id")?;
        if let Some(alert) = by_id.get(&id) {
            raised.push(alert.clone());
        }
    }
    Ok(raised)
}

async fn set_state(db: &impl ConnectionTrait, name: &str, value: &str) -> Result<(), DbErr> {
    execute(
        db,
        "INSERT INTO scoring_state (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        vec![name.into(), value.into()],
    )
    .await?;
    Ok(())
}

/// `limit + 1` rows (one more tells whether there is a next page), as SQL wants it.
fn fetch_limit(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
}

async fn next_number(db: &impl ConnectionTrait, sql: &str) -> Result<i32, DbErr> {
    let highest: Option<i32> = query_one(db, sql, vec![])
        .await?
        .map(|row| row.try_get::<Option<i32>>("", "n"))
        .transpose()?
        .flatten();
    Ok(highest.unwrap_or(0) + 1)
}

fn history_row(row: &QueryResult) -> Result<HistoryRow, DbErr> {
    Ok(HistoryRow {
        version: row.try_get("", "version")?,
        computed_at: row.try_get("", "computed_at")?,
        score: row.try_get("", "score")?,
        color: row.try_get("", "color")?,
        churn_probability: row.try_get("", "churn_probability")?,
        payload: row.try_get("", "payload")?,
    })
}

fn color_change_row(row: &QueryResult) -> Result<ColorChangeRow, DbErr> {
    Ok(ColorChangeRow {
        account_id: row.try_get("", "account_id")?,
        version: row.try_get("", "version")?,
        from_color: row.try_get("", "from_color")?,
        to_color: row.try_get("", "to_color")?,
        score: row.try_get("", "score")?,
        changed_at: row.try_get("", "changed_at")?,
        csm_id: row.try_get("", "csm_id")?,
    })
}

fn alert_row(row: &QueryResult) -> Result<AlertRow, DbErr> {
    Ok(AlertRow {
        alert_id: row.try_get("", "alert_id")?,
        account_id: row.try_get("", "account_id")?,
        csm_id: row.try_get("", "csm_id")?,
        alert_type: row.try_get("", "alert_type")?,
        status: row.try_get("", "status")?,
        reason: row.try_get("", "reason")?,
        survey_response_id: row.try_get("", "survey_response_id")?,
        arr_minor: row.try_get("", "arr_minor")?,
        currency_code: row.try_get("", "currency_code")?,
        raised_at: row.try_get("", "raised_at")?,
        acknowledged_at: row.try_get("", "acknowledged_at")?,
        resolved_at: row.try_get("", "resolved_at")?,
    })
}

fn opportunity_row(row: &QueryResult) -> Result<OpportunityRow, DbErr> {
    Ok(OpportunityRow {
        account_id: row.try_get("", "account_id")?,
        module_key: row.try_get("", "module_key")?,
        csm_id: row.try_get("", "csm_id")?,
        list_price_minor: row.try_get("", "list_price_minor")?,
        currency_code: row.try_get("", "currency_code")?,
        likelihood: row.try_get("", "likelihood")?,
        expected_value_minor: row.try_get("", "expected_value_minor")?,
        reason: row.try_get("", "reason")?,
    })
}
