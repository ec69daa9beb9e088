//! Who may call and over what: tokens, the service credential, rate limits, the audit
//! trail, TLS; and the rules that keep the suite closed outside loopback.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::Config;
use crate::role::Role;

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
    /// CA of the client certificates the gRPC listener requires (mTLS); a client without
    /// a certificate from it fails the handshake.
    pub client_ca_file: Option<PathBuf>,
    /// Require client certificates from `client_ca_file` on the HTTP listener too. Off by
    /// default: the help desks and CRMs that call it rarely can present one.
    pub http_mutual: bool,
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
        if self.http_mutual && self.client_ca_file.is_none() {
            problems.push("tls.http_mutual: needs tls.client_ca_file".to_owned());
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

impl Config {
    /// The addresses this process listens on.
    pub(super) fn listen_addrs(&self) -> impl Iterator<Item = (&'static str, SocketAddr)> {
        std::iter::once(("grpc.listen_addr", self.grpc.listen_addr)).chain(
            self.gateway
                .http_listen_addr
                .map(|addr| ("gateway.http_listen_addr", addr)),
        )
    }

    /// Tokens, TLS and the service credential: nothing outside loopback without a token
    /// check and without TLS (unless a mesh encrypts, said explicitly).
    pub(super) fn validate_trust_boundary(&self, roles: &[Role], problems: &mut Vec<String>) {
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
    use crate::config::MIN_PSEUDONYM_KEY_BYTES;

    fn problems(config: &Config, roles: &[Role]) -> Vec<String> {
        config
            .validate(roles)
            .err()
            .map(|e| e.problems)
            .unwrap_or_default()
    }

    #[test]
    fn outside_loopback_needs_tokens_and_tls() {
        let mut config = Config {
            services: "accounts".to_owned(),
            ..Config::default()
        };
        config.grpc.listen_addr = SocketAddr::from(([0, 0, 0, 0], 50051));
        config.auth.enabled = false;
        let found = problems(&config, &[Role::Accounts]);
        assert!(
            found.iter().any(|p| p.starts_with("auth.enabled:")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.starts_with("tls.cert_file:")),
            "{found:?}"
        );

        config.auth.enabled = true;
        config.tls.plaintext_outside_loopback = true;
        assert_eq!(problems(&config, &[Role::Accounts]), Vec::<String>::new());

        // On loopback, tokens may be switched off (the auth-off benchmark).
        let mut local = Config::default();
        local.auth.enabled = false;
        assert!(local.validate(&[Role::Accounts]).is_ok());
    }

    #[test]
    fn calling_other_processes_needs_the_service_credential() {
        let mut config = Config {
            services: "usage".to_owned(),
            ..Config::default()
        };
        config.usage.pseudonym_key = Some("k".repeat(MIN_PSEUDONYM_KEY_BYTES));
        config.endpoints.accounts = Some("https://accounts:50051".to_owned());
        let found = problems(&config, &[Role::Accounts, Role::Usage]);
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("auth.service_credential:")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("endpoints.accounts: an https://")),
            "{found:?}"
        );
        config.auth.service_credential = Some("too short".to_owned());
        assert!(
            problems(&config, &[Role::Accounts, Role::Usage])
                .iter()
                .any(|p| p.contains("at least 32 bytes"))
        );
    }

    #[test]
    fn tls_files_come_in_pairs_and_must_exist() {
        let mut config = Config::default();
        config.tls.cert_file = Some(PathBuf::from("/no/such/cert.pem"));
        config.tls.client_ca_file = Some(PathBuf::from("/no/such/ca.pem"));
        config
            .auth
            .scope_rate_limits
            .insert("scores:delete".to_owned(), 5);
        let found = problems(&config, &[Role::Accounts]);
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("tls.cert_file, tls.key_file: set both")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("tls.client_ca_file: mutual TLS")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("/no/such/cert.pem is not a readable file")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("auth.scope_rate_limits: `scores:delete`")),
            "{found:?}"
        );
    }

    #[test]
    fn debug_hides_the_service_credential() {
        let mut config = Config::default();
        config.auth.service_credential = Some("a-very-secret-service-credential-value".to_owned());
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
