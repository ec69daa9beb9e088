//! Tiers kept by cut-offs (an ARR write moves them past the few accounts that cross)
//! match the ABC definition after any sequence of writes: random creations, expansions,
//! contractions, churns and erasures, with ARR values that tie often, checked against the
//! domain's full derivation after every write.

use nordstern_domain::tiers::{TierThresholds, assign_tiers};
use nordstern_proto::{accounts::v1 as pb, common::v1 as common};
use nordstern_tests::TestSuite;
use rand::{Rng, SeedableRng, rngs::SmallRng, seq::IndexedRandom};

use crate::{in_every_combination, support::*};

in_every_combination!(
    tiers_match_the_abc_definition_after_any_sequence_of_writes,
    tiers_match_the_abc_definition_after_any_sequence_of_batches,
);

/// ARR values (minor units) from a small set, so accounts tie and ids decide.
const AMOUNTS: [i64; 6] = [10_000, 20_000, 50_000, 100_000, 500_000, 2_000_000];

async fn tiers_match_the_abc_definition_after_any_sequence_of_writes(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let mut live: Vec<(String, i64)> = Vec::new();
    let mut day = 0;
    for seed in 0..3u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        for step in 0..40 {
            day += 1;
            let effective = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
                .and_then(|start| start.checked_add_days(chrono::Days::new(day)))
                .map(nordstern_runtime::wire::date_to_proto);
            let write = if live.len() < 3 {
                0
            } else {
                rng.random_range(0..10)
            };
            let described = match write {
                // Creations most often, so the company grows.
                0..=3 => {
                    let arr = if rng.random_bool(0.1) {
                        0
                    } else {
                        *AMOUNTS.choose(&mut rng).unwrap_or(&AMOUNTS[0])
                    };
                    let mut request = new_account(&format!("Tier {seed}-{step}"), arr);
                    if arr == 0 {
                        request.initial_arr = None;
                    }
                    let account = client
                        .create_account(request)
                        .await
                        .unwrap_or_else(|s| panic!("create: {s}"))
                        .into_inner()
                        .account
                        .unwrap_or_default();
                    live.push((account.account_id, arr));
                    format!("create with {arr}")
                }
                4..=8 => {
                    let index = rng.random_range(0..live.len());
                    let (id, arr) = live[index].clone();
                    let (kind, change) = match (write, arr) {
                        // Created without ARR: its first contract.
                        (_, 0) => (
                            pb::ContractEventKind::New,
                            *AMOUNTS.choose(&mut rng).unwrap_or(&AMOUNTS[0]),
                        ),
                        (4 | 5, _) => (
                            pb::ContractEventKind::Expansion,
                            *AMOUNTS.choose(&mut rng).unwrap_or(&AMOUNTS[0]),
                        ),
                        (6 | 7, arr) if arr > 10_000 => {
                            (pb::ContractEventKind::Contraction, -(arr / 2))
                        }
                        _ => (pb::ContractEventKind::Churn, 0),
                    };
                    let key = format!("tiers-{seed}-{step}");
                    let recorded = client
                        .record_contract_event(event(&id, kind, change, effective, None, &key))
                        .await
                        .unwrap_or_else(|s| panic!("{kind:?} {change} on {id}: {s}"))
                        .into_inner()
                        .account
                        .unwrap_or_default();
                    let after = recorded.arr.map_or(0, |m| m.minor_units);
                    if kind == pb::ContractEventKind::Churn {
                        live.remove(index);
                    } else {
                        live[index].1 = after;
                    }
                    format!("{kind:?} {change} on {id} ({arr} → {after})")
                }
                _ => {
                    let (id, arr) = live.remove(rng.random_range(0..live.len()));
                    client
                        .erase_account(pb::EraseAccountRequest {
                            account_id: id.clone(),
                        })
                        .await
                        .unwrap_or_else(|s| panic!("erase: {s}"));
                    format!("erase {id} ({arr})")
                }
            };
            assert_tiers_are_exact(
                &mut client,
                &format!("seed {seed}, write {step}: {described}"),
            )
            .await;
        }
    }
}

/// The same with batch writes, which move the cut-offs once for many accounts: batches
/// of new accounts, and batches of events that touch an account several times.
async fn tiers_match_the_abc_definition_after_any_sequence_of_batches(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let mut live: Vec<(String, i64, u64)> = Vec::new();
    let mut created = 0;
    for seed in 0..3u64 {
        let mut rng = SmallRng::seed_from_u64(100 + seed);
        for step in 0..12 {
            let described = if live.len() < 4 || rng.random_bool(0.4) {
                let items: Vec<pb::CreateAccountRequest> = (0..rng.random_range(1..8))
                    .map(|_| {
                        created += 1;
                        let arr = if rng.random_bool(0.15) {
                            0
                        } else {
                            *AMOUNTS.choose(&mut rng).unwrap_or(&AMOUNTS[0])
                        };
                        let mut request = new_account(&format!("Batch {created}"), arr);
                        request.request_id = format!("tier-batch-{created}");
                        if arr == 0 {
                            request.initial_arr = None;
                        }
                        request
                    })
                    .collect();
                let count = items.len();
                let response = client
                    .batch_create_accounts(pb::BatchCreateAccountsRequest { items })
                    .await
                    .unwrap_or_else(|s| panic!("batch create: {s}"))
                    .into_inner();
                assert_eq!(response.refused_count, 0, "{:?}", response.refusals);
                for created in response.accounts {
                    let account = created.account.unwrap_or_default();
                    let arr = account.arr.map_or(0, |m| m.minor_units);
                    live.push((account.account_id, arr, 0));
                }
                format!("a batch of {count} new accounts")
            } else {
                let mut events = Vec::new();
                for _ in 0..rng.random_range(1..10) {
                    let index = rng.random_range(0..live.len());
                    let (id, arr, day) = live[index].clone();
                    let (kind, change) = match (rng.random_range(0..6), arr) {
                        (_, 0) => (
                            pb::ContractEventKind::New,
                            *AMOUNTS.choose(&mut rng).unwrap_or(&AMOUNTS[0]),
                        ),
                        (0..=2, _) => (
                            pb::ContractEventKind::Expansion,
                            *AMOUNTS.choose(&mut rng).unwrap_or(&AMOUNTS[0]),
                        ),
                        (3 | 4, arr) if arr > 10_000 => {
                            (pb::ContractEventKind::Contraction, -(arr / 2))
                        }
                        _ => (pb::ContractEventKind::Churn, 0),
                    };
                    let effective = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
                        .and_then(|start| start.checked_add_days(chrono::Days::new(day + 1)))
                        .map(nordstern_runtime::wire::date_to_proto);
                    let key = format!("tier-batch-{seed}-{step}-{}", events.len());
                    events.push(
                        event(&id, kind, change, effective, None, &key)
                            .event
                            .unwrap_or_default(),
                    );
                    live[index].1 = match kind {
                        pb::ContractEventKind::Churn => 0,
                        _ => arr + change,
                    };
                    live[index].2 = day + 1;
                    if kind == pb::ContractEventKind::Churn {
                        live.remove(index);
                    }
                    if live.is_empty() {
                        break;
                    }
                }
                let count = events.len();
                let response = client
                    .batch_record_contract_events(pb::BatchRecordContractEventsRequest { events })
                    .await
                    .unwrap_or_else(|s| panic!("batch events: {s}"))
                    .into_inner();
                assert_eq!(response.refused_count, 0, "{:?}", response.refusals);
                format!("a batch of {count} contract events")
            };
            assert_tiers_are_exact(
                &mut client,
                &format!("seed {seed}, batch {step}: {described}"),
            )
            .await;
        }
    }
}

/// Every stored account's tier against the full derivation over every stored account.
pub(super) async fn assert_tiers_are_exact(client: &mut Accounts, after: &str) {
    let accounts = client
        .list_accounts(pb::ListAccountsRequest {
            page_size: 1000,
            ..pb::ListAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .accounts;
    let keyed: Vec<(String, i64)> = accounts
        .iter()
        .map(|a| {
            (
                a.account_id.clone(),
                a.arr.as_ref().map_or(0, |m| m.minor_units),
            )
        })
        .collect();
    let expected = assign_tiers(&keyed, TierThresholds::default());
    for ((account, (id, arr)), tier) in accounts.iter().zip(&keyed).zip(expected) {
        let want = common::Tier::from_str_name(&format!("TIER_{}", tier.as_str()))
            .map_or(-1, |tier| tier as i32);
        assert_eq!(
            account.tier,
            want,
            "after {after}: account {id} with ARR {arr} has tier {:?}, the definition says {tier:?}",
            common::Tier::try_from(account.tier)
        );
    }
}
