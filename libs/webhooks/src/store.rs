//! The webhook store of the installation (`webhooks.sqlite`, or the schema `webhooks`):
//! subscriptions, the events relayed from the services' outboxes, and one delivery per
//! event and subscription with its state (the delivery log).

use nordstern_outbox::OutboxEvent;
use nordstern_runtime::storage::{
    self, SerialWriter, StorageTarget, execute, placeholders, query_all, query_one,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult, Value};
use sea_orm_migration::prelude::*;

/// Transactions on the store take this PostgreSQL advisory lock (SQLite has one writer).
const WRITE_LOCK_KEY: i64 = 0x5745_4248_4f4f_4b53;

#[derive(Clone)]
pub struct Store {
    writer: SerialWriter,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    pub subscription_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub active: bool,
    pub format: String,
    pub description: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: i64,
}

impl SubscriptionRow {
    /// The secrets that sign now: the current one, and the previous one while it lasts.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            secrets.push(previous);
        }
        secrets
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Dead => "DEAD",
        }
    }

    fn parse(text: &str) -> Result<Self, DbErr> {
        match text {
            "PENDING" => Ok(DeliveryStatus::Pending),
            "DELIVERED" => Ok(DeliveryStatus::Delivered),
            "DEAD" => Ok(DeliveryStatus::Dead),
            other => Err(DbErr::Custom(format!("unknown delivery status {other}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: String,
    pub subscription_id: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_response_code: i32,
    pub last_error: String,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub next_attempt_at: i64,
    pub give_up_at: i64,
    pub delivered_at: Option<i64>,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub response_code: i32,
    pub error: String,
    /// `None`: delivered, or dead when `error` is set.
    pub next_attempt_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub subscription_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub event_id: Option<String>,
}

const SUBSCRIPTION_COLUMNS: &str = "subscription_id, url, event_types, active, format, description, \
     secret, previous_secret, previous_secret_expires_at, created_at";
const DELIVERY_COLUMNS: &str = "d.delivery_id, d.event_id, e.event_type, d.subscription_id, d.status, \
     d.attempts, d.last_response_code, d.last_error, d.created_at, d.last_attempt_at, \
     d.next_attempt_at, d.give_up_at, d.delivered_at";

impl Store {
    /// Opens (and migrates) the store of `config`.
    pub async fn open(config: &nordstern_runtime::Config) -> Result<Store, DbErr> {
        let target = match &config.database_url {
            Some(url) => StorageTarget::Postgres { url },
            None => StorageTarget::Sqlite {
                data_dir: &config.data_dir,
            },
        };
        let db = storage::open_named::<Migrator>(
            target,
            "webhooks",
            Ord::min(config.database_max_connections, 4),
        )
        .await?;
        Ok(Store {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.writer.db()
    }

    pub async fn create_subscription(
        &self,
        row: &SubscriptionRow,
        request_id: Option<&str>,
    ) -> Result<SubscriptionRow, DbErr> {
        let tx = self.writer.begin().await?;
        if let Some(request_id) = request_id
            && let Some(existing) = query_one(
                &tx.txn,
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE request_id = $1"
                ),
                vec![request_id.into()],
            )
            .await?
        {
            return subscription(&existing);
        }
        execute(
            &tx.txn,
            &format!(
                "INSERT INTO webhook_subscriptions ({SUBSCRIPTION_COLUMNS}, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            vec![
                row.subscription_id.clone().into(),
                row.url.clone().into(),
                row.event_types.join(",").into(),
                row.active.into(),
                row.format.clone().into(),
                row.description.clone().into(),
                row.secret.clone().into(),
                row.previous_secret.clone().into(),
                row.previous_secret_expires_at.into(),
                row.created_at.into(),
                request_id.map(str::to_owned).into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(row.clone())
    }

    pub async fn subscriptions(&self) -> Result<Vec<SubscriptionRow>, DbErr> {
        subscriptions(self.db()).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRow>, DbErr> {
        query_one(
            self.db(),
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE subscription_id = $1"
            ),
            vec![id.into()],
        )
        .await?
        .as_ref()
        .map(subscription)
        .transpose()
    }

    /// Writes every field of `row` but its id, creation time and secrets.
    pub async fn update_subscription(&self, row: &SubscriptionRow) -> Result<bool, DbErr> {
        let tx = self.writer.begin().await?;
        let changed = execute(
            &tx.txn,
            "UPDATE webhook_subscriptions SET url = $1, event_types = $2, active = $3, \
             format = $4, description = $5 WHERE subscription_id = $6",
            vec![
                row.url.clone().into(),
                row.event_types.join(",").into(),
                row.active.into(),
                row.format.clone().into(),
                row.description.clone().into(),
                row.subscription_id.clone().into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Makes `secret` current; the current one signs beside it until `previous_until`.
    pub async fn rotate_secret(
        &self,
        id: &str,
        secret: &str,
        previous_until: i64,
    ) -> Result<bool, DbErr> {
        let tx = self.writer.begin().await?;
        let changed = execute(
            &tx.txn,
            "UPDATE webhook_subscriptions SET previous_secret = secret, \
             previous_secret_expires_at = $1, secret = $2 WHERE subscription_id = $3",
            vec![previous_until.into(), secret.into(), id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    pub async fn delete_subscription(&self, id: &str) -> Result<bool, DbErr> {
        let tx = self.writer.begin().await?;
        execute(
            &tx.txn,
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1",
            vec![id.into()],
        )
        .await?;
        let deleted = execute(
            &tx.txn,
            "DELETE FROM webhook_subscriptions WHERE subscription_id = $1",
            vec![id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// Takes in events from an outbox: each new one that an active subscription wants is
    /// stored with a delivery for every such subscription (others are dropped); an event
    /// already taken (a relay that crashed before it cleared its outbox) is skipped, so
    /// nothing is delivered twice. Returns the deliveries made.
    pub async fn accept_events(
        &self,
        events: &[OutboxEvent],
        now: i64,
        window_micros: i64,
    ) -> Result<usize, DbErr> {
        if events.is_empty() {
            return Ok(0);
        }
        let tx = self.writer.begin().await?;
        let subscriptions: Vec<SubscriptionRow> = subscriptions(&tx.txn)
            .await?
            .into_iter()
            .filter(|s| s.active)
            .collect();
        let mut deliveries = 0;
        for event in events {
            let wanted_by: Vec<&SubscriptionRow> = subscriptions
                .iter()
                .filter(|s| s.event_types.contains(&event.event_type))
                .collect();
            // Nobody listens: nothing to keep (a 100,000-account recompute announces
            // every colour change).
            if wanted_by.is_empty() {
                continue;
            }
            let inserted = execute(
                &tx.txn,
                "INSERT INTO webhook_events (event_id, event_type, payload, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
                vec![
                    event.event_id.clone().into(),
                    event.event_type.clone().into(),
                    event.payload.clone().into(),
                    event.created_at.into(),
                ],
            )
            .await?;
            if inserted == 0 {
                continue;
            }
            for subscription in wanted_by {
                execute(
                    &tx.txn,
                    "INSERT INTO webhook_deliveries (delivery_id, event_id, subscription_id, \
                     status, attempts, last_response_code, last_error, created_at, \
                     next_attempt_at, give_up_at) VALUES ($1, $2, $3, 'PENDING', 0, 0, '', $4, $4, $5)",
                    vec![
                        uuid::Uuid::now_v7().to_string().into(),
                        event.event_id.clone().into(),
                        subscription.subscription_id.clone().into(),
                        now.into(),
                        (now + window_micros).into(),
                    ],
                )
                .await?;
                deliveries += 1;
            }
        }
        tx.commit().await?;
        Ok(deliveries)
    }

    /// Pending deliveries due at `now` and not leased by another worker, oldest first.
    pub async fn due(&self, now: i64, limit: u64) -> Result<Vec<DeliveryRow>, DbErr> {
        query_all(
            self.db(),
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.event_id = d.event_id \
                 WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1 \
                 AND (d.leased_until IS NULL OR d.leased_until < $1) \
                 ORDER BY d.next_attempt_at, d.delivery_id LIMIT $2"
            ),
            vec![
                now.into(),
                <i64 as TryFrom<u64>>::try_from(limit)
                    .unwrap_or(i64::MAX)
                    .into(),
            ],
        )
        .await?
        .iter()
        .map(delivery)
        .collect()
    }

    /// Takes `delivery_id` for one attempt until `until`; false when another worker has it.
    pub async fn lease(&self, delivery_id: &str, now: i64, until: i64) -> Result<bool, DbErr> {
        let tx = self.writer.begin().await?;
        let leased = execute(
            &tx.txn,
            "UPDATE webhook_deliveries SET leased_until = $1 WHERE delivery_id = $2 \
             AND status = 'PENDING' AND (leased_until IS NULL OR leased_until < $3)",
            vec![until.into(), delivery_id.into(), now.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(leased == 1)
    }

    /// The body of an event as relayed.
    pub async fn payload(&self, event_id: &str) -> Result<Option<String>, DbErr> {
        query_one(
            self.db(),
            "SELECT payload FROM webhook_events WHERE event_id = $1",
            vec![event_id.into()],
        )
        .await?
        .map(|row| row.try_get("", "payload"))
        .transpose()
    }

    /// Records an attempt made at `at` and frees the lease.
    pub async fn record_attempt(
        &self,
        delivery_id: &str,
        at: i64,
        outcome: &AttemptOutcome,
    ) -> Result<(), DbErr> {
        let status = match (&outcome.next_attempt_at, outcome.error.is_empty()) {
            (Some(_), _) => DeliveryStatus::Pending,
            (None, true) => DeliveryStatus::Delivered,
            (None, false) => DeliveryStatus::Dead,
        };
        let delivered_at = (status == DeliveryStatus::Delivered).then_some(at);
        let tx = self.writer.begin().await?;
        execute(
            &tx.txn,
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             last_response_code = $2, last_error = $3, last_attempt_at = $4, \
             next_attempt_at = COALESCE($5, next_attempt_at), delivered_at = COALESCE($6, delivered_at), \
             leased_until = NULL WHERE delivery_id = $7",
            vec![
                status.as_str().into(),
                outcome.response_code.into(),
                outcome.error.clone().into(),
                at.into(),
                outcome.next_attempt_at.into(),
                delivered_at.into(),
                delivery_id.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pending again, due now, with a fresh retry window.
    pub async fn redeliver(
        &self,
        delivery_id: &str,
        now: i64,
        window_micros: i64,
    ) -> Result<Option<DeliveryRow>, DbErr> {
        let tx = self.writer.begin().await?;
        execute(
            &tx.txn,
            "UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = $1, \
             give_up_at = $2, leased_until = NULL WHERE delivery_id = $3",
            vec![now.into(), (now + window_micros).into(), delivery_id.into()],
        )
        .await?;
        tx.commit().await?;
        self.delivery(delivery_id).await
    }

    pub async fn delivery(&self, delivery_id: &str) -> Result<Option<DeliveryRow>, DbErr> {
        query_one(
            self.db(),
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.event_id = d.event_id WHERE d.delivery_id = $1"
            ),
            vec![delivery_id.into()],
        )
        .await?
        .as_ref()
        .map(delivery)
        .transpose()
    }

    /// The log, newest first, after the delivery `before` (a page token).
    pub async fn deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<DeliveryRow>, DbErr> {
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut bind = |condition: &str, value: Value| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(id) = &filter.subscription_id {
            bind("d.subscription_id = ?", id.clone().into());
        }
        if let Some(status) = filter.status {
            bind("d.status = ?", status.as_str().into());
        }
        if let Some(id) = &filter.event_id {
            bind("d.event_id = ?", id.clone().into());
        }
        if let Some(before) = before {
            bind("d.delivery_id < ?", before.to_owned().into());
        }
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        values.push(
            <i64 as TryFrom<u64>>::try_from(limit)
                .unwrap_or(i64::MAX)
                .into(),
        );
        query_all(
            self.db(),
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.event_id = d.event_id {filter_sql} \
                 ORDER BY d.delivery_id DESC LIMIT ${}",
                values.len()
            ),
            values,
        )
        .await?
        .iter()
        .map(delivery)
        .collect()
    }

    /// Forgets finished deliveries (delivered or dead) made before `before`, and events
    /// older than that with no delivery left; pending ones stay whatever their age.
    /// Returns (deliveries, events) removed.
    pub async fn sweep(&self, before: i64) -> Result<(u64, u64), DbErr> {
        let tx = self.writer.begin().await?;
        let deliveries = execute(
            &tx.txn,
            "DELETE FROM webhook_deliveries WHERE status <> 'PENDING' AND created_at < $1",
            vec![before.into()],
        )
        .await?;
        let events = execute(
            &tx.txn,
            "DELETE FROM webhook_events WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.event_id)",
            vec![before.into()],
        )
        .await?;
        tx.commit().await?;
        Ok((deliveries, events))
    }

    /// The deliveries of events, for tests and the CLI.
    pub async fn deliveries_of(&self, event_ids: &[String]) -> Result<Vec<DeliveryRow>, DbErr> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        query_all(
            self.db(),
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.event_id = d.event_id WHERE d.event_id IN ({})",
                placeholders(1, event_ids.len())
            ),
            event_ids.iter().map(|id| Value::from(id.clone())).collect(),
        )
        .await?
        .iter()
        .map(delivery)
        .collect()
    }
}

async fn subscriptions(db: &impl ConnectionTrait) -> Result<Vec<SubscriptionRow>, DbErr> {
    query_all(
        db,
        &format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY subscription_id"
        ),
        Vec::new(),
    )
    .await?
    .iter()
    .map(subscription)
    .collect()
}

fn subscription(row: &QueryResult) -> Result<SubscriptionRow, DbErr> {
    let event_types: String = row.try_get("", "event_types")?;
    Ok(SubscriptionRow {
        subscription_id: row.try_get("", "subscription_id")?,
        url: row.try_get("", "url")?,
        event_types: event_types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        active: row.try_get("", "active")?,
        format: row.try_get("", "format")?,
        description: row.try_get("", "description")?,
        secret: row.try_get("", "secret")?,
        previous_secret: row.try_get("", "previous_secret")?,
        previous_secret_expires_at: row.try_get("", "previous_secret_expires_at")?,
        created_at: row.try_get("", "created_at")?,
    })
}

fn delivery(row: &QueryResult) -> Result<DeliveryRow, DbErr> {
    let status: String = row.try_get("", "status")?;
    Ok(DeliveryRow {
        delivery_id: row.try_get("", "delivery_id")?,
        event_id: row.try_get("", "event_id")?,
        event_type: row.try_get("", "event_type")?,
        subscription_id: row.try_get("", "subscription_id")?,
        status: DeliveryStatus::parse(&status)?,
        attempts: row.try_get("", "attempts")?,
        last_response_code: row.try_get("", "last_response_code")?,
        last_error: row.try_get("", "last_error")?,
        created_at: row.try_get("", "created_at")?,
        last_attempt_at: row.try_get("", "last_attempt_at")?,
        next_attempt_at: row.try_get("", "next_attempt_at")?,
        give_up_at: row.try_get("", "give_up_at")?,
        delivered_at: row.try_get("", "delivered_at")?,
    })
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateWebhookTables)]
    }

    fn migration_table_name() -> DynIden {
        "webhooks_migrations".into_iden()
    }
}

struct CreateWebhookTables;

impl MigrationName for CreateWebhookTables {
    fn name(&self) -> &str {
        "m0001_webhooks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWebhookTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE TABLE webhook_subscriptions (
                subscription_id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                event_types TEXT NOT NULL,
                active BOOLEAN NOT NULL,
                format TEXT NOT NULL,
                description TEXT NOT NULL,
                secret TEXT NOT NULL,
                previous_secret TEXT NULL,
                previous_secret_expires_at BIGINT NULL,
                created_at BIGINT NOT NULL,
                request_id TEXT NULL UNIQUE
            )",
            "CREATE TABLE webhook_events (
                event_id TEXT PRIMARY KEY,
                event_type TEXT NOT NULL,
                payload TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )",
            "CREATE TABLE webhook_deliveries (
                delivery_id TEXT PRIMARY KEY,
                event_id TEXT NOT NULL REFERENCES webhook_events (event_id),
                subscription_id TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                last_response_code INTEGER NOT NULL,
                last_error TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_attempt_at BIGINT NULL,
                next_attempt_at BIGINT NOT NULL,
                give_up_at BIGINT NOT NULL,
                delivered_at BIGINT NULL,
                leased_until BIGINT NULL,
                UNIQUE (event_id, subscription_id)
            )",
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
            "CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, delivery_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "webhook_deliveries",
            "webhook_events",
            "webhook_subscriptions",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
