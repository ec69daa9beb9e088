//! SQLite only: the earliest `occurred_at` of each span of 1,000 rowids of raw events and
//! of their keys. Nothing on SQLite indexes when an event occurred (see m0003), so the
//! retention sweep read every raw event and every key, every hour: 44 million of each at
//! 100,000 accounts. With the spans it reads only those holding an expired row.
//! Existing rows are summarised here, once. PostgreSQL drops monthly partitions instead.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, DeriveMigrationName},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE usage_event_spans (
                table_name TEXT NOT NULL,
                span BIGINT NOT NULL,
                earliest BIGINT NOT NULL,
                PRIMARY KEY (table_name, span)) WITHOUT ROWID",
        )
        .await?;
        for table in ["usage_events", "usage_event_keys"] {
            db.execute_unprepared(&format!(
                "INSERT INTO usage_event_spans (table_name, span, earliest) \
                 SELECT '{table}', rowid / 1000, MIN(occurred_at) FROM {table} GROUP BY rowid / 1000"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE usage_event_spans")
            .await?;
        Ok(())
    }
}
