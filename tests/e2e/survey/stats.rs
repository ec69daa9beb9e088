//! Survey statistics on known data for every scope (company, segment, portfolio, account), and the detractor feed that resumes where it stopped.

use super::*;

in_every_combination!(
    statistics_on_known_data_for_every_scope,
    detractor_feed_resumes_where_it_stopped,
);

fn window_around_today(days_back: i64) -> Option<common::Period> {
    let today = chrono::Utc::now().date_naive();
    let to_proto = |date: chrono::NaiveDate| nordstern_runtime::wire::date_to_proto(date);
    Some(common::Period {
        start_date: Some(to_proto(today - chrono::Duration::days(days_back))),
        end_date: Some(to_proto(today + chrono::Duration::days(1))),
    })
}

async fn statistics_on_known_data_for_every_scope(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = surveys(suite).await;
    let csm = create_csm(&mut accounts_client, "Stat Csm", 0).await;
    let mut request = new_account("Enterprise X", 5_000_000);
    if let Some(account) = request.account.as_mut() {
        account.segment = common::Segment::Enterprise as i32;
        account.csm_id = csm.csm_id.clone();
    }
    let x = accounts_client
        .create_account(request)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    let y = create_account(&mut accounts_client, "Small Y", 1_000).await; // SME, no CSM
    let nps = campaign(&mut client, pb::SurveyKind::Nps, pb::Touchpoint::Quarterly).await;
    let ces = campaign(&mut client, pb::SurveyKind::Ces, pb::Touchpoint::Support).await;
    let csat = campaign(&mut client, pb::SurveyKind::Csat, pb::Touchpoint::Support).await;

    let record =
        |key: &str, campaign_id: &str, account_id: &str, who: &str, score: i32, days: i64| {
            let mut request = direct(key, campaign_id, account_id, who, score);
            request.responded_at = days_ago(days);
            request
        };
    let requests = vec![
        // X: ann answered 3, later 10 (only the 10 counts); bob 8; cid 2.
        record("s1", &nps.campaign_id, &x.account_id, "ann", 3, 5),
        record("s2", &nps.campaign_id, &x.account_id, "ann", 10, 2),
        record("s3", &nps.campaign_id, &x.account_id, "bob", 8, 3),
        record("s4", &nps.campaign_id, &x.account_id, "cid", 2, 3),
        // Y: dan 9 now; eve 0 in the previous window.
        record("s5", &nps.campaign_id, &y.account_id, "dan", 9, 1),
        record("s6", &nps.campaign_id, &y.account_id, "eve", 0, 45),
        record("s7", &ces.campaign_id, &x.account_id, "ann", 7, 1),
        record("s8", &ces.campaign_id, &y.account_id, "dan", 4, 1),
        record("s9", &csat.campaign_id, &x.account_id, "bob", 5, 1),
        record("s10", &csat.campaign_id, &y.account_id, "dan", 3, 1),
    ];
    for request in requests {
        client
            .record_response(request)
            .await
            .unwrap_or_else(|s| panic!("{s}"));
    }
    // Two invitations, one answered: response rate 50 %.
    let invitations = client
        .create_invitations(pb::CreateInvitationsRequest {
            campaign_id: nps.campaign_id.clone(),
            targets: vec![
                pb::InvitationTarget {
                    account_id: y.account_id.clone(),
                    respondent_id: "fay".to_owned(),
                    language: 0,
                },
                pb::InvitationTarget {
                    account_id: y.account_id.clone(),
                    respondent_id: "gus".to_owned(),
                    language: 0,
                },
            ],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .invitations;
    client
        .submit_response(pb::SubmitResponseRequest {
            token: invitations[0].token.clone(),
            response_id: "0193a6f0-0000-7000-8000-00000000cccc".to_owned(),
            score: Some(7),
            ..pb::SubmitResponseRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));

    let stats = |scope: common::scope::Scope| pb::GetSurveyStatsRequest {
        scope: Some(common::Scope { scope: Some(scope) }),
        window: window_around_today(29),
    };
    let company = client
        .get_survey_stats(stats(common::scope::Scope::Company(true)))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .stats
        .unwrap_or_default();
    let nps_stats = company.nps.unwrap_or_default();
    // Latest answers: ann 10, dan 9 (promoters); bob 8, fay 7 (passives); cid 2 (detractor).
    assert_eq!(
        (
            nps_stats.promoters,
            nps_stats.passives,
            nps_stats.detractors
        ),
        (2, 2, 1)
    );
    assert_eq!(nps_stats.nps, Some(20.0));
    // Five respondents, six NPS answers (ann answered twice): the categories add up to
    // the respondents, and the answers are counted apart.
    assert_eq!((nps_stats.respondent_count, nps_stats.answer_count), (5, 6));
    assert_eq!(
        nps_stats.promoters + nps_stats.passives + nps_stats.detractors,
        nps_stats.respondent_count
    );
    let expected_margin = 1.96 * 100.0 * ((0.4 + 0.2 - 0.04) / 5.0_f64).sqrt();
    assert!((nps_stats.margin_of_error.unwrap_or(0.0) - expected_margin).abs() < 1e-9);
    let ces_stats = company.ces.unwrap_or_default();
    assert_eq!(
        (
            ces_stats.response_count,
            ces_stats.mean,
            ces_stats.share_easy
        ),
        (2, Some(5.5), Some(0.5))
    );
    assert_eq!(company.csat.map(|c| c.share_satisfied), Some(Some(0.5)));
    assert_eq!(
        (
            company.invitations_sent,
            company.invitations_answered,
            company.response_rate
        ),
        (2, 1, Some(0.5))
    );
    assert_eq!(
        company.response_count, 10,
        "every answer in the window, before the latest-answer rule"
    );
    // Previous window: only eve's 0 → NPS −100; change +120.
    assert_eq!(company.change.and_then(|c| c.nps_change), Some(120.0));

    let portfolio = client
        .get_survey_stats(stats(common::scope::Scope::CsmId(csm.csm_id.clone())))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .stats
        .and_then(|s| s.nps)
        .unwrap_or_default();
    assert_eq!(
        (
            portfolio.promoters,
            portfolio.passives,
            portfolio.detractors,
            portfolio.nps
        ),
        (1, 1, 1, Some(0.0))
    );
    let sme = client
        .get_survey_stats(stats(common::scope::Scope::Segment(
            common::Segment::Sme as i32,
        )))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .stats
        .and_then(|s| s.nps)
        .unwrap_or_default();
    assert_eq!((sme.promoters, sme.passives, sme.nps), (1, 1, Some(50.0)));
    assert_invalid(
        client
            .get_survey_stats(pb::GetSurveyStatsRequest {
                scope: None,
                window: None,
            })
            .await,
        &["scope"],
    );
    // An unset window is the last 90 days, today included.
    let recent = client
        .get_survey_stats(pb::GetSurveyStatsRequest {
            scope: Some(common::Scope {
                scope: Some(common::scope::Scope::Company(true)),
            }),
            window: None,
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .stats
        .and_then(|s| s.window)
        .unwrap_or_default();
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    assert_eq!(
        (recent.start_date, recent.end_date),
        (
            Some(nordstern_runtime::wire::date_to_proto(
                tomorrow - chrono::Duration::days(90)
            )),
            Some(nordstern_runtime::wire::date_to_proto(tomorrow))
        )
    );

    let missing = "00000000-0000-7000-8000-00000000dead".to_owned();
    let batch = client
        .batch_get_survey_stats(pb::BatchGetSurveyStatsRequest {
            account_ids: vec![x.account_id.clone(), y.account_id.clone(), missing],
            window: window_around_today(29),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .stats;
    assert_eq!(batch.len(), 3);
    assert_eq!(batch[0].nps.as_ref().and_then(|n| n.nps), Some(0.0));
    assert_eq!(batch[1].nps.as_ref().and_then(|n| n.nps), Some(50.0));
    assert_eq!(batch[2].response_count, 0);
    assert_eq!(
        batch[2].nps.as_ref().and_then(|n| n.nps),
        None,
        "no answers: no NPS, not zero"
    );
}

async fn detractor_feed_resumes_where_it_stopped(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = surveys(suite).await;
    let account = create_account(&mut accounts_client, "Unhappy AG", 1_000).await;
    let nps = campaign(&mut client, pb::SurveyKind::Nps, pb::Touchpoint::Quarterly).await;
    for (key, who, score) in [("d1", "a", 1), ("d2", "b", 10), ("d3", "c", 6)] {
        client
            .record_response(direct(
                key,
                &nps.campaign_id,
                &account.account_id,
                who,
                score,
            ))
            .await
            .unwrap_or_else(|s| panic!("{s}"));
    }
    let feed = |token: String| pb::ListDetractorResponsesRequest {
        page_size: 1,
        page_token: token,
        since: None,
    };
    let first = client
        .list_detractor_responses(feed(String::new()))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        first
            .responses
            .iter()
            .map(|r| r.respondent_id.as_str())
            .collect::<Vec<_>>(),
        vec!["a"]
    );
    let second = client
        .list_detractor_responses(feed(first.next_page_token))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        second
            .responses
            .iter()
            .map(|r| r.respondent_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c"]
    );
    let caught_up = client
        .list_detractor_responses(feed(second.next_page_token.clone()))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(caught_up.responses.is_empty());
    assert_eq!(
        caught_up.next_page_token, second.next_page_token,
        "a poller keeps its place"
    );
    client
        .record_response(direct("d4", &nps.campaign_id, &account.account_id, "d", 0))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let later = client
        .list_detractor_responses(feed(caught_up.next_page_token))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        later
            .responses
            .iter()
            .map(|r| r.respondent_id.as_str())
            .collect::<Vec<_>>(),
        vec!["d"]
    );
    assert_invalid(
        client
            .list_detractor_responses(feed("garbage".to_owned()))
            .await,
        &["page_token"],
    );
}
