//! Contract events: ARR, tiers and revenue metrics, company-wide listings in pages, and the quota on the book each CSM held.

use super::*;

in_every_combination!(
    contract_events_drive_arr_tiers_and_revenue_metrics,
    quota_is_on_the_book_each_csm_held,
    company_wide_contract_events_by_kind_and_period_in_pages,
);

async fn contract_events_drive_arr_tiers_and_revenue_metrics(suite: &TestSuite) {
    use pb::ContractEventKind as Kind;
    let mut client = accounts(suite).await;
    // Cohort at 2025-01-01: big (800,000) and small (200,000) = 1,000,000.
    let big = create_account(&mut client, "Big", 800_000).await;
    let small = create_account(&mut client, "Small", 200_000).await;
    assert_eq!(big.tier, common::Tier::A as i32);
    // During 2025: big expands by 300,000 and renews; small churns; a new logo arrives.
    let e = |req| req;
    client
        .record_contract_event(e(event(
            &big.account_id,
            Kind::Expansion,
            300_000,
            date(2025, 4, 1),
            None,
            "big-exp",
        )))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    client
        .record_contract_event(e(event(
            &big.account_id,
            Kind::Renewal,
            0,
            date(2025, 12, 15),
            date(2027, 1, 1),
            "big-ren",
        )))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    client
        .record_contract_event(e(event(
            &small.account_id,
            Kind::Contraction,
            -50_000,
            date(2025, 5, 1),
            None,
            "small-con",
        )))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let churn = client
        .record_contract_event(e(event(
            &small.account_id,
            Kind::Churn,
            0,
            date(2025, 9, 1),
            None,
            "small-churn",
        )))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        churn
            .event
            .and_then(|ev| ev.arr_change)
            .map(|m| m.minor_units),
        Some(-150_000)
    );
    let churned = churn.account.unwrap_or_default();
    assert_eq!(churned.arr.map(|m| m.minor_units), Some(0));
    assert_eq!(
        churned.lifecycle_stage,
        common::LifecycleStage::Churned as i32
    );
    assert_code(
        client
            .record_contract_event(event(
                &small.account_id,
                Kind::Expansion,
                1,
                date(2025, 10, 1),
                None,
                "after-churn",
            ))
            .await,
        Code::FailedPrecondition,
    );
    let mut newcomer = new_account("Newcomer", 100_000);
    if let Some(account) = newcomer.account.as_mut() {
        account.start_date = date(2025, 6, 1);
        account.renewal_date = date(2026, 6, 1);
    }
    client
        .create_account(newcomer)
        .await
        .unwrap_or_else(|s| panic!("{s}"));

    let metrics = client
        .get_revenue_metrics(pb::GetRevenueMetricsRequest {
            scope: Some(common::Scope {
                scope: Some(common::scope::Scope::Company(true)),
            }),
            period: Some(common::Period {
                start_date: date(2025, 1, 2),
                end_date: date(2026, 1, 2),
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .metrics
        .unwrap_or_default();
    let minor = |m: Option<common::Money>| m.map(|m| m.minor_units).unwrap_or(-1);
    assert_eq!(minor(metrics.start_arr), 1_000_000);
    assert_eq!(minor(metrics.expansion_arr), 300_000);
    assert_eq!(minor(metrics.contraction_arr), 50_000);
    assert_eq!(minor(metrics.churned_arr), 150_000);
    assert_eq!(minor(metrics.end_arr), 1_200_000);
    assert_eq!(minor(metrics.new_logo_arr), 100_000);
    assert_eq!((metrics.cohort_size, metrics.churned_logos), (2, 1));
    let close = |value: Option<f64>, expected: f64| {
        let value = value.unwrap_or(f64::NAN);
        assert!((value - expected).abs() < 1e-9, "{value} != {expected}");
    };
    close(metrics.net_revenue_retention, 1.1);
    close(metrics.gross_revenue_retention, 0.8);
    close(metrics.logo_churn_rate, 0.5);
    close(metrics.revenue_churn_rate, 0.15);
    // Both terms ended 2026-01-01 and were due; only big renewed.
    assert_eq!((metrics.renewals_due, metrics.renewals_completed), (2, 1));
    close(metrics.renewal_rate, 0.5);
    // The newcomer joins the book with its starting 100,000: not pure gain.
    assert_eq!(minor(metrics.quota_baseline_arr), 1_100_000);
    assert_eq!(minor(metrics.quota_target), 1_320_000);
    assert_eq!(minor(metrics.quota_result_arr), 1_200_000);
    close(metrics.quota_attainment, 1_200_000.0 / 1_320_000.0);

    let tiers = client
        .get_tier_summary(pb::GetTierSummaryRequest {})
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let live: i32 = tiers.tiers.iter().map(|t| t.account_count).sum();
    assert_eq!(live, 2, "the churned account is not in any live tier");
}

/// Ann held X from day −300 and Y from day −300; X grew 100,000 → 120,000 on day −100,
/// then went to Ben on day −50 and grew to 130,000 on day −20; Y went to Ben on day −60
/// and churned on day −10; Ben took the new logo Z (40,000) the day it signed, day −30.
/// Over the 200 days to today each CSM is measured on what they were handed.
async fn quota_is_on_the_book_each_csm_held(suite: &TestSuite) {
    use pb::ContractEventKind as Kind;
    let mut client = accounts(suite).await;
    let ann = create_csm(&mut client, "Ann", 0).await.csm_id;
    let ben = create_csm(&mut client, "Ben", 0).await.csm_id;
    let today = chrono::Utc::now().date_naive();
    let day = |offset: i64| {
        Some(nordstern_runtime::wire::date_to_proto(
            today + chrono::Duration::days(offset),
        ))
    };
    let at = |offset: i64| {
        Some(nordstern_runtime::wire::timestamp(
            chrono::Utc::now() + chrono::Duration::days(offset),
        ))
    };
    let open = |name: &str, arr: i64, start: i64| {
        let mut request = new_account(name, arr);
        if let Some(account) = request.account.as_mut() {
            account.start_date = day(start);
            account.renewal_date = day(200);
        }
        request
    };
    let create = |request: pb::CreateAccountRequest| {
        let mut client = client.clone();
        async move {
            client
                .create_account(request)
                .await
                .unwrap_or_else(|s| panic!("{s}"))
                .into_inner()
                .account
                .unwrap_or_default()
                .account_id
        }
    };
    // X comes with its owner since day −300, as a CRM's first sync brings it; so does Y,
    // in a batch. Z is unassigned until its handover below.
    let owned_by = |mut request: pb::CreateAccountRequest, csm: &str, offset: i64| {
        if let Some(account) = request.account.as_mut() {
            account.csm_id = csm.to_owned();
        }
        request.assigned_at = at(offset);
        request
    };
    let x = create(owned_by(open("X", 100_000, -400), &ann, -300)).await;
    let mut direct = client.clone();
    let mut y_request = owned_by(open("Y", 50_000, -400), &ann, -300);
    y_request.request_id = "quota-y".to_owned();
    // `at` reads the clock: compare with the instant sent, not a second reading of it.
    let handover = y_request.assigned_at.map(|t| t.seconds);
    let batch = direct
        .batch_create_accounts(pb::BatchCreateAccountsRequest {
            items: vec![y_request],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(batch.refusals.is_empty(), "{:?}", batch.refusals);
    let y = batch.accounts[0].account.clone().unwrap_or_default();
    assert_eq!(
        y.assigned_at.map(|t| t.seconds),
        handover,
        "the batch keeps the handover's time"
    );
    let y = y.account_id;
    let z = create(open("Z", 40_000, -30)).await;
    // A handover at creation must name its CSM and must have happened.
    let mut future = owned_by(open("F", 1_000, -10), &ann, 2);
    future.request_id = "quota-future".to_owned();
    assert_invalid(direct.create_account(future).await, &["assigned_at"]);
    let mut ownerless = open("G", 1_000, -10);
    ownerless.assigned_at = at(-5);
    assert_invalid(
        direct.create_account(ownerless.clone()).await,
        &["assigned_at"],
    );
    let refused = direct
        .batch_create_accounts(pb::BatchCreateAccountsRequest {
            items: vec![ownerless],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .refusals;
    assert_eq!(
        refused.iter().map(|r| r.field.as_str()).collect::<Vec<_>>(),
        ["assigned_at"]
    );
    let hand = |account: &str, csm: &str, offset: i64| {
        let mut client = client.clone();
        let request = pb::AssignAccountRequest {
            account_id: account.to_owned(),
            csm_id: csm.to_owned(),
            effective_at: at(offset),
        };
        async move { client.assign_account(request).await }
    };
    for (account, csm, offset) in [(&y, &ben, -60), (&x, &ben, -50), (&z, &ben, -30)] {
        hand(account, csm, offset)
            .await
            .unwrap_or_else(|s| panic!("{s}"));
    }
    // History is imported in order: a handover before the current one is refused, as
    // is one in the future.
    assert_code(hand(&x, &ann, -200).await, Code::FailedPrecondition);
    assert_invalid(hand(&x, &ann, 2).await, &["effective_at"]);
    for request in [
        event(&x, Kind::Expansion, 20_000, day(-100), None, "x-up-1"),
        event(&x, Kind::Expansion, 10_000, day(-20), None, "x-up-2"),
        event(&y, Kind::Churn, 0, day(-10), None, "y-churn"),
    ] {
        client
            .record_contract_event(request)
            .await
            .unwrap_or_else(|s| panic!("{s}"));
    }
    let quota = |csm: &str| {
        let mut client = client.clone();
        let request = pb::GetRevenueMetricsRequest {
            scope: Some(common::Scope {
                scope: Some(common::scope::Scope::CsmId(csm.to_owned())),
            }),
            period: Some(common::Period {
                start_date: day(-200),
                end_date: day(1),
            }),
        };
        async move {
            let m = client
                .get_revenue_metrics(request)
                .await
                .unwrap_or_else(|s| panic!("{s}"))
                .into_inner()
                .metrics
                .unwrap_or_default();
            let minor = |m: Option<common::Money>| m.map_or(-1, |m| m.minor_units);
            (
                minor(m.quota_baseline_arr),
                minor(m.quota_result_arr),
                minor(m.quota_target),
                m.quota_attainment.unwrap_or(f64::NAN),
            )
        }
    };
    // Ann: X 100,000 → 120,000 until she handed it over, Y 50,000 → 50,000.
    let (baseline, result, target, attainment) = quota(&ann).await;
    assert_eq!((baseline, result, target), (150_000, 170_000, 180_000));
    assert!((attainment - 170.0 / 180.0).abs() < 1e-9, "{attainment}");
    // Ben: X from 120,000 (not Ann's 100,000) to 130,000; Y from 50,000 to 0 after it
    // churned in his hands; Z with its starting 40,000.
    let (baseline, result, target, attainment) = quota(&ben).await;
    assert_eq!((baseline, result, target), (210_000, 170_000, 252_000));
    assert!((attainment - 170.0 / 252.0).abs() < 1e-9, "{attainment}");
}

fn event_ids(pages: &[Vec<pb::ContractEvent>]) -> Vec<String> {
    pages.iter().flatten().map(|e| e.event_id.clone()).collect()
}

/// The churn-model feed: RENEWAL and CHURN of every account in one listing, paged
/// across accounts, optionally within a period of effective dates.
async fn company_wide_contract_events_by_kind_and_period_in_pages(suite: &TestSuite) {
    use pb::ContractEventKind as Kind;
    let mut client = accounts(suite).await;
    // Three accounts, each with a NEW on 2025-01-01 (renewal due 2026-01-01).
    let a = create_account(&mut client, "Alpha", 100_000)
        .await
        .account_id;
    let b = create_account(&mut client, "Beta", 200_000)
        .await
        .account_id;
    let c = create_account(&mut client, "Gamma", 300_000)
        .await
        .account_id;
    // Recorded interleaved across accounts; 5 of the 7 are RENEWAL or CHURN.
    let recorded = [
        (
            &a,
            Kind::Renewal,
            date(2025, 3, 1),
            date(2027, 1, 1),
            "a-ren",
        ),
        (&b, Kind::Expansion, date(2025, 3, 15), None, "b-exp"),
        (
            &c,
            Kind::Renewal,
            date(2025, 4, 1),
            date(2027, 1, 1),
            "c-ren",
        ),
        (&b, Kind::Churn, date(2025, 5, 1), None, "b-churn"),
        (&a, Kind::Expansion, date(2025, 6, 1), None, "a-exp"),
        (&c, Kind::Churn, date(2025, 7, 1), None, "c-churn"),
        (
            &a,
            Kind::Renewal,
            date(2026, 12, 1),
            date(2028, 1, 1),
            "a-ren-2",
        ),
    ];
    let mut ids = std::collections::HashMap::new();
    for (account, kind, effective, renewal, key) in recorded {
        let arr_change = if kind == Kind::Expansion { 10_000 } else { 0 };
        let event = client
            .record_contract_event(event(account, kind, arr_change, effective, renewal, key))
            .await
            .unwrap_or_else(|s| panic!("{key}: {s}"))
            .into_inner()
            .event
            .unwrap_or_default();
        ids.insert(key, event.event_id);
    }
    let id = |keys: &[&str]| -> Vec<String> { keys.iter().map(|k| ids[k].clone()).collect() };
    let outcomes = pb::ListContractEventsRequest {
        page_size: 2,
        kinds: vec![Kind::Renewal as i32, Kind::Churn as i32],
        ..pb::ListContractEventsRequest::default()
    };

    // Pages of 2 over the whole company: every RENEWAL and CHURN once, in recording
    // order, and the first page already spans two accounts.
    let pages = all_pages(&mut client, outcomes.clone()).await;
    assert_eq!(
        event_ids(&pages),
        id(&["a-ren", "c-ren", "b-churn", "c-churn", "a-ren-2"])
    );
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let first_page_accounts: Vec<&str> = pages[0].iter().map(|e| e.account_id.as_str()).collect();
    assert_eq!(first_page_accounts, vec![a.as_str(), c.as_str()]);
    for e in pages.iter().flatten() {
        assert!(
            e.kind == Kind::Renewal as i32 || e.kind == Kind::Churn as i32,
            "{e:?}"
        );
    }
    let b_churn = pages
        .iter()
        .flatten()
        .find(|e| e.event_id == ids["b-churn"]);
    assert_eq!(b_churn.map(|e| e.account_id.as_str()), Some(b.as_str()));
    assert_eq!(
        b_churn.and_then(|e| e.effective_date.as_ref()),
        date(2025, 5, 1).as_ref()
    );

    // A kind named twice counts once; one page of everything gives the same events.
    let mut repeated = outcomes.clone();
    repeated.kinds = vec![Kind::Churn as i32, Kind::Renewal as i32, Kind::Churn as i32];
    repeated.page_size = 0;
    let pages = all_pages(&mut client, repeated).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(
        event_ids(&pages),
        id(&["a-ren", "c-ren", "b-churn", "c-churn", "a-ren-2"])
    );

    // One kind; and a period of effective dates, end exclusive (c-churn is on 07-01).
    let mut churns = outcomes.clone();
    churns.kinds = vec![Kind::Churn as i32];
    churns.page_size = 1;
    assert_eq!(
        event_ids(&all_pages(&mut client, churns).await),
        id(&["b-churn", "c-churn"])
    );
    let mut within = outcomes.clone();
    within.effective_within = Some(common::Period {
        start_date: date(2025, 4, 1),
        end_date: date(2025, 7, 1),
    });
    assert_eq!(
        event_ids(&all_pages(&mut client, within).await),
        id(&["c-ren", "b-churn"])
    );

    // No filter: all 10 events (3 NEW + 7) in pages of 3, ascending ids, none twice.
    let everything = all_pages(
        &mut client,
        pb::ListContractEventsRequest {
            page_size: 3,
            ..pb::ListContractEventsRequest::default()
        },
    )
    .await;
    let all_ids = event_ids(&everything);
    assert_eq!(all_ids.len(), 10);
    assert!(all_ids.windows(2).all(|w| w[0] < w[1]), "{all_ids:?}");

    // One account, as before, now also filtered by kind.
    let mut of_alpha = outcomes.clone();
    of_alpha.account_id = a.clone();
    of_alpha.kinds = vec![Kind::Renewal as i32];
    assert_eq!(
        event_ids(&all_pages(&mut client, of_alpha).await),
        id(&["a-ren", "a-ren-2"])
    );
    let alpha_all = all_pages(
        &mut client,
        pb::ListContractEventsRequest {
            account_id: a.clone(),
            ..pb::ListContractEventsRequest::default()
        },
    )
    .await;
    assert_eq!(event_ids(&alpha_all).len(), 4, "NEW, 2 RENEWAL, EXPANSION");

    // Bad input: every problem named at once.
    let bad = |kinds: Vec<i32>| pb::ListContractEventsRequest {
        kinds,
        ..pb::ListContractEventsRequest::default()
    };
    assert_invalid(
        client
            .list_contract_events(bad(vec![Kind::Renewal as i32, 99]))
            .await,
        &["kinds[1]"],
    );
    assert_invalid(
        client
            .list_contract_events(bad(vec![Kind::Unspecified as i32, Kind::Churn as i32, -3]))
            .await,
        &["kinds[0]", "kinds[2]"],
    );
    let mut backwards = bad(vec![Kind::Churn as i32, 6]);
    backwards.effective_within = Some(common::Period {
        start_date: date(2025, 7, 1),
        end_date: date(2025, 7, 1),
    });
    backwards.page_size = 1001;
    backwards.page_token = "not-a-token".to_owned();
    assert_invalid(
        client.list_contract_events(backwards).await,
        &[
            "kinds[1]",
            "effective_within.end_date",
            "page_size",
            "page_token",
        ],
    );
    // An account that does not exist is still NOT_FOUND, with or without kinds.
    let mut unknown = outcomes.clone();
    unknown.account_id = "01900000-0000-7000-8000-000000000000".to_owned();
    assert_code(client.list_contract_events(unknown).await, Code::NotFound);
}
