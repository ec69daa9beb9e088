//! Scoring: `GetHealthScore` with a warm cache against the echo baseline, and a recompute
//! of every account end to end (accounts, usage summaries and survey stats pulled in
//! batches, scores computed, stored and written through to the cache) next to the pure
//! model rate (the same health score and churn prediction in a loop, no I/O). The
//! accounts have product usage and NPS answers (`seed`), so the recompute reads real
//! rollups and survey statistics.

mod seed;

use std::time::{Duration, Instant};

use nordstern_domain::{
    churn,
    health::{self, HealthInputs, IntegrationStatus, ScoringConfig},
};
use nordstern_proto::{
    scoring::v1::{self as pb, scoring_service_client::ScoringServiceClient},
    survey::v1::{self as survey_pb, survey_service_client::SurveyServiceClient},
    usage::v1::{self as usage_pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::{
    Config, Role,
    cache::{CacheOptions, VersionedCache},
    shutdown,
};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use tonic::transport::Channel;

use super::{
    LoadArgs, LoadReport,
    echo::measure_echo,
    get_account::Backend,
    load::{account_for, connect_channels},
    process::{CpuTimes, cpu_per_item},
    run_load,
};
use crate::{App, scratch_db::ScratchDatabase};

const BENCH_KEY: &str = "nordstern-bench-pseudonym-key-0123456789";

pub(super) use seed::seed_accounts;

#[derive(clap::Args, Debug)]
pub struct ScoringArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Accounts recomputed end to end; reads pick among them.
    #[arg(long, default_value_t = 100_000)]
    pub accounts: usize,
    #[command(flatten)]
    pub activity: seed::ActivityArgs,
    #[arg(long, value_enum, default_value = "both")]
    pub backend: Backend,
    /// PostgreSQL server to create a scratch database on.
    #[arg(long, default_value_t = crate::scratch_db::admin_url())]
    pub database_url: String,
    /// Redis for the PostgreSQL run (the production shape); SQLite uses the in-process
    /// cache (the embedded shape).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
}

pub async fn run(args: ScoringArgs) -> anyhow::Result<()> {
    println!(
        "scoring benchmark: {} accounts; reads with {} connections × {} in flight for {} s",
        args.accounts, args.load.connections, args.load.concurrency, args.load.duration_secs
    );
    let pure = pure_model_rate(args.accounts.min(100_000));
    println!(
        "pure model (health score + churn prediction with drivers, no I/O): {pure:.0} accounts/s"
    );

    let echo = measure_echo(&args.load).await?;

    if matches!(args.backend, Backend::Sqlite | Backend::Both) {
        let data_dir = tempfile::tempdir()?;
        let config = base_config(Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        });
        measure("SQLite, in-process cache", config, &args, &echo, pure).await?;
    }
    if matches!(args.backend, Backend::Postgres | Backend::Both) {
        let database = ScratchDatabase::create(&args.database_url, "nordstern_bench").await?;
        let mut config = base_config(Config {
            database_url: Some(database.url.clone()),
            redis_url: Some(args.redis_url.clone()),
            ..Config::default()
        });
        config.scoring.cache_namespace = format!("nordstern:bench:{}:", uuid::Uuid::now_v7());
        let result = measure(
            "PostgreSQL, Redis cache",
            config.clone(),
            &args,
            &echo,
            pure,
        )
        .await;
        VersionedCache::connect(
            Some(&args.redis_url),
            &config.scoring.cache_namespace,
            CacheOptions::default(),
        )
        .await?
        .remove_namespace()
        .await;
        database.drop_now().await?;
        let reads = result?;
        let raw = raw_redis_get(&args.redis_url, &args.load).await?;
        println!(
            "raw Redis GET of 1 KiB ({} in flight on one multiplexed connection): {raw:.0} rps; GetHealthScore over Redis = {:.2}× that",
            args.load.concurrency,
            reads.rps() / raw
        );
    }
    Ok(())
}

pub(super) fn base_config(mut config: Config) -> Config {
    config.usage.pseudonym_key = Some(BENCH_KEY.to_owned());
    // Only the measured recompute runs.
    config.scoring.recompute_interval_secs = 0;
    config
}

async fn measure(
    name: &str,
    config: Config,
    args: &ScoringArgs,
    echo: &LoadReport,
    pure: f64,
) -> anyhow::Result<LoadReport> {
    let ids = seed_accounts(&config, args.accounts).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let roles = [Role::Accounts, Role::Usage, Role::Survey, Role::Scoring];
    // Measured against a bare echo, which checks no token either.
    let config = super::without_auth(config);
    let app = App::build(config.clone(), &roles, listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));

    let channel = tonic::transport::Endpoint::from_shared(url.clone())?
        .timeout(Duration::from_secs(3_600))
        .connect()
        .await?;
    seed::seed_activity(&channel, &ids, &args.activity).await?;
    seed::analyze(&config).await?;
    time_reads(name, &channel, &ids, config.database_url.is_some()).await?;
    let mut client = ScoringServiceClient::new(channel);
    // The first recompute scores every account for the first time (every score a colour
    // change, every alert new); the second is what the periodic recompute does from then on.
    for run in ["first scores", "again, periodic"] {
        let (started, cpu_before) = (Instant::now(), CpuTimes::now());
        let report = client
            .recompute_health_scores(pb::RecomputeHealthScoresRequest {
                account_ids: Vec::new(),
                all_accounts: true,
            })
            .await?
            .into_inner();
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_per_item(
            CpuTimes::now().micros_per(&cpu_before, u64::try_from(report.accounts_scored)?),
            config.database_url.is_some(),
        );
        let rate = f64::from(report.accounts_scored) / elapsed;
        println!(
            "{name}: RecomputeHealthScores ({run}) of {} accounts in {elapsed:.1} s = {rate:.0} accounts/s (goal ≥ 20,000) = {:.3}× the pure model rate; {} colour changes (first scores included), {} alerts raised; CPU per account {cpu} (20,000/s on 2 cores allows 100 µs in all)",
            report.accounts_scored,
            rate / pure,
            report.color_changes,
            report.alerts_raised,
        );
    }

    let channels = connect_channels(&url, args.load.connections).await?;
    let ids = std::sync::Arc::new(ids);
    let reads = run_load(
        &channels,
        args.load.concurrency,
        Duration::from_secs(args.load.duration_secs),
        move |channel, n| {
            let ids = ids.clone();
            async move {
                let account_id = account_for(&ids, n);
                ScoringServiceClient::new(channel)
                    .get_health_score(pb::GetHealthScoreRequest { account_id })
                    .await
                    .map(|_| ())
            }
        },
    )
    .await?;
    println!(
        "{}   ratio to echo: {:.2}× rps (goal ≥ 0.6×)",
        reads.line(&format!("GetHealthScore ({name})")),
        reads.rps() / echo.rps()
    );
    trigger.trigger();
    server.await??;
    Ok(reads)
}

/// The Redis baseline: plain GETs of a value about the size of a stored score, as many in
/// flight as the score reads, over one multiplexed connection like the cache's.
async fn raw_redis_get(url: &str, load: &LoadArgs) -> anyhow::Result<f64> {
    let connection = redis::aio::ConnectionManager::new(redis::Client::open(url)?).await?;
    let key = format!("nordstern:bench:raw:{}", uuid::Uuid::now_v7());
    redis::cmd("SET")
        .arg(&key)
        .arg(vec![7u8; 1024])
        .query_async::<()>(&mut connection.clone())
        .await?;
    let started = Instant::now();
    let stop = started + Duration::from_secs(load.duration_secs);
    let counts = futures::future::join_all((0..load.concurrency.max(1)).map(|_| {
        let mut connection = connection.clone();
        let key = key.clone();
        async move {
            let mut gets = 0u64;
            while Instant::now() < stop {
                redis::cmd("GET")
                    .arg(&key)
                    .query_async::<Vec<u8>>(&mut connection)
                    .await?;
                gets += 1;
            }
            Ok::<u64, redis::RedisError>(gets)
        }
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut connection.clone())
        .await?;
    let mut total = 0u64;
    for count in counts {
        total += count?;
    }
    Ok(total as f64 / elapsed)
}

/// Accounts per second through the same domain code a recompute runs, with varied
/// inputs so nothing is constant-folded.
fn pure_model_rate(accounts: usize) -> f64 {
    let mut rng = SmallRng::seed_from_u64(5);
    let inputs: Vec<HealthInputs> = (0..accounts.max(1))
        .map(|_| HealthInputs {
            active_days_7: rng.random_range(0..8),
            active_days_30: rng.random_range(0..31),
            active_days_90: rng.random_range(0..91),
            active_users_30: rng.random_range(0..50),
            active_users_90: rng.random_range(0..80),
            feature_breadth: Some(rng.random_range(0.0..1.0)),
            integration: IntegrationStatus::Live,
            usage_trend: Some(rng.random_range(0.3..1.6)),
            portfolio_percentile: Some(rng.random_range(0.0..100.0)),
            segment_percentile: Some(rng.random_range(0.0..100.0)),
            nps: rng
                .random_bool(0.5)
                .then(|| rng.random_range(-100.0..100.0)),
            ces_mean: None,
            open_tickets: rng.random_range(0..5),
            tickets_last_30_days: rng.random_range(0..8),
            median_hours_to_resolution: Some(rng.random_range(1.0..100.0)),
            days_to_renewal: Some(rng.random_range(0..365)),
        })
        .collect();
    let config = ScoringConfig::default();
    let model = churn::default_model();
    let started = Instant::now();
    let mut checksum = 0.0;
    for input in &inputs {
        let breakdown = health::score(
            input,
            config.segment_weights().default_weights(),
            config.thresholds(),
        );
        let mut features = churn::PlatformFeatures {
            arr: Some(30_000.0),
            ..churn::PlatformFeatures::default()
        };
        for component in &breakdown.components {
            features.set_component(component.component.as_str(), component.value);
        }
        checksum += model.predict(&features.feature_values()).probability + breakdown.score;
    }
    let rate = inputs.len() as f64 / started.elapsed().as_secs_f64();
    if checksum.is_nan() {
        println!("(checksum NaN)");
    }
    rate
}

/// The two reads a recompute is made of, each alone over every account: usage summaries
/// (one stream) and survey statistics (batches of 1,000), so the recompute's rate can be
/// set against what its inputs take.
async fn time_reads(
    name: &str,
    channel: &Channel,
    ids: &[String],
    postgres: bool,
) -> anyhow::Result<()> {
    let cpu_per_account = |before: &CpuTimes| {
        let cpu = CpuTimes::now().micros_per(before, ids.len() as u64);
        format!("CPU per account {}", cpu_per_item(cpu, postgres))
    };
    let (started, cpu_before) = (Instant::now(), CpuTimes::now());
    let mut stream = UsageServiceClient::new(channel.clone())
        .max_decoding_message_size(64 << 20)
        .stream_usage_summaries(usage_pb::StreamUsageSummariesRequest::default())
        .await?
        .into_inner();
    let mut summaries = 0;
    while let Some(message) = stream.message().await? {
        summaries += message.summaries.len();
    }
    let usage_rate = summaries as f64 / started.elapsed().as_secs_f64();
    let usage_cpu = cpu_per_account(&cpu_before);

    let (started, cpu_before) = (Instant::now(), CpuTimes::now());
    let mut surveys = SurveyServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    for chunk in ids.chunks(1_000) {
        surveys
            .batch_get_survey_stats(survey_pb::BatchGetSurveyStatsRequest {
                account_ids: chunk.to_vec(),
                window: None,
            })
            .await?;
    }
    let survey_rate = ids.len() as f64 / started.elapsed().as_secs_f64();
    let survey_cpu = cpu_per_account(&cpu_before);
    println!(
        "{name}: alone, StreamUsageSummaries {usage_rate:.0} accounts/s ({usage_cpu}); BatchGetSurveyStats {survey_rate:.0} accounts/s ({survey_cpu})"
    );
    Ok(())
}
