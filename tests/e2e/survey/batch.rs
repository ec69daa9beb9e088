//! A survey tool's history in batches: each item checked as RecordResponse checks it and
//! refused on its own, the others written, and a batch sent again writing nothing twice.

use super::*;

fn refused(refusals: &[common::ItemRefusal]) -> Vec<(i32, &str, Code)> {
    refusals
        .iter()
        .map(|r| (r.index, r.field.as_str(), Code::from_i32(r.code)))
        .collect()
}

async fn batch(
    client: &mut Surveys,
    items: Vec<pb::RecordResponseRequest>,
) -> pb::BatchRecordResponsesResponse {
    client
        .batch_record_responses(pb::BatchRecordResponsesRequest { items })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
}

pub(super) async fn batched_responses_refuse_per_item_and_write_nothing_twice(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = surveys(suite).await;
    let account = create_account(&mut accounts_client, "Umfrage GmbH", 1_000).await;
    let id = account.account_id.as_str();
    let nps = campaign(&mut client, pb::SurveyKind::Nps, pb::Touchpoint::Quarterly).await;
    let nps = nps.campaign_id.as_str();
    let unknown_account = "00000000-0000-7000-8000-000000000009";
    let unknown_campaign = "00000000-0000-7000-8000-00000000000c";
    // A key the single call used first: the batch must answer it, not record it again.
    let single = client
        .record_response(direct("b-single", nps, id, "bea", 9))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .response
        .unwrap_or_default();
    let mut earlier = direct("b-1", nps, id, "ann", 10);
    earlier.responded_at = days_ago(40);
    let mut reused = direct("b-single", nps, id, "bea", 3);
    reused.comment = "another answer under the same key".to_owned();
    let items = vec![
        earlier.clone(),                               // 0: written
        direct("b-2", nps, id, "bob", 11),             // 1: off the NPS scale
        direct("b-3", unknown_campaign, id, "cem", 7), // 2: no such campaign
        direct("b-4", nps, unknown_account, "dan", 7), // 3: no such account
        direct("", nps, id, "", 11),                   // 4: no key, no respondent, off the scale
        direct("b-single", nps, id, "bea", 9),         // 5: the single call's answer
        reused,                                        // 6: the key, another request
        direct("b-5", nps, id, "eva", 0),              // 7: written (0 is an answer)
        earlier.clone(),                               // 8: item 0 again
    ];
    let first = batch(&mut client, items.clone()).await;
    assert_eq!(
        refused(&first.refusals),
        [
            (1, "score", Code::InvalidArgument),
            (2, "campaign_id", Code::NotFound),
            (3, "account_id", Code::InvalidArgument),
            (4, "idempotency_key", Code::InvalidArgument),
            (4, "respondent_id", Code::InvalidArgument),
            // A refused item is checked against its campaign too: every problem at once.
            (4, "score", Code::InvalidArgument),
            (6, "idempotency_key", Code::FailedPrecondition),
        ]
    );
    assert_eq!(
        (
            first.recorded_count,
            first.duplicate_count,
            first.refused_count
        ),
        (2, 2, 5)
    );
    let answered: Vec<(i32, bool)> = first
        .responses
        .iter()
        .map(|r| (r.index, r.duplicate))
        .collect();
    assert_eq!(answered, [(0, false), (5, true), (7, false), (8, true)]);
    let response_id = |answer: &pb::BatchRecordResponsesResponse, index: i32| {
        answer
            .responses
            .iter()
            .find(|r| r.index == index)
            .and_then(|r| r.response.as_ref())
            .map(|r| r.response_id.clone())
            .unwrap_or_default()
    };
    assert_eq!(response_id(&first, 5), single.response_id);
    assert_eq!(response_id(&first, 8), response_id(&first, 0));
    let recorded = first.responses[0].response.clone().unwrap_or_default();
    assert_eq!(
        (recorded.score, recorded.responded_at.map(|t| t.seconds)),
        (10, earlier.responded_at.map(|t| t.seconds)),
        "the answer keeps its score and when it was given"
    );

    // Sent again: every written item is answered as a duplicate with the same response.
    let again = batch(&mut client, items).await;
    assert_eq!(refused(&again.refusals), refused(&first.refusals));
    assert_eq!((again.recorded_count, again.duplicate_count), (0, 4));
    for index in [0, 5, 7, 8] {
        assert_eq!(response_id(&again, index), response_id(&first, index));
    }
    // And the single call answers a key the batch recorded.
    let single_again = client
        .record_response(direct("b-5", nps, id, "eva", 0))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .response
        .unwrap_or_default();
    assert_eq!(single_again.response_id, response_id(&first, 7));

    let listed = client
        .list_responses(pb::ListResponsesRequest {
            account_id: account.account_id.clone(),
            ..pb::ListResponsesRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .responses;
    assert_eq!(
        listed.len(),
        3,
        "bea by the single call, ann and eva by the batch"
    );

    let too_many = vec![direct("b-x", nps, id, "zoe", 5); 1_001];
    assert_invalid(
        client
            .batch_record_responses(pb::BatchRecordResponsesRequest { items: too_many })
            .await,
        &["items"],
    );
}
