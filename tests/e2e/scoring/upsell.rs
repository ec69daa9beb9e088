//! Upsell: only green accounts with high adoption, ranked by expected value.

use super::*;

in_every_combination!(upsell_only_for_green_accounts_with_high_adoption);

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
