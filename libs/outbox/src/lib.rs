//! The transactional outbox of webhook events. A service writes the event into its own
//! database in the same transaction as the change it announces, so a crash between the
//! commit and the delivery loses nothing; the webhook relay later moves the rows to the
//! webhook store and deletes them here. Each emitting service adds [`Migration`] to its
//! migrator.

use nordstern_domain::webhook::EventType;
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};
use sea_orm_migration::prelude::*;

/// One event, as the receivers get it: `{"type": …, "timestamp": …, "data": {…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// `msg_` and a time-ordered UUID: the `webhook-id` receivers deduplicate by.
    pub event_id: String,
    pub event_type: String,
    /// The whole JSON body.
    pub payload: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

impl OutboxEvent {
    pub fn new(event_type: EventType, data: serde_json::Value) -> OutboxEvent {
        let now = chrono::Utc::now();
        let payload = serde_json::json!({
            "type": event_type.as_str(),
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        });
        OutboxEvent {
            event_id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
            event_type: event_type.as_str().to_owned(),
            payload: payload.to_string(),
            created_at: now.timestamp_micros(),
        }
    }
}

/// Rows per INSERT statement (4 values each; far below both databases' limits).
const ROWS_PER_STATEMENT: usize = 200;

/// Writes `events` with `db`, which should be the transaction of the change they announce.
pub async fn enqueue(db: &impl ConnectionTrait, events: &[OutboxEvent]) -> Result<(), DbErr> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        let rows: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, event)| {
                values.extend([
                    event.event_id.clone().into(),
                    event.event_type.clone().into(),
                    event.payload.clone().into(),
                    event.created_at.into(),
                ]);
                let n = i * 4;
                format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4)
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_outbox (event_id, event_type, payload, created_at) VALUES {}",
            rows.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await?;
    }
    Ok(())
}

/// The oldest `limit` events not yet relayed.
pub async fn pending(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<OutboxEvent>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT event_id, event_type, payload, created_at FROM webhook_outbox \
             ORDER BY event_id LIMIT $1",
            [Value::from(
                <i64 as TryFrom<u64>>::try_from(limit).unwrap_or(i64::MAX),
            )],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(OutboxEvent {
                event_id: row.try_get("", "event_id")?,
                event_type: row.try_get("", "event_type")?,
                payload: row.try_get("", "payload")?,
                created_at: row.try_get("", "created_at")?,
            })
        })
        .collect()
}

/// Forgets relayed events.
pub async fn remove(db: &impl ConnectionTrait, event_ids: &[String]) -> Result<(), DbErr> {
    for chunk in event_ids.chunks(ROWS_PER_STATEMENT) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "DELETE FROM webhook_outbox WHERE event_id IN ({})",
                marks.join(", ")
            ),
            chunk.iter().map(|id| Value::from(id.clone())),
        ))
        .await?;
    }
    Ok(())
}

/// The outbox table, for the migrator of every service that announces events.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0900_webhook_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS webhook_outbox (
                    event_id TEXT PRIMARY KEY,
                    event_type TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS webhook_outbox")
            .await?;
        Ok(())
    }
}
