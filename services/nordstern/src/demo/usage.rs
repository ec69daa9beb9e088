//! Product usage of the demo company: 90 days of logins and feature use per live
//! account, with engagement that differs by account and a share of accounts whose usage
//! is falling off (what a CSM should spot), sent through the client-streaming RPC as a
//! high-volume sender would.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use nordstern_proto::usage::v1::{self as pb, usage_service_client::UsageServiceClient};
use nordstern_runtime::wire::timestamp;
use rand::{Rng, rngs::StdRng};

const DAYS: i64 = 90;
const BATCH: usize = 2_000;
/// Batches per client stream.
const STREAM_BATCHES: usize = 10;

/// What the usage part of the demo produced.
pub struct UsageLoad {
    pub events: i64,
    pub seconds: f64,
    /// Accounts whose last 30 days are at least 30 % below their prior average month.
    pub dropping: Vec<String>,
}

/// `accounts`: live account ids with the feature keys of the modules they bought.
pub async fn load(
    url: &str,
    rng: &mut StdRng,
    accounts: &[(String, Vec<String>)],
    now: DateTime<Utc>,
) -> anyhow::Result<UsageLoad> {
    let started = std::time::Instant::now();
    let mut events = Vec::new();
    for (account_id, features) in accounts {
        let users = rng.random_range(2..9);
        let engagement: f64 = rng.random_range(0.15..0.8);
        // One account in five has been drifting away for the last month.
        let drifting = rng.random_bool(0.2);
        let syncs = rng.random_bool(0.6);
        for days_ago in (0..DAYS).rev() {
            let day = now - Duration::days(days_ago) - Duration::hours(rng.random_range(1..12));
            let activity = if drifting && days_ago < 30 {
                engagement * 0.3
            } else {
                engagement
            };
            for user in 0..users {
                if !rng.random_bool(activity) {
                    continue;
                }
                let user_id = format!("user-{user}@{account_id}");
                events.push(event(
                    account_id,
                    &user_id,
                    pb::UsageEventKind::Login,
                    day,
                    "",
                ));
                for _ in 0..rng.random_range(0..3) {
                    if features.is_empty() {
                        break;
                    }
                    let feature = &features[rng.random_range(0..features.len())];
                    events.push(event(
                        account_id,
                        &user_id,
                        pb::UsageEventKind::FeatureUsed,
                        day,
                        feature,
                    ));
                }
            }
            if syncs && days_ago % 7 == 0 && !(drifting && days_ago < 14) {
                events.push(event(
                    account_id,
                    "",
                    pb::UsageEventKind::IntegrationSync,
                    day,
                    "",
                ));
            }
        }
    }
    let total = events.len();
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect()
        .await?;
    let mut client = UsageServiceClient::new(channel);
    let mut batches = Vec::with_capacity(total / BATCH + 1);
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        batches.push(pb::IngestEventStreamRequest {
            events: events.by_ref().take(BATCH).collect(),
        });
    }
    let mut stored = 0;
    // A stream lives within the server's request timeout, so a long load is several
    // streams, as a real high-volume sender would do.
    for streamed in batches.chunks(STREAM_BATCHES) {
        let totals = client
            .ingest_event_stream(tokio_stream::iter(streamed.to_vec()))
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
    let seconds = started.elapsed().as_secs_f64();

    let mut stream = client
        .stream_usage_summaries(pb::StreamUsageSummariesRequest {
            account_ids: Vec::new(),
            as_of: Some(timestamp(now)),
        })
        .await?
        .into_inner();
    let mut dropping = Vec::new();
    while let Some(chunk) = stream.message().await? {
        dropping.extend(
            chunk
                .summaries
                .into_iter()
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

fn event(
    account_id: &str,
    user_id: &str,
    kind: pb::UsageEventKind,
    at: DateTime<Utc>,
    feature_key: &str,
) -> pb::UsageEvent {
    pb::UsageEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.to_owned(),
        user_id: user_id.to_owned(),
        kind: kind as i32,
        occurred_at: Some(timestamp(at)),
        quantity: 1,
        feature_key: feature_key.to_owned(),
        ..pb::UsageEvent::default()
    }
}
