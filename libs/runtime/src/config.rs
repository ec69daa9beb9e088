//! Configuration, layered defaults → TOML file → `NORDSTERN_*` environment → CLI flags,
//! and validated as a whole before any port is bound, so a bad value is one clear message
//! (exit code 64) instead of a half-started suite.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::role::{Role, parse_roles};

/// Exit code for a bad configuration (EX_CONFIG from sysexits.h is 78; 64 is EX_USAGE,
/// which is what our users' scripts already expect from a bad flag).
pub const EXIT_BAD_CONFIG: i32 = 64;

// Debug is written out below so that passwords in URLs never reach a log.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which services this process runs: `all` or a list such as `accounts,usage`.
    pub services: String,
    /// Where the embedded mode keeps one SQLite file per service.
    pub data_dir: PathBuf,
    /// PostgreSQL URL; when set, each service uses its own schema there instead of SQLite.
    pub database_url: Option<String>,
    /// Connections per service pool; PostgreSQL has a hard limit on the server side.
    pub database_max_connections: u32,
    /// Redis URL (`redis://[:password@]host:port[/db]`) of the cache of latest scores;
    /// unset, each process keeps an in-process cache (embedded mode).
    pub redis_url: Option<String>,
    pub grpc: GrpcConfig,
    /// Where the services that this process does not run are reached.
    pub endpoints: Endpoints,
    pub telemetry: TelemetryConfig,
    pub accounts: AccountsConfig,
    pub usage: UsageConfig,
    pub scoring: ScoringConfig,
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            services: "all".to_owned(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_max_connections: 8,
            redis_url: None,
            grpc: GrpcConfig::default(),
            endpoints: Endpoints::default(),
            telemetry: TelemetryConfig::default(),
            accounts: AccountsConfig::default(),
            usage: UsageConfig::default(),
            scoring: ScoringConfig::default(),
            gateway: GatewayConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Config {
            services,
            data_dir,
            database_url,
            database_max_connections,
            redis_url,
            grpc,
            endpoints,
            telemetry,
            accounts,
            usage,
            scoring,
            gateway,
            auth,
            tls,
        } = self;
        f.debug_struct("Config")
            .field("services", services)
            .field("data_dir", data_dir)
            .field(
                "database_url",
                &database_url.as_deref().map(redact_password),
            )
            .field("database_max_connections", database_max_connections)
            .field("redis_url", &redis_url.as_deref().map(redact_password))
            .field("grpc", grpc)
            .field("endpoints", endpoints)
            .field("telemetry", telemetry)
            .field("accounts", accounts)
            .field("usage", usage)
            .field("scoring", scoring)
            .field("gateway", gateway)
            .field("auth", auth)
            .field("tls", tls)
            .finish()
    }
}

/// `scheme://user:<redacted>@host/…`: the URL with the password of its user info hidden.
/// Text that is not `scheme://…` is hidden whole, since it cannot be told apart.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<redacted>".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            let hidden = if user_info.contains(':') {
                ":<redacted>"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    pub listen_addr: SocketAddr,
    /// Upper bound on any one request's handling time, whatever deadline the client sent.
    pub request_timeout_ms: u64,
    /// Requests in flight across all connections before new ones are shed with
    /// RESOURCE_EXHAUSTED instead of queueing without bound.
    pub concurrency_limit: usize,
    /// Largest accepted request message; bounds the memory one caller can pin.
    pub max_request_bytes: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace_ms: u64,
    /// Deadline our own clients put on calls to other services.
    pub client_timeout_ms: u64,
    /// Extra attempts for idempotent unary calls that failed with UNAVAILABLE.
    pub client_retries: u32,
    /// HTTP/2 connections each client keeps to each service it calls.
    pub client_connections: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout_ms: 30_000,
            concurrency_limit: 1024,
            max_request_bytes: 8 * 1024 * 1024,
            shutdown_grace_ms: 10_000,
            client_timeout_ms: 5_000,
            client_retries: 2,
            client_connections: 4,
        }
    }
}

impl GrpcConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
    pub fn client_timeout(&self) -> Duration {
        Duration::from_millis(self.client_timeout_ms)
    }
}

/// gRPC URLs (`http://host:port`) of services that run in another process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Endpoints {
    pub accounts: Option<String>,
    pub usage: Option<String>,
    pub survey: Option<String>,
    pub scoring: Option<String>,
    pub gateway: Option<String>,
}

impl Endpoints {
    pub fn get(&self, role: Role) -> Option<&str> {
        match role {
            Role::Accounts => self.accounts.as_deref(),
            Role::Usage => self.usage.as_deref(),
            Role::Survey => self.survey.as_deref(),
            Role::Scoring => self.scoring.as_deref(),
            Role::Gateway => self.gateway.as_deref(),
        }
    }

    pub fn set(&mut self, role: Role, url: String) {
        let slot = match role {
            Role::Accounts => &mut self.accounts,
            Role::Usage => &mut self.usage,
            Role::Survey => &mut self.survey,
            Role::Scoring => &mut self.scoring,
            Role::Gateway => &mut self.gateway,
        };
        *slot = Some(url);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`; traces and metrics are
    /// exported only when set.
    pub otlp_endpoint: Option<String>,
    /// `tracing` filter directives, e.g. `info,nordstern_accounts=debug`.
    pub log_filter: String,
    /// Print logs as JSON lines (for log shippers) instead of human-readable text.
    pub log_json: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            log_filter: "info".to_owned(),
            log_json: false,
        }
    }
}

/// Business rules of the accounts service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// The one currency contract values are kept in, so that ARR can be summed.
    pub currency_code: String,
    /// Cumulative ARR share that ends tier A (0.80 = the accounts making up 80 % of ARR).
    pub tier_a_share: f64,
    /// Cumulative ARR share that ends tier B.
    pub tier_b_share: f64,
    /// Gross margin used for customer lifetime value.
    pub gross_margin: f64,
    /// Lowest annual churn probability CLV divides by, so CLV stays finite.
    pub clv_churn_floor: f64,
    /// Portfolio ARR target as a multiple of starting ARR (1.2 = 120 %).
    pub quota_ratio: f64,
    pub onboarding_days: u32,
    pub adoption_days: u32,
    /// An account whose renewal is this close is RENEWAL_DUE.
    pub renewal_due_days: u32,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            currency_code: "EUR".to_owned(),
            tier_a_share: 0.80,
            tier_b_share: 0.95,
            gross_margin: 0.80,
            clv_churn_floor: 0.05,
            quota_ratio: 1.2,
            onboarding_days: 90,
            adoption_days: 180,
            renewal_due_days: 90,
        }
    }
}

/// Ingestion and privacy rules of the usage service.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageConfig {
    /// Secret key of the HMAC that pseudonymises user ids (at least 32 bytes). It lives in
    /// configuration, never in the database, so a database dump alone cannot be linked
    /// back to people. Required when the usage service runs; changing it splits every
    /// user's history in two.
    pub pseudonym_key: Option<String>,
    /// How long raw events are kept; daily rollups stay. Older events are refused.
    pub retention_days: u32,
    /// How often expired raw events are removed.
    pub retention_sweep_interval_secs: u64,
}

/// Minimum length of [`UsageConfig::pseudonym_key`].
pub const MIN_PSEUDONYM_KEY_BYTES: usize = 32;

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            pseudonym_key: None,
            retention_days: 400,
            retention_sweep_interval_secs: 3_600,
        }
    }
}

// The key never appears in logs or error messages.
impl std::fmt::Debug for UsageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageConfig")
            .field(
                "pseudonym_key",
                &self.pseudonym_key.as_ref().map(|_| "<redacted>"),
            )
            .field("retention_days", &self.retention_days)
            .field(
                "retention_sweep_interval_secs",
                &self.retention_sweep_interval_secs,
            )
            .finish()
    }
}

/// When the scoring service recomputes on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// Every account is recomputed this often (0 turns the schedule off; recompute RPCs
    /// and reads of unscored accounts still compute).
    pub recompute_interval_secs: u64,
    /// Prefix of the cached scores' keys in Redis; installations sharing one Redis need
    /// different ones.
    pub cache_namespace: String,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            recompute_interval_secs: 3_600,
            cache_namespace: crate::cache::SCORING_NAMESPACE.to_owned(),
        }
    }
}

impl ScoringConfig {
    pub fn recompute_interval(&self) -> Duration {
        Duration::from_secs(self.recompute_interval_secs)
    }
}

/// The gateway's fan-out and its second, HTTP/JSON listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where CRM integrations pull proto3-JSON over HTTP; unset, there is no HTTP listener.
    pub http_listen_addr: Option<SocketAddr>,
    /// Longest a view waits for its backends when the caller set no shorter deadline;
    /// a backend that has not answered by then is left out and named as missing.
    pub fanout_timeout_ms: u64,
    /// TOML file of ticket routing rules; unset means the built-in default set.
    pub routing_rules_file: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            http_listen_addr: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            fanout_timeout_ms: 2_000,
            routing_rules_file: None,
        }
    }
}

impl GatewayConfig {
    pub fn fanout_timeout(&self) -> Duration {
        Duration::from_millis(self.fanout_timeout_ms)
    }
}

/// Who may call: API tokens with scopes, the credential the suite's own processes use
/// with each other, per-token rate limits and the audit trail.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Every request needs a token (health checks and reflection excepted). Off is for
    /// experiments and the auth-off benchmark on loopback only; validation refuses it on
    /// any other address.
    pub enabled: bool,
    /// The secret the processes of one installation present to each other (one server
    /// per role); at least 32 bytes. Required when this process calls another one.
    pub service_credential: Option<String>,
    /// How often each process reads tokens changed since its last look, so a revocation
    /// or a new token reaches every replica within this time.
    pub refresh_interval_ms: u64,
    /// Requests per second a token may make per scope, unless the token or
    /// `scope_rate_limits` says otherwise (0: unlimited).
    pub default_rate_per_second: u32,
    /// Requests a token may make at once after a quiet period (0: one second's worth).
    pub default_burst: u32,
    /// Requests per second by scope, e.g. `{ "usage:write" = 200 }`.
    pub scope_rate_limits: std::collections::BTreeMap<String, u32>,
    /// Audit events older than this are removed.
    pub audit_retention_days: u32,
    /// gRPC reflection answered without a token (the contracts are public anyway); off,
    /// reflection is not served at all.
    pub reflection: bool,
}

/// Minimum length of [`AuthConfig::service_credential`].
pub const MIN_SERVICE_CREDENTIAL_BYTES: usize = 32;

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            service_credential: None,
            refresh_interval_ms: 1_000,
            default_rate_per_second: 1_000,
            default_burst: 0,
            scope_rate_limits: std::collections::BTreeMap::new(),
            audit_retention_days: 365,
            reflection: true,
        }
    }
}

impl AuthConfig {
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_millis(self.refresh_interval_ms)
    }
}

// The service credential never appears in logs or error messages.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("enabled", &self.enabled)
            .field(
                "service_credential",
                &self.service_credential.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_interval_ms", &self.refresh_interval_ms)
            .field("default_rate_per_second", &self.default_rate_per_second)
            .field("default_burst", &self.default_burst)
            .field("scope_rate_limits", &self.scope_rate_limits)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("reflection", &self.reflection)
            .finish()
    }
}

/// TLS for the gRPC and HTTP listeners (PEM files), an optional client CA that makes it
/// mutual, and what our own clients trust and present when they call other services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain; with `key_file`, both listeners speak TLS only.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// CA of the client certificates the listeners require (mTLS); a client without a
    /// certificate from it fails the handshake.
    pub client_ca_file: Option<PathBuf>,
    /// CA our clients trust for `https://` endpoints.
    pub ca_file: Option<PathBuf>,
    /// Certificate and key our clients present (to servers that require mTLS).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Accept listening without TLS on an address other than loopback. Only for a mesh
    /// whose sidecars already encrypt (linkerd, istio) or a private compose network.
    pub plaintext_outside_loopback: bool,
}

impl TlsConfig {
    /// Whether the listeners speak TLS.
    pub fn serves_tls(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        let pairs = [
            (
                "tls.cert_file",
                &self.cert_file,
                "tls.key_file",
                &self.key_file,
            ),
            (
                "tls.client_cert_file",
                &self.client_cert_file,
                "tls.client_key_file",
                &self.client_key_file,
            ),
        ];
        for (name, first, other_name, other) in pairs {
            if first.is_some() != other.is_some() {
                problems.push(format!("{name}, {other_name}: set both or neither"));
            }
        }
        if self.client_ca_file.is_some() && !self.serves_tls() {
            problems.push(
                "tls.client_ca_file: mutual TLS needs tls.cert_file and tls.key_file too"
                    .to_owned(),
            );
        }
        for (name, path) in [
            ("tls.cert_file", &self.cert_file),
            ("tls.key_file", &self.key_file),
            ("tls.client_ca_file", &self.client_ca_file),
            ("tls.ca_file", &self.ca_file),
            ("tls.client_cert_file", &self.client_cert_file),
            ("tls.client_key_file", &self.client_key_file),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                problems.push(format!("{name}: {} is not a readable file", path.display()));
            }
        }
    }
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryOverrides>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GrpcOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<SocketAddr>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TelemetryOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_filter: Option<String>,
}

/// Everything wrong with a configuration, one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Config {
    /// Loads the layers in order: defaults, the TOML file (if any), `NORDSTERN_*`
    /// environment variables (`__` separates sections: `NORDSTERN_GRPC__LISTEN_ADDR`),
    /// then `overrides`.
    pub fn load(
        file: Option<&std::path::Path>,
        overrides: &CliOverrides,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError {
                    problems: vec![format!("config file {} does not exist", path.display())],
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            // NORDSTERN_CONFIG names the file and NORDSTERN_SERVER is the address the
            // client commands call; neither is a key of the configuration.
            .merge(
                Env::prefixed("NORDSTERN_")
                    .split("__")
                    .ignore(&["config", "server"]),
            )
            .merge(Serialized::defaults(overrides));
        figment.extract::<Config>().map_err(|error| ConfigError {
            problems: error.into_iter().map(|e| e.to_string()).collect(),
        })
    }

    /// Loads a configuration from TOML text alone (defaults below it); for tests and tools.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract::<Config>()
            .map_err(|error| ConfigError {
                problems: error.into_iter().map(|e| e.to_string()).collect(),
            })
    }

    /// Checks every value and returns the roles to run; `implemented` are the roles this
    /// binary has.
    pub fn validate(&self, implemented: &[Role]) -> Result<Vec<Role>, ConfigError> {
        let mut problems = Vec::new();
        let roles = parse_roles(&self.services, implemented)
            .map_err(|problem| problems.push(format!("services: {problem}")))
            .unwrap_or_default();
        for role in &roles {
            for needed in role.dependencies() {
                if !roles.contains(needed) && self.endpoints.get(*needed).is_none() {
                    problems.push(format!(
                        "endpoints.{needed}: {role} calls {needed}; run both in this process or set the URL of {needed}"
                    ));
                }
            }
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            problems.push("database_url: must be a postgres:// URL (leave it unset for the embedded SQLite mode)".to_owned());
        }
        if self.database_max_connections == 0 {
            problems.push("database_max_connections: must be at least 1".to_owned());
        }
        // The client's own parser decides, so what passes here also connects (or retries).
        if let Some(url) = &self.redis_url
            && let Err(error) = redis::Client::open(url.as_str())
        {
            problems.push(format!(
                "redis_url: not a Redis URL ({error}); use redis://[:password@]host[:port][/db] or leave it unset for the in-process cache"
            ));
        }
        let grpc = &self.grpc;
        if grpc.request_timeout_ms == 0 {
            problems.push("grpc.request_timeout_ms: must be positive".to_owned());
        }
        if grpc.client_timeout_ms == 0 {
            problems.push("grpc.client_timeout_ms: must be positive".to_owned());
        }
        if !(1..=64).contains(&grpc.client_connections) {
            problems.push("grpc.client_connections: must be between 1 and 64".to_owned());
        }
        if grpc.concurrency_limit == 0 {
            problems.push("grpc.concurrency_limit: must be at least 1".to_owned());
        }
        if grpc.max_request_bytes < 1024 {
            problems.push("grpc.max_request_bytes: must be at least 1024".to_owned());
        }
        for role in Role::ALL {
            if let Some(url) = self.endpoints.get(role)
                && url
                    .parse::<http::Uri>()
                    .map(|uri| uri.scheme().is_none() || uri.authority().is_none())
                    .unwrap_or(true)
            {
                problems.push(format!(
                    "endpoints.{role}: `{url}` is not an absolute URL such as http://host:50051"
                ));
            }
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && endpoint
                .parse::<http::Uri>()
                .map(|uri| uri.authority().is_none())
                .unwrap_or(true)
        {
            problems.push(format!(
                "telemetry.otlp_endpoint: `{endpoint}` is not an absolute URL"
            ));
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_filter) {
            problems.push(format!("telemetry.log_filter: {error}"));
        }
        let accounts = &self.accounts;
        let currency_ok = accounts.currency_code.len() == 3
            && accounts
                .currency_code
                .bytes()
                .all(|b| b.is_ascii_uppercase());
        if !currency_ok {
            problems
                .push("accounts.currency_code: must be an ISO 4217 code such as EUR".to_owned());
        }
        let shares_ok = accounts.tier_a_share > 0.0
            && accounts.tier_a_share < accounts.tier_b_share
            && accounts.tier_b_share <= 1.0;
        if !shares_ok {
            problems.push(
                "accounts.tier_a_share/tier_b_share: need 0 < tier_a_share < tier_b_share <= 1"
                    .to_owned(),
            );
        }
        if !(accounts.gross_margin > 0.0 && accounts.gross_margin <= 1.0) {
            problems.push("accounts.gross_margin: must be in (0, 1]".to_owned());
        }
        if !(accounts.clv_churn_floor > 0.0 && accounts.clv_churn_floor <= 1.0) {
            problems.push("accounts.clv_churn_floor: must be in (0, 1]".to_owned());
        }
        if !(accounts.quota_ratio > 0.0 && accounts.quota_ratio.is_finite()) {
            problems.push("accounts.quota_ratio: must be positive".to_owned());
        }
        let usage = &self.usage;
        if roles.contains(&Role::Usage) {
            match &usage.pseudonym_key {
                None => problems.push(format!(
                    "usage.pseudonym_key: required by the usage service; set NORDSTERN_USAGE__PSEUDONYM_KEY to a secret of at least {MIN_PSEUDONYM_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)"
                )),
                Some(key) if key.len() < MIN_PSEUDONYM_KEY_BYTES => problems.push(format!(
                    "usage.pseudonym_key: must be at least {MIN_PSEUDONYM_KEY_BYTES} bytes"
                )),
                Some(_) => {}
            }
        }
        if !(1..=36_500).contains(&usage.retention_days) {
            problems.push("usage.retention_days: must be between 1 and 36500".to_owned());
        }
        let gateway = &self.gateway;
        if gateway.fanout_timeout_ms == 0 {
            problems.push("gateway.fanout_timeout_ms: must be positive".to_owned());
        }
        if let Some(path) = &gateway.routing_rules_file
            && !path.is_file()
        {
            problems.push(format!(
                "gateway.routing_rules_file: {} is not a readable file",
                path.display()
            ));
        }
        if self.scoring.cache_namespace.is_empty() {
            problems.push("scoring.cache_namespace: must not be empty".to_owned());
        }
        self.validate_trust_boundary(&roles, &mut problems);
        if usage.retention_sweep_interval_secs == 0 {
            problems.push("usage.retention_sweep_interval_secs: must be positive".to_owned());
        }
        if problems.is_empty() {
            Ok(roles)
        } else {
            Err(ConfigError { problems })
        }
    }
}

impl Config {
    /// The addresses this process listens on.
    fn listen_addrs(&self) -> impl Iterator<Item = (&'static str, SocketAddr)> {
        std::iter::once(("grpc.listen_addr", self.grpc.listen_addr)).chain(
            self.gateway
                .http_listen_addr
                .map(|addr| ("gateway.http_listen_addr", addr)),
        )
    }

    /// Tokens, TLS and the service credential: nothing outside loopback without a token
    /// check and without TLS (unless a mesh encrypts, said explicitly).
    fn validate_trust_boundary(&self, roles: &[Role], problems: &mut Vec<String>) {
        self.tls.validate(problems);
        for (name, addr) in self.listen_addrs() {
            if addr.ip().is_loopback() {
                continue;
            }
            if !self.auth.enabled {
                problems.push(format!(
                    "auth.enabled: tokens can only be switched off on loopback, and {name} is {addr}"
                ));
            }
            if !self.tls.serves_tls() && !self.tls.plaintext_outside_loopback {
                problems.push(format!(
                    "tls.cert_file: {name} is {addr}, outside loopback, so it needs TLS (tls.cert_file and tls.key_file), or tls.plaintext_outside_loopback = true behind a mesh that encrypts"
                ));
            }
        }
        let calls_others = roles.iter().any(|role| {
            role.dependencies()
                .iter()
                .any(|needed| !roles.contains(needed))
        });
        match &self.auth.service_credential {
            Some(credential) if credential.len() < MIN_SERVICE_CREDENTIAL_BYTES => {
                problems.push(format!(
                    "auth.service_credential: must be at least {MIN_SERVICE_CREDENTIAL_BYTES} bytes"
                ));
            }
            None if self.auth.enabled && calls_others => problems.push(format!(
                "auth.service_credential: this process calls services in other processes, which check tokens; set NORDSTERN_AUTH__SERVICE_CREDENTIAL to the same secret of at least {MIN_SERVICE_CREDENTIAL_BYTES} bytes everywhere (e.g. `openssl rand -hex 32`)"
            )),
            _ => {}
        }
        for role in Role::ALL {
            if let Some(url) = self.endpoints.get(role)
                && url.starts_with("https://")
                && self.tls.ca_file.is_none()
            {
                problems.push(format!(
                    "endpoints.{role}: an https:// endpoint needs tls.ca_file, the CA our clients trust"
                ));
            }
        }
        if self.auth.refresh_interval_ms == 0 {
            problems.push("auth.refresh_interval_ms: must be positive".to_owned());
        }
        for scope in self.auth.scope_rate_limits.keys() {
            if nordstern_domain::scope::Scope::parse(scope).is_none() {
                problems.push(format!(
                    "auth.scope_rate_limits: `{scope}` is not a scope; use one of {}",
                    nordstern_domain::scope::Scope::ALL
                        .map(|s| s.as_str())
                        .join(", ")
                ));
            }
        }
        if self.auth.audit_retention_days == 0 {
            problems.push("auth.audit_retention_days: must be at least 1".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(
            Config::default().validate(&[Role::Accounts]).ok(),
            Some(vec![Role::Accounts])
        );
    }

    #[test]
    fn toml_overrides_defaults_and_unknown_keys_are_refused() {
        let config =
            Config::from_toml("services = \"accounts\"\n[grpc]\nlisten_addr = \"0.0.0.0:7000\"\n");
        let config = config.map_err(|e| e.to_string());
        assert_eq!(config.as_ref().map(|c| c.grpc.listen_addr.port()), Ok(7000));
        assert!(Config::from_toml("[grpc]\nlisten_adr = \"0.0.0.0:7000\"\n").is_err());
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let mut config = Config {
            services: "billing".to_owned(),
            database_url: Some("mysql://x".to_owned()),
            ..Config::default()
        };
        config.accounts.tier_a_share = 0.99;
        config.endpoints.usage = Some("not a url".to_owned());
        let problems = config
            .validate(&[Role::Accounts])
            .err()
            .map(|e| e.problems)
            .unwrap_or_default();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("services:")));
        assert!(problems.iter().any(|p| p.starts_with("endpoints.usage")));
    }

    #[test]
    fn cli_overrides_win_over_file() {
        let dir = std::env::temp_dir().join(format!("nordstern-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("nordstern.toml");
        std::fs::write(
            &file,
            "services = \"accounts\"\ndata_dir = \"/from/file\"\n",
        )
        .ok();
        let overrides = CliOverrides {
            data_dir: Some(PathBuf::from("/from/cli")),
            ..CliOverrides::default()
        };
        let config = Config::load(Some(&file), &overrides).map_err(|e| e.to_string());
        std::fs::remove_dir_all(&dir).ok();
        let config = config.unwrap_or_default();
        assert_eq!(config.data_dir, PathBuf::from("/from/cli"));
        assert_eq!(config.services, "accounts");
    }
    #[test]
    fn redis_url_is_layered_and_checked_by_the_client() {
        let config = Config::from_toml("redis_url = \"redis://127.0.0.1:6380/2\"\n")
            .map_err(|e| e.to_string());
        assert_eq!(
            config.as_ref().map(|c| c.redis_url.as_deref()),
            Ok(Some("redis://127.0.0.1:6380/2"))
        );
        assert!(
            config
                .map(|c| c.validate(&[Role::Accounts]).is_ok())
                .unwrap_or(false)
        );
        let overrides = CliOverrides {
            redis_url: Some("redis://from-cli:6379".to_owned()),
            ..CliOverrides::default()
        };
        let config = Config::load(None, &overrides).map_err(|e| e.to_string());
        assert_eq!(
            config.map(|c| c.redis_url),
            Ok(Some("redis://from-cli:6379".to_owned()))
        );
        for bad in [
            "http://127.0.0.1:6379",
            "rediss://127.0.0.1:6379",
            "not a url",
        ] {
            let config = Config {
                redis_url: Some(bad.to_owned()),
                ..Config::default()
            };
            let problems = config
                .validate(&[Role::Accounts])
                .err()
                .map(|e| e.problems)
                .unwrap_or_default();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].starts_with("redis_url: "), "{problems:?}");
        }
    }

    #[test]
    fn debug_hides_passwords_in_urls() {
        let config = Config {
            database_url: Some("postgres://app:pg-secret@db:5432/nordstern".to_owned()),
            redis_url: Some("redis://:redis-secret@cache:6379/0".to_owned()),
            ..Config::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(
            debug.contains("postgres://app:<redacted>@db:5432/nordstern"),
            "{debug}"
        );
        assert!(
            debug.contains("redis://:<redacted>@cache:6379/0"),
            "{debug}"
        );
        assert_eq!(redact_password("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(redact_password("redis://user@cache"), "redis://user@cache");
        assert_eq!(redact_password("garbage:secret@x"), "<redacted>");
    }
}
