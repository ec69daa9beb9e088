//! SQLite only: event keys lose their index on `occurred_at`. Only the retention sweep
//! used it, and keeping it cost every ingested event a write at a random place of the
//! index whenever events do not arrive in time order across accounts (a backfill sends
//! one account's year, then the next's): the claim and the commit of a batch grew with
//! the table, and ingestion of the demo's year took 1.7 times as long. The sweep walks
//! the keys in rowid order instead, in short transactions. PostgreSQL keeps the index:
//! it deletes the keys of dropped partitions by it.

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
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS usage_event_keys_occurred_at")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX usage_event_keys_occurred_at ON usage_event_keys (occurred_at)",
            )
            .await?;
        Ok(())
    }
}
