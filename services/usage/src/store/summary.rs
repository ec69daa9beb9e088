//! The facts a usage summary is made of, read from the daily rollups (never from raw
//! events) for many accounts per query.

use std::collections::HashMap;

use nordstern_domain::usage::trailing_sums;
use nordstern_runtime::storage::{aggregate_by_keys, placeholders, query_all};
use sea_orm::{DbErr, Value};

use super::{IDS_PER_QUERY, MICROS_PER_DAY, Store};

/// Days of usage peers are ranked by.
const PEER_WINDOW_DAYS: i32 = 30;

/// Activity in the window of `days` days ending with the summary's day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowFacts {
    pub active_users: i64,
    pub active_days: i64,
    pub logins: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureFacts {
    pub feature_key: String,
    pub uses_last_30_days: i64,
    pub uses_last_90_days: i64,
    pub users_last_30_days: i64,
    pub last_used_day: Option<i32>,
}

/// Everything stored about one account's usage as of one day; zeros when nothing is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountFacts {
    /// 7, 30 and 90 days.
    pub windows: [WindowFacts; 3],
    pub features: Vec<FeatureFacts>,
    pub last_sync_day: Option<i32>,
    /// LOGIN plus FEATURE_USED quantities in the last 30 days.
    pub usage_last_30_days: i64,
    /// The same in the 90 days before those 30.
    pub usage_prior_90_days: i64,
    pub tickets_last_30_days: i64,
    pub open_tickets: i64,
    /// Opening-to-resolution times of tickets resolved in the last 90 days.
    pub resolution_micros: Vec<i64>,
}

impl Store {
    /// Facts for every id (missing ones read as no usage), as of `as_of_micros`: windows
    /// are whole UTC days ending with the day of `as_of_micros`.
    pub async fn account_facts(
        &self,
        ids: &[String],
        as_of_micros: i64,
    ) -> Result<HashMap<String, AccountFacts>, DbErr> {
        let mut facts: HashMap<String, AccountFacts> = ids
            .iter()
            .map(|id| (id.clone(), AccountFacts::default()))
            .collect();
        let day = super::day_of(as_of_micros);
        for chunk in ids.chunks(IDS_PER_QUERY) {
            self.daily_facts(chunk, day, &mut facts).await?;
            self.user_facts(chunk, day, &mut facts).await?;
            self.feature_facts(chunk, day, &mut facts).await?;
            self.ticket_facts(chunk, as_of_micros, &mut facts).await?;
        }
        Ok(facts)
    }

    /// LOGIN plus FEATURE_USED quantities of the 30 days ending with `day`, per account
    /// (absent when zero): what peers are ranked by.
    pub async fn usage_last_30_days(
        &self,
        ids: &[String],
        day: i32,
    ) -> Result<HashMap<String, i64>, DbErr> {
        let mut usage = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT account_id, CAST(SUM(logins + feature_uses) AS BIGINT) AS usage FROM usage_daily \
                 WHERE day BETWEEN $1 AND $2 AND account_id IN ({}) GROUP BY account_id",
                placeholders(3, chunk.len())
            );
            let rows = query_all(
                self.db(),
                &sql,
                with_ids(
                    vec![(day - (PEER_WINDOW_DAYS - 1)).into(), day.into()],
                    chunk,
                ),
            )
            .await?;
            for row in rows {
                usage.insert(
                    row.try_get("", "account_id")?,
                    row.try_get::<i64>("", "usage")?,
                );
            }
        }
        Ok(usage)
    }

    /// [`Self::usage_last_30_days`] as of each of `days`, from one read of the days they
    /// cover: per account with any usage then, one sum per day in the order of `days`.
    pub async fn usage_last_30_days_at(
        &self,
        ids: &[String],
        days: &[i32],
    ) -> Result<HashMap<String, Vec<i64>>, DbErr> {
        let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else {
            return Ok(HashMap::new());
        };
        let mut usage = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT account_id, day, logins + feature_uses AS usage FROM usage_daily \
                 WHERE day BETWEEN $1 AND $2 AND account_id IN ({})",
                placeholders(3, chunk.len())
            );
            let bounds = vec![(first - (PEER_WINDOW_DAYS - 1)).into(), last.into()];
            let mut daily: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
            for row in query_all(self.db(), &sql, with_ids(bounds, chunk)).await? {
                daily
                    .entry(row.try_get("", "account_id")?)
                    .or_default()
                    .push((row.try_get("", "day")?, row.try_get("", "usage")?));
            }
            usage.extend(
                daily
                    .into_iter()
                    .map(|(id, daily)| (id, trailing_sums(&daily, days, PEER_WINDOW_DAYS))),
            );
        }
        Ok(usage)
    }

    async fn daily_facts(
        &self,
        chunk: &[String],
        day: i32,
        facts: &mut HashMap<String, AccountFacts>,
    ) -> Result<(), DbErr> {
        // $1 = first day of 7, $2 of 30, $3 of 90, $4 of the 120 days, $5 = last day.
        let sql = format!(
            "SELECT account_id, \
               CAST(SUM(CASE WHEN day >= $1 THEN logins ELSE 0 END) AS BIGINT) AS logins_7, \
               CAST(SUM(CASE WHEN day >= $2 THEN logins ELSE 0 END) AS BIGINT) AS logins_30, \
               CAST(SUM(CASE WHEN day >= $3 THEN logins ELSE 0 END) AS BIGINT) AS logins_90, \
               CAST(SUM(CASE WHEN day >= $2 THEN logins + feature_uses ELSE 0 END) AS BIGINT) AS usage_30, \
               CAST(SUM(CASE WHEN day < $2 THEN logins + feature_uses ELSE 0 END) AS BIGINT) AS usage_prior, \
               CAST(SUM(CASE WHEN day >= $2 THEN tickets_opened ELSE 0 END) AS BIGINT) AS tickets_30, \
               MAX(CASE WHEN integration_syncs > 0 THEN day END) AS last_sync \
             FROM usage_daily WHERE day BETWEEN $4 AND $5 AND account_id IN ({}) GROUP BY account_id",
            placeholders(6, chunk.len())
        );
        let bounds = vec![
            Value::from(day - 6),
            Value::from(day - 29),
            Value::from(day - 89),
            Value::from(day - 119),
            Value::from(day),
        ];
        for row in query_all(self.db(), &sql, with_ids(bounds, chunk)).await? {
            let id: String = row.try_get("", "account_id")?;
            if let Some(entry) = facts.get_mut(&id) {
                for (window, column) in
                    entry
                        .windows
                        .iter_mut()
                        .zip(["logins_7", "logins_30", "logins_90"])
                {
                    window.logins = row.try_get("", column)?;
                }
                entry.usage_last_30_days = row.try_get("", "usage_30")?;
                entry.usage_prior_90_days = row.try_get("", "usage_prior")?;
                entry.tickets_last_30_days = row.try_get("", "tickets_30")?;
                entry.last_sync_day = row.try_get("", "last_sync")?;
            }
        }
        // A sync within those 120 days is the last one; only the others are looked up
        // further back.
        let unsynced: Vec<&str> = chunk
            .iter()
            .filter(|id| facts.get(*id).is_some_and(|f| f.last_sync_day.is_none()))
            .map(String::as_str)
            .collect();
        // By key: one statement whatever the number of ids (an IN list of each length
        // would be a statement of its own for PostgreSQL to prepare).
        let rows = aggregate_by_keys(
            self.db(),
            "MAX(day) AS last_sync",
            "usage_daily",
            "account_id",
            ("integration_syncs > 0 AND day <= $1", vec![day.into()]),
            &unsynced,
            "",
        )
        .await?;
        for row in rows {
            let id: String = row.try_get("", "account_id")?;
            if let Some(entry) = facts.get_mut(&id) {
                entry.last_sync_day = row.try_get("", "last_sync")?;
            }
        }
        Ok(())
    }

    async fn user_facts(
        &self,
        chunk: &[String],
        day: i32,
        facts: &mut HashMap<String, AccountFacts>,
    ) -> Result<(), DbErr> {
        let sql = format!(
            "SELECT account_id, \
               COUNT(DISTINCT CASE WHEN day >= $1 THEN user_key END) AS users_7, \
               COUNT(DISTINCT CASE WHEN day >= $2 THEN user_key END) AS users_30, \
               COUNT(DISTINCT user_key) AS users_90, \
               COUNT(DISTINCT CASE WHEN day >= $1 THEN day END) AS days_7, \
               COUNT(DISTINCT CASE WHEN day >= $2 THEN day END) AS days_30, \
               COUNT(DISTINCT day) AS days_90 \
             FROM usage_daily_users WHERE day BETWEEN $3 AND $4 AND account_id IN ({}) GROUP BY account_id",
            placeholders(5, chunk.len())
        );
        let bounds = vec![
            Value::from(day - 6),
            Value::from(day - 29),
            Value::from(day - 89),
            Value::from(day),
        ];
        for row in query_all(self.db(), &sql, with_ids(bounds, chunk)).await? {
            let id: String = row.try_get("", "account_id")?;
            if let Some(entry) = facts.get_mut(&id) {
                for (window, (users, days)) in entry.windows.iter_mut().zip([
                    ("users_7", "days_7"),
                    ("users_30", "days_30"),
                    ("users_90", "days_90"),
                ]) {
                    window.active_users = row.try_get("", users)?;
                    window.active_days = row.try_get("", days)?;
                }
            }
        }
        Ok(())
    }

    async fn feature_facts(
        &self,
        chunk: &[String],
        day: i32,
        facts: &mut HashMap<String, AccountFacts>,
    ) -> Result<(), DbErr> {
        let sql = format!(
            "SELECT account_id, feature_key, \
               CAST(SUM(CASE WHEN day >= $1 THEN uses ELSE 0 END) AS BIGINT) AS uses_30, \
               CAST(SUM(CASE WHEN day >= $2 THEN uses ELSE 0 END) AS BIGINT) AS uses_90, \
               MAX(day) AS last_day \
             FROM usage_daily_features WHERE day <= $3 AND account_id IN ({}) \
             GROUP BY account_id, feature_key",
            placeholders(4, chunk.len())
        );
        let bounds = vec![
            Value::from(day - 29),
            Value::from(day - 89),
            Value::from(day),
        ];
        for row in query_all(self.db(), &sql, with_ids(bounds, chunk)).await? {
            let id: String = row.try_get("", "account_id")?;
            if let Some(entry) = facts.get_mut(&id) {
                entry.features.push(FeatureFacts {
                    feature_key: row.try_get("", "feature_key")?,
                    uses_last_30_days: row.try_get("", "uses_30")?,
                    uses_last_90_days: row.try_get("", "uses_90")?,
                    users_last_30_days: 0,
                    last_used_day: row.try_get("", "last_day")?,
                });
            }
        }
        let sql = format!(
            "SELECT account_id, feature_key, COUNT(DISTINCT user_key) AS users_30 \
             FROM usage_daily_users WHERE day BETWEEN $1 AND $2 AND feature_key <> '' AND account_id IN ({}) \
             GROUP BY account_id, feature_key",
            placeholders(3, chunk.len())
        );
        let bounds = vec![Value::from(day - 29), Value::from(day)];
        for row in query_all(self.db(), &sql, with_ids(bounds, chunk)).await? {
            let id: String = row.try_get("", "account_id")?;
            let feature_key: String = row.try_get("", "feature_key")?;
            if let Some(feature) = facts.get_mut(&id).and_then(|entry| {
                entry
                    .features
                    .iter_mut()
                    .find(|f| f.feature_key == feature_key)
            }) {
                feature.users_last_30_days = row.try_get("", "users_30")?;
            }
        }
        Ok(())
    }

    async fn ticket_facts(
        &self,
        chunk: &[String],
        as_of_micros: i64,
        facts: &mut HashMap<String, AccountFacts>,
    ) -> Result<(), DbErr> {
        let sql = format!(
            "SELECT account_id, opened_at, resolved_at FROM usage_tickets \
             WHERE opened_at <= $1 AND (resolved_at IS NULL OR resolved_at > $1 OR resolved_at >= $2) \
               AND account_id IN ({})",
            placeholders(3, chunk.len())
        );
        let resolved_since = as_of_micros - 90 * MICROS_PER_DAY;
        let bounds = vec![Value::from(as_of_micros), Value::from(resolved_since)];
        for row in query_all(self.db(), &sql, with_ids(bounds, chunk)).await? {
            let id: String = row.try_get("", "account_id")?;
            let opened_at: i64 = row.try_get("", "opened_at")?;
            let resolved_at: Option<i64> = row.try_get("", "resolved_at")?;
            if let Some(entry) = facts.get_mut(&id) {
                match resolved_at {
                    Some(resolved) if resolved <= as_of_micros => {
                        entry.resolution_micros.push((resolved - opened_at).max(0));
                    }
                    _ => entry.open_tickets += 1,
                }
            }
        }
        Ok(())
    }
}

fn with_ids(mut values: Vec<Value>, ids: &[String]) -> Vec<Value> {
    values.extend(ids.iter().map(|id| Value::from(id.clone())));
    values
}
