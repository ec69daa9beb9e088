//! Accounts scenarios: every RPC of the accounts service over real gRPC and real storage.

use nordstern_proto::{accounts::v1 as pb, common::v1 as common};
use nordstern_tests::TestSuite;
use tonic::Code;

use crate::{in_every_combination, support::*};

in_every_combination!(
    accounts_crud_filters_and_pagination,
    bad_input_is_refused_field_by_field_and_nothing_is_written,
    idempotency_keys_answer_retries_without_reapplying,
    contract_events_drive_arr_tiers_and_revenue_metrics,
    company_wide_contract_events_by_kind_and_period_in_pages,
    handoff_capacity_and_portfolio_balance,
    a_team_balance_leaves_the_other_books_alone,
    quota_is_on_the_book_each_csm_held,
    erase_and_export,
);

async fn accounts_crud_filters_and_pagination(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    client
        .upsert_product_module(pb::UpsertProductModuleRequest {
            module: Some(pb::ProductModule {
                module_key: "analytics".to_owned(),
                name: "Analytics".to_owned(),
                feature_keys: vec!["cohorts".to_owned(), "funnels".to_owned()],
                list_price: eur(1_000_000),
                has_integration: false,
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let csm = create_csm(&mut client, "Ada Lovelace", 0).await;
    let mut request = new_account("Acme GmbH", 5_000_000);
    if let Some(account) = request.account.as_mut() {
        account.crm_id = "SF-0001".to_owned();
        account.module_keys = vec!["analytics".to_owned()];
        account.csm_id = csm.csm_id.clone();
        account.segment = common::Segment::Enterprise as i32;
    }
    let acme = client
        .create_account(request)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(acme.arr.as_ref().map(|m| m.minor_units), Some(5_000_000));
    assert_eq!(acme.csm_id, csm.csm_id);
    assert!(acme.assigned_at.is_some(), "handoff time is recorded");
    assert_eq!(acme.tier, common::Tier::A as i32);
    assert_eq!(acme.module_keys, vec!["analytics".to_owned()]);

    // The CRM id is unique.
    let mut duplicate = new_account("Acme Copy", 1);
    if let Some(account) = duplicate.account.as_mut() {
        account.crm_id = "SF-0001".to_owned();
    }
    assert_code(client.create_account(duplicate).await, Code::AlreadyExists);

    for index in 0..5 {
        create_account(&mut client, &format!("Small {index}"), 10_000 + index).await;
    }

    let fetched = client
        .get_account(pb::GetAccountRequest {
            account_id: acme.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(fetched.name, "Acme GmbH");

    // Field-masked update touches only the named fields.
    let updated = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                account_id: acme.account_id.clone(),
                name: "Acme AG".to_owned(),
                crm_id: "ignored-because-not-in-mask".to_owned(),
                ..pb::Account::default()
            }),
            update_mask: Some(prost_types_mask(&["name"])),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(updated.name, "Acme AG");
    assert_eq!(updated.crm_id, "SF-0001");

    // Filters.
    let by_csm = client
        .list_accounts(pb::ListAccountsRequest {
            csm_id: csm.csm_id.clone(),
            ..pb::ListAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(by_csm.accounts.len(), 1);
    let unassigned = client
        .list_accounts(pb::ListAccountsRequest {
            unassigned_only: true,
            ..pb::ListAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        unassigned.accounts.len(),
        5,
        "new accounts without CSM form the handoff queue"
    );
    let enterprise = client
        .list_accounts(pb::ListAccountsRequest {
            segment: common::Segment::Enterprise as i32,
            tier: common::Tier::A as i32,
            ..pb::ListAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(enterprise.accounts.len(), 1);

    // Cursor pagination visits every account exactly once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_accounts(pb::ListAccountsRequest {
                page_size: 4,
                page_token: token.clone(),
                ..pb::ListAccountsRequest::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        assert!(page.accounts.len() <= 4);
        seen.extend(page.accounts.into_iter().map(|a| a.account_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (6, 6));

    // Batch get reports what is missing.
    let missing = "00000000-0000-7000-8000-000000000000".to_owned();
    let batch = client
        .batch_get_accounts(pb::BatchGetAccountsRequest {
            account_ids: vec![acme.account_id.clone(), missing.clone()],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(batch.accounts.len(), 1);
    assert_eq!(batch.missing_account_ids, vec![missing.clone()]);
    assert_code(
        client
            .get_account(pb::GetAccountRequest {
                account_id: missing,
            })
            .await,
        Code::NotFound,
    );
}

fn prost_types_mask(paths: &[&str]) -> prost_types::FieldMask {
    prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    }
}

async fn bad_input_is_refused_field_by_field_and_nothing_is_written(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let request = pb::CreateAccountRequest {
        request_id: String::new(),
        account: Some(pb::Account {
            name: "x".repeat(201),
            crm_id: "bad id with spaces".to_owned(),
            segment: 42,
            start_date: date(2025, 6, 1),
            renewal_date: date(2025, 2, 30),
            csm_id: "not-a-uuid".to_owned(),
            ..pb::Account::default()
        }),
        initial_arr: eur(-5),
    };
    assert_invalid(
        client.create_account(request).await,
        &[
            "account.name",
            "account.crm_id",
            "account.segment",
            "account.renewal_date",
            "account.csm_id",
            "initial_arr.minor_units",
        ],
    );
    // Renewal before start, and a foreign currency.
    let mut request = new_account("Backwards", 100);
    if let Some(account) = request.account.as_mut() {
        account.renewal_date = date(2024, 1, 1);
    }
    assert_invalid(
        client.create_account(request).await,
        &["account.renewal_date"],
    );
    let mut request = new_account("Dollars", 100);
    request.initial_arr = Some(common::Money {
        minor_units: 100,
        currency_code: "USD".to_owned(),
    });
    assert_invalid(
        client.create_account(request).await,
        &["initial_arr.currency_code"],
    );
    // Unknown module, bad ids, unknown update path.
    let mut request = new_account("Unknown module", 100);
    if let Some(account) = request.account.as_mut() {
        account.module_keys = vec!["nope".to_owned()];
    }
    assert_invalid(
        client.create_account(request).await,
        &["account.module_keys[0]"],
    );
    assert_invalid(
        client
            .get_account(pb::GetAccountRequest {
                account_id: "42".to_owned(),
            })
            .await,
        &["account_id"],
    );
    let account = create_account(&mut client, "Valid", 100).await;
    assert_invalid(
        client
            .update_account(pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    account_id: account.account_id.clone(),
                    ..pb::Account::default()
                }),
                update_mask: Some(prost_types_mask(&["arr"])),
            })
            .await,
        &["update_mask"],
    );
    assert_invalid(
        client
            .list_accounts(pb::ListAccountsRequest {
                page_size: 5000,
                page_token: "garbage".to_owned(),
                ..pb::ListAccountsRequest::default()
            })
            .await,
        &["page_size", "page_token"],
    );
    // Contract event rule violations: a negative expansion is a field error, an event
    // before the last one is a failed precondition, and neither changes ARR.
    assert_invalid(
        client
            .record_contract_event(event(
                &account.account_id,
                pb::ContractEventKind::Expansion,
                -10,
                date(2025, 3, 1),
                None,
                "k1",
            ))
            .await,
        &["event.arr_change"],
    );
    assert_code(
        client
            .record_contract_event(event(
                &account.account_id,
                pb::ContractEventKind::Expansion,
                10,
                date(2024, 3, 1),
                None,
                "k2",
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_invalid(
        client
            .record_contract_event(event(
                &account.account_id,
                pb::ContractEventKind::Unspecified,
                10,
                None,
                None,
                "",
            ))
            .await,
        &[
            "event.kind",
            "event.effective_date",
            "event.idempotency_key",
        ],
    );
    let after = client
        .get_account(pb::GetAccountRequest {
            account_id: account.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(after.arr.map(|m| m.minor_units), Some(100));
    assert_eq!(
        account_count(&mut client).await,
        1,
        "only the valid account was stored"
    );
}

async fn idempotency_keys_answer_retries_without_reapplying(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let mut request = new_account("Retry Ltd", 250_000);
    request.request_id = "create-retry-ltd".to_owned();
    let first = client
        .create_account(request.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let second = client
        .create_account(request.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        first.account.as_ref().map(|a| &a.account_id),
        second.account.as_ref().map(|a| &a.account_id)
    );
    assert_eq!(account_count(&mut client).await, 1);
    // The same key for a different request is refused, not silently answered.
    if let Some(account) = request.account.as_mut() {
        account.name = "Other Ltd".to_owned();
    }
    assert_code(
        client.create_account(request).await,
        Code::FailedPrecondition,
    );

    let account_id = first.account.unwrap_or_default().account_id;
    let expansion = event(
        &account_id,
        pb::ContractEventKind::Expansion,
        50_000,
        date(2025, 6, 1),
        None,
        "exp-1",
    );
    let first_event = client
        .record_contract_event(expansion.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let retried = client
        .record_contract_event(expansion)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        first_event.event.as_ref().map(|e| &e.event_id),
        retried.event.as_ref().map(|e| &e.event_id)
    );
    assert_eq!(
        retried.account.and_then(|a| a.arr).map(|m| m.minor_units),
        Some(300_000)
    );
    let events = client
        .list_contract_events(pb::ListContractEventsRequest {
            account_id: account_id.clone(),
            ..pb::ListContractEventsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .events;
    assert_eq!(events.len(), 2, "NEW from creation plus one EXPANSION");
    // Company-wide, filtered by kind, one event per page: every NEW once, in order.
    create_account(&mut client, "Second customer", 1_000).await;
    let mut request = pb::ListContractEventsRequest {
        page_size: 1,
        kinds: vec![pb::ContractEventKind::New as i32],
        ..pb::ListContractEventsRequest::default()
    };
    let mut company_new = Vec::new();
    loop {
        let page = client
            .list_contract_events(request.clone())
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        assert!(page.events.len() <= 1);
        company_new.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    assert!(
        company_new
            .iter()
            .all(|e| e.kind == pb::ContractEventKind::New as i32)
    );
    let ids: Vec<&String> = company_new.iter().map(|e| &e.event_id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "recording order, no event twice");
    assert!(company_new.iter().any(|e| e.account_id == account_id));
    assert!(
        company_new.len() >= 2,
        "NEW events of more than one account"
    );
    assert_invalid(
        client
            .list_contract_events(pb::ListContractEventsRequest {
                kinds: vec![pb::ContractEventKind::New as i32, 99],
                ..pb::ListContractEventsRequest::default()
            })
            .await,
        &["kinds[1]"],
    );

    let mut csm_request = pb::CreateCsmRequest {
        request_id: "csm-1".to_owned(),
        csm: Some(pb::Csm {
            name: "Grace Hopper".to_owned(),
            email: "grace@example.com".to_owned(),
            ..pb::Csm::default()
        }),
    };
    let a = client
        .create_csm(csm_request.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let b = client
        .create_csm(csm_request.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(a.csm.map(|c| c.csm_id), b.csm.map(|c| c.csm_id));
    csm_request.request_id = "csm-2".to_owned();
    assert_code(client.create_csm(csm_request).await, Code::AlreadyExists);
}

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
    let x = create(open("X", 100_000, -400)).await;
    let y = create(open("Y", 50_000, -400)).await;
    let z = create(open("Z", 40_000, -30)).await;
    let hand = |account: &str, csm: &str, offset: i64| {
        let mut client = client.clone();
        let request = pb::AssignAccountRequest {
            account_id: account.to_owned(),
            csm_id: csm.to_owned(),
            effective_at: at(offset),
        };
        async move { client.assign_account(request).await }
    };
    for (account, csm, offset) in [
        (&x, &ann, -300),
        (&y, &ann, -300),
        (&y, &ben, -60),
        (&x, &ben, -50),
        (&z, &ben, -30),
    ] {
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

/// Every page of a listing, following `next_page_token` until it is empty; asserts no
/// page is larger than asked.
async fn all_pages(
    client: &mut Accounts,
    mut request: pb::ListContractEventsRequest,
) -> Vec<Vec<pb::ContractEvent>> {
    let mut pages = Vec::new();
    loop {
        let page = client
            .list_contract_events(request.clone())
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        let cap = if request.page_size == 0 {
            100
        } else {
            request.page_size
        };
        assert!(
            page.events.len() <= cap as usize,
            "a page of {} for page_size {}",
            page.events.len(),
            request.page_size
        );
        pages.push(page.events);
        if page.next_page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100, "the listing does not end");
        request.page_token = page.next_page_token;
    }
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

async fn handoff_capacity_and_portfolio_balance(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let alice = create_csm(&mut client, "Alice", 0).await;
    let bob = create_csm(&mut client, "Bob", 0).await;
    let carol = create_csm(&mut client, "Carol", 1).await;
    let mut ids = Vec::new();
    for index in 0..30_i64 {
        // Roughly log-normal: a few large accounts, many small ones.
        let arr = 10_000 + (index * index * index) * 150;
        ids.push(
            create_account(&mut client, &format!("Customer {index:02}"), arr)
                .await
                .account_id,
        );
    }
    // Handoff and capacity.
    let handed = client
        .assign_account(pb::AssignAccountRequest {
            account_id: ids[0].clone(),
            csm_id: carol.csm_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(handed.previous_csm_id, "");
    assert_code(
        client
            .assign_account(pb::AssignAccountRequest {
                account_id: ids[1].clone(),
                csm_id: carol.csm_id.clone(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    let moved = client
        .assign_account(pb::AssignAccountRequest {
            account_id: ids[0].clone(),
            csm_id: alice.csm_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(moved.previous_csm_id, carol.csm_id);

    // Balance over Alice and Bob (Carol's capacity of 1 would be exceeded).
    assert_code(
        client
            .plan_portfolio_balance(pb::PlanPortfolioBalanceRequest::default())
            .await,
        Code::FailedPrecondition,
    );
    let pair = vec![alice.csm_id.clone(), bob.csm_id.clone()];
    let plan = client
        .plan_portfolio_balance(pb::PlanPortfolioBalanceRequest {
            csm_ids: pair.clone(),
            sticky: false,
            include_unassigned: true,
            ..pb::PlanPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .plan
        .unwrap_or_default();
    assert_eq!(plan.account_count, 30);
    assert_eq!(plan.portfolios.len(), 2);
    let (a, b) = (&plan.portfolios[0], &plan.portfolios[1]);
    assert!((a.tier_a_count - b.tier_a_count).abs() <= 1);
    assert!((a.tier_b_count - b.tier_b_count).abs() <= 1);
    assert!((a.tier_c_count - b.tier_c_count).abs() <= 1);
    assert!(
        plan.arr_max_min_ratio < 1.2,
        "ratio {}",
        plan.arr_max_min_ratio
    );
    // A plan is a dry run.
    assert_eq!(
        client
            .list_accounts(pb::ListAccountsRequest {
                unassigned_only: true,
                page_size: 100,
                ..pb::ListAccountsRequest::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner()
            .accounts
            .len(),
        29
    );
    let applied = client
        .apply_portfolio_balance(pb::ApplyPortfolioBalanceRequest {
            csm_ids: pair.clone(),
            sticky: false,
            include_unassigned: true,
            ..pb::ApplyPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .plan
        .unwrap_or_default();
    assert!(applied.moves.len() >= 29);
    let bob_now = client
        .get_csm(pb::GetCsmRequest {
            csm_id: bob.csm_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .csm
        .unwrap_or_default();
    assert_eq!(
        bob_now.account_count,
        b.tier_a_count + b.tier_b_count + b.tier_c_count
    );
    // After applying, a sticky plan keeps everything where it is.
    let sticky = client
        .plan_portfolio_balance(pb::PlanPortfolioBalanceRequest {
            csm_ids: pair,
            sticky: true,
            include_unassigned: true,
            ..pb::PlanPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .plan
        .unwrap_or_default();
    assert_eq!(sticky.moves.len(), 0);
    let export = client
        .export_account(pb::ExportAccountRequest {
            account_id: ids[0].clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(
        export.assignments.len() >= 2,
        "handoffs are kept in the history"
    );
    assert!(export.assignments[0].unassigned_at.is_some());
}

/// Ann holds 6 accounts, Ben none, Dora 4, and 2 are unassigned. Balancing Ann and Ben
/// spreads Ann's book over the two of them, and nothing else unless asked.
async fn a_team_balance_leaves_the_other_books_alone(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let ann = create_csm(&mut client, "Ann", 0).await;
    let ben = create_csm(&mut client, "Ben", 0).await;
    let dora = create_csm(&mut client, "Dora", 0).await;
    for index in 0..12_i64 {
        let account = create_account(
            &mut client,
            &format!("Team {index:02}"),
            20_000 + index * 7_000,
        )
        .await
        .account_id;
        let owner = match index {
            0..6 => Some(&ann),
            6..10 => Some(&dora),
            _ => None,
        };
        if let Some(csm) = owner {
            client
                .assign_account(pb::AssignAccountRequest {
                    account_id: account.clone(),
                    csm_id: csm.csm_id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|s| panic!("{s}"));
        }
    }
    let team = vec![ann.csm_id.clone(), ben.csm_id.clone()];
    let plan = |include_unassigned: bool, whole_company: bool| pb::PlanPortfolioBalanceRequest {
        csm_ids: team.clone(),
        sticky: false,
        include_unassigned,
        whole_company,
    };
    let mut planned = Vec::new();
    for (include_unassigned, whole_company) in [(false, false), (true, false), (false, true)] {
        let plan = client
            .plan_portfolio_balance(plan(include_unassigned, whole_company))
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner()
            .plan
            .unwrap_or_default();
        planned.push(plan);
    }
    let counts: Vec<i32> = planned.iter().map(|p| p.account_count).collect();
    assert_eq!(
        counts,
        [6, 8, 12],
        "the team's book, with the queue, the company"
    );
    let team_only = &planned[0];
    assert!(
        team_only
            .moves
            .iter()
            .all(|m| m.from_csm_id == ann.csm_id && m.to_csm_id == ben.csm_id),
        "{:?}",
        team_only.moves
    );
    assert!(team_only.csms_not_named_losing_accounts.is_empty());
    assert!(planned[1].csms_not_named_losing_accounts.is_empty());
    // Taking Dora's accounts is said, and only done when asked for.
    assert_eq!(
        planned[2].csms_not_named_losing_accounts,
        std::slice::from_ref(&dora.csm_id)
    );

    client
        .apply_portfolio_balance(pb::ApplyPortfolioBalanceRequest {
            csm_ids: team.clone(),
            ..pb::ApplyPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let book = |csm: &pb::Csm| {
        let mut client = client.clone();
        let csm_id = csm.csm_id.clone();
        async move {
            client
                .get_csm(pb::GetCsmRequest { csm_id })
                .await
                .unwrap_or_else(|s| panic!("{s}"))
                .into_inner()
                .csm
                .unwrap_or_default()
                .account_count
        }
    };
    assert_eq!(
        (book(&ann).await, book(&ben).await, book(&dora).await),
        (3, 3, 4),
        "Ann's six are shared, Dora keeps hers"
    );
    let unassigned = client
        .list_accounts(pb::ListAccountsRequest {
            unassigned_only: true,
            page_size: 100,
            ..pb::ListAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .accounts;
    assert_eq!(unassigned.len(), 2, "the queue waits until it is asked for");
}

async fn erase_and_export(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let csm = create_csm(&mut client, "Erin", 0).await;
    let mut request = new_account("Forget Me GmbH", 400_000);
    request.request_id = "forget-me".to_owned();
    if let Some(account) = request.account.as_mut() {
        account.csm_id = csm.csm_id.clone();
    }
    let account = client
        .create_account(request.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    client
        .record_contract_event(event(
            &account.account_id,
            pb::ContractEventKind::Expansion,
            1_000,
            date(2025, 2, 1),
            None,
            "forget-exp",
        ))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let export = client
        .export_account(pb::ExportAccountRequest {
            account_id: account.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        export.account.map(|a| a.name),
        Some("Forget Me GmbH".to_owned())
    );
    assert_eq!(export.contract_events.len(), 2);
    assert_eq!(export.assignments.len(), 1);

    let erase = || {
        let mut client = client.clone();
        let account_id = account.account_id.clone();
        async move {
            let erased = client
                .erase_account(pb::EraseAccountRequest { account_id })
                .await
                .unwrap_or_else(|s| panic!("every erasure must succeed: {s}"))
                .into_inner();
            (
                erased.account_erased,
                erased.contract_events_erased,
                erased.assignments_erased,
            )
        }
    };
    assert_eq!(erase().await, (true, 2, 1));
    // GDPR tooling retries: a repeat succeeds and says nothing was left.
    assert_eq!(erase().await, (false, 0, 0));
    assert_code(
        client
            .get_account(pb::GetAccountRequest {
                account_id: account.account_id.clone(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        client
            .export_account(pb::ExportAccountRequest {
                account_id: account.account_id.clone(),
            })
            .await,
        Code::NotFound,
    );
    // The stored idempotent answer went too: the same request id now creates afresh.
    let again = client
        .create_account(request)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_ne!(again.account_id, account.account_id);
}
