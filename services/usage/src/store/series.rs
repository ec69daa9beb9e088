//! One metric of one account per day or ISO week, from the daily rollups.

use std::collections::HashMap;

use nordstern_domain::usage::Granularity;
use nordstern_runtime::storage::query_all;
use sea_orm::{DbErr, Value};

use super::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesMetric {
    ActiveUsers,
    Logins,
    /// Of one feature when set.
    FeatureUses(Option<String>),
    IntegrationSyncs,
    TicketsOpened,
    TicketsResolved,
}

impl Store {
    /// Values per bucket start day (days since 1970-01-01) for the days `first..=last`;
    /// buckets without data are absent.
    pub async fn series(
        &self,
        account_id: &str,
        metric: &SeriesMetric,
        granularity: Granularity,
        first: i32,
        last: i32,
    ) -> Result<HashMap<i32, i64>, DbErr> {
        // 1970-01-01 was a Thursday: (day + 3) / 7 counts Monday-to-Sunday weeks, and
        // week * 7 - 3 is that week's Monday.
        let bucket = match granularity {
            Granularity::Day => "day",
            Granularity::Week => "((day + 3) / 7) * 7 - 3",
        };
        let mut values = vec![
            Value::from(account_id.to_owned()),
            Value::from(first),
            Value::from(last),
        ];
        let (table, aggregate, filter) = match metric {
            SeriesMetric::ActiveUsers => ("usage_daily_users", "COUNT(DISTINCT user_key)", ""),
            SeriesMetric::Logins => ("usage_daily", "CAST(SUM(logins) AS BIGINT)", ""),
            SeriesMetric::FeatureUses(None) => {
                ("usage_daily", "CAST(SUM(feature_uses) AS BIGINT)", "")
            }
            SeriesMetric::FeatureUses(Some(feature_key)) => {
                values.push(Value::from(feature_key.clone()));
                (
                    "usage_daily_features",
                    "CAST(SUM(uses) AS BIGINT)",
                    "AND feature_key = $4",
                )
            }
            SeriesMetric::IntegrationSyncs => {
                ("usage_daily", "CAST(SUM(integration_syncs) AS BIGINT)", "")
            }
            SeriesMetric::TicketsOpened => {
                ("usage_daily", "CAST(SUM(tickets_opened) AS BIGINT)", "")
            }
            SeriesMetric::TicketsResolved => {
                ("usage_daily", "CAST(SUM(tickets_resolved) AS BIGINT)", "")
            }
        };
        let sql = format!(
            "SELECT {bucket} AS bucket, {aggregate} AS value FROM {table} \
             WHERE account_id = $1 AND day BETWEEN $2 AND $3 {filter} GROUP BY {bucket}"
        );
        let mut points = HashMap::new();
        for row in query_all(self.db(), &sql, values).await? {
            points.insert(
                row.try_get::<i32>("", "bucket")?,
                row.try_get::<i64>("", "value")?,
            );
        }
        Ok(points)
    }
}
