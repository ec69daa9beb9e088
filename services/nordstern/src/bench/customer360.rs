//! GetCustomer360 with warm backends against the echo baseline: p50 at concurrency 1 (the
//! goal is at most 3× echo) and throughput at saturation, on the demo company.

use std::time::Duration;

use nordstern_proto::{
    accounts::v1 as accounts_pb,
    gateway::v1::{self as pb, gateway_service_client::GatewayServiceClient},
};
use nordstern_runtime::{Config, shutdown};

use super::{
    LoadArgs, LoadReport,
    echo::measure_echo,
    get_account::print_ratio,
    load::{account_for, connect_channels},
    run_load,
};
use crate::{App, IMPLEMENTED_ROLES, demo, scratch_db::ScratchDatabase};

#[derive(clap::Args, Debug)]
pub struct Customer360Args {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Accounts of the generated demo company the views are read for.
    #[arg(long, default_value_t = 200)]
    pub accounts: usize,
    /// Measure on PostgreSQL with Redis instead of the embedded SQLite store.
    #[arg(long)]
    pub postgres: bool,
    /// PostgreSQL server to create a scratch database on (with --postgres).
    #[arg(long, default_value_t = crate::scratch_db::admin_url())]
    pub database_url: String,
    /// Redis of the score cache (with --postgres).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
}

pub async fn run(args: Customer360Args) -> anyhow::Result<()> {
    println!(
        "GetCustomer360 benchmark: demo company of {} accounts, {} s per run, {}",
        args.accounts,
        args.load.duration_secs,
        if args.postgres {
            "PostgreSQL + Redis"
        } else {
            "SQLite (embedded)"
        }
    );
    let data_dir = tempfile::tempdir()?;
    let mut config = Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    };
    config.usage.pseudonym_key = Some(demo::DEMO_PSEUDONYM_KEY.to_owned());
    config.scoring.recompute_interval_secs = 0;
    config.gateway.http_listen_addr = None;
    let database = if args.postgres {
        let database = ScratchDatabase::create(&args.database_url, "nordstern_bench").await?;
        config.database_url = Some(database.url.clone());
        config.redis_url = Some(args.redis_url.clone());
        config.scoring.cache_namespace = format!("nordstern:bench:{}:", uuid::Uuid::now_v7());
        Some(database)
    } else {
        None
    };
    let result = measure(config, &args).await;
    if let Some(database) = database {
        database.drop_now().await?;
    }
    result
}

async fn measure(config: Config, args: &Customer360Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // Measured against a bare echo, which checks no token either.
    let config = super::without_auth(config);
    let app = App::build(config.clone(), &IMPLEMENTED_ROLES, listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    demo::load(
        &demo::Server::unauthenticated(&url),
        &config,
        &demo::DemoOptions {
            accounts: args.accounts,
            csms: 4,
            seed: 7,
        },
    )
    .await?;
    let ids = std::sync::Arc::new(account_ids(&url).await?);

    let single = LoadArgs {
        connections: 1,
        concurrency: 1,
        duration_secs: args.load.duration_secs,
    };
    println!("\nconcurrency 1:");
    let echo_single = measure_echo(&single).await?;
    let view_single = views(&url, &single, ids.clone()).await?;
    print_ratio("GetCustomer360", &view_single, &echo_single);
    println!(
        "  p50 ratio to echo: {:.2}× (goal ≤ 3×)",
        view_single.p50_micros() as f64 / echo_single.p50_micros().max(1) as f64
    );

    println!(
        "\nsaturation ({} connections, {} in flight):",
        args.load.connections, args.load.concurrency
    );
    let echo = measure_echo(&args.load).await?;
    let view = views(&url, &args.load, ids).await?;
    print_ratio("GetCustomer360", &view, &echo);
    trigger.trigger();
    server.await??;
    Ok(())
}

async fn views(
    url: &str,
    load: &LoadArgs,
    ids: std::sync::Arc<Vec<String>>,
) -> anyhow::Result<LoadReport> {
    let channels = connect_channels(url, load.connections).await?;
    let report = run_load(
        &channels,
        load.concurrency,
        Duration::from_secs(load.duration_secs),
        move |channel, n| {
            let ids = ids.clone();
            async move {
                let account_id = account_for(&ids, n);
                let view = GatewayServiceClient::new(channel)
                    .get_customer360(pb::GetCustomer360Request { account_id })
                    .await?
                    .into_inner();
                // A view with a section missing is not a full answer.
                if view.missing_sections.is_empty() {
                    Ok(())
                } else {
                    Err(tonic::Status::unavailable("a section is missing"))
                }
            }
        },
    )
    .await?;
    Ok(report)
}

async fn account_ids(url: &str) -> anyhow::Result<Vec<String>> {
    let mut client = demo::connect(&crate::demo::Server::unauthenticated(url)).await?;
    let accounts = client
        .list_accounts(accounts_pb::ListAccountsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await?
        .into_inner()
        .accounts;
    anyhow::ensure!(!accounts.is_empty(), "the demo company has no accounts");
    Ok(accounts.into_iter().map(|a| a.account_id).collect())
}
