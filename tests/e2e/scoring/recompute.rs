//! A recompute of a company larger than one write transaction (4,000 accounts): every
//! account scored once per run, and the next run builds on what the first stored.
//! Recomputes racing on one account: a computation not newer than the stored score is
//! skipped whole. Churned accounts are not scored, and only ids a caller named are
//! reported missing.

use std::collections::HashMap;

use super::*;

in_every_combination!(
    a_company_larger_than_one_write_batch_is_scored_whole,
    racing_recomputes_of_one_account_store_each_version_once,
    churned_accounts_are_not_scored_and_only_named_ids_are_missing,
);

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

async fn churned_accounts_are_not_scored_and_only_named_ids_are_missing(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let created = create_accounts_in_bulk(&mut accounts_client, "churn", 3).await;
    let churned = created[1].clone();
    accounts_client
        .record_contract_event(event(
            &churned,
            accounts_pb::ContractEventKind::Churn,
            0,
            date(2025, 9, 1),
            None,
            "churned",
        ))
        .await
        .unwrap_or_else(|s| panic!("churn: {s}"));

    let mut client = scoring(suite).await;
    let everyone = recompute_all(&mut client).await;
    assert_eq!(everyone.accounts_scored, 2);
    assert!(
        everyone.missing_account_ids.is_empty(),
        "{:?}",
        everyone.missing_account_ids
    );
    let versions = stored_versions(&mut client).await;
    let mut scored: Vec<&String> = versions.keys().collect();
    scored.sort();
    let mut expected = vec![&created[0], &created[2]];
    expected.sort();
    assert_eq!(
        scored, expected,
        "the churned account {churned} is not scored"
    );

    // Named: a churned account is neither scored nor missing; an unknown id is missing,
    // once however often it is named.
    let unknown = "00000000-0000-7000-8000-000000000000".to_owned();
    let named = client
        .recompute_health_scores(pb::RecomputeHealthScoresRequest {
            account_ids: vec![
                created[0].clone(),
                churned.clone(),
                unknown.clone(),
                created[0].clone(),
                unknown.clone(),
            ],
            all_accounts: false,
        })
        .await
        .unwrap_or_else(|s| panic!("recompute: {s}"))
        .into_inner();
    assert_eq!(named.accounts_scored, 1);
    assert_eq!(named.missing_account_ids, [unknown]);
    assert_eq!(
        stored_versions(&mut client).await.get(&created[0]),
        Some(&2)
    );
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

/// Eight recomputes of one account at once and one of everyone: those that read the same
/// stored score compute the same next version, and only the first to commit stores it.
/// The others count nothing and write no history, so the scores counted, the latest
/// version and the history agree (a skipped write that went on to the history would
/// fail on its primary key, or be counted twice).
async fn racing_recomputes_of_one_account_store_each_version_once(suite: &TestSuite) {
    let created = create_accounts_in_bulk(&mut accounts(suite).await, "race", 2).await;
    let id = created[0].clone();
    let client = scoring(suite).await;
    let mut races = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (mut client, id) = (client.clone(), id.clone());
        races.spawn(async move {
            client
                .recompute_health_scores(pb::RecomputeHealthScoresRequest {
                    account_ids: vec![id],
                    all_accounts: false,
                })
                .await
                .unwrap_or_else(|s| panic!("recompute: {s}"))
                .into_inner()
                .accounts_scored
        });
    }
    let mut everyone = client.clone();
    races.spawn(async move { recompute_all(&mut everyone).await.accounts_scored });
    let mut scored = 0;
    while let Some(outcome) = races.join_next().await {
        scored += i64::from(outcome.unwrap_or_else(|error| panic!("{error}")));
    }
    let mut client = client;
    let latest = health(&mut client, &id).await.version;
    let history = nordstern_runtime::paging::all_pages(
        pb::ListHealthScoreHistoryRequest {
            account_id: id.clone(),
            ..pb::ListHealthScoreHistoryRequest::default()
        },
        |request| {
            let mut client = client.clone();
            async move { client.list_health_score_history(request).await }
        },
    )
    .await
    .unwrap_or_else(|s| panic!("{s}"));
    let other = stored_versions(&mut client).await[&created[1]];
    assert_eq!(
        other, 1,
        "the other account, scored by the recompute of everyone"
    );
    // The other account's score is one of those counted.
    assert_eq!(
        scored - 1,
        latest,
        "scores counted against the latest version"
    );
    assert_eq!(
        history.len() as i64,
        latest,
        "history rows against the latest version"
    );
}
