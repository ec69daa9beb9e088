//! The suite as a library: [`App`] wires the enabled roles onto one gRPC server over
//! already-bound listeners, which is how the binary, the benchmarks and the end-to-end
//! tests all start it.

pub mod admin;
pub mod bench;
pub mod cli;
pub mod client;
pub mod commands;
pub mod demo;
pub mod import;
pub mod scratch_db;
pub mod terminal;

use std::net::SocketAddr;

use futures::future::BoxFuture;
use nordstern_accounts::remote::{AccountsApi, RemoteAccounts};
use nordstern_proto::accounts::v1::accounts_service_server::AccountsServiceServer;
use nordstern_runtime::{
    Config, Role,
    cache::{CacheOptions, VersionedCache},
    client::ClientSecurity,
    guard::GuardLayer,
    server::{GrpcServices, Protection, ServeError, serve_protected},
    shutdown::ShutdownSignal,
    storage::{self, MigratorTrait, StorageTarget},
};
use nordstern_scoring::remote::{RemoteScoring, ScoringApi};
use nordstern_survey::remote::{RemoteSurvey, SurveyApi};
use nordstern_usage::remote::{RemoteUsage, UsageApi};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

/// The roles this build implements; `--services all` means these.
pub const IMPLEMENTED_ROLES: [Role; 5] = [
    Role::Accounts,
    Role::Usage,
    Role::Survey,
    Role::Scoring,
    Role::Gateway,
];

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{role} storage: {source}")]
    Storage { role: Role, source: sea_orm::DbErr },
    #[error("token store: {0}")]
    TokenStore(sea_orm::DbErr),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Work a role does beside answering requests (e.g. retention sweeps); it runs until
/// the shutdown signal and ends before the pools close.
type BackgroundTask = Box<dyn FnOnce(ShutdownSignal) -> BoxFuture<'static, ()> + Send>;

/// A built suite: databases connected and migrated, services ready, listeners bound.
pub struct App {
    config: Config,
    listener: TcpListener,
    /// The gateway's HTTP/JSON listener and its routes, when the gateway runs here.
    http: Option<(TcpListener, axum::Router)>,
    services: GrpcServices,
    /// Token check, TLS and reflection of the gRPC listener.
    protection: Protection,
    /// TLS of the HTTP listener.
    http_tls: Option<tokio_rustls::TlsAcceptor>,
    pools: Vec<(Role, DatabaseConnection)>,
    background: Vec<BackgroundTask>,
}

impl App {
    /// Connects and migrates the storage of every role in `roles` and prepares its gRPC
    /// service; nothing is served until [`App::run`].
    pub async fn build(
        config: Config,
        roles: &[Role],
        listener: TcpListener,
    ) -> Result<App, AppError> {
        let mut services = GrpcServices::new();
        let mut pools = Vec::new();
        let mut background: Vec<BackgroundTask> = Vec::new();
        // The accounts API other roles call: in-process when this process runs accounts.
        let mut local_accounts: Option<AccountsApi> = None;
        let mut local_usage: Option<UsageApi> = None;
        let mut local_survey: Option<SurveyApi> = None;
        let mut local_scoring: Option<ScoringApi> = None;
        let mut http = None;
        let max_request_bytes = config.grpc.max_request_bytes;
        // Every server checks tokens against the one store of the installation.
        let auth = nordstern_auth::Auth::start(&config)
            .await
            .map_err(AppError::TokenStore)?;
        let keeper = auth.keeper.clone();
        services.add(
            nordstern_auth::admin::AuthAdmin::new(auth.db.clone(), keeper.clone()).into_server(),
        );
        background.push(Box::new(auth.background()));
        let protection = Protection {
            guard: Some(GuardLayer::new(keeper.clone(), max_request_bytes)),
            tls: nordstern_runtime::tls::grpc_server(&config.tls).map_err(AppError::Config)?,
            reflection: config.auth.reflection,
        };
        let http_tls =
            nordstern_runtime::tls::http_acceptor(&config.tls).map_err(AppError::Config)?;
        for role in roles {
            match role {
                Role::Accounts => {
                    let db = open_storage::<nordstern_accounts::Migrator>(&config, *role).await?;
                    let rules =
                        nordstern_accounts::rules(&config.accounts).map_err(AppError::Config)?;
                    let service = nordstern_accounts::AccountsGrpc::new(
                        nordstern_accounts::Store::new(db.clone(), rules),
                    );
                    local_accounts = Some(nordstern_accounts::remote::local(service.clone()));
                    services.add(
                        AccountsServiceServer::new(service)
                            .max_decoding_message_size(max_request_bytes),
                    );
                    pools.push((*role, db));
                }
                Role::Usage => {
                    let accounts = accounts_api(&config, &local_accounts)?;
                    let db = open_storage::<nordstern_usage::Migrator>(&config, *role).await?;
                    let service = nordstern_usage::service(db.clone(), accounts, &config.usage)
                        .map_err(AppError::Config)?;
                    local_usage = Some(nordstern_usage::remote::local(service.clone()));
                    services.add(nordstern_usage::grpc_service(service, max_request_bytes));
                    let (retention_db, usage_config) = (db.clone(), config.usage.clone());
                    background.push(Box::new(move |shutdown| {
                        Box::pin(nordstern_usage::run_retention(
                            retention_db,
                            usage_config,
                            shutdown,
                        ))
                    }));
                    pools.push((*role, db));
                }
                Role::Survey => {
                    let accounts = accounts_api(&config, &local_accounts)?;
                    let db = open_storage::<nordstern_survey::Migrator>(&config, *role).await?;
                    let service = nordstern_survey::service(db.clone(), accounts);
                    local_survey = Some(nordstern_survey::remote::local(service.clone()));
                    services.add(nordstern_survey::grpc_service(service, max_request_bytes));
                    pools.push((*role, db));
                }
                Role::Scoring => {
                    let accounts = accounts_api(&config, &local_accounts)?;
                    let usage = remote_or_local(
                        &config,
                        &local_usage,
                        RemoteUsage::connect,
                        RemoteUsage::into_api,
                        Role::Usage,
                    )?;
                    let survey = remote_or_local(
                        &config,
                        &local_survey,
                        RemoteSurvey::connect,
                        RemoteSurvey::into_api,
                        Role::Survey,
                    )?;
                    let db = open_storage::<nordstern_scoring::Migrator>(&config, *role).await?;
                    let cache = VersionedCache::connect(
                        config.redis_url.as_deref(),
                        &config.scoring.cache_namespace,
                        CacheOptions::default(),
                    )
                    .await
                    .map_err(|error| AppError::Config(format!("redis_url: {error}")))?;
                    let scoring =
                        nordstern_scoring::scoring(db.clone(), cache, accounts, usage, survey);
                    local_scoring = Some(nordstern_scoring::remote::local(
                        nordstern_scoring::ScoringGrpc::new(scoring.clone()),
                    ));
                    services.add(nordstern_scoring::grpc_service(
                        scoring.clone(),
                        max_request_bytes,
                    ));
                    let interval = config.scoring.recompute_interval();
                    background.push(Box::new(move |shutdown| {
                        Box::pin(nordstern_scoring::run_scheduled_recompute(
                            scoring, interval, shutdown,
                        ))
                    }));
                    pools.push((*role, db));
                }
                Role::Gateway => {
                    let backends = nordstern_gateway::Backends {
                        accounts: accounts_api(&config, &local_accounts)?,
                        usage: remote_or_local(
                            &config,
                            &local_usage,
                            RemoteUsage::connect,
                            RemoteUsage::into_api,
                            Role::Usage,
                        )?,
                        survey: remote_or_local(
                            &config,
                            &local_survey,
                            RemoteSurvey::connect,
                            RemoteSurvey::into_api,
                            Role::Survey,
                        )?,
                        scoring: remote_or_local(
                            &config,
                            &local_scoring,
                            RemoteScoring::connect,
                            RemoteScoring::into_api,
                            Role::Scoring,
                        )?,
                    };
                    let rules = nordstern_gateway::rules::load_rules(
                        config.gateway.routing_rules_file.as_deref(),
                    )
                    .map_err(AppError::Config)?;
                    let db = open_storage::<nordstern_gateway::Migrator>(&config, *role).await?;
                    let gateway = nordstern_gateway::gateway(
                        db.clone(),
                        backends.clone(),
                        rules,
                        config.gateway.fanout_timeout(),
                    );
                    if let Some(addr) = config.gateway.http_listen_addr {
                        let listener = TcpListener::bind(addr).await.map_err(|error| {
                            AppError::Config(format!(
                                "gateway.http_listen_addr: cannot listen on {addr}: {error}"
                            ))
                        })?;
                        let router = nordstern_gateway::http::router(
                            std::sync::Arc::new(gateway.clone()),
                            backends.scoring.clone(),
                            config.grpc.request_timeout(),
                        )
                        // Outermost: no route runs before its token is checked.
                        .layer(axum::middleware::from_fn_with_state(
                            keeper.clone(),
                            nordstern_auth::http::authorize,
                        ));
                        http = Some((listener, router));
                    }
                    services.add(nordstern_gateway::grpc_service(gateway, max_request_bytes));
                    pools.push((*role, db));
                }
            }
        }
        Ok(App {
            config,
            listener,
            http,
            services,
            protection,
            http_tls,
            pools,
            background,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the gateway's HTTP/JSON listener is bound, when it runs here.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Serves until `shutdown`, drains within the grace period, then closes the pools.
    pub async fn run(self, shutdown: ShutdownSignal) -> Result<(), AppError> {
        let App {
            config,
            listener,
            http,
            services,
            protection,
            http_tls,
            pools,
            background,
        } = self;
        tracing::info!(addr = %listener.local_addr()?, services = ?services.names(), "serving");
        let mut tasks: Vec<_> = background
            .into_iter()
            .map(|task| tokio::spawn(task(shutdown.clone())))
            .collect();
        if let Some((listener, router)) = http {
            tracing::info!(addr = %listener.local_addr()?, "serving HTTP/JSON");
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(error) =
                    nordstern_gateway::http::serve(listener, http_tls, router, shutdown).await
                {
                    tracing::error!(%error, "the HTTP/JSON listener failed");
                }
            }));
        }
        let served = serve_protected(listener, &config.grpc, services, protection, shutdown).await;
        for task in tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "background task failed");
            }
        }
        for (role, pool) in pools {
            if let Err(error) = pool.close().await {
                tracing::warn!(%role, %error, "closing the database pool failed");
            }
        }
        served.map_err(AppError::from)
    }
}

/// The configured URL of a service this process does not run.
fn endpoint(config: &Config, role: Role) -> Result<&str, AppError> {
    config.endpoints.get(role).ok_or_else(|| {
        AppError::Config(format!(
            "this service needs the {role} service: run it in this process or set endpoints.{role}"
        ))
    })
}

/// A service API: the one running in this process, or a client of the configured URL.
fn remote_or_local<Api: Clone, Remote>(
    config: &Config,
    local: &Option<Api>,
    connect: fn(
        &str,
        &nordstern_runtime::config::GrpcConfig,
        &ClientSecurity,
    ) -> Result<Remote, tonic::transport::Error>,
    into_api: fn(Remote) -> Api,
    role: Role,
) -> Result<Api, AppError> {
    if let Some(local) = local {
        return Ok(local.clone());
    }
    let security = ClientSecurity::for_services(config).map_err(AppError::Config)?;
    connect(endpoint(config, role)?, &config.grpc, &security)
        .map(into_api)
        .map_err(|error| AppError::Config(format!("endpoints.{role}: {error}")))
}

/// The accounts API for a role that needs it: the local service, or a client of the
/// configured remote one.
fn accounts_api(config: &Config, local: &Option<AccountsApi>) -> Result<AccountsApi, AppError> {
    remote_or_local(
        config,
        local,
        RemoteAccounts::connect,
        RemoteAccounts::into_api,
        Role::Accounts,
    )
}

async fn open_storage<M: MigratorTrait>(
    config: &Config,
    role: Role,
) -> Result<DatabaseConnection, AppError> {
    let target = match &config.database_url {
        Some(url) => StorageTarget::Postgres { url },
        None => StorageTarget::Sqlite {
            data_dir: &config.data_dir,
        },
    };
    storage::open::<M>(target, role, config.database_max_connections)
        .await
        .map_err(|source| AppError::Storage { role, source })
}

#[cfg(test)]
mod tests {
    /// Every HTTP route the gateway serves needs exactly one scope in the auth table, and
    /// the table lists no route the gateway does not serve.
    #[test]
    fn every_http_route_has_its_scope() {
        let mut served: Vec<(&str, &str)> = nordstern_gateway::http::ROUTES.to_vec();
        let mut listed: Vec<(&str, &str)> = nordstern_auth::table::HTTP_SCOPES
            .iter()
            .map(|(method, path, _)| (*method, *path))
            .collect();
        served.sort();
        listed.sort();
        assert_eq!(served, listed);
    }
}
