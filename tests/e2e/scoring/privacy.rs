//! GDPR: an export holds everything, an erasure leaves nothing and the account scores afresh.

use super::*;

in_every_combination!(export_then_erase_leaves_nothing_and_scores_afresh);

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
