//! Retention of raw events: on PostgreSQL whole monthly partitions past the cutoff are
//! dropped and only the month that straddles it is deleted from; daily rollups and
//! ticket times stay.

use nordstern_runtime::storage::{execute, query_all};
use sea_orm::{DbErr, Value};

use super::{Store, partitions};

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
    pub async fn apply_retention(&self, cutoff_micros: i64) -> Result<RetentionSweep, DbErr> {
        let mut sweep = RetentionSweep::default();
        let txn = self.writer.begin().await?;
        if self.is_postgres() {
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
}
