//! A generated demo company, loaded through the public gRPC API exactly as an
//! integration would: product modules, CSMs, accounts with log-normal ARR and a contract
//! history (expansions, contractions, renewals, churn), then balanced portfolios.

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
};
use nordstern_runtime::Config;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tonic::transport::Channel;

pub struct DemoOptions {
    pub accounts: usize,
    pub csms: usize,
    pub seed: u64,
}

const MODULES: [(&str, &str, &[&str], i64); 5] = [
    (
        "core",
        "Core platform",
        &["dashboard", "reports", "user-admin"],
        0,
    ),
    (
        "analytics",
        "Analytics",
        &["cohorts", "funnels", "exports"],
        1_200_000,
    ),
    (
        "automation",
        "Automation",
        &["workflows", "triggers"],
        900_000,
    ),
    (
        "integrations",
        "Integrations",
        &["crm-sync", "webhooks", "api"],
        600_000,
    ),
    (
        "ai-assist",
        "AI assistant",
        &["summaries", "forecasts"],
        1_500_000,
    ),
];

/// A draw from a normal distribution (Box–Muller), so ARR can be log-normal without
/// another dependency.
pub fn normal(rng: &mut impl Rng, mean: f64, std_dev: f64) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    mean + std_dev * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Log-normal ARR in minor units: most accounts small, a few very large (median ≈ 22,000).
pub fn log_normal_arr(rng: &mut impl Rng) -> i64 {
    normal(rng, 14.6, 1.1)
        .exp()
        .round()
        .clamp(100_000.0, 1.0e11) as i64
}

pub fn date(date: NaiveDate) -> common::Date {
    common::Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

pub async fn connect(url: &str) -> anyhow::Result<AccountsServiceClient<Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect()
        .await?;
    Ok(AccountsServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

pub async fn load(url: &str, config: &Config, options: &DemoOptions) -> anyhow::Result<()> {
    let currency = config.accounts.currency_code.clone();
    let mut client = connect(url).await?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let started = std::time::Instant::now();
    for (key, name, features, price) in MODULES {
        client
            .upsert_product_module(pb::UpsertProductModuleRequest {
                module: Some(pb::ProductModule {
                    module_key: key.to_owned(),
                    name: name.to_owned(),
                    feature_keys: features.iter().map(|f| (*f).to_owned()).collect(),
                    list_price: Some(common::Money {
                        minor_units: price,
                        currency_code: currency.clone(),
                    }),
                }),
            })
            .await
            .context("loading the product catalog")?;
    }
    let mut csm_ids = Vec::new();
    for index in 0..options.csms {
        let csm = client
            .create_csm(pb::CreateCsmRequest {
                request_id: format!("demo-{}-csm-{index}", options.seed),
                csm: Some(pb::Csm {
                    name: format!("CSM {}", index + 1),
                    email: format!("csm{}@demo.nordstern.dev", index + 1),
                    capacity: 0,
                    ..pb::Csm::default()
                }),
            })
            .await
            .context("creating CSMs")?
            .into_inner()
            .csm
            .unwrap_or_default();
        csm_ids.push(csm.csm_id);
    }
    let today = Utc::now().date_naive();
    let mut churned = 0;
    for index in 0..options.accounts {
        let arr = log_normal_arr(&mut rng);
        let segment = if arr > 10_000_000 {
            common::Segment::Enterprise
        } else if arr > 1_500_000 {
            common::Segment::Sme
        } else {
            common::Segment::Prosumer
        };
        let start = today - Duration::days(rng.random_range(30..900));
        let mut term_end = start + Duration::days(365);
        let module_count = rng.random_range(1..=MODULES.len());
        let account = client
            .create_account(pb::CreateAccountRequest {
                request_id: format!("demo-{}-account-{index}", options.seed),
                account: Some(pb::Account {
                    name: format!("Demo Customer {:04}", index + 1),
                    crm_id: format!("DEMO-{:06}", index + 1),
                    segment: segment as i32,
                    start_date: Some(date(start)),
                    renewal_date: Some(date(term_end)),
                    module_keys: MODULES[..module_count]
                        .iter()
                        .map(|m| m.0.to_owned())
                        .collect(),
                    csm_id: String::new(),
                    ..pb::Account::default()
                }),
                initial_arr: Some(common::Money {
                    minor_units: arr,
                    currency_code: currency.clone(),
                }),
            })
            .await
            .context("creating accounts")?
            .into_inner()
            .account
            .unwrap_or_default();
        let mut current_arr = arr;
        let mut last_effective = start;
        let mut step = 0;
        // Walk the contract year by year: renew (sometimes with a price change), expand
        // or contract mid-term, or churn at the term end.
        while term_end < today {
            step += 1;
            let key = format!("demo-{}-{}-{step}", options.seed, account.account_id);
            let roll: f64 = rng.random_range(0.0..1.0);
            let (kind, change, proposed, renewal) = if roll < 0.10 {
                churned += 1;
                (pb::ContractEventKind::Churn, 0, term_end, None)
            } else if roll < 0.30 {
                let delta = (current_arr as f64 * rng.random_range(0.05..0.4)) as i64;
                (
                    pb::ContractEventKind::Expansion,
                    delta,
                    term_end - Duration::days(60),
                    None,
                )
            } else if roll < 0.38 && current_arr > 200_000 {
                let delta = -((current_arr as f64 * rng.random_range(0.05..0.3)) as i64);
                (
                    pb::ContractEventKind::Contraction,
                    delta,
                    term_end - Duration::days(30),
                    None,
                )
            } else {
                let uplift = (current_arr as f64 * rng.random_range(0.0..0.08)) as i64;
                (
                    pb::ContractEventKind::Renewal,
                    uplift,
                    term_end,
                    Some(term_end + Duration::days(365)),
                )
            };
            // Contract events are accepted in effective-date order only.
            let effective = proposed.max(last_effective);
            last_effective = effective;
            client
                .record_contract_event(pb::RecordContractEventRequest {
                    event: Some(pb::ContractEvent {
                        account_id: account.account_id.clone(),
                        kind: kind as i32,
                        arr_change: Some(common::Money {
                            minor_units: change,
                            currency_code: currency.clone(),
                        }),
                        effective_date: Some(date(effective)),
                        renewal_date: renewal.map(date),
                        idempotency_key: key,
                        ..pb::ContractEvent::default()
                    }),
                })
                .await
                .context("recording contract events")?;
            match kind {
                pb::ContractEventKind::Churn => break,
                pb::ContractEventKind::Renewal => {
                    current_arr += change;
                    term_end += Duration::days(365);
                }
                _ => current_arr += change,
            }
        }
    }
    let plan = client
        .apply_portfolio_balance(pb::ApplyPortfolioBalanceRequest {
            csm_ids: Vec::new(),
            sticky: false,
        })
        .await
        .context("balancing portfolios")?
        .into_inner()
        .plan
        .unwrap_or_default();
    let year_ago = today - Duration::days(365);
    let metrics = client
        .get_revenue_metrics(pb::GetRevenueMetricsRequest {
            scope: Some(common::Scope {
                scope: Some(common::scope::Scope::Company(true)),
            }),
            period: Some(common::Period {
                start_date: Some(date(year_ago)),
                end_date: Some(date(today)),
            }),
        })
        .await?
        .into_inner()
        .metrics
        .unwrap_or_default();
    let percent =
        |value: Option<f64>| value.map_or("n/a".to_owned(), |v| format!("{:.1} %", v * 100.0));
    println!(
        "\nNordstern demo is running on {url} ({} accounts, {} CSMs, {churned} churned; loaded in {:.1} s)",
        options.accounts,
        options.csms,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  portfolios balanced: ARR max/min {:.3}, {} accounts moved",
        plan.arr_max_min_ratio,
        plan.moves.len()
    );
    println!(
        "  last 12 months: NRR {}, GRR {}, logo churn {}, renewal rate {}",
        percent(metrics.net_revenue_retention),
        percent(metrics.gross_revenue_retention),
        percent(metrics.logo_churn_rate),
        percent(metrics.renewal_rate)
    );
    let addr = url.trim_start_matches("http://");
    println!("\nTry (with grpcurl; the server has reflection):");
    println!("  grpcurl -plaintext {addr} list");
    println!(
        "  grpcurl -plaintext -d '{{\"page_size\": 3}}' {addr} nordstern.accounts.v1.AccountsService/ListAccounts"
    );
    println!("  grpcurl -plaintext {addr} nordstern.accounts.v1.AccountsService/GetTierSummary");
    println!(
        "  grpcurl -plaintext -d '{{\"scope\": {{\"company\": true}}, \"period\": {{\"start_date\": {{\"year\": {}, \"month\": {}, \"day\": {}}}, \"end_date\": {{\"year\": {}, \"month\": {}, \"day\": {}}}}}}}' {addr} nordstern.accounts.v1.AccountsService/GetRevenueMetrics",
        year_ago.year(),
        year_ago.month(),
        year_ago.day(),
        today.year(),
        today.month(),
        today.day()
    );
    println!("Press Ctrl-C to stop.");
    Ok(())
}
