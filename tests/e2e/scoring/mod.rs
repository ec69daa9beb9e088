//! Scoring scenarios on known data, with every expected value worked out by hand from
//! the documented formulas (libs/domain/src/health*, libs/domain/src/churn*): health
//! scores and their components, configuration versions and refusals, colour changes
//! and the alert life cycle, CRM lists, churn models from CSV, upsell, alerts from usage
//! and surveys, the watch stream, erasure and export — and a real Redis killed and
//! restarted under the service.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1 as common,
    scoring::v1::{self as pb, scoring_service_client::ScoringServiceClient},
    survey::v1::{self as survey_pb, survey_service_client::SurveyServiceClient},
    usage::v1::{self as usage_pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::{
    Role,
    wire::{date_to_proto, timestamp},
};
use nordstern_tests::Channel;
use nordstern_tests::TestSuite;
use tonic::Code;

use crate::{in_every_combination, support::*};

mod alerts;
mod cache;
mod churn_models;
mod config;
mod lists;
mod privacy;
mod recompute;
mod scores;
mod upsell;

in_every_combination!(
    repeated_ids_in_a_batch_are_answered_each_time,
    watch_delivers_a_changed_score_of_the_watched_portfolio,
);

pub(crate) type Scoring = ScoringServiceClient<Channel>;

/// Default SME weights in component order (libs/domain/src/health/config.rs).
const SME_WEIGHTS: [f64; 9] = [20.0, 15.0, 10.0, 15.0, 10.0, 10.0, 5.0, 10.0, 5.0];

pub(crate) async fn scoring(suite: &TestSuite) -> Scoring {
    ScoringServiceClient::new(suite.channel(Role::Scoring).await)
}

pub(crate) fn days_from_now(days: i64) -> Option<common::Date> {
    Some(date_to_proto(
        (Utc::now() + Duration::days(days)).date_naive(),
    ))
}

/// Every event of a scenario happens a minute before the test started, so that day
/// offsets stay on their UTC day.
pub(crate) fn base_time() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(1)
}

pub(crate) struct NewAccount<'a> {
    pub(crate) name: &'a str,
    pub(crate) arr: i64,
    pub(crate) segment: common::Segment,
    pub(crate) start_days_ago: i64,
    pub(crate) renewal_in_days: i64,
    pub(crate) modules: &'a [&'a str],
    pub(crate) csm_id: &'a str,
}

impl Default for NewAccount<'_> {
    fn default() -> Self {
        NewAccount {
            name: "",
            arr: 1_000_000,
            segment: common::Segment::Sme,
            start_days_ago: 400,
            renewal_in_days: 200,
            modules: &[],
            csm_id: "",
        }
    }
}

/// Sixteen accounts named `name 0`…`name 15`, scored, then each given an outcome
/// effective tomorrow: the even ones churn, the odd ones renew for a year. What history
/// training learns from.
pub(crate) async fn accounts_with_outcomes(
    accounts: &mut Accounts,
    scores: &mut Scoring,
    name: &str,
) {
    let mut ids = Vec::new();
    for index in 0..16 {
        let name = format!("{name} {index}");
        let spec = NewAccount {
            name: &name,
            arr: 1_000_000 + index * 10_000,
            ..NewAccount::default()
        };
        ids.push(create(accounts, spec).await);
    }
    recompute_all(scores).await;
    for (index, account_id) in ids.iter().enumerate() {
        let (kind, renewal) = if index % 2 == 0 {
            (accounts_pb::ContractEventKind::Churn, None)
        } else {
            (accounts_pb::ContractEventKind::Renewal, days_from_now(366))
        };
        accounts
            .record_contract_event(event(
                account_id,
                kind,
                0,
                days_from_now(1),
                renewal,
                &format!("{name}-outcome-{index}"),
            ))
            .await
            .unwrap_or_else(|s| panic!("outcome {index}: {s}"));
    }
}

pub(crate) async fn create(client: &mut Accounts, spec: NewAccount<'_>) -> String {
    let mut request = new_account(spec.name, spec.arr);
    if let Some(account) = request.account.as_mut() {
        account.segment = spec.segment as i32;
        account.start_date = days_from_now(-spec.start_days_ago);
        account.renewal_date = days_from_now(spec.renewal_in_days);
        account.module_keys = spec.modules.iter().map(|m| (*m).to_owned()).collect();
    }
    let id = client
        .create_account(request)
        .await
        .unwrap_or_else(|s| panic!("create {}: {s}", spec.name))
        .into_inner()
        .account
        .unwrap_or_default()
        .account_id;
    if !spec.csm_id.is_empty() {
        client
            .assign_account(accounts_pb::AssignAccountRequest {
                account_id: id.clone(),
                csm_id: spec.csm_id.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("assign {}: {s}", spec.name));
    }
    id
}

/// The catalog of every scenario: analytics (dashboards, reports; 12,000.00), insights
/// (forecasts; 8,000.00) and workflows (automations; 5,000.00).
pub(crate) async fn catalog(client: &mut Accounts) {
    for (key, features, price) in [
        ("analytics", vec!["dashboards", "reports"], 1_200_000),
        ("insights", vec!["forecasts"], 800_000),
        ("workflows", vec!["automations"], 500_000),
    ] {
        client
            .upsert_product_module(accounts_pb::UpsertProductModuleRequest {
                module: Some(accounts_pb::ProductModule {
                    module_key: key.to_owned(),
                    name: key.to_owned(),
                    feature_keys: features.iter().map(|f| (*f).to_owned()).collect(),
                    list_price: eur(price),
                    has_integration: false,
                }),
            })
            .await
            .unwrap_or_else(|s| panic!("catalog: {s}"));
    }
}

pub(crate) fn usage_event(
    id: String,
    account_id: &str,
    kind: usage_pb::UsageEventKind,
    user: &str,
    key: &str,
    at: DateTime<Utc>,
) -> usage_pb::UsageEvent {
    let ticket = kind == usage_pb::UsageEventKind::TicketOpened
        || kind == usage_pb::UsageEventKind::TicketResolved;
    usage_pb::UsageEvent {
        event_id: id,
        account_id: account_id.to_owned(),
        user_id: user.to_owned(),
        kind: kind as i32,
        feature_key: if ticket {
            String::new()
        } else {
            key.to_owned()
        },
        ticket_id: if ticket {
            key.to_owned()
        } else {
            String::new()
        },
        occurred_at: Some(timestamp(at)),
        ..usage_pb::UsageEvent::default()
    }
}

fn login(account_id: &str, user: &str, at: DateTime<Utc>) -> usage_pb::UsageEvent {
    usage_event(
        format!("login-{user}-{}", at.timestamp_micros()),
        account_id,
        usage_pb::UsageEventKind::Login,
        user,
        "",
        at,
    )
}

pub(crate) async fn ingest(suite: &TestSuite, events: Vec<usage_pb::UsageEvent>) {
    let mut usage = UsageServiceClient::new(suite.channel(Role::Usage).await);
    for batch in events.chunks(1_000) {
        let response = usage
            .ingest_events(usage_pb::IngestEventsRequest {
                events: batch.to_vec(),
            })
            .await
            .unwrap_or_else(|s| panic!("ingest: {s}"))
            .into_inner();
        assert_eq!(response.rejected_count, 0, "{:?}", response.rejected_events);
    }
}

/// Four users log in every day of the last 120 days and `ann` uses each of `features`
/// once a day; the integration synced an hour ago: login regularity 100, usage flat
/// (trend 50), integration live, every listed feature in use. Usage per day: 4 logins
/// plus one use per feature.
pub(crate) async fn steady_usage(suite: &TestSuite, account_id: &str, features: &[&str]) {
    let now = base_time();
    let mut events = vec![usage_event(
        "sync".to_owned(),
        account_id,
        usage_pb::UsageEventKind::IntegrationSync,
        "",
        "",
        now - Duration::hours(1),
    )];
    for day in 0..120 {
        let at = now - Duration::days(day);
        for user in ["ann", "bob", "cem", "dan"] {
            events.push(login(account_id, user, at));
        }
        for feature in features {
            events.push(usage_event(
                format!("{feature}-{day}"),
                account_id,
                usage_pb::UsageEventKind::FeatureUsed,
                "ann",
                feature,
                at,
            ));
        }
    }
    ingest(suite, events).await;
}

pub(crate) async fn nps_campaign(suite: &TestSuite) -> String {
    SurveyServiceClient::new(suite.channel(Role::Survey).await)
        .create_campaign(survey_pb::CreateCampaignRequest {
            request_id: String::new(),
            campaign: Some(survey_pb::Campaign {
                name: "Quarterly NPS".to_owned(),
                kind: survey_pb::SurveyKind::Nps as i32,
                touchpoint: survey_pb::Touchpoint::Quarterly as i32,
                question_de: "Würden Sie uns empfehlen?".to_owned(),
                question_en: "Would you recommend us?".to_owned(),
                ..survey_pb::Campaign::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("campaign: {s}"))
        .into_inner()
        .campaign
        .unwrap_or_default()
        .campaign_id
}

async fn nps_response(
    suite: &TestSuite,
    campaign_id: &str,
    account_id: &str,
    score: i32,
) -> String {
    SurveyServiceClient::new(suite.channel(Role::Survey).await)
        .record_response(survey_pb::RecordResponseRequest {
            idempotency_key: format!("nps-{account_id}-{score}"),
            campaign_id: campaign_id.to_owned(),
            account_id: account_id.to_owned(),
            respondent_id: format!("contact@{account_id}"),
            score: Some(score),
            ..survey_pb::RecordResponseRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("respond: {s}"))
        .into_inner()
        .response
        .unwrap_or_default()
        .response_id
}

async fn health(client: &mut Scoring, account_id: &str) -> pb::HealthScore {
    client
        .get_health_score(pb::GetHealthScoreRequest {
            account_id: account_id.to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("get {account_id}: {s}"))
        .into_inner()
        .health_score
        .unwrap_or_default()
}

async fn recompute_one(client: &mut Scoring, account_id: &str) -> pb::HealthScore {
    client
        .recompute_health_score(pb::RecomputeHealthScoreRequest {
            account_id: account_id.to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("recompute {account_id}: {s}"))
        .into_inner()
        .health_score
        .unwrap_or_default()
}

pub(crate) async fn recompute_all(client: &mut Scoring) -> pb::RecomputeHealthScoresResponse {
    client
        .recompute_health_scores(pb::RecomputeHealthScoresRequest {
            account_ids: Vec::new(),
            all_accounts: true,
        })
        .await
        .unwrap_or_else(|s| panic!("recompute: {s}"))
        .into_inner()
}

async fn alerts(
    client: &mut Scoring,
    account_id: &str,
    statuses: &[pb::AlertStatus],
) -> Vec<pb::Alert> {
    client
        .list_alerts(pb::ListAlertsRequest {
            account_id: account_id.to_owned(),
            statuses: statuses.iter().map(|s| *s as i32).collect(),
            page_size: 1000,
            ..pb::ListAlertsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("alerts: {s}"))
        .into_inner()
        .alerts
}

fn of_type(alerts: &[pb::Alert], kind: pb::AlertType) -> Vec<pb::Alert> {
    alerts
        .iter()
        .filter(|a| a.alert_type == kind as i32)
        .cloned()
        .collect()
}

fn component(score: &pb::HealthScore, component: pb::HealthComponent) -> &pb::ComponentScore {
    score
        .components
        .iter()
        .find(|c| c.component == component as i32)
        .unwrap_or_else(|| panic!("no {component:?} in {score:?}"))
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

/// The weighted mean of the present values (in component order) under `weights`.
fn weighted(values: [Option<f64>; 9], weights: [f64; 9]) -> f64 {
    let (sum, total) = values
        .iter()
        .zip(weights)
        .filter_map(|(v, w)| v.map(|v| (v * w, w)))
        .fold((0.0, 0.0), |(s, t), (vw, w)| (s + vw, t + w));
    sum / total
}

/// The default churn model's logit from its documented terms (log-odds per standard
/// deviation, with mean and standard deviation), for the features given.
fn default_logit(features: &[(&str, f64)]) -> f64 {
    let mut logit = (0.15f64 / 0.85).ln();
    for (name, contribution) in default_contributions(features) {
        assert!(!name.is_empty());
        logit += contribution;
    }
    logit
}

fn default_contributions(features: &[(&str, f64)]) -> Vec<(String, f64)> {
    let terms = [
        ("arr", -0.30, 30_000.0, 40_000.0),
        ("login_regularity", -0.45, 50.0, 25.0),
        ("feature_breadth", -0.40, 50.0, 25.0),
        ("integration", -0.25, 50.0, 40.0),
        ("usage_trend", -0.55, 50.0, 20.0),
        ("peer_percentile", -0.20, 50.0, 29.0),
        ("nps", -0.35, 50.0, 25.0),
        ("ces", -0.15, 50.0, 25.0),
        ("support_load", -0.30, 70.0, 20.0),
        ("time_to_renewal", -0.25, 50.0, 30.0),
    ];
    features
        .iter()
        .map(|(name, value)| {
            let (_, coefficient, mean, sd) = terms
                .iter()
                .find(|t| t.0 == *name)
                .unwrap_or_else(|| panic!("{name} is not a default-model feature"));
            ((*name).to_owned(), coefficient * (value - mean) / sd)
        })
        .collect()
}

fn sigmoid(logit: f64) -> f64 {
    1.0 / (1.0 + (-logit).exp())
}

pub(crate) fn money(value: &Option<common::Money>) -> i64 {
    value.as_ref().map_or(i64::MIN, |m| m.minor_units)
}

fn weights(segment: common::Segment, entries: &[(i32, f64)]) -> pb::SegmentWeights {
    pb::SegmentWeights {
        segment: segment as i32,
        weights: entries
            .iter()
            .map(|&(component, weight)| pb::ComponentWeight { component, weight })
            .collect(),
    }
}

fn thresholds(green_min: f64, yellow_min: f64) -> pb::UpdateScoringConfigRequest {
    pb::UpdateScoringConfigRequest {
        config: Some(pb::ScoringConfig {
            color_thresholds: Some(pb::ColorThresholds {
                green_min,
                yellow_min,
            }),
            ..pb::ScoringConfig::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["color_thresholds".to_owned()],
        }),
        validate_only: false,
    }
}

fn segment_weights(entries: Vec<pb::SegmentWeights>) -> pb::UpdateScoringConfigRequest {
    pb::UpdateScoringConfigRequest {
        config: Some(pb::ScoringConfig {
            segment_weights: entries,
            ..pb::ScoringConfig::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["segment_weights".to_owned()],
        }),
        validate_only: false,
    }
}

async fn current_config(client: &mut Scoring) -> pb::ScoringConfig {
    client
        .get_scoring_config(pb::GetScoringConfigRequest { version: 0 })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .config
        .unwrap_or_default()
}

async fn update(
    client: &mut Scoring,
    request: pb::UpdateScoringConfigRequest,
) -> pb::UpdateScoringConfigResponse {
    client
        .update_scoring_config(request)
        .await
        .unwrap_or_else(|s| panic!("update config: {s}"))
        .into_inner()
}

/// CSM A owns W, CSM B owns X; a watcher of A's portfolio sees W change and nothing of X.
async fn watch_delivers_a_changed_score_of_the_watched_portfolio(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let a = create_csm(&mut accounts_client, "Anna Alt", 50)
        .await
        .csm_id;
    let b = create_csm(&mut accounts_client, "Bert Berg", 50)
        .await
        .csm_id;
    let w = create(
        &mut accounts_client,
        NewAccount {
            name: "Watched",
            csm_id: &a,
            ..NewAccount::default()
        },
    )
    .await;
    let x = create(
        &mut accounts_client,
        NewAccount {
            name: "Other",
            csm_id: &b,
            ..NewAccount::default()
        },
    )
    .await;
    let mut client = scoring(suite).await;
    recompute_all(&mut client).await;
    let before = health(&mut client, &w).await;

    let mut watch = client
        .watch_health_scores(pb::WatchHealthScoresRequest {
            csm_id: a.clone(),
            ..pb::WatchHealthScoresRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    // Both change: a login today lifts login regularity.
    let now = base_time();
    ingest(suite, vec![login(&w, "wim", now), login(&x, "xia", now)]).await;
    recompute_all(&mut client).await;
    let after = health(&mut client, &w).await;
    assert!(after.score > before.score, "{before:?} → {after:?}");

    let bound = StdDuration::from_secs(5);
    let seen = tokio::time::timeout(bound, watch.message())
        .await
        .unwrap_or_else(|_| panic!("no watched score within {bound:?}"))
        .unwrap_or_else(|s| panic!("{s}"))
        .and_then(|m| m.health_score)
        .unwrap_or_else(|| panic!("the stream ended"));
    assert_eq!(seen, after, "the new score of W, as stored");
    // X belongs to B: nothing more arrives for this watcher.
    let more = tokio::time::timeout(StdDuration::from_millis(500), watch.message()).await;
    assert!(
        more.is_err(),
        "a score outside the filter arrived: {more:?}"
    );
    // An unchanged recompute announces nothing either.
    recompute_one(&mut client, &w).await;
    let quiet = tokio::time::timeout(StdDuration::from_millis(500), watch.message()).await;
    assert!(quiet.is_err(), "an unchanged score arrived: {quiet:?}");
}

async fn repeated_ids_in_a_batch_are_answered_each_time(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let id = create(
        &mut accounts_client,
        NewAccount {
            name: "Twice",
            ..NewAccount::default()
        },
    )
    .await;
    let batch = scoring(suite)
        .await
        .batch_get_health_scores(pb::BatchGetHealthScoresRequest {
            account_ids: vec![id.clone(), id.clone()],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let ids: Vec<&str> = batch
        .health_scores
        .iter()
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str(), id.as_str()]);
    assert!(batch.missing_account_ids.is_empty());
}

async fn opportunities(
    client: &mut Scoring,
    request: pb::ListUpsellOpportunitiesRequest,
) -> Vec<pb::UpsellOpportunity> {
    client
        .list_upsell_opportunities(request)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .opportunities
}
