//! Reading everything back after the last restart: the checks the module comment of
//! `kill_ingest.rs` lists.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{BatchRecord, Workload, pb, usage_client};

/// Reads everything back and checks it is exactly the distinct events sent, once each;
/// returns how many events are stored.
pub(super) async fn verify(
    url: &str,
    token: &str,
    workload: &Workload,
    records: &[BatchRecord],
) -> usize {
    assert_eq!(
        records.len(),
        workload.batches.len(),
        "unacknowledged batches"
    );
    for (batch, (record, events)) in records.iter().zip(&workload.batches).enumerate() {
        let new = workload.expected_new[batch] as i32;
        assert_eq!(record.rejected, 0, "batch {batch}: {record:?}");
        assert_eq!(
            record.accepted + record.duplicates,
            events.len() as i32,
            "batch {batch}: {record:?}"
        );
        if record.attempts == 1 {
            assert_eq!(record.accepted, new, "batch {batch}: {record:?}");
        } else {
            assert!(
                record.accepted == new || record.accepted == 0,
                "batch {batch} was committed in part: {record:?}, {new} new events"
            );
        }
    }

    // Every distinct event was newly stored by exactly one attempt: the acknowledged one,
    // or an earlier one whose response a kill ate (its retry then saw only duplicates).
    let acknowledged_new: usize = records.iter().map(|r| r.accepted as usize).sum();
    let committed_unacknowledged: usize = records
        .iter()
        .zip(&workload.expected_new)
        .filter(|(r, _)| r.attempts > 1 && r.accepted == 0)
        .map(|(_, new)| *new)
        .sum();
    assert_eq!(
        acknowledged_new + committed_unacknowledged,
        workload.distinct.len(),
        "accepted counts do not add up to the distinct events"
    );

    let mut client = usage_client(url, token);
    let mut stored = 0;
    for account in &workload.accounts {
        let expected: HashMap<String, usize> = workload
            .distinct
            .iter()
            .filter(|&&n| workload.account(n) == account)
            .map(|&n| (Workload::event_id(n), n))
            .collect();
        let mut stream = client
            .export_account_usage(pb::ExportAccountUsageRequest {
                account_id: account.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("export {account}: {status:?}"))
            .into_inner();
        let mut seen = HashSet::new();
        let mut daily = Rollup::default();
        while let Some(chunk) = stream
            .message()
            .await
            .unwrap_or_else(|status| panic!("export {account}: {status:?}"))
        {
            for event in chunk.events {
                let n = expected.get(&event.event_id).copied().unwrap_or_else(|| {
                    panic!("account {account}: {} was never sent", event.event_id)
                });
                assert!(
                    seen.insert(event.event_id.clone()),
                    "account {account}: {} is stored twice",
                    event.event_id
                );
                assert_eq!(event.kind, Workload::kind(n) as i32, "{}", event.event_id);
                assert_eq!(event.quantity, Workload::quantity(n), "{}", event.event_id);
                assert_eq!(
                    event.feature_key,
                    Workload::feature_key(n),
                    "{}",
                    event.event_id
                );
                assert_eq!(
                    event.occurred_at.map(|at| at.seconds),
                    Some(workload.occurred_at_secs(n)),
                    "{}",
                    event.event_id
                );
            }
            for day in chunk.daily_usage {
                daily.logins += day.logins;
                daily.integration_syncs += day.integration_syncs;
                for (feature, uses) in day.feature_uses {
                    *daily.feature_uses.entry(feature).or_default() += uses;
                }
            }
        }
        let mut missing: Vec<&String> = expected.keys().filter(|id| !seen.contains(*id)).collect();
        missing.sort_unstable();
        assert!(
            missing.is_empty(),
            "account {account}: {} acknowledged events lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        let mut wanted = Rollup::default();
        for &n in expected.values() {
            match Workload::kind(n) {
                pb::UsageEventKind::Login => wanted.logins += Workload::quantity(n),
                pb::UsageEventKind::FeatureUsed => {
                    *wanted
                        .feature_uses
                        .entry(Workload::feature_key(n))
                        .or_default() += Workload::quantity(n);
                }
                _ => wanted.integration_syncs += Workload::quantity(n),
            }
        }
        assert_eq!(daily, wanted, "account {account}: daily rollups");
        stored += seen.len();
    }
    assert_eq!(stored, workload.distinct.len());
    stored
}

#[derive(Debug, Default, PartialEq)]
struct Rollup {
    logins: i64,
    integration_syncs: i64,
    feature_uses: BTreeMap<String, i64>,
}
