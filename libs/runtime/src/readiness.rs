//! Health that follows the database: while a store of this process does not answer, the
//! process reports NOT_SERVING (so a load balancer sends work elsewhere) and says SERVING
//! again as soon as it answers, without a restart. Each pool is pinged every
//! `grpc.readiness_interval_ms`, each ping bounded by the same interval (at least 500 ms).

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{Role, shutdown::ShutdownSignal};

/// The stores a server's services need, and how often to look at them.
#[derive(Clone)]
pub struct Readiness {
    pub pools: Vec<(Role, DatabaseConnection)>,
    pub interval: Duration,
}

impl Readiness {
    /// Pings until `shutdown`, switching every service's status (and the server's) when
    /// the answer changes. After shutdown the drain owns the status.
    pub(crate) async fn watch(
        self,
        reporter: HealthReporter,
        names: Vec<&'static str>,
        shutdown: ShutdownSignal,
    ) {
        let timeout = self.interval.max(Duration::from_millis(500));
        let mut serving = true;
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = shutdown.clone().wait() => return,
            }
            let mut down = None;
            for (role, pool) in &self.pools {
                let ping = tokio::time::timeout(timeout, pool.ping()).await;
                if !matches!(ping, Ok(Ok(()))) {
                    down = Some(*role);
                    break;
                }
            }
            let now_serving = down.is_none();
            if now_serving == serving || shutdown.is_requested() {
                continue;
            }
            serving = now_serving;
            let status = if serving {
                tracing::info!("every store answers again: SERVING");
                ServingStatus::Serving
            } else {
                tracing::warn!(role = ?down, "a store does not answer: NOT_SERVING until it does");
                ServingStatus::NotServing
            };
            for name in names.iter().copied().chain([""]) {
                reporter.set_service_status(name, status).await;
            }
        }
    }
}
