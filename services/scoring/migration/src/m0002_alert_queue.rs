//! One open alert per account and type. An open alert keeps when it was first raised
//! (`raised_at`), when last (`last_raised_at`) and how often (`raise_count`); a resolved
//! one says why (`resolution`: by a CSM, or the condition that cleared on a recompute).
//! Open duplicates from before are merged into the newest of their type, which keeps
//! their count.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DeriveMigrationName},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE alerts ADD COLUMN last_raised_at BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE alerts ADD COLUMN raise_count BIGINT NOT NULL DEFAULT 1",
    "ALTER TABLE alerts ADD COLUMN resolution TEXT NOT NULL DEFAULT ''",
    "UPDATE alerts SET last_raised_at = raised_at",
    // The newest open alert of each account and type counts the older open ones...
    "UPDATE alerts SET raise_count = (
        SELECT COUNT(*) FROM alerts AS same
        WHERE same.account_id = alerts.account_id AND same.alert_type = alerts.alert_type
          AND same.status <> 'RESOLVED')
     WHERE status <> 'RESOLVED' AND NOT EXISTS (
        SELECT 1 FROM alerts AS newer
        WHERE newer.account_id = alerts.account_id AND newer.alert_type = alerts.alert_type
          AND newer.status <> 'RESOLVED'
          AND (newer.raised_at > alerts.raised_at
               OR (newer.raised_at = alerts.raised_at AND newer.alert_id > alerts.alert_id)))",
    // ...and they are resolved into it.
    "UPDATE alerts SET status = 'RESOLVED', resolved_at = raised_at,
        resolution = 'merged into the newest open alert of its type'
     WHERE status <> 'RESOLVED' AND EXISTS (
        SELECT 1 FROM alerts AS newer
        WHERE newer.account_id = alerts.account_id AND newer.alert_type = alerts.alert_type
          AND newer.status <> 'RESOLVED'
          AND (newer.raised_at > alerts.raised_at
               OR (newer.raised_at = alerts.raised_at AND newer.alert_id > alerts.alert_id)))",
    "DROP INDEX alerts_open_once",
    "CREATE UNIQUE INDEX alerts_open_per_type ON alerts (account_id, alert_type) WHERE status <> 'RESOLVED'",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in UP {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX alerts_open_per_type",
            "CREATE UNIQUE INDEX alerts_open_once ON alerts (account_id, alert_type, reason) WHERE status <> 'RESOLVED'",
            "ALTER TABLE alerts DROP COLUMN resolution",
            "ALTER TABLE alerts DROP COLUMN raise_count",
            "ALTER TABLE alerts DROP COLUMN last_raised_at",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm_migration::sea_orm::{ConnectOptions, Database, Statement};

    use super::*;
    use crate::Migrator;

    /// Three open DETRACTOR alerts and one open USAGE_DROP of one account, from before:
    /// the newest detractor stays open with a count of 3, the two older are resolved
    /// into it, and the usage drop is untouched.
    #[tokio::test]
    async fn open_duplicates_merge_into_the_newest_of_their_type() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        Migrator::up(&db, Some(1)).await.unwrap();
        for (id, kind, raised_at) in [
            ("a1", "DETRACTOR", 10),
            ("a2", "DETRACTOR", 30),
            ("a3", "DETRACTOR", 20),
            ("a4", "USAGE_DROP", 5),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO alerts (alert_id, account_id, csm_id, alert_type, status, reason, \
                 survey_response_id, arr_minor, currency_code, raised_at) \
                 VALUES ('{id}', 'acc', '', '{kind}', 'OPEN', 'reason {id}', '', 0, 'EUR', {raised_at})"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT alert_id, status, raise_count, last_raised_at, resolution FROM alerts ORDER BY alert_id",
            ))
            .await
            .unwrap();
        let seen: Vec<(String, String, i64, i64, String)> = rows
            .iter()
            .map(|row| {
                (
                    row.try_get("", "alert_id").unwrap(),
                    row.try_get("", "status").unwrap(),
                    row.try_get("", "raise_count").unwrap(),
                    row.try_get("", "last_raised_at").unwrap(),
                    row.try_get("", "resolution").unwrap(),
                )
            })
            .collect();
        let merged = "merged into the newest open alert of its type".to_owned();
        assert_eq!(
            seen,
            [
                ("a1".into(), "RESOLVED".into(), 1, 10, merged.clone()),
                ("a2".into(), "OPEN".into(), 3, 30, String::new()),
                ("a3".into(), "RESOLVED".into(), 1, 20, merged),
                ("a4".into(), "OPEN".into(), 1, 5, String::new()),
            ]
        );
        // The index now holds one open alert per account and type.
        let duplicate = db
            .execute_unprepared(
                "INSERT INTO alerts (alert_id, account_id, csm_id, alert_type, status, reason, \
                 survey_response_id, arr_minor, currency_code, raised_at) \
                 VALUES ('a5', 'acc', '', 'USAGE_DROP', 'OPEN', 'other', '', 0, 'EUR', 40)",
            )
            .await;
        assert!(duplicate.is_err());
    }
}
