//! The lists CRMs pull: filtered, paged and ordered.

use super::*;

in_every_combination!(crm_lists_filter_page_and_order);

/// Every score the request lists, page after page, in list order.
pub(super) async fn all_pages(
    client: &mut Scoring,
    mut request: pb::ListHealthScoresRequest,
) -> Vec<pb::HealthScore> {
    let mut scores = Vec::new();
    loop {
        let page = client
            .list_health_scores(request.clone())
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        scores.extend(page.health_scores);
        if page.next_page_token.is_empty() {
            return scores;
        }
        request.page_token = page.next_page_token;
    }
}

async fn list_scores(client: &mut Scoring, request: pb::ListHealthScoresRequest) -> Vec<String> {
    all_pages(client, request)
        .await
        .into_iter()
        .map(|s| s.account_id)
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The at-risk list of a CSM's portfolio (everyone's for ""), checked: each amount is
/// ARR × churn probability, highest first.
async fn at_risk_in_order(client: &mut Scoring, csm_id: &str) -> Vec<pb::HealthScore> {
    let risk = client
        .list_at_risk_accounts(pb::ListAtRiskAccountsRequest {
            csm_id: csm_id.to_owned(),
            ..pb::ListAtRiskAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .health_scores;
    for score in &risk {
        let probability = score.churn.as_ref().map_or(-1.0, |c| c.probability);
        assert_eq!(
            money(&score.arr_at_risk),
            (money(&score.arr) as f64 * probability).round() as i64,
            "{}",
            score.account_id
        );
    }
    let amounts: Vec<i64> = risk.iter().map(|s| money(&s.arr_at_risk)).collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");
    risk
}

/// Two CSMs: A owns G (SME, busy, green) and E (enterprise, idle); B owns R (SME, idle);
/// P (prosumer) has nobody.
async fn crm_lists_filter_page_and_order(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let a = create_csm(&mut accounts_client, "Anna Alt", 50)
        .await
        .csm_id;
    let b = create_csm(&mut accounts_client, "Bert Berg", 50)
        .await
        .csm_id;
    let spec = |name, arr, segment, csm_id| NewAccount {
        name,
        arr,
        segment,
        csm_id,
        ..NewAccount::default()
    };
    let g = create(
        &mut accounts_client,
        spec("Grün", 5_000_000, common::Segment::Sme, &a),
    )
    .await;
    let e = create(
        &mut accounts_client,
        spec("Enterprise", 9_000_000, common::Segment::Enterprise, &a),
    )
    .await;
    let r = create(
        &mut accounts_client,
        spec("Rot", 3_000_000, common::Segment::Sme, &b),
    )
    .await;
    let p = create(
        &mut accounts_client,
        spec("Prosumer", 100_000, common::Segment::Prosumer, ""),
    )
    .await;
    steady_usage(suite, &g, &[]).await;
    let mut client = scoring(suite).await;
    let report = recompute_all(&mut client).await;
    assert_eq!(report.accounts_scored, 4);
    let all = sorted(vec![g.clone(), e.clone(), r.clone(), p.clone()]);

    // Filters.
    let by = |color: common::HealthColor, csm_id: &str, segment: common::Segment| {
        pb::ListHealthScoresRequest {
            color: color as i32,
            csm_id: csm_id.to_owned(),
            segment: segment as i32,
            ..pb::ListHealthScoresRequest::default()
        }
    };
    use common::{HealthColor as C, Segment as S};
    assert_eq!(
        list_scores(&mut client, by(C::Green, "", S::Unspecified)).await,
        [g.as_str()]
    );
    // E by hand: enterprise weights, login 0 (10), peers 0 (5, bottom of A's
    // portfolio), support 100 (10), renewal 100 (10) → 2000 / 35, yellow. R: SME, login
    // 0 (20), peers 0 (10), support 100 (10), renewal 100 (5) → 1500 / 45, red. P:
    // prosumer, alone: login 0 (30), support and renewal 100 (5 each) → 25, red.
    assert_eq!(
        list_scores(&mut client, by(C::Yellow, "", S::Unspecified)).await,
        [e.as_str()]
    );
    assert_eq!(
        sorted(list_scores(&mut client, by(C::Red, "", S::Unspecified)).await),
        sorted(vec![r.clone(), p.clone()])
    );
    assert_eq!(
        sorted(list_scores(&mut client, by(C::Unspecified, &a, S::Unspecified)).await),
        sorted(vec![g.clone(), e.clone()])
    );
    assert_eq!(
        sorted(list_scores(&mut client, by(C::Unspecified, "", S::Sme)).await),
        sorted(vec![g.clone(), r.clone()])
    );
    assert_eq!(
        list_scores(&mut client, by(C::Yellow, &a, S::Enterprise)).await,
        [e.as_str()]
    );
    assert!(
        list_scores(&mut client, by(C::Red, &a, S::Unspecified))
            .await
            .is_empty()
    );

    // One per page: every account exactly once, no duplicates, no gaps.
    let mut pages = 0;
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_health_scores(pb::ListHealthScoresRequest {
                page_size: 1,
                page_token,
                ..pb::ListHealthScoresRequest::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        pages += 1;
        assert!(page.health_scores.len() <= 1);
        seen.extend(page.health_scores.into_iter().map(|s| s.account_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(pages <= 10, "no end to the pages");
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(sorted(seen), all);

    // changed_since: only R changes after the cut (a login today).
    let cut = Utc::now();
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    ingest(suite, vec![login(&r, "rita", base_time())]).await;
    recompute_all(&mut client).await;
    let since = |page_size| pb::ListHealthScoresRequest {
        changed_since: Some(timestamp(cut)),
        page_size,
        ..pb::ListHealthScoresRequest::default()
    };
    assert_eq!(list_scores(&mut client, since(0)).await, [r.as_str()]);
    assert_eq!(list_scores(&mut client, since(1)).await, [r.as_str()]);
    let unchanged = health(&mut client, &g).await;
    assert_eq!(unchanged.version, 2);
    assert!(
        unchanged.changed_at.as_ref().map(|t| (t.seconds, t.nanos))
            < Some((timestamp(cut).seconds, timestamp(cut).nanos))
    );

    // A batch in request order, the missing id reported.
    let missing = "00000000-0000-7000-8000-00000000beef".to_owned();
    let batch = client
        .batch_get_health_scores(pb::BatchGetHealthScoresRequest {
            account_ids: vec![p.clone(), missing.clone(), g.clone(), r.clone()],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let ids: Vec<&str> = batch
        .health_scores
        .iter()
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(ids, [p.as_str(), g.as_str(), r.as_str()]);
    assert_eq!(batch.missing_account_ids, [missing]);

    // At risk: ARR × probability, highest first; one CSM's portfolio.
    let risk = at_risk_in_order(&mut client, "").await;
    assert_eq!(risk.len(), 4);
    let mine = at_risk_in_order(&mut client, &a).await;
    let mine: Vec<&str> = mine.iter().map(|s| s.account_id.as_str()).collect();
    let expected: Vec<&str> = risk
        .iter()
        .filter(|s| s.csm_id == a)
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(mine, expected);
    assert_eq!(mine.len(), 2);

    // E's ARR shrinks to a thousandth: the next recompute moves it from its place near
    // the top of the at-risk list to the bottom (at most its new ARR, far below the
    // others' amounts), while the others keep their stored place. An unmoved sort key
    // would list E where it was, out of order.
    let at_risk_of = |scores: &[pb::HealthScore], id: &str| {
        scores
            .iter()
            .find(|s| s.account_id == id)
            .map(|s| money(&s.arr_at_risk))
    };
    let before = at_risk_of(&risk, &e);
    accounts_client
        .record_contract_event(event(
            &e,
            accounts_pb::ContractEventKind::Contraction,
            -8_991_000,
            days_from_now(-1),
            None,
            "e-shrinks",
        ))
        .await
        .unwrap_or_else(|s| panic!("contraction: {s}"));
    recompute_all(&mut client).await;
    let risk = at_risk_in_order(&mut client, "").await;
    let listed: Vec<(String, i64)> = risk
        .iter()
        .map(|s| (s.account_id.clone(), money(&s.arr_at_risk)))
        .collect();
    assert_ne!(at_risk_of(&risk, &e), before, "{listed:?}");
    assert!(at_risk_of(&risk, &e) <= Some(9_000), "{listed:?}");
    assert_eq!(risk.len(), 4);

    // History: newest first, one entry per computation.
    recompute_one(&mut client, &g).await;
    let history = client
        .list_health_score_history(pb::ListHealthScoreHistoryRequest {
            account_id: g.clone(),
            ..pb::ListHealthScoreHistoryRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .entries;
    assert_eq!(history.len(), 4, "{history:?}");
    let times: Vec<(i64, i32)> = history
        .iter()
        .map(|h| {
            h.computed_at
                .as_ref()
                .map_or((0, 0), |t| (t.seconds, t.nanos))
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
    let latest = health(&mut client, &g).await;
    assert_eq!(latest.version, 4);
    assert_eq!(
        history[0].computed_at, latest.computed_at,
        "the newest entry is the latest score"
    );
    // G by hand: login 100, integration 100, trend 50, peers 100, support 100,
    // renewal 100 under 20/10/15/10/10/5 → 6250 / 70.
    assert!(close(latest.score, 6_250.0 / 70.0), "{latest:?}");
    assert!(
        history
            .iter()
            .all(|h| close(h.score, latest.score) && h.color == common::HealthColor::Green as i32)
    );
    // Paged one by one, the same entries.
    let mut paged = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_health_score_history(pb::ListHealthScoreHistoryRequest {
                account_id: g.clone(),
                page_size: 1,
                page_token,
                ..pb::ListHealthScoreHistoryRequest::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner();
        paged.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(paged.len() <= 10);
    }
    assert_eq!(paged, history);
}
