//! The demo company's year of product usage, replayed from the plan account by account
//! and sent through the client-streaming RPC as a high-volume sender would. Event ids
//! are derived from the account, day and user, so loading again stores nothing twice.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use nordstern_proto::usage::v1::{self as pb, usage_service_client::UsageServiceClient};
use nordstern_runtime::wire::timestamp;

use super::{
    channel,
    company::{AccountPlan, Company},
};
use crate::terminal::Progress;

const BATCH: usize = 2_000;
/// Batches per client stream: a stream lives within the server's request timeout, so a
/// long load is several streams.
const STREAM_BATCHES: usize = 10;

/// What the usage part of the demo produced.
pub struct UsageLoad {
    pub events: i64,
    pub seconds: f64,
    /// Live accounts whose last 30 days are at least 30 % below their prior average month.
    pub dropping: Vec<String>,
}

pub async fn load(
    server: &super::Server,
    company: Arc<Company>,
    account_ids: Arc<Vec<String>>,
) -> anyhow::Result<UsageLoad> {
    let mut progress = Progress::new("usage (accounts)", company.accounts.len() as u64);
    // Generation runs beside the upload: a bounded channel of (batch, accounts finished).
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Vec<pb::UsageEvent>, u64)>(8);
    let producer = {
        let company = company.clone();
        let account_ids = account_ids.clone();
        tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut finished = 0;
            for (plan, account_id) in company.accounts.iter().zip(account_ids.iter()) {
                for event in account_events(&company, plan, account_id) {
                    batch.push(event);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if sender.blocking_send((full, finished)).is_err() {
                            return;
                        }
                        finished = 0;
                    }
                }
                finished += 1;
            }
            let _ = sender.blocking_send((batch, finished));
        })
    };
    let mut client = UsageServiceClient::new(channel(server).await?);
    let mut stored = 0;
    let mut pending = Vec::with_capacity(STREAM_BATCHES);
    loop {
        let next = receiver.recv().await;
        let done = next.is_none();
        if let Some((events, finished)) = next {
            progress.advance(finished);
            pending.push(pb::IngestEventStreamRequest { events });
        }
        if pending.len() == STREAM_BATCHES || (done && !pending.is_empty()) {
            // Events are deduplicated by id, so a stream refused for the token's rate
            // (right after the survey answers' burst) is sent again.
            let totals = super::patiently(
                &client,
                std::mem::take(&mut pending),
                |mut client, batches| async move {
                    client
                        .ingest_event_stream(tokio_stream::iter(batches))
                        .await
                },
            )
            .await
            .context("ingesting usage")?
            .into_inner();
            anyhow::ensure!(
                totals.rejected_count == 0,
                "demo usage events were rejected: {:?}",
                totals.rejected_events.first()
            );
            stored += totals.accepted_count + totals.duplicate_count;
        }
        if done {
            break;
        }
    }
    producer.await?;
    let seconds = progress.finish();

    let live: std::collections::HashSet<&String> = company
        .accounts
        .iter()
        .zip(account_ids.iter())
        .filter(|(plan, _)| plan.churned_on.is_none())
        .map(|(_, id)| id)
        .collect();
    let mut stream = client
        .stream_usage_summaries(pb::StreamUsageSummariesRequest {
            account_ids: Vec::new(),
            as_of: Some(timestamp(Utc::now())),
        })
        .await?
        .into_inner();
    let mut dropping = Vec::new();
    while let Some(chunk) = stream.message().await? {
        dropping.extend(
            chunk
                .summaries
                .into_iter()
                .filter(|s| live.contains(&s.account_id))
                .filter(|s| s.usage_trend.is_some_and(|trend| trend <= 0.7))
                .map(|s| s.account_id),
        );
    }
    Ok(UsageLoad {
        events: stored,
        seconds,
        dropping,
    })
}

/// One event per active user and day (a FEATURE_USED with its uses, or a LOGIN), and
/// the integration syncs.
fn account_events(company: &Company, plan: &AccountPlan, account_id: &str) -> Vec<pb::UsageEvent> {
    let features = plan.feature_keys();
    let mut events = Vec::new();
    for day in company.usage(plan) {
        for user in &day.users {
            let (kind, feature_key) = match user.feature {
                Some(index) => (pb::UsageEventKind::FeatureUsed, features[index]),
                None => (pb::UsageEventKind::Login, ""),
            };
            events.push(pb::UsageEvent {
                event_id: format!("{}:{}:u{}", plan.crm_id, day.date, user.user),
                account_id: account_id.to_owned(),
                user_id: format!("user-{}@{}", user.user, plan.crm_id.to_lowercase()),
                kind: kind as i32,
                occurred_at: Some(timestamp(at(day.date, 8 + user.user % 9))),
                quantity: user.quantity,
                feature_key: feature_key.to_owned(),
                ..pb::UsageEvent::default()
            });
        }
        if day.integration_sync {
            events.push(pb::UsageEvent {
                event_id: format!("{}:{}:sync", plan.crm_id, day.date),
                account_id: account_id.to_owned(),
                kind: pb::UsageEventKind::IntegrationSync as i32,
                occurred_at: Some(timestamp(at(day.date, 3))),
                quantity: 1,
                ..pb::UsageEvent::default()
            });
        }
    }
    events
}

fn at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, 15, 0).unwrap_or_default().and_utc()
}
