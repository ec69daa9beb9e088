//! Webhooks out. Services write events into their own outbox in the transaction of the
//! change ([`nordstern_outbox`]); a relay in each process moves them into the webhook
//! store of the installation, with one delivery per active subscription; the deliverer
//! (in the gateway's process) posts them signed as Standard Webhooks says, retries with
//! backoff for the configured window, and keeps the delivery log. Subscriptions and the
//! log are managed over [`admin::WebhookAdmin`] (gRPC and HTTP) and `nordstern webhook`.

pub mod admin;
mod send;
pub mod sign;
pub mod slack;
pub mod store;
pub mod target;
pub mod worker;

use std::sync::Arc;

use nordstern_runtime::config::WebhooksConfig;
use tokio::sync::Notify;

pub use store::Store;

/// The webhook store and how deliveries behave, as every part of a process holds them.
#[derive(Clone)]
pub struct Webhooks {
    pub store: Store,
    pub config: WebhooksConfig,
    /// Wakes the deliverer when a relay brought events or a redelivery was asked for.
    wake: Arc<Notify>,
}

impl Webhooks {
    /// Opens (and migrates) the store of `config`.
    pub async fn open(config: &nordstern_runtime::Config) -> Result<Webhooks, sea_orm::DbErr> {
        Ok(Webhooks {
            store: Store::open(config).await?,
            config: config.webhooks.clone(),
            wake: Arc::new(Notify::new()),
        })
    }

    fn retry_window_micros(&self) -> i64 {
        i64::from(self.config.retry_window_hours) * 3_600 * 1_000_000
    }
}
