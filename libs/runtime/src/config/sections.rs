//! The sections of the configuration that belong to one concern each: the gRPC server and
//! clients, where other services run, telemetry, and each service's rules.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use nordstern_domain::usage::{
    EventKind,
    track::{Source, TrackMapping, TrackRule},
};
use serde::{Deserialize, Serialize};

use crate::role::Role;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    pub listen_addr: SocketAddr,
    /// Upper bound on any one request's handling time, whatever deadline the client sent.
    pub request_timeout_ms: u64,
    /// The same bound for the few calls that are batch jobs over the whole company
    /// (`server::LONG_RUNNING_METHODS`: training a churn model from history).
    pub long_request_timeout_ms: u64,
    /// Requests in flight across all connections before new ones are shed with
    /// RESOURCE_EXHAUSTED instead of queueing without bound.
    pub concurrency_limit: usize,
    /// How long a shed caller is told to wait before it tries again
    /// (`grpc-retry-pushback-ms`).
    pub shed_pushback_ms: u64,
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
    /// How often the server pings its stores and reports NOT_SERVING while one does not
    /// answer; 0 turns it off.
    pub readiness_interval_ms: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout_ms: 30_000,
            long_request_timeout_ms: 600_000,
            concurrency_limit: 1024,
            shed_pushback_ms: 100,
            max_request_bytes: 8 * 1024 * 1024,
            shutdown_grace_ms: 10_000,
            client_timeout_ms: 5_000,
            client_retries: 2,
            client_connections: 4,
            readiness_interval_ms: 500,
        }
    }
}

impl GrpcConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn long_request_timeout(&self) -> Duration {
        Duration::from_millis(self.long_request_timeout_ms)
    }
    pub fn readiness_interval(&self) -> Duration {
        Duration::from_millis(self.readiness_interval_ms)
    }
    pub fn shed_pushback(&self) -> Duration {
        Duration::from_millis(self.shed_pushback_ms)
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
    /// How product-analytics `track` events become usage events.
    pub track: TrackConfig,
}

/// The mapping of product-analytics `track` events (`POST /v1/track/batch`, Segment's
/// batch shape) to usage events. Event names it does not list are counted as unmapped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackConfig {
    /// The event property that carries the Nordstern account id; unset or absent from an
    /// event: `context.groupId`.
    pub account_property: Option<String>,
    pub events: Vec<TrackEventConfig>,
}

/// One event name: `{ event = "Report Exported", kind = "feature_used", feature = "reports" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackEventConfig {
    pub event: String,
    /// `login`, `feature_used`, `integration_sync`, `ticket_opened` or `ticket_resolved`.
    pub kind: String,
    /// The feature key of every event of this name (feature_used)…
    #[serde(default)]
    pub feature: Option<String>,
    /// …or the property that names it.
    #[serde(default)]
    pub feature_property: Option<String>,
    /// The property that carries the ticket id (ticket_opened, ticket_resolved).
    #[serde(default)]
    pub ticket_property: Option<String>,
}

impl TrackConfig {
    /// The checked mapping, or every problem with it.
    pub fn mapping(&self) -> Result<TrackMapping, Vec<String>> {
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        for (i, event) in self.events.iter().enumerate() {
            let Some(kind) = EventKind::parse(&event.kind.to_ascii_uppercase()) else {
                problems.push(format!(
                    "events[{i}].kind: `{}` is not one of login, feature_used, integration_sync, ticket_opened, ticket_resolved",
                    event.kind
                ));
                continue;
            };
            if event.feature.is_some() && event.feature_property.is_some() {
                problems.push(format!(
                    "events[{i}]: set `feature` or `feature_property`, not both"
                ));
            }
            rules.push(TrackRule {
                event: event.event.clone(),
                kind,
                feature: event
                    .feature
                    .clone()
                    .map(Source::Fixed)
                    .or_else(|| event.feature_property.clone().map(Source::Property)),
                ticket: event.ticket_property.clone().map(Source::Property),
            });
        }
        match TrackMapping::new(rules) {
            Ok(mapping) if problems.is_empty() => Ok(mapping),
            Ok(_) => Err(problems),
            Err(more) => {
                problems.extend(more);
                Err(problems)
            }
        }
    }
}

/// Minimum length of [`UsageConfig::pseudonym_key`].
pub const MIN_PSEUDONYM_KEY_BYTES: usize = 32;

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            pseudonym_key: None,
            retention_days: 400,
            retention_sweep_interval_secs: 3_600,
            track: TrackConfig::default(),
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
            .field("track", &self.track)
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
    /// An answer recorded this many days or more after it was given (a backfill, an
    /// import of old surveys) raises no alert: nobody can act on it as news. 0 alerts on
    /// every answer.
    pub alert_max_answer_age_days: u32,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            recompute_interval_secs: 3_600,
            cache_namespace: crate::cache::SCORING_NAMESPACE.to_owned(),
            alert_max_answer_age_days: 14,
        }
    }
}

impl ScoringConfig {
    pub fn recompute_interval(&self) -> Duration {
        Duration::from_secs(self.recompute_interval_secs)
    }

    /// `None` when every answer may raise an alert.
    pub fn alert_max_answer_age(&self) -> Option<Duration> {
        (self.alert_max_answer_age_days > 0)
            .then(|| Duration::from_secs(u64::from(self.alert_max_answer_age_days) * 86_400))
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

/// Webhooks out: how deliveries treat the receivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// One delivery attempt's deadline, connection included.
    pub attempt_timeout_ms: u64,
    /// Attempts in flight to one subscription at a time.
    pub max_in_flight_per_endpoint: usize,
    /// How long a failing delivery is retried before it is dead.
    pub retry_window_hours: u32,
    /// Hosts (names or IP addresses) a subscription may reach although they are internal
    /// (loopback, private, link-local): none by default, against SSRF.
    pub allowed_hosts: Vec<String>,
    /// How often the outboxes are relayed and due deliveries are looked for.
    pub poll_interval_ms: u64,
    /// How long finished deliveries (and their events) stay in the delivery log.
    pub log_retention_days: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            attempt_timeout_ms: 10_000,
            max_in_flight_per_endpoint: 4,
            retry_window_hours: 24,
            allowed_hosts: Vec::new(),
            poll_interval_ms: 250,
            log_retention_days: 30,
        }
    }
}

impl WebhooksConfig {
    pub fn attempt_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.attempt_timeout_ms)
    }

    pub fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.poll_interval_ms)
    }
}
