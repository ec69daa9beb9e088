//! Survey scenarios: campaigns, invitations and token answers, direct responses, the
//! statistics on known data for every scope, the detractor feed, erasure and export.

use nordstern_proto::{
    common::v1 as common,
    survey::v1::{self as pb, survey_service_client::SurveyServiceClient},
};
use nordstern_runtime::Role;
use nordstern_tests::Channel;
use nordstern_tests::TestSuite;
use tonic::Code;

use crate::{in_every_combination, support::*};

in_every_combination!(
    campaigns_invitations_and_token_answers,
    a_campaign_is_asked_in_one_language_or_both,
    direct_responses_are_validated_per_kind_and_idempotent,
    statistics_on_known_data_for_every_scope,
    detractor_feed_resumes_where_it_stopped,
    survey_erasure_and_export,
);

type Surveys = SurveyServiceClient<Channel>;

async fn surveys(suite: &TestSuite) -> Surveys {
    SurveyServiceClient::new(suite.channel(Role::Survey).await)
}

async fn campaign(
    client: &mut Surveys,
    kind: pb::SurveyKind,
    touchpoint: pb::Touchpoint,
) -> pb::Campaign {
    client
        .create_campaign(pb::CreateCampaignRequest {
            request_id: String::new(),
            campaign: Some(pb::Campaign {
                name: format!("{kind:?} at {touchpoint:?}"),
                kind: kind as i32,
                touchpoint: touchpoint as i32,
                question_de: "Wie wahrscheinlich ist es, dass Sie uns weiterempfehlen?".to_owned(),
                question_en: "How likely are you to recommend us?".to_owned(),
                ..pb::Campaign::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .campaign
        .unwrap_or_default()
}

async fn a_campaign_is_asked_in_one_language_or_both(suite: &TestSuite) {
    let mut client = surveys(suite).await;
    let english_only = client
        .create_campaign(pb::CreateCampaignRequest {
            request_id: "english-only".to_owned(),
            campaign: Some(pb::Campaign {
                name: "Onboarding CES".to_owned(),
                kind: pb::SurveyKind::Ces as i32,
                touchpoint: pb::Touchpoint::Onboarding as i32,
                question_en: "How easy was it to get started?".to_owned(),
                ..pb::Campaign::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("one language is enough: {s}"))
        .into_inner()
        .campaign
        .unwrap_or_default();
    assert_eq!(
        (
            english_only.question_de.as_str(),
            english_only.question_en.as_str()
        ),
        ("", "How easy was it to get started?")
    );
    let update = |de: &str, en: &str, paths: &[&str]| pb::UpdateCampaignRequest {
        campaign: Some(pb::Campaign {
            campaign_id: english_only.campaign_id.clone(),
            question_de: de.to_owned(),
            question_en: en.to_owned(),
            ..pb::Campaign::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    };
    // Clearing the only language would leave a campaign nobody can be asked.
    assert_invalid(
        client
            .update_campaign(update("", "", &["question_en"]))
            .await,
        &["campaign.question_de", "campaign.question_en"],
    );
    let questions = |request: pb::UpdateCampaignRequest| {
        let mut client = client.clone();
        async move {
            let campaign = client
                .update_campaign(request)
                .await
                .unwrap_or_else(|s| panic!("{s}"))
                .into_inner()
                .campaign
                .unwrap_or_default();
            (campaign.question_de, campaign.question_en)
        }
    };
    assert_eq!(
        questions(update("Wie leicht war der Einstieg?", "", &["question_de"])).await,
        (
            "Wie leicht war der Einstieg?".to_owned(),
            "How easy was it to get started?".to_owned()
        )
    );
    // With German set, English may go.
    assert_eq!(
        questions(update("", "", &["question_en"])).await,
        ("Wie leicht war der Einstieg?".to_owned(), String::new())
    );
}

fn direct(
    key: &str,
    campaign_id: &str,
    account_id: &str,
    respondent: &str,
    score: i32,
) -> pb::RecordResponseRequest {
    pb::RecordResponseRequest {
        idempotency_key: key.to_owned(),
        campaign_id: campaign_id.to_owned(),
        account_id: account_id.to_owned(),
        respondent_id: respondent.to_owned(),
        score: Some(score),
        ..pb::RecordResponseRequest::default()
    }
}

fn days_ago(days: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            - days * 86_400,
        nanos: 0,
    })
}

fn window_around_today(days_back: i64) -> Option<common::Period> {
    let today = chrono::Utc::now().date_naive();
    let to_proto = |date: chrono::NaiveDate| nordstern_runtime::wire::date_to_proto(date);
    Some(common::Period {
        start_date: Some(to_proto(today - chrono::Duration::days(days_back))),
        end_date: Some(to_proto(today + chrono::Duration::days(1))),
    })
}

async fn campaigns_invitations_and_token_answers(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = surveys(suite).await;
    assert_invalid(
        client
            .create_campaign(pb::CreateCampaignRequest {
                request_id: String::new(),
                campaign: Some(pb::Campaign {
                    kind: 9,
                    ..pb::Campaign::default()
                }),
            })
            .await,
        &[
            "campaign.name",
            "campaign.kind",
            "campaign.touchpoint",
            "campaign.question_de",
            "campaign.question_en",
        ],
    );
    let nps = campaign(&mut client, pb::SurveyKind::Nps, pb::Touchpoint::Onboarding).await;
    let acme = create_account(&mut accounts_client, "Acme", 1_000).await;
    let unknown = "00000000-0000-7000-8000-000000000001".to_owned();
    let target = |account_id: &str, who: &str| pb::InvitationTarget {
        account_id: account_id.to_owned(),
        respondent_id: who.to_owned(),
        language: common::Language::German as i32,
    };
    assert_invalid(
        client
            .create_invitations(pb::CreateInvitationsRequest {
                campaign_id: nps.campaign_id.clone(),
                targets: vec![target(&acme.account_id, "ann"), target(&unknown, "bob")],
            })
            .await,
        &["targets[1].account_id"],
    );
    let invite = || pb::CreateInvitationsRequest {
        campaign_id: nps.campaign_id.clone(),
        targets: vec![
            target(&acme.account_id, "ann"),
            target(&acme.account_id, "bob"),
        ],
    };
    let first = client
        .create_invitations(invite())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .invitations;
    let again = client
        .create_invitations(invite())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .invitations;
    assert_eq!(first.len(), 2);
    assert_eq!(
        first, again,
        "inviting the same people again returns their invitations"
    );
    assert_eq!(first[0].token.len(), 64);
    assert_ne!(first[0].token, first[1].token);

    let shown = client
        .get_invitation(pb::GetInvitationRequest {
            token: first[0].token.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        shown.campaign.map(|c| c.question_de.starts_with("Wie")),
        Some(true)
    );
    assert_code(
        client
            .get_invitation(pb::GetInvitationRequest {
                token: "0".repeat(64),
            })
            .await,
        Code::NotFound,
    );

    let response_id = "0193a6f0-0000-7000-8000-00000000aaaa".to_owned();
    let answer = |score: i32, id: &str| pb::SubmitResponseRequest {
        token: first[0].token.clone(),
        response_id: id.to_owned(),
        score: Some(score),
        comment: "Sehr gut".to_owned(),
        ..pb::SubmitResponseRequest::default()
    };
    assert_invalid(
        client.submit_response(answer(11, &response_id)).await,
        &["score"],
    );
    let mut cancel_reason = answer(9, &response_id);
    cancel_reason.churn_reason = pb::ChurnReason::TooExpensive as i32;
    assert_invalid(
        client.submit_response(cancel_reason).await,
        &["churn_reason"],
    );
    let submitted = client
        .submit_response(answer(9, &response_id))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let retried = client
        .submit_response(answer(9, &response_id))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        submitted, retried,
        "the same response id is answered, not stored twice"
    );
    let response = submitted.response.unwrap_or_default();
    assert_eq!(response.nps_category, pb::NpsCategory::Promoter as i32);
    assert_eq!(response.account_id, acme.account_id);
    assert_code(
        client
            .submit_response(answer(3, "0193a6f0-0000-7000-8000-00000000bbbb"))
            .await,
        Code::AlreadyExists,
    );
    let counted = client
        .get_campaign(pb::GetCampaignRequest {
            campaign_id: nps.campaign_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .campaign
        .unwrap_or_default();
    assert_eq!((counted.invitation_count, counted.response_count), (2, 1));
}

async fn direct_responses_are_validated_per_kind_and_idempotent(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = surveys(suite).await;
    let account = create_account(&mut accounts_client, "Leaving GmbH", 1_000).await;
    let cancellation = campaign(
        &mut client,
        pb::SurveyKind::Csat,
        pb::Touchpoint::Cancellation,
    )
    .await;
    let ces = campaign(&mut client, pb::SurveyKind::Ces, pb::Touchpoint::Support).await;

    assert_invalid(
        client
            .record_response(direct(
                "k0",
                &ces.campaign_id,
                &account.account_id,
                "ann",
                0,
            ))
            .await,
        &["score"],
    );
    assert_invalid(
        client
            .record_response(direct(
                "k1",
                &cancellation.campaign_id,
                &account.account_id,
                "ann",
                2,
            ))
            .await,
        &["churn_reason"],
    );
    let mut other = direct(
        "k2",
        &cancellation.campaign_id,
        &account.account_id,
        "ann",
        2,
    );
    other.churn_reason = pb::ChurnReason::Other as i32;
    assert_invalid(
        client.record_response(other.clone()).await,
        &["churn_reason_text"],
    );
    let mut future = direct("k3", &ces.campaign_id, &account.account_id, "ann", 5);
    future.responded_at = days_ago(-1);
    assert_invalid(client.record_response(future).await, &["responded_at"]);
    assert_invalid(
        client
            .record_response(direct(
                "",
                &ces.campaign_id,
                "00000000-0000-7000-8000-000000000009",
                "",
                5,
            ))
            .await,
        &["idempotency_key", "respondent_id"],
    );
    // A bad key does not hide an answer off the campaign's scale: both at once.
    assert_invalid(
        client
            .record_response(direct(
                &"x".repeat(300),
                &ces.campaign_id,
                &account.account_id,
                "ann",
                11,
            ))
            .await,
        &["idempotency_key", "score"],
    );
    assert_invalid(
        client
            .record_response(direct(
                "k4",
                &ces.campaign_id,
                "00000000-0000-7000-8000-000000000009",
                "ann",
                5,
            ))
            .await,
        &["account_id"],
    );

    other.churn_reason_text = "Wir ziehen um".to_owned();
    let first = client
        .record_response(other.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let again = client
        .record_response(other.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(
        first
            .response
            .as_ref()
            .map(|r| (r.churn_reason, r.churn_reason_text.as_str())),
        Some((pb::ChurnReason::Other as i32, "Wir ziehen um"))
    );
    other.score = Some(5);
    assert_code(
        client.record_response(other).await,
        Code::FailedPrecondition,
    );
    let listed = client
        .list_responses(pb::ListResponsesRequest {
            account_id: account.account_id.clone(),
            ..pb::ListResponsesRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .responses;
    assert_eq!(listed.len(), 1, "only the valid response was stored");
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

async fn survey_erasure_and_export(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = surveys(suite).await;
    let account = create_account(&mut accounts_client, "Private GmbH", 1_000).await;
    let other = create_account(&mut accounts_client, "Other GmbH", 1_000).await;
    let nps = campaign(&mut client, pb::SurveyKind::Nps, pb::Touchpoint::Quarterly).await;
    client
        .create_invitations(pb::CreateInvitationsRequest {
            campaign_id: nps.campaign_id.clone(),
            targets: vec![pb::InvitationTarget {
                account_id: account.account_id.clone(),
                respondent_id: "ann".to_owned(),
                language: 0,
            }],
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let direct_request = direct("e1", &nps.campaign_id, &account.account_id, "ann", 4);
    client
        .record_response(direct_request.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    client
        .record_response(direct("e2", &nps.campaign_id, &other.account_id, "ann", 9))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    client
        .record_response(direct("e3", &nps.campaign_id, &other.account_id, "bob", 9))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let export = |id: &str| pb::ExportAccountSurveyDataRequest {
        account_id: id.to_owned(),
    };
    let exported = client
        .export_account_survey_data(export(&account.account_id))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        (exported.invitations.len(), exported.responses.len()),
        (1, 1)
    );

    // Erasing a person removes what they said in every account.
    let person = client
        .erase_respondent_survey_data(pb::EraseRespondentSurveyDataRequest {
            respondent_id: "ann".to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!((person.invitations_erased, person.responses_erased), (1, 2));
    let left = client
        .export_account_survey_data(export(&other.account_id))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        left.responses
            .iter()
            .map(|r| r.respondent_id.as_str())
            .collect::<Vec<_>>(),
        vec!["bob"]
    );
    // The idempotent answer went with the data: the same request records afresh.
    let again = client
        .record_response(direct_request)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(again.response.is_some());

    let erased = client
        .erase_account_survey_data(pb::EraseAccountSurveyDataRequest {
            account_id: account.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!((erased.invitations_erased, erased.responses_erased), (0, 1));
    let empty = client
        .export_account_survey_data(export(&account.account_id))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(empty.invitations.is_empty() && empty.responses.is_empty());
}

/// The survey API held as `Arc<dyn SurveyService>` over gRPC answers like the server:
/// what one call creates the next reads, and errors keep their field details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_survey_api_is_the_same_contract_as_the_server() {
    use nordstern_runtime::config::GrpcConfig;
    use nordstern_survey::remote::RemoteSurvey;
    use nordstern_tests::{Backend, Topology};
    use tonic::Request;

    let suite = TestSuite::start(Backend::Sqlite, Topology::ServerPerRole).await;
    let created = campaign(
        &mut surveys(&suite).await,
        pb::SurveyKind::Nps,
        pb::Touchpoint::Quarterly,
    )
    .await;
    let api = RemoteSurvey::connect(
        suite.url(Role::Survey),
        &GrpcConfig::default(),
        &suite.security(),
    )
    .unwrap_or_else(|error| panic!("{error}"))
    .into_api();
    let fetched = api
        .get_campaign(Request::new(pb::GetCampaignRequest {
            campaign_id: created.campaign_id.clone(),
        }))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .campaign
        .unwrap_or_default();
    assert_eq!(fetched, created);
    let status = api
        .get_campaign(Request::new(pb::GetCampaignRequest {
            campaign_id: "x".to_owned(),
        }))
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        nordstern_runtime::status::field_violations(&status)
            .first()
            .map(|(field, _)| field.as_str()),
        Some("campaign_id")
    );
    suite.stop().await;
}
