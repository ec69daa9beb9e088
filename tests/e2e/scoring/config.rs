//! Configuration versions and refusals, and the colour-drop alert life cycle.

use super::*;

in_every_combination!(config_refusals_versions_and_the_color_drop_alert_life_cycle);

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
