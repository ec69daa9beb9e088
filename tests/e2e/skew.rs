//! Clocks a day off (issue 17, scenario 7): usage events, survey answers and contract
//! dates stamped 24 hours ahead of or behind the server. The documented bounds hold, and
//! each refusal names its field: events more than 5 minutes in the future are refused one
//! by one on `occurred_at`; answers from the future are INVALID_ARGUMENT on
//! `responded_at`; contract events take effect on any date from the last one on
//! (contracts are signed ahead), and a date before it is FAILED_PRECONDITION naming
//! `event.effective_date`.

use chrono::{Duration, Utc};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    survey::v1::{self as survey_pb, survey_service_client::SurveyServiceClient},
    usage::v1::{self as usage_pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::{
    Role,
    wire::{date_to_proto, timestamp},
};
use nordstern_tests::TestSuite;
use tonic::Code;
use tonic_types::StatusExt;

use crate::in_every_combination;
use crate::scoring::{NewAccount, create, nps_campaign, usage_event};
use crate::support::{accounts, assert_code, assert_invalid, event};

in_every_combination!(clocks_a_day_off_meet_the_documented_bounds);

async fn clocks_a_day_off_meet_the_documented_bounds(suite: &TestSuite) {
    let now = Utc::now();
    let day = Duration::hours(24);
    let mut accounts_client = accounts(suite).await;
    let account = create(
        &mut accounts_client,
        NewAccount {
            name: "Uhrwerk GmbH",
            ..NewAccount::default()
        },
    )
    .await;

    // Usage: a day ahead is refused on its own, naming occurred_at; a day behind, and a
    // few minutes ahead (inside the 5-minute tolerance), are stored.
    let login = |id: &str, at| {
        usage_event(
            id.to_owned(),
            &account,
            usage_pb::UsageEventKind::Login,
            "ann",
            "",
            at,
        )
    };
    let mut usage = UsageServiceClient::new(suite.channel(Role::Usage).await);
    let ingested = usage
        .ingest_events(usage_pb::IngestEventsRequest {
            events: vec![
                login("a-day-ahead", now + day),
                login("a-day-behind", now - day),
                login("minutes-ahead", now + Duration::minutes(4)),
            ],
        })
        .await
        .unwrap_or_else(|s| panic!("ingest: {s}"))
        .into_inner();
    assert_eq!(ingested.accepted_count, 2, "{ingested:?}");
    let [rejected] = ingested.rejected_events.as_slice() else {
        panic!("one refusal expected: {ingested:?}");
    };
    assert_eq!(
        (rejected.index, rejected.reason, rejected.field.as_str()),
        (
            0,
            usage_pb::RejectReason::TooFarInFuture as i32,
            "occurred_at"
        )
    );
    let summary = usage
        .get_usage_summary(usage_pb::GetUsageSummaryRequest {
            account_id: account.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("summary: {s}"))
        .into_inner()
        .summary
        .unwrap_or_default();
    let week = summary.last_7_days.unwrap_or_default();
    assert!(week.logins >= 1, "the login a day behind counts: {week:?}");

    // Surveys: an answer from tomorrow is refused on responded_at, together with any other
    // problem; one from yesterday keeps its time.
    let campaign_id = nps_campaign(suite).await;
    let mut survey = SurveyServiceClient::new(suite.channel(Role::Survey).await);
    let answer = |key: &str, score: i32, at| survey_pb::RecordResponseRequest {
        idempotency_key: key.to_owned(),
        campaign_id: campaign_id.clone(),
        account_id: account.clone(),
        respondent_id: "kim@uhrwerk.example".to_owned(),
        score: Some(score),
        responded_at: Some(timestamp(at)),
        ..Default::default()
    };
    assert_invalid(
        survey
            .record_response(answer("from-tomorrow", 7, now + day))
            .await,
        &["responded_at"],
    );
    assert_invalid(
        survey
            .record_response(answer("from-tomorrow-off-scale", 11, now + day))
            .await,
        &["responded_at", "score"],
    );
    let recorded = survey
        .record_response(answer("from-yesterday", 7, now - day))
        .await
        .unwrap_or_else(|s| panic!("yesterday's answer: {s}"))
        .into_inner()
        .response
        .unwrap_or_default();
    assert_eq!(
        recorded.responded_at.map(|t| t.seconds),
        Some((now - day).timestamp())
    );

    // Contracts: an expansion effective tomorrow is recorded; one dated a day before it
    // is FAILED_PRECONDITION naming the field, with the date it must not precede.
    let tomorrow = (now + day).date_naive();
    accounts_client
        .record_contract_event(event(
            &account,
            accounts_pb::ContractEventKind::Expansion,
            50_000,
            Some(date_to_proto(tomorrow)),
            None,
            "expansion-tomorrow",
        ))
        .await
        .unwrap_or_else(|s| panic!("tomorrow's expansion: {s}"));
    let status = assert_code(
        accounts_client
            .record_contract_event(event(
                &account,
                accounts_pb::ContractEventKind::Expansion,
                50_000,
                Some(date_to_proto(now.date_naive())),
                None,
                "expansion-today",
            ))
            .await,
        Code::FailedPrecondition,
    );
    let details = status.get_error_details();
    let violation = details
        .precondition_failure()
        .and_then(|failure| failure.violations.first().cloned())
        .unwrap_or_else(|| panic!("no precondition failure in {status:?}"));
    assert_eq!(violation.subject, "event.effective_date");
    assert!(
        violation.description.contains(&tomorrow.to_string()),
        "{violation:?}"
    );
}
