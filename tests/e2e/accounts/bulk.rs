//! Batch writes: refusals per item with index, field and reason while the other items
//! are written; a batch sent again writes nothing twice and answers with what was
//! written; batches and single calls share their keys; tiers stay exact; and a batch
//! interrupted mid-write loses nothing that was acknowledged.

use std::time::Duration;

use nordstern_proto::{accounts::v1 as pb, common::v1 as common};
use nordstern_tests::TestSuite;
use tonic::Code;

use super::tiers::assert_tiers_are_exact;
use crate::{in_every_combination, support::*};

in_every_combination!(
    batches_refuse_per_item_and_write_nothing_twice,
    an_interrupted_batch_loses_nothing_acknowledged,
);

fn with_crm(
    mut request: pb::CreateAccountRequest,
    crm_id: &str,
    key: &str,
) -> pb::CreateAccountRequest {
    if let Some(account) = request.account.as_mut() {
        account.crm_id = crm_id.to_owned();
    }
    request.request_id = key.to_owned();
    request
}

/// (index, field, code) of every refusal.
fn refused(refusals: &[common::ItemRefusal]) -> Vec<(i32, &str, Code)> {
    refusals
        .iter()
        .map(|r| (r.index, r.field.as_str(), Code::from_i32(r.code)))
        .collect()
}

fn event_of(request: pb::RecordContractEventRequest) -> pb::ContractEvent {
    request.event.unwrap_or_default()
}

async fn batches_refuse_per_item_and_write_nothing_twice(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    client
        .upsert_product_module(pb::UpsertProductModuleRequest {
            module: Some(pb::ProductModule {
                module_key: "analytics".to_owned(),
                name: "Analytics".to_owned(),
                feature_keys: vec!["cohorts".to_owned()],
                list_price: eur(100_000),
                has_integration: false,
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let csm = create_csm(&mut client, "Single Seat", 1).await;

    let mut first = with_crm(new_account("First", 100_000), "SF-1", "");
    if let Some(account) = first.account.as_mut() {
        account.module_keys = vec!["analytics".to_owned()];
        account.csm_id = csm.csm_id.clone();
    }
    let mut broken = new_account("", 1_000);
    if let Some(account) = broken.account.as_mut() {
        account.segment = 42;
    }
    let mut over_capacity = with_crm(new_account("Second seat", 5_000), "SF-2", "r4");
    if let Some(account) = over_capacity.account.as_mut() {
        account.csm_id = csm.csm_id.clone();
    }
    let mut unknown_module = with_crm(new_account("Unknown module", 5_000), "SF-3", "r5");
    if let Some(account) = unknown_module.account.as_mut() {
        account.module_keys = vec!["nope".to_owned()];
    }
    let mut without_arr = with_crm(new_account("Without ARR", 0), "SF-4", "r6");
    without_arr.initial_arr = None;
    let mut reused_key = without_arr.clone();
    if let Some(account) = reused_key.account.as_mut() {
        account.name = "Another name".to_owned();
    }
    let items = vec![
        first,
        broken,
        new_account("No key", 1_000),
        with_crm(new_account("Same CRM id", 2_000), "SF-1", "r3"),
        over_capacity,
        unknown_module,
        without_arr.clone(),
        without_arr.clone(),
        reused_key,
    ];
    let batch = pb::BatchCreateAccountsRequest { items };
    let response = client
        .batch_create_accounts(batch.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        refused(&response.refusals),
        [
            (1, "account.name", Code::InvalidArgument),
            (1, "account.segment", Code::InvalidArgument),
            (2, "request_id", Code::InvalidArgument),
            (3, "account.crm_id", Code::AlreadyExists),
            (4, "account.csm_id", Code::FailedPrecondition),
            (5, "account.module_keys[0]", Code::InvalidArgument),
            (8, "request_id", Code::FailedPrecondition),
        ],
        "{response:?}"
    );
    assert_eq!(
        (
            response.created_count,
            response.duplicate_count,
            response.refused_count
        ),
        (2, 1, 6)
    );
    let written: Vec<(i32, bool)> = response
        .accounts
        .iter()
        .map(|a| (a.index, a.duplicate))
        .collect();
    assert_eq!(written, [(0, false), (6, false), (7, true)]);
    let account = |index: usize| response.accounts[index].account.clone().unwrap_or_default();
    let (sf1, sf4) = (account(0), account(1));
    assert_eq!(
        account(2).account_id,
        sf4.account_id,
        "a repeat in the batch is the same account"
    );
    assert_eq!(sf1.csm_id, csm.csm_id);
    assert_eq!(sf1.module_keys, ["analytics"]);
    assert_eq!(sf1.arr.as_ref().map(|m| m.minor_units), Some(100_000));
    assert_eq!(
        sf1.tier,
        common::Tier::A as i32,
        "tiers are set in the batch"
    );
    assert_eq!(sf4.arr.as_ref().map(|m| m.minor_units), Some(0));
    assert_eq!(
        account_count(&mut client).await,
        2,
        "refused items wrote nothing"
    );
    let handed_over = client
        .get_csm(pb::GetCsmRequest {
            csm_id: csm.csm_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .csm
        .unwrap_or_default();
    assert_eq!(handed_over.account_count, 1);

    // The same batch again: the written items are answered, nothing is written twice.
    let again = client
        .batch_create_accounts(batch)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        (again.created_count, again.duplicate_count),
        (0, 3),
        "{again:?}"
    );
    let ids: Vec<&str> = again
        .accounts
        .iter()
        .filter_map(|a| a.account.as_ref().map(|a| a.account_id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [sf1.account_id.as_str(), &sf4.account_id, &sf4.account_id]
    );
    assert_eq!(account_count(&mut client).await, 2);
    // A batch item and CreateAccount with the same key are the same request.
    let single = client
        .create_account(without_arr)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(single.account_id, sf4.account_id);

    // Contract events: an account's later events build on its earlier ones in the batch.
    let missing = "00000000-0000-7000-8000-000000000000";
    let expansion = event_of(event(
        &sf1.account_id,
        pb::ContractEventKind::Expansion,
        50_000,
        date(2025, 3, 1),
        None,
        "e0",
    ));
    let events = vec![
        expansion.clone(),
        event_of(event(
            &sf1.account_id,
            pb::ContractEventKind::Expansion,
            10,
            date(2025, 2, 1),
            None,
            "e1",
        )),
        event_of(event(
            &sf4.account_id,
            pb::ContractEventKind::New,
            20_000,
            date(2025, 2, 1),
            None,
            "e2",
        )),
        event_of(event(
            &sf4.account_id,
            pb::ContractEventKind::Contraction,
            -5_000,
            date(2025, 4, 1),
            None,
            "e3",
        )),
        event_of(event(
            missing,
            pb::ContractEventKind::Expansion,
            10,
            date(2025, 4, 1),
            None,
            "e4",
        )),
        event_of(event(
            &sf1.account_id,
            pb::ContractEventKind::Expansion,
            10,
            date(2025, 4, 1),
            None,
            "",
        )),
        event_of(event(
            &sf1.account_id,
            pb::ContractEventKind::Expansion,
            -10,
            date(2025, 4, 1),
            None,
            "e6",
        )),
        expansion,
    ];
    let batch = pb::BatchRecordContractEventsRequest { events };
    let response = client
        .batch_record_contract_events(batch.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        refused(&response.refusals),
        [
            (1, "event.effective_date", Code::FailedPrecondition),
            (4, "event.account_id", Code::NotFound),
            (5, "event.idempotency_key", Code::InvalidArgument),
            (6, "event.arr_change", Code::InvalidArgument),
        ],
        "{response:?}"
    );
    assert_eq!(
        (
            response.recorded_count,
            response.duplicate_count,
            response.refused_count
        ),
        (3, 1, 4)
    );
    let arr_after: Vec<(i32, i64, bool)> = response
        .events
        .iter()
        .map(|e| {
            (
                e.index,
                e.event
                    .as_ref()
                    .and_then(|e| e.arr_after.as_ref())
                    .map_or(-1, |m| m.minor_units),
                e.duplicate,
            )
        })
        .collect();
    assert_eq!(
        arr_after,
        [
            (0, 150_000, false),
            (2, 20_000, false),
            (3, 15_000, false),
            (7, 150_000, true)
        ]
    );
    let again = client
        .batch_record_contract_events(batch)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        (again.recorded_count, again.duplicate_count),
        (0, 4),
        "{again:?}"
    );
    let retried = client
        .record_contract_event(event(
            &sf1.account_id,
            pb::ContractEventKind::Expansion,
            50_000,
            date(2025, 3, 1),
            None,
            "e0",
        ))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        retried.event.map(|e| e.event_id),
        response.events[0]
            .event
            .as_ref()
            .map(|e| e.event_id.clone()),
        "a batch event and RecordContractEvent with the same key are the same request"
    );
    for (account, arr) in [(&sf1, 150_000), (&sf4, 15_000)] {
        let stored = client
            .get_account(pb::GetAccountRequest {
                account_id: account.account_id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner()
            .account
            .unwrap_or_default();
        assert_eq!(stored.arr.map(|m| m.minor_units), Some(arr));
    }
    assert_tiers_are_exact(&mut client, "the batches").await;

    // Over the limit the whole call is refused.
    let too_many = pb::BatchCreateAccountsRequest {
        items: vec![new_account("x", 1); 1001],
    };
    assert_invalid(client.batch_create_accounts(too_many).await, &["items"]);
}

/// Batches of a CRM sync, one of them cut off mid-write again and again by a deadline
/// that expires while the server writes it; then everything is sent again. Each account
/// and event is stored exactly once, and every acknowledged one survived.
async fn an_interrupted_batch_loses_nothing_acknowledged(suite: &TestSuite) {
    const ACCOUNTS: usize = 1_500;
    let mut client = accounts(suite).await;
    let items: Vec<pb::CreateAccountRequest> = (0..ACCOUNTS)
        .map(|n| {
            with_crm(
                new_account(&format!("Sync {n}"), 10_000 + (n as i64 % 7) * 5_000),
                &format!("SYNC-{n:05}"),
                "",
            )
        })
        .collect();
    let batches: Vec<Vec<pb::CreateAccountRequest>> =
        items.chunks(500).map(<[_]>::to_vec).collect();
    let mut acknowledged = Vec::new();
    let mut interrupted = 0;
    // The first batch goes through; the second is cut off after 1, 2, 4 … ms until one
    // attempt completes in time.
    for (index, batch) in batches.iter().enumerate().take(2) {
        let mut deadline = Duration::from_millis(1);
        loop {
            let request = pb::BatchCreateAccountsRequest {
                items: batch.clone(),
            };
            let call = client.batch_create_accounts(request);
            let answer = if index == 0 {
                Ok(call.await)
            } else {
                tokio::time::timeout(deadline, call).await
            };
            match answer {
                Ok(Ok(response)) => {
                    acknowledged.extend(response.into_inner().accounts);
                    break;
                }
                Ok(Err(status))
                    if status.code() == Code::DeadlineExceeded
                        || status.code() == Code::Cancelled =>
                {
                    interrupted += 1;
                }
                Ok(Err(status)) => panic!("batch {index}: {status}"),
                Err(_) => interrupted += 1,
            }
            deadline *= 2;
            assert!(
                deadline < Duration::from_secs(120),
                "batch {index} never completed"
            );
        }
    }
    assert!(
        interrupted > 0,
        "no attempt was interrupted; the test proved nothing"
    );
    // Everything again, as a client that lost track would send it.
    let mut stored = Vec::new();
    for batch in &batches {
        let response = client
            .batch_create_accounts(pb::BatchCreateAccountsRequest {
                items: batch.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        assert_eq!(response.refused_count, 0, "{:?}", response.refusals);
        stored.extend(response.accounts);
    }
    let ids: std::collections::HashMap<String, String> = stored
        .iter()
        .filter_map(|a| a.account.as_ref())
        .map(|a| (a.crm_id.clone(), a.account_id.clone()))
        .collect();
    for kept in acknowledged.iter().filter_map(|a| a.account.as_ref()) {
        assert_eq!(
            ids.get(&kept.crm_id),
            Some(&kept.account_id),
            "an acknowledged account was lost or replaced"
        );
    }
    let mut all = Vec::new();
    let mut request = pb::ListAccountsRequest {
        page_size: 1000,
        ..pb::ListAccountsRequest::default()
    };
    loop {
        let page = client
            .list_accounts(request.clone())
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        all.extend(page.accounts);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    assert_eq!(
        all.len(),
        ACCOUNTS,
        "every account once, after {interrupted} interruptions"
    );
    let arr: i64 = all
        .iter()
        .filter_map(|a| a.arr.as_ref())
        .map(|m| m.minor_units)
        .sum();
    let expected: i64 = (0..ACCOUNTS).map(|n| 10_000 + (n as i64 % 7) * 5_000).sum();
    assert_eq!(arr, expected, "each opening contract once");
    let summary = client
        .get_tier_summary(pb::GetTierSummaryRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let counted: i32 = summary.tiers.iter().map(|t| t.account_count).sum();
    assert_eq!(counted as usize, ACCOUNTS);
}
