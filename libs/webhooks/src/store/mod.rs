//! The webhook store of the installation (`webhooks.sqlite`, or the schema `webhooks`):
//! subscriptions, the events relayed from the services' outboxes, and one delivery per
//! event and subscription with its state (the delivery log).

use nordstern_domain::webhook::{DeliveryStatus, PayloadFormat};
use nordstern_runtime::storage::{self, SerialWriter, StorageTarget};
use sea_orm::{DatabaseConnection, DbErr};

mod deliveries;
mod migration;
mod subscriptions;

pub use migration::Migrator;

/// Transactions on the store take this PostgreSQL advisory lock (SQLite has one writer).
const WRITE_LOCK_KEY: i64 = 0x5745_4248_4f4f_4b53;

#[derive(Clone)]
pub struct Store {
    writer: SerialWriter,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    pub subscription_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub active: bool,
    pub format: PayloadFormat,
    pub description: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: i64,
}

impl SubscriptionRow {
    /// The secrets that sign now: the current one, and the previous one while it lasts.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            secrets.push(previous);
        }
        secrets
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: String,
    pub subscription_id: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_response_code: i32,
    pub last_error: String,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub next_attempt_at: i64,
    pub give_up_at: i64,
    pub delivered_at: Option<i64>,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub response_code: i32,
    pub error: String,
    /// `None`: delivered, or dead when `error` is set.
    pub next_attempt_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub subscription_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub event_id: Option<String>,
}

impl Store {
    /// Opens (and migrates) the store of `config`.
    pub async fn open(config: &nordstern_runtime::Config) -> Result<Store, DbErr> {
        let target = match &config.database_url {
            Some(url) => StorageTarget::Postgres { url },
            None => StorageTarget::Sqlite {
                data_dir: &config.data_dir,
            },
        };
        let db = storage::open_named::<Migrator>(
            target,
            "webhooks",
            Ord::min(config.database_max_connections, 4),
        )
        .await?;
        Ok(Store {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.writer.db()
    }
}
