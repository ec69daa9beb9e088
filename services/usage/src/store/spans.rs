//! SQLite only: where expired raw events can be. Raw events and their keys are rowid
//! tables filled at the end, so a span of [`SPAN_ROWS`] rowids holds rows that arrived
//! together, and `usage_event_spans` (m0004) keeps each span's earliest `occurred_at`.
//! The transaction that inserts rows lowers it, so it is never later than a stored row;
//! an erasure may leave it earlier than what is left, which costs a sweep one look. The
//! retention sweep reads only the spans whose earliest instant is before its cutoff, and
//! records each span's earliest instant of what it leaves.

use std::collections::BTreeMap;

use nordstern_runtime::storage::{execute, insert_rows, query_all};
use sea_orm::{ConnectionTrait, DbErr, Value};

/// Rowids per span. m0004 summarised the rows stored before it with the same number.
const SPAN_ROWS: i64 = 1_000;

/// The tables whose spans are kept.
const TABLES: [&str; 2] = ["usage_events", "usage_event_keys"];

/// Rows a transaction added to raw events and to keys: (rowid, occurred_at) each, as the
/// inserts' `RETURNING` gave them. Nothing is read back: reading even `MAX(rowid)` in the
/// writer's transaction went through the memory map and took `bench ingest`'s peak RSS
/// from 258 MB to over 1,400 MB.
#[derive(Default)]
pub(super) struct Inserted {
    pub events: Vec<(i64, i64)>,
    pub keys: Vec<(i64, i64)>,
}

impl Inserted {
    /// Lowers the earliest instant of the spans the rows fell into, in the transaction
    /// that inserted them; nothing to do when there are none (always on PostgreSQL).
    pub(super) async fn record(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let mut rows = Vec::new();
        for (table, inserted) in TABLES.into_iter().zip([self.events, self.keys]) {
            let mut earliest: BTreeMap<i64, i64> = BTreeMap::new();
            for (rowid, at) in inserted {
                earliest
                    .entry(rowid / SPAN_ROWS)
                    .and_modify(|e| *e = (*e).min(at))
                    .or_insert(at);
            }
            rows.extend(earliest.into_iter().map(|(span, at)| {
                vec![
                    Value::from(table.to_owned()),
                    Value::from(span),
                    Value::from(at),
                ]
            }));
        }
        insert_rows(
            db,
            "INSERT INTO usage_event_spans (table_name, span, earliest)",
            "ON CONFLICT (table_name, span) DO UPDATE SET earliest = MIN(earliest, excluded.earliest)",
            3,
            rows,
        )
        .await?;
        Ok(())
    }
}

/// The spans of `table` that may hold a row that occurred before `cutoff_micros`.
pub(super) async fn expired(
    db: &impl ConnectionTrait,
    table: &str,
    cutoff_micros: i64,
) -> Result<Vec<i64>, DbErr> {
    let rows = query_all(
        db,
        "SELECT span FROM usage_event_spans WHERE table_name = $1 AND earliest < $2 ORDER BY span",
        vec![Value::from(table.to_owned()), Value::from(cutoff_micros)],
    )
    .await?;
    rows.iter().map(|row| row.try_get("", "span")).collect()
}

/// Deletes the rows of one span of `table` that occurred before `cutoff_micros` and
/// records the earliest instant of the rest (none left: the span goes). Returns the rows
/// deleted.
pub(super) async fn sweep(
    db: &impl ConnectionTrait,
    table: &str,
    span: i64,
    cutoff_micros: i64,
) -> Result<u64, DbErr> {
    let first = span * SPAN_ROWS;
    let last = first + SPAN_ROWS - 1;
    let deleted = execute(
        db,
        &format!("DELETE FROM {table} WHERE rowid BETWEEN $1 AND $2 AND occurred_at < $3"),
        vec![first.into(), last.into(), cutoff_micros.into()],
    )
    .await?;
    let key = || vec![Value::from(table.to_owned()), Value::from(span)];
    execute(
        db,
        "DELETE FROM usage_event_spans WHERE table_name = $1 AND span = $2",
        key(),
    )
    .await?;
    let mut values = key();
    values.extend([Value::from(first), Value::from(last)]);
    execute(
        db,
        &format!(
            "INSERT INTO usage_event_spans (table_name, span, earliest) \
             SELECT $1, $2, MIN(occurred_at) FROM {table} WHERE rowid BETWEEN $3 AND $4 HAVING COUNT(*) > 0"
        ),
        values,
    )
    .await?;
    Ok(deleted)
}
