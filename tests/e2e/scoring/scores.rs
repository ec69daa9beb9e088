//! Health scores on known data, worked out by hand from the documented formulas, and
//! the integration component: a finding when never set up, left out when not applicable.

use super::*;

in_every_combination!(
    health_score_on_known_data,
    an_integration_never_set_up_is_a_finding_and_none_to_set_up_is_left_out,
);

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
