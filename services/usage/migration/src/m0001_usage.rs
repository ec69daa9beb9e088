//! Raw events (partitioned by month on PostgreSQL, so retention drops whole partitions),
//! the event keys that make ingestion exactly-once, and the daily rollups every summary
//! is computed from. Instants are microseconds since the Unix epoch and days are days
//! since 1970-01-01 (UTC) on both backends, so every query is written once.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, DeriveMigrationName},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables and indexes both backends share.
const COMMON: &[&str] = &[
    // One row per stored event, kept as long as the event is within retention: a repeat
    // of (account_id, event_id) finds it here. Separate from the partitioned events
    // because a PostgreSQL unique key must contain the partition key.
    "CREATE TABLE usage_event_keys (
        account_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        occurred_at BIGINT NOT NULL,
        PRIMARY KEY (account_id, event_id))",
    "CREATE INDEX usage_event_keys_occurred_at ON usage_event_keys (occurred_at)",
    "CREATE INDEX usage_events_account ON usage_events (account_id, occurred_at)",
    // Per account and day: LOGIN and FEATURE_USED quantities, syncs, tickets.
    "CREATE TABLE usage_daily (
        account_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        logins BIGINT NOT NULL,
        feature_uses BIGINT NOT NULL,
        integration_syncs BIGINT NOT NULL,
        tickets_opened BIGINT NOT NULL,
        tickets_resolved BIGINT NOT NULL,
        PRIMARY KEY (account_id, day))",
    "CREATE TABLE usage_daily_features (
        account_id TEXT NOT NULL,
        feature_key TEXT NOT NULL,
        day INTEGER NOT NULL,
        uses BIGINT NOT NULL,
        PRIMARY KEY (account_id, feature_key, day))",
    // Per account, day and pseudonymous user: what they did ('' = LOGIN, else the feature
    // key) and how often. Distinct users come from here, and a user's erasure subtracts
    // their quantities from the totals above.
    "CREATE TABLE usage_daily_users (
        account_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        user_key TEXT NOT NULL,
        feature_key TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        PRIMARY KEY (account_id, day, user_key, feature_key))",
    // Every (user, account) pair ever seen, so a user's erasure finds their accounts
    // without scanning raw events.
    "CREATE TABLE usage_users (
        user_key TEXT NOT NULL,
        account_id TEXT NOT NULL,
        PRIMARY KEY (user_key, account_id))",
    // Opened and resolved instants per ticket: open tickets and time to resolution
    // outlive raw-event retention.
    "CREATE TABLE usage_tickets (
        account_id TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        opened_at BIGINT NULL,
        resolved_at BIGINT NULL,
        PRIMARY KEY (account_id, ticket_id))",
];

const EVENT_COLUMNS: &str = "occurred_at BIGINT NOT NULL,
        account_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        user_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        feature_key TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        properties TEXT NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let events = match manager.get_database_backend() {
            // Monthly partitions are created by the service as events arrive.
            DbBackend::Postgres => {
                format!(
                    "CREATE TABLE usage_events ({EVENT_COLUMNS}) PARTITION BY RANGE (occurred_at)"
                )
            }
            _ => format!("CREATE TABLE usage_events ({EVENT_COLUMNS})"),
        };
        db.execute_unprepared(&events).await?;
        for sql in COMMON {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "usage_tickets",
            "usage_users",
            "usage_daily_users",
            "usage_daily_features",
            "usage_daily",
            "usage_event_keys",
            "usage_events",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
