//! The end-to-end harness: starts the suite in-process on listeners bound to
//! `127.0.0.1:0`, either every role in one server or one server per role, on a fresh
//! SQLite directory or a fresh PostgreSQL database, and waits on gRPC health (no sleeps).
//! The PostgreSQL suites cache scores in the real Redis at 127.0.0.1:6379 (the production
//! shape) under a namespace of their own, cleared at stop; the SQLite suites use the
//! in-process cache (the embedded shape).

#[path = "../../libs/runtime/tests/support/redis_server.rs"]
pub mod redis_server;

pub mod http;
pub mod pki;
pub mod proxy;
pub mod raw;
pub mod receiver;
pub mod webdriver;

use std::{sync::OnceLock, time::Duration};

use nordstern::{App, IMPLEMENTED_ROLES, scratch_db::ScratchDatabase};
use nordstern_runtime::{
    Config, Role,
    cache::{CacheOptions, VersionedCache},
    client::ClientSecurity,
    server::wait_until_serving_tls,
    shutdown,
};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Every role in one server, as `nordstern serve`.
    OneServer,
    /// One server per role, reaching each other over gRPC.
    ServerPerRole,
}

/// A running suite. Call [`TestSuite::stop`] at the end of a test; dropping it without
/// stopping still removes its database.
pub struct TestSuite {
    config: Config,
    /// The secret of a token with the `admin` scope, created before the servers start.
    admin_token: String,
    topology: Topology,
    urls: Vec<(Role, String)>,
    http_addr: Option<std::net::SocketAddr>,
    servers: Servers,
    _data_dir: tempfile::TempDir,
    database: Option<ScratchDatabase>,
}

impl TestSuite {
    pub async fn start(backend: Backend, topology: Topology) -> TestSuite {
        TestSuite::start_with(backend, topology, |_| {}).await
    }

    /// Like [`TestSuite::start`], with a chance to change the configuration first.
    pub async fn start_with(
        backend: Backend,
        topology: Topology,
        configure: impl FnOnce(&mut Config),
    ) -> TestSuite {
        init_telemetry();
        let data_dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                ScratchDatabase::create(&nordstern::scratch_db::admin_url(), "nordstern_test")
                    .await
                    .unwrap_or_else(|error| {
                        panic!("cannot create a PostgreSQL test database: {error}")
                    }),
            ),
        };
        let mut config = Config {
            data_dir: data_dir.path().to_owned(),
            database_url: database.as_ref().map(|db| db.url.clone()),
            database_max_connections: 5,
            ..Config::default()
        };
        config.grpc.shutdown_grace_ms = 2_000;
        config.gateway.http_listen_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        config.usage.pseudonym_key = Some(TEST_PSEUDONYM_KEY.to_owned());
        if backend == Backend::Postgres {
            config.redis_url = Some(TEST_REDIS_URL.to_owned());
            config.scoring.cache_namespace = format!("nordstern:test:{}:", uuid::Uuid::now_v7());
        }
        config.auth.service_credential = Some(TEST_SERVICE_CREDENTIAL.to_owned());
        // Webhook receivers of the tests listen on loopback; deliveries are looked for often.
        config.webhooks.allowed_hosts = vec!["127.0.0.1".to_owned()];
        config.webhooks.poll_interval_ms = 50;
        configure(&mut config);
        let admin_token = create_token(&config, "test admin", &["admin"], 0).await;
        let (urls, http_addr, servers) = start_servers(&mut config, topology).await;
        TestSuite {
            config,
            admin_token,
            topology,
            urls,
            http_addr,
            servers,
            _data_dir: data_dir,
            database,
        }
    }

    /// Stops every server gracefully and starts them again on the same storage (new
    /// ports): what a deploy or a crash-restart looks like to clients.
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    /// Like [`TestSuite::restart`], with a configuration change (e.g. a shorter
    /// retention) applied first.
    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        configure(&mut self.config);
        self.stop_servers().await;
        let (urls, http_addr, servers) = start_servers(&mut self.config, self.topology).await;
        self.urls = urls;
        self.http_addr = http_addr;
        self.servers = servers;
    }

    /// The gateway's HTTP/JSON listener.
    pub fn http_addr(&self) -> std::net::SocketAddr {
        self.http_addr
            .unwrap_or_else(|| panic!("the gateway's HTTP listener is not running"))
    }

    /// Stops the server of `role` alone (one server per role only): a backend that is
    /// down while the others keep serving. [`TestSuite::stop`] still stops the rest.
    pub async fn stop_role(&mut self, role: Role) {
        assert_eq!(
            self.topology,
            Topology::ServerPerRole,
            "only one server per role can lose one role"
        );
        let index = self
            .servers
            .iter()
            .position(|(roles, _, _)| roles.as_slice() == [role])
            .unwrap_or_else(|| panic!("{role} is not running"));
        let (_, trigger, server) = self.servers.remove(index);
        trigger.trigger();
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("server failed: {error}"),
            Err(error) => panic!("server task: {error}"),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn url(&self, role: Role) -> &str {
        self.urls
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, url)| url.as_str())
            .unwrap_or_else(|| panic!("{role} is not running"))
    }

    /// A channel to `role` whose calls carry the suite's admin token.
    pub async fn channel(&self, role: Role) -> Channel {
        self.channel_with(role, &self.security()).await
    }

    /// A channel to `role` presenting `security` (another token, none, TLS).
    pub async fn channel_with(&self, role: Role, security: &ClientSecurity) -> Channel {
        nordstern_runtime::client::secure_channel(self.url(role), &self.config.grpc, security)
            .await
            .unwrap_or_else(|error| panic!("connect to {role}: {error}"))
    }

    /// A bare channel to `role` (no token, no interceptor), for raw calls.
    pub async fn raw_channel(&self, role: Role) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url(role).to_owned())
            .unwrap_or_else(|error| panic!("{error}"))
            .connect()
            .await
            .unwrap_or_else(|error| panic!("connect to {role}: {error}"))
    }

    /// What a client with the admin token presents (for the services' own clients).
    pub fn security(&self) -> ClientSecurity {
        self.security_with_token(&self.admin_token)
    }

    /// What a client presents with `secret` (and the suite's TLS trust, when it has TLS).
    pub fn security_with_token(&self, secret: &str) -> ClientSecurity {
        ClientSecurity {
            tls: nordstern_runtime::tls::grpc_client(&self.config.tls)
                .unwrap_or_else(|error| panic!("{error}")),
            bearer: None,
        }
        .with_token(secret)
        .unwrap_or_else(|error| panic!("{error}"))
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Creates a token straight in the suite's store, as `nordstern token create` does;
    /// servers accept it within `auth.refresh_interval_ms`.
    pub async fn create_token(&self, name: &str, scopes: &[&str], rate_per_second: u32) -> String {
        create_token(&self.config, name, scopes, rate_per_second).await
    }

    /// Creates a token as [`TestSuite::create_token`] does, with every setting of `new`.
    pub async fn create_token_with(&self, new: nordstern_auth::tokens::NewToken) -> String {
        create_token_from(&self.config, &new).await
    }

    /// Graceful shutdown of every server, then the database and cached scores are dropped.
    pub async fn stop(mut self) {
        self.stop_servers().await;
        if let Some(url) = &self.config.redis_url {
            VersionedCache::connect(
                Some(url),
                &self.config.scoring.cache_namespace,
                CacheOptions::default(),
            )
            .await
            .unwrap_or_else(|error| panic!("{error}"))
            .remove_namespace()
            .await;
        }
        if let Some(database) = self.database.take() {
            database
                .drop_now()
                .await
                .unwrap_or_else(|error| panic!("drop database: {error}"));
        }
    }

    async fn stop_servers(&mut self) {
        for (_, trigger, _) in &self.servers {
            trigger.trigger();
        }
        for (_, _, server) in self.servers.drain(..) {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => panic!("server failed: {error}"),
                Err(error) => panic!("server task: {error}"),
            }
        }
    }
}

/// The shared Redis of the development machine (and of CI, which starts it).
pub const TEST_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The credential the suite's processes present to each other in tests.
pub const TEST_SERVICE_CREDENTIAL: &str = "nordstern-test-service-credential-0123456789";

/// What every test client talks through: a channel whose calls carry a token.
pub type Channel = nordstern_runtime::client::SecureChannel;

/// Creates a token in the store of `config` and returns its secret.
pub async fn create_token(
    config: &Config,
    name: &str,
    scopes: &[&str],
    rate_per_second: u32,
) -> String {
    let new = nordstern_auth::tokens::NewToken {
        name: name.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        rate_limit_per_second: rate_per_second,
        ..Default::default()
    };
    create_token_from(config, &new).await
}

async fn create_token_from(config: &Config, new: &nordstern_auth::tokens::NewToken) -> String {
    let db = nordstern_auth::store::open(config)
        .await
        .unwrap_or_else(|error| panic!("token store: {error}"));
    let (_, secret) =
        nordstern_auth::tokens::create(&db, new, chrono::Utc::now().timestamp_micros())
            .await
            .unwrap_or_else(|error| panic!("create token: {error}"));
    let _ = db.close().await;
    secret.expose().to_owned()
}

/// The usage service's HMAC key in tests.
pub const TEST_PSEUDONYM_KEY: &str = "nordstern-test-pseudonym-key-0123456789";

type Servers = Vec<(
    Vec<Role>,
    shutdown::ShutdownTrigger,
    JoinHandle<Result<(), nordstern::AppError>>,
)>;

/// Binds a listener per server, points the endpoints at them, builds and runs each, and
/// waits until every role serves.
async fn start_servers(
    config: &mut Config,
    topology: Topology,
) -> (Vec<(Role, String)>, Option<std::net::SocketAddr>, Servers) {
    let groups: Vec<Vec<Role>> = match topology {
        Topology::OneServer => vec![IMPLEMENTED_ROLES.to_vec()],
        Topology::ServerPerRole => IMPLEMENTED_ROLES.iter().map(|role| vec![*role]).collect(),
    };
    // Bind every listener first, so each server knows where the others are.
    let scheme = if config.tls.serves_tls() {
        "https"
    } else {
        "http"
    };
    let mut listeners = Vec::new();
    for roles in &groups {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("bind: {error}"));
        let url = format!(
            "{scheme}://{}",
            listener
                .local_addr()
                .unwrap_or_else(|error| panic!("{error}"))
        );
        for role in roles {
            config.endpoints.set(*role, url.clone());
        }
        listeners.push((roles.clone(), listener, url));
    }
    let mut urls = Vec::new();
    let mut http_addr = None;
    let mut servers = Vec::new();
    for (roles, listener, url) in listeners {
        let app = App::build(config.clone(), &roles, listener)
            .await
            .unwrap_or_else(|error| panic!("building {roles:?}: {error}"));
        http_addr = http_addr.or(app.http_addr());
        let (trigger, signal) = shutdown::channel();
        servers.push((roles.clone(), trigger, tokio::spawn(app.run(signal))));
        for role in &roles {
            urls.push((*role, url.clone()));
        }
    }
    let tls = nordstern_runtime::tls::grpc_client(&config.tls).unwrap_or_else(|e| panic!("{e}"));
    for (role, url) in &urls {
        let service = service_name(*role);
        wait_until_serving_tls(url, service, Duration::from_secs(20), tls.as_ref())
            .await
            .unwrap_or_else(|error| panic!("{error}"));
    }
    (urls, http_addr, servers)
}

pub fn service_name(role: Role) -> &'static str {
    match role {
        Role::Accounts => "nordstern.accounts.v1.AccountsService",
        Role::Usage => "nordstern.usage.v1.UsageService",
        Role::Survey => "nordstern.survey.v1.SurveyService",
        Role::Scoring => "nordstern.scoring.v1.ScoringService",
        Role::Gateway => "nordstern.gateway.v1.GatewayService",
    }
}

/// Spans finished in this test process, for tests that follow a trace across hops.
pub fn finished_spans() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(InMemorySpanExporter::default)
}

/// One global subscriber per test process; logs only with `TEST_LOG=1`.
fn init_telemetry() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let print_logs = std::env::var("TEST_LOG").is_ok_and(|value| value == "1");
        let exporter = finished_spans().clone();
        let config = nordstern_runtime::config::TelemetryConfig::default();
        let guard = nordstern_runtime::telemetry::init_with(
            &config,
            "nordstern-tests",
            |builder| builder.with_simple_exporter(exporter),
            print_logs,
        );
        // The guard lives as long as the test process.
        std::mem::forget(guard);
    });
}
