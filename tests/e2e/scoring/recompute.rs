//! A recompute of a company larger than one write transaction (4,000 accounts): every
//! account scored once per run, and the next run builds on what the first stored.

use std::collections::HashMap;

use super::*;

in_every_combination!(a_company_larger_than_one_write_batch_is_scored_whole);

const ACCOUNTS: usize = 4_321;

async fn a_company_larger_than_one_write_batch_is_scored_whole(suite: &TestSuite) {
    let created = create_accounts_in_bulk(&mut accounts(suite).await, "scale", ACCOUNTS).await;

    let mut client = scoring(suite).await;
    for run in 1..=2 {
        let report = recompute_all(&mut client).await;
        assert_eq!(report.accounts_scored as usize, ACCOUNTS, "run {run}");
        let versions = stored_versions(&mut client).await;
        assert_eq!(versions.len(), ACCOUNTS, "run {run}: one score per account");
        for id in &created {
            assert_eq!(versions.get(id), Some(&run), "run {run}: version of {id}");
        }
    }
}

/// The version of every stored latest score, by account.
async fn stored_versions(client: &mut Scoring) -> HashMap<String, i64> {
    let request = pb::ListHealthScoresRequest {
        page_size: 1_000,
        ..pb::ListHealthScoresRequest::default()
    };
    let mut versions = HashMap::new();
    for score in super::lists::all_pages(client, request).await {
        let previous = versions.insert(score.account_id.clone(), score.version);
        assert!(previous.is_none(), "{} listed twice", score.account_id);
    }
    versions
}
