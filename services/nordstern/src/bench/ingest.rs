//! Usage ingestion through gRPC (batches, dedup on) next to a raw PostgreSQL `COPY` of the
//! same rows into the same table layout in the same run; a replay of the same batches
//! (all duplicates); the peak RSS while ingesting; on SQLite the retention sweep; then
//! summaries streamed for every account.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use hdrhistogram::Histogram;
use nordstern_proto::usage::v1::{self as pb, usage_service_client::UsageServiceClient};
use nordstern_runtime::{
    Config, Role, shutdown,
    storage::{self, StorageTarget, query_one},
    wire::timestamp,
};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tonic::transport::Channel;

use super::{
    get_account::Backend,
    process::{CpuTimes, cpu_per_item, micros},
};
use crate::{App, scratch_db::ScratchDatabase};

const BENCH_KEY: &str = "nordstern-bench-pseudonym-key-0123456789";
const FEATURES: [&str; 8] = [
    "dashboard",
    "reports",
    "cohorts",
    "funnels",
    "exports",
    "workflows",
    "webhooks",
    "api",
];
const USERS_PER_ACCOUNT: u64 = 50;

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Distinct events ingested (then replayed).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Events per IngestEvents call.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Accounts the events spread over; summaries are streamed for all of them.
    #[arg(long, default_value_t = 2_000)]
    pub accounts: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    #[arg(long, value_enum, default_value = "both")]
    pub backend: Backend,
    /// PostgreSQL server to create a scratch database on.
    #[arg(long, default_value_t = crate::scratch_db::admin_url())]
    pub database_url: String,
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    println!(
        "ingest benchmark: {} events in batches of {}, {} in flight, over {} accounts",
        args.events, args.batch, args.concurrency, args.accounts
    );
    if matches!(args.backend, Backend::Sqlite | Backend::Both) {
        let data_dir = tempfile::tempdir()?;
        let mut config = Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        };
        config.usage.pseudonym_key = Some(BENCH_KEY.to_owned());
        measure("SQLite", config, &args).await?;
    }
    if matches!(args.backend, Backend::Postgres | Backend::Both) {
        let database = ScratchDatabase::create(&args.database_url, "nordstern_bench").await?;
        let mut config = Config {
            database_url: Some(database.url.clone()),
            ..Config::default()
        };
        config.usage.pseudonym_key = Some(BENCH_KEY.to_owned());
        let result = measure("PostgreSQL", config, &args).await;
        database.drop_now().await?;
        result?;
    }
    Ok(())
}

async fn measure(name: &str, config: Config, args: &IngestArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // Measured against a bare echo, which checks no token either.
    let config = super::without_auth(config);
    let app = App::build(config.clone(), &[Role::Accounts, Role::Usage], listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));

    let seeding = Instant::now();
    let accounts = Arc::new(super::get_account::seed(&url, &config, args.accounts).await?);
    println!(
        "{name}: {} accounts created in {:.1} s",
        accounts.len(),
        seeding.elapsed().as_secs_f64()
    );
    let channel = tonic::transport::Endpoint::from_shared(url)?
        .connect()
        .await?;
    let generator = Generator {
        accounts: accounts.clone(),
        events: args.events,
        batch: args.batch.max(1),
        now_micros: Utc::now().timestamp_micros(),
    };

    let first = ingest(&channel, &generator, args.concurrency).await?;
    let peak_rss_mb = super::process::peak_rss_mb();
    let replay = ingest(&channel, &generator, args.concurrency).await?;
    let postgres = config.database_url.is_some();
    anyhow::ensure!(
        first.accepted == args.events as i64 && replay.accepted == 0,
        "expected {} accepted then none, got {} and {}",
        args.events,
        first.accepted,
        replay.accepted
    );
    first.print(name, "IngestEvents, first pass", postgres);
    replay.print(name, "IngestEvents, replay (all duplicates)", postgres);
    println!(
        "{name}: replay / first pass = {:.2}× (goal ≥ 1×); peak RSS {peak_rss_mb:.0} MB (server and load generator in one process: an upper bound for the service; goal < 300 MB)",
        replay.events_per_sec() / first.events_per_sec()
    );

    let target = match &config.database_url {
        Some(url) => StorageTarget::Postgres { url },
        None => StorageTarget::Sqlite {
            data_dir: &config.data_dir,
        },
    };
    let db = storage::open::<nordstern_usage::Migrator>(target, Role::Usage, 2).await?;
    let stored: i64 = query_one(&db, "SELECT COUNT(*) AS n FROM usage_events", vec![])
        .await?
        .map(|row| row.try_get("", "n"))
        .transpose()?
        .unwrap_or_default();
    anyhow::ensure!(stored == args.events as i64, "{stored} events stored");
    if postgres {
        let (copy, copy_cpu) = copy_baseline(&db, &generator).await?;
        let copy_rate = args.events as f64 / copy.as_secs_f64();
        // What half of COPY's rate leaves per event on the machine's cores, against what
        // the first pass used: the ceiling, whatever the database and the client wait for.
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let budget = cores * 1e6 / (0.5 * copy_rate);
        let used = first
            .cpu
            .0
            .zip(first.cpu.1)
            .map(|(own, postgres)| own + postgres);
        println!(
            "{name}: raw COPY of the same rows into the same layout: {copy_rate:.0} events/s, CPU per event {}; ingestion / COPY = {:.2}× (goal ≥ 0.5×: {cores:.0} cores allow {budget:.1} µs of CPU per event in all, the first pass used {})",
            cpu_per_item(copy_cpu, true),
            first.events_per_sec() / copy_rate,
            micros(used),
        );
    } else {
        retention_sweeps(name, &db, &config, generator.now_micros).await?;
    }
    db.close().await?;

    stream_summaries(name, &channel, accounts.len()).await?;
    trigger.trigger();
    server.await??;
    Ok(())
}

/// SQLite's retention sweep, against one scan of raw events and keys (what each sweep
/// read before it kept the earliest instant per span of rowids): with nothing expired,
/// the hourly case, and with half the events expired, which in this benchmark's random
/// time order lie in every span.
async fn retention_sweeps(
    name: &str,
    db: &DatabaseConnection,
    config: &Config,
    now_micros: i64,
) -> anyhow::Result<()> {
    let store = nordstern_usage::Store::new(db.clone());
    let retention_cutoff = now_micros - i64::from(config.usage.retention_days) * 86_400_000_000_i64;
    let started = Instant::now();
    for table in ["usage_events", "usage_event_keys"] {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE occurred_at < $1");
        query_one(db, &sql, vec![retention_cutoff.into()]).await?;
    }
    let scan = started.elapsed();
    for (what, cutoff) in [
        ("nothing expired", retention_cutoff),
        ("half expired", now_micros - 45 * 86_400_000_000_i64),
    ] {
        let started = Instant::now();
        let sweep = store.apply_retention(cutoff).await?;
        let elapsed = started.elapsed();
        println!(
            "{name}: retention sweep, {what}: {} events and {} keys deleted, {} spans read, in {:.1} ms = {:.3}× one scan of raw events and keys ({:.1} ms)",
            sweep.events_deleted,
            sweep.keys_deleted,
            sweep.spans_swept,
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() / scan.as_secs_f64(),
            scan.as_secs_f64() * 1e3,
        );
    }
    Ok(())
}

/// Deterministic batches: batch `n` is the same events every time it is generated, so
/// the replay and the COPY baseline see exactly the rows of the first pass.
struct Generator {
    accounts: Arc<Vec<String>>,
    events: usize,
    batch: usize,
    now_micros: i64,
}

impl Generator {
    fn batch_count(&self) -> usize {
        self.events.div_ceil(self.batch)
    }

    fn batch(&self, index: usize) -> Vec<pb::UsageEvent> {
        let mut rng = SmallRng::seed_from_u64(index as u64);
        let first = index * self.batch;
        let last = (first + self.batch).min(self.events);
        (first..last)
            .map(|n| {
                let account = rng.random_range(0..self.accounts.len());
                let user = rng.random_range(0..USERS_PER_ACCOUNT);
                let roll: u32 = rng.random_range(0..40);
                let (kind, feature_key, ticket_id) = match roll {
                    0..20 => (pb::UsageEventKind::Login, "", String::new()),
                    20..36 => (
                        pb::UsageEventKind::FeatureUsed,
                        FEATURES[(roll as usize) % FEATURES.len()],
                        String::new(),
                    ),
                    36..38 => (pb::UsageEventKind::IntegrationSync, "", String::new()),
                    38 => (pb::UsageEventKind::TicketOpened, "", format!("t-{}", n / 2)),
                    _ => (
                        pb::UsageEventKind::TicketResolved,
                        "",
                        format!("t-{}", n / 2),
                    ),
                };
                let age = rng.random_range(0..90 * 86_400_000_000_i64);
                pb::UsageEvent {
                    event_id: format!("bench-{n}"),
                    account_id: self.accounts[account].clone(),
                    user_id: format!("user-{user}@{account}"),
                    kind: kind as i32,
                    occurred_at: chrono::DateTime::from_timestamp_micros(self.now_micros - age)
                        .map(timestamp),
                    quantity: 1,
                    feature_key: feature_key.to_owned(),
                    ticket_id,
                    ..pb::UsageEvent::default()
                }
            })
            .collect()
    }
}

struct IngestReport {
    accepted: i64,
    events: usize,
    elapsed: Duration,
    latency_us: Histogram<u64>,
    /// µs per event used by this process (client and server) and by PostgreSQL.
    cpu: (Option<f64>, Option<f64>),
}

impl IngestReport {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, name: &str, what: &str, postgres: bool) {
        println!(
            "{name}: {what}: {:.0} events/s, batch p50 {:.1} ms, p99 {:.1} ms; CPU per event {}",
            self.events_per_sec(),
            self.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            self.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
            cpu_per_item(self.cpu, postgres),
        );
    }
}

async fn ingest(
    channel: &Channel,
    generator: &Generator,
    concurrency: usize,
) -> anyhow::Result<IngestReport> {
    let next = AtomicUsize::new(0);
    let (started, cpu_before) = (Instant::now(), CpuTimes::now());
    let workers = (0..concurrency.max(1)).map(|_| async {
        let mut client = UsageServiceClient::new(channel.clone());
        let mut latency = Histogram::<u64>::new(3)?;
        let mut accepted = 0;
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= generator.batch_count() {
                return anyhow::Ok((accepted, latency));
            }
            let events = generator.batch(index);
            let sent = Instant::now();
            let response = client
                .ingest_events(pb::IngestEventsRequest { events })
                .await?
                .into_inner();
            latency.record(sent.elapsed().as_micros() as u64)?;
            anyhow::ensure!(response.rejected_count == 0, "rejected: {response:?}");
            accepted += i64::from(response.accepted_count);
        }
    });
    let mut report = IngestReport {
        accepted: 0,
        events: generator.events,
        elapsed: Duration::ZERO,
        latency_us: Histogram::new(3)?,
        cpu: (None, None),
    };
    for result in futures::future::join_all(workers).await {
        let (accepted, latency) = result?;
        report.accepted += accepted;
        report.latency_us.add(latency)?;
    }
    report.elapsed = started.elapsed();
    report.cpu = CpuTimes::now().micros_per(&cpu_before, generator.events as u64);
    Ok(report)
}

/// The same rows, as the service stores them (pseudonymised users), copied with text
/// COPY into a table of the same layout: partitioned by month with the same index.
async fn copy_baseline(
    db: &DatabaseConnection,
    generator: &Generator,
) -> anyhow::Result<(Duration, (Option<f64>, Option<f64>))> {
    use sea_orm::sqlx::postgres::PgPoolCopyExt;
    db.execute_unprepared(
        "CREATE TABLE copy_baseline (occurred_at BIGINT NOT NULL, account_id TEXT NOT NULL, \
         event_id TEXT NOT NULL, user_key TEXT NOT NULL, kind TEXT NOT NULL, quantity BIGINT NOT NULL, \
         feature_key TEXT NOT NULL, ticket_id TEXT NOT NULL, properties TEXT NOT NULL) \
         PARTITION BY RANGE (occurred_at); \
         CREATE INDEX copy_baseline_account ON copy_baseline (account_id, occurred_at)",
    )
    .await?;
    let month = 31 * 86_400_000_000_i64;
    for (index, start) in (-4..1).map(|n| (n + 4, generator.now_micros + n * month)) {
        db.execute_unprepared(&format!(
            "CREATE TABLE copy_baseline_{index} PARTITION OF copy_baseline FOR VALUES FROM ({start}) TO ({})",
            start + month
        ))
        .await?;
    }
    let pseudonyms = nordstern_usage::Pseudonymizer::new(BENCH_KEY.as_bytes());
    let (started, cpu_before) = (Instant::now(), CpuTimes::now());
    let mut copy = db
        .get_postgres_connection_pool()
        .copy_in_raw("COPY copy_baseline FROM STDIN")
        .await?;
    for index in 0..generator.batch_count() {
        let mut text = String::with_capacity(generator.batch * 160);
        for event in generator.batch(index) {
            let kind = pb::UsageEventKind::try_from(event.kind)
                .map(|k| {
                    k.as_str_name()
                        .trim_start_matches("USAGE_EVENT_KIND_")
                        .to_owned()
                })
                .unwrap_or_default();
            let micros = event
                .occurred_at
                .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
                .unwrap_or_default();
            text.push_str(&format!(
                "{micros}\t{}\t{}\t{}\t{kind}\t1\t{}\t{}\t{{}}\n",
                event.account_id,
                event.event_id,
                pseudonyms.pseudonym(&event.user_id),
                event.feature_key,
                event.ticket_id
            ));
        }
        copy.send(text.into_bytes()).await?;
    }
    let rows = copy.finish().await?;
    let elapsed = started.elapsed();
    let cpu = CpuTimes::now().micros_per(&cpu_before, rows);
    anyhow::ensure!(rows == generator.events as u64, "COPY wrote {rows} rows");
    Ok((elapsed, cpu))
}

/// StreamUsageSummaries over every account, median of three.
async fn stream_summaries(name: &str, channel: &Channel, accounts: usize) -> anyhow::Result<()> {
    let mut client = UsageServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let mut stream = client
            .stream_usage_summaries(pb::StreamUsageSummariesRequest::default())
            .await?
            .into_inner();
        let mut received = 0;
        while let Some(chunk) = stream.message().await? {
            received += chunk.summaries.len();
        }
        anyhow::ensure!(
            received == accounts,
            "{received} summaries for {accounts} accounts"
        );
        times.push(started.elapsed());
    }
    times.sort();
    let median = times[1];
    println!(
        "{name}: StreamUsageSummaries of all {accounts} accounts in {:.2} s = {:.0} accounts/s",
        median.as_secs_f64(),
        accounts as f64 / median.as_secs_f64()
    );
    Ok(())
}
