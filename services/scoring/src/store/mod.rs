//! SQL of the scoring service; every query runs on SQLite and PostgreSQL alike. A
//! score's protobuf encoding is stored once, in its history row; the view
//! `latest_health_scores` joins it to the latest score's columns, which lists filter and
//! sort on.

use std::collections::HashMap;

use chrono::DateTime;
use nordstern_proto::scoring::v1 as pb;
use nordstern_runtime::storage::{
    Order, Select, SerialWriter, execute, insert_rows, placeholders, query_all, query_one,
    select_by_keys,
};
use nordstern_runtime::wire::timestamp;
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult, Value};

mod alerts;
mod history;
mod models;
mod privacy;
mod scores;
mod upsell;

pub use alerts::{AlertFilter, AlertRow, OpenAlert};
pub use history::ColorChangeRow;
pub use scores::{PreviousScore, ScoreFilter, ScoreWrite};
pub use upsell::OpportunityRow;

/// Advisory lock id of the scoring service's serialised writes ("SCOR" in ASCII).
const WRITE_LOCK_KEY: i64 = 0x5343_4f52;

/// Accounts per `IN (…)` list.
const IDS_PER_QUERY: usize = 500;

pub const ACTIVE_MODEL: &str = "active_model";
pub const DETRACTOR_FEED: &str = "detractor_feed";

#[derive(Clone)]
pub struct Store {
    /// Score versions are read and incremented in one transaction, and replicas must not
    /// interleave: one writer at a time, across processes on PostgreSQL.
    writer: SerialWriter,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Store {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.writer.db()
    }

    /// The writer every write of this store queues behind (the webhook relay too).
    pub fn writer(&self) -> SerialWriter {
        self.writer.clone()
    }

    pub async fn state(&self, name: &str) -> Result<Option<String>, DbErr> {
        query_one(
            self.db(),
            "SELECT value FROM scoring_state WHERE name = $1",
            vec![name.into()],
        )
        .await?
        .map(|row| row.try_get("", "value"))
        .transpose()
    }

    pub async fn set_state(&self, name: &str, value: &str) -> Result<(), DbErr> {
        let txn = self.writer.begin().await?;
        set_state(&txn.txn, name, value).await?;
        txn.commit().await
    }

    /// Like [`Store::set_state`], announcing `event` in the same transaction.
    pub async fn set_state_announced(
        &self,
        name: &str,
        value: &str,
        event: &nordstern_outbox::OutboxEvent,
    ) -> Result<(), DbErr> {
        let txn = self.writer.begin().await?;
        set_state(&txn.txn, name, value).await?;
        nordstern_outbox::enqueue(&txn.txn, std::slice::from_ref(event)).await?;
        txn.commit().await
    }
}

async fn set_state(db: &impl ConnectionTrait, name: &str, value: &str) -> Result<(), DbErr> {
    execute(
        db,
        "INSERT INTO scoring_state (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        vec![name.into(), value.into()],
    )
    .await?;
    Ok(())
}

/// A row count as SQL takes it. Listings ask for one row more than the page
/// (`runtime::paging::PageRequest::fetch_limit`); the store never adds it.
fn sql_limit(rows: u64) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

async fn next_number(db: &impl ConnectionTrait, sql: &str) -> Result<i32, DbErr> {
    let highest: Option<i32> = query_one(db, sql, vec![])
        .await?
        .map(|row| row.try_get::<Option<i32>>("", "n"))
        .transpose()?
        .flatten();
    Ok(highest.unwrap_or(0) + 1)
}
