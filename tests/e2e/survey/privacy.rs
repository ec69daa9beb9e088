//! GDPR: a survey export holds everything about an account, an erasure leaves nothing.

use super::*;

in_every_combination!(survey_erasure_and_export);

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
