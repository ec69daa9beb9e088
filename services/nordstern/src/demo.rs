//! A generated demo company, loaded through the public gRPC API exactly as an
//! integration would: product modules, CSMs, accounts with log-normal ARR and a contract
//! history (expansions, contractions, renewals, churn), survey responses, 90 days of
//! product usage, then balanced portfolios.

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
    survey::v1::{self as survey_pb, survey_service_client::SurveyServiceClient},
};
use nordstern_runtime::Config;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tonic::transport::Channel;

mod usage;

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

/// The usage pseudonym key of `nordstern demo` when none is configured.
pub const DEMO_PSEUDONYM_KEY: &str = "nordstern-demo-only-pseudonym-key-0000";

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
    let mut live_accounts = Vec::new();
    let mut live_usage = Vec::new();
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
                pb::ContractEventKind::Churn => {
                    current_arr = 0;
                    break;
                }
                pb::ContractEventKind::Renewal => {
                    current_arr += change;
                    term_end += Duration::days(365);
                }
                _ => current_arr += change,
            }
        }
        if current_arr > 0 {
            let features: Vec<String> = MODULES[..module_count]
                .iter()
                .flat_map(|module| module.2.iter().map(|f| (*f).to_owned()))
                .collect();
            live_usage.push((account.account_id.clone(), features));
            live_accounts.push(account.account_id);
        }
    }
    let survey = survey_responses(url, &mut rng, &live_accounts, options.seed).await?;
    let usage = usage::load(url, &mut rng, &live_usage, Utc::now()).await?;
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
    let scores = health_scores(url).await?;
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
    let nps = survey.nps.unwrap_or_default();
    println!(
        "  NPS over the last 90 days: {} ± {:.1} ({} promoters, {} passives, {} detractors; response rate {})",
        nps.nps.map_or("n/a".to_owned(), |v| format!("{v:.0}")),
        nps.margin_of_error.unwrap_or(0.0),
        nps.promoters,
        nps.passives,
        nps.detractors,
        percent(survey.response_rate)
    );
    println!(
        "  usage: {} events over 90 days ingested in {:.1} s ({:.0} events/s); {} accounts used at least 30 % less in the last 30 days",
        usage.events,
        usage.seconds,
        usage.events as f64 / usage.seconds.max(1e-9),
        usage.dropping.len()
    );
    println!(
        "  health: {} green, {} yellow, {} red (recomputed in {:.1} s); {} open alerts; highest ARR at risk: {}",
        scores.green,
        scores.yellow,
        scores.red,
        scores.seconds,
        scores.open_alerts,
        scores.top_risk
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
    println!(
        "  grpcurl -plaintext -d '{{\"page_size\": 5}}' {addr} nordstern.survey.v1.SurveyService/ListDetractorResponses"
    );
    if let Some(account_id) = usage.dropping.first() {
        println!(
            "  grpcurl -plaintext -d '{{\"account_id\": \"{account_id}\"}}' {addr} nordstern.usage.v1.UsageService/GetUsageSummary"
        );
    }
    println!(
        "  grpcurl -plaintext -d '{{\"page_size\": 5}}' {addr} nordstern.scoring.v1.ScoringService/ListAtRiskAccounts"
    );
    println!("Press Ctrl-C to stop.");
    Ok(())
}

/// What the demo says about health once every account is scored.
struct HealthOverview {
    green: usize,
    yellow: usize,
    red: usize,
    open_alerts: usize,
    top_risk: String,
    seconds: f64,
}

/// Recomputes every account's health (the scheduled recompute would do it within the
/// hour) and summarises the traffic lights, alerts and the top of the risk list.
async fn health_scores(url: &str) -> anyhow::Result<HealthOverview> {
    use nordstern_proto::scoring::v1::{
        self as scoring, scoring_service_client::ScoringServiceClient,
    };
    let mut client = ScoringServiceClient::new(
        tonic::transport::Endpoint::from_shared(url.to_owned())?
            .timeout(std::time::Duration::from_secs(600))
            .connect()
            .await?,
    );
    let started = std::time::Instant::now();
    client
        .recompute_health_scores(scoring::RecomputeHealthScoresRequest {
            account_ids: Vec::new(),
            all_accounts: true,
        })
        .await
        .context("scoring every account")?;
    let seconds = started.elapsed().as_secs_f64();
    let mut overview = HealthOverview {
        green: 0,
        yellow: 0,
        red: 0,
        open_alerts: 0,
        top_risk: "none".to_owned(),
        seconds,
    };
    let mut page_token = String::new();
    loop {
        let page = client
            .list_health_scores(scoring::ListHealthScoresRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner();
        for score in &page.health_scores {
            match common::HealthColor::try_from(score.color) {
                Ok(common::HealthColor::Green) => overview.green += 1,
                Ok(common::HealthColor::Yellow) => overview.yellow += 1,
                _ => overview.red += 1,
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut page_token = String::new();
    loop {
        let page = client
            .list_alerts(scoring::ListAlertsRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner();
        overview.open_alerts += page.alerts.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let top = client
        .list_at_risk_accounts(scoring::ListAtRiskAccountsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner()
        .health_scores;
    if let Some(score) = top.first() {
        let risk = score.arr_at_risk.as_ref().map_or(0, |m| m.minor_units);
        let probability = score.churn.as_ref().map_or(0.0, |c| c.probability);
        overview.top_risk = format!(
            "{} ({:.0} at risk, churn {:.0} %, score {:.0})",
            score.account_id,
            risk as f64 / 100.0,
            probability * 100.0,
            score.score
        );
    }
    Ok(overview)
}

/// An NPS campaign to two contacts at every live account, answered by token by most of
/// them; returns the company statistics of the last 90 days.
async fn survey_responses(
    url: &str,
    rng: &mut StdRng,
    accounts: &[String],
    seed: u64,
) -> anyhow::Result<survey_pb::SurveyStats> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect()
        .await?;
    let mut client = SurveyServiceClient::new(channel);
    let campaign = client
        .create_campaign(survey_pb::CreateCampaignRequest {
            request_id: format!("demo-{seed}-nps"),
            campaign: Some(survey_pb::Campaign {
                name: "Quarterly NPS".to_owned(),
                kind: survey_pb::SurveyKind::Nps as i32,
                touchpoint: survey_pb::Touchpoint::Quarterly as i32,
                question_de: "Wie wahrscheinlich ist es, dass Sie uns einem Kollegen empfehlen?"
                    .to_owned(),
                question_en: "How likely are you to recommend us to a colleague?".to_owned(),
                ..survey_pb::Campaign::default()
            }),
        })
        .await
        .context("creating the survey campaign")?
        .into_inner()
        .campaign
        .unwrap_or_default();
    let targets: Vec<survey_pb::InvitationTarget> = accounts
        .iter()
        .flat_map(|account_id| {
            ["champion", "user"].map(|role| survey_pb::InvitationTarget {
                account_id: account_id.clone(),
                respondent_id: format!("{role}@{account_id}"),
                language: if rng.random_bool(0.5) {
                    common::Language::German as i32
                } else {
                    common::Language::English as i32
                },
            })
        })
        .collect();
    for chunk in targets.chunks(1000) {
        let invitations = client
            .create_invitations(survey_pb::CreateInvitationsRequest {
                campaign_id: campaign.campaign_id.clone(),
                targets: chunk.to_vec(),
            })
            .await
            .context("inviting respondents")?
            .into_inner()
            .invitations;
        for invitation in invitations {
            // Draw everything first, so a second run with the same seed makes the same
            // choices and finds them already answered.
            let responds = rng.random_bool(0.65);
            // Scores skewed the way B2B NPS usually is: many 7–9s, a tail of detractors.
            let score = (normal(rng, 7.6, 2.1).round() as i32).clamp(0, 10);
            let response_id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
            if !responds || invitation.responded_at.is_some() {
                continue;
            }
            client
                .submit_response(survey_pb::SubmitResponseRequest {
                    token: invitation.token,
                    response_id: response_id.to_string(),
                    score: Some(score),
                    ..survey_pb::SubmitResponseRequest::default()
                })
                .await
                .context("answering invitations")?;
        }
    }
    let today = Utc::now().date_naive();
    let stats = client
        .get_survey_stats(survey_pb::GetSurveyStatsRequest {
            scope: Some(common::Scope {
                scope: Some(common::scope::Scope::Company(true)),
            }),
            window: Some(common::Period {
                start_date: Some(date(today - Duration::days(89))),
                end_date: Some(date(today + Duration::days(1))),
            }),
        })
        .await?
        .into_inner()
        .stats
        .unwrap_or_default();
    Ok(stats)
}
