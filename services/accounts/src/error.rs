//! The accounts service's errors and their one mapping to gRPC statuses.

use nordstern_runtime::{idempotency::IdempotencyError, status::FieldViolations};
use sea_orm::DbErr;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    InvalidArgument(#[from] FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("stored response could not be decoded: {0}")]
    CorruptResponse(#[from] prost::DecodeError),
}

pub type AccountsResult<T> = Result<T, AccountsError>;

impl From<IdempotencyError> for AccountsError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::KeyReused(_) => AccountsError::FailedPrecondition(error.to_string()),
            IdempotencyError::Db(db) => AccountsError::Database(db),
        }
    }
}

impl AccountsError {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        AccountsError::InvalidArgument(FieldViolations::single(field, description))
    }

    /// A unique index said no: the caller asked for something that exists already.
    pub fn from_unique(error: DbErr, what: &str) -> Self {
        match error.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                AccountsError::AlreadyExists(format!("{what} already exists"))
            }
            _ => AccountsError::Database(error),
        }
    }
}

impl From<AccountsError> for Status {
    fn from(error: AccountsError) -> Status {
        match error {
            AccountsError::InvalidArgument(violations) => violations.into(),
            AccountsError::NotFound(what) => Status::not_found(format!("{what} not found")),
            AccountsError::AlreadyExists(message) => Status::already_exists(message),
            AccountsError::FailedPrecondition(message) => Status::failed_precondition(message),
            AccountsError::Database(ref db) if is_unavailable(db) => {
                tracing::warn!(error = %db, "database unavailable");
                Status::unavailable("database unavailable; retry later")
            }
            other => nordstern_runtime::status::internal(&other),
        }
    }
}

fn is_unavailable(error: &DbErr) -> bool {
    matches!(error, DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
}
