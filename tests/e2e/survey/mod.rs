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

mod batch;
mod privacy;
mod stats;

use batch::batched_responses_refuse_per_item_and_write_nothing_twice;

in_every_combination!(
    campaigns_invitations_and_token_answers,
    a_campaign_is_asked_in_one_language_or_both,
    direct_responses_are_validated_per_kind_and_idempotent,
    batched_responses_refuse_per_item_and_write_nothing_twice,
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
