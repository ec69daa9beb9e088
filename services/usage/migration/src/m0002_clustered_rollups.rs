//! SQLite only: the rollup tables become `WITHOUT ROWID` tables, clustered on their
//! primary key. A rowid table keeps its rows in one B-tree and its key in a second, so an
//! increment found the key in one and then the row in the other, and a summary read one
//! account's days through the key and fetched each row from wherever it was inserted.
//! Clustered, a row lives in its key's leaf and an account's days are side by side.
//! Raw events and their keys stay rowid tables: they only grow, so their rows are
//! appended at the end of the table, which costs less than keeping them in key order.
//! PostgreSQL keeps heap tables, the only kind it has.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, DeriveMigrationName},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each table's definition, with its columns in the order m0001 gave them.
const TABLES: &[(&str, &str)] = &[
    (
        "usage_daily",
        "account_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        logins BIGINT NOT NULL,
        feature_uses BIGINT NOT NULL,
        integration_syncs BIGINT NOT NULL,
        tickets_opened BIGINT NOT NULL,
        tickets_resolved BIGINT NOT NULL,
        PRIMARY KEY (account_id, day)",
    ),
    (
        "usage_daily_features",
        "account_id TEXT NOT NULL,
        feature_key TEXT NOT NULL,
        day INTEGER NOT NULL,
        uses BIGINT NOT NULL,
        PRIMARY KEY (account_id, feature_key, day)",
    ),
    (
        "usage_daily_users",
        "account_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        user_key TEXT NOT NULL,
        feature_key TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        PRIMARY KEY (account_id, day, user_key, feature_key)",
    ),
    (
        "usage_users",
        "user_key TEXT NOT NULL,
        account_id TEXT NOT NULL,
        PRIMARY KEY (user_key, account_id)",
    ),
    (
        "usage_tickets",
        "account_id TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        opened_at BIGINT NULL,
        resolved_at BIGINT NULL,
        PRIMARY KEY (account_id, ticket_id)",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, definition) in TABLES {
            for sql in [
                format!("CREATE TABLE {table}_clustered ({definition}) WITHOUT ROWID"),
                format!("INSERT INTO {table}_clustered SELECT * FROM {table}"),
                format!("DROP TABLE {table}"),
                format!("ALTER TABLE {table}_clustered RENAME TO {table}"),
            ] {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    /// The same rows under the same names; m0001's down drops them.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }

    /// All or nothing: a process stopped halfway must not leave a table dropped and its
    /// copy unnamed.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
