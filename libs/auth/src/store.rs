//! Tokens and audit events in the configured store: `auth.sqlite` in the data directory,
//! or the `auth` schema in PostgreSQL. Every process of an installation reads the same
//! tokens. Instants are microseconds since the Unix epoch on both backends.

use nordstern_domain::scope::Scope;
use nordstern_runtime::storage::{self, StorageTarget, execute, query_all, query_one};
use sea_orm::{DatabaseConnection, DbErr, QueryResult, Value};

use crate::secret::SecretHash;

pub use migration::Migrator;

/// The store's schema, self-contained (no entities) like every service's migrations.
mod migration {
    use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

    pub struct Migrator;

    #[async_trait::async_trait]
    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(CreateTokensAndAudit), Box::new(AddTokenCsm)]
        }

        fn migration_table_name() -> DynIden {
            "auth_migrations".into_iden()
        }
    }

    #[derive(DeriveMigrationName)]
    struct CreateTokensAndAudit;

    /// A token may speak for one CSM (the board's default portfolio).
    struct AddTokenCsm;

    // The derived name is the module's, which the first migration already has.
    impl MigrationName for AddTokenCsm {
        fn name(&self) -> &str {
            "m0002_token_csm"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for AddTokenCsm {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE auth_tokens ADD COLUMN csm_id TEXT NOT NULL DEFAULT ''",
                )
                .await
                .map(|_| ())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE auth_tokens DROP COLUMN csm_id")
                .await
                .map(|_| ())
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for CreateTokensAndAudit {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let db = manager.get_connection();
            for sql in [
                // Scopes are space-separated names; the secret is never stored, only its hash.
                "CREATE TABLE auth_tokens (
                    token_id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    secret_hash TEXT NOT NULL UNIQUE,
                    secret_prefix TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NULL,
                    last_used_at BIGINT NULL,
                    revoked_at BIGINT NULL,
                    rate_per_second INTEGER NOT NULL,
                    burst INTEGER NOT NULL)",
                "CREATE TABLE auth_audit_events (
                    event_id TEXT PRIMARY KEY,
                    occurred_at BIGINT NOT NULL,
                    token_id TEXT NOT NULL,
                    token_name TEXT NOT NULL,
                    via_service BOOLEAN NOT NULL,
                    method TEXT NOT NULL,
                    account_id TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    scope TEXT NOT NULL)",
                // Listing newest first (by the time-ordered id), for one token or account,
                // and the retention sweep by time.
                "CREATE INDEX auth_audit_time ON auth_audit_events (occurred_at)",
                "CREATE INDEX auth_audit_token ON auth_audit_events (token_id, event_id)",
                "CREATE INDEX auth_audit_account ON auth_audit_events (account_id, event_id)",
            ] {
                db.execute_unprepared(sql).await?;
            }
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let db = manager.get_connection();
            db.execute_unprepared("DROP TABLE auth_audit_events")
                .await?;
            db.execute_unprepared("DROP TABLE auth_tokens").await?;
            Ok(())
        }
    }
}

/// Opens and migrates the token store of a configuration.
pub async fn open(config: &nordstern_runtime::Config) -> Result<DatabaseConnection, DbErr> {
    let target = match &config.database_url {
        Some(url) => StorageTarget::Postgres { url },
        None => StorageTarget::Sqlite {
            data_dir: &config.data_dir,
        },
    };
    // Token reads are one query per refresh interval and audit writes are batched, so a
    // small pool is plenty.
    storage::open_named::<Migrator>(target, "auth", config.database_max_connections.min(4)).await
}

/// A token as stored (without its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub token_id: String,
    pub name: String,
    pub secret_hash: SecretHash,
    pub secret_prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub rate_per_second: u32,
    pub burst: u32,
    /// The CSM the token speaks for; empty for none.
    pub csm_id: String,
}

const TOKEN_COLUMNS: &str = "token_id, name, secret_hash, secret_prefix, scopes, created_at, \
    expires_at, last_used_at, revoked_at, rate_per_second, burst, csm_id";

fn token_from_row(row: &QueryResult) -> Result<TokenRecord, DbErr> {
    let corrupt = |what: &str| DbErr::Custom(format!("corrupt auth_tokens row: {what}"));
    let hash: String = row.try_get("", "secret_hash")?;
    let scopes: String = row.try_get("", "scopes")?;
    let rate: i32 = row.try_get("", "rate_per_second")?;
    let burst: i32 = row.try_get("", "burst")?;
    Ok(TokenRecord {
        token_id: row.try_get("", "token_id")?,
        name: row.try_get("", "name")?,
        secret_hash: SecretHash::from_hex(&hash).ok_or_else(|| corrupt("secret_hash"))?,
        secret_prefix: row.try_get("", "secret_prefix")?,
        scopes: scopes
            .split_whitespace()
            .map(|name| Scope::parse(name).ok_or_else(|| corrupt("scopes")))
            .collect::<Result<_, _>>()?,
        created_at: row.try_get("", "created_at")?,
        expires_at: row.try_get("", "expires_at")?,
        last_used_at: row.try_get("", "last_used_at")?,
        revoked_at: row.try_get("", "revoked_at")?,
        rate_per_second: u32::try_from(rate).map_err(|_| corrupt("rate_per_second"))?,
        burst: u32::try_from(burst).map_err(|_| corrupt("burst"))?,
        csm_id: row.try_get("", "csm_id")?,
    })
}

fn scopes_column(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn insert_token(db: &DatabaseConnection, token: &TokenRecord) -> Result<(), DbErr> {
    execute(
        db,
        &format!(
            "INSERT INTO auth_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ),
        vec![
            token.token_id.clone().into(),
            token.name.clone().into(),
            token.secret_hash.to_hex().into(),
            token.secret_prefix.clone().into(),
            scopes_column(&token.scopes).into(),
            token.created_at.into(),
            token.expires_at.into(),
            token.last_used_at.into(),
            token.revoked_at.into(),
            i32::try_from(token.rate_per_second).unwrap_or(i32::MAX).into(),
            i32::try_from(token.burst).unwrap_or(i32::MAX).into(),
            token.csm_id.clone().into(),
        ],
    )
    .await
    .map(|_| ())
}

/// Every token that is not revoked: what each process keeps in memory.
pub async fn live_tokens(db: &DatabaseConnection) -> Result<Vec<TokenRecord>, DbErr> {
    query_all(
        db,
        &format!("SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE revoked_at IS NULL"),
        vec![],
    )
    .await?
    .iter()
    .map(token_from_row)
    .collect()
}

pub async fn get_token(
    db: &DatabaseConnection,
    token_id: &str,
) -> Result<Option<TokenRecord>, DbErr> {
    query_one(
        db,
        &format!("SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE token_id = $1"),
        vec![token_id.into()],
    )
    .await?
    .as_ref()
    .map(token_from_row)
    .transpose()
}

/// Tokens newest first (ids are UUIDv7, ordered by creation), after the id of the last
/// one seen.
pub async fn list_tokens(
    db: &DatabaseConnection,
    include_revoked: bool,
    before_id: Option<String>,
    limit: u64,
) -> Result<Vec<TokenRecord>, DbErr> {
    let revoked = if include_revoked {
        ""
    } else {
        "AND revoked_at IS NULL"
    };
    let (cursor, mut values): (&str, Vec<Value>) = match before_id {
        Some(token_id) => ("AND token_id < $1", vec![token_id.into()]),
        None => ("", vec![]),
    };
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    let limit_at = values.len();
    query_all(
        db,
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE 1 = 1 {revoked} {cursor}
             ORDER BY token_id DESC LIMIT ${limit_at}"
        ),
        values,
    )
    .await?
    .iter()
    .map(token_from_row)
    .collect()
}

/// Marks a token revoked; false when it was revoked already (or does not exist).
pub async fn revoke_token(
    db: &DatabaseConnection,
    token_id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let changed = execute(
        db,
        "UPDATE auth_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL",
        vec![now.into(), token_id.into()],
    )
    .await?;
    Ok(changed > 0)
}

/// Records when tokens were last used (only ever moving forward).
pub async fn touch_tokens(db: &DatabaseConnection, used: &[(String, i64)]) -> Result<(), DbErr> {
    for (token_id, at) in used {
        execute(
            db,
            "UPDATE auth_tokens SET last_used_at = $1
             WHERE token_id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
            vec![(*at).into(), token_id.clone().into()],
        )
        .await?;
    }
    Ok(())
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub event_id: String,
    pub occurred_at: i64,
    pub token_id: String,
    pub token_name: String,
    pub via_service: bool,
    pub method: String,
    pub account_id: String,
    pub outcome: String,
    pub scope: String,
}

pub async fn insert_audit(db: &DatabaseConnection, records: Vec<AuditRecord>) -> Result<(), DbErr> {
    let rows = records
        .into_iter()
        .map(|r| {
            vec![
                r.event_id.into(),
                r.occurred_at.into(),
                r.token_id.into(),
                r.token_name.into(),
                r.via_service.into(),
                r.method.into(),
                r.account_id.into(),
                r.outcome.into(),
                r.scope.into(),
            ]
        })
        .collect();
    storage::insert_rows(
        db,
        "INSERT INTO auth_audit_events (event_id, occurred_at, token_id, token_name, via_service, method, account_id, outcome, scope)",
        "",
        9,
        rows,
    )
    .await
    .map(|_| ())
}

/// Filters of an audit listing; empty strings and `None` filter nothing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub token_id: String,
    pub account_id: String,
    pub method: String,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// The id of the last event of the previous page (ids are UUIDv7, in time order).
    pub before_id: Option<String>,
}

/// Audit events newest first.
pub async fn list_audit(
    db: &DatabaseConnection,
    filter: &AuditFilter,
    limit: u64,
) -> Result<Vec<AuditRecord>, DbErr> {
    let mut conditions = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |condition: &str, value: Value, values: &mut Vec<Value>| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len())));
    };
    for (column, value) in [
        ("token_id", &filter.token_id),
        ("account_id", &filter.account_id),
        ("method", &filter.method),
    ] {
        if !value.is_empty() {
            bind(&format!("{column} = ?"), value.clone().into(), &mut values);
        }
    }
    if let Some(since) = filter.since {
        bind("occurred_at >= ?", since.into(), &mut values);
    }
    if let Some(until) = filter.until {
        bind("occurred_at < ?", until.into(), &mut values);
    }
    if let Some(event_id) = &filter.before_id {
        bind("event_id < ?", event_id.clone().into(), &mut values);
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    let limit_at = values.len();
    let filter_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let rows = query_all(
        db,
        &format!(
            "SELECT event_id, occurred_at, token_id, token_name, via_service, method, account_id, outcome, scope
             FROM auth_audit_events {filter_sql}
             ORDER BY event_id DESC LIMIT ${limit_at}"
        ),
        values,
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditRecord {
                event_id: row.try_get("", "event_id")?,
                occurred_at: row.try_get("", "occurred_at")?,
                token_id: row.try_get("", "token_id")?,
                token_name: row.try_get("", "token_name")?,
                via_service: row.try_get("", "via_service")?,
                method: row.try_get("", "method")?,
                account_id: row.try_get("", "account_id")?,
                outcome: row.try_get("", "outcome")?,
                scope: row.try_get("", "scope")?,
            })
        })
        .collect()
}

/// Removes audit events older than `before`; returns how many.
pub async fn purge_audit(db: &DatabaseConnection, before: i64) -> Result<u64, DbErr> {
    execute(
        db,
        "DELETE FROM auth_audit_events WHERE occurred_at < $1",
        vec![before.into()],
    )
    .await
}
