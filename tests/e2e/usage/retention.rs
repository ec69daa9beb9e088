//! Retention of raw events: the sweep at start removes what a shorter retention no longer
//! keeps and leaves the rollups; PostgreSQL drops whole monthly partitions, SQLite walks
//! the tables a chunk at a time.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use nordstern_domain::usage::EventKind;
use nordstern_proto::usage::v1 as pb;
use nordstern_runtime::{
    Role,
    storage::{self, StorageTarget, query_all},
};
use nordstern_tests::TestSuite;
use nordstern_usage::{NewEvent, Store};

use super::*;
use crate::in_every_combination;

in_every_combination!(retention_removes_raw_events_and_keeps_rollups);

/// Every login the daily rollups count.
async fn rolled_up_logins(db: &sea_orm::DatabaseConnection) -> Option<i64> {
    let rows = query_all(
        db,
        "SELECT CAST(SUM(logins) AS BIGINT) AS logins FROM usage_daily",
        vec![],
    )
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    rows.first()?.try_get("", "logins").ok()
}

/// A login as the store takes it, user id already pseudonymised.
fn stored_login(account_id: &str, event_id: &str, occurred_at: i64, user_key: &str) -> NewEvent {
    NewEvent {
        account_id: account_id.to_owned(),
        event_id: event_id.to_owned(),
        occurred_at,
        user_key: user_key.to_owned(),
        kind: EventKind::Login,
        quantity: 1,
        feature_key: String::new(),
        ticket_id: String::new(),
        properties: "{}".to_owned(),
    }
}

async fn retention_removes_raw_events_and_keeps_rollups(suite: &mut TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    let a = company.a.as_str();
    let response = ingest(
        &mut client,
        vec![
            pb::UsageEvent {
                quantity: 7,
                ..login("old", a, "u1", days_ago(now, 300))
            },
            login("new", a, "u1", days_ago(now, 1)),
        ],
    )
    .await;
    assert_eq!(response.accepted_count, 2);

    // A shorter retention takes effect at the next start: the sweep removes the old event.
    suite
        .restart_with(|config| config.usage.retention_days = 200)
        .await;
    let mut client = usage(suite).await;
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    let events = loop {
        let (events, _) = export(&mut client, a).await;
        if events.len() == 1 || tokio::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    };
    assert_eq!(
        events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );
    // The rollup of the old day stays.
    let old_day = client
        .get_usage_timeseries(pb::GetUsageTimeseriesRequest {
            account_id: a.to_owned(),
            metric: pb::UsageMetric::Logins as i32,
            granularity: pb::Granularity::Day as i32,
            period: period(days_ago(now, 300), 1),
            feature_key: String::new(),
        })
        .await
        .unwrap_or_else(|status| panic!("series: {status}"))
        .into_inner()
        .points;
    assert_eq!(old_day.iter().map(|p| p.value).collect::<Vec<_>>(), [7]);
    // Events older than the retention are refused now.
    let response = ingest(
        &mut client,
        vec![login("older", a, "u1", days_ago(now, 250))],
    )
    .await;
    assert_eq!(
        response.rejected_events.first().map(|r| r.reason),
        Some(pb::RejectReason::OlderThanRetention as i32)
    );
}

/// On PostgreSQL raw events live in monthly partitions; retention drops the partitions
/// wholly past the cutoff, deletes only from the one that straddles it, and leaves the
/// rollups alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_drops_whole_partitions() {
    let database = nordstern::scratch_db::ScratchDatabase::create(
        &nordstern::scratch_db::admin_url(),
        "nordstern_test",
    )
    .await
    .unwrap_or_else(|error| panic!("scratch database: {error}"));
    let db = storage::open::<nordstern_usage::Migrator>(
        StorageTarget::Postgres { url: &database.url },
        Role::Usage,
        2,
    )
    .await
    .unwrap_or_else(|error| panic!("open: {error}"));
    let store = Store::new(db.clone());
    let at = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.timestamp_micros())
            .unwrap_or_else(|error| panic!("{error}"))
    };
    let events: Vec<NewEvent> = [
        "2026-01-15T10:00:00Z",
        "2026-02-10T10:00:00Z",
        "2026-03-05T10:00:00Z",
        "2026-03-20T10:00:00Z",
    ]
    .iter()
    .enumerate()
    .map(|(n, when)| stored_login("acct", &format!("e{n}"), at(when), "u"))
    .collect();
    let stored = store
        .ingest(events.clone())
        .await
        .unwrap_or_else(|error| panic!("ingest: {error}"));
    assert_eq!(stored, [true; 4]);
    let partitions = |db: sea_orm::DatabaseConnection| async move {
        let rows = query_all(
            &db,
            "SELECT child.relname AS name FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid \
             JOIN pg_class parent ON parent.oid = inhparent WHERE parent.relname = 'usage_events' ORDER BY 1",
            vec![],
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"));
        rows.iter()
            .map(|row| row.try_get::<String>("", "name").unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        partitions(db.clone()).await,
        [
            "usage_events_p202601",
            "usage_events_p202602",
            "usage_events_p202603"
        ]
    );

    let sweep = store
        .apply_retention(at("2026-03-10T00:00:00Z"))
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!(
        sweep.partitions_dropped,
        ["usage_events_p202601", "usage_events_p202602"]
    );
    assert_eq!((sweep.events_deleted, sweep.keys_deleted), (1, 3));
    assert_eq!(partitions(db.clone()).await, ["usage_events_p202603"]);
    assert_eq!(rolled_up_logins(&db).await, Some(4));
    // A dropped month gets its partition back when (in-retention) events arrive again.
    let again = NewEvent {
        event_id: "e9".to_owned(),
        occurred_at: at("2026-01-20T10:00:00Z"),
        ..events[0].clone()
    };
    assert_eq!(
        store
            .ingest(vec![again])
            .await
            .unwrap_or_else(|error| panic!("{error}")),
        [true]
    );
    db.close().await.unwrap_or_else(|error| panic!("{error}"));
    database
        .drop_now()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
}

/// On SQLite nothing indexes when an event occurred, so the sweep reads raw events and
/// their keys a span of rowids at a time: over many spans, with old and new events
/// interleaved, it deletes exactly those before the cutoff and leaves the rollups; a
/// second sweep finds no span to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention_deletes_exactly_the_expired_events() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    let (db, store) = open_sqlite(dir.path()).await;
    let cutoff: i64 = 1_780_000_000_000_000;
    // Every third event before the cutoff (the first one exactly at it stays).
    let total = 50_000;
    let events: Vec<NewEvent> = (0..total)
        .map(|n| {
            let occurred_at = if n % 3 == 0 && n > 0 {
                cutoff - n
            } else {
                cutoff + n
            };
            let (account, user) = (format!("acct{}", n % 7), format!("u{}", n % 5));
            stored_login(&account, &format!("e{n}"), occurred_at, &user)
        })
        .collect();
    for batch in events.chunks(5_000) {
        let stored = store
            .ingest(batch.to_vec())
            .await
            .unwrap_or_else(|error| panic!("ingest: {error}"));
        assert!(stored.iter().all(|&stored| stored));
    }
    let old = events.iter().filter(|e| e.occurred_at < cutoff).count() as u64;
    assert_eq!(old, 16_666);

    let sweep = store
        .apply_retention(cutoff)
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!((sweep.events_deleted, sweep.keys_deleted), (old, old));
    assert_eq!(raw_rows(&db).await, [(total - old as i64, Some(cutoff)); 2]);
    assert_eq!(rolled_up_logins(&db).await, Some(total));

    let again = store
        .apply_retention(cutoff)
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!(
        (again.events_deleted, again.keys_deleted, again.spans_swept),
        (0, 0, 0)
    );
    db.close().await.unwrap_or_else(|error| panic!("{error}"));
}

async fn open_sqlite(dir: &std::path::Path) -> (sea_orm::DatabaseConnection, Store) {
    let db = storage::open::<nordstern_usage::Migrator>(
        StorageTarget::Sqlite { data_dir: dir },
        Role::Usage,
        2,
    )
    .await
    .unwrap_or_else(|error| panic!("open: {error}"));
    (db.clone(), Store::new(db))
}

/// What is left of raw events and keys: (rows, earliest instant) of each.
async fn raw_rows(db: &sea_orm::DatabaseConnection) -> Vec<(i64, Option<i64>)> {
    let mut left = Vec::new();
    for table in ["usage_events", "usage_event_keys"] {
        let rows = query_all(
            db,
            &format!("SELECT COUNT(*) AS n, MIN(occurred_at) AS first FROM {table}"),
            vec![],
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"));
        left.push((
            rows[0].try_get("", "n").unwrap_or_default(),
            rows[0].try_get("", "first").unwrap_or_default(),
        ));
    }
    left
}

/// Events that arrive in time order fill spans of rowids in time order, so a sweep reads
/// the spans with expired events and no others, and a sweep with nothing expired reads
/// nothing. A late event lowers its span's earliest instant, and the next sweep finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention_reads_only_spans_with_expired_events() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    let (db, store) = open_sqlite(dir.path()).await;
    let cutoff: i64 = 1_780_000_000_000_000;
    // Keys are claimed in (account, event id) order: one account and zero-padded ids keep
    // their rowids in time order too. Rowids 1 to 3,000 are expired: spans 0 to 3.
    let events: Vec<NewEvent> = (0..10_000_i64)
        .map(|n| stored_login("acct", &format!("e{n:05}"), cutoff - 3_000 + n, "u"))
        .collect();
    for batch in events.chunks(1_000) {
        store
            .ingest(batch.to_vec())
            .await
            .unwrap_or_else(|error| panic!("ingest: {error}"));
    }
    let sweep = store
        .apply_retention(cutoff)
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!(
        (sweep.events_deleted, sweep.keys_deleted, sweep.spans_swept),
        (3_000, 3_000, 8)
    );
    assert_eq!(raw_rows(&db).await, [(7_000, Some(cutoff)); 2]);

    let again = store
        .apply_retention(cutoff + 2)
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!(
        (again.events_deleted, again.keys_deleted, again.spans_swept),
        (2, 2, 2),
        "only the span that held the two events now expired"
    );

    // An event earlier than everything left, into the last span.
    let late = stored_login("acct", "late", cutoff + 5, "u");
    store
        .ingest(vec![late])
        .await
        .unwrap_or_else(|error| panic!("ingest: {error}"));
    let sweep = store
        .apply_retention(cutoff + 6)
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!(
        (sweep.events_deleted, sweep.keys_deleted, sweep.spans_swept),
        (5, 5, 4),
        "the late event in the last span, and four expired since in span 3"
    );
    assert_eq!(raw_rows(&db).await, [(6_994, Some(cutoff + 6)); 2]);
    let nothing = store
        .apply_retention(cutoff + 6)
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!(nothing.spans_swept, 0);
    db.close().await.unwrap_or_else(|error| panic!("{error}"));
}
