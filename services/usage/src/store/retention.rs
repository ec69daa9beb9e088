//! Retention of raw events: on PostgreSQL whole monthly partitions past the cutoff are
//! dropped and only the month that straddles it is deleted from; daily rollups and
//! ticket times stay. On SQLite nothing indexes when an event occurred (an index kept in
//! time order costs every ingested event a random write), so the sweep reads only the
//! spans of rowids whose earliest instant is before the cutoff (see `spans`), a few
//! spans per transaction, and ingestion waits for those at most.

use nordstern_runtime::storage::{execute, query_all};
use sea_orm::{DbErr, Value};

use super::{Store, partitions, spans};

/// Spans a SQLite sweep reads per transaction: 20,000 rows at most.
const SPANS_PER_TRANSACTION: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionSweep {
    /// Whole partitions dropped (PostgreSQL).
    pub partitions_dropped: Vec<String>,
    /// Events deleted row by row (SQLite, and the month straddling the cutoff).
    pub events_deleted: u64,
    pub keys_deleted: u64,
    /// Spans of raw events and keys read (SQLite): those that held an expired row.
    pub spans_swept: u64,
}

impl Store {
    /// Removes raw events (and their dedup keys) that occurred before `cutoff_micros`.
    /// Ingestion refuses such events, so a key can go before or after its event.
    pub async fn apply_retention(&self, cutoff_micros: i64) -> Result<RetentionSweep, DbErr> {
        if !self.is_postgres() {
            let (events_deleted, event_spans) =
                self.sweep_spans("usage_events", cutoff_micros).await?;
            let (keys_deleted, key_spans) =
                self.sweep_spans("usage_event_keys", cutoff_micros).await?;
            return Ok(RetentionSweep {
                partitions_dropped: Vec::new(),
                events_deleted,
                keys_deleted,
                spans_swept: event_spans + key_spans,
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

    /// Deletes the rows of `table` (SQLite) that occurred before `cutoff_micros` from the
    /// spans that hold one; returns the rows deleted and the spans read. Rows ingested
    /// meanwhile are within retention.
    async fn sweep_spans(&self, table: &str, cutoff_micros: i64) -> Result<(u64, u64), DbErr> {
        let expired = spans::expired(self.db(), table, cutoff_micros).await?;
        let mut deleted = 0;
        for group in expired.chunks(SPANS_PER_TRANSACTION) {
            let txn = self.writer.begin().await?;
            for &span in group {
                deleted += spans::sweep(&txn.txn, table, span, cutoff_micros).await?;
            }
            txn.commit().await?;
        }
        Ok((deleted, expired.len() as u64))
    }
}
