//! The usage service: exactly-once ingestion of product-usage events with pseudonymised
//! users, daily rollups kept in step, and the usage questions a CSM asks, per account or
//! for every account at once.

mod convert;
mod grpc;
mod known_features;
mod pseudonym;
pub mod remote;
mod role;
mod store;
mod summary;

use std::time::Duration;

use nordstern_accounts::remote::AccountsApi;
use nordstern_proto::usage::v1::usage_service_server::UsageServiceServer;
use nordstern_runtime::{config::UsageConfig, shutdown::ShutdownSignal, wire::now_micros};
use sea_orm::DatabaseConnection;

pub use grpc::{MAX_BATCH_BYTES, UsageGrpc};
pub use nordstern_usage_migration::Migrator;
pub use pseudonym::Pseudonymizer;
pub use role::start;
pub use store::{NewEvent, RetentionSweep, Store};

/// The service over an already migrated database; `accounts` checks account ids and
/// provides catalogs and peer groups. Refused without a pseudonym key: user ids are
/// never stored unkeyed.
pub fn service(
    db: DatabaseConnection,
    accounts: AccountsApi,
    config: &UsageConfig,
) -> Result<UsageGrpc, String> {
    let key = config
        .pseudonym_key
        .as_deref()
        .ok_or("usage.pseudonym_key is not set")?;
    let track = config
        .track
        .mapping()
        .map_err(|problems| format!("usage.track: {}", problems.join("; ")))?;
    Ok(UsageGrpc::new(
        Store::new(db),
        accounts,
        Pseudonymizer::new(key.as_bytes()),
        retention(config),
    )
    .with_track_mapping(track, config.track.account_property.clone()))
}

pub fn grpc_service(service: UsageGrpc, max_request_bytes: usize) -> UsageServiceServer<UsageGrpc> {
    UsageServiceServer::new(service).max_decoding_message_size(max_request_bytes)
}

fn retention(config: &UsageConfig) -> chrono::Duration {
    chrono::Duration::days(i64::from(config.retention_days))
}

/// Removes expired raw events at start and then every sweep interval, until shutdown.
pub async fn run_retention(db: DatabaseConnection, config: UsageConfig, shutdown: ShutdownSignal) {
    let store = Store::new(db);
    let mut ticks =
        tokio::time::interval(Duration::from_secs(config.retention_sweep_interval_secs));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.clone().wait() => return,
            _ = ticks.tick() => {}
        }
        let cutoff = (now_micros() - retention(&config)).timestamp_micros();
        match store.apply_retention(cutoff).await {
            Ok(sweep) => tracing::info!(
                partitions_dropped = sweep.partitions_dropped.len(),
                events_deleted = sweep.events_deleted,
                keys_deleted = sweep.keys_deleted,
                spans_swept = sweep.spans_swept,
                "usage retention sweep"
            ),
            Err(error) => tracing::warn!(%error, "usage retention sweep failed"),
        }
    }
}
