//! Scoring scenarios: health scores on known data (components, weights, colour, default
//! churn model), configuration versions and refusals, colour changes and alerts with
//! their life cycle, upsell, CRM lists, the watch stream, churn models from CSV, erasure
//! and export — and a real Redis killed and restarted under the service.

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
use nordstern_tests::TestSuite;
use tonic::{Code, transport::Channel};

use crate::{in_every_combination, support::*};

in_every_combination!(
    health_scores_alerts_config_and_lists,
    churn_models_from_csv_and_activation,
);

type Scoring = ScoringServiceClient<Channel>;

async fn scoring(suite: &TestSuite) -> Scoring {
    ScoringServiceClient::new(suite.channel(Role::Scoring).await)
}

fn days_from_now(days: i64) -> Option<common::Date> {
    Some(date_to_proto(
        (Utc::now() + Duration::days(days)).date_naive(),
    ))
}

async fn account(
    client: &mut Accounts,
    name: &str,
    arr: i64,
    segment: common::Segment,
    start_days_ago: i64,
    modules: &[&str],
) -> String {
    let mut request = new_account(name, arr);
    if let Some(account) = request.account.as_mut() {
        account.segment = segment as i32;
        account.start_date = days_from_now(-start_days_ago);
        account.renewal_date = days_from_now(200);
        account.module_keys = modules.iter().map(|m| (*m).to_owned()).collect();
    }
    client
        .create_account(request)
        .await
        .unwrap_or_else(|s| panic!("create {name}: {s}"))
        .into_inner()
        .account
        .unwrap_or_default()
        .account_id
}

fn usage_event(
    id: String,
    account_id: &str,
    kind: usage_pb::UsageEventKind,
    user: &str,
    feature: &str,
    at: DateTime<Utc>,
) -> usage_pb::UsageEvent {
    usage_pb::UsageEvent {
        event_id: id,
        account_id: account_id.to_owned(),
        user_id: user.to_owned(),
        kind: kind as i32,
        feature_key: feature.to_owned(),
        occurred_at: Some(timestamp(at)),
        ..usage_pb::UsageEvent::default()
    }
}

/// Four users log in every day of the last 120 days and use both purchased features;
/// the integration synced an hour ago: flat usage, full breadth, integration live.
async fn steady_usage(suite: &TestSuite, account_id: &str) {
    let mut usage = UsageServiceClient::new(suite.channel(Role::Usage).await);
    let now = Utc::now() - Duration::minutes(1);
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
            events.push(usage_event(
                format!("login-{day}-{user}"),
                account_id,
                usage_pb::UsageEventKind::Login,
                user,
                "",
                at,
            ));
        }
        for feature in ["dashboards", "reports"] {
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

async fn nps_response(
    suite: &TestSuite,
    campaign_id: &str,
    account_id: &str,
    score: i32,
) -> String {
    SurveyServiceClient::new(suite.channel(Role::Survey).await)
        .record_response(survey_pb::RecordResponseRequest {
            idempotency_key: format!("nps-{account_id}"),
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

async fn recompute_all(client: &mut Scoring) -> pb::RecomputeHealthScoresResponse {
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

fn component(score: &pb::HealthScore, component: pb::HealthComponent) -> &pb::ComponentScore {
    score
        .components
        .iter()
        .find(|c| c.component == component as i32)
        .unwrap_or_else(|| panic!("no {component:?} in {score:?}"))
}

/// The default churn model's logit from its documented terms (log-odds per standard
/// deviation, with mean and standard deviation), for the features given.
fn default_logit(features: &[(&str, f64)]) -> f64 {
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
    let mut logit = (0.15f64 / 0.85).ln();
    for (name, value) in features {
        let (_, coefficient, mean, sd) = terms
            .iter()
            .find(|t| t.0 == *name)
            .unwrap_or_else(|| panic!("{name} is not a default-model feature"));
        logit += coefficient * (value - mean) / sd;
    }
    logit
}

async fn health_scores_alerts_config_and_lists(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    for (key, features, price) in [
        ("analytics", vec!["dashboards", "reports"], 1_200_000),
        ("workflows", vec!["automations"], 500_000),
    ] {
        accounts_client
            .upsert_product_module(accounts_pb::UpsertProductModuleRequest {
                module: Some(accounts_pb::ProductModule {
                    module_key: key.to_owned(),
                    name: key.to_owned(),
                    feature_keys: features.iter().map(|f| (*f).to_owned()).collect(),
                    list_price: eur(price),
                }),
            })
            .await
            .unwrap_or_else(|s| panic!("catalog: {s}"));
    }
    let csm = create_csm(&mut accounts_client, "Clara Berg", 50).await;
    // G: healthy; D: same portfolio, no usage, a detractor; Z: alone in its segment with
    // nothing but a renewal date; Y: started 10 days ago, nobody assigned.
    let g = account(
        &mut accounts_client,
        "Grün AG",
        5_000_000,
        common::Segment::Sme,
        400,
        &["analytics"],
    )
    .await;
    let d = account(
        &mut accounts_client,
        "Dunkel KG",
        2_000_000,
        common::Segment::Sme,
        400,
        &[],
    )
    .await;
    let z = account(
        &mut accounts_client,
        "Zeisig",
        3_000_000,
        common::Segment::Prosumer,
        400,
        &[],
    )
    .await;
    let y = account(
        &mut accounts_client,
        "Young GmbH",
        1_000_000,
        common::Segment::Sme,
        10,
        &[],
    )
    .await;
    for id in [&g, &d] {
        accounts_client
            .assign_account(accounts_pb::AssignAccountRequest {
                account_id: id.clone(),
                csm_id: csm.csm_id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("assign: {s}"));
    }
    steady_usage(suite, &g).await;
    let campaign = SurveyServiceClient::new(suite.channel(Role::Survey).await)
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
        .unwrap_or_default();
    nps_response(suite, &campaign.campaign_id, &g, 10).await;
    let detractor = nps_response(suite, &campaign.campaign_id, &d, 2).await;

    let mut client = scoring(suite).await;
    let report = recompute_all(&mut client).await;
    assert_eq!(report.accounts_scored, 4);
    assert!(report.missing_account_ids.is_empty());

    // G by hand: login 100 (every day, 4 of 4 users), breadth 100, integration 100, trend
    // 50 (flat), peers 100 (top of portfolio and segment), NPS 100, CES missing, support
    // 100, renewal 100; SME weights 20/15/10/15/10/10/–/10/5.
    let green = health(&mut client, &g).await;
    assert_eq!(green.components.len(), 9);
    let order: Vec<i32> = green.components.iter().map(|c| c.component).collect();
    assert_eq!(
        order,
        (1..=9).collect::<Vec<i32>>(),
        "all nine, in enum order"
    );
    assert!((green.score - 8_750.0 / 95.0).abs() < 1e-9, "{green:?}");
    assert_eq!(green.color, common::HealthColor::Green as i32);
    let ces = component(&green, pb::HealthComponent::Ces);
    assert!(!ces.used && ces.value.is_none() && ces.contribution == 0.0);
    let used_weight: f64 = green.components.iter().map(|c| c.normalized_weight).sum();
    let contributions: f64 = green.components.iter().map(|c| c.contribution).sum();
    assert!((used_weight - 1.0).abs() < 1e-12 && (contributions - green.score).abs() < 1e-9);
    assert_eq!(
        component(&green, pb::HealthComponent::UsageTrend).value,
        Some(50.0)
    );
    assert_eq!(green.config_version, 1);
    assert_eq!(green.csm_id, csm.csm_id);
    let churn = green.churn.clone().unwrap_or_default();
    assert_eq!(
        (churn.model_id.as_str(), churn.model_version),
        ("default", 0)
    );
    assert!(churn.top_drivers.len() <= 5 && !churn.top_drivers.is_empty());
    assert_eq!(
        green.arr_at_risk.as_ref().map(|m| m.minor_units),
        Some((5_000_000.0 * churn.probability).round() as i64)
    );

    // Z by hand: only login regularity (0), support load (100) and time to renewal (100)
    // are present; prosumer weights 30/5/5 → 25, red. Its churn probability is the
    // default model's at ARR 30,000.00 (its mean) and those three values.
    let lonely = health(&mut client, &z).await;
    assert!((lonely.score - 25.0).abs() < 1e-9, "{lonely:?}");
    assert_eq!(lonely.color, common::HealthColor::Red as i32);
    let logit = default_logit(&[
        ("arr", 30_000.0),
        ("login_regularity", 0.0),
        ("support_load", 100.0),
        ("time_to_renewal", 100.0),
    ]);
    let expected = 1.0 / (1.0 + (-logit).exp());
    let probability = lonely.churn.as_ref().map_or(-1.0, |c| c.probability);
    assert!(
        (probability - expected).abs() < 1e-9,
        "{probability} vs {expected}"
    );

    // Alerts of the first computation.
    let unassigned = alerts(&mut client, &y, &[]).await;
    assert!(
        unassigned
            .iter()
            .any(|a| a.alert_type == pb::AlertType::UnassignedAccount as i32),
        "{unassigned:?}"
    );
    let detractors = alerts(&mut client, &d, &[]).await;
    assert!(
        detractors
            .iter()
            .any(|a| a.alert_type == pb::AlertType::Detractor as i32
                && a.survey_response_id == detractor
                && a.csm_id == csm.csm_id),
        "{detractors:?}"
    );

    // Upsell: only G (green, full breadth) and only the module it has not bought.
    let opportunities = client
        .list_upsell_opportunities(pb::ListUpsellOpportunitiesRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .opportunities;
    assert_eq!(opportunities.len(), 1, "{opportunities:?}");
    let offer = &opportunities[0];
    assert_eq!(
        (offer.account_id.as_str(), offer.module_key.as_str()),
        (g.as_str(), "workflows")
    );
    let likelihood = 0.05 + 0.55 * green.score / 100.0;
    assert!((offer.likelihood - likelihood).abs() < 1e-9);
    assert_eq!(
        offer.expected_value.as_ref().map(|m| m.minor_units),
        Some((500_000.0 * likelihood).round() as i64)
    );

    // Reads are the cache's and the database's; a recompute makes a new version.
    assert_eq!(health(&mut client, &g).await, green);
    client
        .recompute_health_score(pb::RecomputeHealthScoreRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    assert_eq!(health(&mut client, &g).await.version, green.version + 1);

    // CRM lists: one per page, every account once; a missing id in a batch.
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
        seen.extend(page.health_scores.into_iter().map(|s| s.account_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    seen.sort();
    let mut all = vec![g.clone(), d.clone(), z.clone(), y.clone()];
    all.sort();
    assert_eq!(seen, all);
    let reds = client
        .list_health_scores(pb::ListHealthScoresRequest {
            color: common::HealthColor::Red as i32,
            ..pb::ListHealthScoresRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .health_scores;
    assert!(
        reds.iter()
            .all(|s| s.color == common::HealthColor::Red as i32)
    );
    assert!(reds.iter().any(|s| s.account_id == z));
    let missing = "00000000-0000-7000-8000-00000000beef".to_owned();
    let batch = client
        .batch_get_health_scores(pb::BatchGetHealthScoresRequest {
            account_ids: vec![z.clone(), missing.clone(), g.clone()],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let ids: Vec<&str> = batch
        .health_scores
        .iter()
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(ids, vec![z.as_str(), g.as_str()]);
    assert_eq!(batch.missing_account_ids, vec![missing]);
    let twice = client
        .batch_get_health_scores(pb::BatchGetHealthScoresRequest {
            account_ids: vec![z.clone(), z.clone()],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        (twice.health_scores.len(), twice.missing_account_ids.len()),
        (2, 0),
        "a repeated id is answered twice, not reported missing"
    );
    let risk = client
        .list_at_risk_accounts(pb::ListAtRiskAccountsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .health_scores;
    let amounts: Vec<i64> = risk
        .iter()
        .map(|s| s.arr_at_risk.as_ref().map_or(0, |m| m.minor_units))
        .collect();
    assert_eq!(amounts.len(), 4);
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");

    // A bad configuration is refused field by field and changes nothing.
    let status = client
        .update_scoring_config(pb::UpdateScoringConfigRequest {
            config: Some(pb::ScoringConfig {
                segment_weights: vec![pb::SegmentWeights {
                    segment: common::Segment::Unspecified as i32,
                    weights: vec![pb::ComponentWeight {
                        component: pb::HealthComponent::LoginRegularity as i32,
                        weight: -1.0,
                    }],
                }],
                color_thresholds: Some(pb::ColorThresholds {
                    green_min: 40.0,
                    yellow_min: 60.0,
                }),
                ..pb::ScoringConfig::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["segment_weights".to_owned(), "color_thresholds".to_owned()],
            }),
            validate_only: false,
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a negative weight and crossed thresholds were accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = nordstern_runtime::status::field_violations(&status)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert!(
        fields
            .iter()
            .any(|f| f == "config.segment_weights[0].weights[0].weight")
            && fields
                .iter()
                .any(|f| f.starts_with("config.color_thresholds")),
        "{fields:?}"
    );
    let current = client
        .get_scoring_config(pb::GetScoringConfigRequest { version: 0 })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .config
        .unwrap_or_default();
    assert_eq!(current.version, 1);

    // Thresholds that turn G red: a new version, everyone rescored, a downward colour
    // change and a COLOR_DROP alert, raised once however often it is recomputed.
    let mut watch = client
        .watch_health_scores(pb::WatchHealthScoresRequest {
            csm_id: csm.csm_id.clone(),
            ..pb::WatchHealthScoresRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let strict = pb::ScoringConfig {
        color_thresholds: Some(pb::ColorThresholds {
            green_min: 99.0,
            yellow_min: 98.0,
        }),
        ..pb::ScoringConfig::default()
    };
    let mask = Some(prost_types::FieldMask {
        paths: vec!["color_thresholds".to_owned()],
    });
    let dry = client
        .update_scoring_config(pb::UpdateScoringConfigRequest {
            config: Some(strict.clone()),
            update_mask: mask.clone(),
            validate_only: true,
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(dry.accounts_rescored, 0);
    assert_eq!(
        health(&mut client, &g).await.color,
        common::HealthColor::Green as i32
    );
    let updated = client
        .update_scoring_config(pb::UpdateScoringConfigRequest {
            config: Some(strict),
            update_mask: mask,
            validate_only: false,
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(updated.config.as_ref().map(|c| c.version), Some(2));
    assert_eq!(updated.accounts_rescored, 4);
    let red = health(&mut client, &g).await;
    assert_eq!(
        (red.color, red.previous_color, red.config_version),
        (
            common::HealthColor::Red as i32,
            common::HealthColor::Green as i32,
            2
        )
    );
    let watched = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let message = watch.message().await.unwrap_or_else(|s| panic!("{s}"));
            let score = message.and_then(|m| m.health_score).unwrap_or_default();
            if score.account_id == g && score.color == common::HealthColor::Red as i32 {
                return score;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the watcher did not see G turn red"));
    assert_eq!(watched.csm_id, csm.csm_id);
    let drops = client
        .list_color_changes(pb::ListColorChangesRequest {
            account_id: g.clone(),
            downward_only: true,
            ..pb::ListColorChangesRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .color_changes;
    assert_eq!(drops.len(), 1, "{drops:?}");
    assert_eq!(
        (drops[0].from_color, drops[0].to_color),
        (
            common::HealthColor::Green as i32,
            common::HealthColor::Red as i32
        )
    );
    recompute_all(&mut client).await;
    let color_drops: Vec<pb::Alert> = alerts(&mut client, &g, &[])
        .await
        .into_iter()
        .filter(|a| a.alert_type == pb::AlertType::ColorDrop as i32)
        .collect();
    assert_eq!(color_drops.len(), 1, "{color_drops:?}");
    assert_eq!(color_drops[0].reason, "GREEN → RED");
    let alert_id = color_drops[0].alert_id.clone();
    for _ in 0..2 {
        let acknowledged = client
            .acknowledge_alert(pb::AcknowledgeAlertRequest {
                alert_id: alert_id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner()
            .alert
            .unwrap_or_default();
        assert_eq!(acknowledged.status, pb::AlertStatus::Acknowledged as i32);
    }
    let resolved = client
        .resolve_alert(pb::ResolveAlertRequest {
            alert_id: alert_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .alert
        .unwrap_or_default();
    assert_eq!(resolved.status, pb::AlertStatus::Resolved as i32);
    assert!(resolved.acknowledged_at.is_some() && resolved.resolved_at.is_some());
    assert_code(
        client
            .resolve_alert(pb::ResolveAlertRequest {
                alert_id: "00000000-0000-7000-8000-000000000000".to_owned(),
            })
            .await,
        Code::NotFound,
    );
    // Red accounts get no upsell.
    let offers = client
        .list_upsell_opportunities(pb::ListUpsellOpportunitiesRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .opportunities;
    assert!(offers.is_empty(), "{offers:?}");

    // Export, then erase: nothing left, and the next read computes a first version.
    let export = client
        .export_account_scoring_data(pb::ExportAccountScoringDataRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        export.health_score.as_ref().map(|s| s.version),
        Some(red.version + 1)
    );
    assert_eq!(export.history.len() as i64, red.version + 1);
    assert_eq!(export.color_changes.len(), 2, "first colour and the drop");
    assert!(!export.alerts.is_empty());
    let erased = client
        .erase_account_scoring_data(pb::EraseAccountScoringDataRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(erased.scores_erased as usize, export.history.len());
    assert_eq!(erased.color_changes_erased, 2);
    let after = client
        .export_account_scoring_data(pb::ExportAccountScoringDataRequest {
            account_id: g.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(after.health_score.is_none() && after.history.is_empty() && after.alerts.is_empty());
    assert_eq!(health(&mut client, &g).await.version, 1);
    assert_invalid(
        client
            .get_health_score(pb::GetHealthScoreRequest {
                account_id: "x".to_owned(),
            })
            .await,
        &["account_id"],
    );
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

async fn churn_models_from_csv_and_activation(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let id = account(
        &mut accounts_client,
        "Modelled AG",
        2_000_000,
        common::Segment::Sme,
        400,
        &[],
    )
    .await;
    let mut client = scoring(suite).await;
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
        evaluation.auc.is_some_and(|auc| auc > 0.7),
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
    assert_code(
        client
            .activate_churn_model(pb::ActivateChurnModelRequest {
                model_id: foreign.model_id.clone(),
            })
            .await,
        Code::FailedPrecondition,
    );
    let status = client
        .train_churn_model_from_csv(csv_request(history_csv(50, None), &["arr", "nope"]))
        .await
        .err()
        .unwrap_or_else(|| panic!("an unknown column was accepted"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(!nordstern_runtime::status::field_violations(&status).is_empty());
    let mut bad = history_csv(50, None);
    bad.push_str("lots,1,2,SME,no\n");
    assert_code(
        client
            .train_churn_model_from_csv(csv_request(bad, &platform))
            .await,
        Code::InvalidArgument,
    );

    let activated = client
        .activate_churn_model(pb::ActivateChurnModelRequest {
            model_id: trained.model_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(activated.model.as_ref().is_some_and(|m| m.active));
    assert_eq!(activated.accounts_rescored, 1);
    let churn = health(&mut client, &id).await.churn.unwrap_or_default();
    assert_eq!(
        (churn.model_id, churn.model_version),
        (trained.model_id.clone(), 1)
    );

    let models = client
        .list_churn_models(pb::ListChurnModelsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .models;
    let versions: Vec<i32> = models.iter().map(|m| m.version).collect();
    assert_eq!(versions, vec![2, 1, 0], "newest first, the default last");
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
    // Too little history on the platform: a clear precondition, not a crash.
    assert_code(
        client
            .train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest::default())
            .await,
        Code::FailedPrecondition,
    );

    // History: 16 accounts scored today; tomorrow 8 churn and 8 renew. With a cut-off of
    // one day, today's scores are their features.
    let mut outcomes = Vec::new();
    for index in 0..16 {
        outcomes.push(
            account(
                &mut accounts_client,
                &format!("History {index}"),
                1_000_000 + index * 10_000,
                common::Segment::Sme,
                400,
                &[],
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
        ids.push(
            account(
                &mut accounts_client,
                &format!("Cached {index}"),
                1_000_000,
                common::Segment::Sme,
                400,
                &[],
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
    recompute_all(&mut client).await;
    assert_eq!(
        health(&mut client, &ids[0]).await.version,
        before.version + 2
    );
    suite.stop().await;
}
