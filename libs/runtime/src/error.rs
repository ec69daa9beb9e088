//! The errors every service answers with, and their one mapping to gRPC statuses: a
//! small shared set of codes, used as gRPC means them.

use crate::{idempotency::IdempotencyError, status::FieldViolations};
use sea_orm::DbErr;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    InvalidArgument(#[from] FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A field that is well-formed but conflicts with what is stored (an effective date
    /// before the last one): FAILED_PRECONDITION naming the field in a
    /// `google.rpc.PreconditionFailure`.
    #[error("{field}: {description}")]
    Conflict { field: String, description: String },
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("stored response could not be decoded: {0}")]
    CorruptResponse(#[from] prost::DecodeError),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<IdempotencyError> for ServiceError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::KeyReused(_) => ServiceError::FailedPrecondition(error.to_string()),
            IdempotencyError::Db(db) => ServiceError::Database(db),
        }
    }
}

/// One reason an item of a batch was refused: the field it concerns, why, and the code
/// the single call would have answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemReason {
    pub field: String,
    pub reason: String,
    pub code: tonic::Code,
}

impl ServiceError {
    /// The code the error is answered with (as [`Status`] maps it).
    pub fn code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            ServiceError::InvalidArgument(_) => Code::InvalidArgument,
            ServiceError::NotFound(_) => Code::NotFound,
            ServiceError::AlreadyExists(_) => Code::AlreadyExists,
            ServiceError::FailedPrecondition(_) | ServiceError::Conflict { .. } => {
                Code::FailedPrecondition
            }
            ServiceError::Database(db) if is_unavailable(db) => Code::Unavailable,
            ServiceError::Database(_) | ServiceError::CorruptResponse(_) => Code::Internal,
        }
    }

    /// The error as the reasons one item of a batch was refused. `field` names what the
    /// error does not (field violations and conflicts name their own fields); an
    /// internal error gives no text away.
    pub fn item_reasons(self, field: &str) -> Vec<ItemReason> {
        let code = self.code();
        let reason = |field: &str, reason: String| ItemReason {
            field: field.to_owned(),
            reason,
            code,
        };
        match self {
            ServiceError::InvalidArgument(violations) => violations
                .violations()
                .iter()
                .map(|(field, description)| reason(field, description.clone()))
                .collect(),
            ServiceError::Conflict { field, description } => vec![reason(&field, description)],
            ServiceError::Database(_) | ServiceError::CorruptResponse(_) => {
                vec![reason("", "internal error".to_owned())]
            }
            other => vec![reason(field, other.to_string())],
        }
    }

    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        ServiceError::InvalidArgument(FieldViolations::single(field, description))
    }

    /// A unique index said no: the caller asked for something that exists already.
    pub fn from_unique(error: DbErr, what: &str) -> Self {
        match error.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ServiceError::AlreadyExists(format!("{what} already exists"))
            }
            _ => ServiceError::Database(error),
        }
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Status {
        match error {
            ServiceError::InvalidArgument(violations) => violations.into(),
            ServiceError::NotFound(what) => Status::not_found(format!("{what} not found")),
            ServiceError::AlreadyExists(message) => Status::already_exists(message),
            ServiceError::FailedPrecondition(message) => Status::failed_precondition(message),
            ServiceError::Conflict { field, description } => {
                use tonic_types::{ErrorDetails, StatusExt};
                Status::with_error_details(
                    tonic::Code::FailedPrecondition,
                    format!("{field}: {description}"),
                    ErrorDetails::with_precondition_failure_violation("STATE", field, description),
                )
            }
            ServiceError::Database(ref db) if is_unavailable(db) => {
                tracing::warn!(error = %db, "database unavailable");
                Status::unavailable("database unavailable; retry later")
            }
            other => crate::status::internal(&other),
        }
    }
}

/// The database is down or going away, rather than the request being wrong: the caller
/// may retry, here or elsewhere.
pub fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let sqlx_error = match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // PostgreSQL's class 57 (operator intervention: shut down, cannot connect now)
        // and 08 (connection exception).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57") || code.starts_with("08")),
        _ => false,
    }
}
