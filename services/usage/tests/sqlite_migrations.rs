//! SQLite migrations that rewrite stored data: the rollups rebuilt as clustered tables
//! keep every row and increments still find the row of their key (m0002); the spans of
//! raw events summarise the rows stored before them, so the sweep finds those (m0004).

use nordstern_runtime::storage::{self, MigratorTrait, StorageTarget, execute, query_all};
use nordstern_usage::{Migrator, Store};
use sea_orm::{DatabaseConnection, Value};
use sea_orm_migration::MigrationTrait;

struct NoMigrations;

impl MigratorTrait for NoMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
}

/// The usage database in `dir`, with no migration applied yet.
async fn open_unmigrated(dir: &std::path::Path) -> DatabaseConnection {
    storage::open_named::<NoMigrations>(StorageTarget::Sqlite { data_dir: dir }, "usage", 2)
        .await
        .unwrap_or_else(|error| panic!("open: {error}"))
}

/// Each rollup table and its columns.
const ROLLUPS: [(&str, &[&str]); 5] = [
    (
        "usage_daily",
        &[
            "account_id",
            "day",
            "logins",
            "feature_uses",
            "integration_syncs",
            "tickets_opened",
            "tickets_resolved",
        ],
    ),
    (
        "usage_daily_features",
        &["account_id", "feature_key", "day", "uses"],
    ),
    (
        "usage_daily_users",
        &["account_id", "day", "user_key", "feature_key", "quantity"],
    ),
    ("usage_users", &["user_key", "account_id"]),
    (
        "usage_tickets",
        &["account_id", "ticket_id", "opened_at", "resolved_at"],
    ),
];

/// Every row as one line of its quoted values (NULL stays distinct from a value).
async fn rows(db: &DatabaseConnection, table: &str, columns: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
    let sql = format!(
        "SELECT {} AS line FROM {table} ORDER BY 1",
        quoted.join(" || ',' || ")
    );
    query_all(db, &sql, Vec::new())
        .await
        .unwrap_or_else(|error| panic!("read {table}: {error}"))
        .iter()
        .map(|row| {
            row.try_get("", "line")
                .unwrap_or_else(|error| panic!("{error}"))
        })
        .collect()
}

async fn definition(db: &DatabaseConnection, table: &str) -> String {
    let rows = query_all(
        db,
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1",
        vec![Value::from(table.to_owned())],
    )
    .await
    .unwrap_or_else(|error| panic!("schema of {table}: {error}"));
    rows.first()
        .and_then(|row| row.try_get::<String>("", "sql").ok())
        .unwrap_or_else(|| panic!("{table} is missing"))
}

#[tokio::test]
async fn rollups_written_before_the_rebuild_are_kept_and_still_incremented() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    let db = open_unmigrated(dir.path()).await;
    Migrator::up(&db, Some(1))
        .await
        .unwrap_or_else(|error| panic!("first migration: {error}"));
    for sql in [
        "INSERT INTO usage_daily VALUES ('a', 20400, 3, 5, 1, 1, 0), ('a', 20401, 1, 0, 0, 0, 1), ('b', 20400, 2, 0, 0, 0, 0)",
        "INSERT INTO usage_daily_features VALUES ('a', 'reports', 20400, 5), ('b', 'api', 20401, 2)",
        "INSERT INTO usage_daily_users VALUES ('a', 20400, 'u1', '', 3), ('a', 20400, 'u1', 'reports', 5)",
        "INSERT INTO usage_users VALUES ('u1', 'a'), ('u2', 'b')",
        "INSERT INTO usage_tickets VALUES ('a', 't1', 1000, NULL), ('a', 't2', 1000, 2000)",
    ] {
        execute(&db, sql, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    let mut before = Vec::new();
    for (table, columns) in ROLLUPS {
        assert!(!definition(&db, table).await.contains("WITHOUT ROWID"));
        before.push(rows(&db, table, columns).await);
    }
    assert_eq!(before.iter().map(Vec::len).sum::<usize>(), 11);

    Migrator::up(&db, None)
        .await
        .unwrap_or_else(|error| panic!("rebuild: {error}"));

    for ((table, columns), before) in ROLLUPS.into_iter().zip(before) {
        assert!(
            definition(&db, table).await.ends_with("WITHOUT ROWID"),
            "{table} is not clustered"
        );
        assert_eq!(rows(&db, table, columns).await, before, "{table} changed");
    }
    let tables = query_all(
        &db,
        "SELECT name FROM sqlite_master WHERE name LIKE '%_clustered'",
        Vec::new(),
    )
    .await
    .unwrap_or_else(|error| panic!("leftovers: {error}"));
    assert!(tables.is_empty(), "a rebuilt table kept its temporary name");

    // The primary key still takes an increment of an existing day.
    execute(
        &db,
        "INSERT INTO usage_daily VALUES ('a', 20400, 1, 0, 0, 0, 0) \
         ON CONFLICT (account_id, day) DO UPDATE SET logins = usage_daily.logins + excluded.logins",
        Vec::new(),
    )
    .await
    .unwrap_or_else(|error| panic!("increment: {error}"));
    let logins = query_all(
        &db,
        "SELECT logins FROM usage_daily WHERE account_id = 'a' AND day = 20400",
        Vec::new(),
    )
    .await
    .unwrap_or_else(|error| panic!("read back: {error}"));
    let logins: Vec<i64> = logins
        .iter()
        .map(|row| row.try_get("", "logins").unwrap_or(-1))
        .collect();
    assert_eq!(logins, vec![4]);
}

/// The earliest instant of each span of `table`, by span.
async fn spans(db: &DatabaseConnection, table: &str) -> Vec<(i64, i64)> {
    query_all(
        db,
        "SELECT span, earliest FROM usage_event_spans WHERE table_name = $1 ORDER BY span",
        vec![Value::from(table.to_owned())],
    )
    .await
    .unwrap_or_else(|error| panic!("spans of {table}: {error}"))
    .iter()
    .map(|row| {
        (
            row.try_get("", "span").unwrap_or(-1),
            row.try_get("", "earliest").unwrap_or(-1),
        )
    })
    .collect()
}

#[tokio::test]
async fn events_stored_before_the_spans_are_summarised_and_swept() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    let db = open_unmigrated(dir.path()).await;
    Migrator::up(&db, Some(3))
        .await
        .unwrap_or_else(|error| panic!("first migrations: {error}"));
    // Rowids 1 to 2,500 at instants 1,000 to 3,499, except rowid 2,200, which came late
    // with an early instant: spans 0, 1 and 2 of 1,000 rowids each.
    let at = |rowid: i64| if rowid == 2_200 { 5 } else { 999 + rowid };
    for rowid in 1..=2_500_i64 {
        for (sql, values) in [
            (
                "INSERT INTO usage_events (rowid, occurred_at, account_id, event_id, user_key, kind, quantity, feature_key, ticket_id, properties) \
                 VALUES ($1, $2, 'a', $3, 'u', 'LOGIN', 1, '', '', '{}')",
                vec![
                    Value::from(rowid),
                    Value::from(at(rowid)),
                    Value::from(format!("e{rowid}")),
                ],
            ),
            (
                "INSERT INTO usage_event_keys (rowid, account_id, event_id, occurred_at) VALUES ($1, 'a', $2, $3)",
                vec![
                    Value::from(rowid),
                    Value::from(format!("e{rowid}")),
                    Value::from(at(rowid)),
                ],
            ),
        ] {
            execute(&db, sql, values)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"));
        }
    }

    Migrator::up(&db, None)
        .await
        .unwrap_or_else(|error| panic!("spans: {error}"));
    for table in ["usage_events", "usage_event_keys"] {
        assert_eq!(
            spans(&db, table).await,
            [(0, 1_000), (1, 1_999), (2, 5)],
            "{table}"
        );
    }

    // Before instant 1,500: rowids 1 to 500 and the late one.
    let sweep = Store::new(db.clone())
        .apply_retention(1_500)
        .await
        .unwrap_or_else(|error| panic!("retention: {error}"));
    assert_eq!(
        (sweep.events_deleted, sweep.keys_deleted, sweep.spans_swept),
        (501, 501, 4)
    );
    for table in ["usage_events", "usage_event_keys"] {
        assert_eq!(
            spans(&db, table).await,
            [(0, 1_500), (1, 1_999), (2, 2_999)],
            "{table}"
        );
    }
}
