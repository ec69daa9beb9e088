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
pub mod webhook;

use std::net::SocketAddr;

use futures::future::BoxFuture;
use nordstern_runtime::{
    Config, Role,
    guard::GuardLayer,
    server::{GrpcServices, Protection, ServeError, serve_protected},
    shutdown::ShutdownSignal,
    start::{BackgroundTask, RoleContext, StartError, dependency_order},
};
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
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("token store: {0}")]
    TokenStore(sea_orm::DbErr),
    #[error("webhook store: {0}")]
    WebhookStore(sea_orm::DbErr),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

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

/// The start of one role (each service crate's `start`).
fn starter(role: Role) -> for<'a> fn(&'a mut RoleContext) -> BoxFuture<'a, Result<(), StartError>> {
    match role {
        Role::Accounts => |context| Box::pin(nordstern_accounts::start(context)),
        Role::Usage => |context| Box::pin(nordstern_usage::start(context)),
        Role::Survey => |context| Box::pin(nordstern_survey::start(context)),
        Role::Scoring => |context| Box::pin(nordstern_scoring::start(context)),
        Role::Gateway => |context| Box::pin(nordstern_gateway::start(context)),
    }
}

impl App {
    /// Connects and migrates the storage of every role in `roles` and prepares its gRPC
    /// service; nothing is served until [`App::run`]. Roles start after the roles they
    /// call, whatever order `roles` has, so each finds the others' in-process handles.
    pub async fn build(
        config: Config,
        roles: &[Role],
        listener: TcpListener,
    ) -> Result<App, AppError> {
        let mut context = RoleContext::new(config)?;
        // Every server checks tokens against the one store of the installation.
        let auth = nordstern_auth::Auth::start(&context.config)
            .await
            .map_err(AppError::TokenStore)?;
        let keeper = auth.keeper.clone();
        context.services.add(
            nordstern_auth::admin::AuthAdmin::new(auth.db.clone(), keeper.clone()).into_server(),
        );
        context.spawn_background(auth.background());
        // Every server manages subscriptions; the roles that announce events relay their
        // outboxes into the store, and the gateway's process delivers.
        let webhooks = nordstern_webhooks::Webhooks::open(&context.config)
            .await
            .map_err(AppError::WebhookStore)?;
        context
            .services
            .add(nordstern_webhooks::admin::WebhookAdmin::new(webhooks.clone()).into_server());
        context.share(webhooks);
        // The gateway's HTTP listener checks the same tokens.
        context.share(keeper.clone());
        for role in dependency_order(roles) {
            starter(role)(&mut context).await?;
        }
        let RoleContext {
            config,
            services,
            pools,
            background,
            http,
            ..
        } = context;
        let protection = Protection {
            guard: Some(GuardLayer::new(
                keeper.clone(),
                config.grpc.max_request_bytes,
            )),
            tls: nordstern_runtime::tls::grpc_server(&config.tls).map_err(AppError::Config)?,
            reflection: config.auth.reflection,
            readiness: (config.grpc.readiness_interval_ms > 0 && !pools.is_empty()).then(|| {
                nordstern_runtime::readiness::Readiness {
                    pools: pools.clone(),
                    interval: config.grpc.readiness_interval(),
                }
            }),
        };
        let http_tls =
            nordstern_runtime::tls::http_acceptor(&config.tls).map_err(AppError::Config)?;
        let http = match (http, config.gateway.http_listen_addr) {
            (Some(router), Some(addr)) => {
                let listener = TcpListener::bind(addr).await.map_err(|error| {
                    AppError::Config(format!(
                        "gateway.http_listen_addr: cannot listen on {addr}: {error}"
                    ))
                })?;
                Some((listener, router))
            }
            _ => None,
        };
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
