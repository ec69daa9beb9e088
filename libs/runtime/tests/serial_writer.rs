//! The serialised writer on SQLite when the database's write lock is held outside its
//! gate, as an abandoned transaction (a cancelled call) holds it until its connection's
//! rollback has run, after the gate is already free.

use std::time::Duration;

use nordstern_runtime::storage::{self, SerialWriter, StorageTarget};
use sea_orm::TransactionTrait;
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct NoMigrations;

impl MigratorTrait for NoMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
}

#[tokio::test]
async fn a_writer_that_reads_first_waits_for_a_lock_held_outside_its_gate() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    let db = storage::open_named::<NoMigrations>(
        StorageTarget::Sqlite {
            data_dir: dir.path(),
        },
        "serial",
        4,
    )
    .await
    .unwrap_or_else(|error| panic!("open: {error}"));
    storage::execute(&db, "CREATE TABLE t (n INTEGER NOT NULL)", Vec::new())
        .await
        .unwrap_or_else(|error| panic!("create: {error}"));
    let writer = SerialWriter::new(db.clone(), 1);

    let abandoned = db
        .begin()
        .await
        .unwrap_or_else(|error| panic!("begin: {error}"));
    storage::execute(&abandoned, "INSERT INTO t VALUES (0)", Vec::new())
        .await
        .unwrap_or_else(|error| panic!("insert: {error}"));
    let rollback = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        abandoned.rollback().await
    });

    // Read, then write: the shape of every serialised write (checks, then rows).
    let txn = writer
        .begin()
        .await
        .unwrap_or_else(|error| panic!("writer begin: {error}"));
    storage::query_all(&txn.txn, "SELECT n FROM t", Vec::new())
        .await
        .unwrap_or_else(|error| panic!("read: {error}"));
    storage::execute(&txn.txn, "INSERT INTO t VALUES (1)", Vec::new())
        .await
        .unwrap_or_else(|error| panic!("the writer's write failed instead of waiting: {error}"));
    txn.commit()
        .await
        .unwrap_or_else(|error| panic!("commit: {error}"));
    rollback
        .await
        .unwrap_or_else(|error| panic!("join: {error}"))
        .unwrap_or_else(|error| panic!("rollback: {error}"));

    let rows = storage::query_all(&db, "SELECT n FROM t", Vec::new())
        .await
        .unwrap_or_else(|error| panic!("count: {error}"));
    assert_eq!(rows.len(), 1, "only the writer's row is kept");
}
