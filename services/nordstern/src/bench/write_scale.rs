//! What a write costs as the company grows: CreateAccount, RecordContractEvent and
//! RecordResponse timed one at a time at each size (1,000 and 100,000 existing accounts,
//! one survey answer per account), on SQLite and on PostgreSQL. The company grows between
//! sizes through the same public API, and the ratio of each p50 to the smallest size's is
//! printed beside the bare echo measured in the same run.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use nordstern_proto::{
    accounts::v1::{self as accounts_pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
    survey::v1::{self as survey_pb, survey_service_client::SurveyServiceClient},
};
use nordstern_runtime::{Config, Role, shutdown};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tonic::transport::Channel;

use super::{
    LoadArgs,
    echo::measure_echo,
    get_account::{Backend, account_request},
};
use crate::{App, scratch_db::ScratchDatabase};

#[derive(clap::Args, Debug)]
pub struct WriteScaleArgs {
    /// Company sizes (existing accounts) to time the writes at, smallest first.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 100_000])]
    pub sizes: Vec<usize>,
    /// Timed calls of each RPC at each size.
    #[arg(long, default_value_t = 300)]
    pub samples: usize,
    /// Which stores to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub backend: Backend,
    /// PostgreSQL server to create a scratch database on.
    #[arg(long, default_value_t = crate::scratch_db::admin_url())]
    pub database_url: String,
}

/// Requests in flight while the company grows between sizes (the timed calls go one at a
/// time).
const SEED_IN_FLIGHT: usize = 16;

const RPCS: [&str; 3] = ["CreateAccount", "RecordContractEvent", "RecordResponse"];

pub async fn run(args: WriteScaleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.sizes.is_empty() && args.sizes.windows(2).all(|w| w[0] < w[1]),
        "--sizes must be increasing"
    );
    println!(
        "write-scale benchmark: {} timed calls of each RPC at {:?} existing accounts (one survey answer each)",
        args.samples, args.sizes
    );
    let echo = measure_echo(&LoadArgs {
        connections: 1,
        concurrency: 1,
        duration_secs: 3,
    })
    .await?;
    if matches!(args.backend, Backend::Sqlite | Backend::Both) {
        let data_dir = tempfile::tempdir()?;
        let config = Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        };
        measure("SQLite", config, &args, echo.p50_micros()).await?;
    }
    if matches!(args.backend, Backend::Postgres | Backend::Both) {
        let database = ScratchDatabase::create(&args.database_url, "nordstern_bench").await?;
        let config = Config {
            database_url: Some(database.url.clone()),
            ..Config::default()
        };
        let measured = measure("PostgreSQL", config, &args, echo.p50_micros()).await;
        database.drop_now().await?;
        measured?;
    }
    Ok(())
}

struct Company {
    accounts: AccountsServiceClient<Channel>,
    survey: SurveyServiceClient<Channel>,
    campaign_id: String,
    currency: String,
    /// Every account with a contract, for events and answers.
    ids: Vec<String>,
    rng: StdRng,
    /// Month of the next round of expansions, so each account's events stay in order.
    round: u32,
}

async fn measure(
    store: &str,
    config: Config,
    args: &WriteScaleArgs,
    echo_p50_micros: u64,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let config = super::without_auth(config);
    let app = App::build(config.clone(), &[Role::Accounts, Role::Survey], listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    let channel = Channel::from_shared(url)?.connect().await?;
    let survey = SurveyServiceClient::new(channel.clone());
    let campaign_id = super::nps_campaign(&channel, "write-scale").await?;
    let mut company = Company {
        accounts: AccountsServiceClient::new(channel.clone()),
        survey,
        campaign_id,
        currency: config.accounts.currency_code.clone(),
        ids: Vec::new(),
        rng: StdRng::seed_from_u64(14),
        round: 0,
    };
    let mut first_p50: Option<[u64; 3]> = None;
    for &size in &args.sizes {
        let started = Instant::now();
        let added = grow(&mut company, size).await?;
        println!(
            "{store}: {added} accounts and answers added in {:.1} s ({:.0} accounts/s), {} in all",
            started.elapsed().as_secs_f64(),
            added as f64 / started.elapsed().as_secs_f64().max(0.001),
            company.ids.len()
        );
        let histograms = time_writes(&mut company, args.samples).await?;
        let p50s = histograms.each_ref().map(|h| h.value_at_quantile(0.5));
        let base = *first_p50.get_or_insert(p50s);
        for ((rpc, histogram), base_p50) in RPCS.iter().zip(&histograms).zip(base) {
            let p50 = histogram.value_at_quantile(0.5);
            println!(
                "  {store} at {size:>7} accounts: {rpc:<20} p50 {:>6.2} ms  p99 {:>6.2} ms  {:>5.2}× the p50 at {} accounts  {:>5.1}× echo",
                p50 as f64 / 1000.0,
                histogram.value_at_quantile(0.99) as f64 / 1000.0,
                p50 as f64 / base_p50.max(1) as f64,
                args.sizes[0],
                p50 as f64 / echo_p50_micros.max(1) as f64,
            );
        }
    }
    trigger.trigger();
    server.await??;
    Ok(())
}

/// Adds accounts (with a contract) and one answer each until the company has `size`.
async fn grow(company: &mut Company, size: usize) -> anyhow::Result<usize> {
    let start = company.ids.len();
    let arrs: Vec<i64> = (start..size)
        .map(|_| crate::demo::log_normal_arr(&mut company.rng))
        .collect();
    let created: Vec<String> =
        futures::stream::iter(arrs.into_iter().enumerate().map(|(offset, arr)| {
            let mut client = company.accounts.clone();
            let request = new_account(start + offset, arr, &company.currency);
            async move {
                let account = client.create_account(request).await?.into_inner().account;
                Ok::<_, tonic::Status>(account.map(|a| a.account_id).unwrap_or_default())
            }
        }))
        .buffered(SEED_IN_FLIGHT)
        .try_collect()
        .await
        .context("creating accounts")?;
    futures::stream::iter(created.iter().enumerate().map(|(offset, account_id)| {
        let mut client = company.survey.clone();
        let request = answer(&company.campaign_id, account_id, "seed", start + offset);
        async move { client.record_response(request).await.map(|_| ()) }
    }))
    .buffer_unordered(SEED_IN_FLIGHT)
    .try_collect::<()>()
    .await
    .context("recording answers")?;
    company.ids.extend(created);
    Ok(size - start)
}

/// `samples` calls of each RPC, one at a time, interleaved so that every RPC sees the
/// same machine.
async fn time_writes(company: &mut Company, samples: usize) -> anyhow::Result<[Histogram<u64>; 3]> {
    let mut histograms =
        [(); 3].map(|()| Histogram::<u64>::new(3).unwrap_or_else(|e| panic!("{e}")));
    company.round += 1;
    let effective = common::Date {
        year: 2025,
        month: 1 + company.round.min(11) as i32,
        day: 1,
    };
    // Distinct accounts for the round's expansions: one event each, in date order.
    let mut targets = rand::seq::index::sample(
        &mut company.rng,
        company.ids.len(),
        samples.min(company.ids.len()),
    )
    .into_iter();
    for sample in 0..samples {
        let arr = crate::demo::log_normal_arr(&mut company.rng);
        let request = new_account(
            1_000_000 + company.ids.len() + sample,
            arr,
            &company.currency,
        );
        let started = Instant::now();
        let created = company.accounts.create_account(request).await?.into_inner();
        record(&mut histograms[0], started.elapsed());
        let new_id = created.account.map(|a| a.account_id).unwrap_or_default();

        if let Some(account_id) = targets.next().map(|index| company.ids[index].clone()) {
            let request = accounts_pb::RecordContractEventRequest {
                event: Some(accounts_pb::ContractEvent {
                    account_id,
                    kind: accounts_pb::ContractEventKind::Expansion as i32,
                    arr_change: Some(common::Money {
                        minor_units: company.rng.random_range(1_000..500_000),
                        currency_code: company.currency.clone(),
                    }),
                    effective_date: Some(effective),
                    idempotency_key: format!("write-scale-{}-{sample}", company.round),
                    ..accounts_pb::ContractEvent::default()
                }),
            };
            let started = Instant::now();
            company.accounts.record_contract_event(request).await?;
            record(&mut histograms[1], started.elapsed());
        }

        let account_id = &company.ids[company.rng.random_range(0..company.ids.len())];
        let request = answer(
            &company.campaign_id,
            account_id,
            &format!("timed-{}-{sample}", company.round),
            sample,
        );
        let started = Instant::now();
        company.survey.record_response(request).await?;
        record(&mut histograms[2], started.elapsed());
        company.ids.push(new_id);
    }
    Ok(histograms)
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let _ = histogram.record(micros.max(1));
}

fn new_account(index: usize, arr: i64, currency: &str) -> accounts_pb::CreateAccountRequest {
    account_request(
        &format!("write-scale-{index}"),
        &format!("Scale Account {index}"),
        arr,
        currency,
    )
}

fn answer(
    campaign_id: &str,
    account_id: &str,
    tag: &str,
    nth: usize,
) -> survey_pb::RecordResponseRequest {
    survey_pb::RecordResponseRequest {
        idempotency_key: format!("write-scale-{tag}-{account_id}"),
        campaign_id: campaign_id.to_owned(),
        account_id: account_id.to_owned(),
        respondent_id: format!("{tag}@{account_id}.example"),
        score: Some((nth % 11) as i32),
        ..survey_pb::RecordResponseRequest::default()
    }
}
