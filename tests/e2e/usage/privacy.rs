//! Erasure of one user and of an account, and the account's export.

use super::*;
use crate::in_every_combination;

in_every_combination!(erasing_a_user_and_an_account_and_exporting);

async fn erasing_a_user_and_an_account_and_exporting(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    // u1 also used B.
    ingest(
        &mut client,
        vec![login("b2", &company.b, "u1", days_ago(now, 1))],
    )
    .await;

    let (events, days) = export(&mut client, &company.a).await;
    assert_eq!(events.len(), 17);
    assert!(
        events
            .windows(2)
            .all(|w| w[0].occurred_at.as_ref().map(|t| (t.seconds, t.nanos))
                <= w[1].occurred_at.as_ref().map(|t| (t.seconds, t.nanos)))
    );
    assert_eq!(days.iter().map(|d| d.logins).sum::<i64>(), 35);
    assert_eq!(
        days.iter()
            .filter_map(|d| d.feature_uses.get("dashboards"))
            .sum::<i64>(),
        4
    );

    let erased = client
        .erase_user_usage(pb::EraseUserUsageRequest {
            user_id: "u1".to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("erase user: {status}"))
        .into_inner();
    // u1: 6 logins and 2 feature events in A, 1 login in B.
    assert_eq!((erased.events_erased, erased.account_count), (9, 2));
    let a = summary(&mut client, &company.a, now).await;
    assert_eq!(window(&a, 90), (2, 3, 2));
    assert_eq!(window(&a, 7), (0, 0, 0));
    assert_eq!(a.usage_last_30_days, 1);
    let features: Vec<(&str, i64)> = a
        .features
        .iter()
        .map(|f| (f.feature_key.as_str(), f.uses_last_90_days))
        .collect();
    assert!(
        !features.iter().any(|(key, _)| *key == "workflows"),
        "{features:?}"
    );
    assert!(
        features.contains(&("dashboards", 0)) && features.contains(&("reports", 2)),
        "{features:?}"
    );
    // Syncs and tickets have no user; they stay.
    assert_eq!((a.integration_live, a.open_tickets), (true, 1));
    let (events, _) = export(&mut client, &company.a).await;
    assert_eq!(events.len(), 9);
    assert_eq!(
        summary(&mut client, &company.b, now)
            .await
            .usage_last_30_days,
        20
    );

    let erased = client
        .erase_account_usage(pb::EraseAccountUsageRequest {
            account_id: company.a.clone(),
        })
        .await
        .unwrap_or_else(|status| panic!("erase account: {status}"))
        .into_inner();
    assert_eq!(erased.events_erased, 9);
    assert!(erased.rollup_rows_erased > 0);
    assert_eq!(export(&mut client, &company.a).await, (vec![], vec![]));
    let a = summary(&mut client, &company.a, now).await;
    assert_eq!(
        (window(&a, 90), a.open_tickets, a.integration_live),
        ((0, 0, 0), 0, false)
    );

    assert_invalid(
        client
            .erase_user_usage(pb::EraseUserUsageRequest {
                user_id: String::new(),
            })
            .await,
        &["user_id"],
    );
    assert_invalid(
        client
            .erase_account_usage(pb::EraseAccountUsageRequest {
                account_id: "x".to_owned(),
            })
            .await,
        &["account_id"],
    );
}
