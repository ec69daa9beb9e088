//! The transactional outbox of webhook events. A service writes the event into its own
//! database in the same transaction as the change it announces, so a crash between the
//! commit and the delivery loses nothing; the webhook relay later moves the rows to the
//! webhook store and deletes them here. Each emitting service adds [`Migration`] to its
//! migrator.

use nordstern_domain::webhook::EventType;
use nordstern_runtime::storage::{execute, insert_rows, placeholders, query_all};
use sea_orm::{ConnectionTrait, DbErr, Value};
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
    /// `(event_id, event_type, payload, created_at)`, as the outbox and the webhook store
    /// insert an event.
    pub fn row(&self) -> Vec<Value> {
        vec![
            self.event_id.clone().into(),
            self.event_type.clone().into(),
            self.payload.clone().into(),
            self.created_at.into(),
        ]
    }

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

/// Writes `events` with `db`, which should be the transaction of the change they announce.
pub async fn enqueue(db: &impl ConnectionTrait, events: &[OutboxEvent]) -> Result<(), DbErr> {
    insert_rows(
        db,
        "INSERT INTO webhook_outbox (event_id, event_type, payload, created_at)",
        "",
        4,
        events.iter().map(OutboxEvent::row).collect(),
    )
    .await?;
    Ok(())
}

/// The oldest `limit` events not yet relayed.
pub async fn pending(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<OutboxEvent>, DbErr> {
    query_all(
        db,
        "SELECT event_id, event_type, payload, created_at FROM webhook_outbox \
         ORDER BY event_id LIMIT $1",
        vec![
            <i64 as TryFrom<u64>>::try_from(limit)
                .unwrap_or(i64::MAX)
                .into(),
        ],
    )
    .await?
    .iter()
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

/// Rows per DELETE statement.
const IDS_PER_STATEMENT: usize = 500;

/// Forgets relayed events.
pub async fn remove(db: &impl ConnectionTrait, event_ids: &[String]) -> Result<(), DbErr> {
    for chunk in event_ids.chunks(IDS_PER_STATEMENT) {
        execute(
            db,
            &format!(
                "DELETE FROM webhook_outbox WHERE event_id IN ({})",
                placeholders(1, chunk.len())
            ),
            chunk.iter().map(|id| Value::from(id.clone())).collect(),
        )
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
