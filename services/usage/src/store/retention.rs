//! Retention of raw events: on PostgreSQL whole monthly partitions past the cutoff are
//! dropped and only the month that straddles it is deleted from; daily rollups and
//! ticket times stay. On SQLite nothing indexes when an event occurred (an index kept in
//! time order costs every ingested event a random write), so the sweep walks raw events
//! and their keys in rowid order, a chunk per transaction, and ingestion waits for one
//! chunk at most.

use nordstern_runtime::storage::{execute, query_all, query_one};
use sea_orm::{DbErr, Value};

use super::{Store, partitions};

/// Rows a SQLite sweep looks at per transaction.
const SWEEP_CHUNK: i64 = 20_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionSweep {
    /// Whole partitions dropped (PostgreSQL).
    pub partitions_dropped: Vec<String>,
    /// Events deleted row by row (SQLite, and the month straddling the cutoff).
    pub events_deleted: u64,
    pub keys_deleted: u64,
}

impl Store {
    /// Removes raw events (and their dedup keys) that occurred before `cutoff_micros`.
    /// Ingestion refuses such events, so a key can go before or after its event.
    pub async fn apply_retention(&self, cutoff_micros: i64) -> Result<RetentionSweep, DbErr> {
        if !self.is_postgres() {
            return Ok(RetentionSweep {
                partitions_dropped: Vec::new(),
                events_deleted: self.sweep_in_chunks("usage_events", cutoff_micros).await?,
                keys_deleted: self
                    .sweep_in_chunks("usage_event_keys", cutoff_micros)
                    .await?,
            });
        }
        let mut sweep = RetentionSweep::default();
        let txn = self.writer.begin().await?;
        let rows = query_all(
            &txn.txn,
            "SELECT child.relname AS name FROM pg_inherits \
             JOIN pg_class child ON child.oid = pg_inherits.inhrelid \
             JOIN pg_class parent ON parent.oid = pg_inherits.inhparent \
             JOIN pg_namespace ns ON ns.oid = parent.relnamespace \
             WHERE parent.relname = 'usage_events' AND ns.nspname = current_schema()",
            vec![],
        )
        .await?;
        for row in rows {
            let name: String = row.try_get("", "name")?;
            let Some(month) = partitions::parse_partition_name(&name) else {
                continue;
            };
            if partitions::month_start_micros(month + 1) <= cutoff_micros {
                execute(&txn.txn, &format!("DROP TABLE {name}"), vec![]).await?;
                sweep.partitions_dropped.push(name);
            }
        }
        sweep.events_deleted = execute(
            &txn.txn,
            "DELETE FROM usage_events WHERE occurred_at < $1",
            vec![Value::from(cutoff_micros)],
        )
        .await?;
        sweep.keys_deleted = execute(
            &txn.txn,
            "DELETE FROM usage_event_keys WHERE occurred_at < $1",
            vec![Value::from(cutoff_micros)],
        )
        .await?;
        txn.commit().await?;
        for name in &sweep.partitions_dropped {
            if let Some(month) = partitions::parse_partition_name(name) {
                self.partitions.forget(month);
            }
        }
        sweep.partitions_dropped.sort();
        Ok(sweep)
    }

    /// Deletes the rows of `table` (SQLite) that occurred before `cutoff_micros`, up to
    /// the last row there was when the sweep began: rows ingested meanwhile are within
    /// retention.
    async fn sweep_in_chunks(&self, table: &str, cutoff_micros: i64) -> Result<u64, DbErr> {
        let Some(row) = query_one(
            self.db(),
            &format!("SELECT MIN(rowid) AS first, MAX(rowid) AS last FROM {table}"),
            vec![],
        )
        .await?
        else {
            return Ok(0);
        };
        let (Some(mut from), Some(last)) = (
            row.try_get::<Option<i64>>("", "first")?,
            row.try_get::<Option<i64>>("", "last")?,
        ) else {
            return Ok(0);
        };
        let mut deleted = 0;
        loop {
            let to = from.saturating_add(SWEEP_CHUNK - 1).min(last);
            let txn = self.writer.begin().await?;
            deleted += execute(
                &txn.txn,
                &format!("DELETE FROM {table} WHERE rowid BETWEEN $1 AND $2 AND occurred_at < $3"),
                vec![
                    Value::from(from),
                    Value::from(to),
                    Value::from(cutoff_micros),
                ],
            )
            .await?;
            txn.commit().await?;
            if to == last {
                break;
            }
            from = to + 1;
        }
        Ok(deleted)
    }
}
