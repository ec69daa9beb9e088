//! A CRM's first sync: 100,000 accounts (each with a CSM, modules and its opening
//! contract) and 300,000 further contract events through BatchCreateAccounts and
//! BatchRecordContractEvents, on SQLite and PostgreSQL; then the same batches again,
//! which must write nothing. The baseline, measured in the same run on the same
//! machine, writes the same rows straight into a second store with the same tables and
//! indexes: PostgreSQL's COPY, or SQLite's multi-row INSERT, in one transaction, without
//! checks, keys or tiers.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Duration as Days, NaiveDate};
use futures::{StreamExt, TryStreamExt};
use nordstern_domain::{
    account::{ContractEventKind, Segment},
    contract::ContractChange,
};
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
};
use nordstern_runtime::{
    Config, Role, bridge::ProtoEnum, shutdown, storage::StorageTarget, wire::MAX_BATCH,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tonic::transport::Channel;

mod baseline;

use super::get_account::Backend;
use crate::{App, scratch_db::ScratchDatabase};
use baseline::baseline;

#[derive(clap::Args, Debug)]
pub struct BulkLoadArgs {
    #[arg(long, default_value_t = 100_000)]
    pub accounts: usize,
    /// Contract events per account after its opening one.
    #[arg(long, default_value_t = 3)]
    pub events_per_account: usize,
    /// Batches in flight.
    #[arg(long, default_value_t = 2)]
    pub in_flight: usize,
    #[arg(long, value_enum, default_value = "both")]
    pub backend: Backend,
    /// PostgreSQL server to create a scratch database on.
    #[arg(long, default_value_t = crate::scratch_db::admin_url())]
    pub database_url: String,
}

const MODULES: [&str; 3] = ["core", "analytics", "automation"];
const CSMS: usize = 8;

pub async fn run(args: BulkLoadArgs) -> anyhow::Result<()> {
    println!(
        "bulk-load benchmark: {} accounts and {} contract events in batches of {MAX_BATCH}, {} in flight",
        args.accounts,
        args.accounts * args.events_per_account,
        args.in_flight
    );
    let plan = Plan::generate(args.accounts, args.events_per_account, 21);
    if matches!(args.backend, Backend::Sqlite | Backend::Both) {
        let data_dir = tempfile::tempdir()?;
        let config = Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        };
        let target = StorageTarget::Sqlite {
            data_dir: data_dir.path(),
        };
        measure("SQLite", config, target, &plan, &args).await?;
    }
    if matches!(args.backend, Backend::Postgres | Backend::Both) {
        let database = ScratchDatabase::create(&args.database_url, "nordstern_bench").await?;
        let config = Config {
            database_url: Some(database.url.clone()),
            ..Config::default()
        };
        let target = StorageTarget::Postgres { url: &database.url };
        let measured = measure("PostgreSQL", config.clone(), target, &plan, &args).await;
        database.drop_now().await?;
        measured?;
    }
    Ok(())
}

/// The company to load: accounts, and each account's later events in date order.
struct Plan {
    accounts: Vec<AccountPlan>,
    events_per_account: usize,
}

struct AccountPlan {
    crm_id: String,
    segment: Segment,
    start: NaiveDate,
    term_end: NaiveDate,
    arr: i64,
    modules: Vec<&'static str>,
    csm: usize,
    events: Vec<ContractChange>,
}

impl Plan {
    fn generate(accounts: usize, events_per_account: usize, seed: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let epoch = NaiveDate::from_ymd_opt(2022, 1, 1).unwrap_or_default();
        let accounts = (0..accounts)
            .map(|n| {
                let start = epoch + Days::days(rng.random_range(0..365));
                let arr = crate::demo::log_normal_arr(&mut rng);
                let mut term_end = start + Days::days(365);
                let mut current = arr;
                let mut day = start;
                let events = (0..events_per_account)
                    .map(|step| {
                        day += Days::days(rng.random_range(30..120));
                        if step % 3 == 0 {
                            term_end = NaiveDate::from_ymd_opt(term_end.year() + 1, 1, 1)
                                .unwrap_or(term_end)
                                .max(day + Days::days(1));
                            ContractChange {
                                kind: ContractEventKind::Renewal,
                                arr_change: 0,
                                effective_date: day,
                                renewal_date: Some(term_end),
                            }
                        } else if rng.random_bool(0.7) {
                            let change = current / 10 + 100;
                            current += change;
                            ContractChange {
                                kind: ContractEventKind::Expansion,
                                arr_change: change,
                                effective_date: day,
                                renewal_date: None,
                            }
                        } else {
                            let change = -(current / 10);
                            current += change;
                            ContractChange {
                                kind: ContractEventKind::Contraction,
                                arr_change: change,
                                effective_date: day,
                                renewal_date: None,
                            }
                        }
                    })
                    .collect();
                AccountPlan {
                    crm_id: format!("BULK-{n:07}"),
                    segment: [Segment::Enterprise, Segment::Sme, Segment::Prosumer][n % 3],
                    start,
                    term_end: start + Days::days(365),
                    arr,
                    modules: MODULES[..1 + n % MODULES.len()].to_vec(),
                    csm: n % CSMS,
                    events,
                }
            })
            .collect();
        Plan {
            accounts,
            events_per_account,
        }
    }

    fn event_count(&self) -> usize {
        self.accounts.len() * self.events_per_account
    }
}

fn date(day: NaiveDate) -> common::Date {
    crate::demo::date(day)
}

fn money(minor_units: i64) -> common::Money {
    common::Money {
        minor_units,
        currency_code: "EUR".to_owned(),
    }
}

async fn measure(
    store: &str,
    config: Config,
    target: StorageTarget<'_>,
    plan: &Plan,
    args: &BulkLoadArgs,
) -> anyhow::Result<()> {
    let baseline = baseline(target, plan).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let config = super::without_auth(config);
    let app = App::build(config, &[Role::Accounts], listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    let channel = Channel::from_shared(url)?.connect().await?;
    let mut client =
        AccountsServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
    let csm_ids = prepare(&mut client).await?;

    let mut first = None;
    for pass in ["first pass", "sent again"] {
        let started = Instant::now();
        let (ids, created) = load_accounts(&client, plan, &csm_ids, args.in_flight).await?;
        let accounts_took = started.elapsed();
        let recorded = load_events(&client, plan, &ids, args.in_flight).await?;
        let took = started.elapsed();
        let rows = plan.accounts.len() + plan.event_count();
        println!(
            "{store} {pass}: {} accounts in {:.1} s, {} events in {:.1} s; {rows} rows in {:.1} s ({:.0} rows/s); written now: {created} accounts, {recorded} events",
            plan.accounts.len(),
            accounts_took.as_secs_f64(),
            plan.event_count(),
            (took - accounts_took).as_secs_f64(),
            took.as_secs_f64(),
            rows as f64 / took.as_secs_f64().max(1e-9),
        );
        match first {
            None => {
                anyhow::ensure!(
                    created == plan.accounts.len() && recorded == plan.event_count(),
                    "the first pass wrote {created} accounts and {recorded} events"
                );
                first = Some(took);
                check_tiers(&mut client).await?;
                println!(
                    "  {store}: goal < 60 s: {}; the same rows written raw ({}) took {:.1} s: the product's load = {:.2}× the raw write's time",
                    if took < Duration::from_secs(60) {
                        "met"
                    } else {
                        "MISSED"
                    },
                    if store == "SQLite" {
                        "multi-row INSERT"
                    } else {
                        "COPY"
                    },
                    baseline.as_secs_f64(),
                    took.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
                );
            }
            Some(first) => {
                anyhow::ensure!(
                    created == 0 && recorded == 0,
                    "sending again wrote {created} accounts and {recorded} events"
                );
                println!(
                    "  {store}: sending everything again wrote nothing, in {:.2}× the first pass's time",
                    took.as_secs_f64() / first.as_secs_f64().max(1e-9)
                );
            }
        }
    }
    trigger.trigger();
    server.await??;
    Ok(())
}

/// Every account's tier against the full A/B/C derivation over every account: the
/// cut-offs moved once per batch must land where ranking everything would put them.
async fn check_tiers(client: &mut AccountsServiceClient<Channel>) -> anyhow::Result<()> {
    use nordstern_domain::tiers::{TierThresholds, assign_tiers};
    let mut accounts = Vec::new();
    let mut request = pb::ListAccountsRequest {
        page_size: 1000,
        ..pb::ListAccountsRequest::default()
    };
    loop {
        let page = client.list_accounts(request.clone()).await?.into_inner();
        accounts.extend(page.accounts);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let keyed: Vec<(String, i64)> = accounts
        .iter()
        .map(|a| {
            (
                a.account_id.clone(),
                a.arr.as_ref().map_or(0, |m| m.minor_units),
            )
        })
        .collect();
    let expected = assign_tiers(&keyed, TierThresholds::default());
    let wrong = accounts
        .iter()
        .zip(expected)
        .filter(|(account, tier)| account.tier != ProtoEnum::to_proto(*tier) as i32)
        .count();
    anyhow::ensure!(
        wrong == 0,
        "{wrong} of {} accounts have the wrong tier",
        accounts.len()
    );
    println!(
        "  every one of {} accounts has the tier the A/B/C definition gives",
        accounts.len()
    );
    Ok(())
}

/// The catalog and the CSMs; their ids by index.
async fn prepare(client: &mut AccountsServiceClient<Channel>) -> anyhow::Result<Vec<String>> {
    for key in MODULES {
        client
            .upsert_product_module(pb::UpsertProductModuleRequest {
                module: Some(pb::ProductModule {
                    module_key: key.to_owned(),
                    name: key.to_owned(),
                    feature_keys: vec![format!("{key}.use")],
                    list_price: Some(money(100_000)),
                    has_integration: false,
                }),
            })
            .await?;
    }
    let mut ids = Vec::with_capacity(CSMS);
    for n in 0..CSMS {
        let csm = client
            .create_csm(pb::CreateCsmRequest {
                request_id: format!("bulk-csm-{n}"),
                csm: Some(pb::Csm {
                    name: format!("CSM {n}"),
                    email: format!("csm{n}@bulk.example"),
                    ..pb::Csm::default()
                }),
            })
            .await?
            .into_inner()
            .csm
            .unwrap_or_default();
        ids.push(csm.csm_id);
    }
    Ok(ids)
}

/// Every account in batches; the account ids in plan order, and how many were new.
async fn load_accounts(
    client: &AccountsServiceClient<Channel>,
    plan: &Plan,
    csm_ids: &[String],
    in_flight: usize,
) -> anyhow::Result<(Vec<String>, usize)> {
    let batches = plan.accounts.chunks(MAX_BATCH).map(|chunk| {
        let items = chunk
            .iter()
            .map(|account| pb::CreateAccountRequest {
                request_id: String::new(),
                account: Some(pb::Account {
                    name: format!("Customer {}", account.crm_id),
                    crm_id: account.crm_id.clone(),
                    segment: ProtoEnum::to_proto(account.segment) as i32,
                    start_date: Some(date(account.start)),
                    renewal_date: Some(date(account.term_end)),
                    module_keys: account.modules.iter().map(|m| (*m).to_owned()).collect(),
                    csm_id: csm_ids[account.csm].clone(),
                    ..pb::Account::default()
                }),
                initial_arr: Some(money(account.arr)),
                assigned_at: None,
            })
            .collect();
        let mut client = client.clone();
        async move {
            let response = client
                .batch_create_accounts(pb::BatchCreateAccountsRequest { items })
                .await?
                .into_inner();
            anyhow::ensure!(
                response.refused_count == 0,
                "refused: {:?}",
                response.refusals.first()
            );
            Ok(response)
        }
    });
    let responses: Vec<pb::BatchCreateAccountsResponse> = futures::stream::iter(batches)
        .buffered(in_flight)
        .try_collect()
        .await
        .context("creating accounts")?;
    let created = responses.iter().map(|r| r.created_count as usize).sum();
    let ids = responses
        .into_iter()
        .flat_map(|r| r.accounts)
        .map(|a| a.account.map(|a| a.account_id).unwrap_or_default())
        .collect();
    Ok((ids, created))
}

/// Round k carries every account's k-th event, so an account's events stay in order
/// while a round's batches go side by side. How many were new.
async fn load_events(
    client: &AccountsServiceClient<Channel>,
    plan: &Plan,
    ids: &[String],
    in_flight: usize,
) -> anyhow::Result<usize> {
    let mut recorded = 0;
    for round in 0..plan.events_per_account {
        let events: Vec<pb::ContractEvent> = plan
            .accounts
            .iter()
            .zip(ids)
            .map(|(account, id)| {
                let change = &account.events[round];
                pb::ContractEvent {
                    account_id: id.clone(),
                    kind: ProtoEnum::to_proto(change.kind) as i32,
                    arr_change: Some(money(change.arr_change)),
                    effective_date: Some(date(change.effective_date)),
                    renewal_date: change.renewal_date.map(date),
                    idempotency_key: format!("bulk-{}-{round}", account.crm_id),
                    ..pb::ContractEvent::default()
                }
            })
            .collect();
        let batches = events.chunks(MAX_BATCH).map(|chunk| {
            let mut client = client.clone();
            let request = pb::BatchRecordContractEventsRequest {
                events: chunk.to_vec(),
            };
            async move {
                let response = client
                    .batch_record_contract_events(request)
                    .await?
                    .into_inner();
                anyhow::ensure!(
                    response.refused_count == 0,
                    "refused: {:?}",
                    response.refusals.first()
                );
                Ok(response.recorded_count as usize)
            }
        });
        let counts: Vec<usize> = futures::stream::iter(batches)
            .buffer_unordered(in_flight)
            .try_collect()
            .await
            .context("recording contract events")?;
        recorded += counts.iter().sum::<usize>();
    }
    Ok(recorded)
}
