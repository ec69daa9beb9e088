//! The trust boundary end to end: every RPC of every service against no token, a token
//! without the scope, the right scope, a revoked and an expired token; garbage in the
//! `authorization` header; the HTTP routes; the audit trail with the caller forwarded
//! between services; per-token rate limits.

use std::time::{Duration, Instant};

use http::HeaderValue;
use nordstern_auth::{store, table, tokens::NewToken};
use nordstern_domain::scope::Scope;
use nordstern_proto::auth::v1::{self as auth_pb, auth_service_client::AuthServiceClient};
use nordstern_runtime::Role;
use nordstern_tests::{
    Backend, TestSuite, Topology,
    raw::{WithAuthorization, call_code},
};
use tonic::Code;

use crate::in_every_combination;

in_every_combination!(every_rpc_checks_its_token_and_scope);

/// The server that carries a method (the token service runs on every server).
fn role_of(path: &str) -> Role {
    [
        (table::ACCOUNTS, Role::Accounts),
        (table::USAGE, Role::Usage),
        (table::SURVEY, Role::Survey),
        (table::SCORING, Role::Scoring),
        (table::GATEWAY, Role::Gateway),
        (table::AUTH, Role::Accounts),
        (table::WEBHOOKS, Role::Accounts),
    ]
    .into_iter()
    .find(|(prefix, _)| path.starts_with(prefix))
    .map(|(_, role)| role)
    .unwrap_or_else(|| panic!("no server carries {path}"))
}

/// A scope that does not grant `needed`.
fn other_scope(needed: Scope) -> Scope {
    if needed == Scope::ScoresRead {
        Scope::AccountsRead
    } else {
        Scope::ScoresRead
    }
}

async fn code(suite: &TestSuite, path: &str, secret: Option<&str>) -> Code {
    let channel = suite.raw_channel(role_of(path)).await;
    let channel = match secret {
        Some(secret) => WithAuthorization::bearer(channel, secret),
        None => WithAuthorization::new(channel, None),
    };
    call_code(channel, path, Vec::new()).await
}

/// Waits until every server answers a token-checked call with `token` the way
/// `accepted` wants (accepted: anything but UNAUTHENTICATED), up to `limit`.
async fn until_every_server(
    suite: &TestSuite,
    secret: &str,
    accepted: bool,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    for role in nordstern::IMPLEMENTED_ROLES {
        let path = format!("{}ListTokens", table::AUTH);
        loop {
            let channel = WithAuthorization::bearer(suite.raw_channel(role).await, secret);
            let known = call_code(channel, &path, Vec::new()).await != Code::Unauthenticated;
            if known == accepted {
                break;
            }
            assert!(
                started.elapsed() < limit,
                "{role} still {} the token after {limit:?}",
                if accepted { "refuses" } else { "accepts" }
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    started.elapsed()
}

async fn every_rpc_checks_its_token_and_scope(suite: &mut TestSuite) {
    // A token for every scope, made in the store as `nordstern token create` does.
    let mut by_scope = Vec::new();
    for scope in Scope::ALL {
        let secret = suite
            .create_token(scope.as_str(), &[scope.as_str()], 0)
            .await;
        by_scope.push((scope, secret));
    }
    let secret_of = |scope: Scope| {
        by_scope
            .iter()
            .find(|(s, _)| *s == scope)
            .map(|(_, secret)| secret.clone())
            .unwrap_or_default()
    };
    // Tokens made after the servers started reach every one of them within the refresh
    // interval (1 s by default).
    for (_, secret) in &by_scope {
        until_every_server(suite, secret, true, Duration::from_secs(5)).await;
    }

    // Revoked as `nordstern token revoke` does: in the store, behind the servers' backs.
    let revoked = suite.create_token("revoked admin", &["admin"], 0).await;
    until_every_server(suite, &revoked, true, Duration::from_secs(5)).await;
    let db = store::open(suite.config())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let revoked_id = store::live_tokens(&db)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|token| token.name == "revoked admin")
        .map(|token| token.token_id)
        .unwrap_or_else(|| panic!("the revoked admin token is not in the store"));
    nordstern_auth::tokens::revoke(&db, &revoked_id, chrono::Utc::now().timestamp_micros())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = until_every_server(suite, &revoked, false, Duration::from_secs(5)).await;
    println!("a revocation reached every server in {took:?}");

    // Expired an hour ago.
    let hour_ago = chrono::Utc::now().timestamp_micros() - 3_600_000_000;
    let expired_new = NewToken {
        name: "expired admin".to_owned(),
        scopes: vec!["admin".to_owned()],
        expires_in_seconds: 60,
        ..NewToken::default()
    };
    let (_, expired) = nordstern_auth::tokens::create(&db, &expired_new, hour_ago)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let expired = expired.expose().to_owned();
    let _ = db.close().await;
    until_every_server(
        suite,
        &suite.create_token("probe", &["admin"], 0).await,
        true,
        Duration::from_secs(5),
    )
    .await;

    let mut checked = 0;
    for (path, needed) in table::grpc_paths() {
        let no_token = code(suite, &path, None).await;
        assert_eq!(no_token, Code::Unauthenticated, "{path} without a token");
        let wrong = code(suite, &path, Some(&secret_of(other_scope(needed)))).await;
        if needed == Scope::Admin {
            assert_eq!(
                wrong,
                Code::PermissionDenied,
                "{path} with a non-admin token"
            );
        } else {
            assert_eq!(wrong, Code::PermissionDenied, "{path} without `{needed}`");
        }
        let right = code(suite, &path, Some(&secret_of(needed))).await;
        assert!(
            !matches!(right, Code::Unauthenticated | Code::PermissionDenied),
            "{path} with `{needed}` was refused: {right:?}"
        );
        let admin = code(suite, &path, Some(suite.admin_token())).await;
        assert!(
            !matches!(admin, Code::Unauthenticated | Code::PermissionDenied),
            "{path} with `admin` was refused: {admin:?}"
        );
        assert_eq!(
            code(suite, &path, Some(&revoked)).await,
            Code::Unauthenticated,
            "{path} revoked"
        );
        assert_eq!(
            code(suite, &path, Some(&expired)).await,
            Code::Unauthenticated,
            "{path} expired"
        );
        checked += 1;
    }
    // Every RPC of the five services and the token service (the table test proves the
    // table names every RPC in the contracts).
    assert!(checked >= 74, "only {checked} methods in the scope table");
    // Probes need no token.
    let health =
        tonic_health::pb::health_client::HealthClient::new(suite.raw_channel(Role::Accounts).await)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await;
    assert!(health.is_ok(), "health without a token: {health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_authorization_header_is_unauthenticated_and_harms_nothing() {
    let suite = TestSuite::start(Backend::Sqlite, Topology::OneServer).await;
    let path = format!("{}ListAccounts", table::ACCOUNTS);
    let values: Vec<(&str, HeaderValue)> = vec![
        (
            "non-ASCII",
            HeaderValue::from_bytes(b"Bearer nst_\xff\xfe\xc3\xa4")
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        (
            "64 KiB",
            HeaderValue::from_str(&format!("Bearer {}", "a".repeat(64 * 1024)))
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        (
            "no scheme",
            HeaderValue::from_str(suite.admin_token()).unwrap_or_else(|e| panic!("{e}")),
        ),
        ("basic", HeaderValue::from_static("Basic dXNlcjpwYXNz")),
        ("empty bearer", HeaderValue::from_static("Bearer ")),
        (
            "tampered",
            HeaderValue::from_str(&format!(
                "Bearer {}{}",
                &suite.admin_token()[..suite.admin_token().len() - 1],
                // A different last digit, whatever it was.
                if suite.admin_token().ends_with('0') {
                    '1'
                } else {
                    '0'
                }
            ))
            .unwrap_or_else(|e| panic!("{e}")),
        ),
        (
            "well-formed stranger",
            HeaderValue::from_static(
                "Bearer nst_0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ),
    ];
    for (what, value) in values {
        let channel = WithAuthorization::new(suite.raw_channel(Role::Accounts).await, Some(value));
        assert_eq!(
            call_code(channel, &path, Vec::new()).await,
            Code::Unauthenticated,
            "{what}"
        );
    }
    // The server is still there and still lets the right token in.
    let channel =
        WithAuthorization::bearer(suite.raw_channel(Role::Accounts).await, suite.admin_token());
    assert_eq!(call_code(channel, &path, Vec::new()).await, Code::Ok);
    suite.stop().await;
}

in_every_combination!(the_audit_trail_names_who_did_what_to_which_account);

fn as_token(secret: &str) -> nordstern_runtime::client::ClientSecurity {
    nordstern_runtime::client::ClientSecurity::default()
        .with_token(secret)
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Audit events matching `filter`, polled until `done` holds (the trail is written in
/// batches a moment after the answer).
async fn audit_until(
    suite: &TestSuite,
    filter: auth_pb::ListAuditEventsRequest,
    done: impl Fn(&[auth_pb::AuditEvent]) -> bool,
) -> Vec<auth_pb::AuditEvent> {
    let mut client = AuthServiceClient::new(suite.channel(Role::Accounts).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = client
            .list_audit_events(filter.clone())
            .await
            .unwrap_or_else(|status| panic!("{status}"))
            .into_inner()
            .events;
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "audit trail incomplete: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_audit_trail_names_who_did_what_to_which_account(suite: &mut TestSuite) {
    use nordstern_proto::{
        accounts::v1 as accounts_pb, gateway::v1 as gateway_pb,
        gateway::v1::gateway_service_client::GatewayServiceClient,
        scoring::v1::scoring_service_client::ScoringServiceClient,
    };
    let helpdesk = suite.create_token("helpdesk", &["tickets:route"], 0).await;
    let crm = suite.create_token("crm", &["scores:read"], 0).await;
    until_every_server(suite, &helpdesk, true, Duration::from_secs(5)).await;
    until_every_server(suite, &crm, true, Duration::from_secs(5)).await;

    let mut accounts = crate::support::accounts(suite).await;
    let account = crate::support::create_account(&mut accounts, "Audit AG", 90_000).await;
    let id = account.account_id.clone();
    accounts
        .record_contract_event(crate::support::event(
            &id,
            accounts_pb::ContractEventKind::Expansion,
            10_000,
            crate::support::date(2025, 6, 1),
            None,
            "audit-expansion",
        ))
        .await
        .unwrap_or_else(|status| panic!("{status}"));

    let mut desk = GatewayServiceClient::new(
        suite
            .channel_with(Role::Gateway, &as_token(&helpdesk))
            .await,
    );
    desk.route_ticket(gateway_pb::RouteTicketRequest {
        idempotency_key: "audit-ticket".to_owned(),
        account_id: id.clone(),
        subject: "Passwort vergessen".to_owned(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|status| panic!("{status}"));

    let mut crm_accounts =
        nordstern_proto::accounts::v1::accounts_service_client::AccountsServiceClient::new(
            suite.channel_with(Role::Accounts, &as_token(&crm)).await,
        );
    let denied = crm_accounts
        .erase_account(accounts_pb::EraseAccountRequest {
            account_id: id.clone(),
        })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(denied, Some(Code::PermissionDenied));
    let mut crm_scores =
        ScoringServiceClient::new(suite.channel_with(Role::Scoring, &as_token(&crm)).await);
    crm_scores
        .get_health_score(nordstern_proto::scoring::v1::GetHealthScoreRequest {
            account_id: id.clone(),
        })
        .await
        .unwrap_or_else(|status| panic!("{status}"));

    let method = |name: &str, events: &[auth_pb::AuditEvent]| {
        events.iter().find(|e| e.method.ends_with(name)).cloned()
    };
    let server_per_role = suite.url(Role::Accounts) != suite.url(Role::Usage);
    let events = audit_until(suite, Default::default(), |events| {
        ["RecordContractEvent", "RouteTicket", "EraseAccount"]
            .iter()
            .all(|name| method(name, events).is_some())
            && (!server_per_role || method("IngestEvents", events).is_some())
    })
    .await;

    let expansion = method("RecordContractEvent", &events).unwrap_or_default();
    assert_eq!(
        (
            expansion.token_name.as_str(),
            expansion.account_id.as_str(),
            expansion.outcome.as_str(),
            expansion.scope.as_str()
        ),
        ("test admin", id.as_str(), "OK", "accounts:write")
    );
    let routed = method("RouteTicket", &events).unwrap_or_default();
    assert_eq!(
        (
            routed.token_name.as_str(),
            routed.account_id.as_str(),
            routed.via_service.as_str()
        ),
        ("helpdesk", id.as_str(), "")
    );
    let erase = method("EraseAccount", &events).unwrap_or_default();
    assert_eq!(
        (
            erase.token_name.as_str(),
            erase.outcome.as_str(),
            erase.scope.as_str()
        ),
        ("crm", "PERMISSION_DENIED", "privacy:erase")
    );
    if server_per_role {
        // The gateway recorded the ticket with the usage service on the desk's behalf.
        let ingest = method("IngestEvents", &events).unwrap_or_default();
        assert_eq!(
            (
                ingest.token_name.as_str(),
                ingest.via_service.as_str(),
                ingest.outcome.as_str()
            ),
            ("helpdesk", "service", "OK")
        );
    }
    // Reads are not audited, and no secret is ever written down.
    assert!(method("GetHealthScore", &events).is_none(), "{events:#?}");
    let text = format!("{events:?}");
    assert!(!text.contains("nst_"), "{text}");

    // Filters: one token's events, one account's events.
    let crm_events = audit_until(
        suite,
        auth_pb::ListAuditEventsRequest {
            token_id: erase.token_id.clone(),
            ..Default::default()
        },
        |events| !events.is_empty(),
    )
    .await;
    assert!(
        crm_events.iter().all(|e| e.token_name == "crm"),
        "{crm_events:#?}"
    );
    let account_events = audit_until(
        suite,
        auth_pb::ListAuditEventsRequest {
            account_id: id.clone(),
            ..Default::default()
        },
        |events| !events.is_empty(),
    )
    .await;
    assert!(
        account_events.iter().all(|e| e.account_id == id),
        "{account_events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_answer_401_403_and_429_like_grpc() {
    use nordstern_tests::http::request;

    let suite = TestSuite::start_with(Backend::Sqlite, Topology::OneServer, |config| {
        config.auth.refresh_interval_ms = 100;
    })
    .await;
    let crm = suite.create_token("crm", &["scores:read"], 0).await;
    let desk = suite.create_token("desk", &["tickets:route"], 0).await;
    let slow = suite.create_token("slow", &["scores:read"], 2).await;
    for secret in [&crm, &desk, &slow] {
        until_every_server(&suite, secret, true, Duration::from_secs(5)).await;
    }
    let addr = suite.http_addr();
    let path = "/v1/health-scores?page_size=1";
    for route in [
        path,
        "/v1/accounts/00000000-0000-7000-8000-000000000000/health",
    ] {
        let none = request(addr, "GET", route, &[]).await;
        assert_eq!(none.status, 401, "{route}: {}", none.body);
        assert_eq!(
            none.header("www-authenticate"),
            Some("Bearer realm=\"nordstern\", error=\"invalid_token\"")
        );
        assert_eq!(none.json()["error"]["status"], "UNAUTHENTICATED");
        let garbage = request(
            addr,
            "GET",
            route,
            &[("Authorization", "Bearer nst_garbage")],
        )
        .await;
        assert_eq!(garbage.status, 401);
        let wrong = request(
            addr,
            "GET",
            route,
            &[("Authorization", &format!("Bearer {desk}"))],
        )
        .await;
        assert_eq!(wrong.status, 403, "{}", wrong.body);
        assert!(
            wrong.json()["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("scores:read")
        );
    }
    let right = request(
        addr,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {crm}"))],
    )
    .await;
    assert_eq!(right.status, 200, "{}", right.body);
    assert!(
        right.header("ratelimit-policy").is_some(),
        "{:?}",
        right.headers
    );

    // Two per second with a burst of two: the third request at once is refused.
    let slow_header = format!("Bearer {slow}");
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..3 {
        let response = request(addr, "GET", path, &[("Authorization", &slow_header)]).await;
        statuses.push(response.status);
        if response.status == 429 {
            limited = Some(response);
        }
    }
    let limited = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(
        limited.header("ratelimit-policy"),
        Some("\"token\";q=2;w=1")
    );
    assert_eq!(limited.header("ratelimit"), Some("\"token\";r=0;t=1"));
    assert_eq!(limited.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    // Another token is not slowed.
    let other = request(
        addr,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {crm}"))],
    )
    .await;
    assert_eq!(other.status, 200);
    suite.stop().await;
}

/// A client at three times its token's rate for 10 s gets at most burst + rate × 10
/// answers (≤ 1.1 × rate × 10) and RESOURCE_EXHAUSTED with RetryInfo for the rest,
/// while another token sending beside it is never refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_is_throttled_and_others_are_not() {
    use nordstern_proto::scoring::v1::{
        ListAlertsRequest, scoring_service_client::ScoringServiceClient,
    };
    use tonic_types::StatusExt;

    const RATE: u32 = 20;
    const SECONDS: u64 = 10;
    let suite = TestSuite::start_with(Backend::Sqlite, Topology::OneServer, |config| {
        config.auth.refresh_interval_ms = 100;
        // One second's worth would make the bound exactly 1.1 × rate × 10; half keeps
        // it clear of rounding at the window's edges.
        config.auth.default_burst = RATE / 2;
    })
    .await;
    let flooder = suite.create_token("flooder", &["scores:read"], RATE).await;
    let neighbour = suite
        .create_token("neighbour", &["scores:read"], RATE)
        .await;
    until_every_server(&suite, &flooder, true, Duration::from_secs(5)).await;
    until_every_server(&suite, &neighbour, true, Duration::from_secs(5)).await;

    let send = |secret: String, per_second: u32| {
        let suite = &suite;
        async move {
            let channel = suite.channel_with(Role::Scoring, &as_token(&secret)).await;
            let client = ScoringServiceClient::new(channel);
            let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
            let mut calls = Vec::new();
            let until = Instant::now() + Duration::from_secs(SECONDS);
            while Instant::now() < until {
                ticks.tick().await;
                let mut client = client.clone();
                calls.push(tokio::spawn(async move {
                    client
                        .list_alerts(ListAlertsRequest {
                            page_size: 1,
                            ..Default::default()
                        })
                        .await
                        .map(|_| ())
                }));
            }
            let mut results = Vec::new();
            for call in calls {
                results.push(call.await.unwrap_or_else(|e| panic!("{e}")));
            }
            results
        }
    };
    let (flood, calm) = tokio::join!(send(flooder, 3 * RATE), send(neighbour, RATE / 2));
    let accepted = flood.iter().filter(|r| r.is_ok()).count() as u64;
    let bound = (1.1 * f64::from(RATE) * SECONDS as f64) as u64;
    println!(
        "rate limit: {} sent at {}/s, {accepted} accepted (bound {bound}), neighbour {} of {} accepted",
        flood.len(),
        3 * RATE,
        calm.iter().filter(|r| r.is_ok()).count(),
        calm.len()
    );
    assert!(accepted <= bound, "{accepted} accepted, more than {bound}");
    assert!(
        accepted >= u64::from(RATE) * SECONDS / 2,
        "only {accepted} accepted"
    );
    for refused in flood.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
        let retry = refused
            .get_details_retry_info()
            .and_then(|info| info.retry_delay);
        assert!(
            retry.is_some_and(|delay| delay > Duration::ZERO && delay <= Duration::from_secs(1)),
            "RetryInfo {retry:?}"
        );
    }
    let calm_refused: Vec<_> = calm.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        calm_refused.is_empty(),
        "the neighbour was refused: {calm_refused:?}"
    );
    suite.stop().await;
}
