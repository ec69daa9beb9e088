//! A generated demo company (see [`company`]), loaded through the public gRPC API
//! exactly as an integration would: product modules, CSMs, accounts with their contract
//! history, a year of product usage, quarterly NPS campaigns; then balanced portfolios,
//! a churn model trained on the company's renewal and churn history, and fresh scores.

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
    scoring::v1::{self as scoring, scoring_service_client::ScoringServiceClient},
};
use nordstern_runtime::{
    Config,
    client::ClientSecurity,
    paging::{MAX_PAGE_SIZE, all_pages},
};

use crate::client::Channel;

mod accounts;
pub mod company;
mod survey;
mod usage;

use company::{Company, MODULES};
pub use company::{log_normal_arr, normal};

pub struct DemoOptions {
    pub accounts: usize,
    pub csms: usize,
    pub seed: u64,
}

/// Requests in flight while loading accounts and answers.
const IN_FLIGHT: usize = 8;
/// How often one call is sent again after a refusal that asks to wait.
const PATIENCE: u32 = 100;
/// Where the churn history is written, under the data directory.
pub const HISTORY_FILE: &str = "demo-churn-history.csv";

pub fn date(date: NaiveDate) -> common::Date {
    common::Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

/// A running suite and what the loader presents to it.
#[derive(Clone)]
pub struct Server {
    pub url: String,
    pub security: ClientSecurity,
}

impl Server {
    /// A suite without a token check (benchmarks on loopback).
    pub fn unauthenticated(url: &str) -> Server {
        Server {
            url: url.to_owned(),
            security: ClientSecurity::default(),
        }
    }
}

pub async fn channel(server: &Server) -> anyhow::Result<Channel> {
    let grpc = nordstern_runtime::config::GrpcConfig {
        client_timeout_ms: 600_000,
        ..Default::default()
    };
    Ok(nordstern_runtime::client::secure_channel(&server.url, &grpc, &server.security).await?)
}

pub async fn connect(server: &Server) -> anyhow::Result<AccountsServiceClient<Channel>> {
    Ok(AccountsServiceClient::new(channel(server).await?)
        .max_decoding_message_size(64 * 1024 * 1024))
}

/// Runs one of the loader's calls, which are all idempotent: a refusal for the token's
/// rate or the server's in-flight limit is waited out as long as it asks, and the call
/// sent again, rather than ending the load.
pub async fn patiently<C, R, T, Fut>(
    client: &C,
    request: R,
    call: impl Fn(C, R) -> Fut,
) -> Result<T, tonic::Status>
where
    C: Clone,
    R: Clone,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    nordstern_runtime::client::retry_patiently(PATIENCE, || call(client.clone(), request.clone()))
        .await
}

/// The usage pseudonym key of `nordstern demo` when none is configured.
pub const DEMO_PSEUDONYM_KEY: &str = "nordstern-demo-only-pseudonym-key-0000";

/// What a load ended with, beyond what it printed.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Held-out AUC of the churn model trained from the platform's history.
    pub model_auc: Option<f64>,
    /// Renewals and churns it was trained and evaluated on.
    pub model_rows: usize,
    pub accounts_scored: usize,
    pub open_alerts: usize,
}

/// Generates the company, loads it through the public API, trains and activates the
/// churn model from the platform's history, prints what it did and what to try.
pub async fn load(
    server: &Server,
    config: &Config,
    options: &DemoOptions,
) -> anyhow::Result<LoadReport> {
    let started = Instant::now();
    let today = Utc::now().date_naive();
    let company = Arc::new(Company::generate(
        options.accounts,
        options.csms,
        options.seed,
        today,
    ));
    let currency = config.accounts.currency_code.clone();
    let mut client = connect(server).await?;
    for (key, name, features, price, has_integration) in MODULES {
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
                    has_integration,
                }),
            })
            .await
            .context("loading the product catalog")?;
    }
    let mut csm_ids = Vec::with_capacity(company.csms.len());
    for (index, csm) in company.csms.iter().enumerate() {
        let created = client
            .create_csm(pb::CreateCsmRequest {
                request_id: format!("demo-{}-csm-{index}", options.seed),
                csm: Some(pb::Csm {
                    name: csm.name.clone(),
                    email: csm.email.clone(),
                    capacity: 0,
                    ..pb::Csm::default()
                }),
            })
            .await
            .context("creating CSMs")?
            .into_inner()
            .csm
            .unwrap_or_default();
        csm_ids.push(created.csm_id);
    }

    let (account_ids, accounts_seconds) =
        accounts::load(&client, &company, &csm_ids, &currency, options.seed).await?;
    let account_ids = Arc::new(account_ids);

    let survey = survey::load(server, &company, &account_ids, options.seed).await?;
    let usage = usage::load(server, company.clone(), account_ids.clone()).await?;
    // Sticky: the balance evens the books out and keeps owners where it can.
    let plan = client
        .apply_portfolio_balance(pb::ApplyPortfolioBalanceRequest {
            sticky: true,
            ..Default::default()
        })
        .await
        .context("balancing portfolios")?
        .into_inner()
        .plan
        .unwrap_or_default();
    let model = train_churn_model(server, config, &company).await?;
    let scores = health_scores(server).await?;
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
    let churned = company
        .accounts
        .iter()
        .filter(|a| a.churned_on.is_some())
        .count();
    println!(
        "\nNordstern demo is running on {} ({} accounts, {} CSMs, {churned} churned over the years; loaded in {:.1} s)",
        server.url,
        options.accounts,
        options.csms,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  accounts and {} contract events created in {accounts_seconds:.1} s; portfolios balanced: ARR max/min {:.3}, {} accounts assigned",
        company
            .accounts
            .iter()
            .map(|a| a.steps.len())
            .sum::<usize>(),
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
    let nps = survey.stats.nps.unwrap_or_default();
    println!(
        "  surveys: {} NPS answers over {} quarterly campaigns recorded in {:.1} s; last 90 days NPS {} ± {:.1} ({} promoters, {} passives, {} detractors; response rate {})",
        survey.answers,
        company::SURVEY_QUARTERS,
        survey.seconds,
        nps.nps.map_or("n/a".to_owned(), |v| format!("{v:.0}")),
        nps.margin_of_error.unwrap_or(0.0),
        nps.promoters,
        nps.passives,
        nps.detractors,
        percent(survey.stats.response_rate)
    );
    println!(
        "  usage: {} events over {} days ingested in {:.1} s ({:.0} events/s); {} live accounts used at least 30 % less in the last 30 days",
        usage.events,
        company::USAGE_DAYS,
        usage.seconds,
        usage.events as f64 / usage.seconds.max(1e-9),
        usage.dropping.len()
    );
    println!(
        "  churn model: trained in {:.1} s from the platform's own history on {} renewals and churns ({} churned) as of {} days before each; held-out AUC {}; the same history as a CSV export in {}",
        model.training_seconds,
        model.rows,
        model.churned,
        company::CUTOFF_DAYS,
        model
            .auc
            .map_or("n/a".to_owned(), |auc| format!("{auc:.3}")),
        model.file
    );
    println!(
        "  health: {} accounts scored with the new model in {:.1} s: {} green, {} yellow, {} red; {} open alerts ({:.2} per scored account)",
        model.scored,
        model.scoring_seconds,
        scores.green,
        scores.yellow,
        scores.red,
        scores.open_alerts,
        scores.open_alerts as f64 / (scores.green + scores.yellow + scores.red).max(1) as f64,
    );
    let addr = server.url.trim_start_matches("http://");
    let first_csm = company.csms.first().map_or("", |c| c.email.as_str());
    let token_file = crate::admin::token_file(config);
    println!(
        "\nEvery call needs a token. The demo made one with the `admin` scope and keeps it in {} (mode 0600),",
        token_file.display()
    );
    println!("where the client commands find it; `nordstern token create` makes narrower ones.");
    println!(
        "\nTry, in another terminal (`nordstern` is target/release/nordstern, or `cargo run --release -p nordstern --`):"
    );
    if token_file != std::path::Path::new(crate::client::DEFAULT_TOKEN_FILE) {
        println!("  export NORDSTERN_TOKEN_FILE={}", token_file.display());
    }
    println!("  nordstern risk                          # the company's accounts by ARR at risk");
    if let Some(account_id) = &scores.top_risk {
        println!("  nordstern account 360 {account_id}");
    }
    if !first_csm.is_empty() {
        println!("  nordstern portfolio {first_csm}");
    }
    if let Some(account_id) = &scores.top_risk {
        println!(
            "  nordstern ticket route --account {account_id} --subject 'Kündigung zum Vertragsende' --body 'Wir möchten unseren Vertrag kündigen.'"
        );
    }
    println!(
        "  nordstern model train --csv {} --label {}",
        model.file,
        company::HISTORY_LABEL
    );
    if let (Some(http), Some(account_id)) = (
        config.gateway.http_listen_addr.filter(|a| a.port() != 0),
        &scores.top_risk,
    ) {
        println!(
            "  curl -H \"Authorization: Bearer $(cat {})\" http://{http}/v1/accounts/{account_id}/health",
            token_file.display()
        );
    }
    if let Some(http) = config.gateway.http_listen_addr.filter(|a| a.port() != 0) {
        let scheme = if config.tls.cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        println!(
            "\nThe CSM board: {scheme}://{http}/ — sign in with the token in {} (every portfolio).",
            token_file.display()
        );
        if let (Some(csm_id), Some(csm)) = (csm_ids.first(), company.csms.first()) {
            println!(
                "A token that opens on {}'s portfolio (prints its secret; sign in with it):",
                csm.name
            );
            let store = match &config.database_url {
                Some(url) => format!("--database-url '{url}'"),
                None => format!("--data-dir {}", config.data_dir.display()),
            };
            println!(
                "  nordstern token create --name '{} board' --scope scores:read --scope alerts:write --csm {csm_id} {store}",
                csm.name
            );
        }
        println!();
    }
    println!("  grpcurl -plaintext {addr} list          # reflection needs no token");
    println!("  nordstern token list                    # who may call, and when they last did");
    println!("  nordstern audit                         # writes, erasures and refused calls");
    println!("Press Ctrl-C to stop.");
    Ok(LoadReport {
        model_auc: model.auc,
        model_rows: model.rows,
        accounts_scored: scores.green + scores.yellow + scores.red,
        open_alerts: scores.open_alerts,
    })
}

struct TrainedModel {
    rows: usize,
    churned: usize,
    auc: Option<f64>,
    file: String,
    training_seconds: f64,
    scored: i32,
    scoring_seconds: f64,
}

/// Trains the churn model from the platform's own history (`TrainChurnModelFromHistory`:
/// features computed as of `CUTOFF_DAYS` before each renewal and churn from what the
/// services keep) and activates it. Only cut-offs with the usage a trend needs count:
/// usage was recorded for `USAGE_DAYS`. The generator's own view of that history is
/// also written as a CSV, the shape a CRM export would have, so `nordstern model train`
/// can be tried on it.
async fn train_churn_model(
    server: &Server,
    config: &Config,
    company: &Company,
) -> anyhow::Result<TrainedModel> {
    let history = company.history();
    let csv = company::history_csv(&history);
    let file = config.data_dir.join(HISTORY_FILE);
    std::fs::create_dir_all(&config.data_dir)
        .and_then(|()| std::fs::write(&file, &csv))
        .with_context(|| format!("writing {}", file.display()))?;
    let mut client = ScoringServiceClient::new(channel(server).await?);
    let training = Instant::now();
    let earliest_cutoff =
        Utc::now().date_naive() - Duration::days(company::USAGE_DAYS - company::FEATURE_DAYS);
    let model = client
        .train_churn_model_from_history(scoring::TrainChurnModelFromHistoryRequest {
            cutoff_days: company::CUTOFF_DAYS as i32,
            seed: 7,
            earliest_cutoff: Some(date(earliest_cutoff)),
            ..Default::default()
        })
        .await
        .context("training the churn model from the platform's history")?
        .into_inner()
        .model
        .unwrap_or_default();
    let training_seconds = training.elapsed().as_secs_f64();
    eprintln!("  churn model from history: trained in {training_seconds:.1} s");
    // Activating rescores every account with the new model.
    let started = Instant::now();
    let scored = client
        .activate_churn_model(scoring::ActivateChurnModelRequest {
            model_id: model.model_id.clone(),
        })
        .await
        .context("activating the churn model")?
        .into_inner()
        .accounts_rescored;
    let evaluation = model.evaluation.as_ref();
    Ok(TrainedModel {
        rows: evaluation.map_or(0, |e| (e.training_samples + e.held_out_samples) as usize),
        churned: evaluation.map_or(0, |e| e.churned_samples as usize),
        auc: evaluation.and_then(|e| e.auc),
        file: file.display().to_string(),
        training_seconds,
        scored,
        scoring_seconds: started.elapsed().as_secs_f64(),
    })
}

/// What the demo says about health once every account is scored.
struct HealthOverview {
    green: usize,
    yellow: usize,
    red: usize,
    open_alerts: usize,
    /// The account with the most ARR at risk.
    top_risk: Option<String>,
}

/// Summarises the traffic lights, alerts and the top of the risk list.
async fn health_scores(server: &Server) -> anyhow::Result<HealthOverview> {
    let mut client = ScoringServiceClient::new(channel(server).await?);
    let mut overview = HealthOverview {
        green: 0,
        yellow: 0,
        red: 0,
        open_alerts: 0,
        top_risk: None,
    };
    let scores = all_pages(
        scoring::ListHealthScoresRequest {
            page_size: MAX_PAGE_SIZE,
            ..Default::default()
        },
        |request| {
            let mut client = client.clone();
            async move { client.list_health_scores(request).await }
        },
    )
    .await?;
    for score in &scores {
        match common::HealthColor::try_from(score.color) {
            Ok(common::HealthColor::Green) => overview.green += 1,
            Ok(common::HealthColor::Yellow) => overview.yellow += 1,
            _ => overview.red += 1,
        }
    }
    let alerts = all_pages(
        scoring::ListAlertsRequest {
            page_size: MAX_PAGE_SIZE,
            ..Default::default()
        },
        |request| {
            let mut client = client.clone();
            async move { client.list_alerts(request).await }
        },
    )
    .await?;
    overview.open_alerts = alerts.len();
    let top = client
        .list_at_risk_accounts(scoring::ListAtRiskAccountsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner()
        .health_scores;
    overview.top_risk = top.first().map(|score| score.account_id.clone());
    Ok(overview)
}
