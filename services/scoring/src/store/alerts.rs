//! Alerts: raised once per account, type and reason while open; acknowledged, resolved.

use nordstern_domain::health::alerts::AlertStatus;
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
    pub raised_at: i64,
    pub acknowledged_at: Option<i64>,
    pub resolved_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub csm_id: Option<String>,
    pub account_id: Option<String>,
    pub statuses: Vec<AlertStatus>,
    pub alert_types: Vec<&'static str>,
}

const ALERT_COLUMNS: &str = "alert_id, account_id, csm_id, alert_type, status, reason, survey_response_id, \
     arr_minor, currency_code, raised_at, acknowledged_at, resolved_at";

/// Inserts the alerts that are not already open (the partial unique index turns an
/// equal open one into a no-op) and returns the ones inserted.
pub(super) async fn insert_alerts(
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
                    a.status.as_str().into(),
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
        acknowledged_at: row.try_get("", "acknowledged_at")?,
        resolved_at: row.try_get("", "resolved_at")?,
    })
}

impl Store {
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
                "UPDATE alerts SET status = $3, resolved_at = $2 WHERE alert_id = $1 AND status <> $3",
                vec![
                    alert_id.into(),
                    at.into(),
                    AlertStatus::Resolved.as_str().into(),
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
