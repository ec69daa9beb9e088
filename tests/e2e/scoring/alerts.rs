//! Alerts from usage, surveys, renewals and ownership: one open per account and type,
//! none for answers recorded long after they were given, resolved when they clear.

use super::*;

in_every_combination!(alerts_from_usage_surveys_renewals_and_ownership);

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
