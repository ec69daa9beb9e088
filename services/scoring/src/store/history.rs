//! Every computation of an account and every change of colour.

use nordstern_domain::health::HealthColor;

use super::*;

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
pub struct HistoryRow {
    pub version: i64,
    pub computed_at: i64,
    pub score: f64,
    pub color: String,
    pub churn_probability: f64,
    pub payload: Vec<u8>,
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

impl Store {
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
                sql_limit(limit).into(),
            ],
        )
        .await?;
        rows.iter().map(history_row).collect()
    }

    /// The computations of `ids` since `from` (microseconds), as (account, time, score,
    /// stored colour), in no particular order.
    pub async fn history_of_many(
        &self,
        ids: &[String],
        from: i64,
    ) -> Result<Vec<(String, i64, f64, String)>, DbErr> {
        let mut rows = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT account_id, computed_at, score, color FROM health_score_history \
                 WHERE computed_at >= $1 AND account_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut values = vec![Value::from(from)];
            values.extend(chunk.iter().map(|id| Value::from(id.clone())));
            for row in query_all(self.db(), &sql, values).await? {
                rows.push((
                    row.try_get("", "account_id")?,
                    row.try_get("", "computed_at")?,
                    row.try_get("", "score")?,
                    row.try_get("", "color")?,
                ));
            }
        }
        Ok(rows)
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
            // Worse colours only: every (from, to) where `to` is worse.
            sql.push(" AND (1 = 0");
            for from in HealthColor::ALL {
                for to in HealthColor::ALL
                    .into_iter()
                    .filter(|to| to.is_worse_than(from))
                {
                    sql.bind(" OR (from_color = ?", from.as_str().into())
                        .bind(" AND to_color = ?)", to.as_str().into());
                }
            }
            sql.push(")");
        }
        if let Some((changed_at, account, version)) = after {
            sql.after(vec![
                ("changed_at", Order::Descending, changed_at.into()),
                ("account_id", Order::Ascending, account.into()),
                ("version", Order::Descending, version.into()),
            ]);
        }
        sql.bind(
            " ORDER BY changed_at DESC, account_id, version DESC LIMIT ?",
            sql_limit(limit).into(),
        );
        let rows = sql.run(self.db()).await?;
        rows.iter().map(color_change_row).collect()
    }
}
