//! Alerts: one open per account and type, updated by a new reason; acknowledged and
//! resolved by a CSM, or resolved by a recompute whose situation no longer calls for them.

use nordstern_domain::health::alerts::{AlertStatus, AlertType};
use nordstern_runtime::storage::parse_column;

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub alert_id: String,
    pub account_id: String,
    pub csm_id: String,
    pub alert_type: String,
    pub status: AlertStatus,
    pub reason: String,
    pub survey_response_id: String,
    pub arr_minor: i64,
    pub currency_code: String,
    /// When the alert was first raised.
    pub raised_at: i64,
    /// When a reason last raised it, and how many reasons did.
    pub last_raised_at: i64,
    pub raise_count: i64,
    pub acknowledged_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// Why it was resolved; empty while it is not.
    pub resolution: String,
}

/// An open or acknowledged alert, as a recompute checks whether it still holds.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAlert {
    pub alert_id: String,
    pub alert_type: AlertType,
    pub reason: String,
}

/// The resolution of an alert resolved through `ResolveAlert`.
const RESOLVED_BY_HAND: &str = "resolved by a CSM";

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub csm_id: Option<String>,
    pub account_id: Option<String>,
    pub statuses: Vec<AlertStatus>,
    pub alert_types: Vec<&'static str>,
}

const ALERT_COLUMNS: &str = "alert_id, account_id, csm_id, alert_type, status, reason, survey_response_id, \
     arr_minor, currency_code, raised_at, last_raised_at, raise_count, acknowledged_at, resolved_at, resolution";

/// Raises alerts (at most one per account and type): a type without an open alert gets
/// a new one; an open one with another reason takes the new reason, counts it and is
/// open again if it had been acknowledged; one with the same reason is left alone.
/// Returns the alerts raised or updated, as stored.
pub(super) async fn raise_alerts(
    db: &impl ConnectionTrait,
    alerts: Vec<AlertRow>,
) -> Result<Vec<AlertRow>, DbErr> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let raised = insert_rows(
        db,
        "INSERT INTO alerts (alert_id, account_id, csm_id, alert_type, status, reason, survey_response_id, arr_minor, currency_code, raised_at, last_raised_at, raise_count)",
        &format!(
            "ON CONFLICT (account_id, alert_type) WHERE status <> 'RESOLVED' DO UPDATE SET \
             reason = excluded.reason, survey_response_id = excluded.survey_response_id, \
             csm_id = excluded.csm_id, arr_minor = excluded.arr_minor, \
             last_raised_at = excluded.last_raised_at, \
             raise_count = alerts.raise_count + excluded.raise_count, \
             status = 'OPEN', acknowledged_at = NULL \
             WHERE alerts.reason <> excluded.reason RETURNING {ALERT_COLUMNS}"
        ),
        12,
        alerts
            .into_iter()
            .map(|a| {
                vec![
                    a.alert_id.into(),
                    a.account_id.into(),
                    a.csm_id.into(),
                    a.alert_type.into(),
                    a.status.as_str().into(),
                    a.reason.into(),
                    a.survey_response_id.into(),
                    a.arr_minor.into(),
                    a.currency_code.into(),
                    a.raised_at.into(),
                    a.last_raised_at.into(),
                    a.raise_count.into(),
                ]
            })
            .collect(),
    )
    .await?;
    raised.iter().map(alert_row).collect()
}

/// Resolves alerts whose situation has cleared, each with why, one statement per
/// reason (a recompute has few distinct ones); one resolved meanwhile keeps its first
/// resolution.
pub(super) async fn resolve_alerts(
    db: &impl ConnectionTrait,
    resolutions: &[(String, String)],
    at: i64,
) -> Result<u64, DbErr> {
    let mut by_reason: HashMap<&str, Vec<&str>> = HashMap::new();
    for (alert_id, resolution) in resolutions {
        by_reason
            .entry(resolution.as_str())
            .or_default()
            .push(alert_id.as_str());
    }
    let mut resolved = 0;
    for (resolution, ids) in by_reason {
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut values: Vec<Value> = vec![at.into(), resolution.into()];
            values.extend(chunk.iter().map(|id| Value::from(*id)));
            resolved += execute(
                db,
                &format!(
                    "UPDATE alerts SET status = 'RESOLVED', resolved_at = $1, resolution = $2 \
                     WHERE status <> 'RESOLVED' AND alert_id IN ({})",
                    placeholders(3, chunk.len())
                ),
                values,
            )
            .await?;
        }
    }
    Ok(resolved)
}

fn alert_row(row: &QueryResult) -> Result<AlertRow, DbErr> {
    Ok(AlertRow {
        alert_id: row.try_get("", "alert_id")?,
        account_id: row.try_get("", "account_id")?,
        csm_id: row.try_get("", "csm_id")?,
        alert_type: row.try_get("", "alert_type")?,
        status: parse_column(row, "status", AlertStatus::parse)?,
        reason: row.try_get("", "reason")?,
        survey_response_id: row.try_get("", "survey_response_id")?,
        arr_minor: row.try_get("", "arr_minor")?,
        currency_code: row.try_get("", "currency_code")?,
        raised_at: row.try_get("", "raised_at")?,
        last_raised_at: row.try_get("", "last_raised_at")?,
        raise_count: row.try_get("", "raise_count")?,
        acknowledged_at: row.try_get("", "acknowledged_at")?,
        resolved_at: row.try_get("", "resolved_at")?,
        resolution: row.try_get("", "resolution")?,
    })
}

impl Store {
    /// The open and acknowledged alerts of `account_ids`, by account.
    pub async fn open_alerts(
        &self,
        account_ids: &[String],
    ) -> Result<HashMap<String, Vec<OpenAlert>>, DbErr> {
        let mut open: HashMap<String, Vec<OpenAlert>> = HashMap::new();
        let keys: Vec<&str> = account_ids.iter().map(String::as_str).collect();
        // By key, for the reason `Store::latest` gives: the open-alert index per account.
        let rows = select_by_keys(
            self.db(),
            "alert_id, alert_type, reason",
            "alerts",
            "account_id",
            ("status <> 'RESOLVED'", Vec::new()),
            &keys,
        )
        .await?;
        for row in rows {
            open.entry(row.try_get("", "account_id")?)
                .or_default()
                .push(OpenAlert {
                    alert_id: row.try_get("", "alert_id")?,
                    alert_type: parse_column(&row, "alert_type", AlertType::parse)?,
                    reason: row.try_get("", "reason")?,
                });
        }
        Ok(open)
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
            (
                "status",
                &filter.statuses.iter().map(AlertStatus::as_str).collect(),
            ),
            ("alert_type", &filter.alert_types),
        ] {
            sql.within(column, list);
        }
        if let Some((raised_at, alert_id)) = after {
            sql.after(vec![
                ("raised_at", Order::Descending, raised_at.into()),
                ("alert_id", Order::Descending, alert_id.into()),
            ]);
        }
        sql.bind(
            " ORDER BY raised_at DESC, alert_id DESC LIMIT ?",
            sql_limit(limit).into(),
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
        to_status: AlertStatus,
        at: i64,
    ) -> Result<Option<AlertRow>, DbErr> {
        let txn = self.writer.begin().await?;
        let update: Option<(&str, Vec<Value>)> = match to_status {
            AlertStatus::Acknowledged => Some((
                "UPDATE alerts SET status = $3, acknowledged_at = $2 WHERE alert_id = $1 AND status = $4",
                vec![
                    alert_id.into(),
                    at.into(),
                    AlertStatus::Acknowledged.as_str().into(),
                    AlertStatus::Open.as_str().into(),
                ],
            )),
            AlertStatus::Resolved => Some((
                "UPDATE alerts SET status = $3, resolved_at = $2, resolution = $4 \
                 WHERE alert_id = $1 AND status <> $3",
                vec![
                    alert_id.into(),
                    at.into(),
                    AlertStatus::Resolved.as_str().into(),
                    RESOLVED_BY_HAND.into(),
                ],
            )),
            // An alert is never opened again.
            AlertStatus::Open => None,
        };
        if let Some((sql, values)) = update {
            execute(&txn.txn, sql, values).await?;
        }
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
}
