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

in_every_combination!(
    health_score_on_known_data,
    an_integration_never_set_up_is_a_finding_and_none_to_set_up_is_left_out,
    config_refusals_versions_and_the_color_drop_alert_life_cycle,
    crm_lists_filter_page_and_order,
    churn_models_from_csv_and_activation,
    churn_model_from_platform_history,
    repeated_ids_in_a_batch_are_answered_each_time,
    upsell_only_for_green_accounts_with_high_adoption,
    alerts_from_usage_surveys_renewals_and_ownership,
    watch_delivers_a_changed_score_of_the_watched_portfolio,
    export_then_erase_leaves_nothing_and_scores_afresh,
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

/// G: SME, ARR 50,000.00, bought analytics (dashboards, reports), four users every day,
/// both features used, integration live, one ticket resolved in 48 h and one open, NPS
/// promoter, no CES. D: same CSM and segment, nothing but a renewal date.
async fn health_score_on_known_data(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    catalog(&mut accounts_client).await;
    let csm = create_csm(&mut accounts_client, "Clara Berg", 50).await;
    let g = create(
        &mut accounts_client,
        NewAccount {
            name: "Grün AG",
            arr: 5_000_000,
            modules: &["analytics"],
            csm_id: &csm.csm_id,
            ..NewAccount::default()
        },
    )
    .await;
    let d = create(
        &mut accounts_client,
        NewAccount {
            name: "Dunkel KG",
            arr: 2_000_000,
            csm_id: &csm.csm_id,
            ..NewAccount::default()
        },
    )
    .await;
    steady_usage(suite, &g, &["dashboards", "reports"]).await;
    let now = base_time();
    let ticket = |id: &str, kind, key: &str, days: i64| {
        usage_event(id.to_owned(), &g, kind, "", key, now - Duration::days(days))
    };
    ingest(
        suite,
        vec![
            ticket("t1", usage_pb::UsageEventKind::TicketOpened, "T1", 20),
            ticket(
                "t1-done",
                usage_pb::UsageEventKind::TicketResolved,
                "T1",
                18,
            ),
            ticket("t2", usage_pb::UsageEventKind::TicketOpened, "T2", 10),
        ],
    )
    .await;
    let campaign = nps_campaign(suite).await;
    nps_response(suite, &campaign, &g, 10).await;

    let mut client = scoring(suite).await;
    // The first read computes on the spot.
    let green = health(&mut client, &g).await;

    // By hand: login 100 (4 of 4 users on every day of 7/30/90), breadth 100 (2 of 2
    // purchased features), integration 100 (live), trend 50 (180 a month, as before),
    // peers 100 (top of portfolio and segment), NPS 100, CES missing, support
    // 100 − 10 (one open) − 10 (two in 30 days) − 7.5 (48 h median) = 72.5, renewal
    // 100 (200 days away).
    let values = [
        Some(100.0),
        Some(100.0),
        Some(100.0),
        Some(50.0),
        Some(100.0),
        Some(100.0),
        None,
        Some(72.5),
        Some(100.0),
    ];
    assert_eq!(green.components.len(), 9, "{green:?}");
    let order: Vec<i32> = green.components.iter().map(|c| c.component).collect();
    assert_eq!(
        order,
        (1..=9).collect::<Vec<i32>>(),
        "all nine, in enum order"
    );
    for (at, c) in green.components.iter().enumerate() {
        match values[at] {
            Some(value) => {
                assert!(c.used, "{c:?}");
                assert!(c.value.is_some_and(|v| close(v, value)), "{c:?} vs {value}");
                assert!(close(c.normalized_weight, SME_WEIGHTS[at] / 95.0), "{c:?}");
                assert!(
                    close(c.contribution, value * SME_WEIGHTS[at] / 95.0),
                    "{c:?}"
                );
            }
            None => {
                assert!(!c.used && c.value.is_none(), "{c:?}");
                assert_eq!((c.normalized_weight, c.contribution), (0.0, 0.0));
            }
        }
        assert_eq!(c.weight, SME_WEIGHTS[at], "configured weight of {c:?}");
    }
    let expected_score = 8_475.0 / 95.0;
    assert!(close(expected_score, weighted(values, SME_WEIGHTS)));
    assert!(close(green.score, expected_score), "{green:?}");
    let normalized: f64 = green.components.iter().map(|c| c.normalized_weight).sum();
    let contributions: f64 = green.components.iter().map(|c| c.contribution).sum();
    assert!(close(normalized, 1.0) && close(contributions, green.score));
    assert_eq!(green.color, common::HealthColor::Green as i32);
    assert_eq!(
        green.previous_color,
        common::HealthColor::Unspecified as i32
    );
    assert_eq!((green.config_version, green.version), (1, 1));
    assert_eq!(green.csm_id, csm.csm_id);
    assert_eq!(green.segment, common::Segment::Sme as i32);
    assert_eq!(money(&green.arr), 5_000_000);

    // The default model on ARR 50,000.00 and the eight values present (CES sits at its
    // mean and contributes nothing).
    let features = [
        ("arr", 50_000.0),
        ("login_regularity", 100.0),
        ("feature_breadth", 100.0),
        ("integration", 100.0),
        ("usage_trend", 50.0),
        ("peer_percentile", 100.0),
        ("nps", 100.0),
        ("support_load", 72.5),
        ("time_to_renewal", 100.0),
    ];
    let churn = green.churn.clone().unwrap_or_default();
    assert_eq!(
        (churn.model_id.as_str(), churn.model_version),
        ("default", 0)
    );
    let probability = sigmoid(default_logit(&features));
    assert!(churn.probability > 0.0 && churn.probability < 1.0);
    assert!(
        close(churn.probability, probability),
        "{} vs {probability}",
        churn.probability
    );
    // Largest |contribution| first: login −0.9, breadth −0.8, NPS −0.7, renewal
    // −0.4167, peers −0.3448 (usage trend at its mean contributes nothing).
    let mut expected_drivers = default_contributions(&features);
    expected_drivers.retain(|(_, c)| *c != 0.0);
    expected_drivers.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    expected_drivers.truncate(5);
    let names: Vec<&str> = churn
        .top_drivers
        .iter()
        .map(|d| d.feature.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "login_regularity",
            "feature_breadth",
            "nps",
            "time_to_renewal",
            "peer_percentile"
        ]
    );
    for (driver, (name, contribution)) in churn.top_drivers.iter().zip(&expected_drivers) {
        assert_eq!(&driver.feature, name);
        assert!(close(driver.contribution, *contribution), "{driver:?}");
    }
    assert_eq!(
        money(&green.arr_at_risk),
        (5_000_000.0 * churn.probability).round() as i64
    );

    // D by hand: login 0, peers 0 (bottom of both groups), support 100, renewal 100;
    // breadth, integration, trend, NPS and CES missing: (0 + 0 + 1000 + 500) / 45, red.
    let dark = health(&mut client, &d).await;
    let used: Vec<bool> = dark.components.iter().map(|c| c.used).collect();
    assert_eq!(
        used,
        [true, false, false, false, true, false, false, true, true]
    );
    assert!(close(dark.score, 1_500.0 / 45.0), "{dark:?}");
    assert_eq!(dark.color, common::HealthColor::Red as i32);
    let dark_probability = sigmoid(default_logit(&[
        ("arr", 20_000.0),
        ("login_regularity", 0.0),
        ("peer_percentile", 0.0),
        ("support_load", 100.0),
        ("time_to_renewal", 100.0),
    ]));
    let churn = dark.churn.clone().unwrap_or_default();
    assert!(close(churn.probability, dark_probability));
    assert!(churn.top_drivers.len() <= 5);
    assert_eq!(
        money(&dark.arr_at_risk),
        (2_000_000.0 * dark_probability).round() as i64
    );

    // Reads come from the cache or the database; every recompute is a new version.
    assert_eq!(health(&mut client, &g).await, green);
    let again = recompute_one(&mut client, &g).await;
    assert_eq!(again.version, 2);
    assert!(close(again.score, green.score));
    assert_eq!(health(&mut client, &g).await.version, 2);
    let report = recompute_all(&mut client).await;
    assert_eq!(report.accounts_scored, 2);
    assert_eq!(health(&mut client, &g).await.version, 3);
    assert_eq!(health(&mut client, &d).await.version, 2);
    assert_invalid(
        client
            .get_health_score(pb::GetHealthScoreRequest {
                account_id: "x".to_owned(),
            })
            .await,
        &["account_id"],
    );
    assert_code(
        client
            .get_health_score(pb::GetHealthScoreRequest {
                account_id: "00000000-0000-7000-8000-00000000beef".to_owned(),
            })
            .await,
        Code::NotFound,
    );
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

/// "sync" comes with an integration, "analytics" without: an account that bought "sync"
/// and never synced scores 0 on the integration (a finding), one that bought only
/// "analytics" leaves the component out, and one that syncs scores 100.
async fn an_integration_never_set_up_is_a_finding_and_none_to_set_up_is_left_out(
    suite: &TestSuite,
) {
    let mut accounts_client = accounts(suite).await;
    catalog(&mut accounts_client).await;
    let module = accounts_client
        .upsert_product_module(accounts_pb::UpsertProductModuleRequest {
            module: Some(accounts_pb::ProductModule {
                module_key: "sync".to_owned(),
                name: "CRM sync".to_owned(),
                feature_keys: vec!["sync-settings".to_owned()],
                list_price: eur(300_000),
                has_integration: true,
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("catalog: {s}"))
        .into_inner()
        .module
        .unwrap_or_default();
    assert!(module.has_integration);
    let account = |name, modules| NewAccount {
        name,
        modules,
        ..NewAccount::default()
    };
    let not_set_up = create(&mut accounts_client, account("Ohne Sync AG", &["sync"])).await;
    let not_applicable = create(
        &mut accounts_client,
        account("Nur Analyse AG", &["analytics"]),
    )
    .await;
    let live = create(&mut accounts_client, account("Mit Sync AG", &["sync"])).await;
    let now = base_time();
    ingest(
        suite,
        vec![usage_event(
            "sync-1".to_owned(),
            &live,
            usage_pb::UsageEventKind::IntegrationSync,
            "",
            "",
            now - Duration::days(2),
        )],
    )
    .await;
    let mut client = scoring(suite).await;
    let integration = |score: &pb::HealthScore| {
        score
            .components
            .iter()
            .find(|c| c.component == pb::HealthComponent::Integration as i32)
            .cloned()
            .unwrap_or_default()
    };
    let missing = integration(&recompute_one(&mut client, &not_set_up).await);
    assert_eq!((missing.value, missing.used), (Some(0.0), true));
    assert!(
        missing.explanation.contains("never set up"),
        "{}",
        missing.explanation
    );
    let left_out = integration(&recompute_one(&mut client, &not_applicable).await);
    assert_eq!((left_out.value, left_out.used), (None, false));
    assert_eq!(left_out.normalized_weight, 0.0);
    assert!(
        left_out.explanation.contains("no purchased module"),
        "{}",
        left_out.explanation
    );
    let synced = integration(&recompute_one(&mut client, &live).await);
    assert_eq!((synced.value, synced.used), (Some(100.0), true));
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

/// G: SME, assigned, four users every day, integration live, no modules, no surveys:
/// login 100, integration 100, trend 50, support 100, renewal 100 under weights
/// 20/10/15/10/5 → 87.5, green under the default 70/40.
async fn config_refusals_versions_and_the_color_drop_alert_life_cycle(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let csm = create_csm(&mut accounts_client, "Clara Berg", 50).await;
    let g = create(
        &mut accounts_client,
        NewAccount {
            name: "Grün AG",
            csm_id: &csm.csm_id,
            ..NewAccount::default()
        },
    )
    .await;
    steady_usage(suite, &g, &[]).await;
    let mut client = scoring(suite).await;
    let first = recompute_one(&mut client, &g).await;
    assert!(close(first.score, 87.5), "{first:?}");
    assert_eq!(first.color, common::HealthColor::Green as i32);

    let default = current_config(&mut client).await;
    assert_eq!(default.version, 1);
    assert_eq!(
        default.color_thresholds,
        Some(pb::ColorThresholds {
            green_min: 70.0,
            yellow_min: 40.0
        })
    );
    let segments: Vec<i32> = default.segment_weights.iter().map(|s| s.segment).collect();
    assert_eq!(
        segments[0],
        common::Segment::Unspecified as i32,
        "{segments:?}"
    );
    assert_eq!(segments.len(), 3, "default, enterprise, prosumer");
    let sme: Vec<f64> = default.segment_weights[0]
        .weights
        .iter()
        .map(|w| w.weight)
        .collect();
    assert_eq!(sme, SME_WEIGHTS);

    // Refusals, field by field; none of them changes anything.
    let login = pb::HealthComponent::LoginRegularity as i32;
    let support = pb::HealthComponent::SupportLoad as i32;
    let unspecified = common::Segment::Unspecified;
    let refusals: Vec<(pb::UpdateScoringConfigRequest, Vec<&str>)> = vec![
        (
            segment_weights(vec![weights(
                unspecified,
                &[(login, -1.0), (support, 10.0)],
            )]),
            vec!["config.segment_weights[0].weights[0].weight"],
        ),
        (
            thresholds(50.0, 50.0),
            vec!["config.color_thresholds.yellow_min"],
        ),
        (
            thresholds(40.0, 60.0),
            vec!["config.color_thresholds.yellow_min"],
        ),
        (
            segment_weights(vec![weights(common::Segment::Sme, &[(support, 10.0)])]),
            vec!["config.segment_weights"],
        ),
        (
            segment_weights(vec![weights(unspecified, &[(42, 1.0), (support, 10.0)])]),
            vec!["config.segment_weights[0].weights[0].component"],
        ),
    ];
    for (request, fields) in refusals {
        let mut dry = request.clone();
        dry.validate_only = true;
        assert_invalid(client.update_scoring_config(dry).await, &fields);
        assert_invalid(client.update_scoring_config(request).await, &fields);
        assert_eq!(current_config(&mut client).await, default);
    }

    // validate_only answers with what the config would be and stores nothing.
    let mut dry = thresholds(99.0, 98.0);
    dry.validate_only = true;
    let would = update(&mut client, dry).await;
    assert_eq!(would.accounts_rescored, 0);
    assert_eq!(would.config.as_ref().map(|c| c.version), Some(2));
    assert_eq!(current_config(&mut client).await, default);
    let unchanged = health(&mut client, &g).await;
    assert_eq!((unchanged.version, unchanged.color), (1, first.color));

    // Thresholds that turn G red: version 2, everyone rescored.
    let strict = update(&mut client, thresholds(99.0, 98.0)).await;
    assert_eq!(strict.config.as_ref().map(|c| c.version), Some(2));
    assert_eq!(strict.accounts_rescored, 1);
    assert_eq!(current_config(&mut client).await.version, 2);
    let old = client
        .get_scoring_config(pb::GetScoringConfigRequest { version: 1 })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .config
        .unwrap_or_default();
    assert_eq!(old.version, 1);
    assert_eq!(old.color_thresholds, default.color_thresholds);
    let red = health(&mut client, &g).await;
    assert_eq!(
        (
            red.color,
            red.previous_color,
            red.config_version,
            red.version
        ),
        (
            common::HealthColor::Red as i32,
            common::HealthColor::Green as i32,
            2,
            2
        )
    );
    assert!(
        close(red.score, 87.5),
        "the thresholds move, the score does not"
    );
    assert_eq!(red.color_changed_at, red.computed_at);

    let changes = |downward_only| pb::ListColorChangesRequest {
        account_id: g.clone(),
        downward_only,
        ..pb::ListColorChangesRequest::default()
    };
    let drops = client
        .list_color_changes(changes(true))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .color_changes;
    assert_eq!(drops.len(), 1, "{drops:?}");
    assert_eq!(
        (
            drops[0].from_color,
            drops[0].to_color,
            drops[0].csm_id.as_str()
        ),
        (
            common::HealthColor::Green as i32,
            common::HealthColor::Red as i32,
            csm.csm_id.as_str()
        )
    );
    let all_changes = client
        .list_color_changes(changes(false))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .color_changes;
    let pairs: Vec<(i32, i32)> = all_changes
        .iter()
        .map(|c| (c.from_color, c.to_color))
        .collect();
    assert_eq!(
        pairs,
        [
            (
                common::HealthColor::Green as i32,
                common::HealthColor::Red as i32
            ),
            (
                common::HealthColor::Unspecified as i32,
                common::HealthColor::Green as i32
            )
        ],
        "newest first: the drop, then the first colour"
    );

    // One COLOR_DROP alert, however often the account is recomputed while it is open.
    for _ in 0..2 {
        recompute_all(&mut client).await;
    }
    let drop_alerts = of_type(
        &alerts(&mut client, &g, &[]).await,
        pb::AlertType::ColorDrop,
    );
    assert_eq!(drop_alerts.len(), 1, "{drop_alerts:?}");
    let alert = drop_alerts[0].clone();
    assert_eq!(alert.reason, "GREEN → RED");
    assert_eq!(
        (alert.status, alert.csm_id.as_str(), money(&alert.arr)),
        (pb::AlertStatus::Open as i32, csm.csm_id.as_str(), 1_000_000)
    );

    // Acknowledge twice: the second is a no-op.
    let mut acknowledged = Vec::new();
    for _ in 0..2 {
        acknowledged.push(
            client
                .acknowledge_alert(pb::AcknowledgeAlertRequest {
                    alert_id: alert.alert_id.clone(),
                })
                .await
                .unwrap_or_else(|s| panic!("{s}"))
                .into_inner()
                .alert
                .unwrap_or_default(),
        );
    }
    assert_eq!(acknowledged[0].status, pb::AlertStatus::Acknowledged as i32);
    assert!(acknowledged[0].acknowledged_at.is_some());
    assert_eq!(acknowledged[0], acknowledged[1]);
    // Still open for deduplication.
    recompute_one(&mut client, &g).await;
    assert_eq!(
        of_type(
            &alerts(&mut client, &g, &[]).await,
            pb::AlertType::ColorDrop
        )
        .len(),
        1
    );

    let mut resolved = Vec::new();
    for _ in 0..2 {
        resolved.push(
            client
                .resolve_alert(pb::ResolveAlertRequest {
                    alert_id: alert.alert_id.clone(),
                })
                .await
                .unwrap_or_else(|s| panic!("{s}"))
                .into_inner()
                .alert
                .unwrap_or_default(),
        );
    }
    assert_eq!(resolved[0].status, pb::AlertStatus::Resolved as i32);
    assert!(resolved[0].resolved_at.is_some());
    assert_eq!(resolved[0].acknowledged_at, acknowledged[0].acknowledged_at);
    assert_eq!(resolved[0], resolved[1], "resolving again is a no-op");
    assert!(
        of_type(
            &alerts(&mut client, &g, &[]).await,
            pb::AlertType::ColorDrop
        )
        .is_empty(),
        "the default lists open and acknowledged only"
    );
    assert_code(
        client
            .resolve_alert(pb::ResolveAlertRequest {
                alert_id: "00000000-0000-7000-8000-000000000000".to_owned(),
            })
            .await,
        Code::NotFound,
    );

    // Back to green (version 3), then red again (version 4): the same situation after
    // the resolve opens a new alert.
    let relaxed = update(&mut client, thresholds(70.0, 40.0)).await;
    assert_eq!(relaxed.config.as_ref().map(|c| c.version), Some(3));
    assert_eq!(
        health(&mut client, &g).await.color,
        common::HealthColor::Green as i32
    );
    let again = update(&mut client, thresholds(99.0, 98.0)).await;
    assert_eq!(again.config.as_ref().map(|c| c.version), Some(4));
    let open = of_type(
        &alerts(&mut client, &g, &[]).await,
        pb::AlertType::ColorDrop,
    );
    assert_eq!(open.len(), 1, "{open:?}");
    assert_ne!(open[0].alert_id, alert.alert_id);
    assert_eq!(
        (open[0].reason.as_str(), open[0].status),
        ("GREEN → RED", pb::AlertStatus::Open as i32)
    );
    let every = of_type(
        &alerts(
            &mut client,
            &g,
            &[
                pb::AlertStatus::Open,
                pb::AlertStatus::Acknowledged,
                pb::AlertStatus::Resolved,
            ],
        )
        .await,
        pb::AlertType::ColorDrop,
    );
    assert_eq!(every.len(), 2, "{every:?}");
    let downward = client
        .list_color_changes(changes(true))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .color_changes;
    assert_eq!(downward.len(), 2, "two drops, the recovery left out");
}

async fn list_scores(client: &mut Scoring, request: pb::ListHealthScoresRequest) -> Vec<String> {
    let mut ids = Vec::new();
    let mut request = request;
    loop {
        let page = client
            .list_health_scores(request.clone())
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        ids.extend(page.health_scores.into_iter().map(|s| s.account_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        request.page_token = page.next_page_token;
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Two CSMs: A owns G (SME, busy, green) and E (enterprise, idle); B owns R (SME, idle);
/// P (prosumer) has nobody.
async fn crm_lists_filter_page_and_order(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let a = create_csm(&mut accounts_client, "Anna Alt", 50)
        .await
        .csm_id;
    let b = create_csm(&mut accounts_client, "Bert Berg", 50)
        .await
        .csm_id;
    let spec = |name, arr, segment, csm_id| NewAccount {
        name,
        arr,
        segment,
        csm_id,
        ..NewAccount::default()
    };
    let g = create(
        &mut accounts_client,
        spec("Grün", 5_000_000, common::Segment::Sme, &a),
    )
    .await;
    let e = create(
        &mut accounts_client,
        spec("Enterprise", 9_000_000, common::Segment::Enterprise, &a),
    )
    .await;
    let r = create(
        &mut accounts_client,
        spec("Rot", 3_000_000, common::Segment::Sme, &b),
    )
    .await;
    let p = create(
        &mut accounts_client,
        spec("Prosumer", 100_000, common::Segment::Prosumer, ""),
    )
    .await;
    steady_usage(suite, &g, &[]).await;
    let mut client = scoring(suite).await;
    let report = recompute_all(&mut client).await;
    assert_eq!(report.accounts_scored, 4);
    let all = sorted(vec![g.clone(), e.clone(), r.clone(), p.clone()]);

    // Filters.
    let by = |color: common::HealthColor, csm_id: &str, segment: common::Segment| {
        pb::ListHealthScoresRequest {
            color: color as i32,
            csm_id: csm_id.to_owned(),
            segment: segment as i32,
            ..pb::ListHealthScoresRequest::default()
        }
    };
    use common::{HealthColor as C, Segment as S};
    assert_eq!(
        list_scores(&mut client, by(C::Green, "", S::Unspecified)).await,
        [g.as_str()]
    );
    // E by hand: enterprise weights, login 0 (10), peers 0 (5, bottom of A's
    // portfolio), support 100 (10), renewal 100 (10) → 2000 / 35, yellow. R: SME, login
    // 0 (20), peers 0 (10), support 100 (10), renewal 100 (5) → 1500 / 45, red. P:
    // prosumer, alone: login 0 (30), support and renewal 100 (5 each) → 25, red.
    assert_eq!(
        list_scores(&mut client, by(C::Yellow, "", S::Unspecified)).await,
        [e.as_str()]
    );
    assert_eq!(
        sorted(list_scores(&mut client, by(C::Red, "", S::Unspecified)).await),
        sorted(vec![r.clone(), p.clone()])
    );
    assert_eq!(
        sorted(list_scores(&mut client, by(C::Unspecified, &a, S::Unspecified)).await),
        sorted(vec![g.clone(), e.clone()])
    );
    assert_eq!(
        sorted(list_scores(&mut client, by(C::Unspecified, "", S::Sme)).await),
        sorted(vec![g.clone(), r.clone()])
    );
    assert_eq!(
        list_scores(&mut client, by(C::Yellow, &a, S::Enterprise)).await,
        [e.as_str()]
    );
    assert!(
        list_scores(&mut client, by(C::Red, &a, S::Unspecified))
            .await
            .is_empty()
    );

    // One per page: every account exactly once, no duplicates, no gaps.
    let mut pages = 0;
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_health_scores(pb::ListHealthScoresRequest {
                page_size: 1,
                page_token,
                ..pb::ListHealthScoresRequest::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        pages += 1;
        assert!(page.health_scores.len() <= 1);
        seen.extend(page.health_scores.into_iter().map(|s| s.account_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(pages <= 10, "no end to the pages");
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(sorted(seen), all);

    // changed_since: only R changes after the cut (a login today).
    let cut = Utc::now();
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    ingest(suite, vec![login(&r, "rita", base_time())]).await;
    recompute_all(&mut client).await;
    let since = |page_size| pb::ListHealthScoresRequest {
        changed_since: Some(timestamp(cut)),
        page_size,
        ..pb::ListHealthScoresRequest::default()
    };
    assert_eq!(list_scores(&mut client, since(0)).await, [r.as_str()]);
    assert_eq!(list_scores(&mut client, since(1)).await, [r.as_str()]);
    let unchanged = health(&mut client, &g).await;
    assert_eq!(unchanged.version, 2);
    assert!(
        unchanged.changed_at.as_ref().map(|t| (t.seconds, t.nanos))
            < Some((timestamp(cut).seconds, timestamp(cut).nanos))
    );

    // A batch in request order, the missing id reported.
    let missing = "00000000-0000-7000-8000-00000000beef".to_owned();
    let batch = client
        .batch_get_health_scores(pb::BatchGetHealthScoresRequest {
            account_ids: vec![p.clone(), missing.clone(), g.clone(), r.clone()],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let ids: Vec<&str> = batch
        .health_scores
        .iter()
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(ids, [p.as_str(), g.as_str(), r.as_str()]);
    assert_eq!(batch.missing_account_ids, [missing]);

    // At risk: ARR × probability, highest first; one CSM's portfolio.
    let at_risk = |csm_id: &str| pb::ListAtRiskAccountsRequest {
        csm_id: csm_id.to_owned(),
        ..pb::ListAtRiskAccountsRequest::default()
    };
    let risk = client
        .list_at_risk_accounts(at_risk(""))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .health_scores;
    assert_eq!(risk.len(), 4);
    for score in &risk {
        let probability = score.churn.as_ref().map_or(-1.0, |c| c.probability);
        assert_eq!(
            money(&score.arr_at_risk),
            (money(&score.arr) as f64 * probability).round() as i64
        );
    }
    let amounts: Vec<i64> = risk.iter().map(|s| money(&s.arr_at_risk)).collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");
    let mine = client
        .list_at_risk_accounts(at_risk(&a))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .health_scores;
    let mine: Vec<&str> = mine.iter().map(|s| s.account_id.as_str()).collect();
    let expected: Vec<&str> = risk
        .iter()
        .filter(|s| s.csm_id == a)
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(mine, expected);
    assert_eq!(mine.len(), 2);

    // History: newest first, one entry per computation.
    recompute_one(&mut client, &g).await;
    let history = client
        .list_health_score_history(pb::ListHealthScoreHistoryRequest {
            account_id: g.clone(),
            ..pb::ListHealthScoreHistoryRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .entries;
    assert_eq!(history.len(), 3, "{history:?}");
    let times: Vec<(i64, i32)> = history
        .iter()
        .map(|h| {
            h.computed_at
                .as_ref()
                .map_or((0, 0), |t| (t.seconds, t.nanos))
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
    let latest = health(&mut client, &g).await;
    assert_eq!(latest.version, 3);
    assert_eq!(
        history[0].computed_at, latest.computed_at,
        "the newest entry is the latest score"
    );
    // G by hand: login 100, integration 100, trend 50, peers 100, support 100,
    // renewal 100 under 20/10/15/10/10/5 → 6250 / 70.
    assert!(close(latest.score, 6_250.0 / 70.0), "{latest:?}");
    assert!(
        history
            .iter()
            .all(|h| close(h.score, latest.score) && h.color == common::HealthColor::Green as i32)
    );
    // Paged one by one, the same entries.
    let mut paged = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_health_score_history(pb::ListHealthScoreHistoryRequest {
                account_id: g.clone(),
                page_size: 1,
                page_token,
                ..pb::ListHealthScoreHistoryRequest::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        paged.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(paged.len() <= 10);
    }
    assert_eq!(paged, history);
}

/// A deterministic CSV of `rows` accounts over platform columns (plus `extra`), churn
/// driven by low login regularity and falling usage.
fn history_csv(rows: usize, extra: Option<&str>) -> String {
    let mut csv = String::from("arr,login_regularity,usage_trend,segment");
    if let Some(extra) = extra {
        csv.push(',');
        csv.push_str(extra);
    }
    csv.push_str(",churned\n");
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for row in 0..rows {
        let login = 100.0 * next();
        let trend = 100.0 * next();
        let arr = 5_000.0 + 100_000.0 * next();
        let risk = 1.0 / (1.0 + (0.06 * (login - 50.0) + 0.04 * (trend - 50.0)).exp());
        let churned = next() < risk;
        let segment = ["SME", "ENTERPRISE", "PROSUMER"][row % 3];
        csv.push_str(&format!("{arr:.2},{login:.1},{trend:.1},{segment}"));
        if extra.is_some() {
            csv.push_str(&format!(",{}", row % 7));
        }
        csv.push_str(if churned { ",yes\n" } else { ",no\n" });
    }
    csv
}

fn csv_request(csv: String, numeric: &[&str]) -> pb::TrainChurnModelFromCsvRequest {
    pb::TrainChurnModelFromCsvRequest {
        content: Some(pb::train_churn_model_from_csv_request::Content::CsvText(
            csv,
        )),
        numeric_columns: numeric.iter().map(|c| (*c).to_owned()).collect(),
        categorical_columns: vec!["segment".to_owned()],
        label_column: "churned".to_owned(),
        seed: 7,
        ..pb::TrainChurnModelFromCsvRequest::default()
    }
}

/// A model trained on a company's own columns cannot score accounts, but it scores
/// rows: each with the probability its coefficients give and its top drivers.
async fn predict_with_a_model_of_foreign_columns(client: &mut Scoring, model: &pb::ChurnModel) {
    let csv = "crm_id,arr,login_regularity,usage_trend,segment,seats\n\
               RISKY,20000,5,5,SME,3\n\
               SAFE,20000,95,95,SME,3\n\
               SPARSE,,50,50,,\n"
        .to_owned();
    let answer = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::CsvText(csv)),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        (answer.model_id.as_str(), answer.model_version),
        (model.model_id.as_str(), model.version)
    );
    let rows: Vec<(i32, i32, &str)> = answer
        .predictions
        .iter()
        .map(|p| (p.index, p.line, p.id.as_str()))
        .collect();
    assert_eq!(rows, [(0, 2, "RISKY"), (1, 3, "SAFE"), (2, 4, "SPARSE")]);
    let (risky, safe) = (&answer.predictions[0], &answer.predictions[1]);
    assert!(
        risky.probability > safe.probability,
        "few logins and falling usage churn more: {} vs {}",
        risky.probability,
        safe.probability
    );
    // The coefficients applied by hand give the same probability.
    let row = [
        ("arr", Some(20_000.0)),
        ("login_regularity", Some(5.0)),
        ("usage_trend", Some(5.0)),
        ("seats", Some(3.0)),
    ];
    let mut logit = model.intercept;
    for c in &model.coefficients {
        if let Some((_, Some(value))) = row.iter().find(|(name, _)| *name == c.feature) {
            logit += c.coefficient * (value - c.mean) / c.standard_deviation;
        } else if c.feature == "segment=SME" {
            logit += c.coefficient;
        }
    }
    let by_hand = 1.0 / (1.0 + (-logit).exp());
    assert!(
        (risky.probability - by_hand).abs() < 1e-9,
        "{} vs {by_hand}",
        risky.probability
    );
    let sizes: Vec<f64> = risky
        .top_drivers
        .iter()
        .map(|d| d.contribution.abs())
        .collect();
    assert!(
        !sizes.is_empty() && sizes.windows(2).all(|w| w[0] >= w[1]),
        "{sizes:?}"
    );
    // Rows given directly score the same; an unknown feature is named.
    let direct = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::Rows(pb::FeatureRows {
                rows: vec![pb::FeatureRow {
                    id: "RISKY".to_owned(),
                    numeric: row
                        .iter()
                        .filter_map(|(name, value)| Some(((*name).to_owned(), (*value)?)))
                        .collect(),
                    categorical: [("segment".to_owned(), "SME".to_owned())].into(),
                }],
            })),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!((direct.predictions[0].probability - risky.probability).abs() < 1e-12);
    assert_invalid(
        client
            .predict_churn(pb::PredictChurnRequest {
                model_id: model.model_id.clone(),
                content: Some(pb::predict_churn_request::Content::Rows(pb::FeatureRows {
                    rows: vec![pb::FeatureRow {
                        numeric: [("height".to_owned(), 1.0)].into(),
                        ..pb::FeatureRow::default()
                    }],
                })),
                ..pb::PredictChurnRequest::default()
            })
            .await,
        &["rows.rows[0].numeric[height]"],
    );
    // A bad cell and a missing column are both named, by line and column.
    let refused = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::CsvText(
                "arr,login_regularity,segment,seats\nlots,5,SME,1\n".to_owned(),
            )),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a CSV without usage_trend must be refused"));
    assert_eq!(refused.code(), Code::InvalidArgument);
    let said: Vec<String> = nordstern_runtime::status::field_violations(&refused)
        .into_iter()
        .map(|(field, description)| format!("{field}: {description}"))
        .collect();
    assert_eq!(
        said,
        ["csv_text: no column named 'usage_trend' in the header; the model needs it"]
    );
    let refused = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::CsvText(
                "arr,login_regularity,usage_trend,segment,seats\nlots,5,5,SME,1\n1,2,3,SME,x\n"
                    .to_owned(),
            )),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("bad cells must be refused"));
    let said: Vec<String> = nordstern_runtime::status::field_violations(&refused)
        .into_iter()
        .map(|(_, description)| description)
        .collect();
    assert_eq!(
        said,
        [
            "line 2: 'lots' in column arr is not a number",
            "line 3: 'x' in column seats is not a number"
        ]
    );
    assert_code(
        client
            .predict_churn(pb::PredictChurnRequest {
                model_id: "00000000-0000-7000-8000-000000000042".to_owned(),
                content: Some(pb::predict_churn_request::Content::CsvText(
                    "arr\n1\n".to_owned(),
                )),
                ..pb::PredictChurnRequest::default()
            })
            .await,
        Code::NotFound,
    );
}

async fn churn_models_from_csv_and_activation(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let id = create(
        &mut accounts_client,
        NewAccount {
            name: "Modelled AG",
            arr: 2_000_000,
            ..NewAccount::default()
        },
    )
    .await;
    let mut client = scoring(suite).await;
    let active = client
        .get_churn_model(pb::GetChurnModelRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    assert_eq!(
        (active.model_id.as_str(), active.version, active.active),
        ("default", 0, true)
    );
    assert_eq!(active.source, pb::ChurnModelSource::Default as i32);
    let platform = ["arr", "login_regularity", "usage_trend"];

    let trained = client
        .train_churn_model_from_csv(csv_request(history_csv(400, None), &platform))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    let evaluation = trained.evaluation.unwrap_or_default();
    assert!(!trained.active && trained.activatable && trained.version == 1);
    assert_eq!(trained.source, pb::ChurnModelSource::Csv as i32);
    assert!(
        evaluation.auc.is_some_and(|auc| auc > 0.5 && auc <= 1.0),
        "{evaluation:?}"
    );
    assert!(evaluation.brier_score.is_some_and(|b| b < 0.25));
    assert_eq!(
        evaluation.training_samples + evaluation.held_out_samples,
        400
    );
    let login = trained
        .coefficients
        .iter()
        .find(|c| c.feature == "login_regularity")
        .map_or(0.0, |c| c.coefficient);
    assert!(login < 0.0, "more logins, less churn: {login}");

    let foreign = client
        .train_churn_model_from_csv(csv_request(
            history_csv(400, Some("seats")),
            &["arr", "login_regularity", "usage_trend", "seats"],
        ))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    assert!(!foreign.activatable && foreign.version == 2);
    predict_with_a_model_of_foreign_columns(&mut client, &foreign).await;
    assert_code(
        client
            .activate_churn_model(pb::ActivateChurnModelRequest {
                model_id: foreign.model_id.clone(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_invalid(
        client
            .train_churn_model_from_csv(csv_request(history_csv(50, None), &["arr", "nope"]))
            .await,
        &["numeric_columns[1]"],
    );
    let mut bad = history_csv(250, None);
    bad.push_str("lots,1,2,SME,no\n");
    // Sent as text, the problem is reported under the field that was set.
    assert_invalid(
        client
            .train_churn_model_from_csv(csv_request(bad.clone(), &platform))
            .await,
        &["csv_text"],
    );
    let mut request = csv_request(bad, &platform);
    if let Some(pb::train_churn_model_from_csv_request::Content::CsvText(text)) =
        request.content.take()
    {
        request.content = Some(pb::train_churn_model_from_csv_request::Content::CsvData(
            text.into_bytes(),
        ));
    }
    assert_invalid(
        client.train_churn_model_from_csv(request).await,
        &["csv_data"],
    );
    let models = client
        .list_churn_models(pb::ListChurnModelsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .models;
    assert_eq!(models.len(), 3, "refused uploads store no model");
    let before = health(&mut client, &id).await;
    assert_eq!(
        before.churn.as_ref().map(|c| c.model_id.as_str()),
        Some("default"),
        "training alone activates nothing"
    );

    let activated = client
        .activate_churn_model(pb::ActivateChurnModelRequest {
            model_id: trained.model_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(activated.model.as_ref().is_some_and(|m| m.active));
    assert!(activated.accounts_rescored > 0);
    assert_eq!(activated.accounts_rescored, 1);
    let rescored = health(&mut client, &id).await;
    assert_eq!(rescored.version, before.version + 1);
    let churn = rescored.churn.unwrap_or_default();
    assert_eq!(
        (churn.model_id, churn.model_version),
        (trained.model_id.clone(), 1)
    );
    assert!(churn.probability > 0.0 && churn.probability < 1.0);

    let models = client
        .list_churn_models(pb::ListChurnModelsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .models;
    let versions: Vec<i32> = models.iter().map(|m| m.version).collect();
    assert_eq!(versions, vec![2, 1, 0], "newest first, the default last");
    assert_eq!(models.last().map(|m| m.model_id.as_str()), Some("default"));
    assert_eq!(
        models
            .iter()
            .find(|m| m.active)
            .map(|m| m.model_id.as_str()),
        Some(trained.model_id.as_str())
    );
    assert_eq!(models.iter().filter(|m| m.active).count(), 1);
    let active = client
        .get_churn_model(pb::GetChurnModelRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    assert_eq!(active.model_id, trained.model_id);
    // Back to the built-in model.
    client
        .activate_churn_model(pb::ActivateChurnModelRequest {
            model_id: "default".to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let churn = health(&mut client, &id).await.churn.unwrap_or_default();
    assert_eq!(churn.model_id, "default");
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

/// All three bought analytics (dashboards, reports). G uses both every day (green);
/// Y's one user used both once today (yellow); R never logged in (red).
async fn upsell_only_for_green_accounts_with_high_adoption(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    catalog(&mut accounts_client).await;
    let csm = create_csm(&mut accounts_client, "Clara Berg", 50)
        .await
        .csm_id;
    let spec = |name, arr| NewAccount {
        name,
        arr,
        modules: &["analytics"],
        csm_id: &csm,
        ..NewAccount::default()
    };
    let g = create(&mut accounts_client, spec("Grün", 5_000_000)).await;
    let y = create(&mut accounts_client, spec("Gelb", 3_000_000)).await;
    let r = create(&mut accounts_client, spec("Rot", 2_000_000)).await;
    steady_usage(suite, &g, &["dashboards", "reports"]).await;
    let now = base_time();
    ingest(
        suite,
        ["dashboards", "reports"]
            .iter()
            .map(|feature| {
                usage_event(
                    format!("y-{feature}"),
                    &y,
                    usage_pb::UsageEventKind::FeatureUsed,
                    "ann",
                    feature,
                    now,
                )
            })
            .collect(),
    )
    .await;
    let mut client = scoring(suite).await;
    recompute_all(&mut client).await;

    // G: login, breadth, integration, peers, support, renewal 100, trend 50 → 7750 / 85.
    let green = health(&mut client, &g).await;
    assert!(close(green.score, 7_750.0 / 85.0), "{green:?}");
    assert_eq!(green.color, common::HealthColor::Green as i32);
    // Y: login 100 × (0.7 × (1/7 + 1/30 + 1/90) / 3 + 0.3), breadth 100, peers 50 (the
    // middle of G, Y and R in portfolio and segment), support and renewal 100 under
    // 20/15/10/10/5: 69.79, yellow despite full adoption.
    let login = 100.0 * (0.7 * (1.0 / 7.0 + 1.0 / 30.0 + 1.0 / 90.0) / 3.0 + 0.3);
    let yellow = health(&mut client, &y).await;
    assert!(
        close(
            yellow.score,
            (20.0 * login + 1_500.0 + 500.0 + 1_000.0 + 500.0) / 60.0
        ),
        "{yellow:?}"
    );
    assert_eq!(yellow.color, common::HealthColor::Yellow as i32);
    assert_eq!(
        component(&yellow, pb::HealthComponent::FeatureBreadth).value,
        Some(100.0)
    );
    assert_eq!(
        health(&mut client, &r).await.color,
        common::HealthColor::Red as i32
    );

    // Only G, only what it has not bought, by expected value: insights (8,000.00)
    // before workflows (5,000.00).
    let offers = opportunities(&mut client, pb::ListUpsellOpportunitiesRequest::default()).await;
    let keys: Vec<(&str, &str)> = offers
        .iter()
        .map(|o| (o.account_id.as_str(), o.module_key.as_str()))
        .collect();
    assert_eq!(keys, [(g.as_str(), "insights"), (g.as_str(), "workflows")]);
    let likelihood = 0.05 + 0.55 * green.score / 100.0 * 1.0;
    for (offer, price) in offers.iter().zip([800_000i64, 500_000]) {
        assert!(close(offer.likelihood, likelihood), "{offer:?}");
        assert_eq!(money(&offer.list_price), price);
        assert_eq!(
            money(&offer.expected_value),
            (price as f64 * likelihood).round() as i64
        );
        assert_eq!(offer.csm_id, csm);
        assert_eq!(
            offer.reason,
            "green account using 100 % of its purchased features"
        );
    }
    for account_id in [&y, &r] {
        assert!(
            opportunities(
                &mut client,
                pb::ListUpsellOpportunitiesRequest {
                    account_id: account_id.clone(),
                    ..pb::ListUpsellOpportunitiesRequest::default()
                }
            )
            .await
            .is_empty()
        );
    }
    assert_eq!(
        opportunities(
            &mut client,
            pb::ListUpsellOpportunitiesRequest {
                csm_id: csm.clone(),
                page_size: 1,
                ..pb::ListUpsellOpportunitiesRequest::default()
            }
        )
        .await
        .len(),
        1
    );

    // G turning yellow withdraws its offers.
    update(
        &mut client,
        pb::UpdateScoringConfigRequest {
            validate_only: false,
            ..thresholds(95.0, 40.0)
        },
    )
    .await;
    assert_eq!(
        health(&mut client, &g).await.color,
        common::HealthColor::Yellow as i32
    );
    let left = opportunities(&mut client, pb::ListUpsellOpportunitiesRequest::default()).await;
    assert!(left.is_empty(), "{left:?}");
}

async fn alerts_from_usage_surveys_renewals_and_ownership(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let csm = create_csm(&mut accounts_client, "Clara Berg", 50)
        .await
        .csm_id;
    let owned = |name| NewAccount {
        name,
        csm_id: &csm,
        ..NewAccount::default()
    };
    // U: `ann` logged in every day from 30 to 119 days ago (30 a month), then on 3 of
    // the last 30 days: a 90 % drop.
    let u = create(&mut accounts_client, owned("Usage Drop")).await;
    let now = base_time();
    let mut events: Vec<usage_pb::UsageEvent> = (30..120)
        .map(|day| login(&u, "ann", now - Duration::days(day)))
        .collect();
    events.extend((1..=3).map(|day| login(&u, "ann", now - Duration::days(day))));
    ingest(suite, events).await;
    let detractor_account = create(&mut accounts_client, owned("Detractor")).await;
    let new_account = create(
        &mut accounts_client,
        NewAccount {
            name: "Neu GmbH",
            start_days_ago: 10,
            ..NewAccount::default()
        },
    )
    .await;
    let old_unassigned = create(
        &mut accounts_client,
        NewAccount {
            name: "Alt GmbH",
            ..NewAccount::default()
        },
    )
    .await;
    let renewing = create(
        &mut accounts_client,
        NewAccount {
            renewal_in_days: 30,
            ..owned("Renewal Soon")
        },
    )
    .await;
    let renewing_green = create(
        &mut accounts_client,
        NewAccount {
            renewal_in_days: 60,
            ..owned("Renewal Green")
        },
    )
    .await;
    steady_usage(suite, &renewing_green, &[]).await;

    let mut client = scoring(suite).await;
    let report = recompute_all(&mut client).await;
    assert_eq!(report.accounts_scored, 6);

    let drop = health(&mut client, &u).await;
    // 3 this month against 90 / 3: ratio 0.1, trend component 0.
    assert_eq!(
        component(&drop, pb::HealthComponent::UsageTrend).value,
        Some(0.0)
    );
    let usage_drops = of_type(
        &alerts(&mut client, &u, &[]).await,
        pb::AlertType::UsageDrop,
    );
    assert_eq!(usage_drops.len(), 1, "{usage_drops:?}");
    assert_eq!(
        usage_drops[0].reason,
        "usage of the last 30 days at least 30 % below the average month of the 3 months before"
    );
    assert_eq!(usage_drops[0].csm_id, csm);

    let unassigned = of_type(
        &alerts(&mut client, &new_account, &[]).await,
        pb::AlertType::UnassignedAccount,
    );
    assert_eq!(unassigned.len(), 1, "{unassigned:?}");
    let start = (Utc::now() - Duration::days(10)).date_naive();
    assert_eq!(
        unassigned[0].reason,
        format!("new account (start {start}) without CSM")
    );
    assert!(unassigned[0].csm_id.is_empty());
    assert!(
        of_type(
            &alerts(&mut client, &old_unassigned, &[]).await,
            pb::AlertType::UnassignedAccount
        )
        .is_empty(),
        "an account of 400 days is not new"
    );

    let renewal = health(&mut client, &renewing).await;
    assert_ne!(renewal.color, common::HealthColor::Green as i32);
    let at_risk = of_type(
        &alerts(&mut client, &renewing, &[]).await,
        pb::AlertType::RenewalAtRisk,
    );
    assert_eq!(at_risk.len(), 1, "{at_risk:?}");
    let renewal_date = (Utc::now() + Duration::days(30)).date_naive();
    assert_eq!(
        at_risk[0].reason,
        format!("renewal on {renewal_date} within 90 days while not green")
    );
    assert_eq!(
        health(&mut client, &renewing_green).await.color,
        common::HealthColor::Green as i32
    );
    assert!(
        of_type(
            &alerts(&mut client, &renewing_green, &[]).await,
            pb::AlertType::RenewalAtRisk
        )
        .is_empty(),
        "a green account renewing soon is not at risk"
    );

    // A detractor response is alerted on by the next recompute, once.
    assert!(
        of_type(
            &alerts(&mut client, &detractor_account, &[]).await,
            pb::AlertType::Detractor
        )
        .is_empty()
    );
    let campaign = nps_campaign(suite).await;
    let response = nps_response(suite, &campaign, &detractor_account, 3).await;
    for _ in 0..2 {
        recompute_all(&mut client).await;
    }
    let detractors = of_type(
        &alerts(&mut client, &detractor_account, &[]).await,
        pb::AlertType::Detractor,
    );
    assert_eq!(detractors.len(), 1, "{detractors:?}");
    assert_eq!(detractors[0].survey_response_id, response);
    assert_eq!(
        detractors[0].reason,
        format!("detractor response {response}")
    );
    assert_eq!(detractors[0].csm_id, csm);
    // NPS −100 → component 0.
    assert_eq!(
        component(
            &health(&mut client, &detractor_account).await,
            pb::HealthComponent::Nps
        )
        .value,
        Some(0.0)
    );

    // The same situations do not raise again while open; by CSM and by type.
    for _ in 0..2 {
        let again = of_type(
            &alerts(&mut client, &u, &[]).await,
            pb::AlertType::UsageDrop,
        );
        assert_eq!(again.len(), 1);
    }
    let mine = client
        .list_alerts(pb::ListAlertsRequest {
            csm_id: csm.clone(),
            alert_types: vec![pb::AlertType::Detractor as i32],
            ..pb::ListAlertsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .alerts;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].account_id, detractor_account);

    // One open alert per account and type: a second detractor (another contact) updates
    // the open one (latest reason, last raised, count) and opens it again after an
    // acknowledgement.
    client
        .acknowledge_alert(pb::AcknowledgeAlertRequest {
            alert_id: detractors[0].alert_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let second = SurveyServiceClient::new(suite.channel(Role::Survey).await)
        .record_response(survey_pb::RecordResponseRequest {
            idempotency_key: "second-detractor".to_owned(),
            campaign_id: campaign.clone(),
            account_id: detractor_account.clone(),
            respondent_id: "cfo@detractor".to_owned(),
            score: Some(1),
            ..survey_pb::RecordResponseRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .response
        .unwrap_or_default()
        .response_id;
    recompute_all(&mut client).await;
    let updated = of_type(
        &alerts(&mut client, &detractor_account, &[]).await,
        pb::AlertType::Detractor,
    );
    assert_eq!(updated.len(), 1, "{updated:?}");
    let updated = &updated[0];
    assert_eq!(updated.alert_id, detractors[0].alert_id);
    assert_eq!(
        (
            updated.reason.as_str(),
            updated.survey_response_id.as_str(),
            updated.raise_count,
            updated.status
        ),
        (
            format!("detractor response {second}").as_str(),
            second.as_str(),
            2,
            pb::AlertStatus::Open as i32
        )
    );
    assert_eq!(updated.raised_at, detractors[0].raised_at);
    let micros = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos / 1_000))
    };
    assert!(micros(&updated.last_raised_at) > micros(&detractors[0].raised_at));

    // An answer given weeks before it was recorded (a backfill) raises nothing.
    let quiet_account = create(&mut accounts_client, owned("Backfilled")).await;
    SurveyServiceClient::new(suite.channel(Role::Survey).await)
        .record_response(survey_pb::RecordResponseRequest {
            idempotency_key: "backfilled-detractor".to_owned(),
            campaign_id: campaign.clone(),
            account_id: quiet_account.clone(),
            respondent_id: "old@backfilled".to_owned(),
            score: Some(0),
            responded_at: Some(timestamp(now - Duration::days(20))),
            ..survey_pb::RecordResponseRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    recompute_all(&mut client).await;
    assert!(
        of_type(
            &alerts(&mut client, &quiet_account, &[]).await,
            pb::AlertType::Detractor
        )
        .is_empty(),
        "an answer 20 days old when recorded is past the 14-day default"
    );

    // A cleared situation resolves its alert on the next recompute, and says why.
    accounts_client
        .assign_account(accounts_pb::AssignAccountRequest {
            account_id: new_account.clone(),
            csm_id: csm.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let report = recompute_all(&mut client).await;
    assert!(report.alerts_resolved >= 1, "{report:?}");
    let resolved = of_type(
        &alerts(&mut client, &new_account, &[pb::AlertStatus::Resolved]).await,
        pb::AlertType::UnassignedAccount,
    );
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].resolution, "a CSM took the account");
    assert!(resolved[0].resolved_at.is_some());
    // Resolving by hand says so too.
    let by_hand = client
        .resolve_alert(pb::ResolveAlertRequest {
            alert_id: updated.alert_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .alert
        .unwrap_or_default();
    assert_eq!(by_hand.resolution, "resolved by a CSM");
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

/// G: green, bought analytics and uses it fully (so it has offers), a detractor (so it
/// has an alert); computed three times. O: another account that must stay untouched.
async fn export_then_erase_leaves_nothing_and_scores_afresh(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    catalog(&mut accounts_client).await;
    let g = create(
        &mut accounts_client,
        NewAccount {
            name: "Grün AG",
            modules: &["analytics"],
            ..NewAccount::default()
        },
    )
    .await;
    let o = create(
        &mut accounts_client,
        NewAccount {
            name: "Other",
            segment: common::Segment::Enterprise,
            ..NewAccount::default()
        },
    )
    .await;
    steady_usage(suite, &g, &["dashboards", "reports"]).await;
    let campaign = nps_campaign(suite).await;
    let response = nps_response(suite, &campaign, &g, 2).await;
    let mut client = scoring(suite).await;
    for _ in 0..3 {
        recompute_all(&mut client).await;
    }
    let latest = health(&mut client, &g).await;
    // Login, breadth, integration 100, trend 50, NPS 0, support and renewal 100 under
    // 20/15/10/15/10/10/5 (no peers: alone in portfolio and segment) → 6750 / 85.
    assert!(close(latest.score, 6_750.0 / 85.0), "{latest:?}");
    assert_eq!(
        (latest.version, latest.color),
        (3, common::HealthColor::Green as i32)
    );
    let other = health(&mut client, &o).await;

    let export = client
        .export_account_scoring_data(pb::ExportAccountScoringDataRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(export.health_score.as_ref(), Some(&latest));
    let versions: Vec<i64> = export.history.iter().map(|s| s.version).collect();
    assert_eq!(versions, [3, 2, 1], "every computation, newest first");
    assert_eq!(export.color_changes.len(), 1, "{:?}", export.color_changes);
    assert_eq!(
        export.color_changes[0].to_color,
        common::HealthColor::Green as i32
    );
    assert_eq!(export.alerts.len(), 1, "{:?}", export.alerts);
    assert_eq!(export.alerts[0].survey_response_id, response);
    let modules: Vec<&str> = export
        .opportunities
        .iter()
        .map(|o| o.module_key.as_str())
        .collect();
    assert_eq!(modules, ["insights", "workflows"]);

    let erased = client
        .erase_account_scoring_data(pb::EraseAccountScoringDataRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        (
            erased.scores_erased,
            erased.color_changes_erased,
            erased.alerts_erased
        ),
        (3, 1, 1)
    );
    let after = client
        .export_account_scoring_data(pb::ExportAccountScoringDataRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(after, pb::ExportAccountScoringDataResponse::default());
    assert!(
        opportunities(
            &mut client,
            pb::ListUpsellOpportunitiesRequest {
                account_id: g.clone(),
                ..pb::ListUpsellOpportunitiesRequest::default()
            }
        )
        .await
        .is_empty()
    );
    let again = client
        .erase_account_scoring_data(pb::EraseAccountScoringDataRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(again, pb::EraseAccountScoringDataResponse::default());
    // The other account is untouched.
    assert_eq!(health(&mut client, &o).await, other);

    // The next read computes a first version afresh (not the cached one).
    let fresh = health(&mut client, &g).await;
    assert_eq!(fresh.version, 1, "{fresh:?}");
    assert!(close(fresh.score, latest.score));
    assert_eq!(
        fresh.previous_color,
        common::HealthColor::Unspecified as i32
    );
}

/// A real Redis under the service is killed and restarted: reads keep answering from the
/// database with no client-visible error, and the cache fills again on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_reads_fall_back_to_the_database_and_the_cache_recovers() {
    use nordstern_tests::{Backend, Topology, redis_server::RedisServer};

    let mut redis = RedisServer::start();
    let url = redis.url();
    let suite = TestSuite::start_with(Backend::Postgres, Topology::OneServer, |config| {
        config.redis_url = Some(url.clone());
    })
    .await;
    let mut accounts_client = accounts(&suite).await;
    let mut ids = Vec::new();
    for index in 0..3 {
        let name = format!("Cached {index}");
        ids.push(
            create(
                &mut accounts_client,
                NewAccount {
                    name: &name,
                    ..NewAccount::default()
                },
            )
            .await,
        );
    }
    let mut client = scoring(&suite).await;
    recompute_all(&mut client).await;
    let namespace = suite.config().scoring.cache_namespace.clone();
    let cached_keys = |url: String, namespace: String| async move {
        let client = redis::Client::open(url).unwrap_or_else(|e| panic!("{e}"));
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{namespace}*"))
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        keys.len()
    };
    assert_eq!(
        cached_keys(url.clone(), namespace.clone()).await,
        3,
        "written through"
    );
    let before = health(&mut client, &ids[0]).await;

    redis.kill();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        assert_eq!(health(&mut client, &ids[0]).await, before);
        let batch = client
            .batch_get_health_scores(pb::BatchGetHealthScoresRequest {
                account_ids: ids.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("batch with Redis down: {s}"))
            .into_inner();
        assert_eq!(batch.health_scores.len(), 3);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "a dead Redis stalled reads"
        );
    }
    // Recomputing while Redis is down stores new versions in the database only.
    recompute_all(&mut client).await;
    assert_eq!(
        health(&mut client, &ids[0]).await.version,
        before.version + 1
    );

    assert!(
        redis.restart(),
        "redis-server did not come back on its port"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        // Reads after recovery refill the cache from the database.
        for id in &ids {
            assert_eq!(health(&mut client, id).await.version, before.version + 1);
        }
        if cached_keys(url.clone(), namespace.clone()).await == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cache did not recover"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // New scores are written through again: with the cache emptied and no read in
    // between, only the recompute can have put the keys back.
    {
        let client = redis::Client::open(url.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let () = redis::cmd("FLUSHALL")
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(cached_keys(url.clone(), namespace.clone()).await, 0);
    recompute_all(&mut client).await;
    assert_eq!(
        cached_keys(url.clone(), namespace.clone()).await,
        3,
        "the recompute after recovery wrote through"
    );
    assert_eq!(
        health(&mut client, &ids[0]).await.version,
        before.version + 2
    );
    suite.stop().await;
}

/// 16 accounts scored today; tomorrow 8 churn and 8 renew. With a cut-off of one day,
/// today's scores are their features; with too little history the refusal is a
/// precondition, not an error about request fields.
async fn churn_model_from_platform_history(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = scoring(suite).await;
    assert_code(
        client
            .train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest::default())
            .await,
        Code::FailedPrecondition,
    );
    let mut outcomes = Vec::new();
    for index in 0..16 {
        let name = format!("History {index}");
        outcomes.push(
            create(
                &mut accounts_client,
                NewAccount {
                    name: &name,
                    arr: 1_000_000 + index * 10_000,
                    ..NewAccount::default()
                },
            )
            .await,
        );
    }
    recompute_all(&mut client).await;
    for (index, account_id) in outcomes.iter().enumerate() {
        let (kind, renewal) = if index % 2 == 0 {
            (accounts_pb::ContractEventKind::Churn, None)
        } else {
            (accounts_pb::ContractEventKind::Renewal, days_from_now(366))
        };
        accounts_client
            .record_contract_event(event(
                account_id,
                kind,
                0,
                days_from_now(1),
                renewal,
                &format!("outcome-{index}"),
            ))
            .await
            .unwrap_or_else(|s| panic!("outcome {index}: {s}"));
    }
    let learned = client
        .train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest {
            cutoff_days: 1,
            held_out_fraction: 0.25,
            seed: 3,
            earliest_cutoff: None,
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    let evaluation = learned.evaluation.unwrap_or_default();
    assert_eq!(learned.source, pb::ChurnModelSource::PlatformHistory as i32);
    assert!(learned.activatable && !learned.active);
    assert_eq!(
        (
            evaluation.training_samples + evaluation.held_out_samples,
            evaluation.churned_samples
        ),
        (16, 8)
    );
    // Cut-offs before the platform's data is complete are left out: none remain here.
    assert_code(
        client
            .train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest {
                cutoff_days: 1,
                earliest_cutoff: days_from_now(1),
                ..pb::TrainChurnModelFromHistoryRequest::default()
            })
            .await,
        Code::FailedPrecondition,
    );
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
