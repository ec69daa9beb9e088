//! What the trust boundary costs: `GetHealthScore` with the token check off and on, on the
//! same data in the same run (goal: ≥ 0.9× the unchecked rps); and what a token flooding at
//! three times its rate does to another token's latency (goal: p99 within 10 %).

use std::{sync::Arc, time::Duration};

use hdrhistogram::Histogram;
use nordstern_proto::scoring::v1::{self as pb, scoring_service_client::ScoringServiceClient};
use nordstern_runtime::{
    Config, Role,
    client::{ClientSecurity, SecureChannel, secure_channel},
    shutdown,
};
use tokio::time::Instant;

use super::{LoadArgs, LoadReport, echo::measure_echo, load::account_for, run_load};
use crate::App;

#[derive(clap::Args, Debug)]
pub struct AuthArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Accounts scored; reads pick among them.
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// Requests per second the flooding token may make (it sends three times as many).
    #[arg(long, default_value_t = 200)]
    pub limit: u32,
    /// Requests per second of the token whose latency is watched.
    #[arg(long, default_value_t = 100)]
    pub neighbour_rps: u32,
}

pub async fn run(args: AuthArgs) -> anyhow::Result<()> {
    println!(
        "auth benchmark: GetHealthScore of {} accounts on SQLite, {} connections × {} in flight for {} s",
        args.accounts, args.load.connections, args.load.concurrency, args.load.duration_secs
    );
    let echo = measure_echo(&args.load).await?;
    let data_dir = tempfile::tempdir()?;
    let config = super::scoring::base_config(Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    });
    let ids = Arc::new(super::scoring::seed_accounts(&config, args.accounts).await?);

    let off = {
        let mut config = config.clone();
        config.auth.enabled = false;
        let (url, stop) = start(config).await?;
        let security = ClientSecurity::default();
        recompute(&url, &security).await?;
        let report = reads(&url, &security, &args.load, ids.clone()).await?;
        stop.await?;
        report
    };
    // A limit far above what the machine serves: the check and the bucket arithmetic run
    // on every request, the limit itself never bites.
    let security = token(
        &config,
        "bench",
        &["scores:read", "scores:write"],
        10_000_000,
    )
    .await?;
    let (url, stop) = start(config.clone()).await?;
    // Recomputed again so both runs read from a cache as warm.
    recompute(&url, &security).await?;
    let on = reads(&url, &security, &args.load, ids.clone()).await?;
    println!("{}", off.line("GetHealthScore, auth off"));
    println!("{}", on.line("GetHealthScore, auth on"));
    println!(
        "auth on / auth off: {:.3}× rps (goal ≥ 0.9×), p50 {} vs {} µs; on / echo {:.2}×",
        on.rps() / off.rps(),
        on.p50_micros(),
        off.p50_micros(),
        on.rps() / echo.rps()
    );

    // A token at three times its rate beside another token at a steady rate.
    let flooder = token(&config, "flooder", &["scores:read"], args.limit).await?;
    let neighbour = token(&config, "neighbour", &["scores:read"], 0).await?;
    // Servers load new tokens within auth.refresh_interval_ms.
    tokio::time::sleep(config.auth.refresh_interval() * 2).await;
    let window = Duration::from_secs(args.load.duration_secs);
    let alone = paced(&url, &neighbour, args.neighbour_rps, window, ids.clone()).await?;
    let (beside, flood) = tokio::join!(
        paced(&url, &neighbour, args.neighbour_rps, window, ids.clone()),
        paced(&url, &flooder, 3 * args.limit, window, ids.clone()),
    );
    let (beside, flood) = (beside?, flood?);
    println!(
        "flooder at {} rps with a limit of {}: {} accepted, {} refused ({:.0} accepted/s)",
        3 * args.limit,
        args.limit,
        flood.accepted,
        flood.refused,
        flood.accepted as f64 / window.as_secs_f64()
    );
    let (p99_alone, p99_beside) = (
        alone.latency.value_at_quantile(0.99),
        beside.latency.value_at_quantile(0.99),
    );
    println!(
        "neighbour at {} rps: p99 {p99_alone} µs alone, {p99_beside} µs beside the flood ({:+.1} %, goal: at most +10 %); refused {} and {}",
        args.neighbour_rps,
        (p99_beside as f64 / p99_alone.max(1) as f64 - 1.0) * 100.0,
        alone.refused,
        beside.refused
    );
    stop.await?;
    Ok(())
}

type Stop = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>>>>;

async fn start(config: Config) -> anyhow::Result<(String, Stop)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let roles = [Role::Accounts, Role::Usage, Role::Survey, Role::Scoring];
    let app = App::build(config, &roles, listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    let stop: Stop = Box::pin(async move {
        trigger.trigger();
        server.await??;
        Ok(())
    });
    Ok((url, stop))
}

async fn token(
    config: &Config,
    name: &str,
    scopes: &[&str],
    rate: u32,
) -> anyhow::Result<ClientSecurity> {
    let db = nordstern_auth::store::open(config).await?;
    let new = nordstern_auth::tokens::NewToken {
        name: name.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        rate_limit_per_second: rate,
        ..Default::default()
    };
    let (_, secret) =
        nordstern_auth::tokens::create(&db, &new, chrono::Utc::now().timestamp_micros())
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
    db.close().await?;
    ClientSecurity::default()
        .with_token(secret.expose())
        .map_err(anyhow::Error::msg)
}

async fn channel(url: &str, security: &ClientSecurity) -> anyhow::Result<SecureChannel> {
    let grpc = nordstern_runtime::config::GrpcConfig {
        client_timeout_ms: 3_600_000,
        ..Default::default()
    };
    Ok(secure_channel(url, &grpc, security).await?)
}

async fn recompute(url: &str, security: &ClientSecurity) -> anyhow::Result<()> {
    ScoringServiceClient::new(channel(url, security).await?)
        .recompute_health_scores(pb::RecomputeHealthScoresRequest {
            account_ids: Vec::new(),
            all_accounts: true,
        })
        .await?;
    Ok(())
}

async fn reads(
    url: &str,
    security: &ClientSecurity,
    load: &LoadArgs,
    ids: Arc<Vec<String>>,
) -> anyhow::Result<LoadReport> {
    let mut channels = Vec::new();
    for _ in 0..load.connections.max(1) {
        channels.push(channel(url, security).await?);
    }
    run_load(
        &channels,
        load.concurrency,
        Duration::from_secs(load.duration_secs),
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
    .await
}

struct Paced {
    accepted: u64,
    refused: u64,
    /// Latency of the accepted requests, µs.
    latency: Histogram<u64>,
}

/// An open-loop client: `rps` requests a second for `window`, each on its own task, so a
/// slow answer does not slow the sender.
async fn paced(
    url: &str,
    security: &ClientSecurity,
    rps: u32,
    window: Duration,
    ids: Arc<Vec<String>>,
) -> anyhow::Result<Paced> {
    let client = ScoringServiceClient::new(channel(url, security).await?);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rps.max(1));
    let end = Instant::now() + window;
    let mut calls = Vec::new();
    let mut n = 0u64;
    while Instant::now() < end {
        ticks.tick().await;
        n += 1;
        let mut client = client.clone();
        let account_id = account_for(&ids, n);
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let result = client
                .get_health_score(pb::GetHealthScoreRequest { account_id })
                .await;
            (result.is_ok(), started.elapsed())
        }));
    }
    let mut paced = Paced {
        accepted: 0,
        refused: 0,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for call in calls {
        let (ok, took) = call.await?;
        if ok {
            paced.accepted += 1;
            paced.latency.saturating_record(took.as_micros() as u64);
        } else {
            paced.refused += 1;
        }
    }
    Ok(paced)
}
