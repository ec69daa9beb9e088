//! Accounts scenarios: every RPC of the accounts service over real gRPC and real storage.

use nordstern_proto::{accounts::v1 as pb, common::v1 as common};
use nordstern_tests::TestSuite;
use tonic::Code;

use crate::{in_every_combination, support::*};

mod bulk;
mod contracts;
mod portfolios;
mod privacy;
mod tiers;

in_every_combination!(
    accounts_crud_filters_and_pagination,
    bad_input_is_refused_field_by_field_and_nothing_is_written,
    idempotency_keys_answer_retries_without_reapplying,
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
        assigned_at: None,
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
