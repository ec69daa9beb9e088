//! Configuration, layered defaults → TOML file → `NORDSTERN_*` environment → CLI flags,
//! and validated as a whole before any port is bound, so a bad value is one clear message
//! (exit code 64) instead of a half-started suite.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::role::{Role, parse_roles};

mod sections;
mod trust;

pub use sections::*;
pub use trust::{AuthConfig, MIN_SERVICE_CREDENTIAL_BYTES, TlsConfig};

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
    pub webhooks: WebhooksConfig,
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
            webhooks: WebhooksConfig::default(),
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
            webhooks,
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
            .field("webhooks", webhooks)
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
        if grpc.long_request_timeout_ms < grpc.request_timeout_ms {
            problems.push(
                "grpc.long_request_timeout_ms: must be at least grpc.request_timeout_ms".to_owned(),
            );
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
        let webhooks = &self.webhooks;
        if !(100..=120_000).contains(&webhooks.attempt_timeout_ms) {
            problems.push("webhooks.attempt_timeout_ms: must be between 100 and 120000".to_owned());
        }
        if webhooks.max_in_flight_per_endpoint == 0 {
            problems.push("webhooks.max_in_flight_per_endpoint: must be positive".to_owned());
        }
        if !(1..=168).contains(&webhooks.retry_window_hours) {
            problems.push("webhooks.retry_window_hours: must be between 1 and 168".to_owned());
        }
        if webhooks.log_retention_days == 0 {
            problems.push("webhooks.log_retention_days: must be positive".to_owned());
        }
        if webhooks.poll_interval_ms == 0 {
            problems.push("webhooks.poll_interval_ms: must be positive".to_owned());
        }
        if let Err(track) = usage.track.mapping() {
            problems.extend(track.into_iter().map(|p| format!("usage.track.{p}")));
        }
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

#[cfg(test)]
mod tests;
