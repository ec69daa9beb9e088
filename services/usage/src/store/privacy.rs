//! GDPR: erasing an account's or a person's usage data, and exporting an account's.

use std::collections::{BTreeMap, HashMap};

use nordstern_domain::usage::EventKind;
use nordstern_runtime::storage::{execute, parse_column, placeholders, query_all};
use sea_orm::{DbErr, Value};

use super::{IDS_PER_QUERY, Store};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountErasure {
    pub events: u64,
    pub rollup_rows: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserErasure {
    pub events: u64,
    pub accounts: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub occurred_at: i64,
    pub event_id: String,
    pub user_key: String,
    pub kind: EventKind,
    pub quantity: i64,
    pub feature_key: String,
    pub ticket_id: String,
    pub properties: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyRow {
    pub day: i32,
    pub active_users: i64,
    pub logins: i64,
    pub feature_uses: BTreeMap<String, i64>,
    pub integration_syncs: i64,
    pub tickets_opened: i64,
    pub tickets_resolved: i64,
}

impl Store {
    /// Removes every row held about the account, event keys included.
    pub async fn erase_account(&self, account_id: &str) -> Result<AccountErasure, DbErr> {
        let txn = self.writer.begin().await?;
        let id = || vec![Value::from(account_id.to_owned())];
        let mut erased = AccountErasure {
            events: execute(
                &txn.txn,
                "DELETE FROM usage_events WHERE account_id = $1",
                id(),
            )
            .await?,
            rollup_rows: 0,
        };
        for table in ["usage_daily", "usage_daily_features", "usage_daily_users"] {
            let sql = format!("DELETE FROM {table} WHERE account_id = $1");
            erased.rollup_rows += execute(&txn.txn, &sql, id()).await?;
        }
        for table in ["usage_event_keys", "usage_users", "usage_tickets"] {
            let sql = format!("DELETE FROM {table} WHERE account_id = $1");
            execute(&txn.txn, &sql, id()).await?;
        }
        txn.commit().await?;
        Ok(erased)
    }

    /// Removes one pseudonymous user's events and subtracts their activity from the
    /// daily totals of every account they used. Event keys stay, so a late resend of an
    /// erased event is a duplicate instead of bringing the data back.
    pub async fn erase_user(&self, user_key: &str) -> Result<UserErasure, DbErr> {
        let txn = self.writer.begin().await?;
        let user = || vec![Value::from(user_key.to_owned())];
        let accounts: Vec<String> = query_all(
            &txn.txn,
            "SELECT account_id FROM usage_users WHERE user_key = $1",
            user(),
        )
        .await?
        .iter()
        .map(|row| row.try_get("", "account_id"))
        .collect::<Result<_, _>>()?;
        let mut erased = UserErasure {
            events: 0,
            accounts: accounts.len(),
        };
        for chunk in accounts.chunks(IDS_PER_QUERY) {
            let in_list = placeholders(2, chunk.len());
            let mut values = user();
            values.extend(chunk.iter().map(|id| Value::from(id.clone())));
            let rows = query_all(
                &txn.txn,
                &format!(
                    "SELECT account_id, day, feature_key, quantity FROM usage_daily_users \
                     WHERE user_key = $1 AND account_id IN ({in_list})"
                ),
                values.clone(),
            )
            .await?;
            for row in rows {
                let account_id: String = row.try_get("", "account_id")?;
                let day: i32 = row.try_get("", "day")?;
                let feature_key: String = row.try_get("", "feature_key")?;
                let quantity: i64 = row.try_get("", "quantity")?;
                let key = vec![
                    Value::from(quantity),
                    Value::from(account_id.clone()),
                    Value::from(day),
                ];
                if feature_key.is_empty() {
                    execute(
                        &txn.txn,
                        "UPDATE usage_daily SET logins = logins - $1 WHERE account_id = $2 AND day = $3",
                        key,
                    )
                    .await?;
                } else {
                    execute(
                        &txn.txn,
                        "UPDATE usage_daily SET feature_uses = feature_uses - $1 WHERE account_id = $2 AND day = $3",
                        key.clone(),
                    )
                    .await?;
                    let mut feature = key;
                    feature.push(Value::from(feature_key));
                    execute(
                        &txn.txn,
                        "UPDATE usage_daily_features SET uses = uses - $1 \
                         WHERE account_id = $2 AND day = $3 AND feature_key = $4",
                        feature,
                    )
                    .await?;
                }
            }
            execute(
                &txn.txn,
                &format!(
                    "DELETE FROM usage_daily_features WHERE uses <= 0 AND account_id IN ({})",
                    placeholders(1, chunk.len())
                ),
                chunk.iter().map(|id| Value::from(id.clone())).collect(),
            )
            .await?;
            execute(
                &txn.txn,
                &format!("DELETE FROM usage_daily_users WHERE user_key = $1 AND account_id IN ({in_list})"),
                values.clone(),
            )
            .await?;
            erased.events += execute(
                &txn.txn,
                &format!(
                    "DELETE FROM usage_events WHERE user_key = $1 AND account_id IN ({in_list})"
                ),
                values,
            )
            .await?;
        }
        execute(
            &txn.txn,
            "DELETE FROM usage_users WHERE user_key = $1",
            user(),
        )
        .await?;
        txn.commit().await?;
        Ok(erased)
    }

    /// Raw events after `(occurred_at, event_id)` in that order, at most `limit`.
    pub async fn export_events(
        &self,
        account_id: &str,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, DbErr> {
        let (after_at, after_id) = after.unwrap_or((i64::MIN, String::new()));
        let rows = query_all(
            self.db(),
            "SELECT occurred_at, event_id, user_key, kind, quantity, feature_key, ticket_id, properties \
             FROM usage_events WHERE account_id = $1 \
               AND (occurred_at > $2 OR (occurred_at = $2 AND event_id > $3)) \
             ORDER BY occurred_at, event_id LIMIT $4",
            vec![
                Value::from(account_id.to_owned()),
                Value::from(after_at),
                Value::from(after_id),
                Value::from(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    occurred_at: row.try_get("", "occurred_at")?,
                    event_id: row.try_get("", "event_id")?,
                    user_key: row.try_get("", "user_key")?,
                    kind: parse_column(row, "kind", EventKind::parse)?,
                    quantity: row.try_get("", "quantity")?,
                    feature_key: row.try_get("", "feature_key")?,
                    ticket_id: row.try_get("", "ticket_id")?,
                    properties: row.try_get("", "properties")?,
                })
            })
            .collect()
    }

    /// Every daily rollup of the account, in date order.
    pub async fn export_daily(&self, account_id: &str) -> Result<Vec<DailyRow>, DbErr> {
        let id = || vec![Value::from(account_id.to_owned())];
        let mut days: BTreeMap<i32, DailyRow> = BTreeMap::new();
        for row in query_all(
            self.db(),
            "SELECT day, logins, integration_syncs, tickets_opened, tickets_resolved \
             FROM usage_daily WHERE account_id = $1",
            id(),
        )
        .await?
        {
            let day: i32 = row.try_get("", "day")?;
            days.insert(
                day,
                DailyRow {
                    day,
                    logins: row.try_get("", "logins")?,
                    integration_syncs: row.try_get("", "integration_syncs")?,
                    tickets_opened: row.try_get("", "tickets_opened")?,
                    tickets_resolved: row.try_get("", "tickets_resolved")?,
                    ..DailyRow::default()
                },
            );
        }
        for row in query_all(
            self.db(),
            "SELECT day, feature_key, uses FROM usage_daily_features WHERE account_id = $1",
            id(),
        )
        .await?
        {
            let day: i32 = row.try_get("", "day")?;
            days.entry(day)
                .or_insert_with(|| DailyRow {
                    day,
                    ..DailyRow::default()
                })
                .feature_uses
                .insert(row.try_get("", "feature_key")?, row.try_get("", "uses")?);
        }
        let users: HashMap<i32, i64> = query_all(
            self.db(),
            "SELECT day, COUNT(DISTINCT user_key) AS users FROM usage_daily_users \
             WHERE account_id = $1 GROUP BY day",
            id(),
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "day")?, row.try_get("", "users")?)))
        .collect::<Result<_, DbErr>>()?;
        for (day, count) in users {
            days.entry(day)
                .or_insert_with(|| DailyRow {
                    day,
                    ..DailyRow::default()
                })
                .active_users = count;
        }
        Ok(days.into_values().collect())
    }
}
