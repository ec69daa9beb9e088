//! Idempotency keys: the first response to a key is stored in the same transaction as
//! the change it describes, so a retry is answered from the store and never re-applied.
//! Every service's migrator includes [`CreateIdempotencyTable`].

use sea_orm::{ConnectionTrait, DbErr, Value};

use crate::storage::statement;
use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

#[derive(DeriveMigrationName)]
pub struct CreateIdempotencyTable;

#[async_trait::async_trait]
impl MigrationTrait for CreateIdempotencyTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .if_not_exists()
                    .col(ColumnDef::new("operation").string_len(64).not_null())
                    .col(ColumnDef::new("idempotency_key").string_len(128).not_null())
                    .col(
                        ColumnDef::new("request_fingerprint")
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new("response").blob().not_null())
                    // The account (or other data subject) the stored response is about,
                    // so erasing that subject also erases the answers that mention it.
                    .col(ColumnDef::new("subject_id").string_len(64).null())
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col("operation").col("idempotency_key"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_subject_idx")
                    .table("idempotency_keys")
                    .col("subject_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("idempotency_keys").to_owned())
            .await
    }
}

/// What an idempotent request is known by: the caller's key and a fingerprint of the
/// whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("idempotency key `{0}` was already used for a different request")]
    KeyReused(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A stable 64-bit FNV-1a fingerprint of the request bytes (std's hasher may change
/// between Rust releases, and stored fingerprints must not).
pub fn fingerprint(bytes: &[u8]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// The stored response for `key`, if this operation has seen it. A key reused with a
/// different request is refused rather than silently answered with the other result.
pub async fn find_response(
    db: &impl ConnectionTrait,
    operation: &str,
    key: &str,
    request_fingerprint: i64,
) -> Result<Option<Vec<u8>>, IdempotencyError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT request_fingerprint, response FROM idempotency_keys WHERE operation = $1 AND idempotency_key = $2",
            [Value::from(operation), Value::from(key)],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let stored_fingerprint: i64 = row.try_get("", "request_fingerprint")?;
    if stored_fingerprint != request_fingerprint {
        return Err(IdempotencyError::KeyReused(key.to_owned()));
    }
    Ok(Some(row.try_get("", "response")?))
}

/// Stores the response for `key`; call inside the transaction that applies the change.
pub async fn store_response(
    db: &impl ConnectionTrait,
    operation: &str,
    key: &str,
    request_fingerprint: i64,
    response: Vec<u8>,
    subject_id: Option<&str>,
) -> Result<(), DbErr> {
    let response = NewResponse {
        key: key.to_owned(),
        fingerprint: request_fingerprint,
        response,
        subject_id: subject_id.map(str::to_owned),
    };
    store_responses(db, operation, vec![response]).await
}

/// One stored response of [`find_responses`].
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub fingerprint: i64,
    pub response: Vec<u8>,
}

/// The stored responses of this operation for any of `keys`, by key, for a batch whose
/// items each carry a key. The caller compares fingerprints,
/// since a reused key refuses one item, not the batch.
pub async fn find_responses(
    db: &impl ConnectionTrait,
    operation: &str,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, StoredResponse>, DbErr> {
    let mut found = std::collections::HashMap::new();
    let rows = crate::storage::select_by_keys(
        db,
        "request_fingerprint, response",
        "idempotency_keys",
        "idempotency_key",
        ("operation = $1", vec![Value::from(operation)]),
        keys,
    )
    .await?;
    for row in rows {
        found.insert(
            row.try_get("", "idempotency_key")?,
            StoredResponse {
                fingerprint: row.try_get("", "request_fingerprint")?,
                response: row.try_get("", "response")?,
            },
        );
    }
    Ok(found)
}

/// What a batch's idempotency keys already answer: responses stored by earlier requests,
/// and the items of this batch that carried a key first.
pub struct KeyLedger {
    stored: std::collections::HashMap<String, StoredResponse>,
    seen: std::collections::HashMap<String, (i64, usize)>,
}

/// What a key says about its item.
pub enum KeyAnswer {
    /// An earlier request with this key wrote this id.
    Stored(String),
    /// The item at this index of the batch carried the same key and request.
    Earlier(usize),
    /// The key is new: the item is to be decided.
    New,
}

impl KeyLedger {
    /// The stored responses of `operation` for the batch's `keys`.
    pub async fn load(
        db: &impl ConnectionTrait,
        operation: &str,
        keys: &[&str],
    ) -> Result<Self, DbErr> {
        Ok(KeyLedger {
            stored: find_responses(db, operation, keys).await?,
            seen: std::collections::HashMap::new(),
        })
    }

    /// The answer for the item at `index`; a key used before for another request refuses
    /// the item, not the batch.
    pub fn check(
        &mut self,
        key: &IdempotencyKey,
        index: usize,
    ) -> Result<KeyAnswer, IdempotencyError> {
        let (fingerprint, answer) = if let Some(found) = self.stored.get(&key.key) {
            let id = String::from_utf8_lossy(&found.response).into_owned();
            (found.fingerprint, KeyAnswer::Stored(id))
        } else if let Some((fingerprint, first)) = self.seen.get(&key.key) {
            (*fingerprint, KeyAnswer::Earlier(*first))
        } else {
            self.seen.insert(key.key.clone(), (key.fingerprint, index));
            return Ok(KeyAnswer::New);
        };
        if fingerprint != key.fingerprint {
            return Err(IdempotencyError::KeyReused(key.key.clone()));
        }
        Ok(answer)
    }
}

/// A response to store with [`store_responses`].
#[derive(Debug, Clone)]
pub struct NewResponse {
    pub key: String,
    pub fingerprint: i64,
    pub response: Vec<u8>,
    pub subject_id: Option<String>,
}

/// Stores many responses of one operation in as few statements as the database allows;
/// call inside the transaction that applies the changes.
pub async fn store_responses(
    db: &impl ConnectionTrait,
    operation: &str,
    responses: Vec<NewResponse>,
) -> Result<(), DbErr> {
    let now = chrono::Utc::now();
    let rows = responses
        .into_iter()
        .map(|r| {
            vec![
                Value::from(operation),
                Value::from(r.key),
                Value::from(r.fingerprint),
                Value::from(r.response),
                Value::from(r.subject_id),
                Value::from(now),
            ]
        })
        .collect();
    crate::storage::insert_rows(
        db,
        "INSERT INTO idempotency_keys (operation, idempotency_key, request_fingerprint, response, subject_id, created_at)",
        "",
        6,
        rows,
    )
    .await?;
    Ok(())
}

/// Forgets every stored response about `subject_id` (GDPR erasure).
pub async fn erase_subject(db: &impl ConnectionTrait, subject_id: &str) -> Result<u64, DbErr> {
    let result = db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM idempotency_keys WHERE subject_id = $1",
            [Value::from(subject_id)],
        ))
        .await?;
    Ok(result.rows_affected())
}
