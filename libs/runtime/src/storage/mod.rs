//! One database per service: a SQLite file per service in the data directory (embedded
//! mode), or a PostgreSQL schema per service named after the role. Each service brings its
//! own migrator, which runs at start.

use std::{path::Path, time::Duration};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};
pub use sea_orm_migration::MigratorTrait;

use crate::role::Role;

mod rows;

pub use rows::{aggregate_by_keys, insert_rows, select_by_keys};

/// Where a service's data lives.
#[derive(Debug, Clone)]
pub enum StorageTarget<'a> {
    Sqlite { data_dir: &'a Path },
    Postgres { url: &'a str },
}

/// Connects the pool of one service and brings its schema up to date.
pub async fn open<M: MigratorTrait>(
    target: StorageTarget<'_>,
    role: Role,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    open_named::<M>(target, role.as_str(), max_connections).await
}

/// Like [`open`] for a store that belongs to no one service (the tokens every server
/// checks): `name.sqlite`, or the schema `name`.
pub async fn open_named<M: MigratorTrait>(
    target: StorageTarget<'_>,
    name: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let db = connect(target, name, max_connections).await?;
    M::up(&db, None).await?;
    Ok(db)
}

async fn connect(
    target: StorageTarget<'_>,
    name: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    match target {
        StorageTarget::Sqlite { data_dir } => {
            std::fs::create_dir_all(data_dir).map_err(|error| {
                DbErr::Custom(format!(
                    "cannot create data directory {}: {error}",
                    data_dir.display()
                ))
            })?;
            let path = data_dir.join(format!("{name}.sqlite"));
            let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
            options
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(|opts| {
                    // WAL lets readers run beside the one writer; NORMAL sync in WAL mode
                    // survives a killed process (only an OS crash can lose the last commits).
                    opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        // Statement journals of multi-row writes in memory, not in temp
                        // files: they are written for every batch statement and never
                        // outlive it, so a file only adds system calls. Sorts that outgrow
                        // the page cache stay in memory too; our largest, the company's
                        // NPS over a window, sorts one row per answer in it.
                        .pragma("temp_store", "memory")
                        // Checkpoints every ~40 MB of WAL instead of 4 MB: rollup pages
                        // rewritten by consecutive batches are copied back once, not per
                        // batch. What a commit guarantees does not change.
                        .pragma("wal_autocheckpoint", "10000")
                        // Reads map the database file instead of copying each page in
                        // with a system call into a private 2 MB cache per connection: a
                        // whole-company recompute spent 7 % of its CPU in `pread`, and
                        // the usage summaries stream ran 10-15 % faster mapped (README,
                        // Scoring). The first GiB is mapped; it is address space, not
                        // memory (the pages are the kernel's file cache, shared by every
                        // connection). Writes still go through the WAL, so what a commit
                        // guarantees does not change.
                        .pragma("mmap_size", "1073741824")
                        // Rows the worker thread may queue for the caller before it waits:
                        // at the default of 50, a 2,000-row RETURNING or read made it stop
                        // and wake up about forty times.
                        .row_buffer_size(1024)
                });
            Database::connect(options).await
        }
        StorageTarget::Postgres { url } => {
            let schema = name;
            let bootstrap = Database::connect(quiet_options(url, 1)).await?;
            bootstrap
                .execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
                ))
                .await?;
            bootstrap.close().await?;
            let mut options = quiet_options(url, max_connections);
            options
                .set_schema_search_path(schema.to_owned())
                .set_application_name(format!("nordstern-{schema}"));
            Database::connect(options).await
        }
    }
}

fn quiet_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    options
}

/// A statement with `$1, $2, …` placeholders for either backend, so each query is written
/// once. SQLite gets anonymous `?` with the values in the order they appear (a value
/// used twice is bound twice): binding the n-th numbered parameter makes SQLite walk the
/// list of parameter names, which made a 1,000-row batch's statements quadratic (a
/// quarter of its time went to `sqlite3_bind_parameter_name`).
pub fn statement(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Statement {
    match backend {
        DbBackend::Sqlite => {
            let (sql, values) = positional(sql, values.into_iter().collect());
            Statement::from_sql_and_values(backend, sql, values)
        }
        _ => Statement::from_sql_and_values(backend, sql, values),
    }
}

/// `sql` with every `$n` replaced by `?`, and the values in the order of the
/// placeholders. A statement written with `?` already (a multi-row insert) keeps its
/// values as they are, and so does one with a placeholder that names no value (SQLite
/// binds NULL for it, as it always did).
fn positional(sql: &str, values: Vec<sea_orm::Value>) -> (String, Vec<sea_orm::Value>) {
    if !sql.contains('$') {
        return (sql.to_owned(), values);
    }
    let mut text = String::with_capacity(sql.len());
    let mut ordered = Vec::with_capacity(values.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        let value = rest[at + 1..at + 1 + digits]
            .parse::<usize>()
            .ok()
            .and_then(|number| values.get(number.checked_sub(1)?));
        let Some(value) = value else {
            return (sql.replace('$', "?"), values);
        };
        ordered.push(value.clone());
        text.push('?');
        rest = &rest[at + 1 + digits..];
    }
    text.push_str(rest);
    (text, ordered)
}

/// Serialises the writes of one service that must see each other's results (ARR totals,
/// tiers, capacities): an in-process gate, plus a PostgreSQL advisory lock so replicas of
/// the service serialise too. SQLite has one writer anyway; the gate spares it from
/// upgrade conflicts between concurrent read-then-write transactions. Writes that commute
/// (usage increments) may share the lock on PostgreSQL (`begin_shared`).
#[derive(Clone)]
pub struct SerialWriter {
    db: DatabaseConnection,
    gate: std::sync::Arc<tokio::sync::RwLock<()>>,
    advisory_lock_key: i64,
}

/// A transaction holding the writer's lock until it commits or is dropped.
pub struct SerialTransaction {
    pub txn: sea_orm::DatabaseTransaction,
    _gate: Gate,
}

/// The in-process half of the writer's lock; held, never read.
enum Gate {
    Exclusive {
        _guard: tokio::sync::OwnedRwLockWriteGuard<()>,
    },
    Shared {
        _guard: tokio::sync::OwnedRwLockReadGuard<()>,
    },
}

impl SerialTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl SerialWriter {
    pub fn new(db: DatabaseConnection, advisory_lock_key: i64) -> Self {
        SerialWriter {
            db,
            gate: std::sync::Arc::default(),
            advisory_lock_key,
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A transaction no other writer of the service runs beside.
    pub async fn begin(&self) -> Result<SerialTransaction, DbErr> {
        let gate = Gate::Exclusive {
            _guard: self.gate.clone().write_owned().await,
        };
        self.begin_with(gate, "pg_advisory_xact_lock").await
    }

    /// A transaction that runs beside other shared ones, never beside an exclusive one.
    /// Shared writers must take their row locks in one global order (they deadlock
    /// otherwise) and must not depend on each other's uncommitted results. On SQLite,
    /// which has one writer at a time, it is exclusive.
    pub async fn begin_shared(&self) -> Result<SerialTransaction, DbErr> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return self.begin().await;
        }
        let gate = Gate::Shared {
            _guard: self.gate.clone().read_owned().await,
        };
        self.begin_with(gate, "pg_advisory_xact_lock_shared").await
    }

    async fn begin_with(&self, gate: Gate, lock: &str) -> Result<SerialTransaction, DbErr> {
        use sea_orm::TransactionTrait;
        // SQLite takes the write lock at BEGIN, where its busy timeout applies. A deferred
        // transaction that has read first gets SQLITE_BUSY at once when it upgrades while
        // another connection still holds the lock, and an abandoned transaction (a
        // cancelled call) holds it until its connection's rollback has run, after the
        // gate is already free.
        let options = sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = self.db.begin_with_options(options).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT {lock}($1)"),
                [sea_orm::Value::from(self.advisory_lock_key)],
            ))
            .await?;
        }
        Ok(SerialTransaction { txn, _gate: gate })
    }
}

/// A SELECT narrowed by optional filters; each `?` of a clause becomes the next `$n`
/// placeholder, bound to the value given with it.
pub struct Select {
    sql: String,
    values: Vec<sea_orm::Value>,
}

/// Which way a keyset column runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

impl Select {
    /// `head` (`SELECT … FROM …`), filtered by what is appended.
    pub fn new(head: &str) -> Self {
        Select {
            sql: format!("{head} WHERE 1 = 1"),
            values: Vec::new(),
        }
    }

    /// Appends `clause`, each of whose `?` takes `value`.
    pub fn bind(&mut self, clause: &str, value: sea_orm::Value) -> &mut Self {
        self.values.push(value);
        let placeholder = format!("${}", self.values.len());
        self.sql.push_str(&clause.replace('?', &placeholder));
        self
    }

    /// Appends text that binds nothing (parentheses, `OR`).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// `AND column IN (…)` when `items` is not empty (empty means no filter).
    pub fn within<V: Into<sea_orm::Value> + Clone>(
        &mut self,
        column: &str,
        items: &[V],
    ) -> &mut Self {
        if items.is_empty() {
            return self;
        }
        let from = self.values.len() + 1;
        self.values.extend(items.iter().cloned().map(Into::into));
        self.sql.push_str(&format!(
            " AND {column} IN ({})",
            placeholders(from, items.len())
        ));
        self
    }

    /// The keyset predicate of the rows after `key` in the order of its columns:
    /// `AND (a < $1 OR (a = $1 AND (b > $2 OR (b = $2 AND c < $3))))` for
    /// `[(a, Descending), (b, Ascending), (c, Descending)]`.
    pub fn after(&mut self, key: Vec<(&str, Order, sea_orm::Value)>) -> &mut Self {
        let mut clause = String::new();
        let count = key.len();
        for (index, (column, order, value)) in key.into_iter().enumerate() {
            self.values.push(value);
            let at = self.values.len();
            let beyond = match order {
                Order::Ascending => '>',
                Order::Descending => '<',
            };
            if index + 1 == count {
                clause.push_str(&format!("{column} {beyond} ${at}"));
            } else {
                clause.push_str(&format!(
                    "({column} {beyond} ${at} OR ({column} = ${at} AND "
                ));
            }
        }
        let closing = ")".repeat(2 * count.saturating_sub(1));
        if count > 0 {
            self.sql.push_str(&format!(" AND {clause}{closing}"));
        }
        self
    }

    /// The SQL and its values, for inspection and tests.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub async fn run(self, db: &impl ConnectionTrait) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        query_all(db, &self.sql, self.values).await
    }
}

/// `$from, $from+1, …` for an IN list of `count` values.
pub fn placeholders(from: usize, count: usize) -> String {
    use std::fmt::Write;
    // One allocation: lists of 500 keys are built for every batch a recompute reads.
    let mut list = String::with_capacity(count * 8);
    for n in from..from + count {
        if n > from {
            list.push_str(", ");
        }
        let _ = write!(list, "${n}");
    }
    list
}

pub async fn query_all(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    db.query_all_raw(statement(db.get_database_backend(), sql, values))
        .await
}

pub async fn query_one(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Option<sea_orm::QueryResult>, DbErr> {
    db.query_one_raw(statement(db.get_database_backend(), sql, values))
        .await
}

/// Runs a statement and returns the rows it affected.
pub async fn execute(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<u64, DbErr> {
    Ok(db
        .execute_raw(statement(db.get_database_backend(), sql, values))
        .await?
        .rows_affected())
}

/// A column stored as a name (an enum's `as_str`), parsed back; an unknown name is a
/// corrupt row, not a default.
pub fn parse_column<T>(
    row: &sea_orm::QueryResult,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, DbErr> {
    let text: String = row.try_get("", column)?;
    parse(&text).ok_or_else(|| {
        DbErr::Custom(format!(
            "unexpected {column} value `{text}` in the database"
        ))
    })
}

/// Like [`parse_column`] for a nullable column.
pub fn parse_optional_column<T>(
    row: &sea_orm::QueryResult,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, DbErr> {
    let text: Option<String> = row.try_get("", column)?;
    text.map(|text| {
        parse(&text).ok_or_else(|| {
            DbErr::Custom(format!(
                "unexpected {column} value `{text}` in the database"
            ))
        })
    })
    .transpose()
}

#[cfg(test)]
mod select_tests {
    use super::*;

    #[test]
    fn sqlite_statements_bind_positionally_in_order_of_use() {
        let values = vec![
            sea_orm::Value::from("a"),
            sea_orm::Value::from(2i64),
            sea_orm::Value::from("c"),
        ];
        let (sql, ordered) = positional(
            "SET x = $1 WHERE id IN ($3, $2) AND x <> $1",
            values.clone(),
        );
        assert_eq!(sql, "SET x = ? WHERE id IN (?, ?) AND x <> ?");
        assert_eq!(
            ordered,
            [
                values[0].clone(),
                values[2].clone(),
                values[1].clone(),
                values[0].clone()
            ]
        );
        for unbound in ["WHERE id = $4", "WHERE id = $0"] {
            let (sql, kept) = positional(unbound, values.clone());
            assert_eq!((sql, kept), (unbound.replace('$', "?"), values.clone()));
        }
        let (written, kept) = positional("VALUES (?, ?, ?)", values.clone());
        assert_eq!((written.as_str(), kept), ("VALUES (?, ?, ?)", values));
    }

    #[test]
    fn filters_and_keysets_number_their_placeholders_in_order() {
        let mut select = Select::new("SELECT id FROM t");
        select
            .bind(" AND owner = ?", "csm".into())
            .within("status", &["OPEN", "ACKNOWLEDGED"])
            .within::<&str>("kind", &[])
            .after(vec![
                ("raised_at", Order::Descending, 10i64.into()),
                ("account_id", Order::Ascending, "a".into()),
                ("version", Order::Descending, 3i32.into()),
            ])
            .bind(" LIMIT ?", 11i64.into());
        assert_eq!(
            select.sql(),
            "SELECT id FROM t WHERE 1 = 1 AND owner = $1 AND status IN ($2, $3) \
             AND (raised_at < $4 OR (raised_at = $4 AND (account_id > $5 OR (account_id = $5 \
             AND version < $6)))) LIMIT $7"
        );
        let mut single = Select::new("SELECT id FROM t");
        single.after(vec![("id", Order::Ascending, "x".into())]);
        assert_eq!(single.sql(), "SELECT id FROM t WHERE 1 = 1 AND id > $1");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_from_the_first_and_may_be_none() {
        assert_eq!(super::placeholders(3, 3), "$3, $4, $5");
        assert_eq!(super::placeholders(9, 2), "$9, $10");
        assert_eq!(super::placeholders(1, 0), "");
    }
}
