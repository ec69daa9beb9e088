//! The trust boundary of the suite: API tokens with `resource:action` scopes (stored
//! hashed, revocable, shown once), the one table of which scope each RPC and HTTP route
//! needs, per-token rate limits, and the audit trail. Every server checks tokens in front
//! of its services with [`keeper::Keeper`]; tokens are managed over the `AuthService`
//! RPCs ([`admin`]) or straight in the store ([`tokens`], for `nordstern token`).

pub mod admin;
pub mod audit;
pub mod http;
pub mod keeper;
pub mod secret;
pub mod store;
pub mod table;
pub mod tokens;

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use nordstern_runtime::{Config, shutdown::ShutdownSignal};
use sea_orm::DatabaseConnection;

pub use keeper::Keeper;

/// The token check of one process, its store, and the work that keeps it current.
pub struct Auth {
    pub keeper: Arc<Keeper>,
    pub db: DatabaseConnection,
    audit_writer: audit::AuditWriter,
    refresh_interval: Duration,
    audit_retention: chrono::Duration,
    /// How long the audit writer waits for in-flight requests after shutdown.
    audit_linger: Duration,
}

impl Auth {
    /// Opens the token store and loads the live tokens, so the first request after start
    /// is already checked against them.
    pub async fn start(config: &Config) -> Result<Auth, sea_orm::DbErr> {
        let db = store::open(config).await?;
        let (sink, audit_writer) = audit::channel();
        let keeper = Arc::new(Keeper::new(&config.auth, sink));
        keeper.replace_tokens(store::live_tokens(&db).await?);
        if keeper.is_enabled() && keeper.token_count() == 0 {
            tracing::warn!(
                "no API tokens exist, so every call will be refused; create one with `nordstern token create --name admin --scope admin` (same data_dir or database_url)"
            );
        }
        if !keeper.is_enabled() {
            tracing::warn!("auth.enabled is false: every caller may do everything (loopback only)");
        }
        Ok(Auth {
            keeper,
            db,
            audit_writer,
            refresh_interval: config.auth.refresh_interval(),
            audit_retention: chrono::Duration::days(i64::from(config.auth.audit_retention_days)),
            audit_linger: config.grpc.shutdown_grace() + Duration::from_secs(1),
        })
    }

    /// The refresh loop (tokens in, last uses out, idle buckets dropped, old audit
    /// events swept) until `shutdown`, and the audit writer until the servers are gone.
    pub fn background(self) -> impl FnOnce(ShutdownSignal) -> BoxFuture<'static, ()> {
        let Auth {
            keeper,
            db,
            audit_writer,
            refresh_interval,
            audit_retention,
            audit_linger,
        } = self;
        move |shutdown| {
            Box::pin(async move {
                let writer =
                    tokio::spawn(audit_writer.run(db.clone(), shutdown.clone(), audit_linger));
                refresh(&keeper, &db, refresh_interval, audit_retention, shutdown).await;
                drop(keeper);
                if let Err(error) = writer.await {
                    tracing::warn!(%error, "audit writer failed");
                }
            })
        }
    }
}

async fn refresh(
    keeper: &Keeper,
    db: &DatabaseConnection,
    interval: Duration,
    audit_retention: chrono::Duration,
    shutdown: ShutdownSignal,
) {
    const SWEEP_EVERY: Duration = Duration::from_secs(3_600);
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        let used = keeper.last_uses();
        if !used.is_empty()
            && let Err(error) = store::touch_tokens(db, &used).await
        {
            tracing::warn!(%error, "recording token use failed");
        }
        match store::live_tokens(db).await {
            Ok(tokens) => keeper.replace_tokens(tokens),
            // The snapshot stays as it was: a store outage does not lock everyone out.
            Err(error) => tracing::warn!(%error, "refreshing tokens failed"),
        }
        keeper.forget_idle_buckets();
        if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            let before = (chrono::Utc::now() - audit_retention).timestamp_micros();
            match store::purge_audit(db, before).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "old audit events removed"),
                Err(error) => tracing::warn!(%error, "sweeping the audit trail failed"),
            }
            last_sweep = Some(std::time::Instant::now());
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.clone().wait() => return,
        }
    }
}

/// RFC 3339 of microseconds since the epoch.
pub fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}
