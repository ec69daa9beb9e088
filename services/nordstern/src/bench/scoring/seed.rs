//! What the scoring benchmark recomputes from: accounts seeded straight into the accounts
//! tables (the seed is not what is measured; `bench bulk-load` measures loading them), then
//! product usage through `IngestEvents` and NPS answers through `RecordResponse`, so the
//! rollups and survey statistics are the ones the services write.

use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use futures::{StreamExt, TryStreamExt};
use nordstern_proto::{
    survey::v1::{self as survey_pb, survey_service_client::SurveyServiceClient},
    usage::v1::{self as usage_pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::{
    Config, Role,
    storage::{self, StorageTarget, insert_rows},
    wire::timestamp,
};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use sea_orm::Value;
use tonic::transport::Channel;

const FEATURES: [&str; 4] = ["dashboard", "reports", "exports", "workflows"];
const EVENTS_PER_CALL: usize = 5_000;
const CALLS_IN_FLIGHT: usize = 4;
const ANSWERS_IN_FLIGHT: usize = 16;

#[derive(clap::Args, Debug, Clone)]
pub struct ActivityArgs {
    /// Usage events per account over the last 90 days (logins, feature uses, syncs,
    /// tickets by one to six users), ingested before the recompute.
    #[arg(long, default_value_t = 20)]
    pub events_per_account: usize,
    /// Share of accounts with NPS answers (one or two respondents each).
    #[arg(long, default_value_t = 0.3)]
    pub answered_share: f64,
}

/// Inserts `count` accounts in the accounts service's tables (its migrations run
/// first) and returns their ids.
pub async fn seed_accounts(config: &Config, count: usize) -> anyhow::Result<Vec<String>> {
    let target = match &config.database_url {
        Some(url) => StorageTarget::Postgres { url },
        None => StorageTarget::Sqlite {
            data_dir: &config.data_dir,
        },
    };
    let db = storage::open::<nordstern_accounts::Migrator>(target, Role::Accounts, 4).await?;
    let mut rng = SmallRng::seed_from_u64(11);
    let now = Utc::now();
    let today = now.date_naive();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    let rows: Vec<Vec<Value>> = (0..count)
        .map(|_| {
            let id = uuid::Uuid::now_v7().to_string();
            ids.push(id.clone());
            let start = today - chrono::Duration::days(rng.random_range(30..1_500));
            let renewal = today + chrono::Duration::days(rng.random_range(1..365));
            let segment = ["ENTERPRISE", "SME", "PROSUMER"][rng.random_range(0..3)];
            let tier = ["A", "B", "C"][rng.random_range(0..3)];
            vec![
                id.clone().into(),
                format!("Bench {id}").into(),
                segment.into(),
                Value::from(start),
                Value::from(renewal),
                crate::demo::log_normal_arr(&mut rng).into(),
                tier.into(),
                true.into(),
                Value::from(start),
                now.into(),
                now.into(),
            ]
        })
        .collect();
    insert_rows(
        &db,
        "INSERT INTO accounts (account_id, name, segment, start_date, renewal_date, arr_minor, tier, has_contract, last_event_date, created_at, updated_at)",
        "",
        11,
        rows,
    )
    .await?;
    db.close().await?;
    println!(
        "seeded {count} accounts in {:.1} s (straight into the accounts tables)",
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

/// Usage events and NPS answers for the accounts, through the services' own RPCs.
pub async fn seed_activity(
    channel: &Channel,
    ids: &[String],
    args: &ActivityArgs,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let events: Vec<usage_pb::UsageEvent> = ids
        .iter()
        .enumerate()
        .flat_map(|(index, id)| account_events(index, id, args.events_per_account))
        .collect();
    let count = events.len();
    let usage = UsageServiceClient::new(channel.clone());
    futures::stream::iter(events.chunks(EVENTS_PER_CALL).map(|batch| {
        let mut client = usage.clone();
        let events = batch.to_vec();
        async move {
            let answer = client
                .ingest_events(usage_pb::IngestEventsRequest { events })
                .await
                .context("ingesting the usage seed")?
                .into_inner();
            anyhow::ensure!(answer.rejected_count == 0, "usage seed refused: {answer:?}");
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(CALLS_IN_FLIGHT)
    .try_collect::<()>()
    .await?;
    println!(
        "ingested {count} usage events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let surveys = SurveyServiceClient::new(channel.clone());
    let campaign_id = crate::bench::nps_campaign(channel, "bench-scoring").await?;
    let mut rng = SmallRng::seed_from_u64(17);
    let now = Utc::now();
    let mut answers = Vec::new();
    for id in ids {
        if !rng.random_bool(args.answered_share.clamp(0.0, 1.0)) {
            continue;
        }
        for n in 0..rng.random_range(1..=2) {
            answers.push(survey_pb::RecordResponseRequest {
                idempotency_key: format!("bench-nps-{id}-{n}"),
                campaign_id: campaign_id.clone(),
                account_id: id.clone(),
                respondent_id: format!("contact-{n}@{id}"),
                score: Some(rng.random_range(0..=10)),
                responded_at: Some(timestamp(
                    now - Duration::hours(rng.random_range(1..80 * 24)),
                )),
                ..survey_pb::RecordResponseRequest::default()
            });
        }
    }
    let count = answers.len();
    futures::stream::iter(answers.into_iter().map(|request| {
        let mut client = surveys.clone();
        async move {
            client
                .record_response(request)
                .await
                .context("recording the NPS seed")
        }
    }))
    .buffer_unordered(ANSWERS_IN_FLIGHT)
    .try_for_each(|_| async { Ok(()) })
    .await?;
    println!(
        "recorded {count} NPS answers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One account's events, oldest first, as a pipeline's backfill sends them.
fn account_events(index: usize, account_id: &str, count: usize) -> Vec<usage_pb::UsageEvent> {
    use usage_pb::UsageEventKind as Kind;
    let mut rng = SmallRng::seed_from_u64(index as u64);
    let users = rng.random_range(1..=6);
    let now = Utc::now();
    let mut minutes_ago: Vec<i64> = (0..count)
        .map(|_| rng.random_range(10..90 * 24 * 60))
        .collect();
    minutes_ago.sort_unstable_by(|a, b| b.cmp(a));
    minutes_ago
        .into_iter()
        .enumerate()
        .map(|(n, ago)| {
            let roll = rng.random_range(0..100);
            let (kind, feature_key, ticket_id) = match roll {
                0..50 => (Kind::Login, "", String::new()),
                50..90 => (
                    Kind::FeatureUsed,
                    FEATURES[roll % FEATURES.len()],
                    String::new(),
                ),
                90..95 => (Kind::IntegrationSync, "", String::new()),
                95..98 => (Kind::TicketOpened, "", format!("T{}", n / 2)),
                _ => (Kind::TicketResolved, "", format!("T{}", n / 2)),
            };
            let user_id = match kind {
                Kind::Login | Kind::FeatureUsed => {
                    format!("user-{}", rng.random_range(0..users))
                }
                _ => String::new(),
            };
            usage_pb::UsageEvent {
                event_id: format!("{index}-{n}"),
                account_id: account_id.to_owned(),
                user_id,
                kind: kind as i32,
                occurred_at: Some(timestamp(now - Duration::minutes(ago))),
                quantity: 1,
                feature_key: feature_key.to_owned(),
                ticket_id,
                ..usage_pb::UsageEvent::default()
            }
        })
        .collect()
}

/// On PostgreSQL, what autovacuum does within a minute of a load: fresh planner
/// statistics. Without them the planner takes the just-loaded tables for empty and scans
/// a whole window of answers for every account (17.8 s for 500 accounts' NPS, 5.6 ms
/// after ANALYZE). The development machine runs PostgreSQL with autovacuum off.
pub async fn analyze(config: &Config) -> anyhow::Result<()> {
    let Some(url) = &config.database_url else {
        return Ok(());
    };
    let started = Instant::now();
    let db = sea_orm::Database::connect(url.as_str()).await?;
    sea_orm::ConnectionTrait::execute_unprepared(&db, "ANALYZE").await?;
    db.close().await?;
    println!(
        "analysed the database in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
