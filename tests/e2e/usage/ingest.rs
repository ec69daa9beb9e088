//! Ingestion: every rejection reason, duplicates across batches, streams and restarts,
//! and overlapping batches side by side counted exactly once.

use super::*;
use crate::in_every_combination;

in_every_combination!(
    every_rejection_reason_and_duplicates_across_batches_streams_and_restarts,
    overlapping_batches_side_by_side_count_every_event_once,
);

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
