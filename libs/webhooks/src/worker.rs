//! The two loops: the relay of a service's outbox into the webhook store (in every process
//! that runs a service announcing events), and the deliveries (in the process that runs
//! the gateway).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use nordstern_domain::webhook::{PayloadFormat, next_attempt_at};
use nordstern_runtime::shutdown::ShutdownSignal;
use nordstern_runtime::storage::SerialWriter;
use tokio::{sync::Semaphore, task::JoinSet};

use crate::{
    Webhooks, sign, slack,
    store::{AttemptOutcome, DeliveryRow, SubscriptionRow},
    target,
};

/// Outbox rows moved per transaction.
const RELAY_BATCH: u64 = 500;
/// Deliveries looked at per pass.
const DUE_BATCH: u64 = 200;
/// Attempts in flight in one process, whatever the endpoints.
const MAX_IN_FLIGHT: usize = 64;
/// How often the delivery log is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(3_600);

/// Relays `db`'s outbox until `shutdown`, and once more after it, so events committed
/// by the last requests are in the webhook store before the process ends.
/// `writer` is the service's own, so clearing the outbox queues behind the service's
/// writes instead of racing them (SQLite refuses a transaction whose snapshot another
/// writer overtook).
pub fn relay(
    writer: SerialWriter,
    webhooks: Webhooks,
) -> impl FnOnce(ShutdownSignal) -> BoxFuture<'static, ()> {
    move |shutdown| {
        Box::pin(async move {
            loop {
                let moved = relay_once(&writer, &webhooks).await;
                if moved > 0 {
                    webhooks.wake.notify_one();
                    continue;
                }
                tokio::select! {
                    () = tokio::time::sleep(webhooks.config.poll_interval()) => {}
                    () = shutdown.clone().wait() => {
                        relay_once(&writer, &webhooks).await;
                        return;
                    }
                }
            }
        })
    }
}

async fn relay_once(writer: &SerialWriter, webhooks: &Webhooks) -> usize {
    let events = match nordstern_outbox::pending(writer.db(), RELAY_BATCH).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "reading the webhook outbox failed");
            return 0;
        }
    };
    if events.is_empty() {
        return 0;
    }
    let now = chrono::Utc::now().timestamp_micros();
    if let Err(error) = webhooks
        .store
        .accept_events(&events, now, webhooks.retry_window_micros())
        .await
    {
        // The rows stay in the outbox and are offered again.
        tracing::warn!(%error, "relaying webhook events failed");
        return 0;
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let removed = async {
        let tx = writer.begin().await?;
        nordstern_outbox::remove(&tx.txn, &ids).await?;
        tx.commit().await
    };
    if let Err(error) = removed.await {
        // Offered again next time; the store skips events it already has.
        tracing::warn!(%error, "clearing the webhook outbox failed");
    }
    events.len()
}

/// Delivers due events until `shutdown`, then lets the attempts in flight finish.
pub fn deliver(webhooks: Webhooks) -> impl FnOnce(ShutdownSignal) -> BoxFuture<'static, ()> {
    move |shutdown| {
        Box::pin(async move {
            let endpoints: Arc<Mutex<HashMap<String, Arc<Semaphore>>>> = Arc::default();
            let mut in_flight = JoinSet::new();
            let mut last_sweep: Option<std::time::Instant> = None;
            loop {
                while in_flight.try_join_next().is_some() {}
                if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                    sweep(&webhooks).await;
                    last_sweep = Some(std::time::Instant::now());
                }
                if let Err(error) = start_due(&webhooks, &endpoints, &mut in_flight).await {
                    tracing::warn!(%error, "looking for due webhook deliveries failed");
                }
                tokio::select! {
                    () = tokio::time::sleep(webhooks.config.poll_interval()) => {}
                    () = webhooks.wake.notified() => {}
                    () = shutdown.clone().wait() => break,
                }
            }
            while in_flight.join_next().await.is_some() {}
        })
    }
}

async fn sweep(webhooks: &Webhooks) {
    let days = i64::from(webhooks.config.log_retention_days);
    let before = chrono::Utc::now().timestamp_micros() - days * 24 * 3_600 * 1_000_000;
    match webhooks.store.sweep(before).await {
        Ok((0, 0)) => {}
        Ok((deliveries, events)) => {
            tracing::info!(
                deliveries,
                events,
                "old webhook deliveries and events removed"
            );
        }
        Err(error) => tracing::warn!(%error, "sweeping the webhook log failed"),
    }
}

async fn start_due(
    webhooks: &Webhooks,
    endpoints: &Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    in_flight: &mut JoinSet<()>,
) -> Result<(), sea_orm::DbErr> {
    let now = chrono::Utc::now().timestamp_micros();
    let due = webhooks.store.due(now, DUE_BATCH).await?;
    if due.is_empty() {
        return Ok(());
    }
    let subscriptions: HashMap<String, SubscriptionRow> = webhooks
        .store
        .subscriptions()
        .await?
        .into_iter()
        .map(|s| (s.subscription_id.clone(), s))
        .collect();
    let lease = i64::try_from(webhooks.config.attempt_timeout().as_micros())
        .unwrap_or(i64::MAX / 2)
        .saturating_add(30_000_000);
    for delivery in due {
        if in_flight.len() >= MAX_IN_FLIGHT {
            break;
        }
        let semaphore = endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(delivery.subscription_id.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(webhooks.config.max_in_flight_per_endpoint)))
            .clone();
        // A busy endpoint waits for the next pass; the others go on.
        let Ok(permit) = semaphore.try_acquire_owned() else {
            continue;
        };
        if !webhooks
            .store
            .lease(&delivery.delivery_id, now, now + lease)
            .await?
        {
            continue;
        }
        let subscription = subscriptions.get(&delivery.subscription_id).cloned();
        let webhooks = webhooks.clone();
        in_flight.spawn(async move {
            let _permit = permit;
            attempt(&webhooks, delivery, subscription).await;
        });
    }
    Ok(())
}

async fn attempt(
    webhooks: &Webhooks,
    delivery: DeliveryRow,
    subscription: Option<SubscriptionRow>,
) {
    let started = chrono::Utc::now().timestamp_micros();
    let outcome = match subscription.filter(|s| s.active) {
        None => AttemptOutcome {
            response_code: 0,
            error: "the subscription is inactive or gone".to_owned(),
            next_attempt_at: None,
        },
        Some(subscription) => {
            let result = send(webhooks, &delivery, &subscription).await;
            let now = chrono::Utc::now().timestamp_micros();
            match result {
                Ok(code) if (200..300).contains(&code) => AttemptOutcome {
                    response_code: i32::from(code),
                    error: String::new(),
                    next_attempt_at: None,
                },
                failed => {
                    let (code, error) = match failed {
                        Ok(code) => (i32::from(code), format!("the receiver answered {code}")),
                        Err(error) => (0, error),
                    };
                    let attempts = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
                    let next = next_attempt_at(attempts, now, delivery.give_up_at);
                    AttemptOutcome {
                        response_code: code,
                        error: if next.is_none() {
                            format!("{error}; retried until the window closed")
                        } else {
                            error
                        },
                        next_attempt_at: next,
                    }
                }
            }
        }
    };
    if let Err(error) = webhooks
        .store
        .record_attempt(&delivery.delivery_id, started, &outcome)
        .await
    {
        // The lease runs out and the attempt is made again: at least once.
        tracing::warn!(%error, delivery_id = %delivery.delivery_id, "recording a webhook attempt failed");
    }
}

async fn send(
    webhooks: &Webhooks,
    delivery: &DeliveryRow,
    subscription: &SubscriptionRow,
) -> Result<u16, String> {
    let payload = webhooks
        .store
        .payload(&delivery.event_id)
        .await
        .map_err(|error| format!("reading the event failed: {error}"))?
        .ok_or_else(|| "the event is gone".to_owned())?;
    let body = if subscription.format == PayloadFormat::Slack {
        slack::message(&payload)
    } else {
        payload
    };
    let target = target::parse(&subscription.url)?;
    let addresses = target::resolve(&target, &webhooks.config.allowed_hosts).await?;
    let now = chrono::Utc::now();
    let timestamp = now.timestamp();
    let signature = sign::signature(
        &subscription.signing_secrets(now.timestamp_micros()),
        &delivery.event_id,
        timestamp,
        body.as_bytes(),
    );
    let headers = [
        ("webhook-id", delivery.event_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    let timeout: Duration = webhooks.config.attempt_timeout();
    // One address, one deadline: the attempt's bound holds whatever the DNS answer.
    let address = addresses
        .first()
        .copied()
        .ok_or_else(|| format!("{} does not resolve", target.host))?;
    crate::send::post(&target, address, &headers, Bytes::from(body), timeout).await
}
