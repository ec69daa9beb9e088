//! The scoring service: health scores and traffic lights, the churn model and its
//! drivers, the risk list, alerts and upsell opportunities. Latest scores are written
//! through to a versioned cache (Redis, or in-process in the embedded mode) and read from
//! it first.

mod announce;
mod compute;
mod convert;
mod grpc;
mod history;
mod models;
mod pipeline;
pub mod remote;
mod role;
mod store;

use std::{sync::Arc, time::Duration};

use nordstern_accounts::remote::AccountsApi;
use nordstern_proto::scoring::v1::scoring_service_server::ScoringServiceServer;
use nordstern_runtime::{cache::VersionedCache, shutdown::ShutdownSignal};
use nordstern_survey::remote::SurveyApi;
use nordstern_usage::remote::UsageApi;
use sea_orm::{DatabaseConnection, DbErr};
use tonic::Status;

pub use grpc::ScoringGrpc;
pub use nordstern_scoring_migration::Migrator;
pub use pipeline::{Scoring, SharedScoring, Target};
pub use role::start;
pub use store::Store;

/// Score changes buffered per watcher before a slow one is told to catch up.
const WATCH_BUFFER: usize = 4_096;

/// The scoring core over an already migrated database, shared by the gRPC service and
/// the scheduled recompute.
pub fn scoring(
    db: DatabaseConnection,
    cache: VersionedCache,
    accounts: AccountsApi,
    usage: UsageApi,
    survey: SurveyApi,
    alert_max_answer_age: Option<std::time::Duration>,
) -> SharedScoring {
    let (changes, _) = tokio::sync::broadcast::channel(WATCH_BUFFER);
    Arc::new(Scoring {
        store: Store::new(db),
        cache,
        accounts,
        usage,
        survey,
        changes,
        alert_max_answer_age,
    })
}

pub fn grpc_service(
    scoring: SharedScoring,
    max_request_bytes: usize,
) -> ScoringServiceServer<ScoringGrpc> {
    ScoringServiceServer::new(ScoringGrpc::new(scoring))
        .max_decoding_message_size(max_request_bytes)
}

/// Recomputes every account every `interval` until shutdown (the first run one interval
/// after start, so a restart does not recompute at once). A zero interval disables it.
pub async fn run_scheduled_recompute(
    scoring: SharedScoring,
    interval: Duration,
    shutdown: ShutdownSignal,
) {
    if interval.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.clone().wait() => return,
            _ = ticks.tick() => {}
        }
        match scoring.recompute(Target::All).await {
            Ok(report) => tracing::info!(
                accounts_scored = report.accounts_scored,
                color_changes = report.color_changes,
                alerts_raised = report.alerts_raised,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "scheduled recompute"
            ),
            Err(error) => tracing::warn!(%error, "scheduled recompute failed"),
        }
    }
}

/// Database failures are logged with their cause and answered as INTERNAL.
pub(crate) fn db_error(error: DbErr) -> Status {
    nordstern_runtime::error::ServiceError::Database(error).into()
}
