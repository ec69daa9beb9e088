//! The token check of every request: who is calling (a token from the in-memory snapshot,
//! or the service credential with the caller it forwards), whether their scopes allow
//! the method, and whether their rate allows it now. The snapshot is refreshed from the
//! store every `auth.refresh_interval_ms`, so checking a token never reads the database.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use nordstern_domain::{
    rate_limit::{Bucket, Decision, RateLimit},
    scope::Scope,
};
use nordstern_runtime::{
    client::{CALLER_ID_HEADER, CALLER_NAME_HEADER},
    config::AuthConfig,
    guard::{Admission, Caller, Gatekeeper},
    http_error::grpc_code_name,
};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    audit::AuditSink,
    secret::{self, SecretHash},
    store::TokenRecord,
    table::{self, Requirement},
};

/// Longest `authorization` value looked at; ours are 80 characters.
const MAX_AUTHORIZATION_LEN: usize = 512;

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// No token, or one that is malformed, unknown, revoked or expired.
    Unauthenticated(String),
    /// A valid token without the scope the method needs.
    Forbidden(String),
    /// Over the token's rate.
    Limited {
        limit: RateLimit,
        retry_after: Duration,
    },
}

impl Refusal {
    pub fn code(&self) -> Code {
        match self {
            Refusal::Unauthenticated(_) => Code::Unauthenticated,
            Refusal::Forbidden(_) => Code::PermissionDenied,
            Refusal::Limited { .. } => Code::ResourceExhausted,
        }
    }

    pub fn into_status(self) -> Status {
        match self {
            Refusal::Unauthenticated(message) => Status::unauthenticated(message),
            Refusal::Forbidden(message) => Status::permission_denied(message),
            Refusal::Limited { limit, retry_after } => Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "rate limit of {} requests per second for this token exceeded; retry in {} ms",
                    limit.per_second,
                    retry_after.as_millis().max(1)
                ),
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
        }
    }
}

/// One bucket per token, or per token and scope when the token has no rate of its own.
type BucketKey = (Arc<str>, Option<Scope>);

/// A token as each process holds it.
struct LiveToken {
    record: TokenRecord,
    caller: Caller,
    /// Microseconds of the last use, written to the store by the refresh loop.
    last_used: AtomicI64,
}

pub struct Keeper {
    enabled: bool,
    reflection_open: bool,
    tokens: RwLock<Arc<HashMap<SecretHash, Arc<LiveToken>>>>,
    service_credential: Option<SecretHash>,
    default_rate: u32,
    default_burst: u32,
    scope_rates: HashMap<Scope, u32>,
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
    clock: Instant,
    account_paths: HashMap<String, Vec<u32>>,
    audit: AuditSink,
}

impl Keeper {
    pub fn new(config: &AuthConfig, audit: AuditSink) -> Keeper {
        Keeper {
            enabled: config.enabled,
            reflection_open: config.reflection,
            tokens: RwLock::new(Arc::new(HashMap::new())),
            service_credential: config.service_credential.as_deref().map(SecretHash::of),
            default_rate: config.default_rate_per_second,
            default_burst: config.default_burst,
            scope_rates: config
                .scope_rate_limits
                .iter()
                .filter_map(|(name, rate)| Some((Scope::parse(name)?, *rate)))
                .collect(),
            buckets: Mutex::new(HashMap::new()),
            clock: Instant::now(),
            account_paths: account_paths(),
            audit,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn audit(&self) -> &AuditSink {
        &self.audit
    }

    /// Replaces the snapshot with the store's live tokens, keeping last-use marks.
    pub fn replace_tokens(&self, records: Vec<TokenRecord>) {
        let previous = self.snapshot();
        let by_id: HashMap<&str, &Arc<LiveToken>> = previous
            .values()
            .map(|token| (token.record.token_id.as_str(), token))
            .collect();
        let tokens = records
            .into_iter()
            .map(|record| {
                let last_used = by_id
                    .get(record.token_id.as_str())
                    .map(|old| old.last_used.load(Ordering::Relaxed))
                    .unwrap_or(0)
                    .max(record.last_used_at.unwrap_or(0));
                (record.secret_hash, Arc::new(live(record, last_used)))
            })
            .collect();
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
    }

    /// Adds one token at once (created in this process), before the next refresh.
    pub fn insert_token(&self, record: TokenRecord) {
        let mut tokens = (*self.snapshot()).clone();
        tokens.insert(record.secret_hash, Arc::new(live(record, 0)));
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
    }

    /// Drops one token at once (revoked in this process).
    pub fn remove_token(&self, token_id: &str) {
        let mut tokens = (*self.snapshot()).clone();
        tokens.retain(|_, token| token.record.token_id != token_id);
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
    }

    pub fn token_count(&self) -> usize {
        self.snapshot().len()
    }

    /// Tokens used since the store last heard of it: `(token_id, micros)`.
    pub fn last_uses(&self) -> Vec<(String, i64)> {
        self.snapshot()
            .values()
            .filter_map(|token| {
                let used = token.last_used.load(Ordering::Relaxed);
                (used > token.record.last_used_at.unwrap_or(0))
                    .then(|| (token.record.token_id.clone(), used))
            })
            .collect()
    }

    /// Forgets the buckets that are full again, so the table stays as small as the
    /// set of busy tokens.
    pub fn forget_idle_buckets(&self) {
        let now = self.now_nanos();
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, bucket| !bucket.is_idle(now));
    }

    fn snapshot(&self) -> Arc<HashMap<SecretHash, Arc<LiveToken>>> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Decides on a request for `route` (a gRPC method path, or `VERB /route` on HTTP).
    /// Refusals of who or what are recorded in the audit trail; throttling is not (a
    /// flood would otherwise write as fast as it is refused).
    pub fn decide(
        &self,
        route: &str,
        requirement: Requirement,
        headers: &http::HeaderMap,
    ) -> Result<(Admission, Option<RateLimitState>), Refusal> {
        let needed = match requirement {
            Requirement::Open => {
                return Ok((
                    Admission {
                        caller: None,
                        scope: "",
                        audited: false,
                    },
                    None,
                ));
            }
            Requirement::Scope(scope) => Some(scope),
            Requirement::Unlisted => None,
        };
        let scope_name = needed.map_or("", |scope| scope.as_str());
        let audited = needed.is_none_or(|scope| !scope.is_read());
        if !self.enabled {
            return Ok((
                Admission {
                    caller: None,
                    scope: scope_name,
                    audited,
                },
                None,
            ));
        }
        let refuse = |refusal: Refusal, caller: Option<&Caller>| {
            self.audit
                .record(route, caller, scope_name, None, refusal.code());
            Err(refusal)
        };
        let presented = match bearer(headers) {
            Ok(presented) => presented,
            Err(refusal) => return refuse(refusal, None),
        };
        let hash = SecretHash::of(presented);
        if let Some(service) = &self.service_credential
            && hash.constant_time_eq(service)
        {
            return Ok((
                Admission {
                    caller: Some(forwarded_caller(headers)),
                    scope: scope_name,
                    audited,
                },
                None,
            ));
        }
        if !secret::is_well_formed(presented) {
            return refuse(
                Refusal::Unauthenticated(
                    "malformed token: Nordstern tokens are nst_ and 72 hex digits".into(),
                ),
                None,
            );
        }
        let Some(token) = self.snapshot().get(&hash).cloned() else {
            return refuse(
                Refusal::Unauthenticated("the token is unknown or revoked".into()),
                None,
            );
        };
        let now_micros = chrono::Utc::now().timestamp_micros();
        if let Some(expires_at) = token.record.expires_at
            && expires_at <= now_micros
        {
            return refuse(
                Refusal::Unauthenticated(format!(
                    "the token expired at {}",
                    crate::format_micros(expires_at)
                )),
                Some(&token.caller),
            );
        }
        token.last_used.fetch_max(now_micros, Ordering::Relaxed);
        let Some(needed) = needed else {
            return refuse(
                Refusal::Forbidden(format!("{route} is not a method any scope grants")),
                Some(&token.caller),
            );
        };
        if !needed.is_granted_by(&token.record.scopes) {
            return refuse(
                Refusal::Forbidden(format!(
                    "this call needs the scope `{needed}`; token `{}` has {}",
                    token.record.name,
                    describe_scopes(&token.record.scopes)
                )),
                Some(&token.caller),
            );
        }
        let state = self.take_from_bucket(&token, needed)?;
        Ok((
            Admission {
                caller: Some(token.caller.clone()),
                scope: scope_name,
                audited,
            },
            state,
        ))
    }

    /// Who a presented token is, for pages that adapt to it (the board: which CSM, which
    /// views). Decides nothing: every action is still checked with [`Keeper::decide`].
    /// With auth off, everyone is an administrator of no CSM.
    pub fn principal(&self, headers: &http::HeaderMap) -> Option<Principal> {
        if !self.enabled {
            return Some(Principal {
                name: "anyone".into(),
                scopes: vec![Scope::Admin],
                csm_id: String::new(),
            });
        }
        let hash = SecretHash::of(bearer(headers).ok()?);
        let token = self.snapshot().get(&hash).cloned()?;
        Some(Principal {
            name: token.record.name.clone(),
            scopes: token.record.scopes.clone(),
            csm_id: token.record.csm_id.clone(),
        })
    }

    fn take_from_bucket(
        &self,
        token: &LiveToken,
        scope: Scope,
    ) -> Result<Option<RateLimitState>, Refusal> {
        let (limit, key_scope) = match token.record.rate_per_second {
            0 => (
                self.scope_rates
                    .get(&scope)
                    .copied()
                    .unwrap_or(self.default_rate),
                Some(scope),
            ),
            own => (own, None),
        };
        if limit == 0 {
            return Ok(None);
        }
        let burst = match (token.record.burst, self.default_burst) {
            (0, 0) => limit,
            (0, default) => default,
            (own, _) => own,
        };
        let limit = RateLimit {
            per_second: limit,
            burst,
        };
        let now = self.now_nanos();
        let decision = self
            .buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((token.caller.token_id.clone(), key_scope))
            .or_default()
            .check(limit, now);
        match decision {
            Decision::Allowed { remaining } => Ok(Some(RateLimitState { limit, remaining })),
            Decision::Limited { retry_after_nanos } => Err(Refusal::Limited {
                limit,
                retry_after: Duration::from_nanos(retry_after_nanos),
            }),
        }
    }
}

/// A known token as a page sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The CSM the token speaks for; empty for none.
    pub csm_id: String,
}

impl Principal {
    pub fn may(&self, scope: Scope) -> bool {
        scope.is_granted_by(&self.scopes)
    }
}

/// Where a token's bucket stands after an admitted request, for HTTP's `RateLimit` header.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitState {
    pub limit: RateLimit,
    pub remaining: u32,
}

impl Gatekeeper for Keeper {
    fn admit(&self, method: &str, headers: &http::HeaderMap) -> Result<Admission, Status> {
        let requirement = table::grpc_requirement(method, self.reflection_open);
        self.decide(method, requirement, headers)
            .map(|(admission, _)| admission)
            .map_err(Refusal::into_status)
    }

    fn account_field_path(&self, method: &str) -> &[u32] {
        self.account_paths.get(method).map_or(&[], Vec::as_slice)
    }

    fn record(&self, method: &str, admission: &Admission, account_id: Option<String>, code: Code) {
        self.audit.record(
            method,
            admission.caller.as_ref(),
            admission.scope,
            account_id,
            code,
        );
    }
}

fn live(record: TokenRecord, last_used: i64) -> LiveToken {
    LiveToken {
        caller: Caller {
            token_id: record.token_id.as_str().into(),
            token_name: record.name.as_str().into(),
            via_service: false,
        },
        last_used: AtomicI64::new(last_used),
        record,
    }
}

/// The secret of `authorization: Bearer <secret>`.
fn bearer(headers: &http::HeaderMap) -> Result<&str, Refusal> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(Refusal::Unauthenticated(
            "no token: send `authorization: Bearer nst_…`".into(),
        ));
    };
    let malformed = || {
        Refusal::Unauthenticated("malformed authorization header: expected `Bearer <token>`".into())
    };
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(malformed());
    }
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, secret) = text.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(malformed());
    }
    Ok(secret.trim())
}

/// The caller another of our services acts for; the service itself when it names none.
fn forwarded_caller(headers: &http::HeaderMap) -> Caller {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
    };
    Caller {
        token_id: header(CALLER_ID_HEADER).unwrap_or("service").into(),
        token_name: header(CALLER_NAME_HEADER)
            .unwrap_or("nordstern service")
            .into(),
        via_service: true,
    }
}

fn describe_scopes(scopes: &[Scope]) -> String {
    if scopes.is_empty() {
        return "none".to_owned();
    }
    scopes
        .iter()
        .map(|scope| format!("`{scope}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// For each audited unary method, the field numbers of its request's `account_id`: a
/// top-level field, or one inside a message field (`event.account_id`).
fn account_paths() -> HashMap<String, Vec<u32>> {
    use prost_reflect::{DescriptorPool, Kind};
    let Ok(pool) = DescriptorPool::decode(nordstern_proto::FILE_DESCRIPTOR_SET) else {
        return HashMap::new();
    };
    let mut paths = HashMap::new();
    for service in pool.services() {
        for method in service.methods() {
            if method.is_client_streaming() {
                continue;
            }
            let input = method.input();
            let top = input
                .get_field_by_name("account_id")
                .map(|f| vec![f.number()]);
            let nested = || {
                input.fields().find_map(|field| match field.kind() {
                    Kind::Message(inner) => inner
                        .get_field_by_name("account_id")
                        .map(|f| vec![field.number(), f.number()]),
                    _ => None,
                })
            };
            if let Some(path) = top.or_else(nested) {
                paths.insert(format!("/{}/{}", service.full_name(), method.name()), path);
            }
        }
    }
    paths
}

/// The UPPER_SNAKE name of a gRPC code, as the audit trail stores it.
pub fn outcome_name(code: Code) -> &'static str {
    grpc_code_name(code)
}
