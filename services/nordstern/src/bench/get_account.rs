//! GetAccount against the echo baseline, on the embedded SQLite store and on PostgreSQL.

use std::time::Duration;

use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
};
use nordstern_runtime::{Config, Role, shutdown};

use super::{
    LoadArgs, LoadReport,
    echo::measure_echo,
    load::{account_for, connect_channels},
    run_load,
};
use crate::{App, scratch_db::ScratchDatabase};

#[derive(clap::Args, Debug)]
pub struct GetAccountArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Accounts created before measuring; reads pick among them.
    #[arg(long, default_value_t = 1000)]
    pub accounts: usize,
    /// Which stores to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub backend: Backend,
    /// Database connections per service pool.
    #[arg(long, default_value_t = Config::default().database_max_connections)]
    pub pool_size: u32,
    /// PostgreSQL server to create a scratch database on.
    #[arg(long, default_value_t = crate::scratch_db::admin_url())]
    pub database_url: String,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Both,
}

pub async fn run(args: GetAccountArgs) -> anyhow::Result<()> {
    let duration = Duration::from_secs(args.load.duration_secs);
    println!(
        "GetAccount benchmark: {} connections, {} concurrent requests, {} s per run, {} accounts",
        args.load.connections, args.load.concurrency, args.load.duration_secs, args.accounts
    );
    let echo = measure_echo(&args.load).await?;
    if matches!(args.backend, Backend::Sqlite | Backend::Both) {
        let data_dir = tempfile::tempdir()?;
        let config = Config {
            data_dir: data_dir.path().to_owned(),
            database_max_connections: args.pool_size,
            ..Config::default()
        };
        let report = measure(config, &args, duration).await?;
        print_ratio("GetAccount (SQLite)", &report, &echo);
    }
    if matches!(args.backend, Backend::Postgres | Backend::Both) {
        let database = ScratchDatabase::create(&args.database_url, "nordstern_bench").await?;
        let config = Config {
            database_url: Some(database.url.clone()),
            database_max_connections: args.pool_size,
            ..Config::default()
        };
        let report = measure(config, &args, duration).await;
        database.drop_now().await?;
        print_ratio("GetAccount (PostgreSQL)", &report?, &echo);
    }
    Ok(())
}

pub(super) fn print_ratio(name: &str, report: &LoadReport, echo: &LoadReport) {
    println!(
        "{}   ratio to echo: {:.2}× rps, {:.2}× p50",
        report.line(name),
        report.rps() / echo.rps(),
        report.p50_micros() as f64 / echo.p50_micros().max(1) as f64
    );
}

async fn measure(
    config: Config,
    args: &GetAccountArgs,
    duration: Duration,
) -> anyhow::Result<LoadReport> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // Measured against a bare echo, which checks no token either.
    let config = super::without_auth(config);
    let app = App::build(config.clone(), &[Role::Accounts], listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    let ids = seed(&url, &config, args.accounts).await?;
    let channels = connect_channels(&url, args.load.connections).await?;
    let ids = std::sync::Arc::new(ids);
    let report = run_load(
        &channels,
        args.load.concurrency,
        duration,
        move |channel, n| {
            let ids = ids.clone();
            async move {
                let account_id = account_for(&ids, n);
                AccountsServiceClient::new(channel)
                    .get_account(pb::GetAccountRequest { account_id })
                    .await
                    .map(|_| ())
            }
        },
    )
    .await?;
    trigger.trigger();
    server.await??;
    Ok(report)
}

/// Creates `accounts` SME accounts with log-normal ARR through the public API.
pub(super) async fn seed(
    url: &str,
    config: &Config,
    accounts: usize,
) -> anyhow::Result<Vec<String>> {
    use rand::SeedableRng;
    let mut client = crate::demo::connect(&crate::demo::Server::unauthenticated(url)).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut ids = Vec::with_capacity(accounts);
    for index in 0..accounts {
        let arr = crate::demo::log_normal_arr(&mut rng);
        let account = client
            .create_account(account_request(
                &format!("bench-{index}"),
                &format!("Bench Account {index}"),
                arr,
                &config.accounts.currency_code,
            ))
            .await?
            .into_inner();
        ids.push(account.account.map(|a| a.account_id).unwrap_or_default());
    }
    Ok(ids)
}

/// An SME account that started on 2025-01-01, renews a year later, and has `arr`.
pub(super) fn account_request(
    request_id: &str,
    name: &str,
    arr: i64,
    currency: &str,
) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        request_id: request_id.to_owned(),
        account: Some(pb::Account {
            name: name.to_owned(),
            segment: common::Segment::Sme as i32,
            start_date: Some(common::Date {
                year: 2025,
                month: 1,
                day: 1,
            }),
            renewal_date: Some(common::Date {
                year: 2026,
                month: 1,
                day: 1,
            }),
            ..pb::Account::default()
        }),
        initial_arr: Some(common::Money {
            minor_units: arr,
            currency_code: currency.to_owned(),
        }),
        assigned_at: None,
    }
}
