//! Usage scenarios: every rejection reason, exactly-once across batches, streams and
//! restarts, summaries on known data (windows, breadth, trend, percentiles, tickets), bulk
//! summaries, chart series, retention, erasure and export.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1 as common,
    usage::v1::{self as pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::{
    Role,
    wire::{MAX_BATCH, date_to_proto, timestamp},
};
use nordstern_tests::Channel;
use nordstern_tests::TestSuite;
use tonic::Code;

use crate::{in_every_combination, support::*};

mod retention;

in_every_combination!(
    every_rejection_reason_and_duplicates_across_batches_streams_and_restarts,
    summary_on_known_data,
    batch_and_stream_summaries_rank_against_the_same_peers,
    summaries_at_many_instants_equal_one_call_per_instant,
    timeseries_by_day_and_week,
    erasing_a_user_and_an_account_and_exporting,
    overlapping_batches_side_by_side_count_every_event_once,
);

type Usage = UsageServiceClient<Channel>;

async fn usage(suite: &TestSuite) -> Usage {
    UsageServiceClient::new(suite.channel(Role::Usage).await)
}

fn login(id: &str, account_id: &str, user: &str, at: DateTime<Utc>) -> pb::UsageEvent {
    pb::UsageEvent {
        event_id: id.to_owned(),
        account_id: account_id.to_owned(),
        user_id: user.to_owned(),
        kind: pb::UsageEventKind::Login as i32,
        occurred_at: Some(timestamp(at)),
        ..pb::UsageEvent::default()
    }
}

fn feature(
    id: &str,
    account_id: &str,
    user: &str,
    key: &str,
    quantity: i64,
    at: DateTime<Utc>,
) -> pb::UsageEvent {
    pb::UsageEvent {
        kind: pb::UsageEventKind::FeatureUsed as i32,
        feature_key: key.to_owned(),
        quantity,
        ..login(id, account_id, user, at)
    }
}

fn other(
    id: &str,
    account_id: &str,
    kind: pb::UsageEventKind,
    ticket: &str,
    at: DateTime<Utc>,
) -> pb::UsageEvent {
    pb::UsageEvent {
        kind: kind as i32,
        ticket_id: ticket.to_owned(),
        ..login(id, account_id, "", at)
    }
}

async fn ingest(client: &mut Usage, events: Vec<pb::UsageEvent>) -> pb::IngestEventsResponse {
    client
        .ingest_events(pb::IngestEventsRequest { events })
        .await
        .unwrap_or_else(|status| panic!("ingest: {status}"))
        .into_inner()
}

async fn export(
    client: &mut Usage,
    account_id: &str,
) -> (Vec<pb::UsageEvent>, Vec<pb::DailyUsage>) {
    let mut stream = client
        .export_account_usage(pb::ExportAccountUsageRequest {
            account_id: account_id.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("export: {status}"))
        .into_inner();
    let (mut events, mut days) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream
        .message()
        .await
        .unwrap_or_else(|status| panic!("{status}"))
    {
        events.extend(chunk.events);
        days.extend(chunk.daily_usage);
    }
    (events, days)
}

async fn summary(client: &mut Usage, account_id: &str, as_of: DateTime<Utc>) -> pb::UsageSummary {
    client
        .get_usage_summary(pb::GetUsageSummaryRequest {
            account_id: account_id.to_owned(),
            as_of: Some(timestamp(as_of)),
        })
        .await
        .unwrap_or_else(|status| panic!("summary: {status}"))
        .into_inner()
        .summary
        .unwrap_or_default()
}

fn days_ago(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    now - Duration::days(days)
}

fn period(from: DateTime<Utc>, days: i64) -> Option<common::Period> {
    Some(common::Period {
        start_date: Some(date_to_proto(from.date_naive())),
        end_date: Some(date_to_proto(from.date_naive() + Duration::days(days))),
    })
}

async fn every_rejection_reason_and_duplicates_across_batches_streams_and_restarts(
    suite: &mut TestSuite,
) {
    let mut suite_accounts = accounts(suite).await;
    let account = create_account(&mut suite_accounts, "Kranich GmbH", 1_000_000).await;
    let id = account.account_id.as_str();
    let mut client = usage(suite).await;
    let now = Utc::now();
    let recent = now - Duration::hours(1);
    let long = "x".repeat(200);
    let unknown = uuid::Uuid::new_v4().to_string();
    let many_properties: HashMap<String, String> =
        (0..17).map(|n| (format!("k{n}"), "v".to_owned())).collect();
    let events = vec![
        login("e0", id, "alice@example.com", recent),
        login("e0", id, "alice@example.com", recent),
        login("e2", &unknown, "alice", recent),
        login("e3", "not-a-uuid", "alice", recent),
        pb::UsageEvent {
            kind: 0,
            ..login("e4", id, "alice", recent)
        },
        login("", id, "alice", recent),
        feature("e6", id, "alice", "", 1, recent),
        other("e7", id, pb::UsageEventKind::TicketOpened, "", recent),
        login("e8", id, "", recent),
        pb::UsageEvent {
            occurred_at: None,
            ..login("e9", id, "alice", recent)
        },
        login("e10", id, "alice", now + Duration::minutes(10)),
        login("e11", id, "alice", days_ago(now, 500)),
        feature("e12", id, "alice", &long, 1, recent),
        pb::UsageEvent {
            properties: many_properties,
            ..login("e13", id, "alice", recent)
        },
        pb::UsageEvent {
            quantity: -1,
            ..login("e14", id, "alice", recent)
        },
        pb::UsageEvent {
            properties: HashMap::from([
                ("plan".to_owned(), "pro".to_owned()),
                ("ui".to_owned(), "web".to_owned()),
            ]),
            ..feature("e15", id, "alice", "dashboards", 3, recent)
        },
    ];
    let response = ingest(&mut client, events).await;
    assert_eq!(
        (
            response.accepted_count,
            response.duplicate_count,
            response.rejected_count
        ),
        (2, 1, 13)
    );
    use pb::RejectReason as R;
    let expected = [
        (2, R::UnknownAccount, "account_id"),
        (3, R::UnknownAccount, "account_id"),
        (4, R::UnknownKind, "kind"),
        (5, R::MissingField, "event_id"),
        (6, R::MissingField, "feature_key"),
        (7, R::MissingField, "ticket_id"),
        (8, R::MissingField, "user_id"),
        (9, R::MissingField, "occurred_at"),
        (10, R::TooFarInFuture, "occurred_at"),
        (11, R::OlderThanRetention, "occurred_at"),
        (12, R::FieldTooLong, "feature_key"),
        (13, R::TooManyProperties, "properties"),
        (14, R::InvalidQuantity, "quantity"),
    ];
    let got: Vec<(i32, i32, String)> = response
        .rejected_events
        .iter()
        .map(|r| (r.index, r.reason, r.field.clone()))
        .collect();
    let want: Vec<(i32, i32, String)> = expected
        .iter()
        .map(|(index, reason, field)| (*index, *reason as i32, (*field).to_owned()))
        .collect();
    assert_eq!(got, want);

    // A later batch repeating e0 counts it as a duplicate.
    let response = ingest(
        &mut client,
        vec![
            login("e0", id, "alice@example.com", recent),
            login("e16", id, "bob", recent),
        ],
    )
    .await;
    assert_eq!((response.accepted_count, response.duplicate_count), (1, 1));

    // Over the limit: refused whole, nothing written.
    let oversized: Vec<pb::UsageEvent> = (0..5_001)
        .map(|n| login(&format!("big-{n}"), id, "carol", recent))
        .collect();
    let status = assert_code(
        client
            .ingest_events(pb::IngestEventsRequest { events: oversized })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        nordstern_runtime::status::field_violations(&status)[0].0,
        "events"
    );
    assert_eq!(export(&mut client, id).await.0.len(), 3);

    // The client stream commits batch by batch and totals the stream.
    let batches = vec![
        pb::IngestEventStreamRequest {
            events: vec![
                login("e17", id, "dave", recent),
                login("e18", id, "dave", recent),
            ],
        },
        pb::IngestEventStreamRequest {
            events: vec![
                login("e17", id, "dave", recent),
                login("", id, "dave", recent),
            ],
        },
        pb::IngestEventStreamRequest {
            events: vec![login("e19", id, "erin", recent)],
        },
    ];
    let totals = client
        .ingest_event_stream(tokio_stream::iter(batches))
        .await
        .unwrap_or_else(|status| panic!("stream: {status}"))
        .into_inner();
    assert_eq!(
        (
            totals.batch_count,
            totals.accepted_count,
            totals.duplicate_count,
            totals.rejected_count
        ),
        (3, 3, 1, 1)
    );
    assert_eq!(
        (
            totals.rejected_events[0].batch_index,
            totals.rejected_events[0].index
        ),
        (1, 1)
    );

    // Across a restart the keys still hold.
    suite.restart().await;
    let mut client = usage(suite).await;
    let response = ingest(
        &mut client,
        vec![
            login("e0", id, "alice@example.com", recent),
            login("e16", id, "bob", recent),
        ],
    )
    .await;
    assert_eq!((response.accepted_count, response.duplicate_count), (0, 2));
    let (events, _) = export(&mut client, id).await;
    let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["e0", "e15", "e16", "e17", "e18", "e19"]);
    // Raw user ids are never stored: the export carries the pseudonym.
    let alice = events
        .iter()
        .find(|e| e.event_id == "e0")
        .map(|e| e.user_id.clone())
        .unwrap_or_default();
    assert_eq!(alice.len(), 32);
    assert!(!alice.contains("alice"));
    let dashboards = events
        .iter()
        .find(|e| e.event_id == "e15")
        .cloned()
        .unwrap_or_default();
    assert_eq!((dashboards.quantity, dashboards.properties.len()), (3, 2));
}

struct Company {
    a: String,
    b: String,
    c: String,
    d: String,
}

/// Catalog analytics = {dashboards, reports, alerts}; CSM Clara has A (buys analytics),
/// B and C (SME); D is enterprise without a CSM.
async fn company(suite: &TestSuite) -> Company {
    let mut client = accounts(suite).await;
    client
        .upsert_product_module(accounts_pb::UpsertProductModuleRequest {
            module: Some(accounts_pb::ProductModule {
                module_key: "analytics".to_owned(),
                name: "Analytics".to_owned(),
                feature_keys: vec![
                    "dashboards".to_owned(),
                    "reports".to_owned(),
                    "alerts".to_owned(),
                ],
                list_price: eur(1_200_000),
                has_integration: false,
            }),
        })
        .await
        .unwrap_or_else(|status| panic!("catalog: {status}"));
    let csm = create_csm(&mut client, "Clara Berg", 50).await;
    let create = |name: &str, segment: common::Segment, modules: &[&str]| {
        let mut request = new_account(name, 1_000_000);
        if let Some(account) = request.account.as_mut() {
            account.segment = segment as i32;
            account.module_keys = modules.iter().map(|m| (*m).to_owned()).collect();
        }
        let mut client = client.clone();
        async move {
            client
                .create_account(request)
                .await
                .unwrap_or_else(|status| panic!("create: {status}"))
                .into_inner()
                .account
                .unwrap_or_default()
                .account_id
        }
    };
    let a = create("Amsel AG", common::Segment::Sme, &["analytics"]).await;
    let b = create("Buchfink KG", common::Segment::Sme, &[]).await;
    let c = create("Dohle GmbH", common::Segment::Sme, &[]).await;
    let d = create("Elster SE", common::Segment::Enterprise, &[]).await;
    for account_id in [&a, &b, &c] {
        client
            .assign_account(accounts_pb::AssignAccountRequest {
                account_id: account_id.clone(),
                csm_id: csm.csm_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("assign: {status}"));
    }
    Company { a, b, c, d }
}

/// A: u1 daily logins and heavy use recently, u2 and u3 earlier, a sync, three tickets;
/// B: 20 logins; C: nothing; D: 5 logins.
async fn load_known_usage(client: &mut Usage, company: &Company, now: DateTime<Utc>) {
    use pb::UsageEventKind as K;
    let a = company.a.as_str();
    let mut events = vec![
        login("a1", a, "u1", days_ago(now, 1)),
        login("a2", a, "u1", days_ago(now, 2)),
        login("a3", a, "u1", days_ago(now, 3)),
        login("a4", a, "u2", days_ago(now, 10)),
        login("a5", a, "u3", days_ago(now, 60)),
        pb::UsageEvent {
            quantity: 10,
            ..login("a6", a, "u1", days_ago(now, 50))
        },
        pb::UsageEvent {
            quantity: 10,
            ..login("a7", a, "u1", days_ago(now, 70))
        },
        pb::UsageEvent {
            quantity: 10,
            ..login("a8", a, "u1", days_ago(now, 100))
        },
        feature("a9", a, "u1", "dashboards", 4, days_ago(now, 1)),
        feature("a10", a, "u2", "reports", 2, days_ago(now, 40)),
        feature("a11", a, "u1", "workflows", 1, days_ago(now, 5)),
        other("a12", a, K::IntegrationSync, "", days_ago(now, 3)),
        other("a13", a, K::TicketOpened, "T1", days_ago(now, 20)),
        other("a14", a, K::TicketResolved, "T1", days_ago(now, 18)),
        other("a15", a, K::TicketOpened, "T2", days_ago(now, 10)),
        other("a16", a, K::TicketResolved, "T2", days_ago(now, 9)),
        other("a17", a, K::TicketOpened, "T3", days_ago(now, 5)),
        pb::UsageEvent {
            quantity: 20,
            ..login("b1", &company.b, "u9", days_ago(now, 2))
        },
        pb::UsageEvent {
            quantity: 5,
            ..login("d1", &company.d, "u7", days_ago(now, 2))
        },
    ];
    // Resolution before opening arrives (out of order) still pairs up.
    events.swap(13, 14);
    let response = ingest(client, events).await;
    assert_eq!(
        (response.accepted_count, response.rejected_count),
        (19, 0),
        "{response:?}"
    );
    // "workflows" is in no module of the catalog: stored, and named in the answer.
    let unknown: Vec<(&str, i64)> = response
        .unknown_features
        .iter()
        .map(|f| (f.feature_key.as_str(), f.event_count))
        .collect();
    assert_eq!(unknown, [("workflows", 1)]);
}

fn window(summary: &pb::UsageSummary, days: i32) -> (i32, i32, i64) {
    let window = match days {
        7 => summary.last_7_days,
        30 => summary.last_30_days,
        _ => summary.last_90_days,
    }
    .unwrap_or_default();
    (window.active_users, window.active_days, window.logins)
}

async fn summary_on_known_data(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;

    let a = summary(&mut client, &company.a, now).await;
    assert_eq!(window(&a, 7), (1, 4, 3));
    assert_eq!(window(&a, 30), (2, 5, 4));
    assert_eq!(window(&a, 90), (3, 9, 25));
    let features: Vec<(&str, &str, i64, i64, i32)> = a
        .features
        .iter()
        .map(|f| {
            (
                f.feature_key.as_str(),
                f.module_key.as_str(),
                f.uses_last_30_days,
                f.uses_last_90_days,
                f.users_last_30_days,
            )
        })
        .collect();
    assert_eq!(
        features,
        [
            ("dashboards", "analytics", 4, 4, 1),
            ("workflows", "", 1, 1, 1),
            ("alerts", "analytics", 0, 0, 0),
            ("reports", "analytics", 0, 2, 0),
        ]
    );
    assert_eq!(
        (a.purchased_features_used, a.purchased_features_total),
        (2, 3)
    );
    assert_eq!(a.feature_breadth.map(|b| (b * 1000.0).round()), Some(667.0));
    assert!(a.integration_live);
    assert_eq!(
        a.last_integration_sync_on,
        Some(date_to_proto(days_ago(now, 3).date_naive()))
    );
    // Last 30 days: 4 logins + 5 feature uses; the 90 days before: 30 + 1 logins + 2 uses.
    assert_eq!(a.usage_last_30_days, 9);
    assert_eq!(a.usage_prior_monthly_average, 11.0);
    assert_eq!(a.usage_trend.map(|t| (t * 1000.0).round()), Some(818.0));
    // Portfolio and segment (both A, B, C): usage 9, 20, 0.
    assert_eq!(
        (a.portfolio_percentile, a.portfolio_peer_count),
        (Some(50.0), 3)
    );
    assert_eq!(
        (a.segment_percentile, a.segment_peer_count),
        (Some(50.0), 3)
    );
    assert_eq!((a.open_tickets, a.tickets_last_30_days), (1, 3));
    assert_eq!(
        a.median_time_to_resolution.map(|d| d.seconds),
        Some(36 * 3600)
    );

    let b = summary(&mut client, &company.b, now).await;
    assert_eq!(
        (b.portfolio_percentile, b.segment_percentile),
        (Some(100.0), Some(100.0))
    );
    assert_eq!(b.usage_trend, None);
    assert!(!b.integration_live);
    let c = summary(&mut client, &company.c, now).await;
    assert_eq!(
        (c.portfolio_percentile, c.usage_last_30_days, window(&c, 90)),
        (Some(0.0), 0, (0, 0, 0))
    );
    assert_eq!(c.feature_breadth, None);
    let d = summary(&mut client, &company.d, now).await;
    assert_eq!((d.portfolio_percentile, d.portfolio_peer_count), (None, 0));
    assert_eq!((d.segment_percentile, d.segment_peer_count), (None, 1));

    // As of 60 days ago, the recent events are in the future and do not count.
    let earlier = summary(&mut client, &company.a, days_ago(now, 60)).await;
    assert_eq!(window(&earlier, 30), (2, 2, 11));
    assert_eq!(earlier.open_tickets, 0);

    assert_invalid(
        client
            .get_usage_summary(pb::GetUsageSummaryRequest {
                account_id: "nope".to_owned(),
                as_of: None,
            })
            .await,
        &["account_id"],
    );
    assert_code(
        client
            .get_usage_summary(pb::GetUsageSummaryRequest {
                account_id: uuid::Uuid::new_v4().to_string(),
                as_of: None,
            })
            .await,
        Code::NotFound,
    );
}

async fn batch_and_stream_summaries_rank_against_the_same_peers(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let batch = client
        .batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest {
            account_ids: vec![company.b.clone(), unknown.clone(), company.a.clone()],
            as_of: Some(timestamp(now)),
        })
        .await
        .unwrap_or_else(|status| panic!("batch: {status}"))
        .into_inner();
    let ids: Vec<&str> = batch
        .summaries
        .iter()
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(ids, [company.b.as_str(), company.a.as_str()]);
    assert_eq!(batch.missing_account_ids, [unknown]);
    let single = summary(&mut client, &company.a, now).await;
    assert_eq!(batch.summaries[1], single);

    let mut stream = client
        .stream_usage_summaries(pb::StreamUsageSummariesRequest {
            account_ids: vec![],
            as_of: Some(timestamp(now)),
        })
        .await
        .unwrap_or_else(|status| panic!("stream: {status}"))
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(chunk) = stream
        .message()
        .await
        .unwrap_or_else(|status| panic!("{status}"))
    {
        streamed.extend(chunk.summaries);
    }
    let mut ids: Vec<String> = streamed.iter().map(|s| s.account_id.clone()).collect();
    ids.sort();
    let mut expected = vec![
        company.a.clone(),
        company.b.clone(),
        company.c.clone(),
        company.d.clone(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        streamed.iter().find(|s| s.account_id == company.a),
        Some(&single)
    );

    assert_invalid(
        client
            .batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest {
                account_ids: vec!["x".to_owned()],
                as_of: None,
            })
            .await,
        &["account_ids[0]"],
    );
}

/// History training reads summaries of many cut-off days in one call; each must equal
/// the summary of a call for its instant alone, peers ranked as on that day.
async fn summaries_at_many_instants_equal_one_call_per_instant(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let queries = [
        (
            now,
            vec![company.a.clone(), unknown.clone(), company.b.clone()],
        ),
        (
            days_ago(now, 45),
            vec![company.a.clone(), company.c.clone()],
        ),
        (
            days_ago(now, 60),
            vec![company.b.clone(), company.d.clone()],
        ),
        (days_ago(now, 45), vec![company.d.clone()]),
    ];
    let at = |as_of: DateTime<Utc>, ids: &[String]| pb::UsageSummariesAt {
        as_of: Some(timestamp(as_of)),
        account_ids: ids.to_vec(),
    };
    let results = client
        .batch_get_usage_summaries_at(pb::BatchGetUsageSummariesAtRequest {
            queries: queries.iter().map(|(as_of, ids)| at(*as_of, ids)).collect(),
        })
        .await
        .unwrap_or_else(|status| panic!("at: {status}"))
        .into_inner()
        .results;
    assert_eq!(results.len(), queries.len());
    for ((as_of, ids), result) in queries.iter().zip(&results) {
        let alone = client
            .batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest {
                account_ids: ids.clone(),
                as_of: Some(timestamp(*as_of)),
            })
            .await
            .unwrap_or_else(|status| panic!("batch: {status}"))
            .into_inner();
        assert_eq!(result, &alone, "as of {as_of}");
    }
    assert_eq!(results[0].missing_account_ids, [unknown]);
    // A ranks in the middle of its SME peers now (9 against 20 and 0), first 45 days ago
    // (21 against 0 and 0): each instant ranks against its own day.
    let a_rank = |result: &pb::BatchGetUsageSummariesResponse| {
        result
            .summaries
            .iter()
            .find(|s| s.account_id == company.a)
            .and_then(|s| s.segment_percentile)
    };
    assert_eq!(a_rank(&results[0]), Some(50.0));
    assert_eq!(a_rank(&results[1]), Some(100.0));

    let request =
        |queries: Vec<pb::UsageSummariesAt>| pb::BatchGetUsageSummariesAtRequest { queries };
    assert_invalid(
        client
            .batch_get_usage_summaries_at(request(vec![
                pb::UsageSummariesAt {
                    as_of: None,
                    account_ids: vec![company.a.clone()],
                },
                at(now, &["x".to_owned()]),
            ]))
            .await,
        &["queries[0].as_of", "queries[1].account_ids[0]"],
    );
    assert_invalid(
        client
            .batch_get_usage_summaries_at(request(vec![
                at(now, std::slice::from_ref(&company.a)),
                at(days_ago(now, 63), std::slice::from_ref(&company.a)),
            ]))
            .await,
        &["queries"],
    );
    let many: Vec<String> = (0..=MAX_BATCH)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    assert_invalid(
        client
            .batch_get_usage_summaries_at(request(vec![
                at(now, &many[..500]),
                at(now, &many[500..]),
            ]))
            .await,
        &["queries"],
    );
}

async fn timeseries_by_day_and_week(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    let series = |metric: pb::UsageMetric,
                  granularity: pb::Granularity,
                  from: DateTime<Utc>,
                  days: i64,
                  feature_key: &str| {
        let request = pb::GetUsageTimeseriesRequest {
            account_id: company.a.clone(),
            metric: metric as i32,
            granularity: granularity as i32,
            period: period(from, days),
            feature_key: feature_key.to_owned(),
        };
        let mut client = client.clone();
        async move {
            client
                .get_usage_timeseries(request)
                .await
                .unwrap_or_else(|status| panic!("series: {status}"))
                .into_inner()
                .points
        }
    };
    use pb::{Granularity as G, UsageMetric as M};
    let values = |points: &[pb::UsagePoint]| points.iter().map(|p| p.value).collect::<Vec<_>>();
    let logins = series(M::Logins, G::Day, days_ago(now, 3), 4, "").await;
    assert_eq!(values(&logins), [1, 1, 1, 0]);
    assert_eq!(
        logins[0].start_date,
        Some(date_to_proto(days_ago(now, 3).date_naive()))
    );
    let dashboards = series(M::FeatureUses, G::Day, days_ago(now, 2), 3, "dashboards").await;
    assert_eq!(values(&dashboards), [0, 4, 0]);
    let users = series(M::ActiveUsers, G::Day, days_ago(now, 10), 1, "").await;
    assert_eq!(values(&users), [1]);
    let tickets = series(M::TicketsOpened, G::Day, days_ago(now, 20), 21, "").await;
    assert_eq!(values(&tickets).iter().sum::<i64>(), 3);

    let weeks = series(M::Logins, G::Week, days_ago(now, 119), 120, "").await;
    assert_eq!(values(&weeks).iter().sum::<i64>(), 35);
    for pair in weeks.windows(2) {
        let (Some(first), Some(second)) = (&pair[0].start_date, &pair[1].start_date) else {
            panic!("bucket without a date");
        };
        let first =
            chrono::NaiveDate::from_ymd_opt(first.year, first.month as u32, first.day as u32);
        let second =
            chrono::NaiveDate::from_ymd_opt(second.year, second.month as u32, second.day as u32);
        assert_eq!(first.map(|d| d + Duration::days(7)), second);
        assert_eq!(
            first.map(|d| chrono::Datelike::weekday(&d)),
            Some(chrono::Weekday::Mon)
        );
    }

    assert_invalid(
        client
            .get_usage_timeseries(pb::GetUsageTimeseriesRequest {
                account_id: company.a.clone(),
                feature_key: "dashboards".to_owned(),
                ..pb::GetUsageTimeseriesRequest::default()
            })
            .await,
        &["metric", "feature_key", "granularity", "period"],
    );
    assert_invalid(
        client
            .get_usage_timeseries(pb::GetUsageTimeseriesRequest {
                account_id: company.a.clone(),
                metric: M::Logins as i32,
                granularity: G::Day as i32,
                period: period(days_ago(now, 1_000), 900),
                feature_key: String::new(),
            })
            .await,
        &["period"],
    );
}

async fn erasing_a_user_and_an_account_and_exporting(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    // u1 also used B.
    ingest(
        &mut client,
        vec![login("b2", &company.b, "u1", days_ago(now, 1))],
    )
    .await;

    let (events, days) = export(&mut client, &company.a).await;
    assert_eq!(events.len(), 17);
    assert!(
        events
            .windows(2)
            .all(|w| w[0].occurred_at.as_ref().map(|t| (t.seconds, t.nanos))
                <= w[1].occurred_at.as_ref().map(|t| (t.seconds, t.nanos)))
    );
    assert_eq!(days.iter().map(|d| d.logins).sum::<i64>(), 35);
    assert_eq!(
        days.iter()
            .filter_map(|d| d.feature_uses.get("dashboards"))
            .sum::<i64>(),
        4
    );

    let erased = client
        .erase_user_usage(pb::EraseUserUsageRequest {
            user_id: "u1".to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("erase user: {status}"))
        .into_inner();
    // u1: 6 logins and 2 feature events in A, 1 login in B.
    assert_eq!((erased.events_erased, erased.account_count), (9, 2));
    let a = summary(&mut client, &company.a, now).await;
    assert_eq!(window(&a, 90), (2, 3, 2));
    assert_eq!(window(&a, 7), (0, 0, 0));
    assert_eq!(a.usage_last_30_days, 1);
    let features: Vec<(&str, i64)> = a
        .features
        .iter()
        .map(|f| (f.feature_key.as_str(), f.uses_last_90_days))
        .collect();
    assert!(
        !features.iter().any(|(key, _)| *key == "workflows"),
        "{features:?}"
    );
    assert!(
        features.contains(&("dashboards", 0)) && features.contains(&("reports", 2)),
        "{features:?}"
    );
    // Syncs and tickets have no user; they stay.
    assert_eq!((a.integration_live, a.open_tickets), (true, 1));
    let (events, _) = export(&mut client, &company.a).await;
    assert_eq!(events.len(), 9);
    assert_eq!(
        summary(&mut client, &company.b, now)
            .await
            .usage_last_30_days,
        20
    );

    let erased = client
        .erase_account_usage(pb::EraseAccountUsageRequest {
            account_id: company.a.clone(),
        })
        .await
        .unwrap_or_else(|status| panic!("erase account: {status}"))
        .into_inner();
    assert_eq!(erased.events_erased, 9);
    assert!(erased.rollup_rows_erased > 0);
    assert_eq!(export(&mut client, &company.a).await, (vec![], vec![]));
    let a = summary(&mut client, &company.a, now).await;
    assert_eq!(
        (window(&a, 90), a.open_tickets, a.integration_live),
        ((0, 0, 0), 0, false)
    );

    assert_invalid(
        client
            .erase_user_usage(pb::EraseUserUsageRequest {
                user_id: String::new(),
            })
            .await,
        &["user_id"],
    );
    assert_invalid(
        client
            .erase_account_usage(pb::EraseAccountUsageRequest {
                account_id: "x".to_owned(),
            })
            .await,
        &["account_id"],
    );
}

/// A usage server made of nothing but `RemoteUsage` in front of the real one: unary calls,
/// the client stream and both server streams cross the extra hop unchanged, and errors
/// keep their code and field details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_of_remote_usage_serves_the_same_contract() {
    use nordstern_proto::usage::v1::usage_service_server::UsageServiceServer;
    use nordstern_runtime::config::GrpcConfig;
    use nordstern_tests::{Backend, Topology};
    use nordstern_usage::remote::RemoteUsage;
    use tokio_stream::StreamExt;

    let suite = TestSuite::start(Backend::Sqlite, Topology::ServerPerRole).await;
    let account = create_account(&mut accounts(&suite).await, "Proxied GmbH", 50_000).await;
    let id = account.account_id.as_str();
    let remote = RemoteUsage::connect(
        suite.url(Role::Usage),
        &GrpcConfig::default(),
        &suite.security(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let proxy_url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let proxy = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(UsageServiceServer::new(remote))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    // The proxy checks no token; the clients behind it present the suite's own.
    let mut client = UsageServiceClient::new(
        nordstern_runtime::client::secure_channel(
            &proxy_url,
            &GrpcConfig::default(),
            &Default::default(),
        )
        .await
        .unwrap_or_else(|error| panic!("{error}")),
    );

    let now = Utc::now();
    let unary = ingest(&mut client, vec![login("p1", id, "ann", days_ago(now, 1))]).await;
    assert_eq!(unary.accepted_count, 1);
    let streamed = client
        .ingest_event_stream(tokio_stream::iter([
            pb::IngestEventStreamRequest {
                events: vec![login("p2", id, "bob", days_ago(now, 2))],
            },
            pb::IngestEventStreamRequest {
                events: vec![login("p1", id, "ann", days_ago(now, 1))],
            },
        ]))
        .await
        .unwrap_or_else(|status| panic!("stream: {status}"))
        .into_inner();
    assert_eq!(
        (
            streamed.batch_count,
            streamed.accepted_count,
            streamed.duplicate_count
        ),
        (2, 1, 1)
    );

    let summaries: Vec<pb::StreamUsageSummariesResponse> = client
        .stream_usage_summaries(pb::StreamUsageSummariesRequest {
            account_ids: vec![account.account_id.clone()],
            as_of: None,
        })
        .await
        .unwrap_or_else(|status| panic!("summaries: {status}"))
        .into_inner()
        .collect::<Result<_, _>>()
        .await
        .unwrap_or_else(|status| panic!("summaries: {status}"));
    let logins_30: i64 = summaries
        .iter()
        .flat_map(|response| &response.summaries)
        .filter(|summary| summary.account_id == id)
        .map(|summary| summary.last_30_days.map_or(0, |w| w.logins))
        .sum();
    assert_eq!(logins_30, 2);

    let (events, _) = export(&mut client, id).await;
    assert_eq!(
        events.len(),
        2,
        "both stored events come back through the proxy"
    );

    let status = client
        .get_usage_summary(pb::GetUsageSummaryRequest {
            account_id: "x".to_owned(),
            as_of: None,
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        nordstern_runtime::status::field_violations(&status)
            .first()
            .map(|(field, _)| field.as_str()),
        Some("account_id")
    );
    proxy.abort();
    suite.stop().await;
}

/// Six callers send overlapping batches of one pool of events, each in its own order, all
/// at once (on PostgreSQL the batches' transactions run side by side): no call fails, each
/// event is accepted exactly once, and every daily rollup equals the pool's own sums.
async fn overlapping_batches_side_by_side_count_every_event_once(suite: &TestSuite) {
    use rand::{SeedableRng, seq::SliceRandom};
    const CALLERS: u64 = 6;
    const BATCH: usize = 250;
    let company = company(suite).await;
    let accounts = [company.a.clone(), company.b.clone(), company.c.clone()];
    let now = Utc::now();
    let pool: Vec<pb::UsageEvent> = (0..1_500_usize)
        .map(|n| {
            let account = &accounts[n % 3];
            let user = format!("user-{}", n % 17);
            let at = days_ago(now, 1 + (n % 10) as i64);
            let id = format!("e{n}");
            match n % 4 {
                0 => login(&id, account, &user, at),
                1 => pb::UsageEvent {
                    quantity: 3,
                    ..login(&id, account, &user, at)
                },
                2 => feature(&id, account, &user, "dashboards", 2, at),
                _ => feature(&id, account, &user, "reports", 1, at),
            }
        })
        .collect();

    let channel = suite.channel(Role::Usage).await;
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..CALLERS {
        let mut client = UsageServiceClient::new(channel.clone());
        let mut events = pool.clone();
        events.shuffle(&mut rand::rngs::StdRng::seed_from_u64(caller));
        // Each caller sends two thirds of the pool, so some events are left for the end.
        events.truncate(1_000);
        callers.spawn(async move {
            let mut accepted = 0;
            for batch in events.chunks(BATCH) {
                let response = ingest(&mut client, batch.to_vec()).await;
                assert_eq!(response.rejected_count, 0, "{response:?}");
                accepted += response.accepted_count;
            }
            accepted
        });
    }
    let mut accepted: i32 = callers.join_all().await.into_iter().sum();
    let mut client = usage(suite).await;
    for batch in pool.chunks(BATCH) {
        let response = ingest(&mut client, batch.to_vec()).await;
        assert_eq!(
            (
                response.rejected_count,
                response.accepted_count + response.duplicate_count
            ),
            (0, batch.len() as i32),
            "{response:?}"
        );
        accepted += response.accepted_count;
    }
    assert_eq!(accepted, 1_500, "every event accepted exactly once");

    for account in &accounts {
        let mut expected: HashMap<String, (i64, i64, i64)> = HashMap::new();
        for event in pool.iter().filter(|e| &e.account_id == account) {
            let seconds = event.occurred_at.as_ref().map_or(0, |at| at.seconds);
            let date = DateTime::from_timestamp(seconds, 0)
                .unwrap_or_default()
                .date_naive()
                .to_string();
            let day = expected.entry(date).or_default();
            let quantity = event.quantity.max(1);
            match event.feature_key.as_str() {
                "" => day.0 += quantity,
                "dashboards" => day.1 += quantity,
                _ => day.2 += quantity,
            }
        }
        let (events, days) = export(&mut client, account).await;
        assert_eq!(events.len(), 500, "every event of {account} stored once");
        let stored: HashMap<String, (i64, i64, i64)> = days
            .iter()
            .map(|day| {
                let date = day.date.unwrap_or_default();
                let uses = |key: &str| day.feature_uses.get(key).copied().unwrap_or_default();
                (
                    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day),
                    (day.logins, uses("dashboards"), uses("reports")),
                )
            })
            .collect();
        assert_eq!(stored, expected, "daily rollups of {account}");
    }
}
