//! Events taken in from the outboxes, one delivery per event and subscription, and the
//! log of their attempts.

use nordstern_domain::webhook::DeliveryStatus;
use nordstern_outbox::OutboxEvent;
use nordstern_runtime::storage::{Order, Select, execute, insert_rows, parse_column, query_one};
use sea_orm::{DbErr, QueryResult, Value};

use super::{
    AttemptOutcome, DeliveryFilter, DeliveryRow, Store, SubscriptionRow,
    subscriptions::all_subscriptions,
};

const DELIVERY_COLUMNS: &str = "d.delivery_id, d.event_id, e.event_type, d.subscription_id, d.status, \
     d.attempts, d.last_response_code, d.last_error, d.created_at, d.last_attempt_at, \
     d.next_attempt_at, d.give_up_at, d.delivered_at";
const DELIVERIES_WITH_EVENTS: &str =
    "FROM webhook_deliveries d JOIN webhook_events e ON e.event_id = d.event_id";

impl Store {
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
        let subscriptions: Vec<SubscriptionRow> = all_subscriptions(&tx.txn)
            .await?
            .into_iter()
            .filter(|s| s.active)
            .collect();
        let listeners = |event_type: &str| -> Vec<&SubscriptionRow> {
            subscriptions
                .iter()
                .filter(|s| s.event_types.iter().any(|t| t == event_type))
                .collect()
        };
        // Nobody listens: nothing to keep (a 100,000-account recompute announces every
        // colour change).
        let wanted: Vec<&OutboxEvent> = events
            .iter()
            .filter(|event| !listeners(&event.event_type).is_empty())
            .collect();
        let new_ids: Vec<String> = insert_rows(
            &tx.txn,
            "INSERT INTO webhook_events (event_id, event_type, payload, created_at)",
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            4,
            wanted.iter().map(|event| event.row()).collect(),
        )
        .await?
        .iter()
        .map(|row| row.try_get("", "event_id"))
        .collect::<Result<_, _>>()?;
        let deliveries: Vec<Vec<Value>> = wanted
            .iter()
            .filter(|event| new_ids.contains(&event.event_id))
            .flat_map(|event| {
                listeners(&event.event_type)
                    .into_iter()
                    .map(|subscription| {
                        vec![
                            uuid::Uuid::now_v7().to_string().into(),
                            event.event_id.clone().into(),
                            subscription.subscription_id.clone().into(),
                            DeliveryStatus::Pending.as_str().into(),
                            0i32.into(),
                            0i32.into(),
                            String::new().into(),
                            now.into(),
                            now.into(),
                            (now + window_micros).into(),
                        ]
                    })
            })
            .collect();
        let made = deliveries.len();
        insert_rows(
            &tx.txn,
            "INSERT INTO webhook_deliveries (delivery_id, event_id, subscription_id, status, \
             attempts, last_response_code, last_error, created_at, next_attempt_at, give_up_at)",
            "",
            10,
            deliveries,
        )
        .await?;
        tx.commit().await?;
        Ok(made)
    }

    /// Pending deliveries due at `now` and not leased by another worker, oldest first.
    pub async fn due(&self, now: i64, limit: u64) -> Result<Vec<DeliveryRow>, DbErr> {
        let mut select = Select::new(&format!(
            "SELECT {DELIVERY_COLUMNS} {DELIVERIES_WITH_EVENTS}"
        ));
        select
            .bind(" AND d.status = ?", DeliveryStatus::Pending.as_str().into())
            .bind(" AND d.next_attempt_at <= ?", now.into())
            .bind(
                " AND (d.leased_until IS NULL OR d.leased_until < ?)",
                now.into(),
            )
            .bind(
                " ORDER BY d.next_attempt_at, d.delivery_id LIMIT ?",
                sql_limit(limit),
            );
        select.run(self.db()).await?.iter().map(delivery).collect()
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
            &format!("SELECT {DELIVERY_COLUMNS} {DELIVERIES_WITH_EVENTS} WHERE d.delivery_id = $1"),
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
        let mut select = Select::new(&format!(
            "SELECT {DELIVERY_COLUMNS} {DELIVERIES_WITH_EVENTS}"
        ));
        if let Some(id) = &filter.subscription_id {
            select.bind(" AND d.subscription_id = ?", id.clone().into());
        }
        if let Some(status) = filter.status {
            select.bind(" AND d.status = ?", status.as_str().into());
        }
        if let Some(id) = &filter.event_id {
            select.bind(" AND d.event_id = ?", id.clone().into());
        }
        if let Some(before) = before {
            select.after(vec![("d.delivery_id", Order::Descending, before.into())]);
        }
        select.bind(" ORDER BY d.delivery_id DESC LIMIT ?", sql_limit(limit));
        select.run(self.db()).await?.iter().map(delivery).collect()
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
}

fn delivery(row: &QueryResult) -> Result<DeliveryRow, DbErr> {
    Ok(DeliveryRow {
        delivery_id: row.try_get("", "delivery_id")?,
        event_id: row.try_get("", "event_id")?,
        event_type: row.try_get("", "event_type")?,
        subscription_id: row.try_get("", "subscription_id")?,
        status: parse_column(row, "status", DeliveryStatus::parse)?,
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

/// A row count as SQL takes it.
fn sql_limit(rows: u64) -> Value {
    <i64 as TryFrom<u64>>::try_from(rows)
        .unwrap_or(i64::MAX)
        .into()
}
